//! Opening connections: pragmas, the schema, and the format check.
//!
//! Pragmas and why:
//! - `journal_mode=WAL`: readers (HTTP queries, backups) never block the
//!   writer, and a commit is one sequential append to the WAL file.
//! - `synchronous=FULL`: every commit (one per tick) is fsynced before it
//!   returns, so an OS crash or power cut, not only a killed process, loses at
//!   most the tick being written. It costs one fsync per tick, at most one a
//!   second; `NORMAL` would only survive process crashes (docs/storage.md).
//! - `auto_vacuum=INCREMENTAL`: set before the first table exists, so space
//!   freed by retention can be returned to the file system in small steps.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::StoreError;

/// Version of the on-disk layout, in the `meta` table.
///
/// - `1`: one `chunk` row per series and block, found through the `chunk_series` index.
/// - `2`: a block row holds all its chunks (`block.chunks`) and their directory
///   (`block.series`); see docs/storage.md. A format-1 file is upgraded in place when the
///   writer opens it: its existing blocks stay in the `chunk` table (still read) until
///   retention deletes them, then the table is dropped. Nothing is rewritten.
pub const FORMAT: &str = "2";

/// Formats this version reads (and upgrades to [`FORMAT`] when it opens the file to write).
pub const READABLE_FORMATS: [&str; 2] = ["1", FORMAT];

/// `PRAGMA application_id` of a store file ("MNO1"), so `file(1)` and tools can tell it apart.
pub const APPLICATION_ID: i32 = 0x4d4e_4f31;

const DDL: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series (
    id     INTEGER PRIMARY KEY,
    name   TEXT NOT NULL,
    labels TEXT NOT NULL,
    hash   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS series_hash ON series (hash);
CREATE TABLE IF NOT EXISTS label (
    name      TEXT NOT NULL,
    value     TEXT NOT NULL,
    series_id INTEGER NOT NULL,
    PRIMARY KEY (name, value, series_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS head (
    seq  INTEGER PRIMARY KEY,
    ts   INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS block (
    id          INTEGER PRIMARY KEY,
    min_ts      INTEGER NOT NULL,
    max_ts      INTEGER NOT NULL,
    ticks       INTEGER NOT NULL,
    samples     INTEGER NOT NULL,
    first_chunk INTEGER NOT NULL,
    last_chunk  INTEGER NOT NULL,
    times       BLOB NOT NULL,
    series      BLOB,
    chunks      BLOB
);
";

/// The format-1 chunk table (blocks written before format 2), for upgraded files and tests.
pub const LEGACY_CHUNK_DDL: &str = "
CREATE TABLE IF NOT EXISTS chunk (
    id        INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL,
    block_id  INTEGER NOT NULL,
    data      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunk_series ON chunk (series_id, block_id);
";

/// Whether the file still has format-1 chunk rows' table.
pub fn has_legacy_chunks(conn: &Connection) -> Result<bool, rusqlite::Error> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'chunk'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Whether the `block` table has format 2's `chunks` column (a format-1 file opened
/// read-only does not).
pub fn has_packed_blocks(conn: &Connection) -> Result<bool, rusqlite::Error> {
    conn.query_row(
        "SELECT count(*) FROM pragma_table_info('block') WHERE name = 'chunks'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Page cache of the writer connection (`PRAGMA cache_size`, negative = KiB). SQLite's default is
/// 2 MiB per connection, which a 1 s agent fills within minutes with head pages it never reads
/// again; the writer only touches the series index, the tail of the head table and, once per
/// block, the block's pages. 128 KiB (32 pages) holds those; 512 KiB filled up over a 10-minute
/// run at 1 s and stayed resident (issue 16).
pub const WRITER_CACHE_KIB: i64 = -128;

/// Page cache of a read connection: queries stream chunks once, so a small cache loses nothing.
pub const READER_CACHE_KIB: i64 = -128;

/// Open (creating if needed) the store file for writing, with the pragmas above.
pub fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let fresh: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    if fresh == 0 {
        // Only effective before the first table is created.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    }
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Invalid(format!(
            "{}: cannot switch to WAL mode (got {mode})",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
    // Keep the WAL from staying at its high-water mark after a checkpoint.
    conn.pragma_update(None, "journal_size_limit", 8 << 20)?;
    check_foreign(&conn, path)?;
    conn.execute_batch(&format!("BEGIN; {DDL} COMMIT;"))?;
    let format: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
            r.get(0)
        })
        .optional()?;
    match format.as_deref() {
        None => {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('format', ?1)",
                [FORMAT],
            )?;
        }
        Some(FORMAT) => {}
        Some("1") => {
            upgrade_from_1(&conn)?;
            tracing::info!(path = %path.display(), "store upgraded from format 1 to 2");
        }
        Some(other) => {
            return Err(StoreError::Invalid(format!(
                "{}: store format {other} is not supported by this version (expects {FORMAT})",
                path.display()
            )));
        }
    }
    Ok(conn)
}

/// Format 1 → 2 in one transaction: new blocks go into block rows (old ones stay readable in
/// the `chunk` table), and the head rows (at most one block's worth) get the kind byte.
fn upgrade_from_1(conn: &Connection) -> Result<(), StoreError> {
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch(
        "ALTER TABLE block ADD COLUMN series BLOB;
         ALTER TABLE block ADD COLUMN chunks BLOB;",
    )?;
    let rows: Vec<(i64, Vec<u8>)> = tx
        .prepare("SELECT seq, data FROM head ORDER BY seq")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (seq, data) in rows {
        let (ids, vals) = super::head::decode_v1(&data)
            .map_err(|_| StoreError::Corrupt(format!("head tick {seq} does not decode")))?;
        tx.execute(
            "UPDATE head SET data = ?1 WHERE seq = ?2",
            rusqlite::params![super::head::encode(&ids, &vals, None), seq],
        )?;
    }
    tx.execute("UPDATE meta SET value = '2' WHERE key = 'format'", [])?;
    tx.commit()?;
    Ok(())
}

/// Refuse a SQLite file that holds someone else's tables.
fn check_foreign(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !tables.is_empty() && !tables.iter().any(|t| t == "meta") {
        return Err(StoreError::Invalid(format!(
            "{}: not an Auto-Monitor store (has tables {tables:?}); refusing to write into it",
            path.display()
        )));
    }
    Ok(())
}

/// Open an existing store file for reading only.
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "cache_size", READER_CACHE_KIB)?;
    Ok(conn)
}

/// `PRAGMA quick_check` (or `integrity_check` when `full`): `Ok(())` or the problems found.
pub fn check(conn: &Connection, full: bool) -> Result<(), String> {
    let sql = if full {
        "PRAGMA integrity_check"
    } else {
        "PRAGMA quick_check"
    };
    let rows: Result<Vec<String>, rusqlite::Error> = conn
        .prepare(sql)
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect());
    match rows {
        Ok(r) if r.len() == 1 && r[0] == "ok" => Ok(()),
        Ok(r) => Err(r.join("; ")),
        Err(e) => Err(e.to_string()),
    }
}

/// Whether `path` is a readable store that passes `quick_check` and has the `meta` table.
pub fn is_good_store(path: &Path) -> Result<(), String> {
    let conn = open_reader(path).map_err(|e| e.to_string())?;
    check(&conn, false)?;
    let format: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| format!("not an Auto-Monitor store: {e}"))?;
    match format.as_deref() {
        Some(f) if READABLE_FORMATS.contains(&f) => Ok(()),
        Some(f) => Err(format!(
            "store format {f} is not supported (expects {})",
            READABLE_FORMATS.join(" or ")
        )),
        None => Err("not an Auto-Monitor store (no format record)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_size(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA cache_size", [], |r| r.get(0))
            .unwrap()
    }

    /// SQLite's default page cache is 2 MiB per connection, resident for pages a 1 s agent
    /// writes once and never reads again (issue 16: the whole agent's VmRSS).
    #[test]
    fn store_connections_do_not_keep_sqlite_default_two_mib_page_cache() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("m.db");
        let w = open_writer(&path).unwrap();
        // Negative sizes are KiB: both must be below SQLite's default of 2,000 KiB.
        assert!((-1024..0).contains(&cache_size(&w)), "{}", cache_size(&w));
        let r = open_reader(&path).unwrap();
        assert!((-1024..0).contains(&cache_size(&r)), "{}", cache_size(&r));
    }
}
