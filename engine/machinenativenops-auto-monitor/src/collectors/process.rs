//! `process`: the agent's own resource use, as the Prometheus client libraries expose it.
//!
//! Reads `<procfs>/self/{stat,limits,fd}` and `btime` from `<procfs>/stat`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::stat::{USER_HZ, parse_stat};
use super::{CollectError, Collector, Context, Toggle, parse_num};
use crate::metrics::Family;

/// Settings of the `process` collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessConfig {
    /// Whether to expose the agent's own CPU time, memory and file
    /// descriptors (`process_*`).
    pub enabled: bool,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig { enabled: true }
    }
}

impl Toggle for ProcessConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

/// The fields of `/proc/self/stat` the `process_*` series use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfStat {
    /// User-mode CPU time, clock ticks.
    pub utime: u64,
    /// Kernel-mode CPU time, clock ticks.
    pub stime: u64,
    /// Start time after boot, clock ticks.
    pub starttime: u64,
    /// Virtual memory size, bytes.
    pub vsize: u64,
    /// Resident set size, pages.
    pub rss: u64,
}

/// Parse `/proc/<pid>/stat` (fields counted from the last `)`, since the command may contain one).
pub fn parse_stat_line(text: &str) -> Result<SelfStat, CollectError> {
    let what = "/proc/self/stat";
    let after = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or_else(|| CollectError::parse(what, "no ')' after the command name"))?;
    let f: Vec<&str> = after.split_whitespace().collect();
    // f[0] is field 3 (state): field N is f[N - 3].
    let field = |n: usize| -> Result<u64, CollectError> {
        let v = f.get(n - 3).ok_or_else(|| {
            CollectError::parse(
                what,
                format!("only {} fields after the command name", f.len()),
            )
        })?;
        parse_num(what, v)
    };
    Ok(SelfStat {
        utime: field(14)?,
        stime: field(15)?,
        starttime: field(22)?,
        vsize: field(23)?,
        rss: field(24)?,
    })
}

/// Soft limits from `/proc/<pid>/limits`; `unlimited` is `u64::MAX`, as client_golang reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// `Max open files`.
    pub open_files: Option<u64>,
    /// `Max address space`, bytes.
    pub address_space: Option<u64>,
}

/// Parse `/proc/<pid>/limits`.
pub fn parse_limits(text: &str) -> Result<Limits, CollectError> {
    let soft = |line: &str, name: &str| -> Result<Option<u64>, CollectError> {
        let Some(rest) = line.strip_prefix(name) else {
            return Ok(None);
        };
        match rest.split_whitespace().next() {
            Some("unlimited") => Ok(Some(u64::MAX)),
            Some(v) => parse_num(&format!("/proc/self/limits {name}"), v).map(Some),
            None => Err(CollectError::parse(
                "/proc/self/limits",
                format!("no value in {line:?}"),
            )),
        }
    };
    let mut out = Limits::default();
    for line in text.lines() {
        if let Some(v) = soft(line, "Max open files")? {
            out.open_files = Some(v);
        }
        if let Some(v) = soft(line, "Max address space")? {
            out.address_space = Some(v);
        }
    }
    Ok(out)
}

/// The families for this process.
pub fn families(
    stat: &SelfStat,
    limits: &Limits,
    open_fds: u64,
    boot_time: u64,
    page_size: u64,
) -> Vec<Family> {
    let mut out = vec![
        Family::counter(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        )
        .with(&[], stat.utime.saturating_add(stat.stime) as f64 / USER_HZ),
        Family::gauge("process_open_fds", "Number of open file descriptors.")
            .with(&[], open_fds as f64),
    ];
    if let Some(v) = limits.open_files {
        out.push(
            Family::gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
            )
            .with(&[], v as f64),
        );
    }
    out.push(
        Family::gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
        )
        .with(&[], stat.vsize as f64),
    );
    if let Some(v) = limits.address_space {
        out.push(
            Family::gauge(
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
            )
            .with(&[], v as f64),
        );
    }
    out.push(
        Family::gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        )
        .with(&[], stat.rss.saturating_mul(page_size) as f64),
    );
    out.push(
        Family::gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
        )
        .with(&[], boot_time as f64 + stat.starttime as f64 / USER_HZ),
    );
    out
}

/// Reads the agent's own `/proc/self` files.
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn name(&self) -> &'static str {
        "process"
    }

    fn collect(&self, ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let stat = parse_stat_line(&ctx.read_proc("self/stat")?)?;
        let limits = parse_limits(&ctx.read_proc("self/limits")?)?;
        let fd_dir = ctx.proc("self/fd");
        let open_fds = std::fs::read_dir(&fd_dir)
            .map_err(|source| CollectError::Read {
                path: fd_dir.clone(),
                source,
            })?
            .count() as u64;
        let boot_time = parse_stat(&ctx.read_proc("stat")?)?
            .boot_time
            .ok_or_else(|| CollectError::parse("/proc/stat", "no btime line"))?;
        let page_size = rustix::param::page_size() as u64;
        out.extend(families(&stat, &limits, open_fds, boot_time, page_size));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "26231 (prom (x)) R 1 26231 26231 0 -1 4194304 3215 0 0 0 520 90 0 0 20 0 5 0 82375 56274944 1981 18446744073709551615 4194304 8437140 140737298398656 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    const LIMITS: &str = "\
Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            2048                 4096                 files
Max address space         8589934592           unlimited            bytes
";

    #[test]
    fn parses_stat_and_limits() {
        let s = parse_stat_line(STAT).unwrap();
        assert_eq!(
            s,
            SelfStat {
                utime: 520,
                stime: 90,
                starttime: 82375,
                vsize: 56274944,
                rss: 1981
            }
        );
        let l = parse_limits(LIMITS).unwrap();
        assert_eq!(
            l,
            Limits {
                open_files: Some(2048),
                address_space: Some(8589934592)
            }
        );
        let unlimited = parse_limits(
            "Max address space         unlimited            unlimited            bytes\n",
        )
        .unwrap();
        assert_eq!(unlimited.address_space, Some(u64::MAX));
        assert!(
            parse_limits(
                "Max open files            lots                 4096                 files\n"
            )
            .is_err()
        );
        assert!(parse_stat_line("1 (x) R 1 2 3").is_err());
    }

    #[test]
    fn families_match_client_golang() {
        let f = families(
            &parse_stat_line(STAT).unwrap(),
            &parse_limits(LIMITS).unwrap(),
            5,
            1418183276,
            4096,
        );
        let get = |n: &str| f.iter().find(|f| f.name == n).and_then(|f| f.value(&[]));
        assert_eq!(get("process_cpu_seconds_total"), Some(6.1));
        assert_eq!(get("process_open_fds"), Some(5.0));
        assert_eq!(get("process_max_fds"), Some(2048.0));
        assert_eq!(get("process_virtual_memory_bytes"), Some(56274944.0));
        assert_eq!(get("process_virtual_memory_max_bytes"), Some(8589934592.0));
        assert_eq!(get("process_resident_memory_bytes"), Some(1981.0 * 4096.0));
        assert_eq!(
            get("process_start_time_seconds"),
            Some(1418183276.0 + 823.75)
        );
    }

    #[test]
    fn real_host_self() {
        let ctx = super::super::CollectorsConfig::default().context();
        let mut out = Vec::new();
        ProcessCollector.collect(&ctx, &mut out).unwrap();
        let get = |n: &str| {
            out.iter()
                .find(|f| f.name == n)
                .and_then(|f| f.value(&[]))
                .unwrap()
        };
        assert!(get("process_resident_memory_bytes") > 0.0);
        assert!(get("process_open_fds") >= 3.0);
        assert!(get("process_max_fds") >= get("process_open_fds"));
        let start = get("process_start_time_seconds");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            start <= now + 1.0 && start > now - 86400.0 * 365.0,
            "{start}"
        );
    }
}
