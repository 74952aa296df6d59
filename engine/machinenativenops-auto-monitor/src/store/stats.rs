//! Store statistics: `/api/v1/status/tsdb` and the `mno_store_*` families in `/metrics`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::{Store, StoreError};
use crate::metrics::Family;

/// A snapshot of what the store holds and what it has done since it was opened.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    /// Series in the index.
    pub series: u64,
    /// Samples stored (head and blocks).
    pub samples: u64,
    /// Samples in the head (not yet compacted).
    pub head_samples: u64,
    /// Ticks in the head.
    pub head_ticks: u64,
    /// Compacted blocks.
    pub blocks: u64,
    /// Size of the database file and its WAL.
    pub bytes_on_disk: u64,
    /// `bytes_on_disk / samples` (0 when empty).
    pub bytes_per_sample: f64,
    /// Oldest sample time, ms.
    pub oldest_ms: Option<i64>,
    /// Newest sample time, ms.
    pub newest_ms: Option<i64>,
    /// Ticks appended since start.
    pub ticks_appended: u64,
    /// Failed writes since start.
    pub write_errors: u64,
    /// Blocks compacted since start.
    pub blocks_compacted: u64,
    /// Blocks deleted by retention since start.
    pub blocks_deleted: u64,
    /// Backups taken since start.
    pub backups: u64,
    /// Backups that failed since start.
    pub backup_failures: u64,
    /// Time of the newest backup, ms (0 if there is none).
    pub last_backup_ms: u64,
    /// Failures of compaction, retention and vacuum (in [`super::Task`] order) since start.
    pub maintenance_errors: [u64; 3],
    /// Time of each task's last failure, ms (0 if none), in [`super::Task`] order.
    pub maintenance_last_error_ms: [u64; 3],
    /// Ticks whose wall-clock time was at or before the newest stored tick (stored 1 ms
    /// after it instead).
    pub clock_backwards: u64,
    /// Samples dropped by the per-tick series limit.
    pub series_dropped_tick_limit: u64,
    /// Samples of new series dropped by the head series limit.
    pub series_dropped_head_limit: u64,
    /// Series with a sample in the head.
    pub head_series: u64,
    /// Memory the head's compressed sample streams hold, in bytes.
    pub head_bytes: u64,
}

impl Store {
    /// Current statistics (cheap: memory and two `stat` calls).
    pub fn stats(&self) -> Stats {
        let (
            (series, head_samples, head_ticks, blocks, block_samples),
            (oldest, newest, head_series, head_bytes),
        ) = {
            let st = self.state();
            (
                (
                    st.series,
                    st.head.samples(),
                    st.head.times().len() as u64,
                    st.blocks.len() as u64,
                    st.block_samples,
                ),
                (
                    st.blocks.first().map(|b| b.min_ts).or(st.head.oldest()),
                    st.head.newest().or(st.blocks.last().map(|b| b.max_ts)),
                    st.head.series() as u64,
                    st.head.bytes(),
                ),
            )
        };
        let size = |suffix: &str| {
            let mut p = self.path().as_os_str().to_owned();
            p.push(suffix);
            std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
        };
        let bytes = size("") + size("-wal");
        let samples = head_samples + block_samples;
        let c = &self.counters;
        Stats {
            series,
            samples,
            head_samples,
            head_ticks,
            blocks,
            bytes_on_disk: bytes,
            bytes_per_sample: if samples == 0 {
                0.0
            } else {
                bytes as f64 / samples as f64
            },
            oldest_ms: oldest,
            newest_ms: newest,
            ticks_appended: c.ticks_appended.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
            blocks_compacted: c.blocks_compacted.load(Ordering::Relaxed),
            blocks_deleted: c.blocks_deleted.load(Ordering::Relaxed),
            backups: c.backups.load(Ordering::Relaxed),
            backup_failures: c.backup_failures.load(Ordering::Relaxed),
            last_backup_ms: c.last_backup_ms.load(Ordering::Relaxed),
            maintenance_errors: std::array::from_fn(|i| c.task_errors[i].load(Ordering::Relaxed)),
            maintenance_last_error_ms: std::array::from_fn(|i| {
                c.task_last_error_ms[i].load(Ordering::Relaxed)
            }),
            clock_backwards: c.clock_backwards.load(Ordering::Relaxed),
            series_dropped_tick_limit: c.dropped_tick_limit.load(Ordering::Relaxed),
            series_dropped_head_limit: c.dropped_head_limit.load(Ordering::Relaxed),
            head_series,
            head_bytes,
        }
    }

    /// The `data` object of `GET /api/v1/status/tsdb`: Prometheus' `headStats` plus the
    /// store's own figures and the ten metric names with the most series.
    pub fn tsdb_status(&self) -> Result<Value, StoreError> {
        let s = self.stats();
        let (head_min, head_max) = {
            let st = self.state();
            (st.head.oldest(), st.head.newest())
        };
        let top: Vec<Value> = self.with_reader(|conn| {
            let mut q = conn.prepare_cached(
                "SELECT name, count(*) AS n FROM series GROUP BY name ORDER BY n DESC, name LIMIT 10",
            )?;
            let v = q
                .query_map([], |r| {
                    Ok(json!({"name": r.get::<_, String>(0)?, "value": r.get::<_, i64>(1)?}))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })?;
        Ok(json!({
            "headStats": {
                "numSeries": s.series,
                "numSamples": s.head_samples,
                "minTime": head_min,
                "maxTime": head_max,
            },
            "seriesCount": s.series,
            "sampleCount": s.samples,
            "headSampleCount": s.head_samples,
            "blockCount": s.blocks,
            "bytesOnDisk": s.bytes_on_disk,
            "bytesPerSample": s.bytes_per_sample,
            "oldestTimestamp": s.oldest_ms,
            "newestTimestamp": s.newest_ms,
            "seriesCountByMetricName": top,
        }))
    }
}

impl Stats {
    /// The statistics as `mno_store_*` families.
    pub fn families(&self) -> Vec<Family> {
        let g = |name: &str, help: &str, v: f64| Family::gauge(name, help).with(&[], v);
        let c = |name: &str, help: &str, v: u64| Family::counter(name, help).with(&[], v as f64);
        let mut f = vec![
            g(
                "mno_store_series",
                "Series in the local store.",
                self.series as f64,
            ),
            g(
                "mno_store_samples",
                "Samples in the local store (head and compacted blocks).",
                self.samples as f64,
            ),
            g(
                "mno_store_head_samples",
                "Samples in the store's head, not yet compacted.",
                self.head_samples as f64,
            ),
            g(
                "mno_store_blocks",
                "Compacted blocks in the local store.",
                self.blocks as f64,
            ),
            g(
                "mno_store_bytes",
                "Size of the store's database file and WAL, in bytes.",
                self.bytes_on_disk as f64,
            ),
            g(
                "mno_store_bytes_per_sample",
                "Bytes on disk per stored sample.",
                self.bytes_per_sample,
            ),
            c(
                "mno_store_ticks_appended_total",
                "Collection ticks written to the store.",
                self.ticks_appended,
            ),
            c(
                "mno_store_write_errors_total",
                "Store writes that failed.",
                self.write_errors,
            ),
            c(
                "mno_store_blocks_compacted_total",
                "Blocks written by the compactor.",
                self.blocks_compacted,
            ),
            c(
                "mno_store_blocks_deleted_total",
                "Blocks deleted by retention.",
                self.blocks_deleted,
            ),
            c(
                "mno_store_backups_total",
                "Online backups taken.",
                self.backups,
            ),
            c(
                "mno_store_backup_failures_total",
                "Online backups that failed.",
                self.backup_failures,
            ),
        ];
        let mut errors = Family::counter(
            "mno_store_maintenance_errors_total",
            "Failed store maintenance steps by task (compaction, retention, vacuum); a failing \
             task is retried with back-off and never stops the others.",
        );
        let mut last_error = Family::gauge(
            "mno_store_maintenance_last_error_timestamp_seconds",
            "Time of the last failure of each store maintenance task (0: none since start).",
        );
        for t in super::Task::ALL {
            let lab = [("task", t.name())];
            errors = errors.with(&lab, self.maintenance_errors[t as usize] as f64);
            last_error = last_error.with(
                &lab,
                self.maintenance_last_error_ms[t as usize] as f64 / 1000.0,
            );
        }
        f.push(errors);
        f.push(last_error);
        f.push(c(
            "mno_store_clock_backwards_total",
            "Ticks whose wall-clock time was at or before the newest stored tick; each was \
             stored 1 ms after it.",
            self.clock_backwards,
        ));
        f.push(
            Family::counter(
                "mno_store_series_dropped_total",
                "Samples not stored because a series limit was reached, by limit \
                 (tick: database.max_series_per_tick, head: database.max_head_series).",
            )
            .with(
                &[("reason", "tick_limit")],
                self.series_dropped_tick_limit as f64,
            )
            .with(
                &[("reason", "head_limit")],
                self.series_dropped_head_limit as f64,
            ),
        );
        f.push(g(
            "mno_store_head_series",
            "Series with a sample in the store's head (counted against database.max_head_series).",
            self.head_series as f64,
        ));
        f.push(g(
            "mno_store_head_bytes",
            "Memory the store's head holds for its samples (compressed per series), in bytes.",
            self.head_bytes as f64,
        ));
        if let (Some(o), Some(n)) = (self.oldest_ms, self.newest_ms) {
            f.push(g(
                "mno_store_oldest_timestamp_seconds",
                "Time of the oldest stored sample.",
                o as f64 / 1000.0,
            ));
            f.push(g(
                "mno_store_newest_timestamp_seconds",
                "Time of the newest stored sample.",
                n as f64 / 1000.0,
            ));
        }
        if self.last_backup_ms > 0 {
            f.push(g(
                "mno_store_last_backup_timestamp_seconds",
                "Time of the last successful online backup.",
                self.last_backup_ms as f64 / 1000.0,
            ));
        }
        f
    }
}

/// A source of the store's families for every tick (they describe the previous write).
pub fn family_source(store: Arc<Store>) -> crate::agent::FamilySource {
    Arc::new(move || store.stats().families())
}
