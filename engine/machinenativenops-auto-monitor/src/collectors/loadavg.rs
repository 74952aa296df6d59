//! `loadavg`: 1, 5 and 15 minute load averages, from `/proc/loadavg`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Toggle, parse_num};
use crate::metrics::Family;

/// Settings of the `loadavg` collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LoadavgConfig {
    /// Whether to collect the load averages.
    pub enabled: bool,
}

impl Default for LoadavgConfig {
    fn default() -> Self {
        LoadavgConfig { enabled: true }
    }
}

impl Toggle for LoadavgConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

/// Reads `/proc/loadavg`.
#[derive(Debug, Default)]
pub struct LoadavgCollector;

/// Parse `/proc/loadavg` into the 1, 5 and 15 minute averages.
pub fn parse(text: &str) -> Result<[f64; 3], CollectError> {
    let mut fields = text.split_whitespace();
    let mut out = [0.0; 3];
    for (slot, what) in out.iter_mut().zip(["load1", "load5", "load15"]) {
        let Some(v) = fields.next() else {
            return Err(CollectError::parse(
                "/proc/loadavg",
                format!("missing {what} in {text:?}"),
            ));
        };
        *slot = parse_num(&format!("/proc/loadavg {what}"), v)?;
    }
    Ok(out)
}

/// The families for these averages.
pub fn families(load: [f64; 3]) -> Vec<Family> {
    vec![
        Family::gauge("node_load1", "1m load average.").with(&[], load[0]),
        Family::gauge("node_load5", "5m load average.").with(&[], load[1]),
        Family::gauge("node_load15", "15m load average.").with(&[], load[2]),
    ]
}

impl Collector for LoadavgCollector {
    fn name(&self) -> &'static str {
        "loadavg"
    }

    fn collect(&self, ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        out.extend(families(parse(&ctx.read_proc("loadavg")?)?));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_three_averages() {
        assert_eq!(
            parse("0.21 0.37 0.39 1/719 19737\n").unwrap(),
            [0.21, 0.37, 0.39]
        );
        let f = families([0.21, 0.37, 0.39]);
        assert_eq!(f[2].name, "node_load15");
        assert_eq!(f[2].value(&[]), Some(0.39));
    }

    #[test]
    fn rejects_short_or_bad_text() {
        assert!(parse("0.21 0.37\n").is_err());
        assert!(parse("0.21 x 0.39 1/2 3\n").is_err());
    }

    #[test]
    fn real_host_load_is_non_negative() {
        let ctx = super::super::CollectorsConfig::default().context();
        let mut out = Vec::new();
        LoadavgCollector.collect(&ctx, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|f| f.value(&[]).unwrap() >= 0.0));
    }
}
