#!/usr/bin/env bash
# Freshness benchmark of `freshet serve` with online learning: a steady GET /v1/recommend load
# (wrk) while events stream in at a fixed rate, half through POST /v1/events and half through a
# Redis stream (a real redis-server on a free loopback port), with probe events measuring state
# freshness (bench/freshness_probe.cc). Reports freshness p50 / p99 per path, the learner's
# event -> gradient-step lag p50 / p99 from /metrics, request errors, and the server's RSS
# sampled every 10 s.
#
#   bench/freshness.sh [--events-per-s N] [--duration S] [--rate R] [--work DIR]
#                      [--no-online-learning]
#
# --no-online-learning serves the model as loaded: the same load without the learner, to tell the
# learner's memory and CPU from the rest.
#
# The shop and model are bench/serve_load.sh's (100,000 items, SASRec), made once per work dir.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
events=10000
duration=600
rate=1000
work=/tmp/freshet-load
extra=()
die() { echo "freshness: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --events-per-s) events="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --no-online-learning) extra+=(--no-online-learning); shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (--help lists them)" ;;
  esac
done
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v redis-server >/dev/null || die "redis-server is not installed (make setup)"
freshet="$ROOT/build/freshet"
probe="$ROOT/build/bench/freshness_probe"
[ -x "$freshet" ] && [ -x "$probe" ] || die "build first: make bench (needs build/freshet and build/bench/freshness_probe)"
shop="$work/shop-100000-20000-7"
if [ ! -f "$shop/sasrec.fmdl" ]; then
  "$ROOT/bench/serve_load.sh" --work "$work" --duration 1 >/dev/null
fi
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# A copy of the store: the run appends millions of events.
run="$work/freshness-run"
rm -rf "$run" && mkdir -p "$run"
cp -r "$shop/data" "$run/data"
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$run" \
  >"$run/redis.log" 2>&1 &
redis=$!
server=""
cleanup() { kill $server $redis 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

"$freshet" serve --data "$run/data" --model "$shop/sasrec.fmdl" --threads 2 --port 0 \
  --port-file "$run/port" --insecure-no-auth --redis "redis://127.0.0.1:$redis_port" \
  --stream events --snapshot-dir "$run/snapshots" "${extra[@]}" 2>"$run/serve.log" &
server=$!
for _ in $(seq 600); do [ -s "$run/port" ] && break; sleep 0.1; done
[ -s "$run/port" ] || { cat "$run/serve.log" >&2; die "the server did not start"; }
port=$(cat "$run/port")
head -5000 "$work/users.txt" > "$run/users.txt"
cat > "$run/recommend.lua" <<LUA
local users = {}
for line in io.lines("$run/users.txt") do users[#users + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/v1/recommend?k=10&user=" .. users[(i % #users) + 1])
end
delay = function() return 16 * 1000 / $rate end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f errors_status=%d errors_connect=%d errors_read=%d errors_timeout=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.timeout))
end
LUA
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$server/status"; }
say "server on port $port (RSS $(rss) MiB); recommend at ~$rate/s, events at $events/s for ${duration}s"
( while kill -0 $server 2>/dev/null; do echo "$(date +%s) $(rss)"; sleep 10; done ) >"$run/rss.txt" &
sampler=$!
wrk -t1 -c16 -d"${duration}s" -s "$run/recommend.lua" "http://127.0.0.1:$port" >"$run/wrk.txt" 2>&1 &
load=$!
"$probe" "$port" "$redis_port" events "$events" "$duration" 100000 20000 >"$run/probe.json"
wait $load || true
metrics=$(curl -s "http://127.0.0.1:$port/metrics")
kill $sampler 2>/dev/null || true
echo
echo "freshness: $events events/s (half HTTP, half Redis) + recommend at ~$rate/s for ${duration}s"
echo "  machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(date -u +%Y-%m-%d)"
echo "  probe: $(cat "$run/probe.json")"
echo "  recommend: $(grep '^RESULT' "$run/wrk.txt")"
echo "  learner: $(echo "$metrics" | grep -E '^freshet_online_(lag_seconds\{|examples_total|steps_total|publishes_total)' | tr '\n' ' ')"
echo "  redis source: $(echo "$metrics" | grep -E '^freshet_redis_(entries|events|acked|ack_lag)' | tr '\n' ' ' | cut -c1-400)"
echo "  server RSS MiB (every 10 s): $(awk '{print $2}' "$run/rss.txt" | tr '\n' ' ')"
