#!/usr/bin/env bash
# Concurrent writers against one index, as a user would start them: 50 rounds
# of an append, a delete and a compaction (odd rounds) or a rebuild (even
# rounds) started together; after each round `splade verify` must pass.
#
#   benches/concurrent_writers.sh [SPLADE_BINARY]   (default: target/release/splade)
#
# Prints how many rounds left an index that fails verify, how many had a
# writer refused for the lock, and how many had any other error. Run it
# with a build of 37514b7 (before the write lock) to see the old failure.
# The test suite's version of this is tests/it/writers.rs.
set -uo pipefail
BIN=$(realpath "${1:-target/release/splade}")
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
cd "$D"
python3 -c "
import json
for i in range(200): print(json.dumps({'id': f'b{i}', 'vector': {'law': 0.5 + i / 100, 'rust': 0.25}}))
" > base.jsonl
"$BIN" index --vectors base.jsonl --index idx -q
broken=0 refused=0 other=0
for r in $(seq 1 50); do
    python3 -c "
import json
for j in range(3): print(json.dumps({'id': f'r${r}d{j}', 'vector': {'index': 1.0}}))
" > "a$r.jsonl"
    "$BIN" index --append --vectors "a$r.jsonl" --index idx -q 2> e1 &
    "$BIN" delete --ignore-missing "b$((r * 3 % 200))" --index idx -q 2> e2 &
    if (( r % 2 )); then
        "$BIN" compact --index idx -q 2> e3 &
    else
        "$BIN" index --vectors base.jsonl --index idx -q 2> e3 &
    fi
    wait
    grep -q "another splade is writing" e1 e2 e3 && refused=$((refused + 1))
    cat e1 e2 e3 | grep -v "another splade is writing" | grep -q . && other=$((other + 1))
    if ! "$BIN" verify --index idx -q 2> ev; then
        broken=$((broken + 1))
        echo "round $r: $(cat ev)"
        rm -rf idx
        "$BIN" index --vectors base.jsonl --index idx -q
    fi
done
echo "rounds whose index failed verify: $broken/50"
echo "rounds with a writer refused for the lock: $refused/50"
echo "rounds with any other error: $other/50"
