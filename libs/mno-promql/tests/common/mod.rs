//! Shared by the comparison tests and the benchmark: locate the reference
//! tools, generate realistic series, load them into a real Prometheus
//! (`promtool tsdb create-blocks-from openmetrics`) and into `MemStorage`,
//! and query Prometheus' HTTP API.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mno_promql::{MemStorage, SeriesData};

// Each test binary uses a different subset.
#[allow(unused_imports)]
pub use mno_testkit::{free_port, tool, tools_required};

/// Deterministic xorshift64* so fixtures are the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn f(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Build labels from pairs.
pub fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

/// Start of the comparison fixture: 2026-01-01T00:00:00Z, in seconds.
pub const T0: i64 = 1_767_225_600;
/// Length of the comparison fixture in seconds (1 h 40 min).
pub const SPAN: i64 = 6_000;

/// Node-like series at a 15 s interval with the irregularities real scrapes
/// have: jitter, a missed scrape, a counter reset, a series that appears
/// late and one that stops early (to exercise the 5 m lookback), a gap longer
/// than the lookback, and a classic histogram.
pub fn fixture() -> Vec<SeriesData> {
    let mut rng = Rng::new(42);
    let mut out = Vec::new();
    let times = |rng: &mut Rng, jitter: bool, from: i64, to: i64| -> Vec<i64> {
        let mut ts = Vec::new();
        let mut t = from;
        while t < to {
            let j = if jitter {
                (rng.next_u64() % 5) as i64 - 2
            } else {
                0
            };
            ts.push((T0 + t + j) * 1000);
            t += 15;
        }
        ts
    };
    // CPU counters: 2 cpus x 4 modes; cpu 1 resets (host reboot) at 50 min.
    for cpu in ["0", "1"] {
        for (mode, share) in [
            ("idle", 0.7),
            ("user", 0.2),
            ("system", 0.08),
            ("iowait", 0.02),
        ] {
            let mut v = 1000.0 * share * (1.0 + rng.f());
            let mut samples = Vec::new();
            let mut reset = cpu == "1";
            for t in times(&mut rng, cpu == "1", 0, SPAN) {
                if reset && t >= (T0 + 3000) * 1000 {
                    v = 3.0 * share;
                    reset = false;
                }
                v += 15.0 * share * (0.5 + rng.f());
                samples.push((t, (v * 100.0).round() / 100.0));
            }
            out.push(SeriesData {
                labels: labels(&[
                    ("__name__", "node_cpu_seconds_total"),
                    ("cpu", cpu),
                    ("mode", mode),
                    ("instance", "host-a"),
                ]),
                samples,
            });
        }
        out.push(SeriesData {
            labels: labels(&[
                ("__name__", "node_cpu_info"),
                ("cpu", cpu),
                ("model", if cpu == "0" { "epyc" } else { "xeon" }),
            ]),
            samples: times(&mut rng, false, 0, SPAN)
                .into_iter()
                .map(|t| (t, 1.0))
                .collect(),
        });
    }
    // Request counters: instance b appears at 20 min; code 500 on a stops at 60 min;
    // instance a resets twice.
    for inst in ["a", "b"] {
        for code in ["200", "500"] {
            let (from, to) = match (inst, code) {
                ("b", _) => (1200, SPAN),
                ("a", "500") => (0, 3600),
                _ => (0, SPAN),
            };
            let mut v = 0.0;
            let mut samples = Vec::new();
            for (k, t) in times(&mut rng, true, from, to).into_iter().enumerate() {
                if inst == "a" && (k == 100 || k == 250) {
                    v = 0.0;
                }
                v += (rng.next_u64() % if code == "200" { 40 } else { 3 }) as f64;
                samples.push((t, v));
            }
            out.push(SeriesData {
                labels: labels(&[
                    ("__name__", "http_requests_total"),
                    ("job", "api"),
                    ("instance", inst),
                    ("code", code),
                ]),
                samples,
            });
        }
    }
    // Gauges: memory (large), load averages (small), temperatures (negative too).
    for inst in ["host-a", "host-b"] {
        let mut mem = 8.0e9 + rng.f() * 1e9;
        let mut l1: f64 = 0.5 + rng.f();
        let mut samples_mem = Vec::new();
        let mut samples_l1 = Vec::new();
        let mut samples_l5 = Vec::new();
        for t in times(&mut rng, inst == "host-b", 0, SPAN) {
            // host-b misses scrapes for 7 minutes (longer than the lookback).
            if inst == "host-b" && t > (T0 + 4000) * 1000 && t < (T0 + 4420) * 1000 {
                continue;
            }
            mem += (rng.f() - 0.5) * 5e7;
            l1 = (l1 + (rng.f() - 0.5) * 0.4).max(0.0);
            samples_mem.push((t, mem.round()));
            samples_l1.push((t, (l1 * 100.0).round() / 100.0));
            samples_l5.push((t, ((l1 * 0.8 + 0.3) * 100.0).round() / 100.0));
        }
        for (name, s) in [
            ("node_memory_MemAvailable_bytes", samples_mem),
            ("node_load1", samples_l1),
            ("node_load5", samples_l5),
        ] {
            out.push(SeriesData {
                labels: labels(&[("__name__", name), ("instance", inst)]),
                samples: s,
            });
        }
    }
    for sensor in ["inlet", "outlet", "freezer"] {
        let base = match sensor {
            "inlet" => 21.0,
            "outlet" => 35.0,
            _ => -18.0,
        };
        let samples = times(&mut rng, false, 0, SPAN)
            .into_iter()
            .map(|t| (t, ((base + (rng.f() - 0.5) * 6.0) * 10.0f64).round() / 10.0))
            .collect();
        out.push(SeriesData {
            labels: labels(&[("__name__", "temperature_celsius"), ("sensor", sensor)]),
            samples,
        });
    }
    // A gauge with the odd values exporters do emit: NaN and infinities.
    for (k, inst) in ["x", "y", "z"].into_iter().enumerate() {
        let samples = times(&mut rng, false, 0, SPAN)
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let v = match (i + k * 7) % 23 {
                    0 => f64::NAN,
                    5 => f64::INFINITY,
                    11 if k == 2 => f64::NEG_INFINITY,
                    _ => ((rng.f() - 0.3) * 100.0).round() / 10.0,
                };
                (t, v)
            })
            .collect();
        out.push(SeriesData {
            labels: labels(&[("__name__", "odd_gauge"), ("instance", inst)]),
            samples,
        });
    }
    // A classic histogram per instance.
    let bounds = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];
    for inst in ["a", "b"] {
        let ts = times(&mut rng, false, 0, SPAN);
        let mut counts = [0.0f64; 6];
        let mut sum = 0.0;
        let mut per_bucket: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 6];
        let mut sums = Vec::new();
        for &t in &ts {
            for _ in 0..(rng.next_u64() % 20) {
                let obs = rng.f() * rng.f() * 1.2;
                sum += obs;
                for (i, b) in bounds.iter().enumerate() {
                    let ub: f64 = b.parse().unwrap_or(f64::INFINITY);
                    if obs <= ub {
                        counts[i] += 1.0;
                    }
                }
            }
            for i in 0..6 {
                per_bucket[i].push((t, counts[i]));
            }
            sums.push((t, (sum * 1e6).round() / 1e6));
        }
        for (i, b) in bounds.iter().enumerate() {
            out.push(SeriesData {
                labels: labels(&[
                    ("__name__", "request_duration_seconds_bucket"),
                    ("instance", inst),
                    ("le", b),
                ]),
                samples: per_bucket[i].clone(),
            });
        }
        out.push(SeriesData {
            labels: labels(&[
                ("__name__", "request_duration_seconds_count"),
                ("instance", inst),
            ]),
            samples: per_bucket[5].clone(),
        });
        out.push(SeriesData {
            labels: labels(&[
                ("__name__", "request_duration_seconds_sum"),
                ("instance", inst),
            ]),
            samples: sums,
        });
    }
    out
}

/// Write series as OpenMetrics text, each series contiguous and in time
/// order, timestamps in whole or fractional seconds.
pub fn write_openmetrics(series: &[SeriesData], path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create openmetrics"));
    for s in series {
        let name = s
            .labels
            .iter()
            .find(|(n, _)| n == "__name__")
            .map(|(_, v)| v.as_str())
            .unwrap_or("unnamed");
        let rest: Vec<String> = s
            .labels
            .iter()
            .filter(|(n, _)| n != "__name__")
            .map(|(n, v)| format!("{n}=\"{v}\""))
            .collect();
        let head = if rest.is_empty() {
            name.to_string()
        } else {
            format!("{name}{{{}}}", rest.join(","))
        };
        for (t, v) in &s.samples {
            let ts = if t % 1000 == 0 {
                format!("{}", t / 1000)
            } else {
                format!("{}.{:03}", t / 1000, t % 1000)
            };
            let v = mno_promql::json::format_float(*v);
            writeln!(f, "{head} {v} {ts}").expect("write openmetrics");
        }
    }
    writeln!(f, "# EOF").expect("write openmetrics");
}

/// A Prometheus server over blocks made from `series`; killed on drop.
pub struct Prometheus {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Backfill `series` with promtool and start Prometheus on a free loopback port.
    pub fn start(series: &[SeriesData]) -> Option<Prometheus> {
        let promtool = tool("promtool")?;
        let prometheus = tool("prometheus")?;
        let dir = tempfile::tempdir().expect("tempdir");
        let om = dir.path().join("data.om");
        write_openmetrics(series, &om);
        let db = dir.path().join("db");
        let out = Command::new(&promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&om)
            .arg(&db)
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool create-blocks-from openmetrics failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n").expect("write config");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new(&prometheus)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", db.display()))
            .arg("--storage.tsdb.retention.time=10y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let p = Prometheus {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if matches!(http_get(port, "/-/ready"), Ok((200, _))) {
                return Some(p);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("prometheus did not become ready within 60 s");
    }

    /// GET a path with query parameters; returns (status, body).
    pub fn get(&self, path: &str, params: &[(&str, String)]) -> (u16, String) {
        let q: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect();
        let target = format!("{path}?{}", q.join("&"));
        http_get(self.port, &target).unwrap_or_else(|e| panic!("GET {target}: {e}"))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encode for a query string.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A minimal HTTP/1.0 GET (no chunking, the server closes the connection).
pub fn http_get(port: u16, target: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(s, "GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    Ok((status, body))
}

/// The fixture in a `MemStorage`.
pub fn mem(series: &[SeriesData]) -> MemStorage {
    MemStorage::from_series(series.to_vec())
}
