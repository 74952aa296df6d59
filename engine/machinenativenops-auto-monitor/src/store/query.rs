//! Reading: series by matchers, samples from chunks and the head, label listings.
//!
//! A query takes one snapshot of the in-memory state (the blocks overlapping
//! its range and the head's samples) and then reads chunks of exactly those
//! blocks, so a block committed or deleted meanwhile is seen once or not at
//! all — never twice, never as a gap inside data that still exists.

use std::collections::HashMap;

use mno_promql::{Matcher, SelectError, SeriesData, Storage, StorageError};
use rusqlite::{Connection, params};

use super::series::{self, Labels};
use super::{BlockMeta, Store, StoreError, chunk, dod};

/// Budget exceeded while selecting.
struct OverBudget;

impl Store {
    /// Series matching every matcher with their samples in `[start, end]` (ms); series
    /// without samples in the range are left out. Sorted by labels.
    pub fn select_series(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<SeriesData>, StoreError> {
        match self.select_budget(matchers, start, end, usize::MAX)? {
            Ok(v) => Ok(v),
            Err(OverBudget) => Ok(Vec::new()),
        }
    }

    fn select_budget(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        budget: usize,
    ) -> Result<Result<Vec<SeriesData>, OverBudget>, StoreError> {
        if end < start {
            return Ok(Ok(Vec::new()));
        }
        self.with_reader(|conn| {
            let ids = series::matching_ids(conn, matchers)?;
            // Snapshot: blocks in range and head samples, under one read lock.
            let (blocks, mut head): (Vec<BlockMeta>, Vec<Vec<(i64, f64)>>) = {
                let st = self.state();
                let blocks = st
                    .blocks
                    .iter()
                    .filter(|b| b.max_ts >= start && b.min_ts <= end)
                    .copied()
                    .collect();
                let head = ids
                    .iter()
                    .map(|&id| {
                        let mut v = Vec::new();
                        st.head.samples_of(id, start, end, &mut v);
                        v
                    })
                    .collect();
                (blocks, head)
            };
            let mut reader = BlockReader::new(conn);
            let mut out = Vec::new();
            let mut total = 0usize;
            for (i, &id) in ids.iter().enumerate() {
                let mut samples = Vec::new();
                if !blocks.is_empty() {
                    reader.samples(id, &blocks, start, end, &mut samples)?;
                }
                samples.append(&mut head[i]);
                if samples.is_empty() {
                    continue;
                }
                total = total.saturating_add(samples.len());
                if total > budget {
                    return Ok(Err(OverBudget));
                }
                out.push(SeriesData {
                    labels: series::labels_of(conn, id)?,
                    samples,
                });
            }
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            Ok(Ok(out))
        })
    }

    /// Label sets of the series matching every matcher that have data in `[start, end]`
    /// (to block granularity for compacted data).
    pub fn series_in_range(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        self.with_reader(|conn| {
            let ids = series::matching_ids(conn, matchers)?;
            let (blocks, present): (Vec<BlockMeta>, Vec<bool>) = {
                let st = self.state();
                let blocks = st
                    .blocks
                    .iter()
                    .filter(|b| b.max_ts >= start && b.min_ts <= end)
                    .copied()
                    .collect();
                let present = ids.iter().map(|&id| st.head.has(id, start, end)).collect();
                (blocks, present)
            };
            let mut reader = BlockReader::new(conn);
            let mut out = Vec::new();
            for (i, &id) in ids.iter().enumerate() {
                if present[i] || reader.has_chunk(id, &blocks)? {
                    out.push(series::labels_of(conn, id)?);
                }
            }
            out.sort();
            Ok(out)
        })
    }

    /// Whether `[start, end]` covers everything stored (label listings can then skip the
    /// per-series range check).
    fn covers_all(&self, start: i64, end: i64) -> bool {
        let st = self.state();
        let oldest = st.blocks.first().map(|b| b.min_ts).or(st.head.oldest());
        let newest = st.head.newest().or(st.blocks.last().map(|b| b.max_ts));
        match (oldest, newest) {
            (Some(o), Some(n)) => start <= o && end >= n,
            _ => true,
        }
    }

    /// Distinct label names of matching series with data in the range, sorted.
    pub fn label_names_in(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, StoreError> {
        if matchers.is_empty() && self.covers_all(start, end) {
            return self.with_reader(|conn| {
                let mut st =
                    conn.prepare_cached("SELECT DISTINCT name FROM label ORDER BY name")?;
                let v = st
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(v)
            });
        }
        let mut names: Vec<String> = self
            .series_in_range(matchers, start, end)?
            .into_iter()
            .flat_map(|l| l.into_iter().map(|(n, _)| n))
            .collect();
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    /// Distinct non-empty values of label `name` among matching series with data in the
    /// range, sorted.
    pub fn label_values_in(
        &self,
        name: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, StoreError> {
        if matchers.is_empty() && self.covers_all(start, end) {
            return self.with_reader(|conn| series::label_values_of(conn, name));
        }
        Ok(mno_promql::storage::distinct_label_values(
            self.series_in_range(matchers, start, end)?,
            name,
        ))
    }
}

/// What one query has read of the blocks it touches: each block's tick times and, for
/// format-2 blocks, the directory of its chunk blob, plus one blob handle moved from
/// block to block (`sqlite3_blob_reopen` is much cheaper than opening a handle).
struct BlockReader<'c> {
    conn: &'c Connection,
    views: HashMap<i64, BlockView>,
    blob: Option<rusqlite::blob::Blob<'c>>,
}

struct BlockView {
    /// Tick times, decoded on first use (a presence check needs only the directory).
    times: Option<Vec<i64>>,
    /// Format 2: where each series' chunk is in the block's blob.
    dir: Option<chunk::Directory>,
}

impl<'c> BlockReader<'c> {
    fn new(conn: &'c Connection) -> Self {
        BlockReader {
            conn,
            views: HashMap::new(),
            blob: None,
        }
    }

    /// The directory of packed block `b`.
    fn dir(&mut self, b: &BlockMeta) -> Result<&chunk::Directory, StoreError> {
        let view = self.views.entry(b.id).or_insert(BlockView {
            times: None,
            dir: None,
        });
        if view.dir.is_none() {
            view.dir = Some(super::read_directory(self.conn, b.id)?);
        }
        view.dir
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt(format!("block {}: no chunk directory", b.id)))
    }

    /// The tick times of block `b`.
    fn times(&mut self, b: &BlockMeta) -> Result<&[i64], StoreError> {
        let view = self.views.entry(b.id).or_insert(BlockView {
            times: None,
            dir: None,
        });
        if view.times.is_none() {
            let blob: Vec<u8> = self
                .conn
                .prepare_cached("SELECT times FROM block WHERE id = ?1")?
                .query_row(params![b.id], |r| r.get(0))?;
            let t = dod::decode(&blob).map_err(|_| {
                StoreError::Corrupt(format!("block {}: tick times do not decode", b.id))
            })?;
            if t.len() != b.ticks as usize {
                return Err(StoreError::Corrupt(format!(
                    "block {}: tick count mismatch",
                    b.id
                )));
            }
            view.times = Some(t);
        }
        Ok(view.times.as_deref().unwrap_or_default())
    }

    /// Whether series `id` has a chunk in any of `blocks`.
    fn has_chunk(&mut self, id: u32, blocks: &[BlockMeta]) -> Result<bool, StoreError> {
        for b in blocks.iter().filter(|b| b.packed) {
            if self.dir(b)?.find(id).is_some() {
                return Ok(true);
            }
        }
        let legacy: Vec<&BlockMeta> = blocks.iter().filter(|b| !b.packed).collect();
        if let (Some(a), Some(z)) = (legacy.first(), legacy.last()) {
            let found = self
                .conn
                .prepare_cached(
                    "SELECT 1 FROM chunk WHERE series_id = ?1 AND block_id BETWEEN ?2 AND ?3 LIMIT 1",
                )
                .and_then(|mut st| st.exists(params![id as i64, a.id, z.id]));
            return no_legacy_table_is_empty(found, false);
        }
        Ok(false)
    }

    /// Append the samples of series `id` in `[start, end]` from the snapshot's `blocks`,
    /// in time order.
    fn samples(
        &mut self,
        id: u32,
        blocks: &[BlockMeta],
        start: i64,
        end: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<(), StoreError> {
        // Format-1 blocks all precede format-2 ones: the file was upgraded once.
        let legacy: Vec<BlockMeta> = blocks.iter().filter(|b| !b.packed).copied().collect();
        if !legacy.is_empty() {
            self.legacy_samples(id, &legacy, start, end, out)?;
        }
        let mut buf = Vec::new();
        for b in blocks.iter().filter(|b| b.packed) {
            let Some((off, len)) = self.dir(b)?.find(id) else {
                continue;
            };
            buf.resize(len, 0);
            match self.blob.as_mut() {
                Some(h) => h.reopen(b.id)?,
                None => {
                    self.blob = Some(self.conn.blob_open("main", "block", "chunks", b.id, true)?)
                }
            }
            if let Some(h) = self.blob.as_ref() {
                h.read_at_exact(&mut buf, off as usize)?;
            }
            self.push_chunk(id, b, &buf, start, end, out)?;
        }
        Ok(())
    }

    /// Decode one chunk of series `id` in block `b` and append its samples in range.
    fn push_chunk(
        &mut self,
        id: u32,
        b: &BlockMeta,
        data: &[u8],
        start: i64,
        end: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<(), StoreError> {
        let d = chunk::decode(data, b.ticks).map_err(|e| {
            StoreError::Corrupt(format!("chunk of series {id} in block {}: {e}", b.id))
        })?;
        let t = self.times(b)?;
        for (i, &v) in d.indices().zip(&d.values) {
            let ts = t[i as usize];
            if ts >= start && ts <= end {
                out.push((ts, v));
            }
        }
        Ok(())
    }

    /// Format-1 blocks: one `chunk` row per series and block, through its index.
    fn legacy_samples(
        &mut self,
        id: u32,
        blocks: &[BlockMeta],
        start: i64,
        end: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
            return Ok(());
        };
        let rows = self
            .conn
            .prepare_cached(
                "SELECT block_id, data FROM chunk WHERE series_id = ?1 AND block_id BETWEEN ?2 AND ?3 ORDER BY block_id",
            )
            .and_then(|mut st| {
                st.query_map(params![id as i64, first.id, last.id], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()
            });
        let rows = no_legacy_table_is_empty(rows, Vec::new())?;
        for (block_id, data) in rows {
            let Ok(bi) = blocks.binary_search_by_key(&block_id, |b| b.id) else {
                continue;
            };
            self.push_chunk(id, &blocks[bi], &data, start, end, out)?;
        }
        Ok(())
    }
}

/// Retention drops the format-1 `chunk` table with its last block; a query whose catalog
/// snapshot still lists that block reads nothing from it, as for any block deleted
/// meanwhile.
fn no_legacy_table_is_empty<T>(r: Result<T, rusqlite::Error>, empty: T) -> Result<T, StoreError> {
    match r {
        Err(e) if e.to_string().contains("no such table: chunk") => Ok(empty),
        r => Ok(r?),
    }
}

fn storage_err(e: StoreError) -> StorageError {
    StorageError(e.to_string())
}

impl Storage for Store {
    fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SeriesData>, StorageError> {
        self.select_series(matchers, start_ms, end_ms)
            .map_err(storage_err)
    }

    fn series(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Vec<(String, String)>>, StorageError> {
        self.series_in_range(matchers, start_ms, end_ms)
            .map_err(storage_err)
    }

    fn select_limited(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
        max_samples: usize,
    ) -> Result<Vec<SeriesData>, SelectError> {
        match self.select_budget(matchers, start_ms, end_ms, max_samples) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(OverBudget)) => Err(SelectError::TooManySamples),
            Err(e) => Err(SelectError::Storage(storage_err(e))),
        }
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, StorageError> {
        self.label_names_in(matchers, start_ms, end_ms)
            .map_err(storage_err)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, StorageError> {
        self.label_values_in(name, matchers, start_ms, end_ms)
            .map_err(storage_err)
    }
}
