#!/usr/bin/env python3
"""What exact pruning must touch on real vectors, by range size (issue #17).

    .venv-bench/bin/python benches/open_ranges.py DOCS.jsonl ORDER.txt QUERIES.jsonl \
        [--k 10] [--max-queries 300]

DOCS and QUERIES are `splade encode` output (benches/real_vectors.sh writes
them); ORDER.txt the document ids in index order after `compact --reorder`
(`cargo bench --bench search -- --order-out`). Needs numpy and scipy (the
.venv-bench of benches/speed_vs_reference.sh has them).

For each query: exact scores, the k-th score theta, and for ranges of R
documents (reordered order from ORDER.txt): how many ranges have a bound
>= theta, how many range maxima the bounds sum (gather work), how many
forward postings the open ranges hold (scoring work), and for two-level
(superblocks of S ranges) the maxima gathered inside open superblocks.
Also MaxScore: postings of the essential lists at theta.
"""
import json, sys, argparse
import numpy as np
import scipy.sparse as sp

ap = argparse.ArgumentParser()
ap.add_argument("docs"); ap.add_argument("order"); ap.add_argument("queries")
ap.add_argument("--k", type=int, default=10)
ap.add_argument("--max-queries", type=int, default=300)
ap.add_argument("--max-docs", type=int, default=0)
a = ap.parse_args()

order = [l.strip() for l in open(a.order)]
pos = {d: i for i, d in enumerate(order)}
vocab = {}
rows, cols, vals = [], [], []
n = 0
for line in open(a.docs):
    o = json.loads(line)
    i = pos.get(o["id"])
    if i is None:
        continue
    for t, w in o["vector"].items():
        if w <= 0:
            continue
        j = vocab.setdefault(t, len(vocab))
        rows.append(i); cols.append(j); vals.append(w)
    n += 1
N = len(order)
X = sp.csr_matrix((np.array(vals, np.float32), (np.array(rows), np.array(cols))), shape=(N, len(vocab)))
XC = X.tocsc()
doclen = np.diff(X.indptr)
print(f"docs {N} postings {X.nnz} terms {len(vocab)}", file=sys.stderr)

queries = []
for line in open(a.queries):
    o = json.loads(line)
    q = [(vocab[t], w) for t, w in o["vector"].items() if t in vocab and w > 0]
    if q:
        queries.append(q)
    if len(queries) >= a.max_queries:
        break

RS = [8, 16, 32, 64, 128]
SUPER = [(8, 8), (8, 16), (8, 64), (16, 32), (32, 16)]
# per term, per range size: sparse maxima (range ids, max weights)
def term_maxima(j, R):
    s, e = XC.indptr[j], XC.indptr[j + 1]
    d = XC.indices[s:e]; w = XC.data[s:e]
    r = d // R
    # maxima per distinct range
    uniq, start = np.unique(r, return_index=True)
    mx = np.maximum.reduceat(w, start) if len(w) else w
    return uniq, mx

cache = {}
def tm(j, R):
    key = (j, R)
    if key not in cache:
        cache[key] = term_maxima(j, R)
    return cache[key]

def bounds(q, R, keep=None):
    """Per range of R documents the sum over the query's terms of weight
    times the term's maximum there (only the ranges `keep` selects), and
    how many maxima that read."""
    b = np.zeros((N + R - 1) // R, np.float32)
    read = 0
    for j, w in q:
        u, mx = tm(j, R)
        if keep is not None:
            k = keep(u)
            u, mx = u[k], mx[k]
        b[u] += w * mx
        read += len(u)
    return b, read


def forward_postings(open_, R):
    """Postings (all terms) of the documents in the open ranges."""
    return int(np.add.reduceat(doclen, np.arange(0, N, R))[open_].sum())


res = {f"R{R}": [] for R in RS}
res.update({f"S{R}x{S}": [] for R, S in SUPER})
ms = []
exh = []
for q in queries:
    qi = np.array([j for j, _ in q]); qw = np.array([w for _, w in q], np.float32)
    scores = XC[:, qi] @ qw
    post = int(np.diff(XC.indptr)[qi].sum())
    exh.append(post)
    k = min(a.k, (scores > 0).sum())
    theta = np.partition(scores, -k)[-k] if k else 0
    for R in RS:
        b, gather = bounds(q, R)
        open_ = b >= theta
        res[f"R{R}"].append((gather, int(open_.sum()), forward_postings(open_, R), len(b)))
    for R, S in SUPER:
        bs, g1 = bounds(q, R * S)
        sopen = bs >= theta
        b, g2 = bounds(q, R, keep=lambda u: sopen[u // S])
        open_ = b >= theta
        res[f"S{R}x{S}"].append((g1 + g2, int(open_.sum()), forward_postings(open_, R), int(sopen.sum())))
    # MaxScore at theta
    lens = np.diff(XC.indptr)[qi]
    maxc = np.array([qw[i] * (XC.data[XC.indptr[j]:XC.indptr[j + 1]].max() if lens[i] else 0) for i, j in enumerate(qi)])
    o = np.argsort(maxc)
    cs = np.cumsum(maxc[o])
    ne = cs < theta
    ess = o[~ne]
    essp = int(lens[ess].sum())
    cand = np.unique(np.concatenate([XC.indices[XC.indptr[qi[i]]:XC.indptr[qi[i] + 1]] for i in ess])) if len(ess) else np.array([], int)
    ms.append((essp, len(cand), int(ne.sum()), len(q)))

exh = np.array(exh)
print(f"queries {len(queries)} mean terms {np.mean([len(q) for q in queries]):.1f} exhaustive postings mean {exh.mean():.0f}")
print("| scheme | gather maxima / exh postings | open ranges (mean, p50, p90) | fwd postings in open / exh postings | open superblocks |")
for key, v in res.items():
    v = np.array(v, float)
    print(f"| {key} | {np.mean(v[:,0]/exh):.3f} | {v[:,1].mean():.0f} {np.median(v[:,1]):.0f} {np.percentile(v[:,1],90):.0f} | {np.mean(v[:,2]/exh):.3f} | {v[:,3].mean():.0f} |")
m = np.array(ms, float)
print(f"MaxScore: essential postings / exh {np.mean(m[:,0]/exh):.3f}, candidates mean {m[:,1].mean():.0f}, non-essential terms {m[:,2].mean():.1f} of {m[:,3].mean():.1f}")
