//! Crash safety of the store with the real binary: `kill -9` during ingestion, 20 times.
//!
//! How completed ticks are known: the store thread logs `tick committed` (at debug level,
//! enabled here for the store's target only) with the tick's time, sample count and a
//! digest of its (series, value) pairs *after* the transaction's commit returned. A line
//! in the log therefore proves a commit; a tick killed before its line may or may not be
//! stored, and is not checked. After every kill, before the agent starts again, the test
//! opens the database itself: `PRAGMA integrity_check` must say `ok`, and every tick
//! logged by any run so far must be there, complete (same count, same digest), whether it
//! now lives in the head or was compacted into a block by a later run.
//!
//! Load: one tick a second (the shortest interval), a block cut every 2 ticks and an
//! online backup every second, so kills land during commits, compactions and backups.

mod common;
use common::*;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use machinenativenops_auto_monitor::store::{Store, tick_digest};
use mno_promql::{MatchOp, Matcher, Storage};

const CONFIG: &str = "monitoring:\n  interval: 1\ndatabase:\n  chunk_max_samples: 2\n  backup_enabled: true\n  backup_interval: 1\n  backup_keep: 2\n";

#[derive(Debug, Clone, Copy, PartialEq)]
struct Committed {
    ts: i64,
    samples: usize,
    digest: u64,
}

/// `tick committed` lines of a JSON log.
fn committed(log: &str) -> Vec<Committed> {
    log.lines()
        .filter(|l| l.contains("tick committed"))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let f = &v["fields"];
            Some(Committed {
                ts: f["ts_ms"].as_i64()?,
                samples: f["samples"].as_u64()? as usize,
                digest: u64::from_str_radix(f["digest"].as_str()?, 16).ok()?,
            })
        })
        .collect()
}

fn integrity(db: &Path) -> String {
    let c = rusqlite::Connection::open(db).expect("open database after the kill");
    c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .expect("integrity_check")
}

#[test]
fn kill_9_during_ingestion_20_times_loses_no_committed_tick() {
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("metrics.db");
    let dbs = db.to_str().unwrap().to_string();
    let env = [
        ("MNO_DB_PATH", dbs.as_str()),
        ("MNO_LOG_FORMAT", "json"),
        (
            "MNO_LOG_LEVEL",
            "info,machinenativenops_auto_monitor::store=debug",
        ),
    ];
    let mut all: Vec<Committed> = Vec::new();
    let (mut compactions, mut backups) = (0, 0);
    for run in 0..20u64 {
        let mut a = Agent::start(CONFIG, &env);
        a.wait_ready(Duration::from_secs(30));
        // Spread the kills over the whole tick cycle: 0.6 s to 3.1 s after readiness.
        std::thread::sleep(Duration::from_millis(600 + run * 373 % 2500));
        a.child.kill().expect("SIGKILL");
        let status = a.child.wait().expect("wait");
        assert!(!status.success(), "run {run}: the agent was not killed");
        let mut log = String::new();
        if let Some(mut e) = a.child.stderr.take() {
            e.read_to_string(&mut log).unwrap();
        }
        assert!(
            !log.contains("failed PRAGMA quick_check") && !log.contains("\"level\":\"ERROR\""),
            "run {run}: the previous kill left a damaged database:\n{log}"
        );
        compactions += log.matches("block compacted").count();
        backups += log.matches("backup written").count();
        all.extend(committed(&log));

        assert_eq!(integrity(&db), "ok", "run {run}");
        let store = Store::open_read_only(&db).expect("open read-only");
        let any = [Matcher::new("__name__", MatchOp::Regex, ".+").unwrap()];
        for t in &all {
            let got = store.select(&any, t.ts, t.ts).unwrap();
            let n: usize = got.iter().map(|s| s.samples.len()).sum();
            let digest = tick_digest(got.iter().flat_map(|s| {
                s.samples
                    .iter()
                    .map(move |(_, v)| (s.labels.as_slice(), *v))
            }));
            assert_eq!(
                (n, digest),
                (t.samples, t.digest),
                "run {run}: tick {} is incomplete after the kill",
                t.ts
            );
        }
    }
    eprintln!(
        "{} committed ticks verified after 20 kills ({compactions} compactions and {backups} backups logged)",
        all.len()
    );
    assert!(
        all.len() >= 20,
        "too few committed ticks to mean anything: {}",
        all.len()
    );
    assert!(compactions > 0, "no compaction happened between the kills");
    assert!(backups > 0, "no backup happened between the kills");
    // Nothing was ever restored or moved aside.
    let names: Vec<String> = std::fs::read_dir(data.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".corrupt-")), "{names:?}");
}
