//! The on-disk format of one series' compressed chunk in a block.
//!
//! ```text
//! u8      codec of the values (1 = Gorilla XOR, 2 = pco standalone, 3 = pco wrapped)
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
    /// pcodec (`pco` crate, standalone format). Written by format-1 stores; still read.
    Pco,
    /// pcodec's wrapped format: the one-byte pco header, the chunk metadata and one page,
    /// without the standalone framing (magic, version, type and count bytes, footer: ~12
    /// bytes a chunk). The count is the presence runs' total, which the chunk holds anyway.
    PcoWrapped,
}

impl Codec {
    fn tag(self) -> u8 {
        match self {
            Codec::Gorilla => 1,
            Codec::Pco => 2,
            Codec::PcoWrapped => 3,
        }
    }

    /// The codec written by the store (chosen by measurement, docs/storage.md).
    pub const CHOSEN: Codec = Codec::PcoWrapped;
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
        Codec::PcoWrapped => match pco_wrapped(values, out) {
            Ok(out) => out,
            Err(_) => encode(Codec::Gorilla, runs, values),
        },
    }
}

/// Append pco's wrapped form of `values` (header, chunk metadata, one page) to `out`.
fn pco_wrapped(values: &[f64], out: Vec<u8>) -> pco::errors::PcoResult<Vec<u8>> {
    let fc = pco::wrapped::FileCompressor::default();
    let out = fc.write_header(out)?;
    let mut cc = fc.chunk_compressor(values, &pco::ChunkConfig::default())?;
    let out = cc.write_meta(out)?;
    cc.write_page(0, out)
}

/// Decode pco's wrapped form of `n` values.
fn pco_unwrap(payload: &[u8], n: usize, values: &mut Vec<f64>) -> Result<(), ChunkError> {
    let err = |e: pco::errors::PcoError| ChunkError::Pco(e.to_string());
    let (fd, rest) = pco::wrapped::FileDecompressor::new(payload).map_err(err)?;
    let (mut cd, rest) = fd.chunk_decompressor::<f64, _>(rest).map_err(err)?;
    let mut pd = cd.page_decompressor(rest, n).map_err(err)?;
    values.resize(n, 0.0);
    let progress = pd.read(values).map_err(err)?;
    if progress.n_processed != n || !progress.finished {
        return Err(ChunkError::Corrupt);
    }
    Ok(())
}

/// A block's chunk directory (`block.series`, format 2): which series have a chunk in
/// the block's `chunks` blob, and where.
///
/// ```text
/// uvarint count, then per chunk in blob order: uvarint (id - previous id), uvarint length
/// ```
///
/// Ids ascend strictly, so a series is found by binary search; offsets are the running
/// sum of the lengths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    /// Series ids, ascending.
    pub ids: Vec<u32>,
    /// Offset of each chunk in the blob; one more entry than `ids`: the blob's length.
    pub offsets: Vec<u64>,
}

impl Directory {
    /// The directory of chunks `(series id, length)` laid out in this order.
    pub fn encode(chunks: impl ExactSizeIterator<Item = (u32, usize)>) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + 3 * chunks.len());
        put_uvarint(&mut out, chunks.len() as u64);
        let mut prev = 0u32;
        for (id, len) in chunks {
            put_uvarint(&mut out, (id - prev) as u64);
            put_uvarint(&mut out, len as u64);
            prev = id;
        }
        out
    }

    /// Decode a directory; `blob_len` is the length of the block's `chunks` blob, which
    /// the chunks must fill exactly.
    pub fn decode(buf: &[u8], blob_len: u64) -> Result<Directory, ChunkError> {
        let mut pos = 0;
        let n = get_uvarint(buf, &mut pos)?;
        // Every entry takes at least two bytes: a count beyond that is corrupt.
        if n > buf.len() as u64 {
            return Err(ChunkError::Corrupt);
        }
        let mut ids = Vec::with_capacity(n as usize);
        let mut offsets = Vec::with_capacity(n as usize + 1);
        let (mut id, mut off) = (0u64, 0u64);
        for i in 0..n {
            let delta = get_uvarint(buf, &mut pos)?;
            if i > 0 && delta == 0 {
                return Err(ChunkError::Corrupt);
            }
            id = id
                .checked_add(delta)
                .filter(|v| *v <= u32::MAX as u64)
                .ok_or(ChunkError::Corrupt)?;
            ids.push(id as u32);
            offsets.push(off);
            off = off
                .checked_add(get_uvarint(buf, &mut pos)?)
                .ok_or(ChunkError::Corrupt)?;
        }
        offsets.push(off);
        if pos != buf.len() || off != blob_len {
            return Err(ChunkError::Corrupt);
        }
        Ok(Directory { ids, offsets })
    }

    /// `(offset, length)` of series `id`'s chunk, if the block has one.
    pub fn find(&self, id: u32) -> Option<(u64, usize)> {
        let i = self.ids.binary_search(&id).ok()?;
        Some((
            self.offsets[i],
            (self.offsets[i + 1] - self.offsets[i]) as usize,
        ))
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
        3 => pco_unwrap(payload, n as usize, &mut values)?,
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
        for codec in [Codec::Gorilla, Codec::Pco, Codec::PcoWrapped] {
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
    fn directories_round_trip_and_refuse_corruption() {
        let chunks = [(3u32, 10usize), (4, 0), (200, 300), (70_000, 5)];
        let buf = Directory::encode(chunks.iter().copied());
        let d = Directory::decode(&buf, 315).unwrap();
        assert_eq!(d.ids, vec![3, 4, 200, 70_000]);
        assert_eq!(d.find(200), Some((10, 300)));
        assert_eq!(d.find(70_000), Some((310, 5)));
        assert_eq!(d.find(5), None);
        // The lengths must add up to the blob, the bytes must end with the last entry.
        assert!(Directory::decode(&buf, 314).is_err());
        assert!(Directory::decode(&buf[..buf.len() - 1], 315).is_err());
        let mut long = buf.clone();
        long.push(0);
        assert!(Directory::decode(&long, 315).is_err());
        // Ids must ascend strictly.
        let dup = Directory::encode([(3u32, 1usize), (3, 1)].into_iter());
        assert!(Directory::decode(&dup, 2).is_err());
        assert_eq!(
            Directory::decode(&Directory::encode(std::iter::empty()), 0)
                .unwrap()
                .ids,
            Vec::<u32>::new()
        );
    }

    #[test]
    fn the_wrapped_form_is_smaller_than_the_standalone_one() {
        let values: Vec<f64> = (0..240).map(|i| 1e6 + (i * 37 % 11) as f64).collect();
        let standalone = encode(Codec::Pco, &[(0, 240)], &values);
        let wrapped = encode(Codec::PcoWrapped, &[(0, 240)], &values);
        assert!(
            wrapped.len() + 8 <= standalone.len(),
            "{} vs {}",
            wrapped.len(),
            standalone.len()
        );
        assert_eq!(decode(&wrapped, 240).unwrap().values, values);
    }

    #[test]
    fn corrupt_chunks_are_errors_not_panics() {
        for codec in [Codec::Pco, Codec::PcoWrapped] {
            let buf = encode(codec, &[(0, 50)], &[1.5; 50]);
            for cut in 1..buf.len() {
                assert!(decode(&buf[..cut], 50).is_err(), "{codec:?} cut at {cut}");
            }
        }
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
