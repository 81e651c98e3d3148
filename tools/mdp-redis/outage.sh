#!/usr/bin/env bash
# Redis stopped for 5 s (SIGSTOP: every call times out) under K=4 hungry processes sharing one
# budget (capacity 1000, 10000/s, 12 s): nothing hangs, the total stays within the bound with
# the local shares, and every process resyncs. Prints progress lines (degraded=…) and totals.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p mdp-redis >/dev/null
B=target/release
dir=$(mktemp -d /tmp/mdp-outage.XXXXXX)
sock=$dir/r.sock
redis-server --port 0 --unixsocket "$sock" --save '' --appendonly no --daemonize yes \
  --pidfile "$dir/r.pid" --logfile "$dir/r.log" >/dev/null
trap 'kill -CONT $(cat $dir/r.pid) 2>/dev/null; kill -9 $(cat $dir/r.pid) 2>/dev/null; rm -rf $dir' EXIT
until redis-cli -s "$sock" ping >/dev/null 2>&1; do sleep 0.05; done
for k in 1 2 3 4; do
  $B/mdp-share --url "redis+unix://$sock" --capacity 1000 --rate 10000 --threads 2 --seconds 12 \
    --members 4 --report-ms 1000 > "$dir/k$k.log" &
done
sleep 3; kill -STOP "$(cat "$dir/r.pid")"; echo "redis stopped at ~3 s"
sleep 5; kill -CONT "$(cat "$dir/r.pid")"; echo "redis resumed at ~8 s"
wait
grep -h progress "$dir/k1.log" | cut -c1-120
cat "$dir"/k*.log | awk -F'[ =]' '
  /^start/ { s = $3 / 1e9; if (first == "" || s < first) first = s }
  /^result/ { for (i = 1; i <= NF; i++) { if ($i == "admitted") tot += $(i+1);
              if ($i == "end_unix_ns") { e = $(i+1) / 1e9; if (e > last) last = e } } }
  END { t = last - first; ideal = 1000 + 10000 * t;
        printf "total=%d span_s=%.3f capacity+rate*t=%.0f bound(+4 leases +4 shares 250)=%.0f of_ideal=%.4f\n",
               tot, t, ideal, ideal + 500 + 1000, tot / ideal }'
