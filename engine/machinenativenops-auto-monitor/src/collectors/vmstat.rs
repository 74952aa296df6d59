//! `vmstat`: selected counters of `/proc/vmstat` (paging, swapping, faults, OOM kills).

use regex_lite::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Toggle, compile_regex, parse_num};
use crate::metrics::Family;

/// node_exporter 1.5's default `--collector.vmstat.fields`.
pub const DEFAULT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";

/// Settings of the `vmstat` collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct VmstatConfig {
    /// Whether to collect `/proc/vmstat` fields (as `node_vmstat_<field>`).
    pub enabled: bool,
    /// Regular expression choosing which fields to expose; the default keeps
    /// page-ins/outs, swap-ins/outs, page faults and OOM kills. Use `.*` for all.
    pub fields: String,
}

impl Default for VmstatConfig {
    fn default() -> Self {
        VmstatConfig {
            enabled: true,
            fields: DEFAULT_FIELDS.to_string(),
        }
    }
}

impl Toggle for VmstatConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

/// Reads `/proc/vmstat`.
#[derive(Debug)]
pub struct VmstatCollector {
    fields: Regex,
}

impl VmstatCollector {
    /// A collector with these settings; fails on an invalid `fields` regex.
    pub fn new(cfg: &VmstatConfig) -> Result<Self, String> {
        Ok(VmstatCollector {
            fields: compile_regex("vmstat.fields", &cfg.fields)?,
        })
    }
}

/// Parse `/proc/vmstat`, keeping the fields whose name matches `fields`.
pub fn parse(text: &str, fields: &Regex) -> Result<Vec<(String, f64)>, CollectError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        if !fields.is_match(name) {
            continue;
        }
        let value: f64 = parse_num(&format!("/proc/vmstat {name}"), value)?;
        out.push((name.to_string(), value));
    }
    Ok(out)
}

/// The families for these fields.
pub fn families(fields: &[(String, f64)]) -> Vec<Family> {
    fields
        .iter()
        .map(|(name, value)| {
            Family::untyped(
                format!("node_vmstat_{name}"),
                format!("/proc/vmstat information field {name}."),
            )
            .with(&[], *value)
        })
        .collect()
}

impl Collector for VmstatCollector {
    fn name(&self) -> &'static str {
        "vmstat"
    }

    fn collect(&self, ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        out.extend(families(&parse(&ctx.read_proc("vmstat")?, &self.fields)?));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricType;

    const VMSTAT: &str = "\
nr_free_pages 977769
pgpgin 7344136
pgpgout 1541180581
pswpin 1476
pswpout 2045
pgfault 3094112
pgmajfault 12010
pgfree 55432
oom_kill 3
";

    #[test]
    fn default_fields_match_node_exporter() {
        let re = Regex::new(DEFAULT_FIELDS).unwrap();
        let fields = parse(VMSTAT, &re).unwrap();
        let names: Vec<_> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "pgpgin",
                "pgpgout",
                "pswpin",
                "pswpout",
                "pgfault",
                "pgmajfault",
                "oom_kill"
            ]
        );
        let f = families(&fields);
        assert_eq!(f[4].name, "node_vmstat_pgfault");
        assert_eq!(f[4].help, "/proc/vmstat information field pgfault.");
        assert_eq!(f[4].kind, MetricType::Untyped);
        assert_eq!(f[6].value(&[]), Some(3.0));
    }

    #[test]
    fn bad_value_in_a_kept_field_is_an_error() {
        let re = Regex::new(DEFAULT_FIELDS).unwrap();
        assert!(parse("pgfault many\n", &re).is_err());
        // A field that is not kept is not even parsed.
        assert!(parse("nr_free_pages many\n", &re).unwrap().is_empty());
    }

    #[test]
    fn real_host_counts_page_faults() {
        let ctx = super::super::CollectorsConfig::default().context();
        let mut out = Vec::new();
        VmstatCollector::new(&VmstatConfig::default())
            .unwrap()
            .collect(&ctx, &mut out)
            .unwrap();
        let pgfault = out
            .iter()
            .find(|f| f.name == "node_vmstat_pgfault")
            .unwrap();
        assert!(pgfault.value(&[]).unwrap() > 0.0);
    }
}
