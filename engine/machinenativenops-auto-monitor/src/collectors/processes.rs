//! `processes`: system-wide process and thread counts, forks, context switches, interrupts.
//!
//! From `/proc/stat`: node_exporter's stat collector series (`node_procs_running`,
//! `node_procs_blocked`, `node_forks_total`, `node_context_switches_total`,
//! `node_intr_total`). From every `/proc/<pid>/stat` and two sysctls:
//! node_exporter's processes collector series (`node_processes_*`). One small
//! read per process per tick; per-thread states need one read per thread and
//! are off unless `thread_states` is set.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::stat::{ProcStat, parse_stat};
use super::{CollectError, Collector, Context, Toggle, parse_num};
use crate::metrics::Family;

/// Settings of the `processes` collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessesConfig {
    /// Whether to collect process counts, forks, context switches and interrupts.
    pub enabled: bool,
    /// Also count threads by state (`node_processes_threads_state`). This
    /// reads one file per thread instead of one per process, so it is off by
    /// default.
    pub thread_states: bool,
}

impl Default for ProcessesConfig {
    fn default() -> Self {
        ProcessesConfig {
            enabled: true,
            thread_states: false,
        }
    }
}

impl Toggle for ProcessesConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

/// State letter and thread count of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidStat {
    /// One-letter state (`R`, `S`, `D`, `Z`, `T`, `I`, …).
    pub state: String,
    /// Number of threads.
    pub threads: u64,
}

/// Parse `/proc/<pid>/stat` for the state and thread count.
///
/// The command name (field 2) may contain spaces and parentheses, so fields
/// are counted from the last `)`.
pub fn parse_pid_stat(text: &str) -> Result<PidStat, CollectError> {
    let after = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or_else(|| CollectError::parse("/proc/<pid>/stat", "no ')' after the command name"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // fields[0] is stat field 3 (state); num_threads is field 20.
    let (Some(state), Some(threads)) = (fields.first(), fields.get(17)) else {
        return Err(CollectError::parse(
            "/proc/<pid>/stat",
            format!("only {} fields after the command name", fields.len()),
        ));
    };
    Ok(PidStat {
        state: state.to_string(),
        threads: parse_num("/proc/<pid>/stat num_threads", threads)?,
    })
}

/// Totals over all processes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Census {
    /// Processes seen.
    pub pids: u64,
    /// Sum of their thread counts.
    pub threads: u64,
    /// Processes per state letter.
    pub states: BTreeMap<String, u64>,
    /// Threads per state letter (only with `thread_states`).
    pub thread_states: BTreeMap<String, u64>,
}

/// Read a small file into `buf`; `Ok(false)` if it vanished (the process exited).
fn read_small(path: &Path, buf: &mut String) -> Result<bool, CollectError> {
    buf.clear();
    let res = std::fs::File::open(path).and_then(|mut f| f.read_to_string(buf));
    match res {
        Ok(_) => Ok(true),
        // ESRCH: the process exited between open and read.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(3) => {
            Ok(false)
        }
        Err(source) => Err(CollectError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Whether a directory entry name is a PID.
fn is_pid(name: &std::ffi::OsStr) -> bool {
    let b = name.as_encoded_bytes();
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

/// Walk `<procfs>/<pid>/stat` (and, with `thread_states`, each task's stat).
fn census(procfs: &Path, thread_states: bool) -> Result<Census, CollectError> {
    let entries = std::fs::read_dir(procfs).map_err(|source| CollectError::Read {
        path: procfs.to_path_buf(),
        source,
    })?;
    let mut c = Census::default();
    let mut buf = String::with_capacity(512);
    for entry in entries.flatten() {
        if !is_pid(&entry.file_name()) {
            continue;
        }
        let dir = entry.path();
        if !read_small(&dir.join("stat"), &mut buf)? {
            continue;
        }
        let stat = parse_pid_stat(&buf)?;
        c.pids += 1;
        c.threads = c.threads.saturating_add(stat.threads);
        *c.states.entry(stat.state).or_default() += 1;
        if thread_states {
            let Ok(tasks) = std::fs::read_dir(dir.join("task")) else {
                continue; // exited meanwhile
            };
            for task in tasks.flatten() {
                if is_pid(&task.file_name()) && read_small(&task.path().join("stat"), &mut buf)? {
                    let t = parse_pid_stat(&buf)?;
                    *c.thread_states.entry(t.state).or_default() += 1;
                }
            }
        }
    }
    Ok(c)
}

/// The families for these `/proc/stat` counters, process census and limits.
pub fn families(
    stat: &ProcStat,
    census: &Census,
    thread_states: bool,
    max_threads: u64,
    max_pids: u64,
) -> Vec<Family> {
    let mut out = Vec::new();
    let mut one = |f: Family, v: Option<u64>| {
        if let Some(v) = v {
            out.push(f.with(&[], v as f64));
        }
    };
    one(
        Family::counter("node_intr_total", "Total number of interrupts serviced."),
        stat.interrupts,
    );
    one(
        Family::counter(
            "node_context_switches_total",
            "Total number of context switches.",
        ),
        stat.context_switches,
    );
    one(
        Family::counter("node_forks_total", "Total number of forks."),
        stat.forks,
    );
    one(
        Family::gauge(
            "node_procs_running",
            "Number of processes in runnable state.",
        ),
        stat.procs_running,
    );
    one(
        Family::gauge(
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
        ),
        stat.procs_blocked,
    );
    one(
        Family::gauge("node_processes_threads", "Allocated threads in system"),
        Some(census.threads),
    );
    one(
        Family::gauge(
            "node_processes_max_threads",
            "Limit of threads in the system",
        ),
        Some(max_threads),
    );
    let mut states = Family::gauge("node_processes_state", "Number of processes in each state.");
    for (s, n) in &census.states {
        states.push(&[("state", s.as_str())], *n as f64);
    }
    out.push(states);
    if thread_states {
        let mut t = Family::gauge(
            "node_processes_threads_state",
            "Number of threads in each state.",
        );
        for (s, n) in &census.thread_states {
            t.push(&[("thread_state", s.as_str())], *n as f64);
        }
        out.push(t);
    }
    out.push(Family::gauge("node_processes_pids", "Number of PIDs").with(&[], census.pids as f64));
    out.push(
        Family::gauge("node_processes_max_processes", "Number of max PIDs limit")
            .with(&[], max_pids as f64),
    );
    out
}

/// Reads `/proc/stat`, every `/proc/<pid>/stat` and the PID and thread limits.
#[derive(Debug)]
pub struct ProcessesCollector {
    thread_states: bool,
}

impl ProcessesCollector {
    /// A collector with these settings.
    pub fn new(cfg: &ProcessesConfig) -> Self {
        ProcessesCollector {
            thread_states: cfg.thread_states,
        }
    }
}

impl Collector for ProcessesCollector {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn collect(&self, ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let stat = parse_stat(&ctx.read_proc("stat")?)?;
        let census = census(&ctx.procfs, self.thread_states)?;
        let max_threads = parse_num(
            "/proc/sys/kernel/threads-max",
            ctx.read_proc("sys/kernel/threads-max")?.trim(),
        )?;
        let max_pids = parse_num(
            "/proc/sys/kernel/pid_max",
            ctx.read_proc("sys/kernel/pid_max")?.trim(),
        )?;
        super::push_nonempty(
            out,
            families(&stat, &census, self.thread_states, max_threads, max_pids),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pid_stat_with_odd_names() {
        let s = parse_pid_stat(
            "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 7 0 1000 12345678 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
        )
        .unwrap();
        assert_eq!(
            s,
            PidStat {
                state: "S".into(),
                threads: 7
            }
        );
        assert!(parse_pid_stat("1234 (x) S 1 2\n").is_err());
        assert!(parse_pid_stat("garbage").is_err());
    }

    #[test]
    fn families_from_stat_and_census() {
        let stat = parse_stat(
            "intr 8885917 17 0\nctxt 38014093\nprocesses 26442\nprocs_running 2\nprocs_blocked 1\n",
        )
        .unwrap();
        let census = Census {
            pids: 3,
            threads: 9,
            states: [("R".to_string(), 1), ("S".to_string(), 2)].into(),
            thread_states: BTreeMap::new(),
        };
        let f = families(&stat, &census, false, 63704, 4194304);
        let get = |n: &str| f.iter().find(|f| f.name == n).unwrap();
        assert_eq!(get("node_intr_total").value(&[]), Some(8885917.0));
        assert_eq!(get("node_forks_total").value(&[]), Some(26442.0));
        assert_eq!(get("node_procs_blocked").value(&[]), Some(1.0));
        assert_eq!(
            get("node_processes_state").value(&[("state", "S")]),
            Some(2.0)
        );
        assert_eq!(get("node_processes_threads").value(&[]), Some(9.0));
        assert_eq!(
            get("node_processes_max_processes").value(&[]),
            Some(4194304.0)
        );
        assert!(f.iter().all(|f| f.name != "node_processes_threads_state"));
    }

    #[test]
    fn real_host_census_is_consistent() {
        let ctx = super::super::CollectorsConfig::default().context();
        let mut out = Vec::new();
        ProcessesCollector::new(&ProcessesConfig {
            enabled: true,
            thread_states: true,
        })
        .collect(&ctx, &mut out)
        .unwrap();
        let get = |n: &str| out.iter().find(|f| f.name == n).unwrap();
        let pids = get("node_processes_pids").value(&[]).unwrap();
        assert!(pids >= 1.0);
        let by_state: f64 = get("node_processes_state")
            .samples
            .iter()
            .map(|s| s.value)
            .sum();
        assert_eq!(by_state, pids);
        assert!(get("node_processes_threads").value(&[]).unwrap() >= pids);
        assert!(get("node_context_switches_total").value(&[]).unwrap() > 0.0);
        assert!(!get("node_processes_threads_state").samples.is_empty());
    }
}
