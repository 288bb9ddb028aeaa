//! Impact quantization: how a document weight becomes a fixed-width code.
//! `u16` with one scale per segment is the default because it keeps ranking
//! equal to exact float scoring in practice (see `docs/format.md`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How document weights are stored in posting lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// 16-bit codes, `weight = code * max_weight / 65535`: error ~2e-5.
    #[default]
    U16,
    /// 8-bit codes, `weight = code * max_weight / 255`: half the impact
    /// bytes, error ~5e-3, measurably changes rankings.
    U8,
    /// Raw `f32` weights: exact, twice the impact bytes of `u16`.
    F32,
}

impl Quantization {
    /// The code stored in the postings header.
    pub(crate) fn code(self) -> u32 {
        match self {
            Quantization::F32 => 0,
            Quantization::U16 => 1,
            Quantization::U8 => 2,
        }
    }

    /// The scheme of a postings-header code.
    pub(crate) fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(Quantization::F32),
            1 => Some(Quantization::U16),
            2 => Some(Quantization::U8),
            _ => None,
        }
    }

    /// Bytes per impact in a posting block.
    pub(crate) fn width(self) -> usize {
        match self {
            Quantization::F32 => 4,
            Quantization::U16 => 2,
            Quantization::U8 => 1,
        }
    }

    /// Largest code (`None` for `f32`, which stores bit patterns).
    fn levels(self) -> Option<u32> {
        match self {
            Quantization::F32 => None,
            Quantization::U16 => Some(u16::MAX as u32),
            Quantization::U8 => Some(u8::MAX as u32),
        }
    }

    /// The scale for a segment whose largest weight is `max_weight`.
    pub(crate) fn scale_for(self, max_weight: f32) -> f32 {
        match self.levels() {
            Some(levels) if max_weight > 0.0 => max_weight / levels as f32,
            _ => 1.0,
        }
    }
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Quantization::U16 => "u16",
            Quantization::U8 => "u8",
            Quantization::F32 => "f32",
        })
    }
}

impl FromStr for Quantization {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "u16" => Ok(Quantization::U16),
            "u8" => Ok(Quantization::U8),
            "f32" => Ok(Quantization::F32),
            _ => Err(format!(
                "unknown quantization `{s}` (expected u16, u8 or f32)"
            )),
        }
    }
}

/// A scheme with its segment scale: encodes and decodes impacts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Quantizer {
    pub(crate) scheme: Quantization,
    pub(crate) scale: f32,
}

impl Quantizer {
    /// The quantizer of a segment whose largest weight is `max_weight`.
    pub(crate) fn for_max_weight(scheme: Quantization, max_weight: f32) -> Self {
        Quantizer {
            scheme,
            scale: scheme.scale_for(max_weight),
        }
    }

    /// The code of a weight: never 0 (a posting is never silently dropped),
    /// at most the scheme's largest code.
    pub(crate) fn encode(&self, weight: f32) -> u32 {
        match self.scheme.levels() {
            None => weight.to_bits(),
            Some(levels) => ((weight / self.scale).round() as u32).clamp(1, levels),
        }
    }

    /// The weight a code stands for.
    #[inline]
    pub(crate) fn decode(&self, code: u32) -> f32 {
        match self.scheme {
            Quantization::F32 => f32::from_bits(code),
            _ => code as f32 * self.scale,
        }
    }

    /// The weight of a code before the segment's scale is applied: the
    /// `f32` weight itself for raw impacts, the integer code for quantized
    /// ones. Scoring multiplies the scale in once per query term
    /// ([`factor`](Self::factor)) rather than per posting;
    /// [`decode`](Self::decode) is the weight itself.
    #[inline]
    pub(crate) fn unscaled(&self, code: u32) -> f32 {
        match self.scheme {
            Quantization::F32 => f32::from_bits(code),
            _ => code as f32,
        }
    }

    /// What a query weight is multiplied by so that `factor * unscaled(code)`
    /// is the posting's contribution: `query_weight` for raw impacts,
    /// `query_weight * scale` for quantized ones.
    #[inline]
    pub(crate) fn factor(&self, query_weight: f32) -> f32 {
        match self.scheme {
            Quantization::F32 => query_weight,
            _ => query_weight * self.scale,
        }
    }

    /// Worst-case absolute error of a decoded weight (what the tests bound
    /// round trips by).
    #[cfg(test)]
    pub(crate) fn max_error(&self) -> f32 {
        match self.scheme {
            Quantization::F32 => 0.0,
            _ => self.scale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Quantization; 3] = [Quantization::U16, Quantization::U8, Quantization::F32];

    #[test]
    fn names_round_trip() {
        for q in ALL {
            assert_eq!(q.to_string().parse::<Quantization>().unwrap(), q);
            let json = serde_json::to_string(&q).unwrap();
            assert_eq!(json, format!("\"{q}\""));
        }
        assert!("u4".parse::<Quantization>().is_err());
        assert_eq!(Quantization::default(), Quantization::U16);
    }

    #[test]
    fn encode_decode_error_is_bounded() {
        for scheme in ALL {
            let q = Quantizer {
                scheme,
                scale: scheme.scale_for(2.8),
            };
            for i in 1..=2800 {
                let w = i as f32 * 0.001;
                let back = q.decode(q.encode(w));
                let err = (back - w).abs();
                if scheme == Quantization::F32 {
                    assert_eq!(back, w);
                } else if w >= q.scale / 2.0 {
                    assert!(err <= q.scale / 2.0 + 1e-6, "{scheme} {w} {back}");
                } else {
                    assert!(err <= q.max_error());
                }
            }
            assert!(q.encode(1e-9) >= 1 || scheme == Quantization::F32);
        }
    }
}
