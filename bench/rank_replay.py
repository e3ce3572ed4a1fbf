#!/usr/bin/env python3
"""Does the shop ranker improve recommend? A replay over HTTP on a simulated shop.

Simulates a shop, keeps the first part of its time span as history (ingested, models trained on
it: a retrieval model and the click / buy ranking models), serves it with `freshet serve
--no-online-learning`, then replays the rest of the events in order through POST /v1/events. Before
each click and each buy of the replayed part it asks GET /v1/recommend for that user for the whole
candidate list (k = candidates, with each item's retrieval score and p_click / p_buy), orders it
per objective (retrieval only; the ranker's p_click or p_buy; and a reciprocal-rank fusion of the
retrieval order with the ranker's, 1/(60 + rank)), and scores the top 10 against the item the
user then clicked / bought: NDCG@10 = 1 / log2(rank + 1) when the item is in the top 10, else 0.
Test, then apply: the event is posted after it was scored, so the server never sees it first.

  bench/rank_replay.py --freshet build/freshet --work /tmp/rank-replay

Prints one line per (target kind, objective) and writes the same as JSON to WORK/result.json.
"""

import argparse
import csv
import http.client
import json
import math
import os
import shutil
import subprocess
import sys
import time
import urllib.parse


def run(cmd):
    print("$", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--freshet", default="build/freshet")
    ap.add_argument("--work", default="/tmp/freshet-rank-replay")
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--history-share", type=float, default=0.8,
                    help="the first part of the time span that is history (trained on)")
    ap.add_argument("--retrieval", default="swing", help="retrieval model kind (freshet train --model)")
    ap.add_argument("--ranker", default="ftrl", help="ranking model kind (ftrl, fm, deepfm, dcnv2)")
    ap.add_argument("--candidates", type=int, default=200)
    ap.add_argument("--max-targets", type=int, default=4000,
                    help="score at most this many replayed clicks / buys (evenly spread)")
    a = ap.parse_args()

    fr = a.freshet
    w = a.work
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    run([fr, "simulate", "--users", str(a.users), "--items", str(a.items), "--days", str(a.days),
         "--seed", str(a.seed), "--out", f"{w}/sim"])
    with open(f"{w}/sim/events.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    t0, t1 = int(rows[0]["ts"]), int(rows[-1]["ts"])
    split = t0 + int((t1 - t0) * a.history_share)
    history = [r for r in rows if int(r["ts"]) < split]
    replay = [r for r in rows if int(r["ts"]) >= split]
    fields = list(rows[0].keys())
    with open(f"{w}/history.csv", "w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=fields)
        out.writeheader()
        out.writerows(history)
    data = f"{w}/data"
    run([fr, "items", "--data", data, "--quiet", f"{w}/sim/items.csv"])
    run([fr, "ingest", "--data", data, "--format", "csv", f"{w}/history.csv"])
    run([fr, "train", "--data", data, "--model", a.retrieval, "--protocol", "none", "--quiet",
         "--out", f"{w}/retrieval.fmdl"])
    for task in ("click", "buy"):
        run([fr, "train", "--task", task, "--data", data, "--model", a.ranker, "--quiet",
             "--out", f"{w}/{task}.fmdl"])

    port_file = f"{w}/port"
    server = subprocess.Popen(
        [fr, "serve", "--data", data, "--port", "0", "--port-file", port_file, "--insecure-no-auth",
         "--no-online-learning", "--model", f"{w}/retrieval.fmdl", "--rank", f"{w}/click.fmdl",
         "--rank", f"{w}/buy.fmdl"],
        stderr=open(f"{w}/serve.log", "w"))
    try:
        for _ in range(600):
            if os.path.exists(port_file) and os.path.getsize(port_file) > 0:
                break
            if server.poll() is not None:
                sys.exit("the server did not start: see " + f"{w}/serve.log")
            time.sleep(0.1)
        port = int(open(port_file).read())
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def request(method, path, body=None):
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            text = r.read()
            if r.status != 200:
                sys.exit(f"{method} {path}: {r.status} {text[:300]!r}")
            return json.loads(text)

        targets = [i for i, r in enumerate(replay) if r["type"] in ("click", "buy")]
        step = max(1, len(targets) // a.max_targets)
        chosen = set(targets[::step])
        objectives = ["retrieval", "click", "buy", "fused-click", "fused-buy"]

        def orders(items):
            """The candidate list ordered per objective (best first)."""
            by_retrieval = items  # the server's order with objective=retrieval is this one
            rank_r = {x["item"]: i for i, x in enumerate(by_retrieval)}
            out = {"retrieval": [x["item"] for x in by_retrieval]}
            for p in ("click", "buy"):
                ranked = sorted(items, key=lambda x: -(x[f"p_{p}"] or 0))  # stable: ties keep order
                out[p] = [x["item"] for x in ranked]
                rank_p = {x["item"]: i for i, x in enumerate(ranked)}
                out[f"fused-{p}"] = sorted(out["retrieval"],
                                           key=lambda i: -(1 / (60 + rank_r[i]) + 1 / (60 + rank_p[i])))
            return out
        sums = {(kind, o): 0.0 for kind in ("click", "buy") for o in objectives}
        counts = {"click": 0, "buy": 0}
        pending = []

        def flush():
            if pending:
                request("POST", "/v1/events", "\n".join(pending))
                pending.clear()

        for i, r in enumerate(replay):
            if i in chosen:
                flush()
                q = urllib.parse.urlencode({"user": r["user"], "k": a.candidates,
                                            "objective": "retrieval", "candidates": a.candidates})
                items = request("GET", f"/v1/recommend?{q}")["items"]
                # The probabilities of the same candidates, in retrieval order.
                body = json.dumps({"user": r["user"], "items": [x["item"] for x in items]})
                scored = request("POST", "/v1/score", body)["scores"]
                for x, s in zip(items, scored):
                    x["p_click"], x["p_buy"] = s["p_click"], s["p_buy"]
                for o, page in orders(items).items():
                    page = page[:10]
                    if r["item"] in page:
                        sums[(r["type"], o)] += 1 / math.log2(page.index(r["item"]) + 2)
                counts[r["type"]] += 1
            event = {"user": r["user"], "type": r["type"], "ts": int(r["ts"])}
            if r["item"]:
                event["item"] = r["item"]
            if r["value"]:
                event["value"] = float(r["value"])
            if r.get("query"):
                event["query"] = r["query"]
            pending.append(json.dumps(event))
            if len(pending) >= 5000:
                flush()
        flush()
    finally:
        server.terminate()
        server.wait()

    result = {"history_events": len(history), "replayed_events": len(replay), "targets": counts,
              "ndcg@10": {f"{kind}/{o}": (sums[(kind, o)] / counts[kind] if counts[kind] else None)
                          for kind in ("click", "buy") for o in objectives}}
    with open(f"{w}/result.json", "w") as f:
        json.dump(result, f, indent=1)
    print(f"history {len(history)} events, replayed {len(replay)}; scored {counts['click']} clicks, "
          f"{counts['buy']} buys")
    for kind in ("click", "buy"):
        line = "  ".join(f"{o}: {result['ndcg@10'][f'{kind}/{o}']:.4f}" for o in objectives
                         if counts[kind])
        print(f"NDCG@10 of the next {kind}: {line}")


if __name__ == "__main__":
    main()
