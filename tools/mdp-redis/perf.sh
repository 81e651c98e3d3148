#!/usr/bin/env bash
# The measurements of PERF.md §"Beyond one machine" (needs redis-server; release build).
# Usage: tools/mdp-redis/perf.sh [runs] [all|fence]   — prints raw lines; PERF.md has the method.
# `fence` runs only the fenced-XADD comparison.
#   PERF_ONLY=propagation  runs only the propagation distributions (cooldowns, breaker trips);
#   MDP_BIN=dir            takes the binaries from dir (a baseline build) instead of building.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
if [ -z "${MDP_BIN:-}" ]; then cargo build --release -p mdp-redis >/dev/null; fi
B=${MDP_BIN:-target/release}
only=${PERF_ONLY:-all}
dir=$(mktemp -d /tmp/mdp-perf.XXXXXX)
sock=$dir/r.sock
redis-server --port 0 --unixsocket "$sock" --save '' --appendonly no --daemonize yes \
  --pidfile "$dir/r.pid" --logfile "$dir/r.log" >/dev/null
trap 'kill -9 $(cat $dir/r.pid) 2>/dev/null; rm -rf $dir' EXIT
until redis-cli -s "$sock" ping >/dev/null 2>&1; do sleep 0.05; done
url="redis+unix://$sock"

# Latencies (µs) from the trigger lines (key $2) of file $1 to the seen lines (key $3) of the
# files after: each seen time is paired with the latest trigger before it; a pair more than
# $4 ms apart is not a propagation (counted as "unpaired" on stderr).
pair() {
  local trig=$1 tkey=$2 skey=$3 gap_ms=$4; shift 4
  { grep -h "^$tkey=" "$trig" | sed "s/^/T /"; grep -h "^$skey=" "$@" | sed "s/^/S /"; } |
    awk -F'[ =]' -v gap="$gap_ms" '{ print $3, $1 }' | sort -n |
    awk -v gap="$gap_ms" '$2 == "T" { t = $1; next }
      { if (t != "" && ($1 - t) / 1e6 <= gap) printf "%d\n", ($1 - t) / 1000; else bad++ }
      END { if (bad) print "unpaired=" bad > "/dev/stderr" }'
}

# n, min, p50, p90, p99, max of the numbers (µs) on stdin, in ms.
dist() {
  sort -n | awk 'function at(q,  i) { i = int(NR * q + 0.5); if (i < 1) i = 1; return v[i] / 1e3 }
    { v[NR] = $1 }
    END { if (NR == 0) { print "n=0"; exit }
      printf "n=%d min=%.2f p50=%.2f p90=%.2f p99=%.2f max=%.2f (ms)\n", NR, v[1] / 1e3,
        at(0.50), at(0.90), at(0.99), v[NR] / 1e3 }'
}

if [ "$only" = propagation ]; then
  echo "== propagation: 1 trigger + 3 observers (all hungry, shared budget 1000 / 10000/s), 70 triggers every 100 ms per run; load: $(uptime)"
  for r in $(seq "$runs"); do
    $B/mdp-share --url "$url" --prefix "pc$r" --capacity 1000 --rate 10000 --threads 1 --seconds 9 \
      --cooldown-at-ms 1000 --cooldown-ms 20 --repeat 70 --every-ms 100 --report-ms 100000 > "$dir/c0.log" &
    for k in 1 2 3; do
      $B/mdp-share --url "$url" --prefix "pc$r" --capacity 1000 --rate 10000 --threads 1 --seconds 9 \
        --report-ms 100000 > "$dir/c$k.log" &
    done
    wait
    pair "$dir/c0.log" cooldown_triggered_unix_ns cooldown_seen_unix_ns 100 "$dir"/c[123].log >> "$dir/cooldown.us"
    if [ -x "$B/mdp-breaker" ]; then
      $B/mdp-breaker --url "$url" --prefix "pb$r" --capacity 1000 --rate 10000 --timeout-ms 20 \
        --load-seconds 9 --trip-at-ms 1000 --repeat 70 --every-ms 100 > "$dir/b0.log" < /dev/null &
      for k in 1 2 3; do
        $B/mdp-breaker --url "$url" --prefix "pb$r" --capacity 1000 --rate 10000 --timeout-ms 20 \
          --load-seconds 9 > "$dir/b$k.log" < /dev/null &
      done
      wait
      pair "$dir/b0.log" breaker_tripped_unix_ns breaker_seen_unix_ns 100 "$dir"/b[123].log >> "$dir/breaker.us"
    fi
  done
  if [ -n "${PERF_SAVE:-}" ]; then cp "$dir"/*.us "$PERF_SAVE"/ 2>/dev/null || true; fi
  echo "cooldown propagation: $(dist < "$dir/cooldown.us")"
  [ -s "$dir/breaker.us" ] && echo "breaker-trip propagation: $(dist < "$dir/breaker.us")"
  echo "load after: $(uptime)"
  exit 0
fi

# Fenced XADD (the EVALSHA script that checks the lease's token per entry, as a singleton's
# sink appends) against plain XADD, same sink code and server, runs alternating; per chunk size.
fence() {
  echo "== fenced vs plain XADD per entry (producer alone, 10000 entries per run, 64 pipelined)"
  for chunk in 256 16; do
    n=$((chunk * 10000))
    for r in $(seq "$runs"); do
      $B/mdp-stream produce --url "$url" --stream "p$chunk.$r" --ticks $n --chunk $chunk \
        --max-len 100000 | sed "s/^/plain chunk=$chunk /"
      $B/mdp-stream produce --url "$url" --stream "f$chunk.$r" --ticks $n --chunk $chunk \
        --max-len 100000 --fenced 1 | sed "s/^/fenced chunk=$chunk /"
      redis-cli -s "$sock" del "p$chunk.$r" "f$chunk.$r" >/dev/null
    done
  done
  uptime
}
if [ "${2:-all}" = fence ]; then
  fence
  exit 0
fi

echo "== shared budget: K=4 processes x 2 threads, capacity 1000, rate 10000/s, 10 s"
for r in $(seq "$runs"); do
  for k in 1 2 3 4; do
    $B/mdp-share --url "$url" --prefix "budget$r" --capacity 1000 --rate 10000 --threads 2 \
      --seconds 10 --members 4 --report-ms 100000 > "$dir/k$k.log" &
  done
  wait
  grep -h -E '^result' "$dir"/k*.log
  # Bound over the span from the first start to the last end: capacity + rate*t + 4 leases.
  cat "$dir"/k*.log | awk -F'[ =]' '
    /^start/ { s = $3 / 1e9; if (first == "" || s < first) first = s }
    /^result/ { for (i = 1; i <= NF; i++) { if ($i == "admitted") { a = $(i+1); tot += a;
                  if (min == "" || a < min) min = a; if (a > max) max = a }
                if ($i == "end_unix_ns") { e = $(i+1) / 1e9; if (e > last) last = e } } }
    END { t = last - first; ideal = 1000 + 10000 * t; bound = ideal + 4 * 125;
          printf "total=%d span_s=%.3f capacity+rate*t=%.0f bound=%.0f of_ideal=%.4f fairness_min/max=%.3f\n",
                 tot, t, ideal, bound, tot / ideal, min / max }'
done

echo "== hot path: local provider vs Redis-backed provider (same run, same thread)"
for r in $(seq "$runs"); do $B/mdp-share --hot-path --url "$url" --n 10000000; done

echo "== cooldown propagation: 1 trigger, 3 observers (all hungry), per run"
for r in $(seq "$((runs * 4))"); do
  $B/mdp-share --url "$url" --prefix "cd$r" --capacity 1000 --rate 10000 --threads 1 --seconds 2 \
    --cooldown-at-ms 1000 --cooldown-ms 500 --report-ms 100000 > "$dir/c0.log" &
  for k in 1 2 3; do
    $B/mdp-share --url "$url" --prefix "cd$r" --capacity 1000 --rate 10000 --threads 1 --seconds 2 \
      --report-ms 100000 > "$dir/c$k.log" &
  done
  wait
  trig=$(grep -h cooldown_triggered "$dir/c0.log" | cut -d= -f2)
  for k in 1 2 3; do
    seen=$(grep -h cooldown_seen "$dir/c$k.log" | cut -d= -f2)
    echo "cooldown_latency_us=$(( (seen - trig) / 1000 ))"
  done
done

echo "== streams: 10^7 ticks, producer and consumer processes, a forced reconnection at 5*10^6"
for r in $(seq "$runs"); do
  redis-cli -s "$sock" del "s$r" "b$r" >/dev/null
  $B/mdp-stream consume --url "$url" --stream "s$r" --ticks 10000000 --cut-at 5000000 &
  $B/mdp-stream produce --url "$url" --stream "s$r" --ticks 10000000 --max-len 100000
  wait
  $B/mdp-stream bare-consume --url "$url" --stream "b$r" --ticks 10000000 &
  $B/mdp-stream bare-produce --url "$url" --stream "b$r" --ticks 10000000 --max-len 100000
  wait
  redis-cli -s "$sock" del "s$r" "b$r" >/dev/null
done

fence
