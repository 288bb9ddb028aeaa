"""Write a random BERT-Mini-shaped masked-LM checkpoint (the shape of
rasyosef/splade-mini: hidden 256, 4 layers, 4 heads, intermediate 1024) with
splade-tiny's tokenizer, for speed measurements where the real weights are
not available. Usage: python benches/make_mini_checkpoint.py TOKENIZER_DIR OUT_DIR
"""
import shutil
import sys

import torch
from transformers import BertConfig, BertForMaskedLM

src, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
config = BertConfig(vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                    intermediate_size=1024, max_position_embeddings=512)
BertForMaskedLM(config).save_pretrained(out, safe_serialization=True)
for f in ["tokenizer.json", "tokenizer_config.json"]:
    shutil.copy(f"{src}/{f}", f"{out}/{f}")
