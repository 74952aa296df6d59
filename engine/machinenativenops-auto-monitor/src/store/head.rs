//! The head: ticks not yet compacted, kept in memory and in the `head` table.
//!
//! Each tick is one row (`seq`, `ts`, `data`) written in the tick's own
//! transaction, so a crash loses at most the tick being written. `data`
//! holds the tick's samples sorted by series id: a uvarint count, then per
//! sample a uvarint id delta and the value's 8 little-endian bytes. At open
//! the rows are read back into memory; queries read the in-memory copy.

use std::collections::VecDeque;
use std::sync::Arc;

use super::bits::{Truncated, get_uvarint, put_uvarint};
use super::series::FxMap;

/// One committed tick.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadTick {
    /// Row id in the `head` table (ascending with time).
    pub seq: i64,
    /// Tick time, milliseconds since the Unix epoch.
    pub ts: i64,
    /// Series ids, ascending.
    pub ids: Vec<u32>,
    /// Values, parallel to `ids`.
    pub vals: Vec<f64>,
}

impl HeadTick {
    /// The value of series `id` in this tick.
    pub fn get(&self, id: u32) -> Option<f64> {
        self.ids.binary_search(&id).ok().map(|i| self.vals[i])
    }
}

/// Encode samples sorted by id.
pub fn encode(ids: &[u32], vals: &[f64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + ids.len() * 10);
    put_uvarint(&mut out, ids.len() as u64);
    let mut prev = 0u32;
    for (&id, v) in ids.iter().zip(vals) {
        put_uvarint(&mut out, (id - prev) as u64);
        prev = id;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decode a tick's samples.
pub fn decode(buf: &[u8]) -> Result<(Vec<u32>, Vec<f64>), Truncated> {
    let mut pos = 0;
    let n = get_uvarint(buf, &mut pos)? as usize;
    if n > buf.len() / 9 {
        return Err(Truncated);
    }
    let (mut ids, mut vals) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut id = 0u64;
    for _ in 0..n {
        id += get_uvarint(buf, &mut pos)?;
        let b = buf.get(pos..pos + 8).ok_or(Truncated)?;
        pos += 8;
        ids.push(u32::try_from(id).map_err(|_| Truncated)?);
        vals.push(f64::from_le_bytes(b.try_into().map_err(|_| Truncated)?));
    }
    Ok((ids, vals))
}

/// The in-memory head: committed ticks in time order.
#[derive(Debug, Default)]
pub struct Head {
    ticks: VecDeque<Arc<HeadTick>>,
    samples: u64,
    /// Ticks of the head holding each series (only series with at least one), by series id.
    /// A map, not a vector indexed by id: ids keep growing with series churn.
    refs: FxMap<u32, u32>,
}

impl Head {
    /// Add a committed tick (newer than every tick already held).
    pub fn push(&mut self, t: Arc<HeadTick>) {
        self.samples += t.ids.len() as u64;
        for &id in &t.ids {
            *self.refs.entry(id).or_insert(0) += 1;
        }
        self.ticks.push_back(t);
    }

    /// Drop the oldest `n` ticks (after they were compacted).
    pub fn drop_front(&mut self, n: usize) {
        for t in self.ticks.drain(..n.min(self.ticks.len())) {
            self.samples -= t.ids.len() as u64;
            for &id in &t.ids {
                if let Some(r) = self.refs.get_mut(&id) {
                    *r -= 1;
                    if *r == 0 {
                        self.refs.remove(&id);
                    }
                }
            }
        }
    }

    /// Whether series `id` has a sample in the head.
    pub fn contains(&self, id: u32) -> bool {
        self.refs.contains_key(&id)
    }

    /// Series with at least one sample in the head.
    pub fn series(&self) -> usize {
        self.refs.len()
    }

    /// The ticks, oldest first.
    pub fn ticks(&self) -> &VecDeque<Arc<HeadTick>> {
        &self.ticks
    }

    /// Samples held.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Time of the newest tick.
    pub fn newest(&self) -> Option<i64> {
        self.ticks.back().map(|t| t.ts)
    }

    /// Time of the oldest tick.
    pub fn oldest(&self) -> Option<i64> {
        self.ticks.front().map(|t| t.ts)
    }

    /// Samples of series `id` in `[start, end]`, appended to `out`.
    pub fn samples_of(&self, id: u32, start: i64, end: i64, out: &mut Vec<(i64, f64)>) {
        let from = self.ticks.partition_point(|t| t.ts < start);
        for t in self.ticks.range(from..) {
            if t.ts > end {
                break;
            }
            if let Some(v) = t.get(id) {
                out.push((t.ts, v));
            }
        }
    }

    /// Whether series `id` has a sample in `[start, end]`.
    pub fn has(&self, id: u32, start: i64, end: i64) -> bool {
        let from = self.ticks.partition_point(|t| t.ts < start);
        self.ticks
            .range(from..)
            .take_while(|t| t.ts <= end)
            .any(|t| t.get(id).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_encoding_round_trips() {
        let ids = vec![1, 2, 7, 1000, 70000];
        let vals = vec![0.5, -0.0, f64::NAN, 1e300, 3.0];
        let (i2, v2) = decode(&encode(&ids, &vals)).unwrap();
        assert_eq!(i2, ids);
        assert_eq!(
            v2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            vals.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        let buf = encode(&ids, &vals);
        assert!(decode(&buf[..buf.len() - 1]).is_err());
        assert!(decode(&[200, 1]).is_err());
    }

    #[test]
    fn head_reads_by_series_and_range() {
        let mut h = Head::default();
        for (seq, ts) in [(1, 1000), (2, 2000), (3, 3000)] {
            h.push(Arc::new(HeadTick {
                seq,
                ts,
                ids: vec![1, 2],
                vals: vec![ts as f64, -(ts as f64)],
            }));
        }
        let mut out = Vec::new();
        h.samples_of(2, 1500, 3000, &mut out);
        assert_eq!(out, vec![(2000, -2000.0), (3000, -3000.0)]);
        assert!(h.has(1, 0, 1000) && !h.has(3, 0, 5000) && !h.has(1, 3001, 9000));
        assert_eq!(h.series(), 2);
        assert!(h.contains(2) && !h.contains(3) && !h.contains(70_000));
        h.drop_front(2);
        assert_eq!(h.samples(), 2);
        assert_eq!(h.oldest(), Some(3000));
        h.push(Arc::new(HeadTick {
            seq: 4,
            ts: 4000,
            ids: vec![5],
            vals: vec![1.0],
        }));
        assert_eq!(h.series(), 3);
        h.drop_front(1);
        assert_eq!((h.series(), h.contains(1), h.contains(5)), (1, false, true));
        h.drop_front(1);
        assert_eq!(h.series(), 0);
    }
}
