"""Cross-check `splade search` against Qdrant (local mode, no server).

Loads the `splade encode --format qdrant` export of a collection into an
in-memory Qdrant collection with one sparse vector per point, runs the
queries exported the same way, and compares each query's top-k with the
`splade search --format jsonl` run: same ids in the same order, where two
documents whose scores differ by less than --tie may swap places.

Usage (see qdrant_check.sh, which produces the three files):
    python qdrant_check.py POINTS.jsonl QUERIES.jsonl SPLADE_RUN.jsonl [-k 10]
"""

import argparse
import json
import sys
from collections import defaultdict

from qdrant_client import QdrantClient, models


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def same_up_to_ties(a, b, tie):
    """True when two ranked lists of (id, score) agree position by position:
    the same id, or two ids whose scores are within `tie` (a tie, which
    either engine may break its own way)."""
    return len(a) == len(b) and all(
        ia == ib or abs(sa - sb) <= tie for (ia, sa), (ib, sb) in zip(a, b)
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("points")
    ap.add_argument("queries")
    ap.add_argument("run")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--tie", type=float, default=1e-4)
    args = ap.parse_args()

    client = QdrantClient(":memory:")
    client.create_collection(
        "splade",
        vectors_config={},
        sparse_vectors_config={"splade": models.SparseVectorParams()},
    )
    points = read_jsonl(args.points)
    batch = []
    for n, p in enumerate(points):
        v = p["vector"]
        batch.append(
            models.PointStruct(
                id=n,
                vector={"splade": models.SparseVector(indices=v["indices"], values=v["values"])},
                payload={"doc_id": p["id"]},
            )
        )
        if len(batch) == 256:
            client.upsert("splade", batch)
            batch = []
    if batch:
        client.upsert("splade", batch)

    run = defaultdict(list)
    for hit in read_jsonl(args.run):
        run[hit["qid"]].append((hit["id"], hit["score"]))

    queries = read_jsonl(args.queries)
    exact = overlap = 0
    max_diff = 0.0
    for q in queries:
        v = q["vector"]
        res = client.query_points(
            "splade",
            query=models.SparseVector(indices=v["indices"], values=v["values"]),
            using="splade",
            limit=args.k,
            with_payload=True,
        ).points
        ours = [(r.payload["doc_id"], r.score) for r in res]
        theirs = run.get(q["id"], [])[: args.k]
        exact += same_up_to_ties(ours, theirs, args.tie)
        overlap += len({i for i, _ in ours} & {i for i, _ in theirs}) / max(len(theirs), 1)
        scores = dict(theirs)
        for i, s in ours:
            if i in scores:
                max_diff = max(max_diff, abs(s - scores[i]))

    n = len(queries)
    print(
        json.dumps(
            {
                "documents": len(points),
                "queries": n,
                "k": args.k,
                "same_top_k_up_to_ties": exact,
                "agreement": round(exact / max(n, 1), 4),
                "mean_overlap_at_k": round(overlap / max(n, 1), 4),
                "max_score_difference": max_diff,
            }
        )
    )
    return 0 if exact == n else 1


if __name__ == "__main__":
    sys.exit(main())
