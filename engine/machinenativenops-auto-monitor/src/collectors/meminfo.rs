//! `meminfo`: every field of `/proc/meminfo`, named as node_exporter names it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Toggle, parse_num};
use crate::metrics::Family;

/// Settings of the `meminfo` collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MeminfoConfig {
    /// Whether to collect `/proc/meminfo` (as `node_memory_<Field>_bytes`).
    pub enabled: bool,
}

impl Default for MeminfoConfig {
    fn default() -> Self {
        MeminfoConfig { enabled: true }
    }
}

impl Toggle for MeminfoConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

/// Reads `/proc/meminfo`.
#[derive(Debug, Default)]
pub struct MeminfoCollector;

/// Parse `/proc/meminfo` into `(name suffix, value)` pairs, in file order.
///
/// Follows node_exporter: `Active(anon)` becomes `Active_anon`; a value with
/// a unit (always `kB`) is multiplied by 1024 and its key gets `_bytes`; a
/// value without one (`HugePages_Total`) is kept as is.
pub fn parse(text: &str) -> Result<Vec<(String, f64)>, CollectError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let Some(raw_key) = parts.first() else {
            continue; // some kernels print empty lines
        };
        let bad = || CollectError::parse("/proc/meminfo", format!("invalid line {line:?}"));
        let key = raw_key.strip_suffix(':').ok_or_else(bad)?;
        let value = parts.get(1).ok_or_else(bad)?;
        let mut value: f64 = parse_num(&format!("/proc/meminfo {key}"), value)?;
        let mut name = sanitize(&unparen(key));
        match parts.len() {
            2 => {}
            3 => {
                value *= 1024.0;
                name.push_str("_bytes");
            }
            _ => return Err(bad()),
        }
        out.push((name, value));
    }
    Ok(out)
}

/// `Active(anon)` → `Active_anon` (node_exporter's `\((.*)\)` → `_$1`).
fn unparen(key: &str) -> String {
    match (key.find('('), key.rfind(')')) {
        (Some(open), Some(close)) if open < close => {
            format!(
                "{}_{}{}",
                &key[..open],
                &key[open + 1..close],
                &key[close + 1..]
            )
        }
        _ => key.to_string(),
    }
}

/// Keep a metric name valid whatever a kernel prints.
fn sanitize(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The families for these fields.
pub fn families(fields: &[(String, f64)]) -> Vec<Family> {
    fields
        .iter()
        .map(|(key, value)| {
            let name = format!("node_memory_{key}");
            let help = format!("Memory information field {key}.");
            let family = if key.ends_with("_total") {
                Family::counter(name, help)
            } else {
                Family::gauge(name, help)
            };
            family.with(&[], *value)
        })
        .collect()
}

impl Collector for MeminfoCollector {
    fn name(&self) -> &'static str {
        "meminfo"
    }

    fn collect(&self, ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        out.extend(families(&parse(&ctx.read_proc("meminfo")?)?));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricType;

    const MEMINFO: &str = "\
MemTotal:        3742148 kB
MemFree:          225472 kB
Active(anon):    2110284 kB
Inactive(file):   465512 kB

HugePages_Total:       0
Hugepagesize:       2048 kB
";

    #[test]
    fn names_follow_node_exporter() {
        let fields = parse(MEMINFO).unwrap();
        let names: Vec<_> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "MemTotal_bytes",
                "MemFree_bytes",
                "Active_anon_bytes",
                "Inactive_file_bytes",
                "HugePages_Total",
                "Hugepagesize_bytes"
            ]
        );
        assert_eq!(fields[0].1, 3742148.0 * 1024.0);
        assert_eq!(fields[4].1, 0.0);
        let f = families(&fields);
        assert_eq!(f[2].name, "node_memory_Active_anon_bytes");
        assert_eq!(f[2].help, "Memory information field Active_anon_bytes.");
        assert_eq!(f[2].kind, MetricType::Gauge);
    }

    #[test]
    fn rejects_malformed_lines() {
        assert!(parse("MemTotal 12 kB\n").is_err());
        assert!(parse("MemTotal:\n").is_err());
        assert!(parse("MemTotal: x kB\n").is_err());
        assert!(parse("MemTotal: 1 kB extra\n").is_err());
    }

    #[test]
    fn real_host_has_memory() {
        let ctx = super::super::CollectorsConfig::default().context();
        let mut out = Vec::new();
        MeminfoCollector.collect(&ctx, &mut out).unwrap();
        let get = |n: &str| out.iter().find(|f| f.name == n).and_then(|f| f.value(&[]));
        let total = get("node_memory_MemTotal_bytes").unwrap();
        assert!(total > 0.0);
        assert!(get("node_memory_MemFree_bytes").unwrap() <= total);
        assert!(get("node_memory_SwapTotal_bytes").is_some());
    }
}
