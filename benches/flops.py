"""Multiply-adds per token of a BERT masked-LM checkpoint, by part, from
its config.json: the share of the vocabulary projection (README "Encoding
speed": 89% for splade-tiny at the speed passages' mean length).

Usage: python3 benches/flops.py MODEL_DIR [TOKENS_PER_TEXT]
(default 108: 215,702 tokens over the 2,000 passages of data/speed)
"""
import json
import sys

config = json.load(open(f"{sys.argv[1]}/config.json"))
tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 108
h, i = config["hidden_size"], config["intermediate_size"]
layers, vocab = config["num_hidden_layers"], config["vocab_size"]
parts = {
    "attention projections (Q, K, V, output)": layers * 4 * h * h,
    "attention scores and weighted sums": layers * 2 * tokens * h,
    "feed-forward": layers * 2 * h * i,
    "MLM transform": h * h,
    "vocabulary projection": h * vocab,
}
total = sum(parts.values())
for name, n in parts.items():
    print(f"{name}: {n / 1e6:.2f} M multiply-adds per token ({100 * n / total:.1f}%)")
print(f"total: {total / 1e6:.2f} M per token at {tokens} tokens per text")
