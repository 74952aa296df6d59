//! The head: ticks not yet compacted, kept in memory and in the `head` table.
//!
//! Each tick is one row (`seq`, `ts`, `data`) written in the tick's own
//! transaction, so a crash loses at most the tick being written. `data`
//! holds the tick's samples sorted by series id:
//!
//! ```text
//! u8      kind: 1 = full, 2 = XOR against the previous head row
//! uvarint count, then per sample: uvarint id delta, then the value:
//!   full: its 8 little-endian bytes
//!   XOR:  x = bits(value) ^ bits(the series' value in the previous row, 0 if absent);
//!         one byte (leading zero bytes of x << 4 | trailing zero bytes), then the
//!         bytes between them, little-endian (an unchanged value is the one byte 0x80)
//! ```
//!
//! A row depends only on the row before it, so compaction, which deletes the
//! oldest rows, rewrites the new oldest row in full in the same transaction.
//! Store format 1 wrote every row as today's full form without the kind byte
//! ([`decode_v1`]). At open the rows are read back into memory; queries read
//! the in-memory copy.

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
    /// Series ids, ascending. Consecutive ticks of a host usually have the same series, so
    /// the head shares one list between them ([`Head::share_ids`]): a third of the head's
    /// memory at 12 bytes a sample.
    pub ids: Arc<[u32]>,
    /// Values, parallel to `ids`.
    pub vals: Vec<f64>,
}

impl HeadTick {
    /// The value of series `id` in this tick.
    pub fn get(&self, id: u32) -> Option<f64> {
        self.ids.binary_search(&id).ok().map(|i| self.vals[i])
    }
}

const FULL: u8 = 1;
const XOR: u8 = 2;

/// A cursor over the previous row's samples, for ids asked in ascending order.
struct Before<'a> {
    ids: &'a [u32],
    vals: &'a [f64],
    at: usize,
}

impl<'a> Before<'a> {
    fn new(prev: &'a HeadTick) -> Self {
        Before {
            ids: &prev.ids,
            vals: &prev.vals,
            at: 0,
        }
    }

    /// The bits series `id` is XOR-ed with: its value in the previous row, else 0.
    fn base(&mut self, id: u32) -> u64 {
        while self.ids.get(self.at).is_some_and(|p| *p < id) {
            self.at += 1;
        }
        match self.ids.get(self.at) {
            Some(p) if *p == id => self.vals.get(self.at).map_or(0, |v| v.to_bits()),
            _ => 0,
        }
    }
}

/// Encode samples sorted by id: in full without `prev`, else against `prev`, the previous
/// head row's tick.
pub fn encode(ids: &[u32], vals: &[f64], prev: Option<&HeadTick>) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + ids.len() * if prev.is_some() { 6 } else { 10 });
    out.push(if prev.is_some() { XOR } else { FULL });
    put_uvarint(&mut out, ids.len() as u64);
    let mut last = 0u32;
    let mut before = prev.map(Before::new);
    for (&id, v) in ids.iter().zip(vals) {
        put_uvarint(&mut out, (id - last) as u64);
        last = id;
        let Some(before) = before.as_mut() else {
            out.extend_from_slice(&v.to_le_bytes());
            continue;
        };
        let x = v.to_bits() ^ before.base(id);
        let lead = (x.leading_zeros() / 8) as usize;
        let trail = if x == 0 {
            0
        } else {
            (x.trailing_zeros() / 8) as usize
        };
        out.push(((lead << 4) | trail) as u8);
        out.extend_from_slice(&x.to_le_bytes()[trail..8 - lead]);
    }
    out
}

/// Decode a tick's samples; `prev` is the tick of the row before (needed by XOR rows).
pub fn decode(buf: &[u8], prev: Option<&HeadTick>) -> Result<(Vec<u32>, Vec<f64>), Truncated> {
    match buf.first() {
        Some(&FULL) => decode_v1(&buf[1..]),
        Some(&XOR) => decode_xor(&buf[1..], prev.ok_or(Truncated)?),
        _ => Err(Truncated),
    }
}

fn decode_xor(buf: &[u8], prev: &HeadTick) -> Result<(Vec<u32>, Vec<f64>), Truncated> {
    let mut pos = 0;
    let n = get_uvarint(buf, &mut pos)? as usize;
    if n > buf.len() / 2 {
        return Err(Truncated);
    }
    let (mut ids, mut vals) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut id = 0u64;
    let mut before = Before::new(prev);
    for _ in 0..n {
        id += get_uvarint(buf, &mut pos)?;
        let id32 = u32::try_from(id).map_err(|_| Truncated)?;
        if ids.last().is_some_and(|l| *l >= id32) {
            return Err(Truncated);
        }
        let tag = *buf.get(pos).ok_or(Truncated)? as usize;
        pos += 1;
        let (lead, trail) = (tag >> 4, tag & 0xf);
        if lead + trail > 8 {
            return Err(Truncated);
        }
        let mut le = [0u8; 8];
        let len = 8 - lead - trail;
        le[trail..8 - lead].copy_from_slice(buf.get(pos..pos + len).ok_or(Truncated)?);
        pos += len;
        ids.push(id32);
        vals.push(f64::from_bits(u64::from_le_bytes(le) ^ before.base(id32)));
    }
    if pos != buf.len() {
        return Err(Truncated);
    }
    Ok((ids, vals))
}

/// Decode a full row's samples without the kind byte: every row of store format 1.
pub fn decode_v1(buf: &[u8]) -> Result<(Vec<u32>, Vec<f64>), Truncated> {
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
    /// `ids` as the next tick's list: the newest tick's own when equal, so they share it.
    pub fn share_ids(&self, ids: Vec<u32>) -> Arc<[u32]> {
        match self.ticks.back() {
            Some(t) if *t.ids == *ids => Arc::clone(&t.ids),
            _ => ids.into(),
        }
    }

    pub fn push(&mut self, t: Arc<HeadTick>) {
        self.samples += t.ids.len() as u64;
        for &id in t.ids.iter() {
            *self.refs.entry(id).or_insert(0) += 1;
        }
        self.ticks.push_back(t);
    }

    /// Drop the oldest `n` ticks (after they were compacted).
    pub fn drop_front(&mut self, n: usize) {
        for t in self.ticks.drain(..n.min(self.ticks.len())) {
            self.samples -= t.ids.len() as u64;
            for &id in t.ids.iter() {
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

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn tick_encoding_round_trips() {
        let ids = vec![1, 2, 7, 1000, 70000];
        let vals = vec![0.5, -0.0, f64::NAN, 1e300, 3.0];
        let (i2, v2) = decode(&encode(&ids, &vals, None), None).unwrap();
        assert_eq!(i2, ids);
        assert_eq!(bits(&v2), bits(&vals));
        let buf = encode(&ids, &vals, None);
        assert!(decode(&buf[..buf.len() - 1], None).is_err());
        assert!(decode(&[1, 200, 1], None).is_err());
        // Format 1 rows: the full form without the kind byte.
        assert_eq!(decode_v1(&buf[1..]).unwrap().0, ids);
    }

    #[test]
    fn xor_rows_round_trip_against_the_previous_tick_and_are_smaller() {
        let prev = HeadTick {
            seq: 1,
            ts: 1000,
            ids: vec![1, 2, 5, 9, 12].into(),
            vals: vec![1e9, 0.25, 7.0, f64::NAN, 123_456.78],
        };
        // Unchanged, changed a little, new series (absent before), gone series (9), NaN.
        let ids = vec![1, 2, 3, 5, 12, 40];
        let vals = vec![1e9, 0.5, -0.0, f64::NAN, 123_456.79, 3.5];
        let buf = encode(&ids, &vals, Some(&prev));
        let (i2, v2) = decode(&buf, Some(&prev)).unwrap();
        assert_eq!(i2, ids);
        assert_eq!(bits(&v2), bits(&vals));
        assert!(buf.len() < encode(&ids, &vals, None).len());
        // Without the previous tick an XOR row cannot be read; damage is an error.
        assert!(decode(&buf, None).is_err());
        for cut in 1..buf.len() {
            assert!(decode(&buf[..cut], Some(&prev)).is_err(), "cut at {cut}");
        }
        let mut bad = buf.clone();
        bad[3] = 0x99; // lead 9: more than 8 bytes
        assert!(decode(&bad, Some(&prev)).is_err());
        assert!(decode(&[7, 0], None).is_err());
    }

    #[test]
    fn consecutive_ticks_with_the_same_series_share_one_id_list() {
        let mut h = Head::default();
        for (seq, ids) in [(1, vec![1, 2, 3]), (2, vec![1, 2, 3]), (3, vec![1, 3])] {
            let ids = h.share_ids(ids);
            let vals = vec![0.0; ids.len()];
            h.push(Arc::new(HeadTick {
                seq,
                ts: seq * 1000,
                ids,
                vals,
            }));
        }
        let t = h.ticks();
        assert!(Arc::ptr_eq(&t[0].ids, &t[1].ids));
        assert!(!Arc::ptr_eq(&t[1].ids, &t[2].ids));
        assert_eq!(&*t[2].ids, &[1, 3]);
        assert_eq!(h.samples(), 8);
    }

    #[test]
    fn head_reads_by_series_and_range() {
        let mut h = Head::default();
        for (seq, ts) in [(1, 1000), (2, 2000), (3, 3000)] {
            h.push(Arc::new(HeadTick {
                seq,
                ts,
                ids: vec![1, 2].into(),
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
            ids: vec![5].into(),
            vals: vec![1.0],
        }));
        assert_eq!(h.series(), 3);
        h.drop_front(1);
        assert_eq!((h.series(), h.contains(1), h.contains(5)), (1, false, true));
        h.drop_front(1);
        assert_eq!(h.series(), 0);
    }
}
