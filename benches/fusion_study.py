#!/usr/bin/env python3
"""The measurement that chose hybrid search's fusion (src/search/fusion.rs).

Input: a directory with, per shared collection C, `bm25-C.trec` and
`splade-C.trec`, each run's top 1000 per query with scores, as
`benches/hybrid.sh` writes them with our binary (`splade search --mode bm25`
and `--mode splade`). Output: Markdown tables of nDCG@10 per collection for

- fixed-weight fusions: min-max, z-score (both at several BM25 weights, over
  each run's top 100 or 1000) and reciprocal rank fusion;
- score-distribution weighting (each side weighted by how far its top
  z-scores stand out; parameter-free);
- query-length weighting, w = L / (L + pivot) with L the query's BM25 terms,
  over a grid of pivots, with a leave-one-collection-out estimate of picking
  the pivot (each collection scored with the pivot best on the other five);
- within each collection, the best fixed weight for its shorter and its
  longer half of the queries: whether the length effect exists inside a
  collection and not only between them.

Query lengths come from bm25s's tokenizer (lower-case, bm25s English
stopwords, PyStemmer), which `benches/bm25_parity.py` shows equals ours on
every query of these collections. The script makes its own venv under
~/.cache/splade (or uses BM25_PYTHON).

Usage: benches/fusion_study.py RUNS_DIR [--data ../shared/data]
"""
import argparse
import collections
import json
import math
import os
import statistics as st
import subprocess
import sys

COLLECTIONS = ["cranfield", "cisi", "cacm", "lisa", "npl", "trec-dl-2020-passage-pool"]
PINS = ["bm25s==0.3.16", "PyStemmer==3.1.0", "numpy"]


def ensure_python():
    try:
        import bm25s  # noqa: F401
        import Stemmer  # noqa: F401
        return
    except ImportError:
        pass
    python = os.environ.get("BM25_PYTHON")
    if not python:
        cache = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
        venv = os.path.join(cache, "splade", "bm25-parity-venv")
        python = os.path.join(venv, "bin", "python")
        if not os.path.exists(python):
            print(f"creating {venv}", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run([python, "-m", "pip", "install", "-q", *PINS], check=True)
    os.execv(python, [python, *sys.argv])


def read_qrels(path):
    q = collections.defaultdict(dict)
    with open(path) as f:
        next(f)
        for line in f:
            a, b, s = line.split()
            q[a][b] = int(s)
    return q


def read_run(path):
    r = collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            q, _, d, _, s, _ = line.split()
            r[q].append((d, float(s)))
    return r


def ndcg10(ranked, rel):
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted((v for v in rel.values() if v > 0), reverse=True)[:10]
    idcg = sum(v / math.log2(i + 2) for i, v in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def norm_minmax(lst):
    if not lst:
        return {}, 0.0
    s = [x for _, x in lst]
    lo, hi = min(s), max(s)
    r = (hi - lo) or 1.0
    return {d: (x - lo) / r for d, x in lst}, 0.0


def norm_z(lst):
    if not lst:
        return {}, 0.0
    s = [x for _, x in lst]
    m, sd = st.fmean(s), st.pstdev(s)
    if sd == 0:
        # As src/search/fusion.rs: a flat list's documents stand one unit
        # above the missing ones.
        return {d: 0.0 for d, _ in lst}, -1.0
    z = {d: (x - m) / sd for d, x in lst}
    return z, min(z.values())


def norm_rrf(lst):
    return {d: 1.0 / (60 + i + 1) for i, (d, _) in enumerate(lst)}, 0.0


def fuse(b, s, w, norm, depth=1000):
    if w <= 0:
        return [d for d, _ in s]
    if w >= 1:
        return [d for d, _ in b]
    nb, mb = norm(b[:depth])
    ns, ms = norm(s[:depth])
    sc = {d: w * nb.get(d, mb) + (1 - w) * ns.get(d, ms) for d in set(nb) | set(ns)}
    return [d for d, _ in sorted(sc.items(), key=lambda x: (-x[1], x[0]))]


class Study:
    def __init__(self, runs, data):
        import bm25s
        import Stemmer

        stem = Stemmer.Stemmer("english")
        self.data = {}
        for c in COLLECTIONS:
            qr = read_qrels(f"{data}/{c}/qrels.tsv")
            b, s = read_run(f"{runs}/bm25-{c}.trec"), read_run(f"{runs}/splade-{c}.trec")
            lengths = {}
            with open(f"{data}/{c}/queries.jsonl") as f:
                for line in f:
                    q = json.loads(line)
                    toks = bm25s.tokenize([q["text"]], stopwords="en", stemmer=stem,
                                          show_progress=False, return_ids=False)[0]
                    lengths[q["id"]] = len(toks)
            qs = [q for q in qr if any(v > 0 for v in qr[q].values())]
            self.data[c] = (qr, b, s, lengths, qs)

    def per_query(self, c, method):
        qr, b, s, lengths, qs = self.data[c]
        return {q: ndcg10(method(b.get(q, []), s.get(q, []), lengths.get(q, 0)), qr[q]) for q in qs}

    def score(self, method):
        return {c: st.fmean(self.per_query(c, method).values()) for c in COLLECTIONS}


def row(name, res, base):
    v = [res[c] for c in COLLECTIONS]
    better = min(res[c] - max(base[c]) for c in COLLECTIONS)
    worse = min(res[c] - min(base[c]) for c in COLLECTIONS)
    cells = " | ".join(f"{x:.4f}" for x in v)
    return f"| {name} | {cells} | {st.fmean(v):.4f} | {better:+.4f} | {worse:+.4f} |"


def header():
    names = " | ".join("dl20-pool" if c.startswith("trec") else c for c in COLLECTIONS)
    return (f"| method | {names} | mean | min vs better | min vs worse |\n"
            "|---|" + "---|" * (len(COLLECTIONS) + 3))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../shared/data"))
    args = ap.parse_args()
    ensure_python()
    study = Study(args.runs, args.data)
    rb = study.score(lambda b, s, L: [d for d, _ in b])
    rs = study.score(lambda b, s, L: [d for d, _ in s])
    base = {c: (rb[c], rs[c]) for c in COLLECTIONS}

    print("### Fixed and score-based fusions (BM25 weight w)\n")
    print(header())
    print(row("BM25", rb, base))
    print(row("SPLADE", rs, base))
    for depth in (100, 1000):
        for name, norm in (("min-max", norm_minmax), ("z-score", norm_z)):
            for w in (0.3, 0.4, 0.5, 0.6):
                res = study.score(lambda b, s, L: fuse(b, s, w, norm, depth))
                print(row(f"{name} w={w} top {depth}", res, base))
        res = study.score(lambda b, s, L: fuse(b, s, 0.5, norm_rrf, depth))
        print(row(f"RRF k=60 top {depth}", res, base))

    def by_confidence(b, s, L):
        zb, _ = norm_z(b)
        zs, _ = norm_z(s)
        cb, cs = max(zb.values(), default=0.0), max(zs.values(), default=0.0)
        return fuse(b, s, cb / (cb + cs) if cb + cs > 0 else 0.5, norm_z)

    print(row("z-score, w = top-z share", study.score(by_confidence), base))

    print("\n### Query-length weighting, z-score, top 1000: w = L / (L + pivot)\n")
    print(header())
    pivots = [4, 6, 8, 10, 12, 16, 20, 24, 32]
    grid = {p: study.score(lambda b, s, L: fuse(b, s, L / (L + p), norm_z)) for p in pivots}
    for p in pivots:
        print(row(f"pivot {p}", grid[p], base))
    for depth in (100, 200, 500):
        res = study.score(lambda b, s, L: fuse(b, s, L / (L + 12), norm_z, depth))
        print(row(f"pivot 12, top {depth}", res, base))
    cv, picks = {}, []
    for held in COLLECTIONS:
        best = max(pivots, key=lambda p: st.fmean(grid[p][c] for c in COLLECTIONS if c != held))
        cv[held] = grid[best][held]
        picks.append(f"{held}: {best}")
    print(row("leave-one-collection-out", cv, base))
    print(f"\npivot picked without the held-out collection: {', '.join(picks)}")

    print("\n### Within each collection: best fixed z-score weight, shorter vs longer half\n")
    print("| collection | median L | shorter half: best w | longer half: best w |\n|---|---|---|---|")
    weights = [i / 10 for i in range(11)]
    for c in COLLECTIONS:
        qr, b, s, lengths, qs = study.data[c]
        med = st.median(lengths.get(q, 0) for q in qs)
        halves = ([q for q in qs if lengths.get(q, 0) <= med], [q for q in qs if lengths.get(q, 0) > med])
        cells = []
        for half in halves:
            if not half:
                cells.append("-")
                continue
            by_w = [st.fmean(ndcg10(fuse(b.get(q, []), s.get(q, []), w, norm_z), qr[q]) for q in half)
                    for w in weights]
            cells.append(f"{weights[by_w.index(max(by_w))]:.1f} (n={len(half)})")
        print(f"| {c} | {med:g} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
