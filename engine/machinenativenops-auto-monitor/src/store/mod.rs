//! The local time-series store: SQLite (WAL) with a head and compressed chunks.
//!
//! ```text
//! tick batch ──append──▶ head table (one row per tick, one transaction)  + in-memory head
//!                              │ compactor (background, one block at a time)
//!                              ▼
//!                        block (tick times, delta-of-delta) + chunk per series (values, pco)
//!                              │ retention (older than retention_days) + incremental vacuum
//!                              ▼
//!                        deleted, space returned to the file system
//! ```
//!
//! Every series of a tick shares the tick's timestamp, so a *block* stores the
//! times of its ticks once and each series' *chunk* stores only which of those
//! ticks it has (runs of indices) and its values. Queries read the blocks
//! overlapping the range plus the head, under one snapshot of the in-memory
//! catalog so a block being written or deleted never shows twice or not at
//! all. One writer (the store thread in [`worker`]) appends, compacts, applies
//! retention and schedules backups; readers use their own connections.
//! The layout and the measurements behind it are in docs/storage.md.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::SystemTime;

use rusqlite::{Connection, params};

pub mod backup;
pub mod bits;
pub mod chunk;
pub mod compactor;
pub mod dod;
pub mod gorilla;
pub mod head;
pub mod query;
pub mod retention;
pub mod schema;
pub mod series;
pub mod stats;
pub mod worker;

pub use chunk::Codec;
pub use stats::Stats;

use head::{Head, HeadTick};
use series::SeriesCache;

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Stored data does not decode.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// Another process holds the database.
    #[error("{0}")]
    Locked(String),
    /// The request cannot be honoured (bad file, out-of-order tick, …).
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// How the store behaves; built from the `database` configuration section.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOptions {
    /// Blocks whose newest sample is older than this many milliseconds are deleted.
    pub retention_ms: i64,
    /// Longest time span of a block, milliseconds.
    pub block_ms: i64,
    /// Most ticks in a block (bounds head memory at short intervals).
    pub block_max_ticks: u32,
    /// Codec of new chunks.
    pub codec: Codec,
    /// Online backups: `None` when disabled.
    pub backup: Option<backup::BackupOptions>,
    /// Most series one tick stores; the rest of the tick is dropped and counted.
    pub max_series_per_tick: usize,
    /// Most series the head holds; samples of further new series are dropped and counted.
    pub max_head_series: usize,
}

/// Default of both series limits.
pub const DEFAULT_SERIES_LIMIT: usize = 100_000;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            retention_ms: 30 * 86_400_000,
            block_ms: 7_200_000,
            block_max_ticks: 720,
            codec: Codec::CHOSEN,
            backup: None,
            max_series_per_tick: DEFAULT_SERIES_LIMIT,
            max_head_series: DEFAULT_SERIES_LIMIT,
        }
    }
}

impl StoreOptions {
    /// Options from the configuration's `database` section.
    pub fn from_config(db: &crate::config::DatabaseConfig) -> StoreOptions {
        StoreOptions {
            retention_ms: db.retention_days.max(1).saturating_mul(86_400_000),
            block_ms: db.chunk_seconds.max(1).saturating_mul(1000),
            block_max_ticks: db.chunk_max_samples.clamp(1, u32::MAX as i64) as u32,
            codec: Codec::CHOSEN,
            backup: db.backup_enabled.then(|| backup::BackupOptions {
                interval_ms: db.backup_interval.max(1).saturating_mul(1000),
                keep: db.backup_keep.max(1) as usize,
            }),
            max_series_per_tick: db.max_series_per_tick.max(1) as usize,
            max_head_series: db.max_head_series.max(1) as usize,
        }
    }
}

/// A compacted block as the catalog knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMeta {
    /// Row id (ascending with time).
    pub id: i64,
    /// Time of the first tick.
    pub min_ts: i64,
    /// Time of the last tick.
    pub max_ts: i64,
    /// Ticks in the block.
    pub ticks: u32,
    /// Samples in all its chunks.
    pub samples: u64,
    /// Format-1 blocks: row ids of its chunks in the `chunk` table, first..=last.
    pub first_chunk: i64,
    /// See `first_chunk`.
    pub last_chunk: i64,
    /// Format 2: the chunks are in the block row (`chunks`, directory in `series`).
    pub packed: bool,
}

/// What readers see: the head and the block catalog, swapped together.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub head: Head,
    pub blocks: Vec<BlockMeta>,
    pub block_samples: u64,
    pub series: u64,
    /// The file still has the format-1 `chunk` table (blocks written before the upgrade).
    pub legacy_chunks: bool,
}

/// The single writer's connection and caches.
pub(crate) struct Writer {
    pub conn: Connection,
    pub cache: SeriesCache,
    /// The previous tick came at or before the newest stored one (warn once per episode).
    pub clock_behind: bool,
    /// The previous tick dropped series over a limit (warn once per episode).
    pub dropping: bool,
}

/// Counters shown in stats and `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub ticks_appended: AtomicU64,
    pub samples_appended: AtomicU64,
    pub write_errors: AtomicU64,
    pub blocks_compacted: AtomicU64,
    pub blocks_deleted: AtomicU64,
    pub backups: AtomicU64,
    pub backup_failures: AtomicU64,
    pub last_backup_ms: AtomicU64,
    /// Failures per maintenance task, indexed by [`Task`].
    pub task_errors: [AtomicU64; 3],
    /// Time of each task's last failure, ms (0: none), indexed by [`Task`].
    pub task_last_error_ms: [AtomicU64; 3],
    /// Ticks whose wall-clock time was at or before the newest stored tick.
    pub clock_backwards: AtomicU64,
    /// Samples of series dropped by the per-tick series limit.
    pub dropped_tick_limit: AtomicU64,
    /// Samples of new series dropped by the head series limit.
    pub dropped_head_limit: AtomicU64,
}

impl Counters {
    /// Count a failed maintenance task and remember when it failed.
    pub fn task_failed(&self, task: Task) {
        self.task_errors[task as usize].fetch_add(1, Ordering::Relaxed);
        self.task_last_error_ms[task as usize]
            .store(unix_ms(SystemTime::now()).max(1) as u64, Ordering::Relaxed);
    }
}

/// A background maintenance task of the store thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Turning head ticks into a compressed block.
    Compaction = 0,
    /// Deleting blocks past retention.
    Retention = 1,
    /// Returning freed pages to the file system.
    Vacuum = 2,
}

impl Task {
    /// Every task, in index order.
    pub const ALL: [Task; 3] = [Task::Compaction, Task::Retention, Task::Vacuum];

    /// The `task` label value.
    pub fn name(self) -> &'static str {
        match self {
            Task::Compaction => "compaction",
            Task::Retention => "retention",
            Task::Vacuum => "vacuum",
        }
    }
}

/// The store. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Store {
    path: PathBuf,
    opts: StoreOptions,
    writer: Option<Mutex<Writer>>,
    state: RwLock<State>,
    readers: Mutex<Vec<Connection>>,
    pub(crate) counters: Counters,
    _lock: Option<backup::LockFile>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("writable", &self.writer.is_some())
            .finish()
    }
}

/// One sample to append: metric name, labels (any order), value.
pub type SampleRef<'a> = (&'a str, &'a [(String, String)], f64);

/// Result of appending one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Tick time, ms.
    pub ts: i64,
    /// Samples stored (duplicates within the tick dropped).
    pub samples: usize,
    /// Samples dropped because a series limit was reached.
    pub dropped: usize,
    /// Order-independent digest of (series, value) pairs: see [`tick_digest`].
    pub digest: u64,
}

/// Digest of one sample, summed (wrapping) over a tick: the crash test compares the sum
/// logged at commit with the one recomputed from what a query returns.
pub fn sample_digest(series_hash: u64, value: f64) -> u64 {
    // splitmix64 finaliser: sums of these do not cancel the way plain XORs of labels would.
    let mut z = series_hash ^ value.to_bits().rotate_left(17);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Digest of a tick from its series' full label sets (as queries return them) and values.
pub fn tick_digest<'a>(samples: impl IntoIterator<Item = (&'a [(String, String)], f64)>) -> u64 {
    samples.into_iter().fold(0u64, |acc, (labels, v)| {
        let name = labels
            .iter()
            .find(|(k, _)| k == series::NAME_LABEL)
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let text = series::canonical(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        acc.wrapping_add(sample_digest(
            series::fnv1a(&[name.as_bytes(), text.as_bytes()]),
            v,
        ))
    })
}

/// Milliseconds since the Unix epoch of a system time (0 before the epoch).
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Open the store at `path` for writing: lock it, check it (restoring the newest good
    /// backup if it is damaged), and load the head and block catalog.
    pub fn open(path: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        let lock = backup::LockFile::acquire(path)?;
        backup::recover_if_damaged(path)?;
        backup::remove_partial_backups(path);
        let conn = schema::open_writer(path)?;
        let cache = SeriesCache::load(&conn)?;
        let state = load_state(&conn)?;
        Ok(Store {
            path: path.to_path_buf(),
            opts,
            writer: Some(Mutex::new(Writer {
                conn,
                cache,
                clock_behind: false,
                dropping: false,
            })),
            state: RwLock::new(state),
            readers: Mutex::new(Vec::new()),
            counters: Counters::default(),
            _lock: Some(lock),
        })
    }

    /// Open an existing store for queries only (another process may be writing it).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Invalid(format!(
                "{}: no such database",
                path.display()
            )));
        }
        let conn = schema::open_reader(path)?;
        let state = load_state(&conn)?;
        Ok(Store {
            path: path.to_path_buf(),
            opts: StoreOptions::default(),
            writer: None,
            state: RwLock::new(state),
            readers: Mutex::new(vec![conn]),
            counters: Counters::default(),
            _lock: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options in force.
    pub fn options(&self) -> &StoreOptions {
        &self.opts
    }

    pub(crate) fn writer(&self) -> Result<MutexGuard<'_, Writer>, StoreError> {
        self.writer
            .as_ref()
            .ok_or_else(|| StoreError::Invalid("the store is open read-only".into()))?
            .lock()
            .map_err(|_| StoreError::Invalid("a store writer panicked".into()))
    }

    pub(crate) fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `f` with a read connection from the pool.
    pub(crate) fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => schema::open_reader(&self.path)?,
        };
        // One read transaction: every statement of the query sees the same snapshot.
        let r = conn
            .execute_batch("BEGIN DEFERRED")
            .map_err(StoreError::from)
            .and_then(|_| {
                let r = f(&conn);
                let end = if r.is_ok() { "COMMIT" } else { "ROLLBACK" };
                conn.execute_batch(end)?;
                r
            });
        if !conn.is_autocommit() {
            // A failed COMMIT must not leave the pooled connection inside a transaction.
            let _ = conn.execute_batch("ROLLBACK");
        }
        let mut pool = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        // Two idle connections, each with its page cache and schema, cover the agent's one
        // tokio worker; a burst of concurrent queries opens more and closes them after.
        if pool.len() < 2 {
            pool.push(conn);
        }
        r
    }

    /// Append one collection tick.
    pub fn append_batch(&self, batch: &crate::metrics::Batch) -> Result<Appended, StoreError> {
        let ts = unix_ms(batch.collected_at);
        self.append(
            ts,
            batch.families.iter().flat_map(|f| {
                f.samples
                    .iter()
                    .map(move |s| (f.name.as_str(), s.labels.as_slice(), s.value))
            }),
        )
    }

    /// Append one tick of samples at `ts` (ms) in one transaction.
    ///
    /// Tick times in the store only go forward. A tick at or before the newest stored tick
    /// (the wall clock was stepped back) is stored 1 ms after it instead of being refused,
    /// and counted in `mno_store_clock_backwards_total`: storage goes on, in order, and the
    /// ticks take their wall-clock times again once the clock has passed the newest one.
    /// [`Appended::ts`] is the time the tick was stored at.
    pub fn append<'a>(
        &self,
        ts: i64,
        samples: impl IntoIterator<Item = SampleRef<'a>>,
    ) -> Result<Appended, StoreError> {
        let mut w = self.writer()?;
        let last = {
            let st = self.state();
            st.head.newest().or(st.blocks.last().map(|b| b.max_ts))
        };
        let stored_ts = match last.filter(|l| ts <= *l) {
            Some(last) => {
                self.counters
                    .clock_backwards
                    .fetch_add(1, Ordering::Relaxed);
                if !w.clock_behind {
                    tracing::warn!(
                        tick_ms = ts,
                        newest_stored_ms = last,
                        behind_ms = last - ts,
                        "the clock is at or before the newest stored tick (stepped back?); \
                         storing ticks 1 ms after the newest until it catches up"
                    );
                }
                w.clock_behind = true;
                last.saturating_add(1)
            }
            None => {
                if w.clock_behind {
                    tracing::info!(
                        tick_ms = ts,
                        "the clock is past the newest stored tick again"
                    );
                }
                w.clock_behind = false;
                ts
            }
        };
        let r = self.append_locked(&mut w, stored_ts, samples);
        if r.is_err() {
            self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn append_locked<'a>(
        &self,
        w: &mut Writer,
        ts: i64,
        samples: impl IntoIterator<Item = SampleRef<'a>>,
    ) -> Result<Appended, StoreError> {
        let Writer {
            conn,
            cache,
            dropping,
            ..
        } = w;
        let tx = conn.unchecked_transaction()?;
        let admitted = self.admit(&tx, cache, samples);
        let (mut pairs, dropped) = match admitted {
            Ok(a) => a,
            Err(e) => {
                drop(tx);
                cache.rollback();
                return Err(e);
            }
        };
        pairs.sort_by_key(|p| p.0);
        let ids: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        let vals: Vec<f64> = pairs.iter().map(|p| p.2).collect();
        let digest = pairs
            .iter()
            .fold(0u64, |acc, p| acc.wrapping_add(sample_digest(p.1, p.2)));
        // Against the previous head tick (the previous row): the in-memory head is pushed
        // only after its row commits, under this same writer lock.
        let data = {
            let st = self.state();
            head::encode(&ids, &vals, st.head.last())
        };
        let written: Result<i64, rusqlite::Error> = (|| {
            tx.prepare_cached("INSERT INTO head (ts, data) VALUES (?1, ?2)")?
                .execute(params![ts, data])?;
            let seq = tx.last_insert_rowid();
            tx.commit()?;
            Ok(seq)
        })();
        let seq = match written {
            Ok(s) => s,
            Err(e) => {
                cache.rollback();
                return Err(e.into());
            }
        };
        cache.commit();
        let n = ids.len();
        let series_count = cache.len() as u64;
        {
            let mut st = self.state_mut();
            let ids = st.head.share_ids(ids);
            st.head.push(HeadTick { seq, ts, ids, vals });
            st.series = series_count;
        }
        self.counters.ticks_appended.fetch_add(1, Ordering::Relaxed);
        self.counters
            .samples_appended
            .fetch_add(n as u64, Ordering::Relaxed);
        let total = dropped.tick + dropped.head;
        self.counters
            .dropped_tick_limit
            .fetch_add(dropped.tick as u64, Ordering::Relaxed);
        self.counters
            .dropped_head_limit
            .fetch_add(dropped.head as u64, Ordering::Relaxed);
        if total > 0 && !*dropping {
            tracing::warn!(
                stored = n,
                dropped_tick_limit = dropped.tick,
                dropped_head_limit = dropped.head,
                max_series_per_tick = self.opts.max_series_per_tick,
                max_head_series = self.opts.max_head_series,
                "series limit reached: samples of further series are dropped \
                 (mno_store_series_dropped_total)"
            );
        }
        *dropping = total > 0;
        Ok(Appended {
            ts,
            samples: n,
            dropped: total,
            digest,
        })
    }

    /// Resolve a tick's samples to series, applying the series limits: series already in
    /// the head come first, then series the index knows, then new ones, each group in the
    /// order given; a sample is dropped when the tick already holds `max_series_per_tick`
    /// series, or when its series is not in the head and the head holds `max_head_series`.
    /// Only admitted new series are created. The same series twice keeps the first value.
    fn admit<'a>(
        &self,
        tx: &Connection,
        cache: &mut SeriesCache,
        samples: impl IntoIterator<Item = SampleRef<'a>>,
    ) -> Result<(Vec<Admitted>, Dropped), StoreError> {
        let mut pairs: Vec<Admitted> = Vec::new();
        let mut known: Vec<Admitted> = Vec::new();
        let mut unknown: Vec<SampleRef<'a>> = Vec::new();
        let head_series = {
            let st = self.state();
            for s @ (name, labels, v) in samples {
                match cache.find(name, labels) {
                    Some((id, hash)) if st.head.contains(id) => pairs.push((id, hash, v)),
                    Some((id, hash)) => known.push((id, hash, v)),
                    None => unknown.push(s),
                }
            }
            st.head.series()
        };
        let (tick_cap, head_cap) = (self.opts.max_series_per_tick, self.opts.max_head_series);
        let mut dropped = Dropped::default();
        // Stable sort: of the same series twice, the first sample stays.
        pairs.sort_by_key(|p| p.0);
        pairs.dedup_by_key(|p| p.0);
        if pairs.len() > tick_cap {
            dropped.tick += pairs.len() - tick_cap;
            pairs.truncate(tick_cap);
        }
        if known.is_empty() && unknown.is_empty() {
            return Ok((pairs, dropped));
        }
        let mut added = std::collections::HashSet::new();
        // Whether one more series outside the head fits; counts the drop when it does not.
        let room = |stored: usize, added: usize, dropped: &mut Dropped| {
            if stored >= tick_cap {
                dropped.tick += 1;
                false
            } else if head_series + added >= head_cap {
                dropped.head += 1;
                false
            } else {
                true
            }
        };
        for (id, hash, v) in known {
            if added.contains(&id) {
                continue;
            }
            if room(pairs.len(), added.len(), &mut dropped) {
                added.insert(id);
                pairs.push((id, hash, v));
            }
        }
        for (name, labels, v) in unknown {
            // Created earlier in this tick (the same new series twice).
            if let Some((id, _)) = cache.find(name, labels)
                && added.contains(&id)
            {
                continue;
            }
            if room(pairs.len(), added.len(), &mut dropped) {
                let (id, hash) = cache.resolve(tx, name, labels)?;
                added.insert(id);
                pairs.push((id, hash, v));
            }
        }
        Ok((pairs, dropped))
    }

    /// Series ids present in the head (for series garbage collection).
    pub(crate) fn head_series(&self) -> BTreeSet<u32> {
        let st = self.state();
        st.head.series_ids().collect()
    }
}

/// A sample admitted to a tick: series id, series hash, value.
type Admitted = (u32, u64, f64);

/// Samples of one tick dropped by each series limit.
#[derive(Debug, Default, Clone, Copy)]
struct Dropped {
    tick: usize,
    head: usize,
}

/// The chunk directory of packed (format-2) block `id`, checked against its blob's length.
pub(crate) fn read_directory(conn: &Connection, id: i64) -> Result<chunk::Directory, StoreError> {
    let (dir, blob_len): (Vec<u8>, i64) = conn
        .prepare_cached("SELECT series, length(chunks) FROM block WHERE id = ?1")?
        .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    chunk::Directory::decode(&dir, blob_len.max(0) as u64)
        .map_err(|e| StoreError::Corrupt(format!("block {id}: chunk directory: {e}")))
}

/// Read the block catalog and replay the head table into memory.
fn load_state(conn: &Connection) -> Result<State, StoreError> {
    let mut st = State {
        legacy_chunks: schema::has_legacy_chunks(conn)?,
        ..State::default()
    };
    let packed = if schema::has_packed_blocks(conn)? {
        "chunks IS NOT NULL"
    } else {
        "0"
    };
    let mut q = conn.prepare(&format!(
        "SELECT id, min_ts, max_ts, ticks, samples, first_chunk, last_chunk, {packed} FROM block ORDER BY id"
    ))?;
    let blocks = q.query_map([], |r| {
        Ok(BlockMeta {
            id: r.get(0)?,
            min_ts: r.get(1)?,
            max_ts: r.get(2)?,
            ticks: r.get::<_, i64>(3)? as u32,
            samples: r.get::<_, i64>(4)? as u64,
            first_chunk: r.get(5)?,
            last_chunk: r.get(6)?,
            packed: r.get(7)?,
        })
    })?;
    for b in blocks {
        let b = b?;
        st.block_samples += b.samples;
        st.blocks.push(b);
    }
    // A format-1 file opened read-only (not upgraded) has rows without the kind byte.
    let v1 = conn
        .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
            r.get::<_, String>(0)
        })
        .is_ok_and(|f| f == "1");
    let mut q = conn.prepare("SELECT seq, ts, data FROM head ORDER BY seq")?;
    let rows = q.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    for row in rows {
        let (seq, ts, data) = row?;
        let decoded = if v1 {
            head::decode_v1(&data)
        } else {
            head::decode(&data, st.head.last())
        };
        let (ids, vals) =
            decoded.map_err(|_| StoreError::Corrupt(format!("head tick {seq} does not decode")))?;
        let ids = st.head.share_ids(ids);
        st.head.push(HeadTick { seq, ts, ids, vals });
    }
    st.series = conn.query_row("SELECT count(*) FROM series", [], |r| r.get::<_, i64>(0))? as u64;
    Ok(st)
}
