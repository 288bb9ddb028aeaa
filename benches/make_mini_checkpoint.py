"""Write a random BERT-Mini-shaped masked-LM checkpoint (the shape of
rasyosef/splade-mini: hidden 256, 4 layers, 4 heads, intermediate 1024) with
splade-tiny's tokenizer, for speed measurements where the real weights are
not available. Usage: python benches/make_mini_checkpoint.py TOKENIZER_DIR OUT_DIR [DECODER_BIAS]

With torch and transformers installed it saves `BertForMaskedLM` with its
own initialisation (seed 0); without them it writes the same tensor names
and shapes itself (normal weights, std 0.02, seed 0; LayerNorm 1 and 0,
biases 0) in safetensors format. Speed does not depend on the values, except
where the int8 screen works (`--precision int8`): its f32 work grows with the
entries it cannot rule out. Random weights activate about half the vocabulary
per text (no trained SPLADE model does), so DECODER_BIAS, a constant for every
vocabulary bias (default 0), lets a stand-in have a trained model's sparsity;
`cargo bench --bench encode` prints the active terms per text to compare with
splade-tiny's on the same texts.
"""
import json
import os
import random
import shutil
import struct
import sys
from array import array

SHAPE = dict(vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
             intermediate_size=1024, max_position_embeddings=512)


def with_torch(out, bias):
    import torch
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(**SHAPE))
    with torch.no_grad():
        model.cls.predictions.bias.fill_(bias)
    model.save_pretrained(out, safe_serialization=True)


def tensors():
    """(name, shape, kind) of BertForMaskedLM with a tied decoder."""
    h, i, v = SHAPE["hidden_size"], SHAPE["intermediate_size"], SHAPE["vocab_size"]
    t = [("bert.embeddings.word_embeddings.weight", [v, h], "w"),
         ("bert.embeddings.position_embeddings.weight", [SHAPE["max_position_embeddings"], h], "w"),
         ("bert.embeddings.token_type_embeddings.weight", [2, h], "w"),
         ("bert.embeddings.LayerNorm.weight", [h], "1"), ("bert.embeddings.LayerNorm.bias", [h], "0")]
    for layer in range(SHAPE["num_hidden_layers"]):
        p = f"bert.encoder.layer.{layer}"
        for name, shape in [("attention.self.query", [h, h]), ("attention.self.key", [h, h]),
                            ("attention.self.value", [h, h]), ("attention.output.dense", [h, h]),
                            ("intermediate.dense", [i, h]), ("output.dense", [h, i])]:
            t += [(f"{p}.{name}.weight", shape, "w"), (f"{p}.{name}.bias", [shape[0]], "0")]
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"]:
            t += [(f"{p}.{norm}.weight", [h], "1"), (f"{p}.{norm}.bias", [h], "0")]
    t += [("cls.predictions.transform.dense.weight", [h, h], "w"),
          ("cls.predictions.transform.dense.bias", [h], "0"),
          ("cls.predictions.transform.LayerNorm.weight", [h], "1"),
          ("cls.predictions.transform.LayerNorm.bias", [h], "0"),
          ("cls.predictions.bias", [v], "0")]
    return t


def without_torch(out, bias):
    rng = random.Random(0)
    header, blobs, offset = {}, [], 0
    for name, shape, kind in tensors():
        n = 1
        for d in shape:
            n *= d
        if kind == "w":
            data = array("f", (rng.gauss(0.0, 0.02) for _ in range(n)))
        else:
            fill = 1.0 if kind == "1" else bias if name == "cls.predictions.bias" else 0.0
            data = array("f", [fill]) * n
        if sys.byteorder != "little":
            data.byteswap()
        blob = data.tobytes()
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    os.makedirs(out, exist_ok=True)
    with open(f"{out}/model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for blob in blobs:
            f.write(blob)
    config = dict(SHAPE, architectures=["BertForMaskedLM"], model_type="bert", type_vocab_size=2,
                  hidden_act="gelu", layer_norm_eps=1e-12, pad_token_id=0,
                  hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                  position_embedding_type="absolute")
    with open(f"{out}/config.json", "w") as f:
        json.dump(config, f, indent=2)


src, out = sys.argv[1], sys.argv[2]
bias = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
try:
    with_torch(out, bias)
except ImportError:
    without_torch(out, bias)
for f in ["tokenizer.json", "tokenizer_config.json"]:
    shutil.copy(f"{src}/{f}", f"{out}/{f}")
