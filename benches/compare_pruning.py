"""Helper of benches/compare_pruning.sh: build and query BMP and Seismic on
the same vectors as splade, and print one JSON object per setting.

    python compare_pruning.py bmp DOCS QUERIES EXACT WORKDIR ALPHA:BETA ...
    python compare_pruning.py seismic DOCS QUERIES EXACT WORKDIR N_POSTINGS QCUT:HEAP ...
    python compare_pruning.py table RESULTS.jsonl ...

DOCS and QUERIES are `splade encode` JSONL; EXACT is the exhaustive top k
written by `cargo bench --bench search -- --exact-out` (recall@k is measured
against it). Latency is per query, single-threaded, measured around the
Python call (so it includes the binding's overhead, a few microseconds).
Memory is this process's peak RSS after building and searching (the Python
interpreter and numpy included). BMP takes integer impacts of 8 bits:
document weights are scaled so that the largest one in the collection is
255 and rounded (at least 1), and each query's weights so that its largest
is 255 (one scale per query changes no ranking), so that BMP's exact mode
is exact up to that rounding. With SPLADE_ORDER
set, BMP gets the documents in that order (Seismic clusters each posting
list itself and reads the file as it is).
"""

import json
import os
import resource
import statistics
import sys
import time


def read_vectors(path, order=None):
    """Documents of a JSONL file, in file order or in the order of the ids
    listed in the file `order` (one per line)."""
    if order is None:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                yield str(r["id"]), r["vector"]
        return
    offsets = {}
    with open(path, "rb") as f:
        at = 0
        for line in f:
            offsets[str(json.loads(line)["id"])] = at
            at += len(line)
    with open(path, "rb") as f, open(order) as ids:
        for doc_id in ids:
            f.seek(offsets[doc_id.rstrip("\n")])
            r = json.loads(f.readline())
            yield str(r["id"]), r["vector"]


def read_exact(path):
    exact = {}
    with open(path) as f:
        for line in f:
            qid, doc, _rank, _score = line.rstrip("\n").split("\t")
            exact.setdefault(qid, []).append(doc)
    return exact


def summarize(name, params, times, results, exact, extra):
    found = total = 0
    for qid, ids in results.items():
        want = exact.get(qid, [])
        got = set(ids[: len(want)])
        found += len(got & set(want))
        total += len(want)
    times = sorted(t * 1e3 for t in times)
    row = {
        "system": name,
        "params": params,
        "queries": len(times),
        "mean_ms": statistics.fmean(times),
        "p50_ms": times[len(times) // 2],
        "p99_ms": times[min(len(times) - 1, round(0.99 * (len(times) - 1)))],
        "recall": found / max(total, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    row.update(extra)
    print(json.dumps(row), flush=True)


def dir_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def quantize_query(vec):
    """A query's weights as integers, its largest 255."""
    scale = 255.0 / max(vec.values(), default=1.0)
    return {t: max(1, round(scale * w)) for t, w in vec.items()}


def run_bmp(docs, queries, exact, work, settings):
    import bmp

    index = os.path.join(work, "bmp.index")
    top = max(max(vec.values(), default=0.0) for _, vec in read_vectors(docs))
    doc_scale = 255.0 / top
    start = time.perf_counter()
    indexer = bmp.Indexer(index, bsize=32, compress_range=False)
    postings = 0
    # Same document order as splade's index (SPLADE_ORDER: the ids of a
    # reordered index, from `--order-out`): BMP's blocks are ranges of it.
    for doc_id, vec in read_vectors(docs, os.environ.get("SPLADE_ORDER")):
        v = {t: max(1, round(doc_scale * w)) for t, w in vec.items()}
        postings += len(v)
        indexer.add_document(doc_id, v)
    indexer.finish()
    build_s = time.perf_counter() - start
    size = dir_bytes(index)
    searcher = bmp.Searcher(index)
    qs = [(qid, quantize_query(vec)) for qid, vec in read_vectors(queries)]
    k = max(len(v) for v in exact.values())
    for setting in settings:
        alpha, beta = (float(x) for x in setting.split(":"))
        for qid, q in qs[:50]:  # warm-up
            searcher.search(q, k=k, alpha=alpha, beta=beta)
        times, results = [], {}
        for qid, q in qs:
            t = time.perf_counter()
            ids, _scores = searcher.search(q, k=k, alpha=alpha, beta=beta)
            times.append(time.perf_counter() - t)
            results[qid] = list(ids)
        extra = {"build_s": build_s, "index_bytes": size, "bytes_per_posting": size / postings}
        summarize("BMP", f"alpha={alpha} beta={beta}", times, results, exact, extra)


def run_seismic(docs, queries, exact, work, n_postings, settings):
    import numpy as np
    import seismic

    start = time.perf_counter()
    index = seismic.SeismicIndex.build(
        docs, n_postings=n_postings, centroid_fraction=0.1, summary_energy=0.4, load_content=False
    )
    build_s = time.perf_counter() - start
    path = os.path.join(work, "seismic.index")
    index.save(path)
    size = dir_bytes(path) if os.path.exists(path) else dir_bytes(path + ".index.seismic")
    postings = sum(len(v) for _, v in read_vectors(docs))
    string = seismic.get_seismic_string()
    qs = [
        (qid, np.array(list(v.keys()), dtype=string), np.array(list(v.values()), dtype=np.float32))
        for qid, v in read_vectors(queries)
    ]
    k = max(len(v) for v in exact.values())
    for setting in settings:
        cut, heap = setting.split(":")
        cut, heap = int(cut), float(heap)
        for qid, c, v in qs[:50]:
            index.search(qid, c, v, k=k, query_cut=cut, heap_factor=heap)
        times, results = [], {}
        for qid, c, v in qs:
            t = time.perf_counter()
            res = index.search(qid, c, v, k=k, query_cut=cut, heap_factor=heap)
            times.append(time.perf_counter() - t)
            results[qid] = [r[2] for r in res]
        extra = {"build_s": build_s, "index_bytes": size, "bytes_per_posting": size / postings}
        summarize(
            "Seismic", f"n_postings={n_postings} query_cut={cut} heap_factor={heap}", times, results, exact, extra
        )


def table(paths):
    """Markdown rows from the JSON lines of earlier runs."""
    for path in paths:
        with open(path) as f:
            for line in f:
                if not line.startswith("{"):
                    continue  # Seismic's progress messages
                r = json.loads(line)
                print(
                    f"| {r['system']} | {r['params']} | {r['mean_ms']:.3f} | {r['p50_ms']:.3f} "
                    f"| {r['p99_ms']:.3f} | {r['recall']:.4f} | {r['build_s']:.1f} "
                    f"| {r['bytes_per_posting']:.2f} | {r['peak_rss_mb']:.0f} |"
                )


def main():
    if sys.argv[1] == "table":
        return table(sys.argv[2:])
    kind, docs, queries, exact_path, work = sys.argv[1:6]
    exact = read_exact(exact_path)
    os.makedirs(work, exist_ok=True)
    if kind == "bmp":
        run_bmp(docs, queries, exact, work, sys.argv[6:])
    elif kind == "seismic":
        run_seismic(docs, queries, exact, work, int(sys.argv[6]), sys.argv[7:])
    else:
        sys.exit(f"unknown system {kind}")


if __name__ == "__main__":
    main()
