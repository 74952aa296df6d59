//! Retention: delete blocks older than `retention_days`, then give the space back.
//!
//! Work is done in small steps (one block per transaction, a bounded number
//! of pages per incremental vacuum) so that the store thread can interleave
//! them with ticks and never hold ingestion up for more than one tick.
//! Series left without any chunk or head sample are deleted with their last
//! block, so the series count follows what is stored.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, series};

/// Pages freed per incremental-vacuum step (4 MiB with 4 KiB pages).
pub const VACUUM_STEP_PAGES: u32 = 1024;

impl Store {
    /// The oldest block if it is past retention at `now_ms`.
    pub fn expired_block(&self, now_ms: i64) -> Option<super::BlockMeta> {
        let cutoff = now_ms.saturating_sub(self.opts.retention_ms);
        self.state()
            .blocks
            .first()
            .copied()
            .filter(|b| b.max_ts < cutoff)
    }

    /// Delete the oldest block if it is past retention; `Ok(true)` when one was deleted.
    pub fn retention_step(&self, now_ms: i64) -> Result<bool, StoreError> {
        let Some(b) = self.expired_block(now_ms) else {
            return Ok(false);
        };
        let mut w = self.writer()?;
        // Under the writer lock: no tick can add a sample to a candidate meanwhile.
        let in_head = self.head_series();
        let (newer_packed, legacy_left): (Vec<super::BlockMeta>, bool) = {
            let st = self.state();
            (
                st.blocks
                    .iter()
                    .rev()
                    .filter(|x| x.packed && x.id != b.id)
                    .copied()
                    .collect(),
                st.legacy_chunks,
            )
        };
        let tx = w.conn.unchecked_transaction()?;
        let candidates: Vec<i64> = if b.packed {
            super::read_directory(&tx, b.id)?
                .ids
                .into_iter()
                .map(i64::from)
                .collect()
        } else {
            let c = tx
                .prepare_cached("SELECT series_id FROM chunk WHERE id BETWEEN ?1 AND ?2")?
                .query_map(params![b.first_chunk, b.last_chunk], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            tx.execute(
                "DELETE FROM chunk WHERE id BETWEEN ?1 AND ?2",
                params![b.first_chunk, b.last_chunk],
            )?;
            c
        };
        tx.execute("DELETE FROM block WHERE id = ?1", params![b.id])?;
        // Series of the deleted block that no other block or the head still holds. Newer
        // blocks first: a series that is still written is found in the newest one.
        let mut orphans: BTreeSet<u32> = candidates
            .iter()
            .map(|&id| id as u32)
            .filter(|id| !in_head.contains(id))
            .collect();
        for other in &newer_packed {
            if orphans.is_empty() {
                break;
            }
            for id in super::read_directory(&tx, other.id)?.ids {
                orphans.remove(&id);
            }
        }
        let mut legacy_now = legacy_left;
        if legacy_left {
            let mut more = tx.prepare_cached("SELECT 1 FROM chunk WHERE series_id = ?1 LIMIT 1")?;
            let mut kept = Vec::new();
            for &id in &orphans {
                if more.exists(params![id as i64])? {
                    kept.push(id);
                }
            }
            drop(more);
            for id in kept {
                orphans.remove(&id);
            }
            // The last format-1 block is gone: drop its table (and index) with it.
            let empty: Option<i64> = tx
                .query_row("SELECT 1 FROM chunk LIMIT 1", [], |r| r.get(0))
                .optional()?;
            if empty.is_none() {
                tx.execute_batch("DROP TABLE chunk")?;
                legacy_now = false;
            }
        }
        let mut gone = BTreeSet::new();
        for id in orphans.into_iter().map(i64::from) {
            let (name, text): (String, String) = tx
                .prepare_cached("SELECT name, labels FROM series WHERE id = ?1")?
                .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let mut del = tx.prepare_cached(
                "DELETE FROM label WHERE name = ?1 AND value = ?2 AND series_id = ?3",
            )?;
            del.execute(params![series::NAME_LABEL, name, id])?;
            for (k, v) in series::parse_canonical(&text).unwrap_or_default() {
                del.execute(params![k, v, id])?;
            }
            tx.execute("DELETE FROM series WHERE id = ?1", params![id])?;
            gone.insert(id as u32);
        }
        tx.commit()?;
        w.cache.forget(&gone);
        let series_left = w.cache.len() as u64;
        {
            let mut st = self.state_mut();
            st.blocks.retain(|x| x.id != b.id);
            st.block_samples -= b.samples;
            st.series = series_left;
            st.legacy_chunks = legacy_now;
        }
        drop(w);
        self.counters.blocks_deleted.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            block = b.id,
            max_ts = b.max_ts,
            samples = b.samples,
            series_deleted = gone.len(),
            "retention deleted a block"
        );
        Ok(true)
    }

    /// Pages on the free list (space retention freed that the file still holds).
    pub fn free_pages(&self) -> Result<u64, StoreError> {
        let w = self.writer()?;
        Ok(w.conn
            .query_row("PRAGMA freelist_count", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Return up to `pages` free pages to the file system; returns the pages still free.
    /// The file shrinks once the WAL is checkpointed, which this does when the list is empty.
    pub fn vacuum_step(&self, pages: u32) -> Result<u64, StoreError> {
        let w = self.writer()?;
        let free: i64 = w
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        if free == 0 {
            return Ok(0);
        }
        {
            // The pragma yields one row per page freed: it must be stepped to the end.
            let mut st = w
                .conn
                .prepare(&format!("PRAGMA incremental_vacuum({pages})"))?;
            let mut rows = st.query([])?;
            while rows.next()?.is_some() {}
        }
        let left: i64 = w
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        if left == 0 {
            // Truncation reaches the main file only through a checkpoint. PASSIVE never
            // waits for readers (a backup may be reading); a later one finishes the job.
            w.conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        Ok(left as u64)
    }
}

impl Store {
    /// Copy the whole WAL into the database file and truncate the WAL (waits for readers;
    /// for benchmarks, tests and tools, not for the store thread).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let w = self.writer()?;
        w.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}
