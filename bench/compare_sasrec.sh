#!/usr/bin/env bash
# Peer benchmark: freshet's SASRec against a PyTorch SASRec of the same architecture
# (bench/sasrec_pytorch.py), trained on the same sequence file with the same loo protocol, batch,
# window, optimizer and thread count, and evaluated with the same metrics.
#
#   bench/compare_sasrec.sh [--epochs N] [--threads T] [--data FILE] ...    (--help for all)
#
# Prints one comparison: median training seconds per epoch (validation excluded) of both and their
# ratio, epochs trained, and test HR@10 / NDCG@10 on the full catalog and on sampled:100. Without
# --epochs both train up to 200 epochs with early stopping on validation NDCG@10 (patience 5);
# --epochs N caps both (a timing run). Everything (logs, model, JSON) stays in the work directory.
#
# PyTorch runs as a careful user would run it on CPU: Debian's python3-torch on OpenBLAS (checked:
# without libopenblas0-pthread Debian's torch falls back to a reference BLAS ~50x slower, and the
# script fails rather than time that), tcmalloc preloaded (PyTorch's CPU tuning guide: glibc malloc
# returns large blocks to the kernel and every batch pays the page faults again) and
# OMP_WAIT_POLICY=passive (spinning OpenMP workers starve everything else when the cores are
# shared). --allocator glibc and --omp-wait active give the untuned setup.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3  # Debian's interpreter: python3-torch is installed for it, not for a pyenv one

data="$ROOT/../shared/data/amazon-beauty/Beauty.txt"
threads=2
epochs=""
work=""
freshet_model=""
freshet_data=""
freshet_bin=""
run_freshet=1
run_pytorch=1
build=1
allocator=tcmalloc
omp_wait=passive
layout=packed
summary_out=""
ce_negatives=4096        # freshet's default loss: cross-entropy over 4096 shared negatives
pytorch_ce_negatives=""  # empty: the same as freshet's
seed=42

usage() {
  cat <<EOF
usage: bench/compare_sasrec.sh [options]
  --data FILE           sequence file, 'user item item ...' per line (default: Amazon Beauty)
  --threads T           threads for both (default 2)
  --epochs N            cap both at N epochs (timing run); default: early stopping, up to 200
  --work DIR            work directory (default: a new /tmp/compare_sasrec.XXXXXX)
  --freshet-model FILE  reuse this trained freshet model instead of training one; needs
  --freshet-data DIR    the data directory it was trained on (copied, never modified)
  --pytorch-only        skip freshet
  --freshet-only        skip PyTorch
  --report-only         run nothing: print the comparison of what --work DIR already holds
  --no-build            do not run make
  --freshet-bin FILE    time this freshet binary (e.g. build-perf/freshet) instead of
                        build/freshet; implies --no-build
  --allocator A         PyTorch's malloc: tcmalloc (default), jemalloc or glibc
  --omp-wait P          OMP_WAIT_POLICY for PyTorch: passive (default) or active
  --layout L            PyTorch encoder: packed (default) or padded (see sasrec_pytorch.py)
  --summary FILE        also write the comparison as JSON to FILE
  --seed S              training seed for both (default 42)
  --ce-negatives K      the loss for both: cross-entropy over K negatives shared per batch,
                        half drawn by popularity, half uniformly
                        (default 4096, freshet's default); 0: softmax over the whole catalog
  --pytorch-ce-negatives K  PyTorch's loss alone (default: as --ce-negatives), e.g. 0 to time
                        freshet's default against PyTorch's full softmax
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --data) data="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --freshet-model) freshet_model="$2"; shift 2 ;;
    --freshet-data) freshet_data="$2"; shift 2 ;;
    --pytorch-only) run_freshet=0; shift ;;
    --freshet-only) run_pytorch=0; shift ;;
    --report-only) run_freshet=0; run_pytorch=0; shift ;;
    --no-build) build=0; shift ;;
    --freshet-bin) freshet_bin="$2"; build=0; shift 2 ;;
    --allocator) allocator="$2"; shift 2 ;;
    --omp-wait) omp_wait="$2"; shift 2 ;;
    --layout) layout="$2"; shift 2 ;;
    --summary) summary_out="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --ce-negatives) ce_negatives="$2"; shift 2 ;;
    --pytorch-ce-negatives) pytorch_ce_negatives="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare_sasrec: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

die() { echo "compare_sasrec: $*" >&2; exit 1; }
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[ -f "$data" ] || die "no such sequence file: $data"
data="$(cd "$(dirname "$data")" && pwd)/$(basename "$data")"
if [ -n "$freshet_model" ]; then
  [ -f "$freshet_model" ] || die "no such model file: $freshet_model"
  [ -d "$freshet_data" ] || die "--freshet-model needs --freshet-data DIR (the data it was trained on)"
fi
case "$allocator" in
  tcmalloc) alloc_pkg=libtcmalloc-minimal4; alloc_lib=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 ;;
  jemalloc) alloc_pkg=libjemalloc2; alloc_lib=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ;;
  glibc) alloc_pkg=""; alloc_lib="" ;;
  *) die "--allocator must be tcmalloc, jemalloc or glibc" ;;
esac
[[ "$ce_negatives" =~ ^[0-9]+$ ]] || die "--ce-negatives must be a whole number"
[[ "$seed" =~ ^[0-9]+$ ]] || die "--seed must be a whole number"
pytorch_ce_negatives="${pytorch_ce_negatives:-$ce_negatives}"
[[ "$pytorch_ce_negatives" =~ ^[0-9]+$ ]] || die "--pytorch-ce-negatives must be a whole number"
case "$omp_wait" in passive|active) ;; *) die "--omp-wait must be passive or active" ;; esac

if [ -z "$work" ]; then
  work="$(mktemp -d /tmp/compare_sasrec.XXXXXX)"
else
  mkdir -p "$work"
fi
say "work directory $work"

# ---- the machine, recorded with the results

cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -Iseconds)"
say "$(nproc) CPUs ($cpu_model), load average $load_before"

# ---- Debian packages PyTorch needs, installed only if missing

if [ "$run_pytorch" = 1 ]; then
  missing=()
  for p in python3-torch libopenblas0-pthread $alloc_pkg; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
      sudo="sudo"
    fi
    say "installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >&2
  fi

  # The environment PyTorch runs in; OpenBLAS reads its thread count when it is loaded.
  py_env=(OPENBLAS_NUM_THREADS="$threads" OMP_WAIT_POLICY="${omp_wait^^}")
  [ -n "$alloc_lib" ] && py_env+=(LD_PRELOAD="$alloc_lib")

  # Does torch really run its matmuls on OpenBLAS? Look at what the process has mapped after one.
  blas_check="$(env "${py_env[@]}" "$PY" - "$threads" <<'EOF'
import os, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(1024, 1024)
a @ a
start = time.perf_counter()
for _ in range(5):
    a @ a
gflops = 5 * 2 * 1024 ** 3 / (time.perf_counter() - start) / 1e9
libs = set()
for line in open("/proc/self/maps"):
    f = line.split()
    if len(f) >= 6 and any(k in os.path.basename(f[5]).lower()
                           for k in ("blas", "lapack", "mkl", "tcmalloc", "jemalloc")):
        libs.add(f[5])
blas_info = [s.strip().split()[-1] for s in torch.__config__.show().replace(",", "\n").splitlines()
             if "BLAS_INFO" in s]
print(f"torch {torch.__version__}; {'; '.join(blas_info)}; "
      f"1024^3 sgemm at {gflops:.0f} GFLOP/s with {torch.get_num_threads()} threads")
for lib in sorted(libs):
    print("  mapped:", lib)
print("OPENBLAS" if any("libopenblas" in os.path.basename(l) for l in libs) else "NO-OPENBLAS")
EOF
)" || die "torch does not start: $blas_check"
  echo "$blas_check" | sed '$d' >&2
  [ "$(echo "$blas_check" | tail -1)" = OPENBLAS ] || \
    die "torch is NOT using OpenBLAS (install libopenblas0-pthread); refusing to time a reference BLAS"
  torch_version="$(echo "$blas_check" | head -1 | sed 's/^torch \([^;]*\);.*/\1/')"
  torch_version+=" (Debian python3-torch $(dpkg-query -W -f='${Version}' python3-torch))"
fi

# ---- freshet

freshet_json_full="$work/freshet-full.json"
freshet_json_sampled="$work/freshet-sampled100.json"
if [ "$run_freshet" = 1 ]; then
  if [ "$build" = 1 ]; then
    say "building freshet (make)"
    make -C "$ROOT" >"$work/make.log" 2>&1 || { tail -20 "$work/make.log" >&2; die "make failed"; }
  fi
  freshet="${freshet_bin:-$ROOT/build/freshet}"
  [ -x "$freshet" ] || die "no $freshet; run make"
  say "freshet binary $freshet"
  if [ -n "$freshet_model" ]; then
    say "reusing $freshet_model (data $freshet_data, copied to $work/data)"
    rm -rf "$work/data"
    cp -a "$freshet_data" "$work/data"
    model="$freshet_model"
  else
    say "ingesting $(basename "$data")"
    rm -rf "$work/data"
    "$freshet" ingest --data "$work/data" --format seq --quiet "$data" >"$work/ingest.log" 2>&1 ||
      { cat "$work/ingest.log" >&2; die "ingest failed"; }
    model="$work/freshet-sasrec.fmdl"
    say "training freshet SASRec, $threads thread(s)${epochs:+, $epochs epochs}"
    "$freshet" train --data "$work/data" --model sasrec --threads "$threads" \
      --param "ce_negatives=$ce_negatives" --seed "$seed" ${epochs:+--epochs "$epochs"} --out "$model" 2>&1 | tee "$work/freshet-train.log" |
      { grep --line-buffered -E '^sasrec( epoch [0-9]+:|:)' >&2 || true; } ||
      { tail -5 "$work/freshet-train.log" >&2; die "freshet train failed"; }
    [ -f "$model" ] || die "freshet train wrote no model"
  fi
  say "evaluating freshet (full, sampled:100)"
  "$freshet" eval --data "$work/data" --model "$model" --candidates full --k 10 \
    --threads "$threads" --quiet --json "$freshet_json_full" >"$work/freshet-eval-full.txt"
  "$freshet" eval --data "$work/data" --model "$model" --candidates sampled:100 --k 10 \
    --threads "$threads" --quiet --json "$freshet_json_sampled" >"$work/freshet-eval-sampled.txt"
fi

# ---- PyTorch

pytorch_json="$work/pytorch.json"
if [ "$run_pytorch" = 1 ]; then
  say "training PyTorch SASRec, $threads thread(s)${epochs:+, $epochs epochs}" \
      "(allocator $allocator, OMP_WAIT_POLICY $omp_wait, layout $layout)"
  env "${py_env[@]}" "$PY" "$ROOT/bench/sasrec_pytorch.py" --data "$data" --threads "$threads" \
    --layout "$layout" --ce-negatives "$pytorch_ce_negatives" --seed "$seed" \
    ${epochs:+--epochs "$epochs"} --json "$pytorch_json" \
    2>&1 | tee "$work/pytorch-train.log" >&2 ||
    die "the PyTorch run failed (log: $work/pytorch-train.log)"
  [ -f "$pytorch_json" ] || die "the PyTorch run wrote no result (log: $work/pytorch-train.log)"
fi

# ---- the comparison

load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
report_only=$(( run_freshet == 0 && run_pytorch == 0 ))
"$PY" - "$work" "$report_only" "$summary_out" "$data" "$threads" "$(nproc)" "$cpu_model" \
  "${torch_version:-}" "$started" "$load_before" "$load_after" <<'EOF'
import json, os, statistics, sys

work, report_only, summary_out = sys.argv[1:4]
keys = ("data", "threads", "nproc", "cpu", "torch", "started", "load_before", "load_after")
run = dict(zip(keys, sys.argv[4:]))
# The machine and the times of the runs that made the results: kept in the work directory so that
# --report-only (and a later --freshet-only / --pytorch-only into the same directory) keep them.
run_path = os.path.join(work, "run.json")
saved = json.load(open(run_path)) if os.path.exists(run_path) else {}
if report_only == "1":
    run = saved or run
else:
    if saved.get("started"):
        run["started"] = saved["started"] + ", " + run["started"]
        run["load_before"] = saved["load_before"] + " | " + run["load_before"]
    run["torch"] = run["torch"] or saved.get("torch", "")
    with open(run_path, "w") as f:
        json.dump(run, f, indent=1)
data, threads, nproc, cpu = run["data"], run["threads"], run["nproc"], run["cpu"]


def load(name):
    path = os.path.join(work, name)
    return json.load(open(path)) if os.path.exists(path) else None


fr_full, fr_sampled, pt = (load(n) for n in
                           ("freshet-full.json", "freshet-sampled100.json", "pytorch.json"))
rows = {}
if fr_full:
    # The per-epoch seconds freshet prints on stderr, at full precision: the model's training
    # report, which eval's JSON carries.
    ep = fr_full["train"]["epochs"]
    rows["freshet"] = {
        "epoch_seconds": [e["seconds"] for e in ep],
        "epochs_trained": len(ep), "best_epoch": fr_full["train"]["best_epoch"],
        "full": {k: fr_full["metrics"][k] for k in ("HR@10", "NDCG@10")},
        "sampled:100": {k: fr_sampled["metrics"][k] for k in ("HR@10", "NDCG@10")},
        "ce_negatives": int(fr_full.get("params", {}).get("ce_negatives", 0)),
    }
if pt:
    rows["pytorch"] = {
        "epoch_seconds": [e["seconds"] for e in pt["epochs"]],
        "epochs_trained": pt["epochs_trained"], "best_epoch": pt["best_epoch"],
        "full": pt["test"]["full"], "sampled:100": pt["test"]["sampled:100"],
        "ce_negatives": pt["params"].get("ce_negatives", 0),
    }
for r in rows.values():
    r["median_epoch_seconds"] = statistics.median(r["epoch_seconds"])
    # On a shared machine the fastest epoch is the one least disturbed by other work.
    r["min_epoch_seconds"] = min(r["epoch_seconds"])

print()
print(f"SASRec peer benchmark: {os.path.basename(data)}, loo, {threads} thread(s)")
print(f"  machine: {nproc} CPUs, {cpu}; load average {run['load_before']} before, "
      f"{run['load_after']} after")
if pt:
    alloc = ", ".join(os.path.basename(a) for a in pt.get("allocator", []))
    print(f"  torch {run['torch'] or pt['torch_version']}, BLAS "
          f"{', '.join(os.path.basename(b) for b in pt['blas'])}, allocator {alloc}, "
          f"OMP_WAIT_POLICY {pt['env'].get('OMP_WAIT_POLICY')}, layout {pt['params']['layout']}")
print(f"  started {run['started']}; work directory {work}")
print()
print(f"{'':8} | {'s/epoch median':>14} | {'min':>6} | {'epochs':>6} | {'best':>4} | "
      f"{'full HR@10':>10} | {'full NDCG@10':>12} | {'s100 HR@10':>10} | {'s100 NDCG@10':>12}")
print("-" * 9 + "+" + "-" * 16 + "+" + "-" * 8 + "+" + "-" * 8 + "+" + "-" * 6 +
      ("+" + "-" * 12 + "+" + "-" * 14) * 2)
for name, r in rows.items():
    print(f"{name:8} | {r['median_epoch_seconds']:14.2f} | {r['min_epoch_seconds']:6.2f} | "
          f"{r['epochs_trained']:6d} | "
          f"{r['best_epoch']:4d} | {r['full']['HR@10']:10.4f} | {r['full']['NDCG@10']:12.4f} | "
          f"{r['sampled:100']['HR@10']:10.4f} | {r['sampled:100']['NDCG@10']:12.4f}")
print()
for name, r in rows.items():
    k = r["ce_negatives"]
    print(f"{name} loss: cross-entropy over " +
          (f"{k} shared negatives per batch" if k else "the whole catalog"))
for name, r in rows.items():
    print(f"{name} seconds per epoch: " + " ".join(f"{s:.2f}" for s in r["epoch_seconds"]))
ratio = ratio_min = None
if len(rows) == 2:
    ratio = rows["pytorch"]["median_epoch_seconds"] / rows["freshet"]["median_epoch_seconds"]
    ratio_min = rows["pytorch"]["min_epoch_seconds"] / rows["freshet"]["min_epoch_seconds"]
    print(f"PyTorch / freshet, seconds per epoch: {ratio:.2f}x (medians), "
          f"{ratio_min:.2f}x (fastest epochs)")
if summary_out:
    with open(summary_out, "w") as f:
        json.dump({"run": run, "pytorch_setup": {k: pt[k] for k in
                                                 ("torch_version", "blas", "allocator", "env",
                                                  "params")} if pt else None,
                   "models": rows, "ratio_pytorch_over_freshet": ratio,
                   "ratio_fastest_epochs": ratio_min},
                  f, indent=1)
EOF
