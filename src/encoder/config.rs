//! `config.json` of a BERT masked-LM checkpoint.
//!
//! Only the fields that shape the network are read; unknown fields are
//! ignored so that configs written by any `transformers` version load.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The activation between the intermediate and output dense layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Activation {
    /// Exact GELU with the error function (`transformers`' "gelu").
    #[serde(rename = "gelu")]
    Gelu,
    /// GELU with the tanh approximation.
    #[serde(alias = "gelu_new", alias = "gelu_pytorch_tanh", rename = "gelu_fast")]
    GeluTanh,
    /// Rectified linear unit.
    #[serde(rename = "relu")]
    Relu,
}

/// Network shape of a BERT model, from `config.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Vocabulary size: the dimension of SPLADE vectors.
    pub vocab_size: usize,
    /// Longest sequence the position embeddings cover.
    pub max_position_embeddings: usize,
    /// Number of token-type (segment) embeddings.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Epsilon of every LayerNorm.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Feed-forward activation.
    #[serde(default = "default_act")]
    pub hidden_act: Activation,
    /// Id of the padding token.
    #[serde(default)]
    pub pad_token_id: u32,
    /// "absolute" is the only embedding type supported.
    #[serde(default = "default_pos_type")]
    pub position_embedding_type: String,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> Activation {
    Activation::Gelu
}
fn default_pos_type() -> String {
    "absolute".into()
}

impl BertConfig {
    /// Reads and checks `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text).map_err(|message| Error::model(path, message))
    }

    /// Parses and checks the JSON text of a config.
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let config: BertConfig =
            serde_json::from_str(text).map_err(|e| format!("not a BERT config: {e}"))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type {:?} is not supported (only \"absolute\")",
                self.position_embedding_type
            ));
        }
        if self.vocab_size == 0 || self.hidden_size == 0 || self.max_position_embeddings < 2 {
            return Err(
                "vocab_size, hidden_size and max_position_embeddings must be positive".into(),
            );
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_transformers_config() {
        let c = BertConfig::from_json(
            r#"{"hidden_size":128,"num_hidden_layers":2,"num_attention_heads":2,
            "intermediate_size":512,"vocab_size":30522,"max_position_embeddings":512,
            "hidden_act":"gelu","layer_norm_eps":1e-12,"model_type":"bert"}"#,
        )
        .unwrap();
        assert_eq!(c.head_size(), 64);
        assert_eq!(c.hidden_act, Activation::Gelu);
        assert_eq!(c.type_vocab_size, 2);
    }

    #[test]
    fn rejects_bad_heads_and_activation() {
        let bad_heads = r#"{"hidden_size":130,"num_hidden_layers":2,"num_attention_heads":4,
            "intermediate_size":512,"vocab_size":10,"max_position_embeddings":512}"#;
        assert!(
            BertConfig::from_json(bad_heads)
                .unwrap_err()
                .contains("multiple")
        );
        let bad_act = r#"{"hidden_size":128,"num_hidden_layers":2,"num_attention_heads":2,
            "intermediate_size":512,"vocab_size":10,"max_position_embeddings":512,"hidden_act":"swish"}"#;
        assert!(BertConfig::from_json(bad_act).is_err());
    }
}
