#!/usr/bin/env python3
"""A PyTorch SASRec of the same architecture, data and protocol as freshet's, for the peer
benchmark in bench/compare_sasrec.sh.

What it mirrors (src/model/sasrec.cc, src/nn/transformer.cc, ops.cc, attention.cc, loss.cc):
  - item table [num_items, hidden] ~ N(0, 0.02^2), scaled by sqrt(hidden), plus a learned position
    table [max_len, hidden] ~ N(0, 0.02^2); the newest item always takes position max_len - 1;
    dropout on the sum.
  - `blocks` pre-norm blocks: h = x + drop(attn(LN1(x))); y = h + drop(ffn(LN2(h))); a final LN.
    Attention: one fused qkv Linear (hidden -> 3 hidden), causal + key padding mask, an output
    Linear; no attention dropout. FFN: fc2(drop(relu(fc1(x)))), inner width = hidden.
    Linear weights Glorot-uniform, biases 0; LayerNorm gamma 1, beta 0, eps 1e-8.
  - logits = hidden . item_table^T (tied); cross-entropy at every real position, averaged over
    the real positions of the batch. With --ce-negatives 0 the softmax spans the whole catalog;
    with K > 0 (freshet's default, 4096, when the catalog has more than K items) each batch draws
    K items with replacement, shared by all its positions, from q_i = (1 - s) / N + s c_i / C
    (c_i: the item's count in the training sequences, s = --ce-popularity-share, 0.5): the
    target's logit against the negatives' logits - log(K q_j), every copy of the target masked
    out (nn::SharedNegativeSoftmaxLoss, nn::MixedNegativeSampler).
  - loo: per user with >= 3 interactions the last is the test target, the second last the
    validation target, the rest is training; users with 1-2 interactions train on all of them.
    A training example is the last max_len + 1 training items (inputs all but the last, targets
    all but the first); users with < 2 training items are skipped; users shuffled every epoch,
    128 per batch; Adam lr 1e-3, betas (0.9, 0.98), eps 1e-8.
  - early stopping on validation NDCG@10 (full catalog, history excluded), patience 5, best
    epoch kept; test HR@10 / NDCG@10 on the full catalog and on sampled:100 (100 negatives drawn
    uniformly without replacement from items the user never interacted with, fixed seed); ranks
    pessimistic (ties count against the target).

PyTorch gets its best honest setup: a batch is cut to its longest real window (no column that is
padding in every row); with --layout packed (the default) the position-wise layers (embedding,
layer norms, linears, dropout) run on the real tokens only and just attention works on padded
[batch, len] windows, which is what freshet's encoder does too (--layout padded keeps every
activation padded; the results are the same to float rounding); only real positions reach the
output projection and the softmax; torch.set_num_threads(--threads) and OPENBLAS_NUM_THREADS =
--threads; no anomaly detection; default torch.backends. The process environment (allocator,
OMP_WAIT_POLICY) is the driver's business: see bench/compare_sasrec.sh.

--freshet-model FILE evaluates a trained freshet model's weights in this network instead of
training: on the same data the full-catalog metrics must match `freshet eval` to rounding, which
checks that the two forward passes, the loo split and the ranking agree.

Per-epoch lines go to stderr; the result (per-epoch training seconds, which exclude validation,
and the test metrics) is one JSON object on stdout, or in --json FILE.
"""

import argparse
import json
import math
import os
import statistics
import struct
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="sequence file: 'user item item ...' per line")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=200, help="most epochs")
    p.add_argument("--patience", type=int, default=5, help="epochs without improvement to stop")
    p.add_argument("--no-validate", action="store_true",
                   help="skip per-epoch validation (timing only; the last epoch is kept)")
    p.add_argument("--max-len", type=int, default=50)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--heads", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--ce-negatives", type=int, default=4096,
                   help="shared negatives per batch (0: softmax over the whole catalog)")
    p.add_argument("--ce-popularity-share", type=float, default=0.5,
                   help="share of the negatives drawn by item popularity, the rest uniformly")
    p.add_argument("--layout", choices=("packed", "padded"), default="packed",
                   help="packed: position-wise layers see real tokens only; padded: [batch, len]")
    p.add_argument("--sampled", type=int, default=100, help="negatives of the sampled metric")
    p.add_argument("--eval-seed", type=int, default=42, help="seed of the sampled negatives")
    p.add_argument("--eval-batch", type=int, default=256, help="users scored at once")
    p.add_argument("--freshet-model", metavar="FILE",
                   help="no training: load the weights of a freshet SASRec model file trained on "
                        "the same --data (loo) and evaluate them here; checks that the two "
                        "forward passes and evaluators agree")
    p.add_argument("--json", help="write the result here instead of stdout")
    p.add_argument("--allow-any-blas", action="store_true",
                   help="do not fail when torch is not using OpenBLAS")
    return p.parse_args()


ARGS = parse_args()
# OpenBLAS sizes its own pool when loaded: set it before torch loads it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(ARGS.threads))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

PAD = -1  # padding in the numpy windows; never looked up (packed) or looked up as 0 and masked


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def mapped_libraries(*keys):
    """Shared objects mapped into this process whose file name contains one of keys."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and any(k in os.path.basename(fields[5]).lower() for k in keys):
                libs.add(fields[5])
    return sorted(libs)


def blas_libraries():
    """The BLAS / LAPACK libraries mapped after a matmul (BLAS is loaded lazily by some builds)."""
    a = torch.randn(64, 64)
    (a @ a).sum().item()
    return mapped_libraries("blas", "lapack", "mkl")


# ---- data


def load_sequences(path):
    """Per user (in order of first appearance) the list of dense item ids in time order, and the
    item names by id. An immediate repeat of an item is one interaction (as freshet's ingest);
    items are numbered in order of first appearance."""
    item_ids = {}
    seqs = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            seq = seqs.setdefault(parts[0], [])
            for tok in parts[1:]:
                i = item_ids.setdefault(tok, len(item_ids))
                if not seq or seq[-1] != i:
                    seq.append(i)
    return list(seqs.values()), list(item_ids)


def windows(histories, max_len):
    """Left-padded [n, max_len] int64 windows of the newest max_len items of each history."""
    out = np.full((len(histories), max_len), PAD, dtype=np.int64)
    for r, h in enumerate(histories):
        w = h[-max_len:]
        if w:
            out[r, max_len - len(w):] = w
    return out


class Split:
    """loo: train / validation / test, as freshet's loo protocol."""

    def __init__(self, seqs, max_len):
        self.train = [s[:-2] if len(s) >= 3 else s for s in seqs]
        evaluated = [u for u, s in enumerate(seqs) if len(s) >= 3]
        self.eval_users = np.array(evaluated, dtype=np.int64)
        self.valid_hist = [seqs[u][:-2] for u in evaluated]
        self.valid_target = np.array([seqs[u][-2] for u in evaluated], dtype=np.int64)
        self.test_hist = [seqs[u][:-1] for u in evaluated]
        self.test_target = np.array([seqs[u][-1] for u in evaluated], dtype=np.int64)
        # Training windows: the last max_len + 1 training items.
        users = [u for u, s in enumerate(self.train) if len(s) >= 2]
        self.train_users = np.arange(len(users))
        self.inputs = np.full((len(users), max_len), PAD, dtype=np.int64)
        self.targets = np.full((len(users), max_len), PAD, dtype=np.int64)
        self.tokens = np.zeros(len(users), dtype=np.int64)
        for r, u in enumerate(users):
            s = self.train[u][-(max_len + 1):]
            m = len(s) - 1
            self.inputs[r, max_len - m:] = s[:-1]
            self.targets[r, max_len - m:] = s[1:]
            self.tokens[r] = m


# ---- model


class Layout:
    """Where the real tokens of a batch of left-padded windows [b, n] sit. Packed: activations are
    [tokens, hidden], one row per real token, and only attention scatters them into [b, n, .]
    windows (position-wise layers then never compute padding, as freshet's encoder). Padded:
    activations are [b, n, hidden] throughout."""

    def __init__(self, ids, heads, packed):
        self.b, self.n = ids.shape
        valid = ids >= 0
        self.packed = packed
        self.rows = valid.reshape(-1).nonzero().squeeze(1) if packed else None
        allowed = torch.ones(self.n, self.n, dtype=torch.bool).tril() & valid.unsqueeze(1)
        # 0 where attending is allowed, -1e9 elsewhere: added to the scores inside one baddbmm.
        # -1e9 rather than -inf keeps a padded query (no visible key) finite; its row is never
        # read.
        self.bias = torch.zeros(self.b, self.n, self.n).masked_fill_(~allowed, -1e9)
        if heads > 1:
            self.bias = self.bias.repeat_interleave(heads, dim=0)


class Block(nn.Module):
    def __init__(self, hidden, heads, dropout):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(hidden, eps=1e-8)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=1e-8)
        self.fc1 = nn.Linear(hidden, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)

    def attention(self, x, layout):
        qkv = self.qkv(x)
        b, n = layout.b, layout.n
        if layout.packed:
            qkv = torch.zeros(b * n, qkv.shape[1]).index_copy(0, layout.rows, qkv)
        qkv = qkv.reshape(b, n, -1)
        d = qkv.shape[2] // 3
        hd = d // self.heads
        q, k, v = qkv.split(d, dim=-1)
        if self.heads > 1:
            q, k, v = (t.reshape(b, n, self.heads, hd).transpose(1, 2).reshape(b * self.heads, n, hd)
                       for t in (q, k, v))
        scores = torch.baddbmm(layout.bias, q, k.transpose(1, 2), alpha=1.0 / math.sqrt(hd))
        ctx = torch.bmm(torch.softmax(scores, dim=-1), v)
        if self.heads > 1:
            ctx = ctx.reshape(b, self.heads, n, hd).transpose(1, 2)
        if layout.packed:
            ctx = ctx.reshape(b * n, d).index_select(0, layout.rows)
        else:
            ctx = ctx.reshape(b, n, d)
        return self.out(ctx)

    def forward(self, x, layout):
        h = x + self.drop(self.attention(self.ln1(x), layout))
        ffn = self.fc2(self.drop(F.relu(self.fc1(self.ln2(h)))))
        return h + self.drop(ffn)


class SASRec(nn.Module):
    def __init__(self, num_items, max_len, hidden, blocks, heads, dropout, packed):
        super().__init__()
        self.max_len = max_len
        self.heads = heads
        self.packed = packed
        self.scale = math.sqrt(hidden)
        self.items = nn.Embedding(num_items, hidden)
        self.positions = nn.Embedding(max_len, hidden)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(hidden, heads, dropout) for _ in range(blocks))
        self.final_ln = nn.LayerNorm(hidden, eps=1e-8)
        # freshet's initialisation (src/nn/ops.cc, random.h).
        with torch.no_grad():
            nn.init.normal_(self.items.weight, 0.0, 0.02)
            nn.init.normal_(self.positions.weight, 0.0, 0.02)
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)  # U(+-sqrt(6 / (in + out)))
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.LayerNorm):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)

    def encode(self, ids):
        """ids: [b, n] left-padded windows (PAD = -1), n <= max_len. Returns the hidden states of
        the real positions, [tokens, hidden] in row-major window order (ids[ids >= 0] order)."""
        layout = Layout(ids, self.heads, self.packed)
        pos = torch.arange(self.max_len - layout.n, self.max_len)
        if self.packed:
            flat = ids.reshape(-1).index_select(0, layout.rows)
            pos = pos.repeat(layout.b).index_select(0, layout.rows)
            x = self.items(flat) * self.scale + self.positions(pos)
        else:
            x = self.items(ids.clamp(min=0)) * self.scale + self.positions(pos)
            x = x * (ids >= 0).unsqueeze(-1)
        x = self.drop(x)
        for block in self.blocks:
            x = block(x, layout)
        x = self.final_ln(x)
        return x if self.packed else x[ids >= 0]

    def last_hidden(self, ids):
        """Hidden state at the newest position of each window (inference). REQUIRES: the newest
        slot of every window is real."""
        valid = ids >= 0
        last = valid.sum(dim=1).cumsum(0) - 1  # each window's newest token among the real rows
        return self.encode(ids).index_select(0, last)


# ---- freshet model files (docs/formats.md, "Model file")


def crc32c(crc, data, table=[]):
    if not table:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def item_fingerprint(names):
    """freshet's fingerprint of an item dictionary (src/model/registry.cc, ItemFingerprint)."""
    lo, hi = 0, 0x9E3779B9
    for name in names:
        b = name.encode()
        n = struct.pack("<I", len(b))
        lo = crc32c(crc32c(lo, n), b)
        hi = crc32c(crc32c(hi, b), n)
    return hi << 32 | lo


def read_freshet_model(path):
    """Entries of a freshet model file: name -> bytes (dtype 0) or a numpy array."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"FRESHMDL":
        raise ValueError(f"{path}: not a freshet model file")
    version, _, body_len = struct.unpack_from("<IIQ", data, 8)
    if version != 1:
        raise ValueError(f"{path}: model format version {version}, expected 1")
    dtypes = {1: np.float32, 2: np.uint32, 3: np.int64, 4: np.float64}
    entries, off, end = {}, 32, 32 + body_len
    while off < end:
        (name_len,) = struct.unpack_from("<H", data, off)
        off += 2
        name = data[off:off + name_len].decode()
        off += name_len
        dtype, rank = struct.unpack_from("<BB", data, off)
        off += 2
        dims = struct.unpack_from(f"<{rank}Q", data, off)
        off += 8 * rank
        (payload_len,) = struct.unpack_from("<Q", data, off)
        off += 8
        payload = data[off:off + payload_len]
        off += payload_len
        entries[name] = payload if dtype == 0 else \
            np.frombuffer(payload, dtype=dtypes[dtype]).reshape(dims)
    return entries


def load_freshet_weights(model, path, item_names):
    """Copies a freshet SASRec's parameters into `model`. freshet stores Linear weights as
    [in, out] (y = x W + b) and vectors as [1, n]."""
    e = read_freshet_model(path)
    if e["kind"] != b"sasrec":
        raise ValueError(f"{path}: a {e['kind'].decode()} model, not sasrec")
    params = dict(kv.split("=", 1) for kv in e["params"].decode().split(","))
    for key, ours in (("max_len", ARGS.max_len), ("hidden", ARGS.hidden),
                      ("blocks", ARGS.blocks), ("heads", ARGS.heads)):
        if int(params[key]) != ours:
            raise ValueError(f"{path}: {key}={params[key]}, this run has {ours}")
    if params.get("activation", "relu") != "relu":
        raise ValueError(f"{path}: activation {params['activation']}, only relu is mirrored")
    num_items, fingerprint = (int(x) for x in e["meta.items"])
    if num_items != len(item_names) or \
            fingerprint & 0xFFFFFFFFFFFFFFFF != item_fingerprint(item_names):
        raise ValueError(f"{path}: its item dictionary is not this file's items in order of "
                         "first appearance")
    names = {"items.weight": "emb.items", "positions.weight": "emb.positions",
             "final_ln.weight": "final_ln.gamma", "final_ln.bias": "final_ln.beta"}
    for k in range(ARGS.blocks):
        for ours, theirs in (("ln1.weight", "ln1.gamma"), ("ln1.bias", "ln1.beta"),
                             ("ln2.weight", "ln2.gamma"), ("ln2.bias", "ln2.beta"),
                             ("qkv.weight", "attn.qkv.weight"), ("qkv.bias", "attn.qkv.bias"),
                             ("out.weight", "attn.out.weight"), ("out.bias", "attn.out.bias"),
                             ("fc1.weight", "ffn.fc1.weight"), ("fc1.bias", "ffn.fc1.bias"),
                             ("fc2.weight", "ffn.fc2.weight"), ("fc2.bias", "ffn.fc2.bias")):
            names[f"blocks.{k}.{ours}"] = f"block{k}.{theirs}"
    state = model.state_dict()
    if set(state) != set(names):
        raise ValueError(f"parameters without a freshet counterpart: {set(state) ^ set(names)}")
    for ours, theirs in names.items():
        w = torch.from_numpy(e["sasrec.param.sasrec." + theirs].copy())
        if ours.endswith("weight") and ("qkv" in ours or "out" in ours or "fc" in ours):
            w = w.t()
        state[ours].copy_(w.reshape(state[ours].shape))
    report = e["meta.report"].decode().splitlines()
    log(f"loaded {path}: {report[0] if report else ''}")
    return report


# ---- evaluation


def trim(win):
    """Drops columns that are padding in every row (windows are left-padded)."""
    n = int((win >= 0).sum(axis=1).max())
    return win[:, win.shape[1] - max(n, 1):]


def ndcg_hr(ranks, k=10):
    hit = ranks <= k
    ndcg = np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0)
    return float(hit.mean()), float(ndcg.mean())


@torch.no_grad()
def rank_full(model, histories, targets, max_len, batch):
    """Pessimistic rank of each target in the whole catalog, history items excluded; a target
    that is also a history item gets rank infinity (a miss)."""
    model.eval()
    ranks = np.empty(len(histories))
    table = model.items.weight
    for s in range(0, len(histories), batch):
        hist = histories[s:s + batch]
        win = torch.from_numpy(trim(windows(hist, max_len)))
        scores = model.last_hidden(win) @ table.t()
        rows = np.concatenate([np.full(len(h), r) for r, h in enumerate(hist)])
        cols = np.concatenate([np.asarray(h, dtype=np.int64) for h in hist])
        t = torch.from_numpy(targets[s:s + batch])
        target_score = scores.gather(1, t.unsqueeze(1))
        scores[torch.from_numpy(rows), torch.from_numpy(cols)] = -math.inf
        # rank = 1 + #{non-targets >= target}: the target itself is the 1.
        r = (scores >= target_score).sum(dim=1).double().numpy()
        in_hist = np.array([targets[s + i] in set(h) for i, h in enumerate(hist)])
        r[in_hist] = np.inf
        ranks[s:s + len(hist)] = r
    return ranks


def sample_negatives(users, histories, targets, num_items, n, seed):
    """Per user: n items drawn uniformly without replacement from those the user never
    interacted with (history and target), from a generator seeded by (seed, user)."""
    out = np.empty((len(users), n), dtype=np.int64)
    for r, u in enumerate(users):
        seen = set(histories[r])
        seen.add(int(targets[r]))
        if num_items - len(seen) < n:
            raise ValueError(f"user {u}: fewer than {n} items left to sample negatives from")
        rng = np.random.default_rng([seed, int(u)])
        got = []
        chosen = set()
        while len(got) < n:
            for i in rng.integers(0, num_items, size=2 * n).tolist():
                if i in seen or i in chosen:
                    continue
                chosen.add(i)
                got.append(i)
                if len(got) == n:
                    break
        out[r] = got
    return out


@torch.no_grad()
def rank_sampled(model, histories, targets, negatives, max_len, batch):
    model.eval()
    ranks = np.empty(len(histories))
    table = model.items.weight
    for s in range(0, len(histories), batch):
        hist = histories[s:s + batch]
        win = torch.from_numpy(trim(windows(hist, max_len)))
        h = model.last_hidden(win)
        cand = torch.from_numpy(np.concatenate(
            [targets[s:s + batch, None], negatives[s:s + batch]], axis=1))
        scores = torch.einsum("bd,bcd->bc", h, table[cand])
        ranks[s:s + len(hist)] = (scores >= scores[:, :1]).sum(dim=1).double().numpy()
    return ranks


# ---- training


def main():
    torch.set_num_threads(ARGS.threads)
    torch.manual_seed(ARGS.seed)
    blas = blas_libraries()
    openblas = any("openblas" in os.path.basename(p).lower() for p in blas)
    allocator = mapped_libraries("tcmalloc", "jemalloc") or ["glibc malloc"]
    log(f"pytorch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, "
        f"allocator: {', '.join(allocator)}, blas: {', '.join(blas) or 'none'}")
    if not openblas and not ARGS.allow_any_blas:
        log("sasrec_pytorch: torch is not using OpenBLAS (install libopenblas0-pthread); "
            "timings would be meaningless. --allow-any-blas to run anyway.")
        sys.exit(2)

    t0 = time.perf_counter()
    seqs, item_names = load_sequences(ARGS.data)
    num_items = len(item_names)
    split = Split(seqs, ARGS.max_len)
    samples_per_epoch = int(split.tokens.sum())
    log(f"data: {len(seqs)} users, {num_items} items, {len(split.eval_users)} evaluated, "
        f"{len(split.train_users)} training sequences, {samples_per_epoch} samples/epoch "
        f"({time.perf_counter() - t0:.1f} s)")

    model = SASRec(num_items, ARGS.max_len, ARGS.hidden, ARGS.blocks, ARGS.heads, ARGS.dropout,
                   packed=ARGS.layout == "packed")
    freshet_report = None
    if ARGS.freshet_model:
        freshet_report = load_freshet_weights(model, ARGS.freshet_model, item_names)
        ARGS.epochs = 0
    opt = torch.optim.Adam(model.parameters(), lr=ARGS.lr, betas=(0.9, 0.98), eps=1e-8,
                           weight_decay=0.0)
    shuffle_rng = np.random.default_rng(ARGS.seed)
    inputs, targets, tokens = split.inputs, split.targets, split.tokens
    max_len = ARGS.max_len
    shared = 0 < ARGS.ce_negatives < num_items
    if shared:
        counts = np.zeros(num_items, dtype=np.float64)
        for s in split.train:
            np.add.at(counts, np.asarray(s, dtype=np.int64), 1.0)
        share = ARGS.ce_popularity_share if counts.sum() > 0 else 0.0
        pop = torch.from_numpy(counts / max(counts.sum(), 1.0))
        log_q = torch.log((1 - share) / num_items + share * pop).float()
        log_k = math.log(ARGS.ce_negatives)
    log(f"loss: cross-entropy over " +
        (f"{ARGS.ce_negatives} shared negatives per batch (popularity share "
         f"{ARGS.ce_popularity_share})" if shared else "the whole catalog"))

    epochs = []
    best, best_epoch, best_state, since_best = -1.0, 0, None, 0
    for epoch in range(1, ARGS.epochs + 1):
        model.train()
        start = time.perf_counter()
        order = shuffle_rng.permutation(len(split.train_users))
        loss_sum, loss_count = 0.0, 0
        for s in range(0, len(order), ARGS.batch_size):
            idx = order[s:s + ARGS.batch_size]
            n = int(tokens[idx].max())
            ids = torch.from_numpy(inputs[idx, max_len - n:])
            tgt = torch.from_numpy(targets[idx, max_len - n:])
            real = tgt >= 0
            h = model.encode(ids)  # only real positions reach the catalog softmax
            target = tgt[real]
            if shared:
                k = ARGS.ce_negatives
                by_pop = torch.rand(k) < share
                neg = torch.where(by_pop, torch.multinomial(pop, k, replacement=True),
                                  torch.randint(num_items, (k,)))
                table = model.items.weight
                neg_logits = h @ table[neg].t() - (log_k + log_q[neg])
                neg_logits = neg_logits.masked_fill(neg[None, :] == target[:, None],
                                                    float("-inf"))
                pos_logits = (h * table[target]).sum(-1, keepdim=True)
                logits = torch.cat([pos_logits, neg_logits], dim=1)
                loss = F.cross_entropy(logits, torch.zeros_like(target))
            else:
                logits = h @ model.items.weight.t()
                loss = F.cross_entropy(logits, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            count = int(real.sum())
            loss_sum += loss.item() * count
            loss_count += count
        seconds = time.perf_counter() - start
        mean_loss = loss_sum / max(loss_count, 1)
        if not math.isfinite(mean_loss):
            log(f"sasrec_pytorch: training diverged at epoch {epoch}")
            sys.exit(1)
        stat = {"epoch": epoch, "loss": mean_loss, "seconds": seconds,
                "samples_per_s": samples_per_epoch / seconds}
        line = " -"
        if not ARGS.no_validate:
            vstart = time.perf_counter()
            hr, ndcg = ndcg_hr(rank_full(model, split.valid_hist, split.valid_target, max_len,
                                         ARGS.eval_batch))
            stat.update({"valid_NDCG@10": ndcg, "valid_HR@10": hr,
                         "validation_seconds": time.perf_counter() - vstart})
            line = f" NDCG@10 {ndcg:.4f} HR@10 {hr:.4f}"
            if ndcg > best:
                best, best_epoch, since_best = ndcg, epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                line += " (best)"
            else:
                since_best += 1
        epochs.append(stat)
        log(f"pytorch epoch {epoch}: loss {mean_loss:.4f}, {seconds:.2f} s, "
            f"{samples_per_epoch / seconds:.0f} samples/s, validation{line}")
        if not ARGS.no_validate and since_best >= ARGS.patience:
            log(f"pytorch: no improvement for {ARGS.patience} epochs, keeping epoch {best_epoch}")
            break
    if best_state is not None:
        model.load_state_dict(best_state)

    estart = time.perf_counter()
    full_hr, full_ndcg = ndcg_hr(rank_full(model, split.test_hist, split.test_target, max_len,
                                           ARGS.eval_batch))
    negatives = sample_negatives(split.eval_users, split.test_hist, split.test_target, num_items,
                                 ARGS.sampled, ARGS.eval_seed)
    s_hr, s_ndcg = ndcg_hr(rank_sampled(model, split.test_hist, split.test_target, negatives,
                                        max_len, ARGS.eval_batch))
    log(f"pytorch test: full HR@10 {full_hr:.4f} NDCG@10 {full_ndcg:.4f}; sampled:{ARGS.sampled} "
        f"HR@10 {s_hr:.4f} NDCG@10 {s_ndcg:.4f} ({time.perf_counter() - estart:.1f} s)")

    result = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas,
        "dataset": ARGS.data,
        "users": len(seqs),
        "items": num_items,
        "users_evaluated": len(split.eval_users),
        "samples_per_epoch": samples_per_epoch,
        "params": {k: getattr(ARGS, k) for k in
                   ("max_len", "hidden", "blocks", "heads", "dropout", "batch_size", "lr", "seed", "ce_negatives",
                    "ce_popularity_share",
                    "epochs", "patience", "layout")},
        "allocator": allocator,
        "env": {k: os.environ.get(k) for k in
                ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "LD_PRELOAD")},
        "epochs_trained": len(epochs),
        "best_epoch": best_epoch or len(epochs),
        "median_epoch_seconds":
            statistics.median(e["seconds"] for e in epochs) if epochs else None,
        "epochs": epochs,
        "freshet_model": ARGS.freshet_model,
        "freshet_report": freshet_report,
        "test": {
            "full": {"HR@10": full_hr, "NDCG@10": full_ndcg},
            f"sampled:{ARGS.sampled}": {"HR@10": s_hr, "NDCG@10": s_ndcg},
        },
    }
    text = json.dumps(result, indent=1)
    if ARGS.json:
        with open(ARGS.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
