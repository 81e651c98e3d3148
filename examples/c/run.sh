#!/usr/bin/env bash
# Build the C and C++ examples against the C ABI (ffi/include/mdp.h) with the system's gcc
# and g++ (-Wall -Wextra -Werror) and run them: the C one linked statically, dynamically
# and under AddressSanitizer (leaks included), the C++ one statically.
#
#   examples/c/run.sh [LIBDIR]
#
# LIBDIR holds libmdp_ffi.a and libmdp_ffi.so (default target/debug; build them with
# `cargo build -p mdp-ffi`, or --release for target/release). Prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/../.."

libdir=${1:-target/debug}
out=target/c-examples
mkdir -p "$out"
for f in "$libdir/libmdp_ffi.a" "$libdir/libmdp_ffi.so"; do
  [ -f "$f" ] || { echo "missing $f: run cargo build -p mdp-ffi first" >&2; exit 1; }
done

warn=(-Wall -Wextra -Werror -Iffi/include)
static_libs=("$libdir/libmdp_ffi.a" -lpthread -ldl -lm)
t0=$(date +%s)
step() { printf '\n--- %s  [%ds]\n' "$*" "$(( $(date +%s) - t0 ))"; }

step "gcc: C quickstart (static), C stream_rate (static), C quickstart (shared)"
gcc -std=c11 -O2 "${warn[@]}" examples/c/quickstart.c "${static_libs[@]}" -o "$out/quickstart_c"
gcc -std=c11 -O2 "${warn[@]}" examples/c/stream_rate.c "${static_libs[@]}" -o "$out/stream_rate_c"
gcc -std=c11 -O2 "${warn[@]}" examples/c/quickstart.c -L"$libdir" -lmdp_ffi \
  -Wl,-rpath,"$(cd "$libdir" && pwd)" -o "$out/quickstart_c_shared"

step "g++: C++ quickstart (static)"
g++ -std=c++17 -O2 "${warn[@]}" examples/cpp/quickstart.cpp "${static_libs[@]}" -o "$out/quickstart_cpp"

step "gcc -fsanitize=address: C quickstart"
gcc -std=c11 -O1 -g -fsanitize=address -fno-omit-frame-pointer "${warn[@]}" \
  examples/c/quickstart.c "${static_libs[@]}" -o "$out/quickstart_c_asan"

step "run: C quickstart (static)"
"$out/quickstart_c"
step "run: C quickstart (shared)"
"$out/quickstart_c_shared" > /dev/null && echo "shared: ok"
step "run: C++ quickstart"
"$out/quickstart_cpp"
step "run: C stream_rate (200000 ticks)"
"$out/stream_rate_c" 200000
step "run: C quickstart under AddressSanitizer (detect_leaks=1)"
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0 "$out/quickstart_c_asan" > "$out/asan.log" 2>&1 \
  || { cat "$out/asan.log"; echo "AddressSanitizer run FAILED" >&2; exit 1; }
tail -1 "$out/asan.log"
if grep -q 'ERROR: \(AddressSanitizer\|LeakSanitizer\)' "$out/asan.log"; then
  cat "$out/asan.log"; echo "AddressSanitizer reported an error" >&2; exit 1
fi
echo "asan: no error, no leak"
step "done"
