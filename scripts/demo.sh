#!/usr/bin/env bash
# The main job end to end on simulated data: simulate a shop, ingest it into a fresh store, and
# print the store's statistics and most popular items.
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
echo "demo done. The store is in $work/data; try: $freshet stats --data $work/data --json"
