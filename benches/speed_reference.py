"""Encode throughput of the Python reference (sentence-transformers SparseEncoder).

Usage: python benches/speed_reference.py MODEL_DIR DOCS.jsonl [--batch 32] [--max-length 512] [--runs 3]
Prints one JSON line: {"docs_per_s": median, "tokens_per_s": median, "runs": [...]}.
Texts are built like splade's: title + " " + text when a title is present.
"""
import argparse
import json
import statistics
import time

import torch
from sentence_transformers import SparseEncoder


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("docs")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    texts = []
    with open(args.docs) as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                t = d.get("text") or d.get("contents") or ""
                texts.append(f'{d["title"]} {t}' if d.get("title") else t)
    model = SparseEncoder(args.model, device="cpu")
    model.max_seq_length = args.max_length
    tokens = sum(len(ids) for ids in model.tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"])
    runs = []
    for _ in range(args.runs):
        start = time.perf_counter()
        model.encode_document(texts, batch_size=args.batch, convert_to_tensor=True)
        runs.append(time.perf_counter() - start)
    secs = statistics.median(runs)
    print(json.dumps({"docs_per_s": len(texts) / secs, "tokens_per_s": tokens / secs, "runs_s": runs,
                      "texts": len(texts), "tokens": tokens, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
