#!/usr/bin/env bash
# Peer benchmark: freshet's DeepFM (`freshet train --task ctr --model deepfm`) against a PyTorch
# DeepFM of the same architecture (bench/deepfm_pytorch.py): the same fields and admission, embedding
# width, MLP, optimizer (Adam for dense weights, lazy / sparse Adam for embedding rows), batch size,
# epochs and early stopping, on the same files with the same thread count.
#
#   bench/compare_deepfm.sh [--dataset criteo-sample|avazu-sample|synthetic] [--threads T] ...
#                                                                                 (--help for all)
#
# Prints one comparison: median (and fastest) training seconds per epoch of both (validation
# excluded) and their ratio, epochs trained, best epoch, and test AUC / logloss. The two run one
# after the other in the same invocation, so on a shared machine the ratio is the number to quote.
# Everything (logs, model, JSON) stays in the work directory.
#
# PyTorch runs as a careful user would run it on CPU, as in bench/compare_sasrec.sh: Debian's
# python3-torch on OpenBLAS (checked: without libopenblas0-pthread Debian's torch falls back to a
# reference BLAS, and the script fails rather than time that), tcmalloc preloaded and
# OMP_WAIT_POLICY=passive; --allocator glibc and --omp-wait active give the untuned setup.
# OpenBLAS's kernel: Debian's OpenBLAS 0.3.21 does not know newer CPUs (AMD Zen 5 gets its AVX2
# "Haswell" kernels although the CPU has AVX-512), so by default the script times the DeepFM's
# matrix products under the kernels the CPU can run (the detected one, SkylakeX with AVX-512,
# Cooperlake with AVX512-BF16) and gives PyTorch the fastest (OPENBLAS_CORETYPE; --openblas-core).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3  # Debian's interpreter: python3-torch is installed for it, not for a pyenv one

dataset=criteo-sample
rows=1000000
train="" valid="" test="" format=""
threads=2
epochs=""
work=""
build_dir="$ROOT/build"
build=1
run_freshet=1
run_pytorch=1
allocator=tcmalloc
omp_wait=passive
openblas_core=auto
summary_out=""
seed=42

usage() {
  cat <<EOF
usage: bench/compare_deepfm.sh [options]
  --dataset D           criteo-sample (default) or avazu-sample (../shared/data/D: train, dev,
                        test), or synthetic: a Criteo-shaped file with a planted truth made by
                        ctr_synth (--rows training rows, 50000 validation, 100000 test)
  --rows N              synthetic training rows (default 1000000)
  --train F --valid F --test F --format criteo|avazu
                        explicit files instead of --dataset
  --threads T           threads for both (default 2)
  --epochs N            cap both at N epochs (default: up to 10, early stopping, patience 2)
  --work DIR            work directory (default: a new /tmp/compare_deepfm.XXXXXX)
  --build-dir DIR       freshet's build directory (default build/, built with make)
  --no-build            do not run make; use what --build-dir holds
  --pytorch-only        skip freshet
  --freshet-only        skip PyTorch
  --allocator A         PyTorch's malloc: tcmalloc (default), jemalloc or glibc
  --omp-wait P          OMP_WAIT_POLICY for PyTorch: passive (default) or active
  --openblas-core C     OpenBLAS kernel for PyTorch: auto (default: the fastest of those the CPU
                        runs, timed on the model's products), detected (OpenBLAS's own choice)
                        or a name for OPENBLAS_CORETYPE (Haswell, SkylakeX, Cooperlake, ...)
  --summary FILE        also write the comparison as JSON to FILE
  --seed S              training seed for both (default 42)
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dataset) dataset="$2"; shift 2 ;;
    --rows) rows="$2"; shift 2 ;;
    --train) train="$2"; shift 2 ;;
    --valid) valid="$2"; shift 2 ;;
    --test) test="$2"; shift 2 ;;
    --format) format="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --build-dir) build_dir="$(cd "$2" && pwd)"; shift 2 ;;
    --no-build) build=0; shift ;;
    --pytorch-only) run_freshet=0; shift ;;
    --freshet-only) run_pytorch=0; shift ;;
    --allocator) allocator="$2"; shift 2 ;;
    --omp-wait) omp_wait="$2"; shift 2 ;;
    --openblas-core) openblas_core="$2"; shift 2 ;;
    --summary) summary_out="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare_deepfm: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

die() { echo "compare_deepfm: $*" >&2; exit 1; }
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[[ "$threads" =~ ^[0-9]+$ ]] && [ "$threads" -ge 1 ] || die "--threads must be a positive number"
[[ "$seed" =~ ^[0-9]+$ ]] || die "--seed must be a whole number"
[ -z "$epochs" ] || [[ "$epochs" =~ ^[0-9]+$ ]] || die "--epochs must be a whole number"
[[ "$rows" =~ ^[0-9]+$ ]] || die "--rows must be a whole number"
case "$allocator" in
  tcmalloc) alloc_pkg=libtcmalloc-minimal4; alloc_lib=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 ;;
  jemalloc) alloc_pkg=libjemalloc2; alloc_lib=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ;;
  glibc) alloc_pkg=""; alloc_lib="" ;;
  *) die "--allocator must be tcmalloc, jemalloc or glibc" ;;
esac
case "$omp_wait" in passive|active) ;; *) die "--omp-wait must be passive or active" ;; esac

if [ -z "$work" ]; then
  work="$(mktemp -d /tmp/compare_deepfm.XXXXXX)"
else
  mkdir -p "$work"
fi
say "work directory $work"

# ---- the machine, recorded with the results

cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -Iseconds)"
say "$(nproc) CPUs ($cpu_model), load average $load_before"

# ---- freshet's build (also provides ctr_synth for the synthetic files)

if [ "$run_freshet" = 1 ] || [ "$dataset" = synthetic ]; then
  if [ "$build" = 1 ]; then
    say "building freshet (make)"
    make -C "$ROOT" >"$work/make.log" 2>&1 || { tail -20 "$work/make.log" >&2; die "make failed"; }
  fi
fi
freshet="$build_dir/freshet"

# ---- the files

if [ -n "$train" ]; then
  [ -n "$format" ] || die "--train needs --format criteo|avazu"
  [ -n "$valid" ] && [ -n "$test" ] || die "--train needs --valid and --test"
  label="$(basename "$train")"
else
  case "$dataset" in
    criteo-sample) d="$ROOT/../shared/data/criteo-sample"; format=criteo
      train="$d/train.txt"; valid="$d/dev.txt"; test="$d/test.txt" ;;
    avazu-sample) d="$ROOT/../shared/data/avazu-sample"; format=avazu
      train="$d/train.csv"; valid="$d/dev.csv"; test="$d/test.csv" ;;
    synthetic)
      format=criteo
      synth="$build_dir/bench/ctr_synth"
      [ -x "$synth" ] || die "no $synth (build the bench targets)"
      train="$work/synthetic-train.txt"; valid="$work/synthetic-valid.txt"
      test="$work/synthetic-test.txt"
      if [ ! -f "$train" ] || [ "$(wc -l <"$train")" != "$rows" ]; then
        say "generating $rows synthetic training rows"
        "$synth" --rows "$rows" --seed 1 --out "$train"
        "$synth" --rows 50000 --seed 2 --out "$valid"
        "$synth" --rows 100000 --seed 3 --out "$test"
      fi ;;
    *) die "--dataset must be criteo-sample, avazu-sample or synthetic" ;;
  esac
  label="$dataset"
fi
for f in "$train" "$valid" "$test"; do [ -f "$f" ] || die "no such file: $f"; done

# ---- Debian packages PyTorch needs, installed only if missing; is torch on OpenBLAS?

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

  py_env=(OPENBLAS_NUM_THREADS="$threads" OMP_WAIT_POLICY="${omp_wait^^}")
  [ -n "$alloc_lib" ] && py_env+=(LD_PRELOAD="$alloc_lib")

  # OpenBLAS's kernel (read when the library loads, so one process per candidate): the seconds of
  # the products 20 DeepFM steps run (forward, weight and input gradients of the first two MLP
  # layers at batch 256), the best of 5 rounds; on a shared machine the best is the one to trust.
  gemm_seconds() {
    env "${py_env[@]}" ${1:+OPENBLAS_CORETYPE=$1} "$PY" - "$threads" <<'PYEOF'
import ctypes, os, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
shapes = [(256, 624, 200), (624, 256, 200), (256, 200, 624), (256, 200, 200), (200, 256, 200)]
mats = [(torch.randn(m, k), torch.randn(k, n)) for m, k, n in shapes]
for a, b in mats:
    a @ b
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    for _ in range(20):
        for a, b in mats:
            a @ b
    best = min(best, time.perf_counter() - start)
lib = [l.split()[5] for l in open("/proc/self/maps") if "libopenblas" in l and len(l.split()) >= 6]
core = "?"
if lib:
    ob = ctypes.CDLL(lib[0])
    ob.openblas_get_corename.restype = ctypes.c_char_p
    core = ob.openblas_get_corename().decode()
print(f"{best:.4f} {core}")
PYEOF
  }
  faster() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
  case "$openblas_core" in
    detected) ;;
    auto)
      candidates=("")
      grep -qw avx512f /proc/cpuinfo && candidates+=(SkylakeX)
      grep -qw avx512_bf16 /proc/cpuinfo && candidates+=(Cooperlake)
      # Two passes over the candidates, interleaved, so that a burst of load elsewhere does not
      # decide alone; each candidate keeps its best.
      declare -A seconds=()
      for pass in 1 2; do
        for c in "${candidates[@]}"; do
          key="${c:-detected}"
          read -r s name < <(gemm_seconds "$c") || die "timing OpenBLAS kernel $key failed"
          say "OpenBLAS kernel $key ($name), pass $pass: ${s} s for 20 DeepFM steps' products"
          if [ -z "${seconds[$key]:-}" ] || faster "$s" "${seconds[$key]}"; then
            seconds[$key]="$s"
          fi
        done
      done
      best_core="" best_s=""
      for c in "${candidates[@]}"; do
        s="${seconds[${c:-detected}]}"
        if [ -z "$best_s" ] || faster "$s" "$best_s"; then
          best_s="$s" best_core="$c"
        fi
      done
      [ -n "$best_core" ] && py_env+=(OPENBLAS_CORETYPE="$best_core") ;;
    *) py_env+=(OPENBLAS_CORETYPE="$openblas_core") ;;
  esac

  # Look at what the process has mapped after a matmul: the BLAS torch really runs on.
  blas_check="$(env "${py_env[@]}" "$PY" - "$threads" <<'PYEOF'
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
core = "?"
for lib in libs:
    if "libopenblas" in os.path.basename(lib):
        import ctypes
        ob = ctypes.CDLL(lib)
        ob.openblas_get_corename.restype = ctypes.c_char_p
        core = ob.openblas_get_corename().decode()
print(f"torch {torch.__version__}; {'; '.join(blas_info)}; OpenBLAS kernel {core}; "
      f"1024^3 sgemm at {gflops:.0f} GFLOP/s with {torch.get_num_threads()} threads")
for lib in sorted(libs):
    print("  mapped:", lib)
print("OPENBLAS" if any("libopenblas" in os.path.basename(l) for l in libs) else "NO-OPENBLAS")
PYEOF
)" || die "torch does not start: $blas_check"
  echo "$blas_check" | sed '$d' >&2
  [ "$(echo "$blas_check" | tail -1)" = OPENBLAS ] || \
    die "torch is NOT using OpenBLAS (install libopenblas0-pthread); refusing to time a reference BLAS"
  torch_version="$(echo "$blas_check" | head -1 | sed 's/^torch \([^;]*\);.*/\1/')"
  torch_version+=" (Debian python3-torch $(dpkg-query -W -f='${Version}' python3-torch))"
  kernel="$(echo "$blas_check" | head -1 | sed -n 's/.*OpenBLAS kernel \([^;]*\);.*/\1/p')"
  torch_version+=", OpenBLAS kernel $kernel"
fi

# ---- freshet

if [ "$run_freshet" = 1 ]; then
  [ -x "$freshet" ] || die "no $freshet; run make (or pass --build-dir)"
  model="$work/freshet-deepfm.fmdl"
  say "training freshet DeepFM on $label, $threads thread(s)${epochs:+, at most $epochs epochs}"
  "$freshet" train --task ctr --format "$format" --model deepfm --train "$train" --valid "$valid" \
    --threads "$threads" --seed "$seed" ${epochs:+--epochs "$epochs"} --out "$model" \
    >"$work/freshet-train.out" 2>"$work/freshet-train.log" ||
    { tail -5 "$work/freshet-train.log" >&2; die "freshet train failed"; }
  grep -E '^deepfm epoch [0-9]+: train loss' "$work/freshet-train.log" >&2 || true
  "$freshet" eval --task ctr --format "$format" --model "$model" --test "$test" \
    --threads "$threads" --json "$work/freshet-eval.json" >/dev/null 2>"$work/freshet-eval.log" ||
    { cat "$work/freshet-eval.log" >&2; die "freshet eval failed"; }
fi

# ---- PyTorch

if [ "$run_pytorch" = 1 ]; then
  say "training PyTorch DeepFM on $label, $threads thread(s)${epochs:+, at most $epochs epochs}" \
      "(allocator $allocator, OMP_WAIT_POLICY $omp_wait)"
  env "${py_env[@]}" "$PY" "$ROOT/bench/deepfm_pytorch.py" --format "$format" --train "$train" \
    --valid "$valid" --test "$test" --threads "$threads" --seed "$seed" \
    ${epochs:+--epochs "$epochs"} --json "$work/pytorch.json" 2>&1 |
    tee "$work/pytorch-train.log" >&2 || die "the PyTorch run failed (log: $work/pytorch-train.log)"
  [ -f "$work/pytorch.json" ] || die "the PyTorch run wrote no result (log: $work/pytorch-train.log)"
fi

# ---- the comparison

load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$work" "$summary_out" "$label" "$threads" "$(nproc)" "$cpu_model" "${torch_version:-}" \
  "$started" "$load_before" "$load_after" <<'PYEOF'
import json, os, re, statistics, sys

work, summary_out = sys.argv[1:3]
keys = ("data", "threads", "nproc", "cpu", "torch", "started", "load_before", "load_after")
run = dict(zip(keys, sys.argv[3:]))
rows = {}
log = os.path.join(work, "freshet-train.log")
ev = os.path.join(work, "freshet-eval.json")
if os.path.exists(log) and os.path.exists(ev):
    epochs = []
    for line in open(log):
        m = re.match(r"deepfm epoch (\d+): train loss [0-9.]+, ([0-9.]+) s .*?(\(best\))?$",
                     line.strip())
        if m:
            epochs.append((float(m.group(2)), bool(m.group(3))))
    best = max((i + 1 for i, e in enumerate(epochs) if e[1]), default=len(epochs))
    metrics = json.load(open(ev))["metrics"]
    rows["freshet"] = {"epoch_seconds": [e[0] for e in epochs], "epochs_trained": len(epochs),
                       "best_epoch": best, "AUC": metrics["AUC"], "logloss": metrics["logloss"]}
pt_path = os.path.join(work, "pytorch.json")
pt = json.load(open(pt_path)) if os.path.exists(pt_path) else None
if pt:
    rows["pytorch"] = {"epoch_seconds": [e["seconds"] for e in pt["epochs"]],
                       "epochs_trained": pt["epochs_trained"], "best_epoch": pt["best_epoch"],
                       "AUC": pt["test"]["AUC"], "logloss": pt["test"]["logloss"]}
for r in rows.values():
    r["median_epoch_seconds"] = statistics.median(r["epoch_seconds"])
    r["min_epoch_seconds"] = min(r["epoch_seconds"])

print()
print(f"DeepFM peer benchmark: {run['data']}, {run['threads']} thread(s)")
print(f"  machine: {run['nproc']} CPUs, {run['cpu']}; load average {run['load_before']} before, "
      f"{run['load_after']} after")
if pt:
    alloc = ", ".join(os.path.basename(a) for a in pt.get("allocator", []))
    print(f"  torch {run['torch'] or pt['torch_version']}, BLAS "
          f"{', '.join(os.path.basename(b) for b in pt['blas'])}, allocator {alloc}, "
          f"OMP_WAIT_POLICY {pt['env'].get('OMP_WAIT_POLICY')}, "
          f"OPENBLAS_CORETYPE {pt['env'].get('OPENBLAS_CORETYPE') or '(unset)'}")
    p = pt["params"]
    print(f"  model: {p['fields']} fields, {p['rows']} rows, embedding {p['embed_dim']}, MLP "
          f"{'-'.join(map(str, p['mlp']))}, batch {p['batch_size']}, Adam lr {p['lr']}")
print(f"  started {run['started']}; work directory {work}")
print()
print(f"{'':8} | {'s/epoch median':>14} | {'min':>7} | {'epochs':>6} | {'best':>4} | "
      f"{'test AUC':>8} | {'test logloss':>12}")
print("-" * 9 + "+" + "-" * 16 + "+" + "-" * 9 + "+" + "-" * 8 + "+" + "-" * 6 + "+" + "-" * 10 +
      "+" + "-" * 13)
for name, r in rows.items():
    print(f"{name:8} | {r['median_epoch_seconds']:14.2f} | {r['min_epoch_seconds']:7.2f} | "
          f"{r['epochs_trained']:6d} | {r['best_epoch']:4d} | {r['AUC']:8.4f} | "
          f"{r['logloss']:12.4f}")
print()
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
        json.dump({"run": run, "models": rows, "ratio_pytorch_over_freshet": ratio,
                   "ratio_fastest_epochs": ratio_min}, f, indent=1)
PYEOF
