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
            let mut times: HashMap<i64, Vec<i64>> = HashMap::new();
            let mut out = Vec::new();
            let mut total = 0usize;
            for (i, &id) in ids.iter().enumerate() {
                let mut samples = Vec::new();
                if !blocks.is_empty() {
                    read_chunks(conn, id, &blocks, &mut times, start, end, &mut samples)?;
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
            let (range, present): (Option<(i64, i64)>, Vec<bool>) = {
                let st = self.state();
                let ids_in: Vec<i64> = st
                    .blocks
                    .iter()
                    .filter(|b| b.max_ts >= start && b.min_ts <= end)
                    .map(|b| b.id)
                    .collect();
                let range = ids_in.first().copied().zip(ids_in.last().copied());
                let present = ids.iter().map(|&id| st.head.has(id, start, end)).collect();
                (range, present)
            };
            let mut out = Vec::new();
            let mut st = conn.prepare_cached(
                "SELECT 1 FROM chunk WHERE series_id = ?1 AND block_id BETWEEN ?2 AND ?3 LIMIT 1",
            )?;
            for (i, &id) in ids.iter().enumerate() {
                let has = present[i]
                    || match range {
                        Some((a, b)) => st.exists(params![id as i64, a, b])?,
                        None => false,
                    };
                if has {
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

/// Append the samples of series `id` in `[start, end]` from the snapshot's `blocks`.
fn read_chunks(
    conn: &Connection,
    id: u32,
    blocks: &[BlockMeta],
    times: &mut HashMap<i64, Vec<i64>>,
    start: i64,
    end: i64,
    out: &mut Vec<(i64, f64)>,
) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
        return Ok(());
    };
    let mut st = conn.prepare_cached(
        "SELECT block_id, data FROM chunk WHERE series_id = ?1 AND block_id BETWEEN ?2 AND ?3 ORDER BY block_id",
    )?;
    let mut rows = st.query(params![id as i64, first.id, last.id])?;
    while let Some(row) = rows.next()? {
        let block_id: i64 = row.get(0)?;
        let Ok(bi) = blocks.binary_search_by_key(&block_id, |b| b.id) else {
            continue;
        };
        let b = &blocks[bi];
        let data = row
            .get_ref(1)?
            .as_blob()
            .map_err(|e| StoreError::Corrupt(format!("chunk of series {id}: {e}")))?;
        let t = match times.entry(block_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let blob: Vec<u8> = conn
                    .prepare_cached("SELECT times FROM block WHERE id = ?1")?
                    .query_row(params![block_id], |r| r.get(0))?;
                let t = dod::decode(&blob).map_err(|_| {
                    StoreError::Corrupt(format!("block {block_id}: tick times do not decode"))
                })?;
                if t.len() != b.ticks as usize {
                    return Err(StoreError::Corrupt(format!(
                        "block {block_id}: tick count mismatch"
                    )));
                }
                e.insert(t)
            }
        };
        let d = chunk::decode(data, b.ticks).map_err(|e| {
            StoreError::Corrupt(format!("chunk of series {id} in block {block_id}: {e}"))
        })?;
        for (i, &v) in d.indices().zip(&d.values) {
            let ts = t[i as usize];
            if ts >= start && ts <= end {
                out.push((ts, v));
            }
        }
    }
    Ok(())
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
