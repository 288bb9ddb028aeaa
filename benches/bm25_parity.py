"""Parity of splade's BM25 (src/lexical/) with the reference, bm25s.

    python3 benches/bm25_parity.py [--data DIR] [--collections a,b] [--binary PATH] [--out DIR]

For each shared collection (default: the six of ../shared/data) it
(a) tokenizes every document and query with bm25s (`bm25s.tokenize`,
    stopwords "en", PyStemmer "english") and with our analyzer
    (`bm25_run tokens`), and reports the texts whose token lists differ;
    then the same over texts made of every code point of planes 0-3 and
    14 (skip with --no-unicode), which finds characters whose word-ness or
    lower case differs between Python's Unicode tables and Rust's;
(b) ranks with bm25s (method "lucene", k1 1.5, b 0.75, every document
    with a score > 0, ties by corpus order, top 1000) and with our
    in-memory scorer (`bm25_run run`), and prints nDCG@10 of both beside
    metrics.json's `bm25`.

nDCG@10 follows trec_eval (as src/eval/ does): a run is re-sorted by score
descending, ties by document id descending; linear gains, log2 discount,
ideal ranking from all judged grades > 0; a judged query absent from the
run scores 0. metrics.json ranks ties by corpus order instead, so the
column `bm25s(rank)` evaluates bm25s's run in its own order as well.

The Python side needs bm25s 0.3.16 and PyStemmer 3.1.0 (the versions in
metrics.json `bm25_params`). Set BM25_PYTHON to an interpreter that has
them, or the script makes a venv under $XDG_CACHE_HOME (or ~/.cache)
/splade/bm25-parity-venv with pip and re-runs itself there. The Rust side
is `examples/bm25_run.rs`, built with `cargo build --release --example
bm25_run` unless --binary names one. Prints a Markdown table on stdout,
progress on stderr; writes the runs and a JSON summary under --out.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

COLLECTIONS = ["trec-dl-2020-passage-pool", "cranfield", "cisi", "npl", "cacm", "lisa"]
PINS = ["bm25s==0.3.16", "PyStemmer==3.1.0", "numpy"]
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def ensure_python():
    """Re-execs under an interpreter that has bm25s and PyStemmer."""
    try:
        import bm25s  # noqa: F401
        import Stemmer  # noqa: F401
        return
    except ImportError:
        pass
    python = os.environ.get("BM25_PYTHON")
    if not python:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        venv = os.path.join(cache, "splade", "bm25-parity-venv")
        python = os.path.join(venv, "bin", "python")
        if not os.path.exists(python):
            log(f"creating {venv}")
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run([python, "-m", "pip", "install", "-q", *PINS], check=True)
    if os.environ.get("BM25_PARITY_REEXEC"):
        sys.exit(f"bm25_parity: bm25s or PyStemmer missing from {sys.executable}")
    os.environ["BM25_PARITY_REEXEC"] = "1"
    os.execv(python, [python, *sys.argv])


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_qrels(path):
    qrels = {}
    with open(path) as f:
        next(f)  # header: query-id corpus-id score
        for line in f:
            q, d, g = line.split()
            qrels.setdefault(q, {})[d] = int(g)
    return qrels


def ndcg10(run, qrels, trec_order=True):
    """Mean nDCG@10 with trec_eval semantics; `run` is {qid: [(doc, score)]}
    in rank order. With trec_order=False the given order is kept."""
    total, n = 0.0, 0
    for q, judged in qrels.items():
        if not any(g >= 1 for g in judged.values()):
            continue
        n += 1
        results = run.get(q, [])
        if trec_order:
            results = sorted(results, key=lambda r: r[0], reverse=True)
            results = sorted(results, key=lambda r: r[1], reverse=True)
        dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, (d, _) in enumerate(results[:10]) if judged.get(d, 0) > 0)
        ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:10]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        total += dcg / idcg if idcg > 0 else 0.0
    return total / max(n, 1)


def read_trec(path):
    run = {}
    with open(path) as f:
        for line in f:
            q, _, d, _rank, score, _ = line.split()
            run.setdefault(q, []).append((d, float(score)))
    return run


def bm25s_tokens(texts):
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    return bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)


def our_tokens(binary, path, field_texts):
    """Token lists of our analyzer for the texts of `path` (JSONL with
    id/title/text), in file order."""
    out = subprocess.run([binary, "tokens", path], check=True, capture_output=True, text=True, encoding="utf-8")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == len(field_texts), f"{path}: {len(rows)} token lines for {len(field_texts)} texts"
    return [r["tokens"] for r in rows]


def compare_tokens(name, ids, texts, ours, theirs, examples):
    bad = []
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            bad.append(ids[i])
            if len(examples) < 20:
                sa, sb = set(a), set(b)
                examples.append({"collection": name, "id": ids[i], "ours_only": sorted(sa - sb)[:10],
                                 "bm25s_only": sorted(sb - sa)[:10], "same_set": sa == sb})
    return bad


def bm25s_run(doc_ids, doc_tokens, queries, k1, b, top):
    """bm25s ranking: every document with score > 0, ties by corpus order."""
    import bm25s
    import numpy as np

    retriever = bm25s.BM25(method="lucene", k1=k1, b=b)
    retriever.index(doc_tokens, show_progress=False)
    run = {}
    for qid, qtokens in queries:
        ids = retriever.get_tokens_ids(qtokens)
        if not ids:
            run[qid] = []
            continue
        scores = retriever.get_scores_from_ids(ids)
        order = np.argsort(-scores, kind="stable")[:top]
        run[qid] = [(doc_ids[i], float(scores[i])) for i in order if scores[i] > 0]
    return run


def identical_runs(ours, ref):
    """Queries whose two rankings list the same documents in the same order
    with the same float32 scores."""
    import numpy as np

    def key(results):
        return [(d, np.float32(s)) for d, s in results]

    return sum(1 for q in ref if key(ours.get(q, [])) == key(ref[q]))


def write_trec(run, path, tag):
    with open(path, "w") as f:
        for q, results in run.items():
            for rank, (d, s) in enumerate(results, 1):
                f.write(f"{q} Q0 {d} {rank} {s!r} {tag}\n")


def build_binary():
    log("cargo build --release --example bm25_run")
    subprocess.run(["cargo", "build", "--release", "--example", "bm25_run", "--locked"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(target, "release", "examples", "bm25_run")


def one_collection(args, name, metrics, examples):
    folder = os.path.join(args.data, name)
    corpus_path = os.path.join(folder, "corpus.jsonl")
    queries_path = os.path.join(folder, "queries.jsonl")
    corpus = read_jsonl(corpus_path)
    queries = read_jsonl(queries_path)
    qrels = read_qrels(os.path.join(folder, "qrels.tsv"))
    doc_ids = [str(d["id"]) for d in corpus]
    texts = [d.get("title", "") + " " + d["text"] for d in corpus]
    q_ids = [str(q["id"]) for q in queries]
    q_texts = [q["text"] for q in queries]

    t0 = time.perf_counter()
    their_docs = bm25s_tokens(texts)
    their_queries = bm25s_tokens(q_texts)
    log(f"{name}: bm25s tokenized {len(texts)} docs in {time.perf_counter() - t0:.1f}s")
    our_docs = our_tokens(args.binary, corpus_path, texts)
    our_queries = our_tokens(args.binary, queries_path, q_texts)
    bad_docs = compare_tokens(name, doc_ids, texts, our_docs, their_docs, examples)
    bad_queries = compare_tokens(name, q_ids, q_texts, our_queries, their_queries, examples)

    ref = bm25s_run(doc_ids, their_docs, list(zip(q_ids, their_queries)), args.k1, args.b, args.top)
    write_trec(ref, os.path.join(args.out, f"{name}.bm25s.trec"), "bm25s")
    ours_path = os.path.join(args.out, f"{name}.ours.trec")
    with open(ours_path, "w") as f:
        subprocess.run([args.binary, "run", corpus_path, queries_path, "--k1", str(args.k1), "--b", str(args.b),
                        "--top", str(args.top)], check=True, stdout=f)
    ours = read_trec(ours_path)
    row = {
        "collection": name,
        "docs": len(corpus),
        "queries": len(queries),
        "doc_token_mismatches": len(bad_docs),
        "query_token_mismatches": len(bad_queries),
        "ours": ndcg10(ours, qrels),
        "bm25s": ndcg10(ref, qrels),
        "bm25s_rank": ndcg10(ref, qrels, trec_order=False),
        "ours_rank": ndcg10(ours, qrels, trec_order=False),
        "queries_with_identical_runs": identical_runs(ours, ref),
        "metrics_json": metrics.get(name, {}).get("bm25", {}).get("nDCG@10"),
        "mismatching_docs": bad_docs[:50],
    }
    row["ours_minus_metrics"] = row["ours"] - row["metrics_json"] if row["metrics_json"] is not None else None
    return row


def unicode_sweep(binary, out_dir):
    """Tokens of `q<c>q <c><c>` for every code point c of planes 0-3 and 14
    (surrogates left out), ours against bm25s's: finds every character whose
    word-ness or lower case differs. Returns {python category: count} of the
    differing characters and a few examples."""
    import unicodedata

    points = [c for c in list(range(0x40000)) + list(range(0xE0000, 0xE1000)) if not 0xD800 <= c <= 0xDFFF]
    texts = [f"q{chr(c)}q {chr(c)}{chr(c)}" for c in points]
    path = os.path.join(out_dir, "unicode.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for c, t in zip(points, texts):
            f.write(json.dumps({"id": f"{c:x}", "text": t}) + "\n")
    theirs = bm25s_tokens(texts)
    ours = our_tokens(binary, path, texts)
    classes, examples = {}, []
    for c, a, b in zip(points, ours, theirs):
        if a != b:
            cat = unicodedata.category(chr(c))
            classes[cat] = classes.get(cat, 0) + 1
            if len(examples) < 10:
                examples.append({"code_point": f"U+{c:04X}", "python_category": cat, "ours": a, "bm25s": b})
    return {"code_points": len(points), "python_unicode": unicodedata.unidata_version, "differing_by_python_category": classes,
            "examples": examples}


def table(rows):
    lines = [
        "| collection | docs | doc token mismatches | query token mismatches | identical runs | nDCG@10 ours | bm25s "
        "| ours(rank) | bm25s(rank) | metrics.json | ours - metrics.json |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        m = "n/a" if r["metrics_json"] is None else f"{r['metrics_json']:.4f}"
        d = "n/a" if r["ours_minus_metrics"] is None else f"{r['ours_minus_metrics']:+.4f}"
        lines.append(f"| {r['collection']} | {r['docs']} | {r['doc_token_mismatches']} | {r['query_token_mismatches']} "
                     f"| {r['queries_with_identical_runs']}/{r['queries']} | {r['ours']:.4f} | {r['bm25s']:.4f} "
                     f"| {r['ours_rank']:.4f} | {r['bm25s_rank']:.4f} | {m} | {d} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--metrics", default=os.path.join(ROOT, "..", "shared", "reference", "metrics.json"))
    ap.add_argument("--collections", default=",".join(COLLECTIONS))
    ap.add_argument("--binary")
    ap.add_argument("--out")
    ap.add_argument("--k1", type=float, default=1.5)
    ap.add_argument("--b", type=float, default=0.75)
    ap.add_argument("--top", type=int, default=1000)
    ap.add_argument("--no-unicode", action="store_true", help="skip the sweep over every code point")
    args = ap.parse_args()
    ensure_python()
    args.binary = args.binary or build_binary()
    args.out = args.out or tempfile.mkdtemp(prefix="bm25-parity-")
    os.makedirs(args.out, exist_ok=True)
    metrics = json.load(open(args.metrics)) if os.path.exists(args.metrics) else {}
    examples, rows = [], []
    for name in args.collections.split(","):
        rows.append(one_collection(args, name, metrics, examples))
        log(json.dumps({k: v for k, v in rows[-1].items() if k != "mismatching_docs"}))
    sweep = None if args.no_unicode else unicode_sweep(args.binary, args.out)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"rows": rows, "token_mismatch_examples": examples, "unicode_sweep": sweep}, f, indent=1)
    print(table(rows))
    if sweep is not None:
        print("\nunicode sweep: " + json.dumps(sweep, ensure_ascii=False))
    if examples:
        print("\nfirst token mismatches:")
        for e in examples:
            print(json.dumps(e, ensure_ascii=False))
    log(f"runs and summary.json in {args.out}")


if __name__ == "__main__":
    main()
