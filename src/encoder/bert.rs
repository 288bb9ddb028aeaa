//! BERT for masked language modelling, in candle, up to the MLM transform.
//!
//! One struct per `transformers` module, each with `load` and `forward`;
//! tensor names mirror the checkpoint's. The vocabulary projection (the
//! decoder) is not here: SPLADE only needs its max over tokens, which
//! [`super::pool`] computes without materialising `[tokens, vocab]` logits.

use candle_core::{Device, IndexOp, Tensor};
use candle_nn::ops::{layer_norm, softmax_last_dim};

use super::config::{Activation, BertConfig};
use super::kernel;
use super::weights::{Checkpoint, Matrix};
use crate::error::Result;

/// A dense layer `y = x W^T + b`, with `W^T` stored contiguous for matmul.
/// (Multiplying by `W` transposed through strides saves the copy at load,
/// but gemm then rounds differently with the number of rows, so a text's
/// vector would depend on the batch it is in: tested by
/// `cli_segments::append_delete_compact_equal_a_fresh_build`.)
struct Linear {
    weight_t: Tensor,
    bias: Tensor,
}

impl Linear {
    fn load(ckpt: &Checkpoint, prefix: &str, in_dim: usize, out_dim: usize) -> Result<Self> {
        let weight = ckpt.matrix(&format!("{prefix}.weight"), &[out_dim, in_dim])?;
        let bias = ckpt.get(&format!("{prefix}.bias"), &[out_dim])?;
        let mut weight_t = vec![0f32; in_dim * out_dim];
        kernel::transpose(weight.as_slice(), out_dim, in_dim, &mut weight_t);
        Ok(Linear {
            weight_t: Tensor::from_vec(weight_t, (in_dim, out_dim), bias.device())?,
            bias,
        })
    }

    /// `x`: `[rows, in]` -> `[rows, out]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.weight_t)?.broadcast_add(&self.bias)?)
    }
}

/// LayerNorm with its epsilon.
struct Norm {
    gamma: Tensor,
    beta: Tensor,
    eps: f32,
}

impl Norm {
    fn load(ckpt: &Checkpoint, prefix: &str, config: &BertConfig) -> Result<Self> {
        let h = config.hidden_size;
        Ok(Norm {
            gamma: ckpt.get(&format!("{prefix}.weight"), &[h])?,
            beta: ckpt.get(&format!("{prefix}.bias"), &[h])?,
            eps: config.layer_norm_eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(layer_norm(x, &self.gamma, &self.beta, self.eps)?)
    }
}

fn activate(x: &Tensor, act: Activation) -> Result<Tensor> {
    Ok(match act {
        Activation::Gelu => super::gelu::gelu(x)?,
        Activation::GeluTanh => x.gelu()?,
        Activation::Relu => x.relu()?,
    })
}

/// `bert.embeddings`: word + position + token type, then LayerNorm.
struct Embeddings {
    /// `[vocab, hidden]`, in place in the checkpoint: a text reads only its
    /// tokens' rows, so the matrix is never copied.
    word: Matrix,
    hidden: usize,
    /// `[max_positions, hidden]`, in place too: a text reads its first rows.
    position: Matrix,
    token_type0: Tensor,
    norm: Norm,
}

impl Embeddings {
    fn load(ckpt: &Checkpoint, config: &BertConfig) -> Result<Self> {
        let h = config.hidden_size;
        let p = "bert.embeddings";
        let token_type = ckpt.get(
            &format!("{p}.token_type_embeddings.weight"),
            &[config.type_vocab_size, h],
        )?;
        Ok(Embeddings {
            word: ckpt.matrix(
                &format!("{p}.word_embeddings.weight"),
                &[config.vocab_size, h],
            )?,
            hidden: h,
            position: ckpt.matrix(
                &format!("{p}.position_embeddings.weight"),
                &[config.max_position_embeddings, h],
            )?,
            token_type0: token_type.i(0)?,
            norm: Norm::load(ckpt, &format!("{p}.LayerNorm"), config)?,
        })
    }

    /// `ids`: `batch` rows of `len` token ids (below the vocabulary size)
    /// -> `[batch * len, hidden]`.
    fn forward(&self, ids: &[u32], batch: usize, len: usize, device: &Device) -> Result<Tensor> {
        let (h, word) = (self.hidden, self.word.as_slice());
        let mut rows = Vec::with_capacity(ids.len() * h);
        for &id in ids {
            let at = id as usize * h;
            rows.extend_from_slice(&word[at..at + h]);
        }
        let words = Tensor::from_vec(rows, (batch, len, h), device)?;
        let positions = self.position.as_slice()[..len * h].to_vec();
        let positions = Tensor::from_vec(positions, (len, h), device)?;
        let x = words
            .broadcast_add(&positions)?
            .broadcast_add(&self.token_type0)?;
        self.norm.forward(&x.reshape((batch * len, ()))?)
    }
}

/// One `bert.encoder.layer.N`: self-attention and feed-forward, post-norm.
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    intermediate: Linear,
    output: Linear,
    out_norm: Norm,
    heads: usize,
    head_size: usize,
    act: Activation,
}

impl Layer {
    fn load(ckpt: &Checkpoint, index: usize, config: &BertConfig) -> Result<Self> {
        let p = format!("bert.encoder.layer.{index}");
        let (h, i) = (config.hidden_size, config.intermediate_size);
        Ok(Layer {
            query: Linear::load(ckpt, &format!("{p}.attention.self.query"), h, h)?,
            key: Linear::load(ckpt, &format!("{p}.attention.self.key"), h, h)?,
            value: Linear::load(ckpt, &format!("{p}.attention.self.value"), h, h)?,
            attn_out: Linear::load(ckpt, &format!("{p}.attention.output.dense"), h, h)?,
            attn_norm: Norm::load(ckpt, &format!("{p}.attention.output.LayerNorm"), config)?,
            intermediate: Linear::load(ckpt, &format!("{p}.intermediate.dense"), h, i)?,
            output: Linear::load(ckpt, &format!("{p}.output.dense"), i, h)?,
            out_norm: Norm::load(ckpt, &format!("{p}.output.LayerNorm"), config)?,
            heads: config.num_attention_heads,
            head_size: config.head_size(),
            act: config.hidden_act,
        })
    }

    /// `x`: `[batch * len, hidden]`; `mask`: additive `[batch, 1, 1, len]` or
    /// `None` when no position is padding.
    fn forward(&self, x: &Tensor, batch: usize, mask: Option<&Tensor>) -> Result<Tensor> {
        let len = x.dim(0)? / batch;
        let split = |t: Tensor| -> Result<Tensor> {
            Ok(t.reshape((batch, len, self.heads, self.head_size))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = split(self.query.forward(x)?)?;
        let k = split(self.key.forward(x)?)?;
        let v = split(self.value.forward(x)?)?;
        let scale = 1.0 / (self.head_size as f64).sqrt();
        let mut scores = (q.matmul(&k.t()?)? * scale)?;
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let probs = softmax_last_dim(&scores)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((batch * len, ()))?;
        let attended = self
            .attn_norm
            .forward(&(self.attn_out.forward(&context)? + x)?)?;
        let hidden = activate(&self.intermediate.forward(&attended)?, self.act)?;
        self.out_norm
            .forward(&(self.output.forward(&hidden)? + attended)?)
    }
}

/// BERT encoder plus the MLM head's transform (`cls.predictions.transform`).
pub struct BertMlm {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    transform: Linear,
    transform_norm: Norm,
    act: Activation,
    device: Device,
}

impl BertMlm {
    /// Loads every tensor except the decoder, checking shapes against `config`.
    pub fn load(ckpt: &Checkpoint, config: &BertConfig, device: &Device) -> Result<Self> {
        let h = config.hidden_size;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(ckpt, i, config))
            .collect::<Result<Vec<_>>>()?;
        Ok(BertMlm {
            embeddings: Embeddings::load(ckpt, config)?,
            layers,
            transform: Linear::load(ckpt, "cls.predictions.transform.dense", h, h)?,
            transform_norm: Norm::load(ckpt, "cls.predictions.transform.LayerNorm", config)?,
            act: config.hidden_act,
            device: device.clone(),
        })
    }

    /// Runs a padded batch. `ids` and `lengths` describe `batch` sequences
    /// padded to `len`; returns the transformed hidden states
    /// `[batch * len, hidden]` (rows of padding positions are garbage).
    pub fn forward(&self, ids: &[u32], lengths: &[usize], len: usize) -> Result<Tensor> {
        let batch = lengths.len();
        let mask = self.additive_mask(lengths, len)?;
        let mut x = self.embeddings.forward(ids, batch, len, &self.device)?;
        for layer in &self.layers {
            x = layer.forward(&x, batch, mask.as_ref())?;
        }
        let t = activate(&self.transform.forward(&x)?, self.act)?;
        self.transform_norm.forward(&t)
    }

    /// `[batch, 1, 1, len]` with 0 on real tokens and the most negative f32
    /// on padding (what `transformers` adds), or `None` without padding.
    fn additive_mask(&self, lengths: &[usize], len: usize) -> Result<Option<Tensor>> {
        if lengths.iter().all(|&l| l == len) {
            return Ok(None);
        }
        let mut mask = vec![0f32; lengths.len() * len];
        for (row, &l) in mask.chunks_mut(len).zip(lengths) {
            row[l..].fill(f32::MIN);
        }
        let mask = Tensor::from_vec(mask, (lengths.len(), 1, 1, len), &self.device)?;
        Ok(Some(mask.contiguous()?))
    }
}
