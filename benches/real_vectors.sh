#!/usr/bin/env bash
# The real-vector benchmark corpus (issue #17): 200,000 passages of real
# text (the shared collections and English manuals from Debian packages,
# benches/real_corpus.py says how they are cut), encoded by splade-tiny,
# with 735 real short queries (every shared query) and 1,000 long ones
# (passages not in the corpus). Then the same side by side as
# benches/compare_pruning.sh (splade exhaustive, pruned exact and
# approximate; BMP; Seismic) on these vectors, for the short and the long
# queries, and their statistics beside the synthetic generator's
# (examples/vector_stats.rs); then hybrid search latency on the same
# documents with their texts (BM25 postings), short queries.
#
#   benches/real_vectors.sh [DOCS]           # default 200000
#
# Environment: WORK (default /tmp/splade-real) holds everything;
# SPLADE_TEST_MODEL (default ../shared/models/splade-tiny) is the encoder;
# SETS (default "short long") the query sets compared; the environment
# of benches/compare_pruning.sh passes through (SEISMIC_POSTINGS,
# SEISMIC_SETTINGS, SPLADE_ONLY).
# Downloads the Debian packages listed below with apt-get download (the
# versions used are printed in corpus_stats.json). Encoding uses
# `--precision int8` (the same vectors as f32, bit for bit, faster; set
# ENCODE_PRECISION=f32 to check): 200,000 passages take about 10 minutes
# on 2 AVX512_VNNI cores; it is done once. STAGE=vectors stops after the
# vectors and their statistics, STAGE=compare after the comparisons.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS=${1:-200000}
WORK=${WORK:-/tmp/splade-real}
MODEL=${SPLADE_TEST_MODEL:-../shared/models/splade-tiny}
ENCODE_PRECISION=${ENCODE_PRECISION:-int8}
PACKAGES="linux-doc-6.1 python3.11-doc python-django-doc ruby3.1-doc postgresql-doc-15
  perl-doc git-doc apache2-doc debian-reference-en"
mkdir -p "$WORK/debs" "$WORK/text"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --bin splade --example vector_stats --example synth_vectors
bin="$target/release/splade"

if [ -z "$(ls "$WORK/debs"/*.deb 2>/dev/null)" ]; then
  # Stale package lists name versions the mirror no longer has: refresh
  # them once and try again.
  (cd "$WORK/debs" && { apt-get download $PACKAGES || { apt-get update -qq && apt-get download $PACKAGES; }; })
fi
if [ ! -s "$WORK/text/docs.jsonl" ]; then
  python3 benches/real_corpus.py --debs "$WORK/debs" --out "$WORK/text" --docs "$DOCS"
fi
encode() { # TEXTS VECTORS [--query]
  if [ ! -s "$2" ]; then
    "$bin" encode -q --model "$MODEL" --precision "$ENCODE_PRECISION" "${@:3}" "$1" > "$2.tmp" && mv "$2.tmp" "$2"
  fi
}
encode "$WORK/text/docs.jsonl" "$WORK/docs.jsonl"
encode "$WORK/text/queries_short.jsonl" "$WORK/queries_short.jsonl" --query
encode "$WORK/text/queries_long.jsonl" "$WORK/queries_long.jsonl" --query

echo "== statistics: real against synthetic (same number of documents)" >&2
SYN="$WORK/synthetic"
if [ ! -s "$SYN/docs.jsonl" ]; then
  "$target/release/examples/synth_vectors" --docs "$DOCS" --queries 1000 --seed 42 --out "$SYN"
fi
"$target/release/examples/vector_stats" --max-docs "$DOCS" \
  real "$WORK/docs.jsonl" "$WORK/queries_short.jsonl" \
  synthetic "$SYN/docs.jsonl" "$SYN/queries.jsonl" > "$WORK/stats.md"
cat "$WORK/stats.md"
[ "${STAGE:-}" = vectors ] && exit 0

# compare_pruning.sh on the real vectors: it uses WORK/DOCS/docs.jsonl and
# queries.jsonl when they are there.
for set in ${SETS:-short long}; do
  run="$WORK/compare-$set"
  mkdir -p "$run/$DOCS"
  ln -sf "$WORK/docs.jsonl" "$run/$DOCS/docs.jsonl"
  ln -sf "$WORK/queries_$set.jsonl" "$run/$DOCS/queries.jsonl"
  echo "== $set queries" >&2
  WORK="$run" benches/compare_pruning.sh "$DOCS" | tee "$WORK/compare-$set.md"
done

[ "${STAGE:-}" = compare ] && exit 0

# Hybrid on real text: the vectors with their texts, so that `index
# --vectors` also writes BM25 postings; the short queries with their texts.
with_text() { # TEXTS VECTORS OUT
  [ -s "$3" ] || python3 - "$1" "$2" "$3" <<'PY'
import json, sys
texts, vectors, out = sys.argv[1:4]
with open(texts) as t, open(vectors) as v, open(out + ".tmp", "w") as o:
    for a, b in zip(t, v):
        a, b = json.loads(a), json.loads(b)
        assert a["id"] == b["id"], (a["id"], b["id"])
        b["text"] = a["text"]
        o.write(json.dumps(b) + "\n")
import os; os.rename(out + ".tmp", out)
PY
}
with_text "$WORK/text/docs.jsonl" "$WORK/docs.jsonl" "$WORK/docs_text.jsonl"
with_text "$WORK/text/queries_short.jsonl" "$WORK/queries_short.jsonl" "$WORK/queries_short_text.jsonl"
if [ ! -s "$WORK/idx-hybrid/meta.json" ]; then
  rm -rf "$WORK/idx-hybrid"
  "$bin" index -q --vectors "$WORK/docs_text.jsonl" --index "$WORK/idx-hybrid"
  "$bin" compact -q --reorder --index "$WORK/idx-hybrid"
fi
cargo bench --quiet --bench search --no-run
BENCH=$(ls -t "$target"/release/deps/search-* | grep -v '\.d$' | head -1)
echo "== hybrid, short queries" >&2
RAYON_NUM_THREADS=1 "$BENCH" --index "$WORK/idx-hybrid" --queries "$WORK/queries_short_text.jsonl" --hybrid \
  | tee "$WORK/hybrid.md"
