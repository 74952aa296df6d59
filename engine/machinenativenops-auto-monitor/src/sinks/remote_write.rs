//! Prometheus remote_write (protocol 1.0): every tick's batch is sent to each configured
//! receiver (Prometheus with `--web.enable-remote-write-receiver`, Mimir, Thanos Receive,
//! VictoriaMetrics, …) as a snappy-compressed protobuf `WriteRequest`.
//!
//! Each tick is encoded at once and written to a bounded on-disk queue (one segment file per
//! request under `<data dir>/remote_write/<name>/`) before any send is tried, so a receiver
//! outage, or a restart of the agent, loses nothing until the queue's byte limit; past it the
//! oldest segments are dropped and counted. A sender task sends the oldest segment first,
//! deletes it on a 2xx, retries it with exponential backoff on a network error, 5xx or 429,
//! and drops it (counted) on any other status, which a retry cannot fix.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::agent::{FamilySource, SnapshotRx};
use crate::metrics::{Batch, Family};

// --- the remote.proto messages (prometheus/prompb), declared with prost's derive ---------------

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series, each with its samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, `__name__` first, then sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples in time order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<ProtoSample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoSample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

// --- configuration ----------------------------------------------------------------------------

/// One receiver (`remote_write[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// The receiver's write endpoint, e.g. `http://prometheus:9090/api/v1/write`.
    pub url: String,
    /// Name of this receiver (the `remote` label and the queue's directory); default:
    /// `host:port` of the URL.
    #[serde(default)]
    pub name: Option<String>,
    /// Seconds one request may take.
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// Extra request headers (for instance `X-Scope-OrgID` for Mimir).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Bearer token sent as `Authorization: Bearer …` (masked by `config show`).
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// Labels added to every series unless the series has them. `job` (default
    /// `machinenativenops-auto-monitor`) and `instance` (default: the host name) are added
    /// too unless given here, so the series of many hosts stay apart.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Most samples in one request.
    #[serde(default = "default_max_samples")]
    pub max_samples_per_send: u32,
    /// Largest size of the on-disk queue (`256MB`, `1GiB`, bytes); past it the oldest
    /// requests are dropped and counted in `mno_remote_write_samples_dropped_total`.
    #[serde(default = "default_queue_size")]
    pub queue_max_size: String,
    /// First retry delay after a failed send, seconds; it doubles per failure.
    #[serde(default = "default_min_backoff")]
    pub min_backoff: f64,
    /// Longest retry delay, seconds.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: f64,
}

fn default_timeout() -> f64 {
    30.0
}
fn default_max_samples() -> u32 {
    2000
}
fn default_queue_size() -> String {
    "256MB".into()
}
fn default_min_backoff() -> f64 {
    0.03
}
fn default_max_backoff() -> f64 {
    5.0
}

/// A receiver's settings, checked.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The `remote` label.
    pub name: String,
    /// The endpoint.
    pub url: reqwest::Url,
    timeout: Duration,
    headers: BTreeMap<String, String>,
    bearer_token: Option<String>,
    extra_labels: Vec<(String, String)>,
    max_samples: usize,
    /// Queue limit, bytes.
    pub max_bytes: u64,
    min_backoff: Duration,
    max_backoff: Duration,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Check `remote_write` and resolve defaults; errors name their key (`remote_write.0.url: …`).
pub fn remotes(cfg: &[RemoteWriteConfig]) -> Result<Vec<Remote>, String> {
    let mut out: Vec<Remote> = Vec::new();
    for (i, c) in cfg.iter().enumerate() {
        let at = |k: &str| format!("remote_write.{i}.{k}");
        let url = reqwest::Url::parse(&c.url).map_err(|e| format!("{}: {e}", at("url")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{}: the URL must be http or https", at("url")));
        }
        let name = match &c.name {
            Some(n) => n.clone(),
            None => format!(
                "{}:{}",
                url.host_str().unwrap_or("remote"),
                url.port_or_known_default().unwrap_or(0)
            ),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.:".contains(ch))
        {
            return Err(format!(
                "{}: {name:?} must be letters, digits, '-', '_', '.' or ':'",
                at("name")
            ));
        }
        if out.iter().any(|r| r.name == name) {
            return Err(format!("{}: two receivers are named {name:?}", at("name")));
        }
        for (k, v) in [
            ("timeout", c.timeout),
            ("min_backoff", c.min_backoff),
            ("max_backoff", c.max_backoff),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!(
                    "{}: must be a positive number of seconds (got {v})",
                    at(k)
                ));
            }
        }
        if c.max_backoff < c.min_backoff {
            return Err(format!(
                "{}: must not be below min_backoff",
                at("max_backoff")
            ));
        }
        if c.max_samples_per_send == 0 {
            return Err(format!(
                "{}: must be at least 1",
                at("max_samples_per_send")
            ));
        }
        let max_bytes = mno_common::parse_size(&c.queue_max_size)
            .map_err(|e| format!("{}: {e}", at("queue_max_size")))?;
        if max_bytes < 4096 {
            return Err(format!(
                "{}: must be at least 4KB (got {max_bytes} bytes)",
                at("queue_max_size")
            ));
        }
        for (k, v) in &c.headers {
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(v).is_err()
            {
                return Err(format!("{}: invalid header {k:?}", at("headers")));
            }
        }
        let mut extra: BTreeMap<String, String> = c.external_labels.clone();
        if let Some(k) = extra
            .keys()
            .find(|k| !crate::collectors::promtext::valid_label_name(k) || k.starts_with("__"))
        {
            return Err(format!(
                "{}: invalid label name {k:?}",
                at("external_labels")
            ));
        }
        extra
            .entry("job".into())
            .or_insert_with(|| "machinenativenops-auto-monitor".into());
        extra.entry("instance".into()).or_insert_with(host_name);
        out.push(Remote {
            name,
            url,
            timeout: Duration::from_secs_f64(c.timeout),
            headers: c.headers.clone(),
            bearer_token: c.bearer_token.clone(),
            extra_labels: extra.into_iter().collect(),
            max_samples: c.max_samples_per_send as usize,
            max_bytes,
            min_backoff: Duration::from_secs_f64(c.min_backoff),
            max_backoff: Duration::from_secs_f64(c.max_backoff),
        });
    }
    Ok(out)
}

// --- encoding ---------------------------------------------------------------------------------

/// A batch as snappy-compressed `WriteRequest` bodies of at most `max_samples` samples each,
/// with their sample counts.
pub fn encode(
    batch: &Batch,
    extra: &[(String, String)],
    max_samples: usize,
) -> Vec<(Vec<u8>, usize)> {
    let ts = batch
        .collected_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut out = Vec::new();
    let mut cur: Vec<TimeSeries> = Vec::new();
    let flush = |cur: &mut Vec<TimeSeries>, out: &mut Vec<(Vec<u8>, usize)>| {
        if cur.is_empty() {
            return;
        }
        let n = cur.len();
        let req = WriteRequest {
            timeseries: std::mem::take(cur),
        };
        let raw = prost::Message::encode_to_vec(&req);
        match snap::raw::Encoder::new().compress_vec(&raw) {
            Ok(body) => out.push((body, n)),
            Err(e) => tracing::error!(error = %e, "remote_write: snappy compression failed"),
        }
    };
    for f in &batch.families {
        for s in &f.samples {
            let mut labels: Vec<Label> = Vec::with_capacity(s.labels.len() + extra.len() + 1);
            labels.push(Label {
                name: "__name__".into(),
                value: f.name.clone(),
            });
            let mut rest: Vec<Label> = s
                .labels
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| Label {
                    name: k.clone(),
                    value: v.clone(),
                })
                .collect();
            for (k, v) in extra {
                if !rest.iter().any(|l| &l.name == k) {
                    rest.push(Label {
                        name: k.clone(),
                        value: v.clone(),
                    });
                }
            }
            rest.sort_by(|a, b| a.name.cmp(&b.name));
            labels.extend(rest);
            cur.push(TimeSeries {
                labels,
                samples: vec![ProtoSample {
                    value: s.value,
                    timestamp: ts,
                }],
            });
            if cur.len() >= max_samples {
                flush(&mut cur, &mut out);
            }
        }
    }
    flush(&mut cur, &mut out);
    out
}

// --- the on-disk queue ------------------------------------------------------------------------

/// One queued request.
#[derive(Debug, Clone)]
struct Segment {
    seq: u64,
    samples: u64,
    bytes: u64,
}

/// A bounded FIFO of request bodies, one file per request: `<seq>-<samples>.seg`.
#[derive(Debug)]
pub struct DiskQueue {
    dir: PathBuf,
    max_bytes: u64,
    segs: VecDeque<Segment>,
    bytes: u64,
    next: u64,
}

impl DiskQueue {
    /// Open (or create) the queue in `dir`, picking up segments left by an earlier run.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<DiskQueue> {
        std::fs::create_dir_all(dir)?;
        let mut segs = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
                continue;
            }
            let Some(stem) = name.strip_suffix(".seg") else {
                continue;
            };
            let Some((seq, samples)) = stem.split_once('-') else {
                continue;
            };
            let (Ok(seq), Ok(samples)) = (seq.parse::<u64>(), samples.parse::<u64>()) else {
                continue;
            };
            let bytes = e.metadata()?.len();
            segs.push(Segment {
                seq,
                samples,
                bytes,
            });
        }
        segs.sort_by_key(|s| s.seq);
        let next = segs.last().map_or(1, |s| s.seq + 1);
        let bytes = segs.iter().map(|s| s.bytes).sum();
        Ok(DiskQueue {
            dir: dir.to_path_buf(),
            max_bytes,
            segs: segs.into(),
            bytes,
            next,
        })
    }

    fn path(&self, s: &Segment) -> PathBuf {
        self.dir.join(format!("{:020}-{}.seg", s.seq, s.samples))
    }

    /// Append a request; returns the samples dropped (oldest first) to stay within the limit.
    pub fn push(&mut self, body: &[u8], samples: u64) -> std::io::Result<u64> {
        let bytes = body.len() as u64;
        let mut dropped = 0;
        while !self.segs.is_empty() && self.bytes + bytes > self.max_bytes {
            dropped += self.pop_front()?.samples;
        }
        if bytes > self.max_bytes {
            // Larger than the whole queue: it cannot be kept.
            return Ok(dropped + samples);
        }
        let seg = Segment {
            seq: self.next,
            samples,
            bytes,
        };
        let path = self.path(&seg);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, &path)?;
        self.next += 1;
        self.bytes += bytes;
        self.segs.push_back(seg);
        Ok(dropped)
    }

    /// The oldest request: (sequence number, body, samples).
    pub fn front(&self) -> std::io::Result<Option<(u64, Vec<u8>, u64)>> {
        let Some(s) = self.segs.front() else {
            return Ok(None);
        };
        Ok(Some((s.seq, std::fs::read(self.path(s))?, s.samples)))
    }

    /// Remove the oldest request if it is still `seq` (the queue may have dropped it meanwhile).
    pub fn remove(&mut self, seq: u64) -> std::io::Result<()> {
        if self.segs.front().is_some_and(|s| s.seq == seq) {
            self.pop_front()?;
        }
        Ok(())
    }

    fn pop_front(&mut self) -> std::io::Result<Segment> {
        let s = self
            .segs
            .pop_front()
            .ok_or_else(|| std::io::Error::other("empty queue"))?;
        self.bytes -= s.bytes;
        match std::fs::remove_file(self.path(&s)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        Ok(s)
    }

    /// Bytes queued.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Samples queued.
    pub fn samples(&self) -> u64 {
        self.segs.iter().map(|s| s.samples).sum()
    }

    /// Requests queued.
    pub fn len(&self) -> usize {
        self.segs.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }
}

// --- the sender -------------------------------------------------------------------------------

/// Counters of one receiver.
#[derive(Debug, Default)]
pub struct Stats {
    sent: AtomicU64,
    dropped_full: AtomicU64,
    dropped_rejected: AtomicU64,
    failed: AtomicU64,
    last_success_ms: AtomicU64,
}

/// One receiver's queue and counters, shared by the enqueueing and sending tasks.
pub struct Writer {
    remote: Remote,
    queue: Mutex<DiskQueue>,
    stats: Stats,
    wake: tokio::sync::Notify,
}

/// How a send went.
#[derive(Debug, PartialEq)]
enum Outcome {
    Sent,
    /// Retrying cannot help (a 4xx other than 429): drop it.
    Rejected(String),
    /// Retry after a backoff (network error, 5xx, 429), at least this long if the server said.
    Retry(String, Option<Duration>),
}

impl Writer {
    /// A writer for `remote`, its queue in `dir`.
    pub fn open(remote: Remote, dir: &Path) -> std::io::Result<Arc<Writer>> {
        let queue = DiskQueue::open(dir, remote.max_bytes)?;
        if !queue.is_empty() {
            tracing::info!(remote = %remote.name, requests = queue.len(), samples = queue.samples(),
                "remote_write: resuming the queue left by an earlier run");
        }
        Ok(Arc::new(Writer {
            remote,
            queue: Mutex::new(queue),
            stats: Stats::default(),
            wake: tokio::sync::Notify::new(),
        }))
    }

    /// Encode a batch and queue it (blocking file I/O).
    pub fn enqueue(&self, batch: &Batch) {
        let bodies = encode(batch, &self.remote.extra_labels, self.remote.max_samples);
        let Ok(mut q) = self.queue.lock() else {
            return;
        };
        for (body, n) in bodies {
            match q.push(&body, n as u64) {
                Ok(0) => {}
                Ok(d) => {
                    self.stats.dropped_full.fetch_add(d, Ordering::Relaxed);
                    tracing::warn!(remote = %self.remote.name, samples = d,
                        "remote_write: queue full, oldest samples dropped");
                }
                Err(e) => {
                    self.stats
                        .dropped_full
                        .fetch_add(n as u64, Ordering::Relaxed);
                    tracing::error!(remote = %self.remote.name, error = %e,
                        "remote_write: cannot write to the queue; samples dropped");
                }
            }
        }
        drop(q);
        self.wake.notify_one();
    }

    async fn send(&self, client: &reqwest::Client, body: Vec<u8>) -> Outcome {
        let mut req = client
            .post(self.remote.url.clone())
            .timeout(self.remote.timeout)
            .header(reqwest::header::CONTENT_ENCODING, "snappy")
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .header(
                reqwest::header::USER_AGENT,
                concat!("machinenativenops-auto-monitor/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in &self.remote.headers {
            req = req.header(k, v);
        }
        if let Some(t) = &self.remote.bearer_token {
            req = req.bearer_auth(t);
        }
        match req.body(body).send().await {
            Err(e) => Outcome::Retry(chain(&e), None),
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    return Outcome::Sent;
                }
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let text = resp.text().await.unwrap_or_default();
                let msg = format!(
                    "HTTP {status}: {}",
                    text.trim().chars().take(300).collect::<String>()
                );
                if status.is_server_error() || status.as_u16() == 429 {
                    Outcome::Retry(msg, retry_after)
                } else {
                    Outcome::Rejected(msg)
                }
            }
        }
    }

    /// Send queued requests, oldest first, until `stop`.
    pub async fn run_sender(self: Arc<Self>, client: reqwest::Client, stop: CancellationToken) {
        let mut backoff = self.remote.min_backoff;
        loop {
            let front = {
                let this = self.clone();
                tokio::task::spawn_blocking(move || this.queue.lock().ok().map(|q| q.front()))
                    .await
                    .ok()
                    .flatten()
            };
            let (seq, body, samples) = match front {
                Some(Ok(Some(f))) => f,
                Some(Ok(None)) | None => {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = self.wake.notified() => continue,
                        // The queue may also be filled by an earlier run's segments only.
                        _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                    }
                }
                Some(Err(e)) => {
                    tracing::error!(remote = %self.remote.name, error = %e, "remote_write: cannot read the queue");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(self.remote.max_backoff) => continue,
                    }
                }
            };
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                o = self.send(&client, body) => o,
            };
            match outcome {
                Outcome::Sent => {
                    self.stats.sent.fetch_add(samples, Ordering::Relaxed);
                    let now = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map(|d| d.as_millis() as u64)
                        .unwrap_or(0);
                    self.stats.last_success_ms.store(now, Ordering::Relaxed);
                    self.remove(seq).await;
                    backoff = self.remote.min_backoff;
                }
                Outcome::Rejected(msg) => {
                    tracing::warn!(remote = %self.remote.name, samples, "remote_write: the receiver refused a request ({msg}); dropped");
                    self.stats
                        .dropped_rejected
                        .fetch_add(samples, Ordering::Relaxed);
                    self.remove(seq).await;
                }
                Outcome::Retry(msg, after) => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    let wait = after.map_or(backoff, |a| a.max(backoff));
                    tracing::debug!(remote = %self.remote.name, error = %msg, ?wait, "remote_write: send failed; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    backoff = (backoff * 2).min(self.remote.max_backoff);
                }
            }
        }
    }

    async fn remove(&self, seq: u64) {
        // Deleting one small file: cheap enough not to need a blocking thread (and works on
        // any runtime flavour).
        let r = self.queue.lock().map(|mut q| q.remove(seq));
        if let Ok(Err(e)) = r {
            tracing::error!(remote = %self.remote.name, error = %e, "remote_write: cannot remove a sent request from the queue");
        }
    }

    /// This receiver's `mno_remote_write_*` samples, added to `fams` (in [`families`]' order).
    fn push_families(&self, fams: &mut [Family; 6]) {
        let l = [("remote", self.remote.name.as_str())];
        let (bytes, pending) = self
            .queue
            .lock()
            .map(|q| (q.bytes(), q.samples()))
            .unwrap_or((0, 0));
        fams[0].push(&l, self.stats.sent.load(Ordering::Relaxed) as f64);
        fams[1].push(
            &[
                ("remote", self.remote.name.as_str()),
                ("reason", "queue_full"),
            ],
            self.stats.dropped_full.load(Ordering::Relaxed) as f64,
        );
        fams[1].push(
            &[
                ("remote", self.remote.name.as_str()),
                ("reason", "rejected"),
            ],
            self.stats.dropped_rejected.load(Ordering::Relaxed) as f64,
        );
        fams[2].push(&l, self.stats.failed.load(Ordering::Relaxed) as f64);
        fams[3].push(&l, bytes as f64);
        fams[4].push(&l, pending as f64);
        let last = self.stats.last_success_ms.load(Ordering::Relaxed);
        if last > 0 {
            fams[5].push(&l, last as f64 / 1000.0);
        }
    }
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

/// The `mno_remote_write_*` families of all writers.
pub fn families(writers: &[Arc<Writer>]) -> Vec<Family> {
    let mut f = [
        Family::counter(
            "mno_remote_write_samples_sent_total",
            "Samples the receiver accepted.",
        ),
        Family::counter(
            "mno_remote_write_samples_dropped_total",
            "Samples given up: queue_full (the on-disk queue reached its limit; the oldest go) or rejected (a 4xx answer).",
        ),
        Family::counter(
            "mno_remote_write_failed_sends_total",
            "Sends that failed and are retried (network errors, 5xx, 429).",
        ),
        Family::gauge(
            "mno_remote_write_queue_bytes",
            "Bytes in the on-disk queue.",
        ),
        Family::gauge(
            "mno_remote_write_samples_pending",
            "Samples in the on-disk queue, not yet accepted by the receiver.",
        ),
        Family::gauge(
            "mno_remote_write_last_success_timestamp_seconds",
            "Unix time of the last accepted request.",
        ),
    ];
    for w in writers {
        w.push_families(&mut f);
    }
    f.into_iter().filter(|f| !f.samples.is_empty()).collect()
}

/// Open a writer per receiver; their queues live under `<data_dir>/remote_write/<name>/`.
pub fn open_all(cfg: &[RemoteWriteConfig], data_dir: &Path) -> Result<Vec<Arc<Writer>>, String> {
    let mut out = Vec::new();
    for r in remotes(cfg)? {
        let dir = data_dir.join("remote_write").join(&r.name);
        let name = r.name.clone();
        out.push(Writer::open(r, &dir).map_err(|e| {
            format!(
                "remote_write {name}: cannot open the queue in {}: {e}",
                dir.display()
            )
        })?);
    }
    Ok(out)
}

/// The families source for the agent's ticks.
pub fn family_source(writers: Vec<Arc<Writer>>) -> FamilySource {
    Arc::new(move || families(&writers))
}

/// Queue every tick for every writer and run their senders, until `stop`.
pub fn spawn(
    writers: Vec<Arc<Writer>>,
    mut rx: SnapshotRx,
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, String> {
    crate::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| format!("remote_write: HTTP client: {}", chain(&e)))?;
    for w in &writers {
        tokio::spawn(w.clone().run_sender(client.clone(), stop.clone()));
    }
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                changed = rx.changed() => if changed.is_err() { break },
            }
            let snap = rx.borrow_and_update().clone();
            let Some(snap) = snap else { continue };
            let writers = writers.clone();
            let _ = tokio::task::spawn_blocking(move || {
                for w in &writers {
                    w.enqueue(&snap.batch);
                }
            })
            .await;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize, t_ms: u64) -> Batch {
        let mut f = Family::gauge("x", "x");
        for i in 0..n {
            f.push(&[("i", &i.to_string()), ("empty", "")], i as f64);
        }
        Batch {
            collected_at: SystemTime::UNIX_EPOCH + Duration::from_millis(t_ms),
            families: vec![f],
        }
    }

    #[test]
    fn encodes_a_write_request() {
        let extra = vec![
            ("instance".to_string(), "h1".to_string()),
            ("i".to_string(), "no".to_string()),
        ];
        let bodies = encode(&batch(5, 1_700_000_000_123), &extra, 2);
        assert_eq!(bodies.iter().map(|b| b.1).collect::<Vec<_>>(), [2, 2, 1]);
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&bodies[0].0)
            .unwrap();
        let req: WriteRequest = prost::Message::decode(raw.as_slice()).unwrap();
        let ts = &req.timeseries[1];
        let labels: Vec<(&str, &str)> = ts
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        // __name__ first, then sorted; empty labels left out; a series' own label wins.
        assert_eq!(labels, [("__name__", "x"), ("i", "1"), ("instance", "h1")]);
        assert_eq!(
            ts.samples,
            [ProtoSample {
                value: 1.0,
                timestamp: 1_700_000_000_123
            }]
        );
    }

    #[test]
    fn the_queue_drops_the_oldest_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = DiskQueue::open(dir.path(), 100).unwrap();
        assert_eq!(q.push(&[1; 40], 4).unwrap(), 0);
        assert_eq!(q.push(&[2; 40], 5).unwrap(), 0);
        // 40 + 40 + 40 > 100: the oldest (4 samples) goes.
        assert_eq!(q.push(&[3; 40], 6).unwrap(), 4);
        assert_eq!((q.bytes(), q.samples(), q.len()), (80, 11, 2));
        // Larger than the whole queue: everything older and itself are dropped.
        assert_eq!(q.push(&[9; 101], 7).unwrap(), 5 + 6 + 7);
        assert!(q.is_empty());
        q.push(&[4; 10], 1).unwrap();
        q.push(&[5; 10], 2).unwrap();
        let (seq, body, n) = q.front().unwrap().unwrap();
        assert_eq!((body[0], n), (4, 1));
        drop(q);
        std::fs::write(dir.path().join("junk.tmp"), b"x").unwrap();
        let mut q = DiskQueue::open(dir.path(), 100).unwrap();
        assert_eq!((q.len(), q.samples(), q.bytes()), (2, 3, 20));
        assert!(!dir.path().join("junk.tmp").exists());
        q.remove(seq).unwrap();
        q.remove(seq).unwrap(); // already gone: nothing happens
        let (_, body, _) = q.front().unwrap().unwrap();
        assert_eq!(body[0], 5);
        // New segments continue after the last one.
        q.push(&[6; 10], 1).unwrap();
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn settings_are_checked() {
        let ok = RemoteWriteConfig {
            url: "http://127.0.0.1:9090/api/v1/write".into(),
            name: None,
            timeout: 30.0,
            headers: BTreeMap::new(),
            bearer_token: None,
            external_labels: BTreeMap::new(),
            max_samples_per_send: 100,
            queue_max_size: "1MB".into(),
            min_backoff: 0.1,
            max_backoff: 1.0,
        };
        let r = remotes(std::slice::from_ref(&ok)).unwrap();
        assert_eq!(r[0].name, "127.0.0.1:9090");
        assert_eq!(r[0].max_bytes, 1 << 20);
        assert!(r[0].extra_labels.iter().any(|(k, _)| k == "instance"));
        let bad = |f: &dyn Fn(&mut RemoteWriteConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            remotes(&[c]).unwrap_err()
        };
        assert!(bad(&|c| c.url = "ftp://x/".into()).starts_with("remote_write.0.url"));
        assert!(
            bad(&|c| c.queue_max_size = "lots".into()).starts_with("remote_write.0.queue_max_size")
        );
        assert!(bad(&|c| c.max_backoff = 0.01).starts_with("remote_write.0.max_backoff"));
        assert!(bad(&|c| c.name = Some("a/b".into())).starts_with("remote_write.0.name"));
        assert!(
            bad(&|c| {
                c.external_labels.insert("__x".into(), "1".into());
            })
            .starts_with("remote_write.0.external_labels")
        );
        let e = remotes(&[ok.clone(), ok]).unwrap_err();
        assert!(e.starts_with("remote_write.1.name"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retries_on_5xx_and_drops_on_4xx() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // Answers 503, then 400, then 204 forever, counting requests.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicU64::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    break;
                };
                let n = h.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let _ = s.read(&mut buf).await;
                    let status = match n {
                        0 => "503 Service Unavailable",
                        1 => "400 Bad Request",
                        _ => "204 No Content",
                    };
                    let _ = s
                        .write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes())
                        .await;
                });
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let cfg = RemoteWriteConfig {
            url: format!("http://{addr}/api/v1/write"),
            name: Some("t".into()),
            timeout: 5.0,
            headers: BTreeMap::new(),
            bearer_token: None,
            external_labels: BTreeMap::new(),
            max_samples_per_send: 3,
            queue_max_size: "1MB".into(),
            min_backoff: 0.01,
            max_backoff: 0.05,
        };
        let w = open_all(&[cfg], dir.path()).unwrap();
        // 3 + 2 samples: two requests. The first gets 503 (retried), then 400 (dropped);
        // the second gets 204.
        w[0].enqueue(&batch(5, 1000));
        let stop = CancellationToken::new();
        crate::install_crypto_provider();
        let client = reqwest::Client::new();
        let task = tokio::spawn(w[0].clone().run_sender(client, stop.clone()));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while w[0].queue.lock().unwrap().samples() > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.cancel();
        let _ = task.await;
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        let f = families(&w);
        let get =
            |n: &str, l: &[(&str, &str)]| f.iter().find(|x| x.name == n).and_then(|x| x.value(l));
        assert_eq!(get("mno_remote_write_samples_sent_total", &[]), Some(2.0));
        assert_eq!(
            get(
                "mno_remote_write_samples_dropped_total",
                &[("reason", "rejected")]
            ),
            Some(3.0)
        );
        assert_eq!(get("mno_remote_write_failed_sends_total", &[]), Some(1.0));
        assert_eq!(get("mno_remote_write_samples_pending", &[]), Some(0.0));
        assert_eq!(get("mno_remote_write_queue_bytes", &[]), Some(0.0));
    }
}
