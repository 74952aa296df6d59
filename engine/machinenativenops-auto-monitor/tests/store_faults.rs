//! The store survives faults: a failing compaction does not stop retention and vacuum,
//! a wall clock stepped back does not stop ticks from being stored, and a series explosion
//! is bounded by the series limits with every dropped sample counted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use machinenativenops_auto_monitor::agent::Clock;
use machinenativenops_auto_monitor::checks::Checker;
use machinenativenops_auto_monitor::store::worker::StoreWorker;
use machinenativenops_auto_monitor::store::{Store, StoreOptions};
use machinenativenops_auto_monitor::{Agent, MonitorConfig};
use mno_promql::{MatchOp, Matcher, Storage};

type Labels = Vec<(String, String)>;

const DAY: i64 = 86_400_000;
/// Long past any retention measured from the real clock.
const T0: i64 = 1_600_000_000_000;

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn family_value(store: &Store, name: &str, label: Option<(&str, &str)>) -> f64 {
    let fams = store.stats().families();
    let fam = fams
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no family {name}"));
    fam.samples
        .iter()
        .find(|s| match label {
            Some((k, v)) => s.labels.iter().any(|(a, b)| a == k && b == v),
            None => true,
        })
        .map(|s| s.value)
        .unwrap_or_else(|| panic!("no sample {label:?} in {name}"))
}

#[test]
fn compaction_failure_does_not_stop_retention() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let store = Arc::new(
        Store::open(
            &db,
            StoreOptions {
                retention_ms: DAY,
                block_max_ticks: 4,
                backup: None,
                ..StoreOptions::default()
            },
        )
        .unwrap(),
    );
    let labels: Vec<Labels> = (0..200)
        .map(|i| vec![("i".to_string(), i.to_string())])
        .collect();
    let tick = |store: &Store, t: i64| {
        store
            .append(
                T0 + t * 1000,
                labels.iter().map(|l| ("m", l.as_slice(), t as f64)),
            )
            .unwrap();
    };
    // Two blocks, both past retention, then a full head that is due for compaction.
    for t in 0..8 {
        tick(&store, t);
    }
    assert_eq!(store.compact_all().unwrap(), 2);
    for t in 8..13 {
        tick(&store, t);
    }
    assert!(store.compaction_due().is_some());
    // Every block insert now fails the way a full disk fails a write: a real SQLite error
    // inside the compactor's transaction. Deleting blocks still works.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER inject_full BEFORE INSERT ON block
         BEGIN SELECT RAISE(FAIL, 'database or disk is full (injected)'); END;",
    )
    .unwrap();
    drop(conn);

    let worker = StoreWorker::spawn(store.clone()).unwrap();
    wait_for("retention to delete both expired blocks", || {
        store.stats().blocks_deleted == 2
    });
    wait_for("vacuum to return the freed pages", || {
        store.free_pages().unwrap() == 0
    });
    worker.shutdown();

    let s = store.stats();
    assert_eq!(s.blocks, 0, "{s:?}");
    assert_eq!(
        s.blocks_compacted, 2,
        "only the two blocks written before the fault"
    );
    assert!(s.maintenance_errors[0] >= 1, "{s:?}");
    assert_eq!(s.maintenance_errors[1..], [0, 0], "{s:?}");
    assert!(s.maintenance_last_error_ms[0] > 0);
    assert!(
        family_value(
            &store,
            "mno_store_maintenance_errors_total",
            Some(("task", "compaction"))
        ) >= 1.0
    );
    assert!(
        family_value(
            &store,
            "mno_store_maintenance_last_error_timestamp_seconds",
            Some(("task", "compaction"))
        ) > 1.6e9
    );
    // The head is intact: nothing was lost to the failed compactions.
    assert_eq!(s.head_ticks, 5);
    assert_eq!(s.head_samples, 5 * 200);
}

/// A clock the test moves by hand.
fn manual_clock(start: SystemTime) -> (Clock, Arc<Mutex<SystemTime>>) {
    let now = Arc::new(Mutex::new(start));
    let n = now.clone();
    (Arc::new(move || *n.lock().unwrap()), now)
}

#[test]
fn clock_stepped_backwards_keeps_storing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("m.db"), StoreOptions::default()).unwrap());
    let start = SystemTime::UNIX_EPOCH + Duration::from_millis(T0 as u64);
    let (clock, now) = manual_clock(start);
    let mut agent = Agent::new(&MonitorConfig::default(), Checker::new(Vec::new()))
        .unwrap()
        .with_clock(clock);
    let worker = StoreWorker::spawn(store.clone()).unwrap();
    // Three ticks 15 s apart, the clock steps back an hour, three more, then it is set
    // right again (past the newest stored tick).
    let offsets_s: [i64; 7] = [0, 15, 30, -3600, -3585, -3570, 45];
    for off in offsets_s {
        *now.lock().unwrap() = if off >= 0 {
            start + Duration::from_secs(off as u64)
        } else {
            start - Duration::from_secs(off.unsigned_abs())
        };
        assert!(worker.submit(agent.collect()));
    }
    worker.shutdown();

    let s = store.stats();
    assert_eq!(s.ticks_appended, 7, "every tick is stored: {s:?}");
    assert_eq!(s.clock_backwards, 3, "{s:?}");
    assert_eq!(
        family_value(&store, "mno_store_clock_backwards_total", None),
        3.0
    );
    let info = store
        .select(
            &[Matcher::new("__name__", MatchOp::Equal, "mno_build_info").unwrap()],
            0,
            i64::MAX / 2,
        )
        .unwrap();
    let times: Vec<i64> = info[0].samples.iter().map(|(t, _)| *t).collect();
    let t30 = T0 + 30_000;
    // Stored in order: the stepped-back ticks 1 ms apart after the newest, then wall time.
    assert_eq!(
        times,
        vec![T0, T0 + 15_000, t30, t30 + 1, t30 + 2, t30 + 3, T0 + 45_000]
    );
}

fn series(prefix: &str, n: usize) -> Vec<Labels> {
    (0..n)
        .map(|i| vec![("s".to_string(), format!("{prefix}{i}"))])
        .collect()
}

fn stored_names(store: &Store, t: i64) -> Vec<String> {
    let mut v: Vec<String> = store
        .select(
            &[Matcher::new("__name__", MatchOp::Equal, "m").unwrap()],
            t,
            t,
        )
        .unwrap()
        .into_iter()
        .map(|s| {
            s.labels
                .iter()
                .find(|(k, _)| k == "s")
                .map(|(_, v)| v.clone())
                .unwrap()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn series_over_cardinality_limit_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("m.db"),
        StoreOptions {
            max_series_per_tick: 100,
            max_head_series: 6,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let old = series("old", 4);
    let new = series("new", 5);
    let append = |t: i64, sets: &[&[Labels]]| {
        store
            .append(
                T0 + t,
                sets.iter()
                    .flat_map(|s| s.iter())
                    .map(|l| ("m", l.as_slice(), 1.0)),
            )
            .unwrap()
    };
    assert_eq!(append(0, &[&old]).samples, 4);
    // Five new series arrive (first in the tick); the head has room for two of them.
    let a = append(1, &[&new, &old]);
    assert_eq!((a.samples, a.dropped), (6, 3));
    assert_eq!(
        stored_names(&store, T0 + 1),
        ["new0", "new1", "old0", "old1", "old2", "old3"]
    );
    // The next tick: the series already in the head keep being stored, the rest dropped.
    let a = append(2, &[&new, &old]);
    assert_eq!((a.samples, a.dropped), (6, 3));
    let s = store.stats();
    assert_eq!(
        (s.series, s.head_series, s.series_dropped_head_limit),
        (6, 6, 6)
    );
    // After compaction the head is empty: series the store knows come before new ones.
    store.compact_all().unwrap();
    let brand_new = series("x", 1);
    let a = append(3, &[&brand_new, &new, &old]);
    assert_eq!((a.samples, a.dropped), (6, 4));
    assert!(!stored_names(&store, T0 + 3).contains(&"x0".to_string()));
    assert_eq!(store.stats().series, 6, "dropped series are never created");
    assert_eq!(
        family_value(
            &store,
            "mno_store_series_dropped_total",
            Some(("reason", "head_limit"))
        ),
        10.0
    );

    // The per-tick limit: one tick stores at most that many series.
    let dir2 = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir2.path().join("m.db"),
        StoreOptions {
            max_series_per_tick: 3,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let five = series("f", 5);
    let tick = |t: i64, set: &[Labels]| {
        store
            .append(T0 + t, set.iter().map(|l| ("m", l.as_slice(), 1.0)))
            .unwrap()
    };
    let a = tick(0, &five);
    assert_eq!((a.samples, a.dropped), (3, 2));
    assert_eq!(stored_names(&store, T0), ["f0", "f1", "f2"]);
    // Reversed order: the three series already in the head still win.
    let rev: Vec<Labels> = five.iter().rev().cloned().collect();
    let a = tick(1, &rev);
    assert_eq!((a.samples, a.dropped), (3, 2));
    assert_eq!(stored_names(&store, T0 + 1), ["f0", "f1", "f2"]);
    assert_eq!(store.stats().series_dropped_tick_limit, 4);
    assert_eq!(
        family_value(
            &store,
            "mno_store_series_dropped_total",
            Some(("reason", "tick_limit"))
        ),
        4.0
    );
}

/// Where the full-filesystem test runs: set in the child started inside a mount namespace
/// with a small tmpfs mounted there.
const TINY_FS_ENV: &str = "MNO_TEST_TINY_FS";

#[test]
fn compaction_on_a_full_filesystem_does_not_stop_retention() {
    let Ok(dir) = std::env::var(TINY_FS_ENV) else {
        // Re-run this test in a user + mount namespace (no privileges needed) over a 4 MiB
        // tmpfs, so that the disk really fills up.
        let mnt = tempfile::tempdir().unwrap();
        let me = std::env::current_exe().unwrap();
        let script = format!(
            "mount -t tmpfs -o size=4m tmpfs '{m}' && exec '{exe}' --exact \
             compaction_on_a_full_filesystem_does_not_stop_retention --nocapture",
            m = mnt.path().display(),
            exe = me.display()
        );
        // A user + mount namespace needs no privileges; a mount namespace alone needs root
        // with CAP_SYS_ADMIN (CI). Where neither is allowed the injected-error test stands.
        for args in [["-Urm"].as_slice(), ["-m"].as_slice()] {
            let out = std::process::Command::new("unshare")
                .args(args)
                .args(["sh", "-c", &script])
                .env(TINY_FS_ENV, mnt.path())
                .output();
            match out {
                Ok(o) if o.status.success() => {
                    let text = String::from_utf8_lossy(&o.stdout);
                    assert!(text.contains("full disk: ok"), "{text}");
                    return;
                }
                Ok(o) => {
                    let err = String::from_utf8_lossy(&o.stderr);
                    if !(err.contains("unshare failed") || err.contains("mount")) {
                        panic!(
                            "full-disk run failed:\n{}\n{err}",
                            String::from_utf8_lossy(&o.stdout)
                        );
                    }
                    eprintln!("unshare {args:?}: {}", err.trim());
                }
                Err(e) => eprintln!("unshare not available ({e})"),
            }
        }
        eprintln!("SKIP: cannot mount a tmpfs here; the injected-error test covers this");
        return;
    };
    let db = std::path::Path::new(&dir).join("m.db");
    let store = Arc::new(
        Store::open(
            &db,
            StoreOptions {
                retention_ms: DAY,
                block_max_ticks: 4,
                backup: None,
                ..StoreOptions::default()
            },
        )
        .unwrap(),
    );
    // Two small expired blocks (one series), then a wide head due for compaction.
    let one = vec![("k".to_string(), "v".to_string())];
    for t in 0..8 {
        store
            .append(T0 + t * 1000, [("old", one.as_slice(), t as f64)])
            .unwrap();
    }
    assert_eq!(store.compact_all().unwrap(), 2);
    let wide: Vec<Labels> = (0..3000)
        .map(|i| vec![("series".to_string(), format!("s{i:05}"))])
        .collect();
    for t in 8..12 {
        store
            .append(
                T0 + t * 1000,
                wide.iter().map(|l| ("wide", l.as_slice(), t as f64 * 1.5)),
            )
            .unwrap();
    }
    store.checkpoint().unwrap();
    // Fill the file system, then give back 64 KiB: enough for retention's small
    // transactions, far from enough for the wide block.
    let filler = std::path::Path::new(&dir).join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let buf = vec![0u8; 4096];
        while f.write_all(&buf).is_ok() {}
        let _ = f.sync_all();
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(64 * 1024)).unwrap();
    }
    let worker = StoreWorker::spawn(store.clone()).unwrap();
    wait_for("retention on the full disk", || {
        store.stats().blocks_deleted == 2
    });
    wait_for("a failed compaction", || {
        store.stats().maintenance_errors[0] >= 1
    });
    worker.shutdown();
    let s = store.stats();
    assert_eq!(s.blocks, 0, "{s:?}");
    assert_eq!(s.head_ticks, 4, "nothing in the head is lost: {s:?}");
    println!("full disk: ok ({s:?})");
}
