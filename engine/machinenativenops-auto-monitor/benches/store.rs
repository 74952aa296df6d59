//! Store benchmark (run by `scripts/bench/store.sh`; `cargo bench --bench store`).
//!
//! Prints, in one run:
//! 1. the float-codec table (Gorilla XOR vs pco) on real collected ticks, on the
//!    node-like 24 h data set and on random walks, at several chunk lengths;
//! 2. ingest rate on one core (the store's real append path: series lookup,
//!    head encoding, one SQLite transaction per tick with `synchronous=FULL`),
//!    and the compaction rate;
//! 3. bytes per sample on disk after compaction for (a) node-like series at 1 s
//!    over 24 simulated hours, (a30) the same series at the agent's default 30 s
//!    interval (every 30th tick of (a)) and (b) random-walk floats;
//! 4. query latency for one series over 24 h at 1 s (86,400 points);
//! 5. Prometheus' own TSDB bytes per sample on the same data (a) and (a30), through
//!    `promtool tsdb create-blocks-from openmetrics`, and the ratio.
//!
//! Data set (a) is generated from real ticks collected on this host (live, or
//! from a recording given in `BENCH_REAL_JSON`, the output of
//! `collect --format json` at a 1 s interval): every series keeps its real
//! starting value and evolves by steps drawn from its own observed steps —
//! counters only go up and keep their quantum (1/100 s, bytes), gauges walk
//! within a band around what was observed, constants stay constant — and the
//! tick times replay the real intervals between ticks (their jitter included).
//!
//! Environment: `BENCH_REAL_JSON` (recording), `BENCH_REAL_TICKS` (live ticks
//! to collect, default 60), `BENCH_HOURS` (default 24), `BENCH_RW_SERIES`
//! (random-walk series, default 100), `BENCH_DIR` (scratch directory),
//! `BENCH_SKIP_PROMTOOL=1`, `BENCH_SETS=node-like-30s,…` (only those data sets through the
//! store and promtool), `BENCH_KEEP=1` (keep the scratch directory and its databases).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use machinenativenops_auto_monitor::metrics::{Batch, MetricType};
use machinenativenops_auto_monitor::store::{Codec, Store, StoreOptions, chunk, unix_ms};
use mno_promql::{MatchOp, Matcher};

type Labels = Vec<(String, String)>;

/// Series-major data: `values[s][i]` is series `s` at `times[i]`.
struct Dataset {
    name: &'static str,
    series: Vec<(String, Labels, MetricType)>,
    times: Vec<i64>,
    values: Vec<Vec<f64>>,
}

impl Dataset {
    fn samples(&self) -> u64 {
        self.values.iter().map(|v| v.len() as u64).sum()
    }
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-300), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn env_num(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let hours = env_num("BENCH_HOURS", 24);
    let scratch = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("mno-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let _cleanup = Cleanup(scratch.clone());

    let real = real_ticks();
    println!(
        "real data: {} ticks x ~{} series ({})",
        real.len(),
        real.first()
            .map(|b| b.families.iter().map(|f| f.samples.len()).sum::<usize>())
            .unwrap_or(0),
        if std::env::var_os("BENCH_REAL_JSON").is_some() {
            "recording"
        } else {
            "collected live at 1 s"
        }
    );
    let recorded = dataset_from_batches("real", &real);
    let node = node_like(&real, hours * 3600);
    // (a30): what the agent stores at its default 30 s interval over the same hours: every
    // 30th tick of (a), as a 30 s scrape of the same host would read it.
    let node30 = downsample(&node, 30, "node-like-30s");
    let walk = random_walk(env_num("BENCH_RW_SERIES", 100), hours * 3600);

    println!("\n## Float codecs (values only; timestamps are shared per block)\n");
    println!("| data | chunk | codec | bytes/sample | encode ns/sample | decode ns/sample |");
    println!("|---|---|---|---|---|---|");
    for ds in [&recorded, &node, &walk] {
        for len in [120usize, 720, 7200] {
            if len > ds.times.len() {
                continue;
            }
            for codec in [Codec::Gorilla, Codec::Pco, Codec::PcoWrapped] {
                let (b, e, d) = codec_cost(ds, codec, len);
                println!(
                    "| {} | {len} | {codec:?} | {b:.3} | {e:.1} | {d:.1} |",
                    ds.name
                );
            }
        }
    }

    println!(
        "\n## Store (codec {:?}, synchronous=FULL, one transaction per tick)\n",
        Codec::CHOSEN
    );
    let mut ours: BTreeMap<&str, f64> = BTreeMap::new();
    let wide = widen(&node, env_num("BENCH_WIDE_COPIES", 40), 600);
    // BENCH_SETS=name,name limits the store runs (and promtool) to those data sets.
    let sets = std::env::var("BENCH_SETS").ok();
    let wanted = |name: &str| {
        sets.as_deref()
            .is_none_or(|s| s.split(',').any(|n| n.trim() == name))
    };
    for ds in [&node, &node30, &walk, &wide] {
        if !wanted(ds.name) {
            continue;
        }
        let db = scratch.join(format!("{}.db", ds.name));
        let r = ingest(ds, &db);
        println!(
            "{}: {} series x {} ticks = {} samples ({} per tick, one commit each)",
            ds.name,
            ds.series.len(),
            ds.times.len(),
            ds.samples(),
            ds.series.len()
        );
        println!(
            "  ingest (append, one core): {:.0} samples/s CPU ({:.2} s CPU), {:.0} samples/s wall ({:.2} s, {} commits)",
            ds.samples() as f64 / r.append_cpu,
            r.append_cpu,
            ds.samples() as f64 / r.append_wall,
            r.append_wall,
            ds.times.len()
        );
        println!(
            "  compaction: {:.0} samples/s ({:.2} s); append + compaction: {:.0} samples/s CPU",
            ds.samples() as f64 / r.compact_wall,
            r.compact_wall,
            ds.samples() as f64 / (r.append_cpu + r.compact_cpu)
        );
        println!(
            "  on disk after compaction: {} bytes = {:.3} bytes/sample (chunks {:.3}, block times and chunk directories {:.4}, rest: series, labels, pages)",
            r.file_bytes,
            r.file_bytes as f64 / ds.samples() as f64,
            r.chunk_bytes as f64 / ds.samples() as f64,
            r.times_bytes as f64 / ds.samples() as f64
        );
        println!(
            "  on disk as the running agent has it (newest ticks still in the head rows): {} bytes = {:.3} bytes/sample",
            r.running_bytes,
            r.running_bytes as f64 / ds.samples() as f64
        );
        if r.head_full.1 > 0 {
            println!(
                "  head in memory at its fullest: {} bytes for {} samples = {:.3} bytes/sample (8 as raw values)",
                r.head_full.0,
                r.head_full.1,
                r.head_full.0 as f64 / r.head_full.1 as f64
            );
        }
        if ds.name == "wide" {
            continue;
        }
        let q = query_latency(&db, ds);
        println!(
            "  query one series over {} h ({} points): median {:.2} ms, min {:.2} ms, max {:.2} ms",
            hours, q.points, q.median_ms, q.min_ms, q.max_ms
        );
        ours.insert(ds.name, r.file_bytes as f64 / ds.samples() as f64);
    }

    if std::env::var("BENCH_SKIP_PROMTOOL").is_ok_and(|v| v == "1") {
        return;
    }
    println!("\n## Prometheus TSDB on the same data (a) and (a30)\n");
    for ds in [&node, &node30] {
        if !wanted(ds.name) {
            continue;
        }
        match prometheus_bytes(ds, &scratch) {
            Ok(p) => {
                let ours_ds = ours.get(ds.name).copied().unwrap_or(f64::NAN);
                println!(
                    "{}: promtool create-blocks-from openmetrics: {} blocks, chunks {} bytes = {:.3} bytes/sample; whole blocks (chunks+index+meta) {} bytes = {:.3} bytes/sample ({:.1} s)",
                    ds.name,
                    p.blocks,
                    p.chunk_bytes,
                    p.chunk_bytes as f64 / ds.samples() as f64,
                    p.total_bytes,
                    p.total_bytes as f64 / ds.samples() as f64,
                    p.secs
                );
                println!(
                    "  ratio ours (whole database file, {:.3} bytes/sample) / Prometheus (whole blocks): {:.2}; ours / Prometheus chunks only: {:.2}",
                    ours_ds,
                    ours_ds / (p.total_bytes as f64 / ds.samples() as f64),
                    ours_ds / (p.chunk_bytes as f64 / ds.samples() as f64)
                );
            }
            Err(e) => {
                println!("promtool failed: {e}");
                std::process::exit(1);
            }
        }
    }
}

struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if std::env::var_os("BENCH_KEEP").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Real ticks: from a recording, or collected live at 1 s.
fn real_ticks() -> Vec<Batch> {
    if let Some(p) = std::env::var_os("BENCH_REAL_JSON") {
        return load_recording(Path::new(&p));
    }
    let n = env_num("BENCH_REAL_TICKS", 60).max(3);
    let cfg = machinenativenops_auto_monitor::MonitorConfig::default();
    let checker = machinenativenops_auto_monitor::checks::Checker::new(Vec::new());
    let mut agent = machinenativenops_auto_monitor::Agent::new(&cfg, checker).expect("agent");
    eprintln!("collecting {n} real ticks at 1 s ...");
    let start = Instant::now();
    let mut out = Vec::new();
    for i in 0..n {
        let due = start + Duration::from_secs(i as u64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        out.push((*agent.collect()).clone());
    }
    out
}

/// Read concatenated JSON batches as printed by `collect --format json`.
fn load_recording(p: &Path) -> Vec<Batch> {
    let f = std::fs::File::open(p).expect("recording");
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_reader(std::io::BufReader::new(f))
        .into_iter::<serde_json::Value>()
    {
        let Ok(v) = v else { break };
        let at = v["collected_at"].as_f64().unwrap_or(0.0);
        let mut b = Batch {
            collected_at: SystemTime::UNIX_EPOCH + Duration::from_secs_f64(at),
            families: Vec::new(),
        };
        for f in v["families"].as_array().into_iter().flatten() {
            let kind = match f["type"].as_str() {
                Some("counter") => MetricType::Counter,
                Some("gauge") => MetricType::Gauge,
                _ => MetricType::Untyped,
            };
            let mut fam = machinenativenops_auto_monitor::Family::new(
                f["name"].as_str().unwrap_or(""),
                f["help"].as_str().unwrap_or(""),
                kind,
            );
            for s in f["samples"].as_array().into_iter().flatten() {
                let labels: Vec<(String, String)> = s["labels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        (
                            p[0].as_str().unwrap_or("").to_string(),
                            p[1].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                let value = s["value"].as_f64().unwrap_or(f64::NAN);
                fam.samples
                    .push(machinenativenops_auto_monitor::Sample { labels, value });
            }
            b.families.push(fam);
        }
        out.push(b);
    }
    out
}

/// Series present in every batch, with their values, as a data set.
fn dataset_from_batches(name: &'static str, batches: &[Batch]) -> Dataset {
    let mut index: BTreeMap<(String, Labels), usize> = BTreeMap::new();
    let mut series = Vec::new();
    let mut values: Vec<Vec<f64>> = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        for f in &b.families {
            for s in &f.samples {
                let key = (f.name.clone(), s.labels.clone());
                let slot = *index.entry(key).or_insert_with(|| {
                    series.push((f.name.clone(), s.labels.clone(), f.kind));
                    values.push(Vec::new());
                    values.len() - 1
                });
                if values[slot].len() == i {
                    values[slot].push(s.value);
                }
            }
        }
    }
    let n = batches.len();
    let keep: Vec<bool> = values.iter().map(|v| v.len() == n).collect();
    let series = series
        .into_iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(s, _)| s)
        .collect();
    let values = values
        .into_iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(v, _)| v)
        .collect();
    Dataset {
        name,
        series,
        times: batches.iter().map(|b| unix_ms(b.collected_at)).collect(),
        values,
    }
}

/// The quantum of a series' values (1/100, 1/10, 1, 1/1000 …) if every value is a
/// multiple of one, so generated values keep the real decimal representation.
fn quantum(vals: &[f64]) -> Option<f64> {
    [1.0, 100.0, 10.0, 1000.0].into_iter().find(|&d| {
        vals.iter().all(|v| {
            let k = v * d;
            v.is_finite() && (k - k.round()).abs() < 1e-6 && k.abs() < 9e15
        })
    })
}

/// (a): node-like series over `secs` seconds at 1 s, evolved from the real ticks.
fn node_like(real: &[Batch], secs: usize) -> Dataset {
    let base = dataset_from_batches("node-like", real);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Real tick jitter: the real intervals between ticks, replayed in order (so the
    // delta-of-delta distribution is the real one: mostly 0, a few ms otherwise).
    let deltas: Vec<i64> = base
        .times
        .windows(2)
        .map(|w| (w[1] - w[0]).clamp(1, 60_000))
        .collect();
    let start = unix_ms(SystemTime::now()) - secs as i64 * 1000;
    let mut times = Vec::with_capacity(secs);
    let mut t = start;
    for i in 0..secs {
        times.push(t);
        t += deltas.get(i % deltas.len().max(1)).copied().unwrap_or(1000);
    }
    let mut values = Vec::with_capacity(base.series.len());
    for (s, obs) in base.series.iter().zip(&base.values) {
        let steps: Vec<f64> = obs.windows(2).map(|w| w[1] - w[0]).collect();
        let first = obs[0];
        let constant = steps.iter().all(|d| *d == 0.0);
        let monotonic = steps.iter().all(|d| *d >= 0.0) || s.2 == MetricType::Counter;
        let mut out = Vec::with_capacity(secs);
        if constant || steps.is_empty() {
            out.resize(secs, first);
        } else if let Some(q) = quantum(obs) {
            // Integer steps in the series' quantum: values stay exact decimals.
            let ksteps: Vec<i64> = obs
                .windows(2)
                .map(|w| ((w[1] - w[0]) * q).round() as i64)
                .collect();
            let (lo, hi) = band(obs, q);
            let mut k = (first * q).round() as i64;
            for _ in 0..secs {
                out.push(k as f64 / q);
                let mut d = ksteps[rng.below(ksteps.len())];
                if !monotonic && (k + d < lo || k + d > hi) {
                    d = -d;
                }
                k += d;
            }
        } else {
            let (lo, hi) = band(obs, 1.0);
            let mut v = first;
            for _ in 0..secs {
                out.push(v);
                let mut d = steps[rng.below(steps.len())];
                if !monotonic && (v + d < lo as f64 || v + d > hi as f64) {
                    d = -d;
                }
                v += d;
            }
        }
        values.push(out);
    }
    Dataset {
        name: "node-like",
        series: base.series,
        times,
        values,
    }
}

/// The band a gauge may wander in: the observed range widened by itself on each side.
fn band(obs: &[f64], q: f64) -> (i64, i64) {
    let lo = obs.iter().copied().fold(f64::INFINITY, f64::min) * q;
    let hi = obs.iter().copied().fold(f64::NEG_INFINITY, f64::max) * q;
    let span = (hi - lo).max(1.0);
    ((lo - span).floor() as i64, (hi + span).ceil() as i64)
}

/// Every `step`-th tick of `ds`: the same series read at a `step` times longer interval.
fn downsample(ds: &Dataset, step: usize, name: &'static str) -> Dataset {
    let step = step.max(1);
    Dataset {
        name,
        series: ds.series.clone(),
        times: ds.times.iter().step_by(step).copied().collect(),
        values: ds
            .values
            .iter()
            .map(|v| v.iter().step_by(step).copied().collect())
            .collect(),
    }
}

/// Wide ticks: `copies` hosts' worth of the node-like series (an `instance` label each),
/// over the first `ticks` ticks, to measure ingestion when one commit carries many samples.
fn widen(ds: &Dataset, copies: usize, ticks: usize) -> Dataset {
    let ticks = ticks.min(ds.times.len());
    let mut series = Vec::new();
    let mut values = Vec::new();
    for c in 0..copies {
        for (s, v) in ds.series.iter().zip(&ds.values) {
            let mut labels = s.1.clone();
            labels.push(("instance".into(), format!("host-{c:03}")));
            series.push((s.0.clone(), labels, s.2));
            values.push(v[..ticks].to_vec());
        }
    }
    Dataset {
        name: "wide",
        series,
        times: ds.times[..ticks].to_vec(),
        values,
    }
}

/// (b): random walks with Gaussian steps (full-precision floats).
fn random_walk(n: usize, secs: usize) -> Dataset {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let start = unix_ms(SystemTime::now()) - secs as i64 * 1000;
    let times = (0..secs).map(|i| start + 1000 * i as i64).collect();
    let series = (0..n)
        .map(|i| {
            (
                "bench_random_walk".to_string(),
                vec![("walk".to_string(), i.to_string())],
                MetricType::Gauge,
            )
        })
        .collect();
    let values = (0..n)
        .map(|_| {
            let mut v = rng.normal() * 100.0;
            (0..secs)
                .map(|_| {
                    v += rng.normal();
                    v
                })
                .collect()
        })
        .collect();
    Dataset {
        name: "random-walk",
        series,
        times,
        values,
    }
}

/// (bytes/sample, encode ns/sample, decode ns/sample) of a codec at a chunk length.
fn codec_cost(ds: &Dataset, codec: Codec, len: usize) -> (f64, f64, f64) {
    let mut bytes = 0usize;
    let mut n = 0usize;
    let mut enc = Duration::ZERO;
    let mut dec = Duration::ZERO;
    for vals in &ds.values {
        for c in vals.chunks(len) {
            let runs = [(0u32, c.len() as u32)];
            let t = Instant::now();
            let buf = chunk::encode(codec, &runs, c);
            enc += t.elapsed();
            let t = Instant::now();
            let d = chunk::decode(&buf, c.len() as u32).expect("decode");
            dec += t.elapsed();
            assert_eq!(d.values.len(), c.len());
            // The chunk header (codec byte, presence runs) is part of the cost.
            bytes += buf.len();
            n += c.len();
        }
    }
    let per = |d: Duration| d.as_nanos() as f64 / n as f64;
    (bytes as f64 / n as f64, per(enc), per(dec))
}

struct IngestResult {
    append_wall: f64,
    append_cpu: f64,
    compact_wall: f64,
    compact_cpu: f64,
    file_bytes: u64,
    /// The whole file before the final compaction (head included), as a running agent has it.
    running_bytes: u64,
    chunk_bytes: u64,
    times_bytes: u64,
    /// Memory of the head and its samples just before its largest compaction.
    head_full: (u64, u64),
}

/// CPU seconds used by the calling thread so far.
fn thread_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn ingest(ds: &Dataset, db: &Path) -> IngestResult {
    let _ = std::fs::remove_file(db);
    let opts = StoreOptions {
        retention_ms: i64::MAX / 4,
        ..StoreOptions::default()
    };
    let store = Store::open(db, opts).expect("open store");
    let ticks = ds.times.len();
    let (w0, c0) = (Instant::now(), thread_cpu());
    let (mut compact_wall, mut compact_cpu) = (0.0, 0.0);
    let mut head_full = (0u64, 0u64);
    for i in 0..ticks {
        let it = ds
            .series
            .iter()
            .zip(&ds.values)
            .map(|((name, labels, _), v)| (name.as_str(), labels.as_slice(), v[i]));
        store.append(ds.times[i], it).expect("append");
        // The agent compacts between ticks; keep the head bounded the same way, timed apart.
        if store.compaction_due().is_some() {
            // The head at its fullest, just before a block is cut.
            let st = store.stats();
            if st.head_samples > head_full.1 {
                head_full = (st.head_bytes, st.head_samples);
            }
            let (wc, cc) = (Instant::now(), thread_cpu());
            store.compact_step().expect("compact");
            compact_wall += wc.elapsed().as_secs_f64();
            compact_cpu += thread_cpu() - cc;
        }
    }
    // The file as the running agent has it at this point: the newest ticks still in the head
    // (uncompressed rows), free pages returned by the maintenance's incremental vacuum.
    while store.vacuum_step(1 << 20).expect("vacuum") > 0 {}
    store.checkpoint().expect("checkpoint");
    let running_bytes = store.stats().bytes_on_disk;
    let (wc, cc) = (Instant::now(), thread_cpu());
    store.compact_all().expect("compact all");
    compact_wall += wc.elapsed().as_secs_f64();
    compact_cpu += thread_cpu() - cc;
    let append_wall = w0.elapsed().as_secs_f64() - compact_wall;
    let append_cpu = thread_cpu() - c0 - compact_cpu;
    while store.vacuum_step(1 << 20).expect("vacuum") > 0 {}
    store.checkpoint().expect("checkpoint");
    let file_bytes = store.stats().bytes_on_disk;
    drop(store);
    let conn = rusqlite::Connection::open(db).expect("reopen");
    let chunk_bytes: i64 = conn
        .query_row("SELECT sum(length(chunks)) FROM block", [], |r| r.get(0))
        .unwrap_or(0);
    // Tick times and the chunk directories: the block rows' own data.
    let times_bytes: i64 = conn
        .query_row(
            "SELECT sum(length(times)) + sum(length(series)) FROM block",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0);
    IngestResult {
        append_wall,
        append_cpu: append_cpu.max(1e-9),
        compact_wall,
        compact_cpu,
        file_bytes,
        running_bytes,
        chunk_bytes: chunk_bytes as u64,
        times_bytes: times_bytes as u64,
        head_full,
    }
}

struct QueryResult {
    points: usize,
    median_ms: f64,
    min_ms: f64,
    max_ms: f64,
}

/// Select one series over the whole data set, 21 times, from a freshly opened store.
fn query_latency(db: &Path, ds: &Dataset) -> QueryResult {
    let store = Arc::new(Store::open_read_only(db).expect("open read-only"));
    // The first series with a changing value (node_cpu_seconds_total when present).
    let pick = ds
        .series
        .iter()
        .position(|s| s.0 == "node_cpu_seconds_total")
        .unwrap_or(0);
    let (name, labels, _) = &ds.series[pick];
    let mut m = vec![Matcher::new("__name__", MatchOp::Equal, name).expect("matcher")];
    for (k, v) in labels {
        m.push(Matcher::new(k, MatchOp::Equal, v).expect("matcher"));
    }
    let (start, end) = (ds.times[0], *ds.times.last().expect("times"));
    let mut times = Vec::new();
    let mut points = 0;
    for _ in 0..21 {
        let t = Instant::now();
        let r = store.select_series(&m, start, end).expect("select");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        points = r.iter().map(|s| s.samples.len()).sum();
        assert_eq!(r.len(), 1);
        for (i, (ts, v)) in r[0].samples.iter().enumerate() {
            assert_eq!(*ts, ds.times[i]);
            assert_eq!(v.to_bits(), ds.values[pick][i].to_bits());
        }
    }
    times.sort_by(f64::total_cmp);
    QueryResult {
        points,
        median_ms: times[times.len() / 2],
        min_ms: times[0],
        max_ms: times[times.len() - 1],
    }
}

struct PromResult {
    blocks: usize,
    chunk_bytes: u64,
    total_bytes: u64,
    secs: f64,
}

/// Write `ds` as OpenMetrics, build TSDB blocks with promtool, and measure them.
fn prometheus_bytes(ds: &Dataset, scratch: &Path) -> Result<PromResult, String> {
    let om = scratch.join(format!("{}.om", ds.name));
    {
        let f = std::fs::File::create(&om).map_err(|e| e.to_string())?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let mut by_family: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in ds.series.iter().enumerate() {
            by_family.entry(s.0.as_str()).or_default().push(i);
        }
        for (name, idx) in by_family {
            let kind = ds.series[idx[0]].2;
            let (fam, t) = match kind {
                MetricType::Counter => (name.strip_suffix("_total").unwrap_or(name), "counter"),
                MetricType::Gauge => (name, "gauge"),
                MetricType::Untyped => (name, "unknown"),
            };
            writeln!(w, "# TYPE {fam} {t}").map_err(|e| e.to_string())?;
            for i in idx {
                let labels = om_labels(&ds.series[i].1);
                for (ts, v) in ds.times.iter().zip(&ds.values[i]) {
                    writeln!(
                        w,
                        "{name}{labels} {} {}.{:03}",
                        om_value(*v),
                        ts / 1000,
                        ts % 1000
                    )
                    .map_err(|e| e.to_string())?;
                }
            }
        }
        writeln!(w, "# EOF").map_err(|e| e.to_string())?;
        w.flush().map_err(|e| e.to_string())?;
    }
    let out = scratch.join(format!("prom-blocks-{}", ds.name));
    let t = Instant::now();
    let o = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&om)
        .arg(&out)
        .output()
        .map_err(|e| format!("promtool: {e}"))?;
    let secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&om);
    if !o.status.success() {
        return Err(format!(
            "promtool exited {}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let (mut blocks, mut chunk_bytes, mut total_bytes) = (0, 0u64, 0u64);
    for b in std::fs::read_dir(&out)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        if !b.path().join("meta.json").exists() {
            continue;
        }
        blocks += 1;
        total_bytes += dir_size(&b.path());
        chunk_bytes += dir_size(&b.path().join("chunks"));
    }
    Ok(PromResult {
        blocks,
        chunk_bytes,
        total_bytes,
        secs,
    })
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn om_labels(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| {
            format!(
                "{k}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn om_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v:?}")
    }
}
