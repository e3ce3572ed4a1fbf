#!/usr/bin/env python3
"""A PyTorch DeepFM of the same architecture, features, optimizer and protocol as freshet's
(`freshet train --task ctr --model deepfm`), for the peer benchmark in bench/compare_deepfm.sh.

What it mirrors (src/rank/dataset.cc, feature_map.cc, fieldnet.cc, ctr_model.cc):
  - features: Criteo (tab-separated label I1..I13 C1..C26): I1..I13 become categorical buckets
    v > 2 ? floor(ln(v)^2) : v, an empty field is its own "missing" value; C1..C26 as strings.
    Avazu (CSV id,click,hour,C1,...,C21, header optional): id dropped, the 21 columns from C1 on
    as strings, plus hour of day and weekday from hour (YYMMDDHH). One feature per field.
  - admission: a (field, value) seen at least --min-count (2) times in the training file gets its
    own row; others share their field's "rare" row (rows 0 .. fields - 1).
  - model: logit = bias + sum_f w[row_f] + FM(e) + MLP(concat e) with e_f = E[row_f] of width
    --embed-dim (16), E ~ N(0, 0.01^2), w = 0; MLP 200-200-200 ReLU then a Linear to one logit,
    Linear weights Glorot-uniform, biases 0; no dropout. Loss: mean binary cross-entropy.
  - optimizer: Adam (lr 1e-3, betas 0.9 / 0.999, eps 1e-8) on the dense weights; for the
    embedding rows (E and w, nn.Embedding(sparse=True)) torch.optim.SparseAdam with the same
    settings: lazy Adam, a row's moments move only when the row is in the batch, as freshet's
    EmbeddingTable (which bias-corrects with the row's own update count; SparseAdam with the
    global step: the only difference).
  - training: batches of --batch-size (256) in a new shuffled order every epoch; after each epoch
    validation AUC / logloss; early stopping on validation logloss (patience 2, up to --epochs, 10)
    and the best epoch's weights kept for the test metrics.

torch.set_num_threads(--threads) and OPENBLAS_NUM_THREADS = --threads. Per-epoch lines go to stderr;
the result (per-epoch training seconds, validation excluded, and the test metrics) is one JSON object
on stdout, or in --json FILE.
"""

import argparse
import copy
import json
import math
import os
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--format", choices=["criteo", "avazu"], required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--valid")
    p.add_argument("--test")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=10, help="most epochs")
    p.add_argument("--patience", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--embed-dim", type=int, default=16)
    p.add_argument("--mlp", default="200,200,200")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-count", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--json", help="write the result here instead of stdout")
    return p.parse_args()


ARGS = parse_args()
# OpenBLAS sizes its own pool when loaded: set it before torch loads it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(ARGS.threads))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def mapped_libraries(*keys):
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and any(k in os.path.basename(fields[5]).lower() for k in keys):
                libs.add(fields[5])
    return sorted(libs)


# ---- data

AVAZU_HEADER = ("id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,"
                "app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,"
                "C15,C16,C17,C18,C19,C20,C21")


def criteo_bucket(v):
    return v if v <= 2 else int(math.floor(math.log(v) ** 2))


def read_rows(path, fmt):
    """Yields (label, [value string per field])."""
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n").rstrip("\r")
            if not line:
                continue
            if fmt == "criteo":
                cols = line.split("\t")
                if len(cols) != 40:
                    sys.exit(f"{path}:{n}: expected 40 columns, found {len(cols)}")
                values = [str(criteo_bucket(int(c))) if c else "" for c in cols[1:14]]
                values += cols[14:]
                yield float(cols[0]), values
            else:
                if n == 1 and line.startswith("id,"):
                    if line != AVAZU_HEADER:
                        sys.exit(f"{path}:1: not an Avazu header")
                    continue
                cols = line.split(",")
                if len(cols) != 24:
                    sys.exit(f"{path}:{n}: expected 24 columns, found {len(cols)}")
                h = cols[2]
                yy, mm, dd, hh = int(h[0:2]), int(h[2:4]), int(h[4:6]), int(h[6:8])
                # weekday with Sunday = 0, as freshet's reader
                import datetime
                wd = (datetime.date(2000 + yy, mm, dd).weekday() + 1) % 7
                yield float(cols[1]), cols[3:] + [str(hh), str(wd)]


def load(path, fmt):
    labels, values = [], []
    for y, v in read_rows(path, fmt):
        labels.append(y)
        values.append(v)
    return np.asarray(labels, dtype=np.float32), values


def build_vocab(values, num_fields, min_count):
    counts = [dict() for _ in range(num_fields)]
    for row in values:
        for f, v in enumerate(row):
            c = counts[f]
            c[v] = c.get(v, 0) + 1
    vocab = [dict() for _ in range(num_fields)]
    next_row = num_fields  # rows 0 .. fields - 1: each field's rare row
    for f in range(num_fields):
        for v in sorted(k for k, c in counts[f].items() if c >= min_count):
            vocab[f][v] = next_row
            next_row += 1
    return vocab, next_row


def encode(values, vocab):
    out = np.empty((len(values), len(vocab)), dtype=np.int64)
    for i, row in enumerate(values):
        out[i] = [vocab[f].get(v, f) for f, v in enumerate(row)]
    return out


# ---- metrics (as src/rank/metrics.cc)


def auc(scores, labels):
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    y = labels[order]
    ranks = np.empty(len(s), dtype=np.float64)
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and s[j] == s[i]:
            j += 1
        ranks[i:j] = 0.5 * (i + 1 + j)
        i = j
    pos = float((y > 0.5).sum())
    neg = float(len(y) - pos)
    if pos == 0 or neg == 0:
        return float("nan")
    return float((ranks[y > 0.5].sum() - pos * (pos + 1) / 2) / (pos * neg))


def logloss(p, labels, eps=1e-7):
    q = np.clip(p.astype(np.float64), eps, 1 - eps)
    return float(-np.mean(np.where(labels > 0.5, np.log(q), np.log(1 - q))))


# ---- model


class DeepFM(nn.Module):
    def __init__(self, rows, fields, dim, widths):
        super().__init__()
        self.fields, self.dim = fields, dim
        self.embed = nn.Embedding(rows, dim, sparse=True)
        self.linear = nn.Embedding(rows, 1, sparse=True)
        nn.init.normal_(self.embed.weight, 0.0, 0.01)
        nn.init.zeros_(self.linear.weight)
        self.bias = nn.Parameter(torch.zeros(1))
        layers, width = [], fields * dim
        for w in widths:
            lin = nn.Linear(width, w)
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)
            layers += [lin, nn.ReLU()]
            width = w
        out = nn.Linear(width, 1)
        nn.init.xavier_uniform_(out.weight)
        nn.init.zeros_(out.bias)
        layers.append(out)
        self.mlp = nn.Sequential(*layers)

    def forward(self, x):
        e = self.embed(x)                       # [B, F, k]
        lin = self.linear(x).sum(dim=(1, 2))   # [B]
        s = e.sum(dim=1)
        fm = 0.5 * (s * s - (e * e).sum(dim=1)).sum(dim=1)
        deep = self.mlp(e.reshape(x.shape[0], self.fields * self.dim)).squeeze(1)
        return self.bias + lin + fm + deep


def predict(model, x, batch=4096):
    model.eval()
    out = []
    with torch.no_grad():
        for b in range(0, len(x), batch):
            out.append(torch.sigmoid(model(torch.from_numpy(x[b:b + batch]))).numpy())
    model.train()
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def main():
    torch.set_num_threads(ARGS.threads)
    torch.manual_seed(ARGS.seed)
    rng = np.random.default_rng(ARGS.seed)
    t0 = time.perf_counter()
    y_train, v_train = load(ARGS.train, ARGS.format)
    fields = len(v_train[0])
    vocab, rows = build_vocab(v_train, fields, ARGS.min_count)
    x_train = encode(v_train, vocab)
    del v_train
    sets = {}
    for name in ("valid", "test"):
        path = getattr(ARGS, name)
        if path:
            y, v = load(path, ARGS.format)
            sets[name] = (encode(v, vocab), y)
    log(f"pytorch: read and encoded {len(y_train)} training samples, {rows} rows "
        f"({rows - fields} admitted) in {time.perf_counter() - t0:.1f} s")

    widths = [int(w) for w in ARGS.mlp.split(",") if w]
    model = DeepFM(rows, fields, ARGS.embed_dim, widths)
    sparse = [model.embed.weight, model.linear.weight]
    dense = [p for n, p in model.named_parameters() if not n.startswith(("embed.", "linear."))]
    opt_sparse = torch.optim.SparseAdam(sparse, lr=ARGS.lr, betas=(0.9, 0.999), eps=1e-8)
    opt_dense = torch.optim.Adam(dense, lr=ARGS.lr, betas=(0.9, 0.999), eps=1e-8)
    blas = mapped_libraries("blas", "lapack", "mkl")

    epochs, best, best_state, since_best = [], float("inf"), None, 0
    n, bs = len(y_train), ARGS.batch_size
    y_t = torch.from_numpy(y_train)
    for epoch in range(1, ARGS.epochs + 1):
        order = rng.permutation(n)
        start = time.perf_counter()
        total = 0.0
        for b in range(0, n, bs):
            idx = order[b:b + bs]
            x = torch.from_numpy(x_train[idx])
            y = y_t[idx]
            logit = model(x)
            loss = F.binary_cross_entropy_with_logits(logit, y)
            opt_sparse.zero_grad(set_to_none=True)
            opt_dense.zero_grad(set_to_none=True)
            loss.backward()
            opt_sparse.step()
            opt_dense.step()
            total += loss.item() * len(idx)
        seconds = time.perf_counter() - start
        e = {"epoch": epoch, "train_loss": total / n, "seconds": seconds}
        line = f"pytorch epoch {epoch}: train loss {total / n:.4f}, {seconds:.2f} s"
        if "valid" in sets:
            xv, yv = sets["valid"]
            p = predict(model, xv)
            e["valid_auc"], e["valid_logloss"] = auc(p, yv), logloss(p, yv)
            line += f", valid AUC {e['valid_auc']:.4f} logloss {e['valid_logloss']:.4f}"
            if e["valid_logloss"] < best:
                best, since_best = e["valid_logloss"], 0
                best_state = copy.deepcopy(model.state_dict())
                e["best"] = True
                line += " (best)"
            else:
                since_best += 1
        epochs.append(e)
        log(line)
        if "valid" in sets and since_best >= ARGS.patience:
            break
    best_epoch = len(epochs)
    if best_state is not None:
        model.load_state_dict(best_state)
        best_epoch = max(i + 1 for i, e in enumerate(epochs) if e.get("best"))
    result = {
        "torch_version": torch.__version__, "threads": torch.get_num_threads(), "blas": blas,
        "allocator": mapped_libraries("tcmalloc", "jemalloc"),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
                                               "OMP_WAIT_POLICY", "LD_PRELOAD")},
        "params": {"format": ARGS.format, "embed_dim": ARGS.embed_dim, "mlp": widths,
                   "batch_size": bs, "lr": ARGS.lr, "min_count": ARGS.min_count,
                   "rows": rows, "fields": fields},
        "epochs": epochs, "epochs_trained": len(epochs), "best_epoch": best_epoch,
    }
    if "test" in sets:
        xt, yt = sets["test"]
        p = predict(model, xt)
        result["test"] = {"AUC": auc(p, yt), "logloss": logloss(p, yt)}
        log(f"pytorch test: AUC {result['test']['AUC']:.4f} logloss {result['test']['logloss']:.4f}")
    text = json.dumps(result, indent=1)
    if ARGS.json:
        with open(ARGS.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
