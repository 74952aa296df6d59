//! Online backups, restore, the process lock, and recovery of a damaged file at start.
//!
//! Backups use SQLite's backup API from a separate read connection in one
//! step: the copy is a consistent snapshot taken under a read transaction,
//! which in WAL mode never blocks the writer. Each backup is written to a
//! temporary name, checked (`quick_check`), switched to rollback-journal mode
//! so it is one self-contained file, fsynced and renamed into place beside
//! the database as `<stem>.backup-<UTC time>.db`; the newest `keep` are kept.
//!
//! A database that fails `PRAGMA quick_check` at start is renamed to
//! `<file>.corrupt-<UTC time>` (with its WAL), never overwritten or deleted,
//! and the newest backup that passes the check is copied into its place.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use super::{StoreError, schema};

/// When and how many backups to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupOptions {
    /// Milliseconds between backups.
    pub interval_ms: i64,
    /// Backups kept (older ones are deleted after a new one is in place).
    pub keep: usize,
}

/// An exclusive lock on `<db>.lock`, held while a process writes the database.
#[derive(Debug)]
pub struct LockFile {
    _file: File,
}

impl LockFile {
    /// Take the lock, or fail at once if another process holds it.
    pub fn acquire(db: &Path) -> Result<LockFile, StoreError> {
        let path = sidecar(db, ".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(LockFile { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked(format!(
                "{} is in use by another process (lock {} is held); stop the agent first",
                db.display(),
                path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io(&path, e)),
        }
    }
}

/// `<db><suffix>`, e.g. `metrics.db-wal`.
fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// UTC time as `YYYYMMDDTHHMMSSmmmZ` (fixed width, so names sort by time).
pub fn stamp(t: SystemTime) -> String {
    let ms = super::unix_ms(t);
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}{m:02}{d:02}T{h:02}{mi:02}{s:02}{milli:03}Z")
}

/// Gregorian (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (directory, name prefix) of the backups of `db`.
fn backup_pattern(db: &Path) -> (PathBuf, String) {
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let stem = db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "metrics".into());
    (dir, format!("{stem}.backup-"))
}

/// The backups of `db`, newest first.
pub fn list_backups(db: &Path) -> Vec<PathBuf> {
    let (dir, prefix) = backup_pattern(db);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name.starts_with(&prefix) && name.ends_with(".db")).then(|| e.path())
        })
        .collect();
    v.sort();
    v.reverse();
    v
}

/// Delete leftovers of backups interrupted by a crash.
pub fn remove_partial_backups(db: &Path) {
    let (dir, prefix) = backup_pattern(db);
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.contains(".db.tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Copy `src` (a live or closed store) into a new self-contained file at `dst` through the
/// backup API, check it and fsync it. `dst` must not exist.
fn copy_database(src: &Connection, dst: &Path) -> Result<(), StoreError> {
    {
        let mut out = Connection::open(dst)?;
        {
            let b = Backup::new(src, &mut out)?;
            // One step copies every page under a single read transaction: a consistent
            // snapshot that a concurrent writer neither blocks nor restarts.
            let mut tries = 0;
            loop {
                match b.step(-1)? {
                    StepResult::Done => break,
                    StepResult::More => {}
                    StepResult::Busy | StepResult::Locked => {
                        tries += 1;
                        if tries > 100 {
                            return Err(StoreError::Invalid("backup: source stayed busy".into()));
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    _ => {}
                }
            }
        }
        // The header says WAL (copied from the source); a backup should be one file.
        out.pragma_update(None, "journal_mode", "DELETE")?;
        schema::check(&out, false).map_err(|e| {
            StoreError::Corrupt(format!(
                "{}: the copy fails quick_check: {e}",
                dst.display()
            ))
        })?;
    }
    File::open(dst)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io(dst, e))?;
    Ok(())
}

/// Rename within a directory and make the rename durable.
fn durable_rename(from: &Path, to: &Path) -> Result<(), StoreError> {
    std::fs::rename(from, to).map_err(|e| StoreError::io(to, e))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Take an online backup of `db` into its rotating set, keeping the newest `keep`.
pub fn take_backup(db: &Path, keep: usize) -> Result<PathBuf, StoreError> {
    if !db.exists() {
        return Err(StoreError::Invalid(format!(
            "{}: no such database",
            db.display()
        )));
    }
    let (dir, prefix) = backup_pattern(db);
    let mut now = SystemTime::now();
    let mut target = dir.join(format!("{prefix}{}.db", stamp(now)));
    while target.exists() {
        now += Duration::from_millis(1);
        target = dir.join(format!("{prefix}{}.db", stamp(now)));
    }
    let tmp = sidecar(&target, ".tmp");
    let _ = std::fs::remove_file(&tmp);
    let src = schema::open_reader(db)?;
    let r = copy_database(&src, &tmp).and_then(|_| durable_rename(&tmp, &target));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(sidecar(&tmp, "-journal"));
    }
    r?;
    for old in list_backups(db).into_iter().skip(keep.max(1)) {
        if let Err(e) = std::fs::remove_file(&old) {
            tracing::warn!(file = %old.display(), error = %e, "cannot delete an old backup");
        }
    }
    Ok(target)
}

/// Move `db` and its WAL aside to `<db><suffix>`; the shared-memory index is dropped.
fn move_aside(db: &Path, suffix: &str) -> Result<PathBuf, StoreError> {
    let aside = sidecar(db, suffix);
    std::fs::rename(db, &aside).map_err(|e| StoreError::io(db, e))?;
    let wal = sidecar(db, "-wal");
    if wal.exists() {
        std::fs::rename(&wal, sidecar(&aside, "-wal")).map_err(|e| StoreError::io(&wal, e))?;
    }
    let _ = std::fs::remove_file(sidecar(db, "-shm"));
    let _ = std::fs::remove_file(sidecar(db, "-journal"));
    Ok(aside)
}

/// Put a copy of the store `from` at `db` (which must not exist) through a temporary file.
fn install_copy(from: &Path, db: &Path) -> Result<(), StoreError> {
    let tmp = sidecar(db, ".restore.tmp");
    let _ = std::fs::remove_file(&tmp);
    let src = schema::open_reader(from)?;
    let r = copy_database(&src, &tmp).and_then(|_| durable_rename(&tmp, db));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// What start-up recovery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Where the damaged file went.
    pub moved_to: PathBuf,
    /// The backup restored, if any was good.
    pub restored_from: Option<PathBuf>,
}

/// Check `db` with `quick_check`; if it fails, move it aside and restore the newest good
/// backup. `Ok(None)` when the file is absent or healthy.
pub fn recover_if_damaged(db: &Path) -> Result<Option<Recovery>, StoreError> {
    if !db.exists() {
        return Ok(None);
    }
    let problem = match Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
    {
        Ok(c) => schema::check(&c, false).err(),
        Err(e) => Some(e.to_string()),
    };
    let Some(problem) = problem else {
        return Ok(None);
    };
    let aside = move_aside(db, &format!(".corrupt-{}", stamp(SystemTime::now())))?;
    tracing::error!(
        "database {} failed PRAGMA quick_check ({problem}); moved it aside to {} (kept, not deleted)",
        db.display(),
        aside.display()
    );
    for b in list_backups(db) {
        match schema::is_good_store(&b) {
            Ok(()) => {
                install_copy(&b, db)?;
                tracing::warn!(
                    "restored the newest good backup {} into {}; samples written after that backup are lost",
                    b.display(),
                    db.display()
                );
                return Ok(Some(Recovery {
                    moved_to: aside,
                    restored_from: Some(b),
                }));
            }
            Err(e) => {
                tracing::warn!(backup = %b.display(), error = %e, "backup fails its check; trying an older one")
            }
        }
    }
    tracing::error!(
        "no good backup beside {}; starting with an empty database",
        db.display()
    );
    Ok(Some(Recovery {
        moved_to: aside,
        restored_from: None,
    }))
}

/// What `restore` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Where the database that was replaced went (`None` if there was none).
    pub previous_moved_to: Option<PathBuf>,
}

/// Replace `db` with a copy of the backup `file` (the agent must not be running): the
/// backup is checked with `integrity_check` first, and the current database is moved
/// aside to `<db>.before-restore-<UTC time>`, not deleted.
pub fn restore(db: &Path, file: &Path) -> Result<Restored, StoreError> {
    if !file.is_file() {
        return Err(StoreError::Invalid(format!(
            "{}: no such file",
            file.display()
        )));
    }
    {
        let conn = schema::open_reader(file)?;
        schema::check(&conn, true).map_err(|e| {
            StoreError::Invalid(format!(
                "{}: fails PRAGMA integrity_check: {e}",
                file.display()
            ))
        })?;
    }
    schema::is_good_store(file)
        .map_err(|e| StoreError::Invalid(format!("{}: {e}", file.display())))?;
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    }
    let _lock = LockFile::acquire(db)?;
    let previous = if db.exists() {
        Some(move_aside(
            db,
            &format!(".before-restore-{}", stamp(SystemTime::now())),
        )?)
    } else {
        None
    };
    install_copy(file, db)?;
    Ok(Restored {
        previous_moved_to: previous,
    })
}

/// Time of the newest backup (its file's modification time), if any.
pub fn newest_backup_time(db: &Path) -> Option<SystemTime> {
    list_backups(db)
        .first()
        .and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_and_fixed_width() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_893_153_522);
        assert_eq!(stamp(t), "20261128T191233522Z");
        assert_eq!(stamp(SystemTime::UNIX_EPOCH), "19700101T000000000Z");
        // A leap day.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(stamp(t), "20000229T000000000Z");
    }
}
