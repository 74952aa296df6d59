//! The compactor: turns the oldest head ticks into a block of compressed chunks.
//!
//! A block is cut when the head holds `block_max_ticks` ticks or spans
//! `block_ms`. The block row (tick times, every series' chunk in one blob and
//! the directory of that blob) and the removal of the compacted head rows are
//! one transaction, so a crash leaves either the head rows or the block, never
//! both or neither.
//!
//! Why one row per block rather than a row per chunk (format 1): SQLite packs
//! a large blob into overflow pages that are full but for the last one, while
//! rows of a few hundred bytes leave the tail of most leaf pages unused and a
//! row per chunk needs an index to be found by series. At the default 30 s
//! interval that was a quarter of the file (docs/storage.md).

use std::sync::atomic::Ordering;

use rusqlite::params;

use super::{BlockMeta, Store, StoreError, dod};
use super::{chunk, head};

impl Store {
    /// Number of head ticks that form the next block, if one is due.
    pub fn compaction_due(&self) -> Option<usize> {
        let st = self.state();
        let ticks = st.head.times();
        let oldest = ticks.front()?.ts;
        let newest = ticks.back()?.ts;
        let max = self.opts.block_max_ticks as usize;
        if ticks.len() >= max {
            return Some(max);
        }
        if newest - oldest >= self.opts.block_ms {
            return Some(ticks.partition_point(|t| t.ts < oldest + self.opts.block_ms));
        }
        None
    }

    /// Compact one block if one is due; `Ok(true)` when a block was written.
    pub fn compact_step(&self) -> Result<bool, StoreError> {
        match self.compaction_due() {
            Some(n) if n > 0 => self.compact_ticks(n).map(|_| true),
            _ => Ok(false),
        }
    }

    /// Compact the whole head (benchmarks, tests, `backup`-quality snapshots); returns the
    /// number of blocks written.
    pub fn compact_all(&self) -> Result<usize, StoreError> {
        let mut blocks = 0;
        loop {
            let n = match self.compaction_due() {
                Some(n) if n > 0 => n,
                _ => {
                    let st = self.state();
                    let ticks = st.head.times();
                    match ticks.front() {
                        None => return Ok(blocks),
                        Some(f) => ticks.partition_point(|t| t.ts < f.ts + self.opts.block_ms),
                    }
                }
            };
            self.compact_ticks(n.max(1))?;
            blocks += 1;
        }
    }

    /// Write the oldest `n` head ticks as one block.
    fn compact_ticks(&self, n: usize) -> Result<(), StoreError> {
        let w = self.writer()?;
        // The writer lock held here keeps appends out, so the head cannot change until the
        // block is written; the state's read lock is held only while the chunks are encoded,
        // one series at a time from the head's streams.
        let mut encoded: Vec<(u32, usize)> = Vec::new();
        let mut blob: Vec<u8> = Vec::new();
        let mut samples = 0u64;
        let (times, next) = {
            let st = self.state();
            let times: Vec<head::TickTime> = st.head.times().iter().take(n).copied().collect();
            st.head.columns(times.len(), |id, idx, vals| {
                let before = blob.len();
                blob.extend_from_slice(&chunk::encode(self.opts.codec, &chunk::runs_of(idx), vals));
                encoded.push((id, blob.len() - before));
                samples += vals.len() as u64;
            });
            let next = st.head.tick(times.len());
            (times, next)
        };
        let (Some(first), Some(last)) = (times.first(), times.last()) else {
            return Ok(());
        };
        let (min_ts, max_ts, last_seq) = (first.ts, last.ts, last.seq);
        let ticks: Vec<i64> = times.iter().map(|t| t.ts).collect();
        let directory = chunk::Directory::encode(encoded.iter().copied());
        let (first_chunk, last_chunk) = (0i64, -1i64);
        let tx = w.conn.unchecked_transaction()?;
        tx.prepare_cached(
            "INSERT INTO block (min_ts, max_ts, ticks, samples, first_chunk, last_chunk, times, series, chunks)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            min_ts,
            max_ts,
            times.len() as i64,
            samples as i64,
            first_chunk,
            last_chunk,
            dod::encode(&ticks),
            directory,
            blob
        ])?;
        let block_id = tx.last_insert_rowid();
        tx.execute("DELETE FROM head WHERE seq <= ?1", params![last_seq])?;
        // The oldest remaining row was written against a row just deleted: store it in full.
        if let Some(t) = &next {
            tx.prepare_cached("UPDATE head SET data = ?1 WHERE seq = ?2")?
                .execute(params![head::encode(&t.ids, &t.vals, None), t.seq])?;
        }
        tx.commit()?;
        let meta = BlockMeta {
            id: block_id,
            min_ts,
            max_ts,
            ticks: times.len() as u32,
            samples,
            first_chunk,
            last_chunk,
            packed: true,
        };
        {
            let mut st = self.state_mut();
            st.head.drop_front(times.len());
            st.blocks.push(meta);
            st.block_samples += samples;
        }
        drop(w);
        self.counters
            .blocks_compacted
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            block = block_id,
            ticks = times.len(),
            samples,
            series = encoded.len(),
            "block compacted"
        );
        Ok(())
    }
}
