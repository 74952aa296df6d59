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

use super::bits::{BitReader, BitWriter, Truncated, get_uvarint, put_uvarint};
use super::series::FxMap;

/// One committed tick, whole (the head keeps only the newest one so; see [`Head`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HeadTick {
    /// Row id in the `head` table (ascending with time).
    pub seq: i64,
    /// Tick time, milliseconds since the Unix epoch.
    pub ts: i64,
    /// Series ids, ascending. Consecutive ticks of a host usually have the same series, so
    /// a tick shares the list of the one before when they are equal ([`Head::share_ids`]).
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

/// The in-memory head: the committed ticks' times, and each series' samples compressed in
/// its own bit stream (as Prometheus keeps its head chunks).
///
/// Why not the ticks as rows of raw values: at a 1 s interval a block is cut after 720
/// ticks, so a host's 260 series held 720 × 260 × 8 bytes ≈ 1.5 MB of values in the
/// head, the largest part of a running agent's heap (docs/performance.md). Compressed
/// per series they take about a tenth of that, and a query of one series decodes only
/// that series' stream.
#[derive(Debug, Default)]
pub struct Head {
    /// Sequence and time of each tick, oldest first.
    times: VecDeque<TickTime>,
    /// Absolute number of `times[0]` (ticks pushed before it and since dropped).
    base: u64,
    /// Each series with a sample in the head, by id. A map, not a vector indexed by id:
    /// ids keep growing with series churn.
    streams: FxMap<u32, Stream>,
    samples: u64,
    /// The newest tick, whole: the next head row is XOR-encoded against it.
    last: Option<HeadTick>,
}

/// A tick's row id and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickTime {
    /// Row id in the `head` table (ascending with time).
    pub seq: i64,
    /// Tick time, milliseconds since the Unix epoch.
    pub ts: i64,
}

/// One series' samples in the head, appended as they come:
///
/// ```text
/// first sample: its value's 64 bits (its tick number is `first`)
/// each next:    the tick gap: 0 = the next tick, 10 + 8 bits = gap - 2, 11 + 64 bits = gap;
///               then the value, Gorilla-XOR-ed with the one before (as gorilla.rs)
/// ```
#[derive(Debug)]
struct Stream {
    /// Absolute tick number of the first and of the newest sample.
    first: u64,
    last: u64,
    /// Samples in the stream.
    n: u32,
    /// Bits of the newest value.
    prev: u64,
    /// Leading and trailing zeros of the XOR window in use (`lead` > 64: none yet).
    lead: u8,
    trail: u8,
    bits: BitWriter,
}

impl Stream {
    fn new(at: u64, v: f64) -> Stream {
        let mut bits = BitWriter::with_buffer(Vec::with_capacity(16));
        bits.bits(v.to_bits(), 64);
        Stream {
            first: at,
            last: at,
            n: 1,
            prev: v.to_bits(),
            lead: u8::MAX,
            trail: 0,
            bits,
        }
    }

    fn push(&mut self, at: u64, v: f64) {
        let w = &mut self.bits;
        // Grow by a quarter rather than double: a head stream lives for a whole block.
        let len = w.len();
        if w.capacity() < len + 10 {
            w.reserve_exact(len / 4 + 10);
        }
        match at - self.last {
            1 => w.bit(false),
            gap @ 2..=257 => {
                w.bits(0b10, 2);
                w.bits(gap - 2, 8);
            }
            gap => {
                w.bits(0b11, 2);
                w.bits(gap, 64);
            }
        }
        self.last = at;
        self.n += 1;
        let cur = v.to_bits();
        let x = cur ^ self.prev;
        self.prev = cur;
        if x == 0 {
            w.bit(false);
            return;
        }
        w.bit(true);
        // Leading zeros are stored in 5 bits, so at most 31.
        let l = x.leading_zeros().min(31);
        let t = x.trailing_zeros();
        let (lead, trail) = (u32::from(self.lead), u32::from(self.trail));
        if lead <= 64 && l >= lead && t >= trail {
            w.bit(false);
            w.bits(x >> trail, 64 - lead - trail);
        } else {
            (self.lead, self.trail) = (l as u8, t as u8);
            let sig = 64 - l - t;
            w.bit(true);
            w.bits(u64::from(l), 5);
            // 64 meaningful bits does not fit 6 bits; it is stored as 0 (never a real length).
            w.bits(u64::from(sig & 63), 6);
            w.bits(x >> t, sig);
        }
    }

    /// The samples as (absolute tick number, value), oldest first.
    fn iter(&self) -> StreamIter<'_> {
        StreamIter {
            r: BitReader::new(self.bits.as_slice()),
            left: self.n,
            at: self.first,
            prev: 0,
            lead: 0,
            trail: 0,
            started: false,
        }
    }
}

/// Reads a [`Stream`] back. The stream was written by this process, so a decoding error
/// would be a bug here; it ends the iteration rather than panic an agent.
struct StreamIter<'a> {
    r: BitReader<'a>,
    left: u32,
    at: u64,
    prev: u64,
    lead: u32,
    trail: u32,
    started: bool,
}

impl StreamIter<'_> {
    fn step(&mut self) -> Result<(u64, f64), Truncated> {
        if !self.started {
            self.started = true;
            self.prev = self.r.bits(64)?;
            return Ok((self.at, f64::from_bits(self.prev)));
        }
        self.at += if !self.r.bit()? {
            1
        } else if !self.r.bit()? {
            self.r.bits(8)? + 2
        } else {
            self.r.bits(64)?
        };
        if self.r.bit()? {
            if self.r.bit()? {
                self.lead = self.r.bits(5)? as u32;
                let sig = match self.r.bits(6)? as u32 {
                    0 => 64,
                    s => s,
                };
                self.trail = 64u32.checked_sub(self.lead + sig).ok_or(Truncated)?;
            }
            self.prev ^= self.r.bits(64 - self.lead - self.trail)? << self.trail;
        }
        Ok((self.at, f64::from_bits(self.prev)))
    }
}

impl Iterator for StreamIter<'_> {
    type Item = (u64, f64);

    fn next(&mut self) -> Option<(u64, f64)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match self.step() {
            Ok(s) => Some(s),
            Err(Truncated) => {
                debug_assert!(false, "a head stream does not decode");
                self.left = 0;
                None
            }
        }
    }
}

impl Head {
    /// `ids` as the next tick's list: the newest tick's own when equal, so they share it.
    pub fn share_ids(&self, ids: Vec<u32>) -> Arc<[u32]> {
        match &self.last {
            Some(t) if *t.ids == *ids => Arc::clone(&t.ids),
            _ => ids.into(),
        }
    }

    /// Add a committed tick (newer than every tick already held).
    pub fn push(&mut self, t: HeadTick) {
        let at = self.base + self.times.len() as u64;
        for (&id, &v) in t.ids.iter().zip(&t.vals) {
            match self.streams.get_mut(&id) {
                Some(s) => s.push(at, v),
                None => {
                    self.streams.insert(id, Stream::new(at, v));
                }
            }
        }
        self.samples += t.ids.len() as u64;
        self.times.push_back(TickTime {
            seq: t.seq,
            ts: t.ts,
        });
        self.last = Some(t);
    }

    /// The newest tick, whole.
    pub fn last(&self) -> Option<&HeadTick> {
        self.last.as_ref()
    }

    /// Drop the oldest `n` ticks (after they were compacted). Streams that reach past them
    /// are written again from their first kept sample.
    pub fn drop_front(&mut self, n: usize) {
        let n = n.min(self.times.len());
        let cut = self.base + n as u64;
        let mut dropped = 0u64;
        self.streams.retain(|_, s| {
            if s.first >= cut {
                return true;
            }
            let mut kept: Option<Stream> = None;
            for (at, v) in s.iter() {
                if at < cut {
                    dropped += 1;
                    continue;
                }
                match kept.as_mut() {
                    Some(k) => k.push(at, v),
                    None => kept = Some(Stream::new(at, v)),
                }
            }
            match kept {
                Some(mut k) => {
                    k.bits.shrink_to_fit();
                    *s = k;
                    true
                }
                None => false,
            }
        });
        self.samples -= dropped;
        self.times.drain(..n);
        self.base = cut;
        if self.times.is_empty() {
            self.last = None;
        }
    }

    /// Whether series `id` has a sample in the head.
    pub fn contains(&self, id: u32) -> bool {
        self.streams.contains_key(&id)
    }

    /// Series with at least one sample in the head.
    pub fn series(&self) -> usize {
        self.streams.len()
    }

    /// Ids of the series with at least one sample in the head, in no order.
    pub fn series_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.streams.keys().copied()
    }

    /// Memory the samples take: the series' streams (their buffers' capacity and the
    /// stream records in the map), the tick times and the newest tick kept whole.
    pub fn bytes(&self) -> u64 {
        let streams: usize = self.streams.values().map(|s| s.bits.capacity()).sum();
        let records = self.streams.capacity() * (size_of::<u32>() + size_of::<Stream>());
        let times = self.times.capacity() * size_of::<TickTime>();
        let last = self
            .last
            .as_ref()
            .map_or(0, |t| t.vals.capacity() * 8 + t.ids.len() * 4);
        (streams + records + times + last) as u64
    }

    /// The ticks' row ids and times, oldest first.
    pub fn times(&self) -> &VecDeque<TickTime> {
        &self.times
    }

    /// Samples held.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Time of the newest tick.
    pub fn newest(&self) -> Option<i64> {
        self.times.back().map(|t| t.ts)
    }

    /// Time of the oldest tick.
    pub fn oldest(&self) -> Option<i64> {
        self.times.front().map(|t| t.ts)
    }

    /// Time of absolute tick `at` (held by the head).
    fn ts_at(&self, at: u64) -> i64 {
        self.times[(at - self.base) as usize].ts
    }

    /// Samples of series `id` in `[start, end]`, appended to `out`.
    pub fn samples_of(&self, id: u32, start: i64, end: i64, out: &mut Vec<(i64, f64)>) {
        let Some(s) = self.streams.get(&id) else {
            return;
        };
        if self.ts_at(s.last) < start || self.ts_at(s.first) > end {
            return;
        }
        for (at, v) in s.iter() {
            let ts = self.ts_at(at);
            if ts > end {
                break;
            }
            if ts >= start {
                out.push((ts, v));
            }
        }
    }

    /// Whether series `id` has a sample in `[start, end]`.
    pub fn has(&self, id: u32, start: i64, end: i64) -> bool {
        let Some(s) = self.streams.get(&id) else {
            return false;
        };
        let (first, last) = (self.ts_at(s.first), self.ts_at(s.last));
        if last < start || first > end {
            return false;
        }
        if (first >= start && first <= end) || (last >= start && last <= end) {
            return true;
        }
        s.iter()
            .map(|(at, _)| self.ts_at(at))
            .any(|ts| ts >= start && ts <= end)
    }

    /// Visit, in ascending id order, each series with samples in the oldest `n` ticks: its id,
    /// the positions (0-based, within those ticks) and values of those samples.
    pub fn columns(&self, n: usize, mut visit: impl FnMut(u32, &[u32], &[f64])) {
        let cut = self.base + n.min(self.times.len()) as u64;
        let mut ids: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, s)| s.first < cut)
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        let (mut idx, mut vals) = (Vec::new(), Vec::new());
        for id in ids {
            idx.clear();
            vals.clear();
            for (at, v) in self.streams[&id].iter().take_while(|(at, _)| *at < cut) {
                idx.push((at - self.base) as u32);
                vals.push(v);
            }
            visit(id, &idx, &vals);
        }
    }

    /// Tick `i` (0-based from the oldest held), whole: its series ids ascending and values.
    pub fn tick(&self, i: usize) -> Option<HeadTick> {
        let t = *self.times.get(i)?;
        let at = self.base + i as u64;
        let mut pairs: Vec<(u32, f64)> = self
            .streams
            .iter()
            .filter(|(_, s)| s.first <= at && s.last >= at)
            .filter_map(|(&id, s)| {
                s.iter()
                    .find(|(a, _)| *a >= at)
                    .filter(|(a, _)| *a == at)
                    .map(|(_, v)| (id, v))
            })
            .collect();
        pairs.sort_unstable_by_key(|p| p.0);
        Some(HeadTick {
            seq: t.seq,
            ts: t.ts,
            ids: pairs.iter().map(|p| p.0).collect(),
            vals: pairs.iter().map(|p| p.1).collect(),
        })
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

    fn tick(seq: i64, ids: Vec<u32>, vals: Vec<f64>) -> HeadTick {
        HeadTick {
            seq,
            ts: seq * 1000,
            ids: ids.into(),
            vals,
        }
    }

    #[test]
    fn consecutive_ticks_with_the_same_series_share_one_id_list() {
        let mut h = Head::default();
        let mut lists = Vec::new();
        for (seq, ids) in [(1, vec![1, 2, 3]), (2, vec![1, 2, 3]), (3, vec![1, 3])] {
            let ids = h.share_ids(ids);
            lists.push(Arc::clone(&ids));
            let vals = vec![0.0; ids.len()];
            h.push(HeadTick {
                seq,
                ts: seq * 1000,
                ids,
                vals,
            });
        }
        assert!(Arc::ptr_eq(&lists[0], &lists[1]));
        assert!(!Arc::ptr_eq(&lists[1], &lists[2]));
        assert_eq!(&*h.last().unwrap().ids, &[1, 3]);
        assert_eq!(h.samples(), 8);
    }

    #[test]
    fn head_reads_by_series_and_range() {
        let mut h = Head::default();
        for (seq, ts) in [(1, 1000), (2, 2000), (3, 3000)] {
            h.push(HeadTick {
                seq,
                ts,
                ids: vec![1, 2].into(),
                vals: vec![ts as f64, -(ts as f64)],
            });
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
        h.push(tick(4, vec![5], vec![1.0]));
        assert_eq!(h.series(), 3);
        h.drop_front(1);
        assert_eq!((h.series(), h.contains(1), h.contains(5)), (1, false, true));
        h.drop_front(1);
        assert_eq!(h.series(), 0);
        assert!(h.last().is_none() && h.times().is_empty());
    }

    /// A series' samples in a model head: (tick position, value) per series.
    type Model = std::collections::BTreeMap<u32, Vec<(usize, f64)>>;

    fn xorshift(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    /// Compare every read of the head with the model (positions relative to the oldest
    /// tick held, times = (base + position) seconds).
    fn check(h: &Head, model: &Model, base: usize) {
        let n = h.times().len();
        assert_eq!(h.series(), model.len());
        assert_eq!(
            h.samples(),
            model.values().map(|v| v.len() as u64).sum::<u64>()
        );
        let ts = |p: usize| ((base + p) * 1000) as i64;
        for (&id, want) in model {
            let mut got = Vec::new();
            h.samples_of(id, i64::MIN, i64::MAX, &mut got);
            let want_ts: Vec<(i64, u64)> =
                want.iter().map(|&(p, v)| (ts(p), v.to_bits())).collect();
            let got_ts: Vec<(i64, u64)> = got.iter().map(|&(t, v)| (t, v.to_bits())).collect();
            assert_eq!(got_ts, want_ts, "series {id}");
            // Ranges: every window of three ticks.
            for p in 0..n {
                let (a, b) = (ts(p), ts(p + 2));
                let inside = want.iter().any(|&(q, _)| q >= p && q <= p + 2);
                assert_eq!(h.has(id, a, b), inside, "series {id} ticks {p}..={}", p + 2);
                let mut part = Vec::new();
                h.samples_of(id, a, b, &mut part);
                assert_eq!(
                    part.len(),
                    want.iter().filter(|&&(q, _)| q >= p && q <= p + 2).count()
                );
            }
        }
        // Whole ticks, as compaction rewrites the oldest row.
        for p in 0..n {
            let t = h.tick(p).unwrap();
            let want: Vec<(u32, u64)> = model
                .iter()
                .filter_map(|(&id, s)| {
                    s.iter()
                        .find(|&&(q, _)| q == p)
                        .map(|&(_, v)| (id, v.to_bits()))
                })
                .collect();
            let got: Vec<(u32, u64)> = t
                .ids
                .iter()
                .zip(&t.vals)
                .map(|(&i, v)| (i, v.to_bits()))
                .collect();
            assert_eq!(got, want, "tick {p}");
            assert_eq!(t.ts, ts(p));
        }
        assert!(h.tick(n).is_none());
        // Columns of the oldest k ticks, ascending by id.
        for k in [0, 1, n / 2, n] {
            let mut seen = Vec::new();
            h.columns(k, |id, idx, vals| {
                let want: Vec<(usize, f64)> =
                    model[&id].iter().copied().filter(|&(q, _)| q < k).collect();
                assert_eq!(
                    idx.iter().map(|&i| i as usize).collect::<Vec<_>>(),
                    want.iter().map(|w| w.0).collect::<Vec<_>>()
                );
                assert_eq!(
                    bits(vals),
                    want.iter().map(|w| w.1.to_bits()).collect::<Vec<_>>()
                );
                seen.push(id);
            });
            let want: Vec<u32> = model
                .iter()
                .filter(|(_, s)| s.iter().any(|&(q, _)| q < k))
                .map(|(&id, _)| id)
                .collect();
            assert_eq!(seen, want, "columns of {k} ticks");
        }
    }

    #[test]
    fn series_streams_match_a_model_through_churn_gaps_and_drops() {
        let specials = [
            0.0,
            -0.0,
            f64::NAN,
            f64::from_bits(0x7ff8_0000_0000_0001),
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from_bits(1),
            f64::from_bits(u64::MAX),
            1e300,
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut h = Head::default();
        let mut model = Model::new();
        let mut base = 0usize; // absolute number of the oldest tick held
        let mut counter = 0.0f64;
        for round in 0..6 {
            // Ticks with series that come and go, skip a few ticks or hundreds.
            for _ in 0..120 {
                let p = h.times().len();
                let mut ids = Vec::new();
                let mut vals = Vec::new();
                for id in 0..40u32 {
                    let r = xorshift(&mut seed);
                    let present = match id % 4 {
                        0 => true,
                        1 => !r.is_multiple_of(3),
                        2 => r.is_multiple_of(300), // rare: gaps of hundreds of ticks
                        _ => (p / 30) % 2 == 0,
                    };
                    if !present {
                        continue;
                    }
                    counter += (r % 1000) as f64 * 0.125;
                    let v = match r % 5 {
                        0 => 42.0,
                        1 => counter,
                        2 => specials[(r >> 8) as usize % specials.len()],
                        3 => f64::from_bits(xorshift(&mut seed)),
                        _ => (r % 7) as f64,
                    };
                    ids.push(id);
                    vals.push(v);
                    model.entry(id).or_default().push((p, v));
                }
                let ts = ((base + p) * 1000) as i64;
                let ids = h.share_ids(ids);
                h.push(HeadTick {
                    seq: (base + p) as i64,
                    ts,
                    ids,
                    vals,
                });
            }
            check(&h, &model, base);
            // Compaction drops a varying share of the oldest ticks.
            let drop = [1, 60, 119, 0, 200, 500][round];
            let drop = drop.min(h.times().len());
            h.drop_front(drop);
            base += drop;
            model.retain(|_, s| {
                s.retain(|&(q, _)| q >= drop);
                s.iter_mut().for_each(|e| e.0 -= drop);
                !s.is_empty()
            });
            check(&h, &model, base);
        }
    }

    #[test]
    fn a_steady_series_costs_a_few_bits_a_sample() {
        let mut h = Head::default();
        for seq in 0..720 {
            let vals = vec![7.0, seq as f64 * 4096.0, 0.25];
            h.push(tick(seq, vec![1, 2, 3], vals));
        }
        // Constant value: 2 bits a sample after the first; a counter: a short XOR.
        let size = |id: u32| h.streams[&id].bits.len();
        assert!(size(1) <= 8 + 720 / 4 + 1, "constant {}", size(1));
        assert!(size(2) < 720 * 3, "counter {}", size(2));
        assert!(size(3) <= 8 + 720 / 4 + 1);

        // A host-like head: 200 series, half constant, half counters, 720 ticks. The raw
        // values alone would be 720 × 200 × 8 bytes.
        let mut h = Head::default();
        let ids: Vec<u32> = (0..200).collect();
        for seq in 0..720 {
            let vals = ids
                .iter()
                .map(|&i| {
                    if i % 2 == 0 {
                        i as f64
                    } else {
                        (seq * i as i64) as f64
                    }
                })
                .collect();
            let ids = h.share_ids(ids.clone());
            h.push(HeadTick {
                seq,
                ts: seq * 1000,
                ids,
                vals,
            });
        }
        let raw = 720 * 200 * 8;
        assert!(
            h.bytes() * 4 < raw,
            "head {} bytes, raw values {raw}",
            h.bytes()
        );
    }
}
