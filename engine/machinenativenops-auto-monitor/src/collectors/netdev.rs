//! `netdev`: per network interface counters, from `/proc/net/dev`.
//!
//! node_exporter 1.5 reads these over netlink, which also gives
//! `receive_nohandler`; that one comes from
//! `<sysfs>/class/net/<device>/statistics/rx_nohandler` here, when present.

use regex_lite::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Toggle, compile_regex, parse_num};
use crate::metrics::Family;

/// Settings of the `netdev` collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NetdevConfig {
    /// Whether to collect network interface counters.
    pub enabled: bool,
    /// If set, only interfaces whose name matches this regular expression are kept.
    pub device_include: Option<String>,
    /// If set, interfaces whose name matches this regular expression are left
    /// out (for instance `^(veth|cali).*` on container hosts). By default
    /// every interface is kept, `lo` included, as node_exporter does.
    pub device_exclude: Option<String>,
}

impl Default for NetdevConfig {
    fn default() -> Self {
        NetdevConfig {
            enabled: true,
            device_include: None,
            device_exclude: None,
        }
    }
}

impl Toggle for NetdevConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

/// One interface's counters, keyed like node_exporter (`receive_bytes`, `transmit_colls`).
#[derive(Debug, Clone, PartialEq)]
pub struct NetDev {
    /// Interface name.
    pub device: String,
    /// `(key, value)` in column order.
    pub stats: Vec<(String, u64)>,
    /// Packets dropped for want of a protocol handler (sysfs `statistics/rx_nohandler`).
    pub rx_nohandler: Option<u64>,
}

/// Parse `/proc/net/dev`, naming columns from its header.
pub fn parse(text: &str) -> Result<Vec<NetDev>, CollectError> {
    let mut lines = text.lines();
    let header = lines
        .nth(1)
        .ok_or_else(|| CollectError::parse("/proc/net/dev", "missing the two header lines"))?;
    let parts: Vec<&str> = header.split('|').collect();
    if parts.len() != 3 {
        return Err(CollectError::parse(
            "/proc/net/dev",
            format!("unexpected header {header:?}"),
        ));
    }
    let keys: Vec<String> = parts[1]
        .split_whitespace()
        .map(|k| format!("receive_{k}"))
        .chain(parts[2].split_whitespace().map(|k| format!("transmit_{k}")))
        .collect();
    let mut out = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        // The name is right-aligned and may run into the first number ("enp0s31f6:123").
        let (name, values) = line
            .rsplit_once(':')
            .ok_or_else(|| CollectError::parse("/proc/net/dev", format!("no ':' in {line:?}")))?;
        let device = name.trim().to_string();
        let values: Vec<&str> = values.split_whitespace().collect();
        if values.len() != keys.len() {
            return Err(CollectError::parse(
                "/proc/net/dev",
                format!(
                    "{device}: {} values for {} columns",
                    values.len(),
                    keys.len()
                ),
            ));
        }
        let what = format!("/proc/net/dev {device}");
        let stats = keys
            .iter()
            .zip(values)
            .map(|(k, v)| Ok((k.clone(), parse_num::<u64>(&what, v)?)))
            .collect::<Result<_, CollectError>>()?;
        out.push(NetDev {
            device,
            stats,
            rx_nohandler: None,
        });
    }
    Ok(out)
}

/// Parse a one-number sysfs attribute (`statistics/rx_nohandler`).
pub fn parse_sysfs_number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The families for these interfaces: one `node_network_<key>_total` per column.
pub fn families(devs: &[NetDev]) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    for d in devs {
        let nohandler = d.rx_nohandler.map(|v| ("receive_nohandler".to_string(), v));
        for (key, value) in d.stats.iter().chain(nohandler.as_ref()) {
            let name = format!("node_network_{key}_total");
            let idx = match out.iter().position(|f| f.name == name) {
                Some(i) => i,
                None => {
                    out.push(Family::counter(
                        name,
                        format!("Network device statistic {key}."),
                    ));
                    out.len() - 1
                }
            };
            out[idx].push(&[("device", d.device.as_str())], *value as f64);
        }
    }
    out
}

/// Reads `/proc/net/dev`.
#[derive(Debug)]
pub struct NetdevCollector {
    include: Option<Regex>,
    exclude: Option<Regex>,
}

impl NetdevCollector {
    /// A collector with these settings; fails on an invalid regex.
    pub fn new(cfg: &NetdevConfig) -> Result<Self, String> {
        let compile =
            |key: &str, p: &Option<String>| p.as_deref().map(|p| compile_regex(key, p)).transpose();
        Ok(NetdevCollector {
            include: compile("netdev.device_include", &cfg.device_include)?,
            exclude: compile("netdev.device_exclude", &cfg.device_exclude)?,
        })
    }

    fn ignored(&self, device: &str) -> bool {
        self.exclude.as_ref().is_some_and(|r| r.is_match(device))
            || self.include.as_ref().is_some_and(|r| !r.is_match(device))
    }
}

impl Collector for NetdevCollector {
    fn name(&self) -> &'static str {
        "netdev"
    }

    fn collect(&self, ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let mut devs = parse(&ctx.read_proc("net/dev")?)?;
        devs.retain(|d| !self.ignored(&d.device));
        for d in &mut devs {
            let path = ctx
                .sys("class/net")
                .join(&d.device)
                .join("statistics/rx_nohandler");
            d.rx_nohandler = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| parse_sysfs_number(&t));
        }
        out.extend(families(&devs));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricType;

    const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0
  eth0: 163255460    7504    1    2    3     4          5         6   391089    4146    7    8    9    10       11          12
enp0s31f6:18446744073709551615 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0
";

    #[test]
    fn names_columns_from_the_header() {
        let devs = parse(NET_DEV).unwrap();
        assert_eq!(devs.len(), 3);
        assert_eq!(devs[2].device, "enp0s31f6");
        let f = families(&devs);
        let names: Vec<_> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_network_receive_bytes_total",
                "node_network_receive_packets_total",
                "node_network_receive_errs_total",
                "node_network_receive_drop_total",
                "node_network_receive_fifo_total",
                "node_network_receive_frame_total",
                "node_network_receive_compressed_total",
                "node_network_receive_multicast_total",
                "node_network_transmit_bytes_total",
                "node_network_transmit_packets_total",
                "node_network_transmit_errs_total",
                "node_network_transmit_drop_total",
                "node_network_transmit_fifo_total",
                "node_network_transmit_colls_total",
                "node_network_transmit_carrier_total",
                "node_network_transmit_compressed_total",
            ]
        );
        assert_eq!(f[0].help, "Network device statistic receive_bytes.");
        assert_eq!(f[0].kind, MetricType::Counter);
        assert_eq!(f[0].value(&[("device", "eth0")]), Some(163255460.0));
        assert_eq!(f[13].value(&[("device", "eth0")]), Some(10.0));
        assert_eq!(f[15].value(&[("device", "eth0")]), Some(12.0));
        assert_eq!(f[0].samples.len(), 3);
        assert_eq!(f.len(), 16);
    }

    #[test]
    fn nohandler_from_sysfs() {
        let mut devs = parse(NET_DEV).unwrap();
        devs[1].rx_nohandler = parse_sysfs_number("7\n");
        assert_eq!(parse_sysfs_number("x"), None);
        let f = families(&devs);
        let get = |n: &str| f.iter().find(|f| f.name == n).unwrap();
        let nohandler = get("node_network_receive_nohandler_total");
        assert_eq!(
            nohandler.help,
            "Network device statistic receive_nohandler."
        );
        assert_eq!(nohandler.samples.len(), 1);
        assert_eq!(nohandler.value(&[("device", "eth0")]), Some(7.0));
    }

    #[test]
    fn rejects_ragged_lines() {
        let bad = NET_DEV.lines().take(2).collect::<Vec<_>>().join("\n") + "\n eth0: 1 2 3\n";
        assert!(parse(&bad).is_err());
        assert!(parse("just one line\n").is_err());
    }

    #[test]
    fn filters_devices() {
        let c = NetdevCollector::new(&NetdevConfig {
            device_exclude: Some("^lo$".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(c.ignored("lo"));
        assert!(!c.ignored("eth0"));
        let c = NetdevCollector::new(&NetdevConfig {
            device_include: Some("^eth".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(c.ignored("lo"));
        assert!(!c.ignored("eth0"));
    }

    #[test]
    fn real_host_has_interfaces() {
        let ctx = super::super::CollectorsConfig::default().context();
        let mut out = Vec::new();
        NetdevCollector::new(&NetdevConfig::default())
            .unwrap()
            .collect(&ctx, &mut out)
            .unwrap();
        let rx = out
            .iter()
            .find(|f| f.name == "node_network_receive_bytes_total")
            .unwrap();
        assert!(!rx.samples.is_empty());
    }
}
