#!/usr/bin/env bash
# Cross-checks `splade search` with a real client: Qdrant in local mode.
#
#   examples/qdrant_check.sh [COLLECTION_DIR] [MODEL]
#
# COLLECTION_DIR holds corpus.jsonl and queries.jsonl (default: the shared
# cranfield collection); MODEL defaults to the shared splade-tiny. Creates a
# virtual environment (.venv-qdrant) with qdrant-client, exports documents and
# queries with `splade encode --format qdrant`, builds an f32 index (exact
# scores, so that only ties may reorder), and prints the agreement of the
# top-10 lists as JSON. Exits 1 if any query's top-10 differs beyond ties.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA="${1:-../shared/data/cranfield}"
MODEL="${2:-${SPLADE_TEST_MODEL:-../shared/models/splade-tiny}}"
SPLADE="${SPLADE:-target/release/splade}"
VENV="${VENV:-.venv-qdrant}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

[ -x "$SPLADE" ] || cargo build --release --quiet
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet qdrant-client
fi

"$SPLADE" encode "$DATA/corpus.jsonl" --model "$MODEL" --format qdrant -q > "$WORK/points.jsonl"
"$SPLADE" encode "$DATA/queries.jsonl" --model "$MODEL" --query --format qdrant -q > "$WORK/queries.jsonl"
"$SPLADE" index "$DATA/corpus.jsonl" --index "$WORK/idx" --model "$MODEL" --quantization f32 -q
"$SPLADE" search --queries "$DATA/queries.jsonl" --index "$WORK/idx" -k 10 --format jsonl > "$WORK/run.jsonl"
"$VENV/bin/python" examples/qdrant_check.py "$WORK/points.jsonl" "$WORK/queries.jsonl" "$WORK/run.jsonl" -k 10
