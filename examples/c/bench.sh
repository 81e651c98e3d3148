#!/usr/bin/env bash
# Quote-stream throughput through the C ABI against the Rust consumer, in one run: builds the
# release libraries and ffi/examples/stream_rate (Rust), compiles examples/c/stream_rate.c
# against the static library (gcc -O2), then alternates the three readers RUNS times (each a
# fresh process and runtime reading TICKS ticks of the default synthetic stream) and prints
# the medians and the ratios C / Rust.
#
#   RUNS=5 TICKS=5000000 examples/c/bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=${RUNS:-5}
ticks=${TICKS:-5000000}
out=target/c-examples
mkdir -p "$out"

cargo build --release -p mdp-ffi --lib --example stream_rate
gcc -std=c11 -O2 -Wall -Wextra -Werror -Iffi/include examples/c/stream_rate.c \
  target/release/libmdp_ffi.a -lpthread -ldl -lm -o "$out/stream_rate_c_release"

rate() { sed -n 's/.*ticks_per_sec \([0-9]*\).*/\1/p'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: > "$out/bench_iter" ; : > "$out/bench_bulk" ; : > "$out/bench_c"
for i in $(seq "$runs"); do
  r=$(target/release/examples/stream_rate "$ticks" iter | rate); echo "$r" >> "$out/bench_iter"
  b=$(target/release/examples/stream_rate "$ticks" bulk | rate); echo "$b" >> "$out/bench_bulk"
  c=$("$out/stream_rate_c_release" "$ticks" | rate); echo "$c" >> "$out/bench_c"
  printf 'run %d: rust-iter %s  rust-bulk %s  c %s ticks/s\n' "$i" "$r" "$b" "$c"
done
mi=$(median < "$out/bench_iter"); mb=$(median < "$out/bench_bulk"); mc=$(median < "$out/bench_c")
printf 'medians over %d runs of %d ticks: rust-iter %s  rust-bulk %s  c %s ticks/s\n' \
  "$runs" "$ticks" "$mi" "$mb" "$mc"
awk -v c="$mc" -v i="$mi" -v b="$mb" \
  'BEGIN { printf "ratio c / rust-iter %.3f   c / rust-bulk %.3f\n", c / i, c / b }'
