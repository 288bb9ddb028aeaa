//! Tensor lookup in a safetensors checkpoint, across naming styles.
//!
//! Checkpoints of the same architecture disagree on names: LayerNorm
//! parameters are `weight`/`bias` in current `transformers` and `gamma`/`beta`
//! in older (TF-converted) ones; the `bert.` prefix is present for
//! `BertForMaskedLM` and absent for a bare `BertModel`. The names are resolved
//! once, against the keys that exist in the file, and a tensor that is not
//! there is an error naming it and the file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// An opened safetensors file with name resolution.
pub struct Checkpoint {
    path: PathBuf,
    tensors: MmapedSafetensors,
    names: HashSet<String>,
    device: Device,
}

impl Checkpoint {
    /// Memory-maps a safetensors file.
    pub fn open(path: &Path, device: &Device) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::model(path, "model weights not found"));
        }
        // SAFETY: the model file is only read; a model directory is not
        // rewritten while `splade` runs (the hub cache writes new blobs under
        // new names), and every tensor is copied out of the map on load.
        let tensors = unsafe { MmapedSafetensors::new(path) }
            .map_err(|e| Error::model(path, format!("not a readable safetensors file: {e}")))?;
        let names = tensors.tensors().into_iter().map(|(n, _)| n).collect();
        Ok(Checkpoint {
            path: path.to_owned(),
            tensors,
            names,
            device: device.clone(),
        })
    }

    /// True when some naming style of `name` is in the file.
    pub fn contains(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }

    /// Loads the tensor `name` (canonical `transformers` spelling, e.g.
    /// `bert.embeddings.LayerNorm.weight`) as f32 and checks its shape.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let found = self.resolve(name).ok_or_else(|| Error::MissingTensor {
            path: self.path.clone(),
            name: name.to_owned(),
            tried: candidates(name).join(", "),
        })?;
        let tensor = self
            .tensors
            .load(&found, &self.device)
            .map_err(|e| Error::model(&self.path, format!("tensor `{found}`: {e}")))?;
        if tensor.dims() != shape {
            return Err(Error::TensorShape {
                path: self.path.clone(),
                name: found,
                expected: shape.to_vec(),
                found: tensor.dims().to_vec(),
            });
        }
        Ok(tensor.to_dtype(DType::F32)?)
    }

    fn resolve(&self, name: &str) -> Option<String> {
        candidates(name)
            .into_iter()
            .find(|c| self.names.contains(c))
    }
}

/// Every spelling under which the canonical `name` may be stored, in order
/// of preference.
fn candidates(name: &str) -> Vec<String> {
    let mut stems = vec![name.to_owned()];
    if let Some(rest) = name.strip_prefix("bert.") {
        stems.push(rest.to_owned());
    }
    let mut out = Vec::new();
    for stem in stems {
        out.push(stem.clone());
        if stem.contains("LayerNorm.") {
            if let Some(base) = stem.strip_suffix(".weight") {
                out.push(format!("{base}.gamma"));
            } else if let Some(base) = stem.strip_suffix(".bias") {
                out.push(format!("{base}.beta"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_cover_gamma_beta_and_prefix() {
        let c = candidates("bert.embeddings.LayerNorm.weight");
        assert_eq!(
            c,
            vec![
                "bert.embeddings.LayerNorm.weight",
                "bert.embeddings.LayerNorm.gamma",
                "embeddings.LayerNorm.weight",
                "embeddings.LayerNorm.gamma",
            ]
        );
        assert_eq!(
            candidates("cls.predictions.bias"),
            vec!["cls.predictions.bias"]
        );
        assert_eq!(
            candidates("bert.encoder.layer.0.output.dense.bias"),
            vec![
                "bert.encoder.layer.0.output.dense.bias",
                "encoder.layer.0.output.dense.bias"
            ]
        );
    }
}
