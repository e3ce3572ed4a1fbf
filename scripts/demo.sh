#!/usr/bin/env bash
# The main job end to end on simulated data: simulate a shop, ingest it into a fresh store, print
# the store's statistics, train models and compare them on held-out interactions.
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
echo "demo done. The store is in $work/data, the models in $work/models, a report in"
echo "$work/report.html. Try: $freshet stats --data $work/data --json"
