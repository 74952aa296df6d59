//! `boottime`: when the host booted and what time it is now.
//!
//! `node_boot_time_seconds` comes from `btime` in `/proc/stat` (node_exporter's
//! stat collector); `node_time_seconds` and the clocksource info series are
//! node_exporter's time collector. `time() - node_boot_time_seconds` is the uptime.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::stat::parse_stat;
use super::{CollectError, Collector, Context, Toggle};
use crate::metrics::Family;

/// Settings of the `boottime` collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BoottimeConfig {
    /// Whether to collect boot time, current time and clocksources.
    pub enabled: bool,
}

impl Default for BoottimeConfig {
    fn default() -> Self {
        BoottimeConfig { enabled: true }
    }
}

impl Toggle for BoottimeConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

/// Reads `btime` from `/proc/stat` and the clocksources from sysfs.
#[derive(Debug, Default)]
pub struct BoottimeCollector;

/// Parse the boot time (seconds since the epoch) out of `/proc/stat`.
pub fn parse(text: &str) -> Result<u64, CollectError> {
    parse_stat(text)?
        .boot_time
        .ok_or_else(|| CollectError::parse("/proc/stat", "no btime line"))
}

/// Parse a clocksource file (`available_clocksource`, `current_clocksource`): names separated by spaces.
pub fn parse_clocksources(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// `(device number, available, current)` for each `clocksourceN` under `dir`.
fn read_clocksources(dir: &Path) -> Vec<(String, Vec<String>, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new(); // no sysfs (or a fixture without it)
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(n) = name.strip_prefix("clocksource") else {
            continue;
        };
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let read = |f: &str| {
            std::fs::read_to_string(entry.path().join(f))
                .map(|t| parse_clocksources(&t))
                .unwrap_or_default()
        };
        out.push((
            n.to_string(),
            read("available_clocksource"),
            read("current_clocksource"),
        ));
    }
    out.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
    out
}

/// The families for this boot time, current time and clocksources.
pub fn families(
    boot_time: u64,
    now: f64,
    clocksources: &[(String, Vec<String>, Vec<String>)],
) -> Vec<Family> {
    let mut available = Family::gauge(
        "node_time_clocksource_available_info",
        "Available clocksources read from '/sys/devices/system/clocksource'.",
    );
    let mut current = Family::gauge(
        "node_time_clocksource_current_info",
        "Current clocksource read from '/sys/devices/system/clocksource'.",
    );
    for (device, avail, cur) in clocksources {
        for c in avail {
            available.push(
                &[("clocksource", c.as_str()), ("device", device.as_str())],
                1.0,
            );
        }
        for c in cur {
            current.push(
                &[("clocksource", c.as_str()), ("device", device.as_str())],
                1.0,
            );
        }
    }
    vec![
        Family::gauge("node_boot_time_seconds", "Node boot time, in unixtime.")
            .with(&[], boot_time as f64),
        Family::gauge(
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
        )
        .with(&[], now),
        available,
        current,
    ]
}

impl Collector for BoottimeCollector {
    fn name(&self) -> &'static str {
        "boottime"
    }

    fn collect(&self, ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let boot_time = parse(&ctx.read_proc("stat")?)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let clocksources = read_clocksources(&ctx.sys("devices/system/clocksource"));
        super::push_nonempty(out, families(boot_time, now, &clocksources));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_btime() {
        assert_eq!(
            parse("cpu0 1 2 3 4\nbtime 1418183276\n").unwrap(),
            1418183276
        );
        assert!(parse("cpu0 1 2 3 4\n").is_err());
    }

    #[test]
    fn clocksource_families() {
        assert_eq!(
            parse_clocksources("tsc hpet acpi_pm \n"),
            ["tsc", "hpet", "acpi_pm"]
        );
        let cs = vec![(
            "0".to_string(),
            parse_clocksources("tsc hpet\n"),
            parse_clocksources("tsc\n"),
        )];
        let f = families(1418183276, 1.5e9, &cs);
        assert_eq!(f[0].name, "node_boot_time_seconds");
        assert_eq!(f[0].value(&[]), Some(1418183276.0));
        assert_eq!(f[1].value(&[]), Some(1.5e9));
        assert_eq!(f[2].samples.len(), 2);
        assert_eq!(
            f[3].value(&[("clocksource", "tsc"), ("device", "0")]),
            Some(1.0)
        );
    }

    #[test]
    fn real_host_booted_in_the_past() {
        let ctx = super::super::CollectorsConfig::default().context();
        let mut out = Vec::new();
        BoottimeCollector.collect(&ctx, &mut out).unwrap();
        let boot = out[0].value(&[]).unwrap();
        let now = out[1].value(&[]).unwrap();
        assert!(boot > 1e9 && boot < now, "boot {boot} now {now}");
    }
}
