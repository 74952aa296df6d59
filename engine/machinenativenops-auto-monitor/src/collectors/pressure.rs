//! `pressure`: pressure stall information (PSI), from `/proc/pressure/{cpu,memory,io}`.
//!
//! PSI needs Linux 4.20 or later built with `CONFIG_PSI`, and some
//! distributions turn it off unless booted with `psi=1`. Without it the files
//! are missing (or reading them fails with `EOPNOTSUPP`); the collector then
//! succeeds with no output rather than failing every tick.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Toggle, parse_num};
use crate::metrics::Family;

/// Settings of the `pressure` collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PressureConfig {
    /// Whether to collect pressure stall information. On kernels without PSI
    /// the collector succeeds with no output.
    pub enabled: bool,
}

impl Default for PressureConfig {
    fn default() -> Self {
        PressureConfig { enabled: true }
    }
}

impl Toggle for PressureConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

/// Total stall times of one resource, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressure {
    /// Some tasks were stalled (`some ... total=`).
    pub some: Option<u64>,
    /// All non-idle tasks were stalled (`full ... total=`).
    pub full: Option<u64>,
}

/// Parse one `/proc/pressure/<resource>` file.
pub fn parse(text: &str) -> Result<Pressure, CollectError> {
    let mut out = Pressure::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let slot = match fields.next() {
            Some("some") => &mut out.some,
            Some("full") => &mut out.full,
            _ => continue,
        };
        let total = fields
            .find_map(|f| f.strip_prefix("total="))
            .ok_or_else(|| CollectError::parse("pressure", format!("no total= in {line:?}")))?;
        *slot = Some(parse_num("pressure total", total)?);
    }
    Ok(out)
}

/// Microseconds to seconds, the way node_exporter computes it (bit-identical output).
fn seconds(us: u64) -> f64 {
    us as f64 / 1000.0 / 1000.0
}

/// The families for the resources present (`None` = this kernel has no such file).
pub fn families(
    cpu: Option<Pressure>,
    memory: Option<Pressure>,
    io: Option<Pressure>,
) -> Vec<Family> {
    let mut out = Vec::new();
    let mut add = |value: Option<u64>, name: &str, help: &str| {
        if let Some(v) = value {
            out.push(Family::counter(name, help).with(&[], seconds(v)));
        }
    };
    let (cpu, memory, io) = (
        cpu.unwrap_or_default(),
        memory.unwrap_or_default(),
        io.unwrap_or_default(),
    );
    add(
        cpu.some,
        "node_pressure_cpu_waiting_seconds_total",
        "Total time in seconds that processes have waited for CPU time",
    );
    add(
        io.some,
        "node_pressure_io_waiting_seconds_total",
        "Total time in seconds that processes have waited due to IO congestion",
    );
    add(
        io.full,
        "node_pressure_io_stalled_seconds_total",
        "Total time in seconds no process could make progress due to IO congestion",
    );
    add(
        memory.some,
        "node_pressure_memory_waiting_seconds_total",
        "Total time in seconds that processes have waited for memory",
    );
    add(
        memory.full,
        "node_pressure_memory_stalled_seconds_total",
        "Total time in seconds no process could make progress due to memory congestion",
    );
    out
}

/// Reads `/proc/pressure/*`.
#[derive(Debug, Default)]
pub struct PressureCollector;

/// Read one resource; `None` when the kernel has no PSI for it.
fn read(ctx: &Context, resource: &str) -> Result<Option<Pressure>, CollectError> {
    match ctx.read_proc(&format!("pressure/{resource}")) {
        Ok(text) => parse(&text).map(Some),
        Err(CollectError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound
                || source.raw_os_error() == Some(rustix::io::Errno::OPNOTSUPP.raw_os_error()) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl Collector for PressureCollector {
    fn name(&self) -> &'static str {
        "pressure"
    }

    fn collect(&self, ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        out.extend(families(
            read(ctx, "cpu")?,
            read(ctx, "memory")?,
            read(ctx, "io")?,
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_some_and_full() {
        let p = parse(
            "some avg10=0.00 avg60=0.04 avg300=1.01 total=15097646\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        )
        .unwrap();
        assert_eq!(
            p,
            Pressure {
                some: Some(15097646),
                full: Some(0)
            }
        );
        // Kernels before 5.13 print no "full" line for cpu.
        let cpu = parse("some avg10=1.00 avg60=0.50 avg300=0.25 total=252872494\n").unwrap();
        let f = families(Some(cpu), Some(p), None);
        let names: Vec<_> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_pressure_cpu_waiting_seconds_total",
                "node_pressure_memory_waiting_seconds_total",
                "node_pressure_memory_stalled_seconds_total"
            ]
        );
        // Bit-identical to node_exporter's output for the same file
        // (`node_pressure_cpu_waiting_seconds_total 252.87249400000002`).
        assert_eq!(f[0].value(&[]), Some(252.87249400000002));
        assert_eq!(f[1].value(&[]), Some(15.097646000000001));
    }

    #[test]
    fn rejects_lines_without_total() {
        assert!(parse("some avg10=0.00\n").is_err());
        assert!(parse("some total=x\n").is_err());
    }

    #[test]
    fn missing_psi_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context {
            procfs: dir.path().to_path_buf(),
            sysfs: dir.path().to_path_buf(),
            rootfs: dir.path().to_path_buf(),
        };
        let mut out = Vec::new();
        PressureCollector.collect(&ctx, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn real_host_pressure_if_available() {
        let ctx = super::super::CollectorsConfig::default().context();
        let mut out = Vec::new();
        PressureCollector.collect(&ctx, &mut out).unwrap();
        if std::path::Path::new("/proc/pressure/cpu").exists() && !out.is_empty() {
            assert!(out[0].value(&[]).unwrap() >= 0.0);
        }
    }
}
