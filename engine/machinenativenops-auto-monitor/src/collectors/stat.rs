//! Parser for `/proc/stat`, shared by the `cpu`, `boottime` and `processes` collectors.

use super::{CollectError, parse_num};

/// Kernel clock ticks per second as `/proc/stat` reports them (`USER_HZ`).
///
/// Fixed at 100 on every Linux ABI; node_exporter and the Prometheus client
/// libraries hard-code it too, so the values stay comparable.
pub const USER_HZ: f64 = 100.0;

/// Time one CPU spent in each mode, in seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuTimes {
    /// CPU number as the kernel prints it after `cpu` (`"0"`, `"1"`, …).
    pub cpu: String,
    /// Normal processes in user mode.
    pub user: f64,
    /// Niced processes in user mode.
    pub nice: f64,
    /// Kernel mode.
    pub system: f64,
    /// Idle.
    pub idle: f64,
    /// Waiting for I/O to complete.
    pub iowait: f64,
    /// Servicing interrupts.
    pub irq: f64,
    /// Servicing softirqs.
    pub softirq: f64,
    /// Stolen by the hypervisor.
    pub steal: f64,
    /// Running a guest (included in `user`).
    pub guest: f64,
    /// Running a niced guest (included in `nice`).
    pub guest_nice: f64,
}

impl CpuTimes {
    /// The eight non-guest modes with node_exporter's `mode` label values.
    pub fn modes(&self) -> [(&'static str, f64); 8] {
        [
            ("user", self.user),
            ("nice", self.nice),
            ("system", self.system),
            ("idle", self.idle),
            ("iowait", self.iowait),
            ("irq", self.irq),
            ("softirq", self.softirq),
            ("steal", self.steal),
        ]
    }
}

/// The parts of `/proc/stat` the collectors use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcStat {
    /// Per-CPU times (the aggregate `cpu` line is left out, as node_exporter does).
    pub cpus: Vec<CpuTimes>,
    /// Boot time, seconds since the epoch (`btime`).
    pub boot_time: Option<u64>,
    /// Context switches since boot (`ctxt`).
    pub context_switches: Option<u64>,
    /// Forks since boot (`processes`).
    pub forks: Option<u64>,
    /// Interrupts serviced since boot (first number of `intr`).
    pub interrupts: Option<u64>,
    /// Processes currently runnable (`procs_running`).
    pub procs_running: Option<u64>,
    /// Processes blocked on I/O (`procs_blocked`).
    pub procs_blocked: Option<u64>,
}

/// Parse the text of `/proc/stat`.
pub fn parse_stat(text: &str) -> Result<ProcStat, CollectError> {
    let mut out = ProcStat::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(key) = fields.next() else { continue };
        let first = fields.next();
        let one = |what: &str| -> Result<Option<u64>, CollectError> {
            match first {
                Some(v) => parse_num(&format!("/proc/stat {what}"), v).map(Some),
                None => Err(CollectError::parse(
                    "/proc/stat",
                    format!("line {what:?} has no value"),
                )),
            }
        };
        match key {
            "btime" => out.boot_time = one(key)?,
            "ctxt" => out.context_switches = one(key)?,
            "processes" => out.forks = one(key)?,
            "intr" => out.interrupts = one(key)?,
            "procs_running" => out.procs_running = one(key)?,
            "procs_blocked" => out.procs_blocked = one(key)?,
            _ => {
                let Some(n) = key.strip_prefix("cpu") else {
                    continue;
                };
                if n.is_empty() {
                    continue; // the all-CPU aggregate line
                }
                if !n.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                out.cpus
                    .push(parse_cpu_line(n, first.into_iter().chain(fields))?);
            }
        }
    }
    Ok(out)
}

/// Parse the tick columns of one `cpuN` line; columns a kernel lacks are 0.
fn parse_cpu_line<'a>(
    cpu: &str,
    fields: impl Iterator<Item = &'a str>,
) -> Result<CpuTimes, CollectError> {
    let mut v = [0f64; 10];
    for (slot, field) in v.iter_mut().zip(fields) {
        let ticks: u64 = parse_num(&format!("/proc/stat cpu{cpu}"), field)?;
        *slot = ticks as f64 / USER_HZ;
    }
    let [
        user,
        nice,
        system,
        idle,
        iowait,
        irq,
        softirq,
        steal,
        guest,
        guest_nice,
    ] = v;
    Ok(CpuTimes {
        cpu: cpu.to_string(),
        user,
        nice,
        system,
        idle,
        iowait,
        irq,
        softirq,
        steal,
        guest,
        guest_nice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "\
cpu  301854 612 111922 8979004 3552 2 3944 0 44 36
cpu0 44490 19 21045 1087069 220 1 3410 0 0 0
cpu1 47869 23 16474 1110787 591 0 46 0 0 0
cpu3 47 1 2 3
intr 8885917 17 0 0 0 0 0 0 0 1 79281 0 0 0 0 0
ctxt 38014093
btime 1418183276
processes 26442
procs_running 2
procs_blocked 1
softirq 5057579 250191 1481983 1647 211099 186066 0 1783454 622196 12499 510660
";

    #[test]
    fn parses_counters_and_cpus() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(s.boot_time, Some(1418183276));
        assert_eq!(s.context_switches, Some(38014093));
        assert_eq!(s.forks, Some(26442));
        assert_eq!(s.interrupts, Some(8885917));
        assert_eq!(s.procs_running, Some(2));
        assert_eq!(s.procs_blocked, Some(1));
        assert_eq!(s.cpus.len(), 3);
        assert_eq!(s.cpus[0].cpu, "0");
        assert_eq!(s.cpus[0].user, 444.9);
        assert_eq!(s.cpus[0].softirq, 34.1);
        assert_eq!(s.cpus[1].idle, 11107.87);
        // A CPU hot-unplugged in the middle keeps its number; short lines pad with 0.
        assert_eq!(s.cpus[2].cpu, "3");
        assert_eq!(s.cpus[2].idle, 0.03);
        assert_eq!(s.cpus[2].steal, 0.0);
    }

    #[test]
    fn rejects_garbage_numbers() {
        assert!(parse_stat("btime soon\n").is_err());
        assert!(parse_stat("cpu0 1 2 x\n").is_err());
        assert!(parse_stat("btime\n").is_err());
    }
}
