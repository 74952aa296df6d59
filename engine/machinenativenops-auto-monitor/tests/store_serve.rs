//! The store inside `serve`, with the real binary: statistics over HTTP and in
//! /metrics, rotating online backups, `backup now` and `restore FILE` on the
//! command line, recovery from a damaged database at start, and retention.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use machinenativenops_auto_monitor::store::{SampleRef, Store, StoreOptions, backup};
use mno_promql::{MatchOp, Matcher, SeriesData, Storage};

fn env_for(db: &Path) -> Vec<(&'static str, String)> {
    vec![("MNO_DB_PATH", db.to_str().unwrap().to_string())]
}

fn start(config: &str, db: &Path) -> Agent {
    let env = env_for(db);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut a = Agent::start(config, &env);
    a.wait_ready(Duration::from_secs(30));
    a
}

/// Run a one-shot command with the database at `db`.
fn cli(args: &[&str], db: &Path) -> (i32, String, String) {
    let env = env_for(db);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let o = run(args, &env);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn tsdb(a: &Agent) -> serde_json::Value {
    let (status, _, body) = http_get(&a.url("/api/v1/status/tsdb"), &[]).unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["status"], "success", "{v}");
    v["data"].clone()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

fn everything(db: &Path) -> Vec<SeriesData> {
    let s = Store::open_read_only(db).unwrap();
    s.select(
        &[Matcher::new("__name__", MatchOp::Regex, ".+").unwrap()],
        0,
        i64::MAX / 2,
    )
    .unwrap()
}

#[test]
fn stats_backups_backup_now_and_restore() {
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("metrics.db");
    let cfg = "monitoring:\n  interval: 1\ndatabase:\n  chunk_max_samples: 3\n  backup_enabled: true\n  backup_interval: 1\n  backup_keep: 3\n";
    let mut a = start(cfg, &db);

    // Statistics over HTTP and as mno_store_* families.
    wait_for("a few ticks in the store", Duration::from_secs(20), || {
        tsdb(&a)["sampleCount"].as_u64().unwrap_or(0) > 0
            && tsdb(&a)["blockCount"].as_u64().unwrap_or(0) > 0
    });
    let d = tsdb(&a);
    assert!(d["seriesCount"].as_u64().unwrap() > 50, "{d}");
    assert!(d["bytesOnDisk"].as_u64().unwrap() > 0);
    assert!(d["bytesPerSample"].as_f64().unwrap() > 0.0);
    assert!(d["oldestTimestamp"].as_i64().unwrap() <= d["newestTimestamp"].as_i64().unwrap());
    assert_eq!(d["headStats"]["numSeries"], d["seriesCount"]);
    let (_, _, body) = http_get(&a.url("/metrics"), &[]).unwrap();
    let fams = parse_text(&String::from_utf8(body).unwrap());
    for f in [
        "mno_store_series",
        "mno_store_samples",
        "mno_store_bytes",
        "mno_store_bytes_per_sample",
        "mno_store_ticks_appended_total",
        "mno_store_oldest_timestamp_seconds",
    ] {
        assert!(fams.contains_key(f), "/metrics lacks {f}");
    }
    assert!(fams["mno_store_samples"].samples[0].1 > 0.0);

    // Scheduled backups rotate to the newest 3.
    wait_for("scheduled backups", Duration::from_secs(20), || {
        backup::list_backups(&db).len() >= 3
    });
    // `backup now` works while the agent runs.
    let (code, out, err) = cli(&["backup", "now"], &db);
    assert_eq!(code, 0, "{err}");
    let made = PathBuf::from(out.trim().strip_prefix("backup written: ").expect(&out));
    assert!(made.exists());
    // The agent's own backups may land meanwhile; each rotation trims back to 3.
    wait_for("rotation to 3 backups", Duration::from_secs(10), || {
        backup::list_backups(&db).len() <= 3
    });
    // `restore` refuses while the agent runs, and changes nothing.
    let (code, _, err) = cli(&["restore", made.to_str().unwrap()], &db);
    assert_eq!(code, 1);
    assert!(err.contains("in use by another process"), "{err}");

    // Keep that backup out of the rotation, then stop the agent.
    let kept = data.path().join("kept.db");
    std::fs::copy(&made, &kept).unwrap();
    let (status, _) = a.terminate();
    assert!(status.success());
    let from_backup = everything(&kept);
    assert!(!from_backup.is_empty());
    let live = everything(&db);
    assert!(
        live.iter().map(|s| s.samples.len()).sum::<usize>()
            >= from_backup.iter().map(|s| s.samples.len()).sum::<usize>()
    );

    // Restore: the restored database answers exactly what the backup answers.
    let (code, out, err) = cli(&["restore", kept.to_str().unwrap()], &db);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("previous database moved to"), "{out}");
    assert_eq!(everything(&db), from_backup);
    let aside: Vec<_> = std::fs::read_dir(data.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // The database moved aside (its WAL, if any, travels with it as `…-wal`).
        .filter(|n| n.starts_with("metrics.db.before-restore-") && !n.ends_with("-wal"))
        .collect();
    assert_eq!(aside.len(), 1);
    // And the agent serves it: same oldest sample, and it keeps ingesting after it.
    let a = start(cfg, &db);
    let oldest = from_backup
        .iter()
        .flat_map(|s| s.samples.first())
        .map(|s| s.0)
        .min();
    assert_eq!(tsdb(&a)["oldestTimestamp"].as_i64(), oldest);
    drop(a);
    // A file that is not a store is refused.
    let junk = data.path().join("junk.db");
    std::fs::write(&junk, vec![7u8; 10_000]).unwrap();
    let (code, _, err) = cli(&["restore", junk.to_str().unwrap()], &db);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = cli(&["restore", "/nonexistent/x.db"], &db);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn a_damaged_database_is_moved_aside_and_the_newest_backup_restored() {
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("metrics.db");
    let cfg =
        "monitoring:\n  interval: 1\ndatabase:\n  backup_enabled: true\n  backup_interval: 1\n";
    let mut a = start(cfg, &db);
    wait_for("a backup", Duration::from_secs(20), || {
        !backup::list_backups(&db).is_empty()
    });
    let (status, _) = a.terminate();
    assert!(status.success());
    let newest = backup::list_backups(&db)[0].clone();
    let in_backup = everything(&newest);
    assert!(!in_backup.is_empty());

    // Damage every page after the header.
    let mut bytes = std::fs::read(&db).unwrap();
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i * 13 % 256) as u8;
    }
    std::fs::write(&db, &bytes).unwrap();

    let mut a = start(cfg, &db);
    let (status, log) = a.terminate();
    assert!(status.success(), "{log}");
    assert!(log.contains("failed PRAGMA quick_check"), "{log}");
    assert!(log.contains("moved it aside to"), "{log}");
    assert!(
        log.contains(&format!(
            "restored the newest good backup {}",
            newest.display()
        )),
        "{log}"
    );
    // The damaged file is kept as it was.
    let aside: Vec<PathBuf> = std::fs::read_dir(data.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("metrics.db.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::read(&aside[0]).unwrap(), bytes);
    // The restored database holds everything the backup held (and the ticks since).
    let c = rusqlite::Connection::open(&db).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let now = everything(&db);
    for s in &in_backup {
        let got = now
            .iter()
            .find(|n| n.labels == s.labels)
            .expect("series kept");
        assert_eq!(&got.samples[..s.samples.len()], &s.samples[..]);
    }
}

#[test]
fn retention_deletes_old_data_and_the_file_shrinks() {
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("metrics.db");
    // Three-day-old data, written through the library as an older agent would have.
    let day = 86_400_000i64;
    let now = machinenativenops_auto_monitor::store::unix_ms(std::time::SystemTime::now());
    {
        let store = Store::open(
            &db,
            StoreOptions {
                block_max_ticks: 500,
                ..StoreOptions::default()
            },
        )
        .unwrap();
        let labels: Vec<Vec<(String, String)>> = (0..300)
            .map(|i| vec![("i".to_string(), i.to_string())])
            .collect();
        let mut x = 0x9e37_79b9u64;
        for t in 0..1500i64 {
            let it: Vec<SampleRef> = labels
                .iter()
                .map(|l| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    ("old_metric", l.as_slice(), f64::from_bits(x >> 2))
                })
                .collect();
            store.append(now - 3 * day + t * 1000, it).unwrap();
        }
        store.compact_all().unwrap();
        store.checkpoint().unwrap();
    }
    let before = std::fs::metadata(&db).unwrap().len();
    let a = start(
        "monitoring:\n  interval: 1\ndatabase:\n  retention_days: 1\n",
        &db,
    );
    wait_for("old series to be deleted", Duration::from_secs(30), || {
        let d = tsdb(&a);
        let oldest = d["oldestTimestamp"].as_i64().unwrap_or(0);
        oldest > now - day && d["seriesCount"].as_u64().unwrap() < 300
    });
    wait_for("the file to shrink", Duration::from_secs(30), || {
        std::fs::metadata(&db).unwrap().len() * 2 < before
    });
    // /metrics shows the store as of the previous tick.
    wait_for(
        "mno_store_blocks_deleted_total >= 3",
        Duration::from_secs(10),
        || {
            let (_, _, body) = http_get(&a.url("/metrics"), &[]).unwrap();
            let fams = parse_text(&String::from_utf8(body).unwrap());
            fams["mno_store_blocks_deleted_total"].samples[0].1 >= 3.0
        },
    );
    let (_, _, body) = http_get(&a.url("/api/v1/status/tsdb"), &[]).unwrap();
    assert!(!String::from_utf8(body).unwrap().contains("old_metric"));
}
