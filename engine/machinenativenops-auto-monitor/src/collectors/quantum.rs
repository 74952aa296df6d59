//! `quantum`: calibration data of quantum backends, in IBM Qiskit's `BackendProperties` JSON.
//!
//! Each entry of `quantum.services` (name → `http(s)://` URL or file path) is read every tick
//! and parsed as Qiskit's `BackendProperties.to_dict()` form: `backend_name`,
//! `last_update_date`, `qubits` (one list of name/date/unit/value items per qubit: `T1`, `T2`,
//! `frequency`, `readout_error`, …) and `gates` (`gate`, `qubits`, `parameters`: `gate_error`,
//! `gate_length`). Values are converted from the unit each item names (`us`, `ns`, `ms`, `s`,
//! `GHz`, `MHz`, `kHz`, `Hz`) into the unit of the metric name. An entry that cannot be read or
//! is missing or malformed data fails on its own (`mno_quantum_calibration_success{service} 0`,
//! with the reason logged); the other entries are still exported.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{CollectError, Collector, Context};
use crate::config::QuantumConfig;
use crate::metrics::Family;

/// Where one service's calibration data comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Fetched with GET.
    Url(reqwest::Url),
    /// Read from a file.
    File(PathBuf),
}

impl Source {
    /// `http://` / `https://` URLs are fetched, `file://` URLs and anything else are paths.
    pub fn parse(s: &str) -> Result<Source, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty URL or path".into());
        }
        if t.starts_with("http://") || t.starts_with("https://") {
            return reqwest::Url::parse(t)
                .map(Source::Url)
                .map_err(|e| format!("invalid URL {t:?}: {e}"));
        }
        if let Some(rest) = t.strip_prefix("file://") {
            return Ok(Source::File(PathBuf::from(rest)));
        }
        if t.contains("://") {
            return Err(format!(
                "unsupported URL scheme in {t:?} (use http, https, file or a path)"
            ));
        }
        Ok(Source::File(PathBuf::from(t)))
    }
}

/// Thresholds that the per-backend counts compare against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Minimum gate fidelity (0–1).
    pub fidelity: f64,
    /// Minimum coherence time (T1 and T2), microseconds.
    pub coherence_us: f64,
    /// Maximum error rate (readout and gate), 0–1.
    pub error_rate: f64,
}

impl From<&QuantumConfig> for Thresholds {
    fn from(c: &QuantumConfig) -> Self {
        Thresholds {
            fidelity: c.fidelity_threshold,
            coherence_us: c.coherence_time_threshold,
            error_rate: c.error_rate_threshold,
        }
    }
}

// --- the BackendProperties JSON ---------------------------------------------------------------

/// One name/date/unit/value item (Qiskit's `Nduv`).
#[derive(Debug, Deserialize)]
struct Nduv {
    name: String,
    #[serde(default)]
    unit: Option<String>,
    value: f64,
}

#[derive(Debug, Deserialize)]
struct GateJson {
    gate: String,
    qubits: Vec<u32>,
    #[serde(default)]
    parameters: Vec<Nduv>,
}

#[derive(Debug, Deserialize)]
struct PropsJson {
    backend_name: String,
    #[serde(default)]
    last_update_date: Option<String>,
    qubits: Vec<Vec<Nduv>>,
    #[serde(default)]
    gates: Vec<GateJson>,
}

/// One qubit's calibration, in the units of the metric names.
#[derive(Debug, Clone, PartialEq)]
pub struct Qubit {
    /// Energy relaxation time, µs.
    pub t1_us: f64,
    /// Dephasing time, µs.
    pub t2_us: f64,
    /// Readout assignment error, 0–1.
    pub readout_error: f64,
    /// Qubit frequency, GHz.
    pub frequency_ghz: f64,
}

/// One gate's calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// Gate type (`cx`, `sx`, `x`, `ecr`, `reset`, …).
    pub gate: String,
    /// The qubits it acts on, joined with `_` (`0_1`), as in Qiskit's gate names.
    pub qubits: String,
    /// Gate error (0–1), when calibrated.
    pub error: Option<f64>,
    /// Gate duration, ns, when given.
    pub length_ns: Option<f64>,
}

/// A backend's calibration data, parsed and converted.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// `backend_name`.
    pub backend: String,
    /// `last_update_date` as Unix seconds.
    pub updated_at: Option<f64>,
    /// Qubits in index order.
    pub qubits: Vec<Qubit>,
    /// Gates in file order.
    pub gates: Vec<Gate>,
}

/// `value × 10^exp` with one correctly rounded operation (powers of ten up to 10^22 are exact).
fn scale(value: f64, exp: i32) -> f64 {
    if exp >= 0 {
        value * 10f64.powi(exp)
    } else {
        value / 10f64.powi(-exp)
    }
}

/// The power of ten of a time unit, in seconds.
fn time_exp(unit: &str) -> Result<i32, String> {
    match unit {
        "s" => Ok(0),
        "ms" => Ok(-3),
        "us" | "µs" | "μs" => Ok(-6),
        "ns" => Ok(-9),
        "" => Err("a time without a unit".into()),
        u => Err(format!("unknown time unit {u:?}")),
    }
}

/// Convert a time to microseconds.
pub fn to_microseconds(value: f64, unit: &str) -> Result<f64, String> {
    Ok(scale(value, time_exp(unit)? + 6))
}

/// Convert a time to nanoseconds.
pub fn to_nanoseconds(value: f64, unit: &str) -> Result<f64, String> {
    Ok(scale(value, time_exp(unit)? + 9))
}

/// Convert a frequency to gigahertz.
pub fn to_gigahertz(value: f64, unit: &str) -> Result<f64, String> {
    let exp = match unit {
        "GHz" => 9,
        "MHz" => 6,
        "kHz" => 3,
        "Hz" => 0,
        "" => return Err("a frequency without a unit".into()),
        u => return Err(format!("unknown frequency unit {u:?}")),
    };
    Ok(scale(value, exp - 9))
}

/// An error probability: no unit, within 0–1.
fn to_ratio(value: f64, unit: &str) -> Result<f64, String> {
    if !unit.is_empty() {
        return Err(format!("unexpected unit {unit:?} for an error rate"));
    }
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("{value} is not an error rate between 0 and 1"));
    }
    Ok(value)
}

/// A duration or frequency: finite and above zero.
fn positive(what: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{what} must be above zero (got {v})"))
    }
}

/// Parse a `BackendProperties` JSON document. Errors name the line and column (JSON syntax
/// and types) or the qubit / gate and field (missing, unknown unit, out of range).
pub fn parse(text: &[u8]) -> Result<Calibration, String> {
    let p: PropsJson = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    let mut qubits = Vec::with_capacity(p.qubits.len());
    for (i, items) in p.qubits.iter().enumerate() {
        let find = |name: &str| -> Result<(f64, &str), String> {
            items
                .iter()
                .find(|n| n.name == name)
                .map(|n| (n.value, n.unit.as_deref().unwrap_or("")))
                .ok_or_else(|| format!("qubit {i}: no {name}"))
        };
        let at =
            |name: &str, r: Result<f64, String>| r.map_err(|e| format!("qubit {i}: {name}: {e}"));
        let (v, u) = find("T1")?;
        let t1_us = at("T1", to_microseconds(v, u).and_then(|x| positive("T1", x)))?;
        let (v, u) = find("T2")?;
        let t2_us = at("T2", to_microseconds(v, u).and_then(|x| positive("T2", x)))?;
        let (v, u) = find("readout_error")?;
        let readout_error = at("readout_error", to_ratio(v, u))?;
        let (v, u) = find("frequency")?;
        let frequency_ghz = at(
            "frequency",
            to_gigahertz(v, u).and_then(|x| positive("frequency", x)),
        )?;
        qubits.push(Qubit {
            t1_us,
            t2_us,
            readout_error,
            frequency_ghz,
        });
    }
    let mut gates = Vec::with_capacity(p.gates.len());
    let mut seen = BTreeSet::new();
    for g in &p.gates {
        let qs = g
            .qubits
            .iter()
            .map(|q| q.to_string())
            .collect::<Vec<_>>()
            .join("_");
        let what = format!("gate {}{qs}", g.gate);
        if g.gate.is_empty() || g.qubits.is_empty() {
            return Err(format!("{what}: a gate needs a name and qubits"));
        }
        if let Some(q) = g.qubits.iter().find(|q| **q as usize >= qubits.len()) {
            return Err(format!(
                "{what}: qubit {q} is not among the {} qubits",
                qubits.len()
            ));
        }
        if !seen.insert((g.gate.clone(), qs.clone())) {
            return Err(format!("{what}: listed twice"));
        }
        let mut error = None;
        let mut length_ns = None;
        for n in &g.parameters {
            let unit = n.unit.as_deref().unwrap_or("");
            match n.name.as_str() {
                "gate_error" => {
                    error = Some(
                        to_ratio(n.value, unit).map_err(|e| format!("{what}: gate_error: {e}"))?,
                    )
                }
                "gate_length" => {
                    length_ns = Some(
                        to_nanoseconds(n.value, unit)
                            .and_then(|x| {
                                if x.is_finite() && x >= 0.0 {
                                    Ok(x)
                                } else {
                                    Err(format!("must not be negative (got {x})"))
                                }
                            })
                            .map_err(|e| format!("{what}: gate_length: {e}"))?,
                    )
                }
                _ => {}
            }
        }
        gates.push(Gate {
            gate: g.gate.clone(),
            qubits: qs,
            error,
            length_ns,
        });
    }
    let updated_at = match &p.last_update_date {
        None => None,
        Some(d) => Some(
            chrono::DateTime::parse_from_rfc3339(d)
                .map_err(|e| format!("last_update_date {d:?}: {e}"))?
                .timestamp_millis() as f64
                / 1000.0,
        ),
    };
    if p.backend_name.trim().is_empty() {
        return Err("backend_name is empty".into());
    }
    Ok(Calibration {
        backend: p.backend_name,
        updated_at,
        qubits,
        gates,
    })
}

/// The median of `v` (the mean of the two middle values for an even count); `None` if empty.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

// --- metric families --------------------------------------------------------------------------

/// The families one tick exports, filled service by service.
struct Families {
    t1: Family,
    t2: Family,
    readout: Family,
    freq: Family,
    gate_error: Family,
    gate_fidelity: Family,
    gate_length: Family,
    qubits: Family,
    t1_median: Family,
    t2_median: Family,
    readout_median: Family,
    gate_error_median: Family,
    gate_fidelity_median: Family,
    below_coherence: Family,
    above_error: Family,
    gates_above_error: Family,
    gates_below_fidelity: Family,
    updated: Family,
    success: Family,
}

impl Families {
    fn new() -> Families {
        Families {
            t1: Family::gauge(
                "mno_quantum_qubit_t1_microseconds",
                "Energy relaxation time T1 of the qubit, in microseconds.",
            ),
            t2: Family::gauge(
                "mno_quantum_qubit_t2_microseconds",
                "Dephasing time T2 of the qubit, in microseconds.",
            ),
            readout: Family::gauge(
                "mno_quantum_qubit_readout_error",
                "Readout assignment error of the qubit (0-1).",
            ),
            freq: Family::gauge(
                "mno_quantum_qubit_frequency_gigahertz",
                "Frequency of the qubit, in GHz.",
            ),
            gate_error: Family::gauge(
                "mno_quantum_gate_error",
                "Calibrated error of the gate on these qubits (0-1).",
            ),
            gate_fidelity: Family::gauge(
                "mno_quantum_gate_fidelity",
                "Fidelity of the gate on these qubits: 1 - gate error.",
            ),
            gate_length: Family::gauge(
                "mno_quantum_gate_length_nanoseconds",
                "Duration of the gate on these qubits, in nanoseconds.",
            ),
            qubits: Family::gauge(
                "mno_quantum_backend_qubits",
                "Number of qubits in the backend's calibration data.",
            ),
            t1_median: Family::gauge(
                "mno_quantum_backend_t1_median_microseconds",
                "Median T1 over the backend's qubits, in microseconds.",
            ),
            t2_median: Family::gauge(
                "mno_quantum_backend_t2_median_microseconds",
                "Median T2 over the backend's qubits, in microseconds.",
            ),
            readout_median: Family::gauge(
                "mno_quantum_backend_readout_error_median",
                "Median readout error over the backend's qubits.",
            ),
            gate_error_median: Family::gauge(
                "mno_quantum_backend_gate_error_median",
                "Median error of the backend's gates of this type.",
            ),
            gate_fidelity_median: Family::gauge(
                "mno_quantum_backend_gate_fidelity_median",
                "Median fidelity (1 - error) of the backend's gates of this type.",
            ),
            below_coherence: Family::gauge(
                "mno_quantum_backend_qubits_below_coherence_threshold",
                "Qubits whose T1 or T2 is below quantum.coherence_time_threshold.",
            ),
            above_error: Family::gauge(
                "mno_quantum_backend_qubits_above_error_threshold",
                "Qubits whose readout error is above quantum.error_rate_threshold.",
            ),
            gates_above_error: Family::gauge(
                "mno_quantum_backend_gates_above_error_threshold",
                "Gates whose error is above quantum.error_rate_threshold.",
            ),
            gates_below_fidelity: Family::gauge(
                "mno_quantum_backend_gates_below_fidelity_threshold",
                "Gates whose fidelity is below quantum.fidelity_threshold.",
            ),
            updated: Family::gauge(
                "mno_quantum_calibration_timestamp_seconds",
                "Unix time of the backend's last calibration (last_update_date).",
            ),
            success: Family::gauge(
                "mno_quantum_calibration_success",
                "Whether the service's calibration data was read and parsed (1) or not (0).",
            ),
        }
    }

    fn add(&mut self, service: &str, c: &Calibration, th: Thresholds) {
        let b = c.backend.as_str();
        for (i, q) in c.qubits.iter().enumerate() {
            let idx = i.to_string();
            let l = [
                ("service", service),
                ("backend", b),
                ("qubit", idx.as_str()),
            ];
            self.t1.push(&l, q.t1_us);
            self.t2.push(&l, q.t2_us);
            self.readout.push(&l, q.readout_error);
            self.freq.push(&l, q.frequency_ghz);
        }
        let mut by_type: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        let (mut gates_above, mut gates_below) = (0usize, 0usize);
        for g in &c.gates {
            let l = [
                ("service", service),
                ("backend", b),
                ("gate", g.gate.as_str()),
                ("qubits", g.qubits.as_str()),
            ];
            if let Some(e) = g.error {
                self.gate_error.push(&l, e);
                self.gate_fidelity.push(&l, 1.0 - e);
                by_type.entry(g.gate.as_str()).or_default().push(e);
                gates_above += usize::from(e > th.error_rate);
                gates_below += usize::from(1.0 - e < th.fidelity);
            }
            if let Some(len) = g.length_ns {
                self.gate_length.push(&l, len);
            }
        }
        let l = [("service", service), ("backend", b)];
        self.qubits.push(&l, c.qubits.len() as f64);
        let col = |f: fn(&Qubit) -> f64| c.qubits.iter().map(f).collect::<Vec<_>>();
        if let Some(m) = median(col(|q| q.t1_us)) {
            self.t1_median.push(&l, m);
        }
        if let Some(m) = median(col(|q| q.t2_us)) {
            self.t2_median.push(&l, m);
        }
        if let Some(m) = median(col(|q| q.readout_error)) {
            self.readout_median.push(&l, m);
        }
        for (gate, errors) in by_type {
            let lg = [("service", service), ("backend", b), ("gate", gate)];
            if let Some(m) = median(errors) {
                self.gate_error_median.push(&lg, m);
                self.gate_fidelity_median.push(&lg, 1.0 - m);
            }
        }
        let below = c
            .qubits
            .iter()
            .filter(|q| q.t1_us < th.coherence_us || q.t2_us < th.coherence_us)
            .count();
        let above = c
            .qubits
            .iter()
            .filter(|q| q.readout_error > th.error_rate)
            .count();
        self.below_coherence.push(&l, below as f64);
        self.above_error.push(&l, above as f64);
        self.gates_above_error.push(&l, gates_above as f64);
        self.gates_below_fidelity.push(&l, gates_below as f64);
        if let Some(t) = c.updated_at {
            self.updated.push(&l, t);
        }
    }

    fn into_vec(self) -> Vec<Family> {
        vec![
            self.t1,
            self.t2,
            self.readout,
            self.freq,
            self.gate_error,
            self.gate_fidelity,
            self.gate_length,
            self.qubits,
            self.t1_median,
            self.t2_median,
            self.readout_median,
            self.gate_error_median,
            self.gate_fidelity_median,
            self.below_coherence,
            self.above_error,
            self.gates_above_error,
            self.gates_below_fidelity,
            self.updated,
            self.success,
        ]
    }
}

/// Families for parsed calibrations (`Err` entries count as failed services).
pub fn families(results: &[(String, Result<Calibration, String>)], th: Thresholds) -> Vec<Family> {
    let mut f = Families::new();
    // Two services reporting the same backend would export the same series twice: the second
    // is refused.
    let mut backends = BTreeMap::new();
    for (service, r) in results {
        let ok = match r {
            Ok(c) => match backends.get(&c.backend) {
                Some(first) if first != service => {
                    tracing::warn!(service = %service, backend = %c.backend, first = %first,
                        "quantum calibration: the backend is already reported by another service");
                    false
                }
                _ => {
                    backends.insert(c.backend.clone(), service.clone());
                    f.add(service, c, th);
                    true
                }
            },
            Err(e) => {
                tracing::warn!(service = %service, error = %e, "quantum calibration failed");
                false
            }
        };
        f.success
            .push(&[("service", service.as_str())], if ok { 1.0 } else { 0.0 });
    }
    let mut out = Vec::new();
    super::push_nonempty(&mut out, f.into_vec());
    out
}

// --- the collector ----------------------------------------------------------------------------

/// Most bytes read from one service.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Reads every configured service's calibration data each tick.
pub struct QuantumCollector {
    services: Vec<(String, Source)>,
    thresholds: Thresholds,
    timeout: Duration,
    headers: BTreeMap<String, String>,
    auth_token: Option<String>,
    verify_ssl: bool,
}

impl QuantumCollector {
    /// A collector for the `quantum` section; HTTP requests use `network`'s headers, token and
    /// TLS setting.
    pub fn new(
        q: &QuantumConfig,
        net: &crate::config::NetworkConfig,
    ) -> Result<QuantumCollector, String> {
        let mut services = Vec::new();
        for (name, url) in &q.services {
            let src = Source::parse(url).map_err(|e| format!("quantum.services.{name}: {e}"))?;
            services.push((name.clone(), src));
        }
        if !(q.timeout.is_finite() && q.timeout > 0.0) {
            return Err(format!(
                "quantum.timeout: must be a positive number of seconds (got {})",
                q.timeout
            ));
        }
        Ok(QuantumCollector {
            services,
            thresholds: Thresholds::from(q),
            timeout: Duration::from_secs_f64(q.timeout),
            headers: net.headers.clone(),
            auth_token: net.auth_token.clone(),
            verify_ssl: net.verify_ssl,
        })
    }

    /// Read every service: files directly, URLs concurrently on a thread of their own (this
    /// runs on the collection thread, which may or may not be inside a tokio runtime).
    fn read_all(&self) -> Vec<(String, Result<Vec<u8>, String>)> {
        let urls: Vec<(usize, reqwest::Url)> = self
            .services
            .iter()
            .enumerate()
            .filter_map(|(i, (_, s))| match s {
                Source::Url(u) => Some((i, u.clone())),
                Source::File(_) => None,
            })
            .collect();
        let mut fetched: BTreeMap<usize, Result<Vec<u8>, String>> = BTreeMap::new();
        if !urls.is_empty() {
            let (timeout, headers, token, verify) = (
                self.timeout,
                self.headers.clone(),
                self.auth_token.clone(),
                self.verify_ssl,
            );
            let handle = std::thread::Builder::new()
                .name("mno-quantum-fetch".into())
                .spawn(move || fetch_all(urls, timeout, &headers, token.as_deref(), verify));
            match handle.map_err(|e| e.to_string()).and_then(|h| {
                h.join()
                    .map_err(|_| "the fetch thread panicked".to_string())
            }) {
                Ok(r) => fetched = r,
                Err(e) => {
                    for (i, _) in self.services.iter().enumerate() {
                        fetched.insert(i, Err(e.clone()));
                    }
                }
            }
        }
        self.services
            .iter()
            .enumerate()
            .map(|(i, (name, src))| {
                let body = match src {
                    Source::File(p) => read_file(p),
                    Source::Url(_) => fetched
                        .remove(&i)
                        .unwrap_or_else(|| Err("not fetched".into())),
                };
                (name.clone(), body)
            })
            .collect()
    }
}

fn read_file(p: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut buf = Vec::new();
    f.take(BODY_LIMIT as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    if buf.len() > BODY_LIMIT {
        return Err(format!("{}: larger than {BODY_LIMIT} bytes", p.display()));
    }
    Ok(buf)
}

fn fetch_all(
    urls: Vec<(usize, reqwest::Url)>,
    timeout: Duration,
    headers: &BTreeMap<String, String>,
    token: Option<&str>,
    verify_ssl: bool,
) -> BTreeMap<usize, Result<Vec<u8>, String>> {
    let fail_all = |e: String| urls.iter().map(|(i, _)| (*i, Err(e.clone()))).collect();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail_all(format!("cannot start a runtime: {e}")),
    };
    crate::install_crypto_provider();
    let mut hm = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        if let (Ok(n), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(k.as_bytes()),
            reqwest::header::HeaderValue::from_str(v),
        ) {
            hm.insert(n, v);
        }
    }
    if let Some(t) = token
        && let Ok(v) = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}"))
    {
        hm.insert(reqwest::header::AUTHORIZATION, v);
    }
    let client = match reqwest::Client::builder()
        .user_agent(concat!(
            "machinenativenops-auto-monitor/",
            env!("CARGO_PKG_VERSION")
        ))
        .default_headers(hm)
        .tls_danger_accept_invalid_certs(!verify_ssl)
        .timeout(timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => return fail_all(format!("HTTP client: {e}")),
    };
    rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (i, url) in urls.iter().cloned() {
            let client = client.clone();
            set.spawn(async move { (i, fetch(&client, url).await) });
        }
        let mut out = BTreeMap::new();
        while let Some(Ok((i, r))) = set.join_next().await {
            out.insert(i, r);
        }
        out
    })
}

async fn fetch(client: &reqwest::Client, url: reqwest::Url) -> Result<Vec<u8>, String> {
    let mut resp = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", chain(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("GET {url}: HTTP {status}"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("GET {url}: {}", chain(&e)))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > BODY_LIMIT {
            return Err(format!("GET {url}: larger than {BODY_LIMIT} bytes"));
        }
    }
    Ok(body)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl Collector for QuantumCollector {
    fn name(&self) -> &'static str {
        "quantum"
    }

    fn collect(&self, _ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let results: Vec<(String, Result<Calibration, String>)> = self
            .read_all()
            .into_iter()
            .map(|(name, body)| {
                let parsed = body.and_then(|b| parse(&b));
                (name, parsed)
            })
            .collect();
        out.extend(families(&results, self.thresholds));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert() {
        assert!((to_microseconds(0.000123, "s").unwrap() - 123.0).abs() < 1e-9);
        assert!((to_microseconds(0.25, "ms").unwrap() - 250.0).abs() < 1e-9);
        assert_eq!(to_microseconds(87.5, "us").unwrap(), 87.5);
        assert_eq!(to_microseconds(87.5, "µs").unwrap(), 87.5);
        assert!((to_microseconds(120_500.0, "ns").unwrap() - 120.5).abs() < 1e-9);
        assert!((to_nanoseconds(0.56, "us").unwrap() - 560.0).abs() < 1e-9);
        assert_eq!(to_nanoseconds(35.5, "ns").unwrap(), 35.5);
        assert_eq!(to_gigahertz(5.1, "GHz").unwrap(), 5.1);
        assert!((to_gigahertz(4850.0, "MHz").unwrap() - 4.85).abs() < 1e-12);
        assert!((to_gigahertz(4.9e9, "Hz").unwrap() - 4.9).abs() < 1e-12);
        assert!(to_microseconds(1.0, "").is_err());
        assert!(to_microseconds(1.0, "min").is_err());
        assert!(to_gigahertz(1.0, "THz").is_err());
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0]), Some(3.0));
        assert_eq!(median(vec![5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn sources() {
        assert!(matches!(
            Source::parse("https://q.example/props").unwrap(),
            Source::Url(_)
        ));
        assert_eq!(
            Source::parse("file:///var/q.json").unwrap(),
            Source::File("/var/q.json".into())
        );
        assert_eq!(
            Source::parse("/var/q.json").unwrap(),
            Source::File("/var/q.json".into())
        );
        assert!(Source::parse("ftp://x/y").is_err());
        assert!(Source::parse(" ").is_err());
    }

    fn doc(qubit0: &str, gates: &str) -> String {
        format!(
            r#"{{"backend_name": "b", "backend_version": "1.0.0",
                "last_update_date": "2026-11-30T06:00:00+00:00",
                "qubits": [[{qubit0}]], "gates": [{gates}], "general": []}}"#
        )
    }

    const Q0: &str = r#"{"name": "T1", "unit": "us", "value": 100, "date": "2026-11-30T06:00:00+00:00"},
        {"name": "T2", "unit": "us", "value": 80, "date": "2026-11-30T06:00:00+00:00"},
        {"name": "frequency", "unit": "GHz", "value": 5, "date": "2026-11-30T06:00:00+00:00"},
        {"name": "readout_error", "unit": "", "value": 0.02, "date": "2026-11-30T06:00:00+00:00"}"#;

    #[test]
    fn parses_a_minimal_document() {
        let c = parse(
            doc(
                Q0,
                r#"{"gate": "x", "qubits": [0], "name": "x0", "parameters": [
                  {"name": "gate_error", "unit": "", "value": 0.001, "date": "2026-11-30T06:00:00+00:00"},
                  {"name": "gate_length", "unit": "ns", "value": 35.5, "date": "2026-11-30T06:00:00+00:00"}]}"#,
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(c.backend, "b");
        assert_eq!(c.updated_at, Some(1_796_018_400.0));
        assert_eq!(c.qubits[0].t1_us, 100.0);
        assert_eq!(c.gates[0].error, Some(0.001));
        assert_eq!(c.gates[0].length_ns, Some(35.5));
    }

    #[test]
    fn malformed_documents_are_errors_with_a_location() {
        // JSON syntax: line and column.
        let e = parse(b"{\"backend_name\": \"b\",\n \"qubits\": [[}").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        // A value of the wrong type.
        let e = parse(doc(&Q0.replace("100", "\"long\""), "").as_bytes()).unwrap_err();
        assert!(e.contains("line"), "{e}");
        // Missing T2.
        let q = Q0.replace("\"T2\"", "\"T2x\"");
        let e = parse(doc(&q, "").as_bytes()).unwrap_err();
        assert_eq!(e, "qubit 0: no T2");
        // Unknown unit.
        let q = Q0.replace("\"GHz\"", "\"furlong\"");
        let e = parse(doc(&q, "").as_bytes()).unwrap_err();
        assert!(
            e.starts_with("qubit 0: frequency: unknown frequency unit"),
            "{e}"
        );
        // Error out of range.
        let q = Q0.replace("0.02", "1.5");
        let e = parse(doc(&q, "").as_bytes()).unwrap_err();
        assert!(e.starts_with("qubit 0: readout_error:"), "{e}");
        // Negative T1.
        let q = Q0.replace("100", "-3");
        assert!(
            parse(doc(&q, "").as_bytes())
                .unwrap_err()
                .starts_with("qubit 0: T1:")
        );
        // A gate on a qubit that does not exist.
        let e = parse(doc(Q0, r#"{"gate": "cx", "qubits": [0, 7], "parameters": []}"#).as_bytes())
            .unwrap_err();
        assert!(e.contains("gate cx0_7: qubit 7"), "{e}");
        // A gate listed twice.
        let g = r#"{"gate": "x", "qubits": [0], "parameters": []}"#;
        let e = parse(doc(Q0, &format!("{g}, {g}")).as_bytes()).unwrap_err();
        assert!(e.contains("listed twice"), "{e}");
        // A bad date.
        let d = doc(Q0, "").replace("2026-11-30T06:00:00+00:00\",\n", "yesterday\",\n");
        let e = parse(d.as_bytes()).unwrap_err();
        assert!(e.starts_with("last_update_date"), "{e}");
        // Not an object at all.
        assert!(parse(b"[]").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn failed_services_are_reported_and_others_exported() {
        let ok = parse(doc(Q0, "").as_bytes()).unwrap();
        let th = Thresholds {
            fidelity: 0.94,
            coherence_us: 100.0,
            error_rate: 0.01,
        };
        let fams = families(
            &[
                ("good".into(), Ok(ok.clone())),
                ("bad".into(), Err("nope".into())),
                ("dup".into(), Ok(ok)),
            ],
            th,
        );
        let get = |n: &str| fams.iter().find(|f| f.name == n).unwrap();
        let s = get("mno_quantum_calibration_success");
        assert_eq!(s.value(&[("service", "good")]), Some(1.0));
        assert_eq!(s.value(&[("service", "bad")]), Some(0.0));
        assert_eq!(s.value(&[("service", "dup")]), Some(0.0));
        let t1 = get("mno_quantum_qubit_t1_microseconds");
        assert_eq!(t1.samples.len(), 1);
        // T2 = 80 µs < 100: below the coherence threshold; readout 0.02 > 0.01.
        assert_eq!(
            get("mno_quantum_backend_qubits_below_coherence_threshold").value(&[]),
            Some(1.0)
        );
        assert_eq!(
            get("mno_quantum_backend_qubits_above_error_threshold").value(&[]),
            Some(1.0)
        );
    }
}
