//! Each tick's host snapshot into Redis: a hash per host (`<prefix>:monitor:host:<host>`,
//! `redis.snapshot_ttl`) indexed by a sorted set of hosts, read by the SuperAgent for the
//! gate reports (docs/redis.md).
//!
//! The local store never depends on it: the collection goes on whatever Redis does. While
//! Redis is down the latest snapshot is retried every second, so it is there within about a
//! second of Redis returning (and a snapshot is the latest state: nothing older is owed).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use crate::agent::{Snapshot, SnapshotRx};
use crate::alerts::engine::Shared;
use crate::alerts::labels;

/// This host's name (the `host` external label when set, else the kernel's host name).
pub fn host_name(external: &std::collections::BTreeMap<String, String>) -> String {
    if let Some(h) = external.get("host").filter(|h| !h.is_empty()) {
        return h.clone();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn first(snap: &Snapshot, name: &str) -> Option<f64> {
    snap.batch
        .families
        .iter()
        .find(|f| f.name == name)
        .and_then(|f| f.samples.first())
        .map(|s| (s.value * 100.0).round() / 100.0)
}

/// The snapshot of one tick, with the alerts active now.
pub fn host_snapshot(
    host: &str,
    snap: &Snapshot,
    alerts: Option<&Shared>,
    started: Instant,
) -> mno_redis::HostSnapshot {
    let disks = snap
        .batch
        .families
        .iter()
        .find(|f| f.name == "mno_disk_usage_percent")
        .map(|f| {
            f.samples
                .iter()
                .map(|s| mno_redis::HostDisk {
                    mountpoint: labels::get(&s.labels, "mountpoint").to_string(),
                    device: labels::get(&s.labels, "device").to_string(),
                    usage_percent: (s.value * 100.0).round() / 100.0,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut active = Vec::new();
    if let Some(sh) = alerts {
        let core = sh.core();
        for (k, a) in core.live_alerts() {
            active.push(mno_redis::HostAlert {
                name: labels::get(&a.labels, "alertname").to_string(),
                severity: labels::get(&a.labels, "severity").to_string(),
                state: a.state.as_str().to_string(),
                since: crate::alerts::history::rfc3339(a.active_at),
                summary: core.annotations(k, a).get("summary").cloned(),
            });
        }
    }
    mno_redis::HostSnapshot {
        host: host.to_string(),
        updated_at: chrono::DateTime::<chrono::Utc>::from(snap.batch.collected_at)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        cpu_usage_percent: first(snap, "mno_cpu_usage_percent"),
        memory_usage_percent: first(snap, "mno_memory_usage_percent"),
        disks,
        alerts: active,
    }
}

/// Write every tick's snapshot until `stop`.
pub async fn run(
    cfg: mno_redis::RedisConfig,
    host: String,
    mut rx: SnapshotRx,
    alerts: Option<Arc<Shared>>,
    stop: CancellationToken,
) {
    let started = Instant::now();
    let mut con = match cfg.manager() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("redis snapshots: {e}");
            return;
        }
    };
    let keys = cfg.keys();
    let ttl = Duration::from_secs_f64(cfg.snapshot_ttl);
    let mut pending: Option<mno_redis::HostSnapshot> = None;
    let mut down_since: Option<Instant> = None;
    tracing::info!(url = %cfg.shown_url(), host = %host, "writing host snapshots to redis");
    loop {
        let retry = pending.is_some();
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let snap = rx.borrow_and_update().clone();
                if let Some(s) = snap {
                    pending = Some(host_snapshot(&host, &s, alerts.as_deref(), started));
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(1)), if retry => {}
        }
        let Some(snap) = pending.take() else {
            continue;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let write = mno_redis::write_snapshot(&mut con, &keys, &snap, ttl, now);
        match tokio::time::timeout(cfg.timeout() * 2, write).await {
            Ok(Ok(())) => {
                if let Some(t) = down_since.take() {
                    tracing::info!(
                        "redis is back after {:.1}s; host snapshots resumed",
                        t.elapsed().as_secs_f64()
                    );
                }
            }
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_string(),
                };
                if down_since.is_none() {
                    tracing::warn!(
                        "redis snapshots: {why}; collection and the local store go on, retrying every second"
                    );
                    down_since = Some(Instant::now());
                }
                pending = Some(snap);
            }
        }
    }
}
