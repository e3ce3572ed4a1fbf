#!/usr/bin/env bash
# The main job end to end on simulated data: simulate a shop, ingest it into a fresh store, print
# the store's statistics, train models and compare them on held-out interactions, train the shop
# ranker (click, cart and purchase probability), then serve them over HTTP for a few requests:
# two-stage recommendations and the purchase probability of a few carts left open (each line at
# its age).
set -euo pipefail
freshet=${1:-build/freshet}
work=${DEMO_DIR:-demo-data}
rm -rf "$work"
mkdir -p "$work"

echo "== 1. simulate a shop: 3000 users, 1500 items, 30 days"
"$freshet" simulate --users 3000 --items 1500 --days 30 --seed 7 --out "$work/sim"

echo
echo "== 2. ingest its catalog and events into an embedded store ($work/data)"
"$freshet" items --data "$work/data" --quiet "$work/sim/items.csv"
"$freshet" ingest --data "$work/data" --format csv "$work/sim/events.csv"

echo
echo "== 3. store statistics"
"$freshet" stats --data "$work/data"

echo
echo "== 4. train models on all but each user's last two interactions (leave-last-out)"
for model in pop swing itemknn bpr; do
  "$freshet" train --data "$work/data" --model "$model" --quiet --out "$work/models/$model.fmdl"
done
# SASRec trains in epochs with early stopping; 20 epochs keep the demo short.
"$freshet" train --data "$work/data" --model sasrec --epochs 20 --quiet \
  --out "$work/models/sasrec.fmdl"

echo
echo "== 5. evaluate: rank the whole catalog for each user's held-out last interaction"
"$freshet" eval --data "$work/data" --quiet --html "$work/report.html" \
  --model "$work/models/pop.fmdl" --model "$work/models/swing.fmdl" \
  --model "$work/models/itemknn.fmdl" --model "$work/models/bpr.fmdl" \
  --model "$work/models/sasrec.fmdl"

echo
echo "== 6. train the shop ranker: click, cart and purchase probability (FTRL) on the same history"
for task in click cart buy; do
  "$freshet" train --task "$task" --data "$work/data" --model ftrl --quiet \
    --out "$work/models/$task.fmdl"
done

echo
echo "== 7. serve them over HTTP, ask a few questions, stop"
key="demo-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
rm -f "$work/port"
FRESHET_API_KEYS="admin:$key" "$freshet" serve --data "$work/data" --port 0 \
  --port-file "$work/port" --model "$work/models/sasrec.fmdl" --model "$work/models/swing.fmdl" \
  --rank "$work/models/click.fmdl" --rank "$work/models/cart.fmdl" --rank "$work/models/buy.fmdl" \
  2>"$work/serve.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 300); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { cat "$work/serve.log"; echo "demo: the server did not start" >&2; exit 1; }
base="http://127.0.0.1:$(cat "$work/port")"
ask() {  # METHOD PATH [BODY]
  echo "\$ curl -X $1 $base$2${3:+ -d '$3'}"
  curl -sS --fail-with-body -X "$1" -H "Authorization: Bearer $key" ${3:+-d "$3"} "$base$2"
  echo
}
user=$(head -3 "$work/sim/events.csv" | tail -1 | cut -d, -f3)
echo "-- the purchase probability of open carts at the end of the history (before the live events"
echo "-- below move the clock to today): the two most recently filled, then the oldest"
echo "-- (a line is scored at its age: one left unbought for days has little chance left)"
# Users whose cart still holds two or more items (cart adds not bought or removed since), by the
# time of their newest open add.
open_carts=$(awk -F, 'NR > 1 && ($5 == "cart" || $5 == "buy" || $5 == "remove_cart") {
                   k = $3 "," $4; if ($5 == "cart") c[k] = $2; else delete c[k] }
                 END { for (k in c) { split(k, a, ","); n[a[1]]++
                                      if (c[k] > t[a[1]]) t[a[1]] = c[k] }
                       for (u in n) if (n[u] >= 2) print t[u], u }' "$work/sim/events.csv" |
             sort -n)
carts="$(echo "$open_carts" | tail -2 | cut -d' ' -f2) $(echo "$open_carts" | head -1 | cut -d' ' -f2)"
for u in $carts; do ask GET "/v1/users/$u/cart"; done
echo
ask GET "/v1/recommend?user=$user&k=3&explain=true"
ask GET "/v1/recommend?user=someone-new&k=3"
ask POST /v1/events '[{"user":"someone-new","item":"i000046","type":"view"},{"user":"someone-new","item":"i000177","type":"cart"}]'
ask GET "/v1/recommend?user=someone-new&k=3"
ask GET "/v1/similar?item=i000046&k=3"
ask GET "/v1/search?q=coffee&k=3&user=$user"
ask POST /v1/score "{\"user\":\"$user\",\"items\":[\"i000046\",\"i000001\"]}"
echo
echo "-- two stages: 200 candidates ranked by expected purchase value (p_buy x price), at most 2"
echo "-- per category"
ask GET "/v1/recommend?user=$user&k=5&objective=value&fuse=false&max_per_category=2"
echo
kill -TERM $server
wait $server
trap - EXIT
tail -2 "$work/serve.log"

echo
echo "demo done. The store is in $work/data, the models in $work/models, a report in"
echo "$work/report.html. To keep a server running (API reference: docs/api.md):"
echo "  FRESHET_API_KEYS=admin:\$(head -c 24 /dev/urandom | base64) $freshet serve \\"
echo "    --data $work/data --model $work/models/sasrec.fmdl --model $work/models/swing.fmdl \\"
echo "    --rank $work/models/click.fmdl --rank $work/models/cart.fmdl --rank $work/models/buy.fmdl"
