//! Tensor lookup in a safetensors checkpoint, across naming styles, and
//! weights used in place.
//!
//! Checkpoints of the same architecture disagree on names: LayerNorm
//! parameters are `weight`/`bias` in current `transformers` and `gamma`/`beta`
//! in older (TF-converted) ones; the `bert.` prefix is present for
//! `BertForMaskedLM` and absent for a bare `BertModel`. The names are resolved
//! once, against the keys that exist in the file, and a tensor that is not
//! there is an error naming it and the file.
//!
//! The two vocabulary-sized matrices (word embeddings and decoder, often one
//! and the same) are most of a checkpoint's bytes. Copying them out of the
//! file cost a process most of its start-up (README "Cold start"), so they
//! are read in place from the memory map when the file stores them as
//! aligned f32 ([`Checkpoint::matrix`]); everything else is copied into
//! candle tensors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use memmap2::{Mmap, MmapOptions};
use safetensors::tensor::{Dtype, SafeTensors, TensorInfo};

use crate::error::{Error, Result};

/// An opened safetensors file with name resolution.
pub struct Checkpoint {
    path: PathBuf,
    map: Arc<Mmap>,
    /// Where the tensors' bytes start in the file (after the header).
    data_start: usize,
    tensors: HashMap<String, TensorInfo>,
    device: Device,
}

/// A row-major f32 matrix: in place in the checkpoint's memory map, or
/// converted (a checkpoint that stores f16 or bf16, or misaligned bytes).
#[derive(Clone)]
pub(crate) enum Matrix {
    /// `len` floats at byte `offset` of the map, which the `Arc` keeps.
    Mapped {
        map: Arc<Mmap>,
        offset: usize,
        len: usize,
    },
    Owned(Arc<Vec<f32>>),
}

impl Matrix {
    /// The floats, row after row.
    pub(crate) fn as_slice(&self) -> &[f32] {
        match self {
            Matrix::Mapped { map, offset, len } => {
                let bytes = &map[*offset..*offset + *len * 4];
                // SAFETY: `Checkpoint::matrix` only maps f32 tensors whose
                // offset is a multiple of 4 (page-aligned map + aligned
                // offset), the range is in bounds (checked above by
                // slicing), and every bit pattern is a valid f32.
                unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), *len) }
            }
            Matrix::Owned(v) => v,
        }
    }
}

impl Checkpoint {
    /// Memory-maps a safetensors file and reads its header.
    pub fn open(path: &Path, device: &Device) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::model(path, "model weights not found"));
        }
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the model file is only read. A model directory is not
        // rewritten while `splade` runs (the hub cache writes new blobs
        // under new names); a program that rewrites it in place changes
        // the weights under us, which the fingerprint's stamp then catches
        // for the next process.
        //
        // `populate`: every search reads the whole file anyway (the
        // decoder is the vocabulary-sized bulk of it), and mapping all of
        // its pages in one call costs less than faulting them in one at a
        // time as the projection walks the rows.
        let map =
            unsafe { MmapOptions::new().populate().map(&file) }.map_err(|e| Error::io(path, e))?;
        let unreadable = |e: safetensors::SafeTensorError| {
            Error::model(path, format!("not a readable safetensors file: {e}"))
        };
        let (header, metadata) = SafeTensors::read_metadata(&map).map_err(unreadable)?;
        let tensors = metadata
            .tensors()
            .into_iter()
            .map(|(name, info)| (name, info.clone()))
            .collect();
        Ok(Checkpoint {
            path: path.to_owned(),
            map: Arc::new(map),
            data_start: 8 + header,
            tensors,
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
        let (found, info) = self.find(name, shape)?;
        let dtype = candle_dtype(info.dtype).ok_or_else(|| {
            Error::model(
                &self.path,
                format!(
                    "tensor `{found}` has dtype {:?}, which cannot be read",
                    info.dtype
                ),
            )
        })?;
        let tensor = Tensor::from_raw_buffer(self.bytes(info), dtype, shape, &self.device)
            .map_err(|e| Error::model(&self.path, format!("tensor `{found}`: {e}")))?;
        Ok(tensor.to_dtype(DType::F32)?)
    }

    /// The matrix `name` of `shape`, in place in the memory map when the
    /// file stores it as aligned f32, else converted to f32.
    pub(crate) fn matrix(&self, name: &str, shape: &[usize]) -> Result<Matrix> {
        let (_, info) = self.find(name, shape)?;
        let offset = self.data_start + info.data_offsets.0;
        if info.dtype == Dtype::F32 && offset.is_multiple_of(4) {
            return Ok(Matrix::Mapped {
                map: Arc::clone(&self.map),
                offset,
                len: shape.iter().product(),
            });
        }
        let values = self.get(name, shape)?.flatten_all()?.to_vec1()?;
        Ok(Matrix::Owned(Arc::new(values)))
    }

    /// The stored name and header entry of `name`, its shape checked.
    fn find(&self, name: &str, shape: &[usize]) -> Result<(String, &TensorInfo)> {
        let found = self.resolve(name).ok_or_else(|| Error::MissingTensor {
            path: self.path.clone(),
            name: name.to_owned(),
            tried: candidates(name).join(", "),
        })?;
        let info = &self.tensors[&found];
        if info.shape != shape {
            return Err(Error::TensorShape {
                path: self.path.clone(),
                name: found,
                expected: shape.to_vec(),
                found: info.shape.clone(),
            });
        }
        Ok((found, info))
    }

    /// A tensor's bytes (in bounds: `read_metadata` validated the offsets
    /// against the file's length).
    fn bytes(&self, info: &TensorInfo) -> &[u8] {
        let (a, b) = info.data_offsets;
        &self.map[self.data_start + a..self.data_start + b]
    }

    fn resolve(&self, name: &str) -> Option<String> {
        candidates(name)
            .into_iter()
            .find(|c| self.tensors.contains_key(c))
    }
}

/// The candle dtype of a file's dtype (`None` for those candle lacks).
fn candle_dtype(dtype: Dtype) -> Option<DType> {
    Some(match dtype {
        Dtype::F32 => DType::F32,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::F64 => DType::F64,
        Dtype::U8 => DType::U8,
        Dtype::U32 => DType::U32,
        Dtype::I16 => DType::I16,
        Dtype::I32 => DType::I32,
        Dtype::I64 => DType::I64,
        _ => return None,
    })
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
