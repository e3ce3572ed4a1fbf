#!/usr/bin/env bash
# The offline model table of docs/models.md for one dataset: ingest it, train every model kind with
# its defaults, evaluate them together under loo on the full catalog and on sampled:100, and print
# both tables. Everything stays in the work directory (store, models, JSON reports, logs).
#
#   bench/model_table.sh --format FORMAT FILE [--threads T] [--work DIR] [--models "pop swing ..."]
#
# e.g. bench/model_table.sh --format movielens ../shared/data/ml-100k/u.data
#      bench/model_table.sh --format diginetica \
#        ../shared/data/diginetica-sample/sample_train-item-views.csv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
format=""
file=""
threads=2
work=""
models="pop swing itemknn bpr sasrec"

die() { echo "model_table: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --format) format="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (--help lists them)" ;;
    *) [ -z "$file" ] || die "one data file only (got $file and $1)"; file="$1"; shift ;;
  esac
done
[ -n "$format" ] || die "--format is required (seq, movielens, diginetica, ...)"
[ -n "$file" ] || die "no data file given"
[ -f "$file" ] || die "no such file: $file"
freshet="$ROOT/build/freshet"
[ -x "$freshet" ] || die "no $freshet; run make"
work="${work:-$(mktemp -d /tmp/model_table.XXXXXX)}"
mkdir -p "$work"

echo "model_table: $file ($format), $threads thread(s), work directory $work" >&2
echo "model_table: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(date -u +%Y-%m-%dT%H:%MZ)" >&2
if [ ! -d "$work/data" ]; then
  "$freshet" ingest --data "$work/data" --format "$format" --quiet "$file" >"$work/ingest.log" 2>&1 ||
    { cat "$work/ingest.log" >&2; die "ingest failed"; }
fi
files=()
for m in $models; do
  out="$work/$m.fmdl"
  if [ ! -f "$out" ]; then
    echo "model_table: training $m" >&2
    "$freshet" train --data "$work/data" --model "$m" --threads "$threads" --out "$out" \
      >"$work/train-$m.log" 2>&1 || { tail -5 "$work/train-$m.log" >&2; die "training $m failed"; }
    tail -1 "$work/train-$m.log" >&2
  fi
  files+=(--model "$out")
done
for c in full sampled:100; do
  "$freshet" eval --data "$work/data" "${files[@]}" --candidates "$c" --threads "$threads" \
    --quiet --json "$work/eval-${c/:/}.json" --html "$work/eval-${c/:/}.html"
  echo
done
