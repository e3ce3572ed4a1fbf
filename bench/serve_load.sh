#!/usr/bin/env bash
# Load benchmark of `freshet serve`: wrk (a second process on loopback, sharing the cores) sends
# GET /v1/recommend for known users over 64 keep-alive connections to a server holding a
# simulated 100,000-item catalog and a SASRec model. Prints requests/s, latency p50 / p90 / p99 /
# p99.9, errors, and the server's RSS before and after.
#
#   bench/serve_load.sh [--items N] [--users N] [--days N] [--connections C] [--duration S]
#                       [--server-threads T] [--wrk-threads T] [--work DIR] [--index auto|exact|hnsw]
#                       [--rate R] [--rank MODEL --candidates N]
#
# Without --rate every connection sends its next request as soon as the last is answered (the
# server's saturation throughput; latency is then mostly queueing: connections / throughput).
# --rate R paces each connection (wrk's delay hook) so that together they offer about R requests/s,
# the latency a shop sees at that load.
# --rank ftrl|fm|deepfm|dcnv2 also trains click and buy ranking models of that kind on the shop
# (freshet train --task click|buy) and serves them (--rank): the run then measures twice on the
# same server, one after the other, retrieval alone (objective=retrieval, k candidates) and the
# two stages (N candidates retrieved, default 200, ranked by p_click and fused with the retrieval
# order), and prints both and their ratio: what the second stage costs per request.
# The shop and the model are made once per work directory (default /tmp/freshet-load) and reused.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
items=100000
users=20000
days=7
connections=64
duration=30
server_threads=2
wrk_threads=2
work=/tmp/freshet-load
index=auto
rate=0
rank=""
candidates=200
die() { echo "serve_load: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --items) items="$2"; shift 2 ;;
    --users) users="$2"; shift 2 ;;
    --days) days="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --server-threads) server_threads="$2"; shift 2 ;;
    --wrk-threads) wrk_threads="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --index) index="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --rank) rank="$2"; shift 2 ;;
    --candidates) candidates="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (--help lists them)" ;;
  esac
done
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
freshet="$ROOT/build/freshet"
[ -x "$freshet" ] || die "no $freshet; run make"
mkdir -p "$work"
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

shop="$work/shop-$items-$users-$days"
if [ ! -f "$shop/sasrec.fmdl" ]; then
  rm -rf "$shop"
  say "simulating $users users, $items items, $days days"
  "$freshet" simulate --users "$users" --items "$items" --days "$days" --seed 5 --out "$shop/sim" >/dev/null
  "$freshet" items --data "$shop/data" --quiet "$shop/sim/items.csv"
  "$freshet" ingest --data "$shop/data" --quiet "$shop/sim/events.csv"
  say "training SASRec (3 epochs, everything as training data)"
  "$freshet" train --data "$shop/data" --model sasrec --epochs 3 --protocol none --quiet \
    --out "$shop/sasrec.fmdl"
fi
rank_flags=()
if [ -n "$rank" ]; then
  for task in click buy; do
    if [ ! -f "$shop/$task-$rank.fmdl" ]; then
      say "training the $task model ($rank)"
      "$freshet" train --task "$task" --data "$shop/data" --model "$rank" --quiet \
        --out "$shop/$task-$rank.fmdl"
    fi
    rank_flags+=(--rank "$shop/$task-$rank.fmdl")
  done
fi
# Users with interactions, for the request mix.
cut -d, -f3,5 "$shop/sim/events.csv" | grep -E ',(view|click|cart|buy)$' | cut -d, -f1 |
  sort -u > "$work/all-users.txt"
head -5000 "$work/all-users.txt" > "$work/users.txt"
[ -s "$work/users.txt" ] || die "no users with interactions in the simulated shop"

key="load-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# recommend.lua QUERY: wrk's script, GET /v1/recommend?k=10&user=U plus QUERY.
write_lua() {
cat > "$work/recommend.lua" <<LUA
local users = {}
for line in io.lines("$work/users.txt") do users[#users + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/v1/recommend?k=10$1&user=" .. users[(i % #users) + 1], {["X-API-Key"] = "$key"})
end
local pause_ms = $( [ "$rate" -gt 0 ] && echo "$connections * 1000 / $rate" || echo 0 )
if pause_ms > 0 then
  delay = function() return pause_ms end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f errors_status=%d errors_connect=%d errors_read=%d errors_timeout=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.timeout))
end
LUA
}

rss() { awk '/VmRSS/ {print $2 / 1024 " MiB"}' "/proc/$1/status"; }
rm -f "$work/port"
FRESHET_API_KEYS="read:$key" "$freshet" serve --data "$shop/data" --model "$shop/sasrec.fmdl" \
  --threads "$server_threads" --port 0 --port-file "$work/port" --index "$index" \
  "${rank_flags[@]}" 2>"$work/serve.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 600); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { cat "$work/serve.log" >&2; die "the server did not start"; }
port=$(cat "$work/port")
say "server on port $port, RSS $(rss $server)"
# measure NAME QUERY: a warm-up, then the measured run; its RESULT line in $work/NAME.txt.
measure() {
  write_lua "$2"
  say "$1: warming up"
  wrk -t"$wrk_threads" -c"$connections" -d5s -s "$work/recommend.lua" "http://127.0.0.1:$port" >/dev/null
  say "$1: measuring: wrk -t$wrk_threads -c$connections -d${duration}s, /v1/recommend?k=10$2"
  wrk -t"$wrk_threads" -c"$connections" -d"${duration}s" --latency -s "$work/recommend.lua" \
    "http://127.0.0.1:$port" | tee "$work/$1.txt" >&2
}
rss_before=$(rss $server)
if [ -n "$rank" ]; then
  measure retrieval "&objective=retrieval"
  measure two-stage "&candidates=$candidates"
else
  measure wrk ""
fi
rss_after=$(rss $server)
kill -TERM $server
wait $server || true
trap - EXIT
echo
echo "serve_load: $items items, $users users, index $index, $server_threads server threads, wrk $wrk_threads threads / $connections connections, ${duration} s, offered rate: $([ "$rate" -gt 0 ] && echo "$rate/s" || echo "as fast as answered")"
echo "  machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$rank" ]; then
  field() { grep '^RESULT' "$work/$1.txt" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
  echo "  retrieval alone:            $(grep '^RESULT' "$work/retrieval.txt")"
  echo "  two stages ($candidates candidates, $rank click + buy): $(grep '^RESULT' "$work/two-stage.txt")"
  for q in p50_ms p99_ms rps; do
    awk -v a="$(field two-stage $q)" -v b="$(field retrieval $q)" -v q="$q" \
      'BEGIN { printf "  two stages / retrieval, %s: %.2fx\n", q, a / b }'
  done
else
  echo "  $(grep '^RESULT' "$work/wrk.txt")"
fi
echo "  server RSS: $rss_before before the run, $rss_after after"
grep -m1 'index' "$work/serve.log" || true
