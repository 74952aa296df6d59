//! The store as a library: head and chunks read as one, matchers, reopen,
//! retention with space reclaimed, backups and restore, recovery of a damaged
//! file, the process lock, statistics.

use std::path::Path;

use machinenativenops_auto_monitor::store::{
    Codec, SampleRef, Store, StoreError, StoreOptions, backup,
};
use mno_promql::{MatchOp, Matcher, SeriesData, Storage};

type Labels = Vec<(String, String)>;

fn l(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
    Matcher::new(name, op, value).unwrap()
}

fn opts(max_ticks: u32) -> StoreOptions {
    StoreOptions {
        block_max_ticks: max_ticks,
        ..StoreOptions::default()
    }
}

/// The synthetic host: cpu counters for 2 cpus x 2 modes, a load gauge, one
/// series that only shows up on even ticks, and a constant.
fn tick_samples(i: i64) -> Vec<(String, Labels, f64)> {
    let mut v = Vec::new();
    for cpu in ["0", "1"] {
        for (mode, rate) in [("idle", 0.97), ("user", 0.02)] {
            v.push((
                "node_cpu_seconds_total".to_string(),
                l(&[("cpu", cpu), ("mode", mode)]),
                (1000.0 + i as f64 * rate * 100.0).round() / 100.0,
            ));
        }
    }
    v.push(("node_load1".into(), l(&[]), (i % 17) as f64 / 7.0));
    if i % 2 == 0 {
        v.push(("flappy".into(), l(&[("job", "x")]), i as f64));
    }
    v.push(("mno_build_info".into(), l(&[("version", "2.0.0")]), 1.0));
    v
}

const T0: i64 = 1_700_000_000_000;

fn append_ticks(store: &Store, range: std::ops::Range<i64>) {
    for i in range {
        let s = tick_samples(i);
        store
            .append(
                T0 + i * 1000 + (i % 3),
                s.iter().map(|(n, l, v)| (n.as_str(), l.as_slice(), *v)),
            )
            .unwrap();
    }
}

/// Everything the store answers for `{__name__=~".+"}` over all time.
fn everything(store: &Store) -> Vec<SeriesData> {
    store
        .select(
            &[m("__name__", MatchOp::Regex, ".+")],
            i64::MIN / 2,
            i64::MAX / 2,
        )
        .unwrap()
}

/// What was appended, recomputed independently.
fn expected(range: std::ops::Range<i64>) -> Vec<SeriesData> {
    let mut by: std::collections::BTreeMap<Labels, Vec<(i64, f64)>> = Default::default();
    for i in range {
        for (n, labels, v) in tick_samples(i) {
            let mut full = labels.clone();
            full.push(("__name__".into(), n));
            full.sort();
            by.entry(full)
                .or_default()
                .push((T0 + i * 1000 + (i % 3), v));
        }
    }
    by.into_iter()
        .map(|(labels, samples)| SeriesData { labels, samples })
        .collect()
}

#[test]
fn head_and_chunks_read_as_one_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let store = Store::open(&db, opts(10)).unwrap();
    append_ticks(&store, 0..37);
    // Nothing compacted yet: everything from the head.
    assert_eq!(everything(&store), expected(0..37));
    // Three blocks of 10 ticks, 7 ticks left in the head.
    let mut blocks = 0;
    while store.compact_step().unwrap() {
        blocks += 1;
    }
    assert_eq!(blocks, 3);
    let st = store.stats();
    assert_eq!((st.blocks, st.head_ticks), (3, 7));
    assert_eq!(everything(&store), expected(0..37));
    // A range cutting through a block and the head.
    let got = store
        .select(
            &[m("__name__", MatchOp::Equal, "node_load1")],
            T0 + 25_000,
            T0 + 32_000,
        )
        .unwrap();
    let want: Vec<i64> = (25..=32)
        .map(|i| T0 + i * 1000 + (i % 3))
        .filter(|t| *t <= T0 + 32_000)
        .collect();
    assert_eq!(got[0].samples.iter().map(|s| s.0).collect::<Vec<_>>(), want);
    drop(store);
    let store = Store::open(&db, opts(10)).unwrap();
    assert_eq!(everything(&store), expected(0..37));
    append_ticks(&store, 37..45);
    assert_eq!(store.compact_all().unwrap(), 2);
    assert_eq!(everything(&store), expected(0..45));
    // A read-only view from "another process" sees the same.
    let ro = Store::open_read_only(&db).unwrap();
    assert_eq!(everything(&ro), expected(0..45));
}

#[test]
fn both_codecs_store_the_same_samples() {
    for codec in [Codec::Gorilla, Codec::Pco, Codec::PcoWrapped] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("m.db"),
            StoreOptions {
                codec,
                block_max_ticks: 8,
                ..StoreOptions::default()
            },
        )
        .unwrap();
        append_ticks(&store, 0..30);
        store.compact_all().unwrap();
        assert_eq!(everything(&store), expected(0..30), "{codec:?}");
    }
}

/// Rewrite a closed format-2 store into the format-1 layout (one `chunk` row per series
/// and block, pco standalone chunks, no `series`/`chunks` columns), as an older version
/// wrote it.
fn downgrade_to_format_1(db: &Path) {
    use machinenativenops_auto_monitor::store::{chunk, head, schema};
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(schema::LEGACY_CHUNK_DDL).unwrap();
    let blocks: Vec<(i64, i64, Vec<u8>, Vec<u8>)> = conn
        .prepare("SELECT id, ticks, series, chunks FROM block ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (id, ticks, dir, blob) in blocks {
        let dir = chunk::Directory::decode(&dir, blob.len() as u64).unwrap();
        let mut first = None;
        let mut last = 0;
        for (i, sid) in dir.ids.iter().enumerate() {
            let (a, z) = (dir.offsets[i] as usize, dir.offsets[i + 1] as usize);
            let d = chunk::decode(&blob[a..z], ticks as u32).unwrap();
            let old = chunk::encode(Codec::Pco, &d.runs, &d.values);
            conn.execute(
                "INSERT INTO chunk (series_id, block_id, data) VALUES (?1, ?2, ?3)",
                rusqlite::params![*sid as i64, id, old],
            )
            .unwrap();
            last = conn.last_insert_rowid();
            first.get_or_insert(last);
        }
        conn.execute(
            "UPDATE block SET first_chunk = ?1, last_chunk = ?2 WHERE id = ?3",
            rusqlite::params![first.unwrap(), last, id],
        )
        .unwrap();
    }
    // Head rows: format 1 wrote every row in full, without the kind byte.
    let rows: Vec<(i64, i64, Vec<u8>)> = conn
        .prepare("SELECT seq, ts, data FROM head ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut prev: Option<head::HeadTick> = None;
    for (seq, ts, data) in rows {
        let (ids, vals) = head::decode(&data, prev.as_ref()).unwrap();
        let full = head::encode(&ids, &vals, None);
        conn.execute(
            "UPDATE head SET data = ?1 WHERE seq = ?2",
            rusqlite::params![&full[1..], seq],
        )
        .unwrap();
        prev = Some(head::HeadTick {
            seq,
            ts,
            ids: ids.into(),
            vals,
        });
    }
    conn.execute_batch(
        "ALTER TABLE block DROP COLUMN series;
         ALTER TABLE block DROP COLUMN chunks;
         UPDATE meta SET value = '1' WHERE key = 'format';",
    )
    .unwrap();
}

fn table_exists(db: &Path, name: &str) -> bool {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        > 0
}

#[test]
fn a_format_1_store_is_upgraded_in_place_and_its_blocks_age_out() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    {
        let store = Store::open(&db, opts(10)).unwrap();
        append_ticks(&store, 0..35);
        while store.compact_step().unwrap() {}
        assert_eq!(store.stats().head_ticks, 5);
    }
    downgrade_to_format_1(&db);
    assert!(table_exists(&db, "chunk_series"));
    // A read-only opener (a query tool) reads format 1 as it is, without upgrading it.
    let ro = Store::open_read_only(&db).unwrap();
    assert_eq!(everything(&ro), expected(0..35));
    drop(ro);
    machinenativenops_auto_monitor::store::schema::is_good_store(&db).unwrap();

    // The writer upgrades it: old blocks stay where they are, new ones are packed.
    let store = Store::open(
        &db,
        StoreOptions {
            retention_ms: 30_000,
            ..opts(10)
        },
    )
    .unwrap();
    assert_eq!(everything(&store), expected(0..35));
    append_ticks(&store, 35..60);
    assert_eq!(store.compact_all().unwrap(), 3);
    assert_eq!(everything(&store), expected(0..60));
    // Label listings over a range hold only series with data in it, across both layouts.
    let flappy = store
        .series(&[m("__name__", MatchOp::Equal, "flappy")], T0, T0 + 59_000)
        .unwrap();
    assert_eq!(flappy.len(), 1);
    drop(store);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let format: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(format, "2");
    drop(conn);

    let store = Store::open(
        &db,
        StoreOptions {
            retention_ms: 30_000,
            ..opts(10)
        },
    )
    .unwrap();
    assert_eq!(everything(&store), expected(0..60));
    // Cutoff T0 + 40 s: the three format-1 blocks and the first packed one expire.
    let mut deleted = 0;
    while store.retention_step(T0 + 70_000).unwrap() {
        deleted += 1;
    }
    assert_eq!(deleted, 4);
    assert_eq!(everything(&store), expected(40..60));
    assert!(
        !table_exists(&db, "chunk"),
        "the emptied format-1 table is dropped"
    );
    assert!(!table_exists(&db, "chunk_series"));
    drop(store);
    let store = Store::open(&db, opts(10)).unwrap();
    assert_eq!(everything(&store), expected(40..60));
}

#[test]
fn a_newer_store_format_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    drop(Store::open(&db, opts(10)).unwrap());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE meta SET value = '9' WHERE key = 'format'", [])
        .unwrap();
    drop(conn);
    let err = Store::open(&db, opts(10)).unwrap_err().to_string();
    assert!(err.contains("store format 9 is not supported"), "{err}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let format: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(format, "9");
}

#[test]
fn matchers_follow_prometheus_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("m.db"), opts(4)).unwrap();
    append_ticks(&store, 0..10);
    store.compact_step().unwrap();
    let names = |ms: &[Matcher]| -> Vec<String> {
        store
            .series(ms, i64::MIN / 2, i64::MAX / 2)
            .unwrap()
            .into_iter()
            .map(|ls| {
                ls.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    };
    let cpu = m("__name__", MatchOp::Equal, "node_cpu_seconds_total");
    assert_eq!(names(std::slice::from_ref(&cpu)).len(), 4);
    assert_eq!(
        names(&[cpu.clone(), m("mode", MatchOp::Equal, "idle")]).len(),
        2
    );
    assert_eq!(
        names(&[cpu.clone(), m("mode", MatchOp::NotEqual, "idle")]).len(),
        2
    );
    assert_eq!(
        names(&[cpu.clone(), m("cpu", MatchOp::Regex, "0|1")]).len(),
        4
    );
    assert_eq!(
        names(&[cpu.clone(), m("cpu", MatchOp::NotRegex, "1")]).len(),
        2
    );
    // Regexes are anchored.
    assert!(names(&[m("__name__", MatchOp::Regex, "node_cpu")]).is_empty());
    // `label=""` selects series without the label; `label!=""` those with it.
    assert_eq!(
        names(&[
            m("__name__", MatchOp::Regex, ".+"),
            m("cpu", MatchOp::Equal, "")
        ]),
        vec![
            "__name__=flappy,job=x",
            "__name__=mno_build_info,version=2.0.0",
            "__name__=node_load1"
        ]
    );
    assert_eq!(names(&[m("cpu", MatchOp::NotEqual, "")]).len(), 4);
    assert!(names(&[cpu.clone(), m("mode", MatchOp::Equal, "steal")]).is_empty());
    // Label listings.
    assert_eq!(
        store.label_names(&[], i64::MIN / 2, i64::MAX / 2).unwrap(),
        vec!["__name__", "cpu", "job", "mode", "version"]
    );
    assert_eq!(
        store
            .label_values("mode", &[], i64::MIN / 2, i64::MAX / 2)
            .unwrap(),
        vec!["idle", "user"]
    );
    assert_eq!(
        store
            .label_values(
                "__name__",
                &[m("cpu", MatchOp::Equal, "1")],
                0,
                i64::MAX / 2
            )
            .unwrap(),
        vec!["node_cpu_seconds_total"]
    );
    // A range before any data has no series.
    assert!(
        store
            .series(std::slice::from_ref(&cpu), 0, T0 - 1)
            .unwrap()
            .is_empty()
    );
    assert!(store.label_names(&[], 0, T0 - 1).unwrap().is_empty());
    // The sample budget stops a select early.
    assert!(
        store
            .select_limited(std::slice::from_ref(&cpu), 0, i64::MAX / 2, 39)
            .is_err()
    );
    assert_eq!(
        store
            .select_limited(&[cpu], 0, i64::MAX / 2, 40)
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn out_of_order_ticks_move_after_the_newest_and_duplicates_collapse() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("m.db"), opts(4)).unwrap();
    let lab = l(&[("a", "b")]);
    let r = store
        .append(T0, [("x", lab.as_slice(), 1.0), ("x", lab.as_slice(), 2.0)])
        .unwrap();
    assert_eq!(r.samples, 1);
    // A tick at the same time (or earlier) is stored 1 ms after the newest, and counted.
    let r = store.append(T0, [("x", lab.as_slice(), 3.0)]).unwrap();
    assert_eq!(r.ts, T0 + 1);
    assert_eq!(store.stats().clock_backwards, 1);
    let got = store
        .select(&[m("__name__", MatchOp::Equal, "x")], 0, i64::MAX / 2)
        .unwrap();
    assert_eq!(got[0].samples, vec![(T0, 1.0), (T0 + 1, 3.0)]);
    // Label order and empty-valued labels do not make a different series.
    let other = l(&[("z", ""), ("a", "b")]);
    store
        .append(T0 + 2, [("x", other.as_slice(), 5.0)])
        .unwrap();
    assert_eq!(store.stats().series, 1);
}

#[test]
fn retention_deletes_old_blocks_and_reclaims_space() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let day = 86_400_000i64;
    let now = T0 + 10 * day;
    let store = Store::open(
        &db,
        StoreOptions {
            retention_ms: day,
            block_max_ticks: 500,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    // 3 days ago: many series with noisy values, so the blocks take real space.
    let old: Vec<Labels> = (0..400).map(|i| l(&[("i", &i.to_string())])).collect();
    let mut x = 0x1234_5678u64;
    for t in 0..1500i64 {
        let it: Vec<SampleRef> = old
            .iter()
            .map(|lab| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ("old_metric", lab.as_slice(), f64::from_bits(x >> 2))
            })
            .collect();
        store.append(now - 3 * day + t * 1000, it).unwrap();
    }
    store.compact_all().unwrap();
    // Recent data that must stay, in a block and in the head.
    let recent = l(&[]);
    for t in 0..600i64 {
        store
            .append(
                now - 3_600_000 + t * 1000,
                [("recent", recent.as_slice(), t as f64)],
            )
            .unwrap();
    }
    store.compact_step().unwrap();
    store.checkpoint().unwrap();
    let before = std::fs::metadata(&db).unwrap().len();
    let st = store.stats();
    assert_eq!(st.series, 401);
    assert_eq!(st.blocks, 4);

    let mut deleted = 0;
    while store.retention_step(now).unwrap() {
        deleted += 1;
    }
    assert_eq!(deleted, 3, "only the three old blocks are past retention");
    assert!(store.free_pages().unwrap() > 0);
    while store.vacuum_step(64).unwrap() > 0 {}
    store.checkpoint().unwrap();
    let after = std::fs::metadata(&db).unwrap().len();
    assert!(
        after * 4 < before,
        "file did not shrink: {before} -> {after}"
    );
    let st = store.stats();
    assert_eq!((st.series, st.blocks, st.samples), (1, 1, 600));
    assert!(
        store
            .select(&[m("__name__", MatchOp::Equal, "old_metric")], 0, now)
            .unwrap()
            .is_empty()
    );
    let r = store
        .select(&[m("__name__", MatchOp::Equal, "recent")], 0, now)
        .unwrap();
    assert_eq!(r[0].samples.len(), 600);
    assert_eq!(
        store.label_values("__name__", &[], 0, now).unwrap(),
        vec!["recent"]
    );
    // A series seen again after its deletion comes back as a new series.
    store
        .append(now, [("old_metric", old[0].as_slice(), 1.0)])
        .unwrap();
    assert_eq!(store.stats().series, 2);
}

fn corrupt(path: &Path) {
    // Overwrite everything after the header page: the b-tree pages become garbage.
    let mut bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() > 8192);
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i * 7 % 251) as u8;
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn backup_restore_and_recovery_of_a_damaged_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("metrics.db");
    let store = Store::open(&db, opts(16)).unwrap();
    append_ticks(&store, 0..40);
    store.compact_step().unwrap();
    // Backups while the store is open (online), rotated to the newest 2.
    let b1 = backup::take_backup(&db, 2).unwrap();
    append_ticks(&store, 40..60);
    let b2 = backup::take_backup(&db, 2).unwrap();
    let b3 = backup::take_backup(&db, 2).unwrap();
    assert_eq!(backup::list_backups(&db), vec![b3.clone(), b2.clone()]);
    assert!(!b1.exists());
    assert!(
        b2.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("metrics.backup-")
    );
    // A backup is one self-contained file.
    assert!(!Path::new(&format!("{}-wal", b2.display())).exists());
    let original = everything(&store);
    assert_eq!(original, expected(0..60));
    assert_eq!(everything(&Store::open_read_only(&b2).unwrap()), original);

    // Restore refuses while the database is open for writing.
    let err = backup::restore(&db, &b2).unwrap_err();
    assert!(matches!(err, StoreError::Locked(_)), "{err}");
    // A second writer is refused too.
    assert!(matches!(
        Store::open(&db, opts(16)),
        Err(StoreError::Locked(_))
    ));
    append_ticks(&store, 60..70);
    drop(store);

    // Restore: the current file is moved aside, the backup answers the same queries.
    let r = backup::restore(&db, &b2).unwrap();
    let aside = r.previous_moved_to.unwrap();
    assert!(aside.exists());
    let store = Store::open(&db, opts(16)).unwrap();
    assert_eq!(everything(&store), original);
    drop(store);
    // A damaged or foreign file is not restored.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, clearly").unwrap();
    assert!(backup::restore(&db, &junk).is_err());
    assert_eq!(everything(&Store::open(&db, opts(16)).unwrap()), original);

    // Damage the database and the newest backup: the next open moves the database aside
    // and restores the newest backup that passes its check (b2).
    corrupt(&db);
    corrupt(&b3);
    let store = Store::open(&db, opts(16)).unwrap();
    assert_eq!(everything(&store), original);
    let moved: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("metrics.db.corrupt-"))
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
}

#[test]
fn a_foreign_sqlite_file_is_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("other.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('a');")
        .unwrap();
    drop(c);
    let err = Store::open(&db, opts(4)).unwrap_err();
    assert!(
        err.to_string().contains("not an Auto-Monitor store"),
        "{err}"
    );
    let c = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn stats_and_tsdb_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("m.db"), opts(10)).unwrap();
    let empty = store.stats();
    assert_eq!((empty.series, empty.samples, empty.oldest_ms), (0, 0, None));
    append_ticks(&store, 0..25);
    store.compact_all().unwrap();
    let s = store.stats();
    let total: usize = expected(0..25).iter().map(|s| s.samples.len()).sum();
    assert_eq!(s.samples, total as u64);
    assert_eq!(s.series, 7);
    assert_eq!(s.oldest_ms, Some(T0));
    assert_eq!(s.newest_ms, Some(T0 + 24_000));
    assert!(s.bytes_on_disk > 0 && s.bytes_per_sample > 0.0);
    let j = store.tsdb_status().unwrap();
    assert_eq!(j["seriesCount"], 7);
    assert_eq!(j["sampleCount"], total as u64);
    assert_eq!(
        j["seriesCountByMetricName"][0]["name"],
        "node_cpu_seconds_total"
    );
    assert_eq!(j["seriesCountByMetricName"][0]["value"], 4);
    let fams = s.families();
    let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
    for n in [
        "mno_store_series",
        "mno_store_samples",
        "mno_store_bytes",
        "mno_store_bytes_per_sample",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
}
