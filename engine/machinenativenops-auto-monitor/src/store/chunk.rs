//! The on-disk format of one series' compressed chunk in a block.
//!
//! ```text
//! u8      codec of the values (1 = Gorilla XOR, 2 = pco)
//! uvarint number of presence runs, then per run: uvarint gap, uvarint length
//! ...     values, in the codec's format
//! ```
//!
//! Timestamps are not in the chunk: every series of a tick shares the tick's
//! time, so a block stores its tick times once (delta-of-delta, [`super::dod`])
//! and a chunk says at which of those ticks its series has samples, as runs of
//! tick indices (one run, three bytes, when the series was in every tick).

use super::bits::{Truncated, get_uvarint, put_uvarint};
use super::gorilla;

/// Float codec of a chunk's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Gorilla XOR.
    Gorilla,
    /// pcodec (`pco` crate, standalone format).
    Pco,
}

impl Codec {
    fn tag(self) -> u8 {
        match self {
            Codec::Gorilla => 1,
            Codec::Pco => 2,
        }
    }

    /// The codec written by the store (chosen by measurement, docs/storage.md).
    pub const CHOSEN: Codec = Codec::Pco;
}

/// Why a chunk could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// The bytes end early or a field is out of range.
    #[error("chunk is truncated or corrupt")]
    Corrupt,
    /// The codec byte is unknown (written by a newer version?).
    #[error("unknown chunk codec {0}")]
    UnknownCodec(u8),
    /// pco rejected the values.
    #[error("pco: {0}")]
    Pco(String),
}

impl From<Truncated> for ChunkError {
    fn from(_: Truncated) -> Self {
        ChunkError::Corrupt
    }
}

/// Tick-index runs `(start, len)` covering the ascending indices `idx`.
pub fn runs_of(idx: &[u32]) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &i in idx {
        match runs.last_mut() {
            Some((s, l)) if *s + *l == i => *l += 1,
            _ => runs.push((i, 1)),
        }
    }
    runs
}

/// Encode a chunk: the presence runs and one value per present tick.
pub fn encode(codec: Codec, runs: &[(u32, u32)], values: &[f64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + values.len());
    out.push(codec.tag());
    put_uvarint(&mut out, runs.len() as u64);
    let mut end = 0u32;
    for &(s, l) in runs {
        put_uvarint(&mut out, (s - end) as u64);
        put_uvarint(&mut out, l as u64);
        end = s + l;
    }
    match codec {
        Codec::Gorilla => gorilla::encode(values, out),
        Codec::Pco => {
            match pco::standalone::simple_compress(values, &pco::ChunkConfig::default()) {
                Ok(b) => {
                    out.extend_from_slice(&b);
                    out
                }
                // pco does not fail on finite slices of f64; should it ever, Gorilla stores any bits.
                Err(_) => {
                    out.truncate(0);
                    encode(Codec::Gorilla, runs, values)
                }
            }
        }
    }
}

/// A decoded chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Tick-index runs `(start, len)`.
    pub runs: Vec<(u32, u32)>,
    /// One value per present tick, in order.
    pub values: Vec<f64>,
}

impl Decoded {
    /// The tick indices, in order.
    pub fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.runs.iter().flat_map(|&(s, l)| s..s + l)
    }
}

/// Decode a chunk; `max_ticks` bounds the indices (the block's tick count).
pub fn decode(buf: &[u8], max_ticks: u32) -> Result<Decoded, ChunkError> {
    let (&tag, rest) = buf.split_first().ok_or(ChunkError::Corrupt)?;
    let mut pos = 0;
    let nruns = get_uvarint(rest, &mut pos)?;
    if nruns > max_ticks as u64 {
        return Err(ChunkError::Corrupt);
    }
    let mut runs = Vec::with_capacity(nruns as usize);
    let mut end = 0u64;
    let mut n = 0u64;
    for _ in 0..nruns {
        let s = end + get_uvarint(rest, &mut pos)?;
        let l = get_uvarint(rest, &mut pos)?;
        end = s + l;
        n += l;
        if end > max_ticks as u64 {
            return Err(ChunkError::Corrupt);
        }
        runs.push((s as u32, l as u32));
    }
    let payload = &rest[pos..];
    let mut values = Vec::with_capacity(n as usize);
    match tag {
        1 => gorilla::decode(payload, n as usize, &mut values)?,
        2 => {
            values = pco::standalone::simple_decompress::<f64>(payload)
                .map_err(|e| ChunkError::Pco(e.to_string()))?;
            if values.len() as u64 != n {
                return Err(ChunkError::Corrupt);
            }
        }
        t => return Err(ChunkError::UnknownCodec(t)),
    }
    Ok(Decoded { runs, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_codecs_round_trip_with_gaps() {
        let idx: Vec<u32> = (0..700)
            .filter(|i| !(100..120).contains(i) && *i != 500)
            .collect();
        let runs = runs_of(&idx);
        assert_eq!(runs, vec![(0, 100), (120, 380), (501, 199)]);
        let values: Vec<f64> = idx.iter().map(|&i| (i as f64 * 0.37).sin() * 1e3).collect();
        for codec in [Codec::Gorilla, Codec::Pco] {
            let buf = encode(codec, &runs, &values);
            let d = decode(&buf, 700).unwrap();
            assert_eq!(d.runs, runs);
            assert_eq!(d.values, values);
            assert_eq!(d.indices().collect::<Vec<_>>(), idx);
            // Indices beyond the block are refused.
            assert!(decode(&buf, 600).is_err());
        }
    }

    #[test]
    fn corrupt_chunks_are_errors_not_panics() {
        let buf = encode(Codec::Pco, &[(0, 50)], &[1.5; 50]);
        assert!(decode(&buf[..buf.len() - 1], 50).is_err());
        assert!(decode(&[], 50).is_err());
        assert!(matches!(
            decode(&[9, 0], 50),
            Err(ChunkError::UnknownCodec(9))
        ));
        let mut bad = buf.clone();
        bad[0] = 1;
        assert!(decode(&bad, 50).is_err() || decode(&bad, 50).unwrap().values.len() == 50);
    }
}
