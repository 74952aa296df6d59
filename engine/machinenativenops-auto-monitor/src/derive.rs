//! The seed's threshold quantities (`mno_*` percentages and rates), derived
//! from the node_exporter-named families of this tick and the previous one.
//!
//! Rates need two ticks: on the first tick CPU usage is the average since
//! boot and the network rates are absent, rather than a made-up zero.

use std::collections::HashMap;
use std::time::SystemTime;

use crate::metrics::{Batch, Family};

/// Families derived from `cur` (this tick) and `prev` (the previous tick, if any).
pub fn derive(cur: &[Family], prev: Option<&Batch>, now: SystemTime) -> Vec<Family> {
    let find = |fams: &[Family], name: &str| fams.iter().find(|f| f.name == name).cloned();
    let prev_fam = |name: &str| prev.and_then(|b| b.family(name).cloned());
    let mut out = Vec::new();

    if let Some(cpu) = find(cur, "node_cpu_seconds_total") {
        let (busy, total) = cpu_totals(&cpu);
        let pct = match prev_fam("node_cpu_seconds_total").map(|p| cpu_totals(&p)) {
            Some((pb, pt)) if total > pt && busy >= pb => 100.0 * (busy - pb) / (total - pt),
            _ if total > 0.0 => 100.0 * busy / total,
            _ => f64::NAN,
        };
        if pct.is_finite() {
            out.push(
                Family::gauge(
                    "mno_cpu_usage_percent",
                    "CPU usage over the last interval, percent of all CPUs.",
                )
                .with(&[], pct.clamp(0.0, 100.0)),
            );
        }
    }

    let mem = |n: &str| find(cur, n).and_then(|f| f.samples.first().map(|s| s.value));
    if let (Some(total), Some(avail)) = (
        mem("node_memory_MemTotal_bytes"),
        mem("node_memory_MemAvailable_bytes"),
    ) && total > 0.0
    {
        out.push(
            Family::gauge(
                "mno_memory_usage_percent",
                "Memory in use (MemTotal - MemAvailable), percent of MemTotal.",
            )
            .with(&[], 100.0 * (total - avail) / total),
        );
    }

    if let (Some(size), Some(free), Some(avail)) = (
        find(cur, "node_filesystem_size_bytes"),
        find(cur, "node_filesystem_free_bytes"),
        find(cur, "node_filesystem_avail_bytes"),
    ) {
        let mut f = Family::gauge(
            "mno_disk_usage_percent",
            "Filesystem space in use as df reports it: used / (used + available to non-root), percent.",
        );
        for s in &size.samples {
            let get = |fam: &Family| {
                fam.samples
                    .iter()
                    .find(|x| x.labels == s.labels)
                    .map(|x| x.value)
            };
            let (Some(fr), Some(av)) = (get(&free), get(&avail)) else {
                continue;
            };
            let used = s.value - fr;
            if used + av > 0.0 {
                let mp = label(&s.labels, "mountpoint");
                let dev = label(&s.labels, "device");
                let fstype = label(&s.labels, "fstype");
                f.push(
                    &[("device", dev), ("fstype", fstype), ("mountpoint", mp)],
                    100.0 * used / (used + av),
                );
            }
        }
        out.push(f);
    }

    if let Some(prev) = prev
        && let Ok(dt) = now
            .duration_since(prev.collected_at)
            .map(|d| d.as_secs_f64())
        && dt > 0.0
    {
        for (src, name, help) in [
            (
                "node_network_receive_bytes_total",
                "mno_network_receive_bytes_per_second",
                "Bytes received per second over the last interval.",
            ),
            (
                "node_network_transmit_bytes_total",
                "mno_network_transmit_bytes_per_second",
                "Bytes transmitted per second over the last interval.",
            ),
        ] {
            let (Some(c), Some(p)) = (find(cur, src), prev.family(src)) else {
                continue;
            };
            let before: HashMap<&str, f64> = p
                .samples
                .iter()
                .map(|s| (label(&s.labels, "device"), s.value))
                .collect();
            let mut f = Family::gauge(name, help);
            for s in &c.samples {
                let dev = label(&s.labels, "device");
                // A counter that went down was reset (interface re-created): skip one tick.
                if let Some(b) = before.get(dev).filter(|b| s.value >= **b) {
                    f.push(&[("device", dev)], (s.value - b) / dt);
                }
            }
            out.push(f);
        }
    }
    out
}

fn label<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// (busy, total) CPU seconds summed over all CPUs; idle and iowait count as not busy.
fn cpu_totals(f: &Family) -> (f64, f64) {
    let mut busy = 0.0;
    let mut total = 0.0;
    for s in &f.samples {
        total += s.value;
        let mode = label(&s.labels, "mode");
        if mode != "idle" && mode != "iowait" {
            busy += s.value;
        }
    }
    (busy, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cpu(idle: f64, user: f64) -> Family {
        let mut f = Family::counter("node_cpu_seconds_total", "");
        f.push(&[("cpu", "0"), ("mode", "idle")], idle);
        f.push(&[("cpu", "0"), ("mode", "user")], user);
        f
    }

    #[test]
    fn cpu_percent_uses_the_delta_between_ticks() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let prev = Batch {
            collected_at: t0,
            families: vec![cpu(100.0, 100.0)],
        };
        let cur = vec![cpu(103.0, 101.0)];
        let d = derive(&cur, Some(&prev), t0 + Duration::from_secs(4));
        assert_eq!(d[0].name, "mno_cpu_usage_percent");
        assert_eq!(d[0].samples[0].value, 25.0);
        // First tick: the average since boot.
        let d = derive(&cur, None, SystemTime::now());
        assert!((d[0].samples[0].value - 100.0 * 101.0 / 204.0).abs() < 1e-9);
    }

    #[test]
    fn memory_and_disk_percentages() {
        let cur = vec![
            Family::gauge("node_memory_MemTotal_bytes", "").with(&[], 1000.0),
            Family::gauge("node_memory_MemAvailable_bytes", "").with(&[], 250.0),
            Family::gauge("node_filesystem_size_bytes", "").with(
                &[
                    ("device", "/dev/sda1"),
                    ("fstype", "ext4"),
                    ("mountpoint", "/"),
                ],
                100.0,
            ),
            Family::gauge("node_filesystem_free_bytes", "").with(
                &[
                    ("device", "/dev/sda1"),
                    ("fstype", "ext4"),
                    ("mountpoint", "/"),
                ],
                30.0,
            ),
            Family::gauge("node_filesystem_avail_bytes", "").with(
                &[
                    ("device", "/dev/sda1"),
                    ("fstype", "ext4"),
                    ("mountpoint", "/"),
                ],
                20.0,
            ),
        ];
        let d = derive(&cur, None, SystemTime::now());
        assert_eq!(d[0].value(&[]), Some(75.0));
        // used = 70, avail = 20 → 70 / 90, as df prints it.
        let disk = d
            .iter()
            .find(|f| f.name == "mno_disk_usage_percent")
            .unwrap();
        assert!((disk.value(&[("mountpoint", "/")]).unwrap() - 100.0 * 70.0 / 90.0).abs() < 1e-9);
    }

    #[test]
    fn network_rates_skip_resets() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut p = Family::counter("node_network_receive_bytes_total", "");
        p.push(&[("device", "eth0")], 1000.0);
        p.push(&[("device", "eth1")], 5000.0);
        let prev = Batch {
            collected_at: t0,
            families: vec![p],
        };
        let mut c = Family::counter("node_network_receive_bytes_total", "");
        c.push(&[("device", "eth0")], 3000.0);
        c.push(&[("device", "eth1")], 10.0);
        let d = derive(&[c], Some(&prev), t0 + Duration::from_secs(2));
        let rx = d
            .iter()
            .find(|f| f.name == "mno_network_receive_bytes_per_second")
            .unwrap();
        assert_eq!(rx.value(&[("device", "eth0")]), Some(1000.0));
        assert_eq!(rx.value(&[("device", "eth1")]), None);
    }
}
