#!/usr/bin/env bash
# The accuracy and memory cost of serving a ranking model with its embedding table in fp16 or int8
# (`freshet quantize`, docs/models.md "Ranking"): for each trained FM / DeepFM / DCN-v2 model and
# its test data, quantize to fp16 and to int8, evaluate the float model and both quantized ones on
# the same data, and print one table row per model and precision: the embedding table's bytes in
# memory, the model file's size, test AUC and logloss, and their change against the float model.
#
#   bench/quantize_cost.sh [--samples] [--case NAME:MODEL:TASK:TEST ...] [options]  (--help)
#
# Everything (quantized models, eval JSON, logs) stays in the work directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

build_dir="$ROOT/build"
work=""
shared="$ROOT/../shared/data"
threads=2
samples=0
markdown=""
cases=()

usage() {
  cat <<EOF
usage: bench/quantize_cost.sh [options]
  --case NAME:MODEL:TASK:TEST
                        a trained float model file MODEL (fm, deepfm or dcnv2; --task ctr or a
                        shop model) shown as NAME; TASK is ctr (TEST: a Criteo / Avazu test file
                        in the model's format) or click, cart, buy (TEST: the store directory the
                        model was trained on; evaluated on the model's own validation split).
                        Repeat for several models.
  --samples             add the Criteo and Avazu samples of --shared (criteo-sample/,
                        avazu-sample/: train, dev, test) with fm, deepfm and dcnv2, trained into
                        the work directory as docs/benchmarks.md does (default settings, --valid
                        dev, 2 threads) unless already there; a sample that is absent is skipped
                        with a message
  --shared DIR          the shared data directory (default: ../shared/data beside the repository)
  --build-dir DIR       where the freshet binary is (default build/)
  --work DIR            work directory (default: a new /tmp/quantize_cost.XXXXXX)
  --threads T           threads for training and eval (default 2)
  --markdown FILE       also write the table to FILE (Markdown)
  -h, --help            this text
EOF
}

die() {
  echo "quantize_cost: $*" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --case) [ $# -ge 2 ] || die "--case needs a value"; cases+=("$2"); shift 2 ;;
    --samples) samples=1; shift ;;
    --shared) [ $# -ge 2 ] || die "--shared needs a value"; shared="$2"; shift 2 ;;
    --build-dir) [ $# -ge 2 ] || die "--build-dir needs a value"; build_dir="$2"; shift 2 ;;
    --work) [ $# -ge 2 ] || die "--work needs a value"; work="$2"; shift 2 ;;
    --threads) [ $# -ge 2 ] || die "--threads needs a value"; threads="$2"; shift 2 ;;
    --markdown) [ $# -ge 2 ] || die "--markdown needs a value"; markdown="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

freshet="$build_dir/freshet"
[ -x "$freshet" ] || die "no freshet binary at $freshet (build it, or pass --build-dir)"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive whole number"
command -v jq >/dev/null || die "needs jq (apt-get install jq)"
if [ -z "$work" ]; then work="$(mktemp -d /tmp/quantize_cost.XXXXXX)"; fi
mkdir -p "$work"

if [ "$samples" = 1 ]; then
  for ds in criteo-sample avazu-sample; do
    if [ "$ds" = criteo-sample ]; then fmt=criteo ext=txt; else fmt=avazu ext=csv; fi
    dir="$shared/$ds"
    if [ ! -f "$dir/train.$ext" ] || [ ! -f "$dir/dev.$ext" ] || [ ! -f "$dir/test.$ext" ]; then
      echo "quantize_cost: SKIPPED $ds: $dir/{train,dev,test}.$ext not found" >&2
      continue
    fi
    for m in fm deepfm dcnv2; do
      model="$work/$fmt-$m.fmdl"
      if [ ! -f "$model" ]; then
        echo "quantize_cost: training $m on $ds" >&2
        "$freshet" train --task ctr --format "$fmt" --model "$m" --train "$dir/train.$ext" \
          --valid "$dir/dev.$ext" --threads "$threads" --out "$model" --quiet \
          >"$work/$fmt-$m.train.log" 2>&1 || { cat "$work/$fmt-$m.train.log" >&2; exit 1; }
      fi
      cases+=("$ds $m:$model:ctr:$dir/test.$ext")
    done
  done
fi
[ ${#cases[@]} -gt 0 ] || die "nothing to measure: give --case or --samples (--help)"

# eval of MODEL for TASK on TEST into JSON file OUT.
evaluate() {
  local model="$1" task="$2" test="$3" out="$4"
  if [ "$task" = ctr ]; then
    "$freshet" eval --task ctr --model "$model" --test "$test" --threads "$threads" --quiet \
      --json "$out" >/dev/null 2>"$out.err" || { cat "$out.err" >&2; return 1; }
  else
    "$freshet" eval --task "$task" --data "$test" --model "$model" --threads "$threads" --quiet \
      --json "$out" >/dev/null 2>"$out.err" || { cat "$out.err" >&2; return 1; }
  fi
}

mb() { awk -v b="$1" 'BEGIN { printf "%.3f", b / 1e6 }'; }
signed() { awk -v x="$1" 'BEGIN { printf "%+.5f", x }'; }

table="$work/table.md"
{
  echo "| model | precision | table in memory, MB (rows + optimizer state) | model file, MB | test AUC | test logloss | AUC vs float | logloss vs float |"
  echo "|---|---|---|---|---|---|---|---|"
} >"$table"

i=0
for c in "${cases[@]}"; do
  i=$((i + 1))
  IFS=: read -r name model task test <<<"$c"
  if [ -z "$name" ] || [ -z "$model" ] || [ -z "$task" ] || [ -z "$test" ]; then
    die "--case '$c' is not NAME:MODEL:TASK:TEST"
  fi
  case "$task" in ctr|click|cart|buy) ;; *) die "--case '$c': TASK must be ctr, click, cart or buy" ;; esac
  [ -f "$model" ] || die "--case '$c': no model file $model"
  [ -e "$test" ] || die "--case '$c': no test data $test"
  echo "quantize_cost: $name: eval float, quantize and eval fp16 and int8" >&2
  base="$work/case$i"
  evaluate "$model" "$task" "$test" "$base-float.json"
  auc0=$(jq '.metrics.AUC' "$base-float.json")
  ll0=$(jq '.metrics.logloss' "$base-float.json")
  float_row_written=0
  for p in fp16 int8; do
    "$freshet" quantize --model "$model" --out "$base-$p.fmdl" --precision "$p" --quiet \
      --json "$base-$p.quantize.json" >/dev/null
    evaluate "$base-$p.fmdl" "$task" "$test" "$base-$p.json"
    q="$base-$p.quantize.json"
    if [ "$float_row_written" = 0 ]; then
      rows=$(jq '.table_bytes.float_rows' "$q")
      opt=$(jq '.table_bytes.float_optimizer_state' "$q")
      echo "| $name | float | $(mb $((rows + opt))) ($(mb "$rows") + $(mb "$opt")) | $(mb "$(jq '.file_bytes.in' "$q")") | $(printf '%.5f' "$auc0") | $(printf '%.5f' "$ll0") | | |" >>"$table"
      float_row_written=1
    fi
    auc=$(jq '.metrics.AUC' "$base-$p.json")
    ll=$(jq '.metrics.logloss' "$base-$p.json")
    echo "| $name | $p | $(mb "$(jq '.table_bytes.quantized' "$q")") | $(mb "$(jq '.file_bytes.out' "$q")") | $(printf '%.5f' "$auc") | $(printf '%.5f' "$ll") | $(signed "$(awk -v a="$auc" -v b="$auc0" 'BEGIN { print a - b }')") | $(signed "$(awk -v a="$ll" -v b="$ll0" 'BEGIN { print a - b }')") |" >>"$table"
  done
done

cat "$table"
if [ -n "$markdown" ]; then cp "$table" "$markdown"; fi
echo "quantize_cost: work directory $work" >&2
