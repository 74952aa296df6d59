//! `cpu`: seconds each CPU spent in each mode, from `/proc/stat`.

use std::collections::HashMap;
use std::sync::Mutex;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::stat::{CpuTimes, parse_stat};
use super::{CollectError, Collector, Context, Toggle};
use crate::metrics::Family;

/// Settings of the `cpu` collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CpuConfig {
    /// Whether to collect CPU time per CPU and mode.
    pub enabled: bool,
    /// Also expose `node_cpu_guest_seconds_total`, the time spent running
    /// virtual machines (already counted in the `user` and `nice` modes).
    pub guest: bool,
}

impl Default for CpuConfig {
    fn default() -> Self {
        CpuConfig {
            enabled: true,
            guest: true,
        }
    }
}

impl Toggle for CpuConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

/// If a CPU's idle time goes back by this much, the CPU was hot-plugged: start over.
const JUMP_BACK_SECONDS: f64 = 3.0;

/// Reads `/proc/stat` and keeps counters from going backwards.
#[derive(Debug)]
pub struct CpuCollector {
    guest: bool,
    /// Last value exposed per CPU. The kernel's per-CPU counters can step
    /// back slightly (idle/iowait accounting on NOHZ systems); node_exporter
    /// holds the previous value instead so `rate()` does not see a reset.
    last: Mutex<HashMap<String, CpuTimes>>,
}

impl CpuCollector {
    /// A collector with these settings.
    pub fn new(cfg: &CpuConfig) -> Self {
        CpuCollector {
            guest: cfg.guest,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Replace each CPU's times by the running maximum, dropping CPUs that went away.
    fn monotonic(&self, cpus: Vec<CpuTimes>) -> Vec<CpuTimes> {
        let mut last = match self.last.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut out = Vec::with_capacity(cpus.len());
        for new in cpus {
            let merged = match last.get(&new.cpu) {
                Some(old) if old.idle - new.idle < JUMP_BACK_SECONDS => CpuTimes {
                    cpu: new.cpu.clone(),
                    user: old.user.max(new.user),
                    nice: old.nice.max(new.nice),
                    system: old.system.max(new.system),
                    idle: old.idle.max(new.idle),
                    iowait: old.iowait.max(new.iowait),
                    irq: old.irq.max(new.irq),
                    softirq: old.softirq.max(new.softirq),
                    steal: old.steal.max(new.steal),
                    guest: old.guest.max(new.guest),
                    guest_nice: old.guest_nice.max(new.guest_nice),
                },
                _ => new,
            };
            out.push(merged);
        }
        last.clear();
        for c in &out {
            last.insert(c.cpu.clone(), c.clone());
        }
        out
    }
}

/// Parse `/proc/stat` into per-CPU times (seconds).
pub fn parse(text: &str) -> Result<Vec<CpuTimes>, CollectError> {
    Ok(parse_stat(text)?.cpus)
}

/// The families for these CPU times.
pub fn families(cpus: &[CpuTimes], guest: bool) -> Vec<Family> {
    let mut seconds = Family::counter(
        "node_cpu_seconds_total",
        "Seconds the CPUs spent in each mode.",
    );
    let mut guest_seconds = Family::counter(
        "node_cpu_guest_seconds_total",
        "Seconds the CPUs spent in guests (VMs) for each mode.",
    );
    for c in cpus {
        for (mode, v) in c.modes() {
            seconds.push(&[("cpu", c.cpu.as_str()), ("mode", mode)], v);
        }
        if guest {
            guest_seconds.push(&[("cpu", c.cpu.as_str()), ("mode", "user")], c.guest);
            guest_seconds.push(&[("cpu", c.cpu.as_str()), ("mode", "nice")], c.guest_nice);
        }
    }
    vec![seconds, guest_seconds]
}

impl Collector for CpuCollector {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn collect(&self, ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let cpus = self.monotonic(parse(&ctx.read_proc("stat")?)?);
        super::push_nonempty(out, families(&cpus, self.guest));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "\
cpu  91844 0 46066 1029364 3544 0 5197 0 420 8
cpu0 44490 19 21045 1087069 220 1 3410 7 400 3
cpu1 47869 23 16474 1110787 591 0 46 0 20 5
btime 1418183276
";

    #[test]
    fn parses_modes_and_guest() {
        let cpus = parse(STAT).unwrap();
        let f = families(&cpus, true);
        assert_eq!(f[0].name, "node_cpu_seconds_total");
        assert_eq!(f[0].samples.len(), 16);
        assert_eq!(f[0].value(&[("cpu", "0"), ("mode", "user")]), Some(444.9));
        assert_eq!(
            f[0].value(&[("cpu", "1"), ("mode", "idle")]),
            Some(11107.87)
        );
        assert_eq!(f[0].value(&[("cpu", "0"), ("mode", "steal")]), Some(0.07));
        assert_eq!(f[1].value(&[("cpu", "0"), ("mode", "user")]), Some(4.0));
        assert_eq!(f[1].value(&[("cpu", "1"), ("mode", "nice")]), Some(0.05));
        assert!(families(&cpus, false)[1].samples.is_empty());
    }

    #[test]
    fn counters_do_not_go_backwards() {
        let c = CpuCollector::new(&CpuConfig::default());
        let first = c.monotonic(parse("cpu0 100 0 100 5000 10 0 0 0 0 0\n").unwrap());
        assert_eq!(first[0].iowait, 0.1);
        // iowait steps back a little: the old value is kept.
        let second = c.monotonic(parse("cpu0 101 0 100 5001 9 0 0 0 0 0\n").unwrap());
        assert_eq!(second[0].iowait, 0.1);
        assert_eq!(second[0].user, 1.01);
        // idle drops by more than 3 s: a hot-plugged CPU, start over.
        let third = c.monotonic(parse("cpu0 1 0 1 10 0 0 0 0 0 0\n").unwrap());
        assert_eq!(third[0].idle, 0.1);
    }

    #[test]
    fn real_host_has_cpus() {
        let ctx = super::super::CollectorsConfig::default().context();
        let mut out = Vec::new();
        CpuCollector::new(&CpuConfig::default())
            .collect(&ctx, &mut out)
            .unwrap();
        let seconds = &out[0];
        assert_eq!(seconds.name, "node_cpu_seconds_total");
        assert!(!seconds.samples.is_empty());
        assert_eq!(seconds.samples.len() % 8, 0);
        assert!(seconds.value(&[("cpu", "0"), ("mode", "idle")]).unwrap() > 0.0);
    }
}
