//! System collectors: one file per collector, registered here.
//!
//! A collector reads one part of the system (a `/proc` or `/sys` file, a
//! syscall) and returns metric families named as node_exporter names them,
//! so dashboards and rules written for node_exporter work unchanged. Reading
//! a file is kept apart from parsing its text, so parsers are unit-tested on
//! literal strings; the roots (`/proc`, `/sys`, `/`) are configurable so the
//! whole set runs on a fixture tree in tests.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::metrics::Family;

pub mod boottime;
pub mod cpu;
pub mod diskstats;
pub mod exec;
pub mod filesystem;
pub mod gpu;
pub mod kubernetes;
pub mod loadavg;
pub mod meminfo;
pub mod netdev;
pub mod pressure;
pub mod process;
pub mod processes;
pub mod promtext;
pub mod quantum;
pub mod stat;
pub mod textfile;
pub mod vmstat;

pub use boottime::BoottimeConfig;
pub use cpu::CpuConfig;
pub use diskstats::DiskstatsConfig;
pub use exec::ExecConfig;
pub use filesystem::FilesystemConfig;
pub use gpu::GpuConfig;
pub use kubernetes::KubernetesConfig;
pub use loadavg::LoadavgConfig;
pub use meminfo::MeminfoConfig;
pub use netdev::NetdevConfig;
pub use pressure::PressureConfig;
pub use process::ProcessConfig;
pub use processes::ProcessesConfig;
pub use textfile::TextfileConfig;
pub use vmstat::VmstatConfig;

/// Where the collectors read the system from.
#[derive(Debug, Clone)]
pub struct Context {
    /// procfs mount point (`/proc`).
    pub procfs: PathBuf,
    /// sysfs mount point (`/sys`).
    pub sysfs: PathBuf,
    /// Root of the host filesystem (`/`), for statfs of mount points.
    pub rootfs: PathBuf,
}

impl Context {
    /// A path under procfs.
    pub fn proc(&self, rel: &str) -> PathBuf {
        self.procfs.join(rel)
    }
    /// A path under sysfs.
    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sysfs.join(rel)
    }
    /// Read a file under procfs to a string.
    pub fn read_proc(&self, rel: &str) -> Result<String, CollectError> {
        read(&self.proc(rel))
    }
}

/// Read a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<String, CollectError> {
    std::fs::read_to_string(path).map_err(|source| CollectError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Why a collector failed this tick.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file's text did not parse.
    #[error("parsing {what}: {message}")]
    Parse {
        /// Which file or field.
        what: String,
        /// What was wrong.
        message: String,
    },
    /// A source outside the host (an API server) has not answered.
    #[error("{0}")]
    Unavailable(String),
}

impl CollectError {
    /// A parse error about `what`.
    pub fn parse(what: impl Into<String>, message: impl Into<String>) -> CollectError {
        CollectError::Parse {
            what: what.into(),
            message: message.into(),
        }
    }
}

/// Parse one number out of a file's text, naming `what` in the error.
pub(crate) fn parse_num<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, CollectError>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>()
        .map_err(|e| CollectError::parse(what, format!("{s:?}: {e}")))
}

/// Compile a regular expression from the config, naming its key in the error.
///
/// The collectors' device, mount-point and field filters use `regex-lite` (the regex
/// project's small engine: no Unicode classes, `\d`/`\w` are ASCII), not `regex`: they
/// match a few dozen short names a tick, and `regex`'s lazy DFAs and caches for the default
/// patterns held 0.2 MB of a running agent's heap (docs/performance.md). PromQL matchers
/// keep `regex`.
pub(crate) fn compile_regex(key: &str, pattern: &str) -> Result<regex_lite::Regex, String> {
    regex_lite::Regex::new(pattern)
        .map_err(|e| format!("collectors.{key}: invalid regular expression {pattern:?}: {e}"))
}

/// Drop families that ended up without samples (nothing to expose).
pub(crate) fn push_nonempty(out: &mut Vec<Family>, families: impl IntoIterator<Item = Family>) {
    out.extend(families.into_iter().filter(|f| !f.samples.is_empty()));
}

/// A source of metric families, run once per tick.
pub trait Collector: Send + Sync {
    /// The collector's name, as used in `collectors:` and `mno_collector_success{collector}`.
    fn name(&self) -> &'static str;
    /// Read the system and append families to `out`.
    fn collect(&self, ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError>;
}

/// A collector's settings, accepting `false`/`true` as shorthand for `{enabled: …}`.
pub trait Toggle: Default {
    /// Whether the collector runs.
    fn enabled(&self) -> bool;
    /// Switch it on or off.
    fn set_enabled(&mut self, on: bool);
}

/// Wrapper giving a collector config the `cpu: false` shorthand.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(transparent)]
pub struct Switch<T>(pub T);

impl<'de, T: Toggle + Deserialize<'de>> Deserialize<'de> for Switch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Toggle + Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Switch<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or a map of collector settings")
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Self::Value, E> {
                let mut t = T::default();
                t.set_enabled(b);
                Ok(Switch(t))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(Switch(T::default()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                m: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(m)).map(Switch)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for Switch<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Switch_{}", T::schema_name()).into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let inner = g.subschema_for::<T>();
        schemars::json_schema!({
            "anyOf": [ { "type": "boolean" }, inner ]
        })
    }
}

impl<T: Toggle> Switch<T> {
    /// Whether the collector runs.
    pub fn enabled(&self) -> bool {
        self.0.enabled()
    }
}

/// Names of all collectors, in the order they run.
pub const NAMES: &[&str] = &[
    "cpu",
    "loadavg",
    "meminfo",
    "vmstat",
    "filesystem",
    "diskstats",
    "netdev",
    "boottime",
    "pressure",
    "processes",
    "process",
    "textfile",
    "exec",
    "gpu",
];

/// Collectors of [`NAMES`] that do nothing until configured (a directory, commands, a
/// device), so they are not built by default.
pub const OPTIONAL: &[&str] = &["textfile", "exec", "gpu"];

/// The `collectors:` section: where to read the system from and which collectors run.
///
/// Every collector accepts `true`/`false` as shorthand for `{enabled: …}`;
/// an unknown collector name is an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorsConfig {
    /// Where procfs is mounted. Point it at the host's `/proc` (for instance
    /// `/host/proc`) when the agent runs in a container.
    pub procfs_path: PathBuf,
    /// Where sysfs is mounted (for instance `/host/sys` in a container).
    pub sysfs_path: PathBuf,
    /// The host's root filesystem (for instance `/host/root` in a container).
    /// Mount points are looked up under it and this prefix is stripped from
    /// the `mountpoint` label.
    pub rootfs_path: PathBuf,
    /// CPU time per CPU and mode (`node_cpu_seconds_total`), from `/proc/stat`.
    pub cpu: Switch<CpuConfig>,
    /// Load averages (`node_load1`, `node_load5`, `node_load15`), from `/proc/loadavg`.
    pub loadavg: Switch<LoadavgConfig>,
    /// Every field of `/proc/meminfo` as `node_memory_<Field>_bytes`.
    pub meminfo: Switch<MeminfoConfig>,
    /// Selected fields of `/proc/vmstat` as `node_vmstat_<field>`.
    pub vmstat: Switch<VmstatConfig>,
    /// Size, free space and inodes of each mounted filesystem (`node_filesystem_*`).
    pub filesystem: Switch<FilesystemConfig>,
    /// Block device I/O counters (`node_disk_*`), from `/proc/diskstats`.
    pub diskstats: Switch<DiskstatsConfig>,
    /// Network interface counters (`node_network_*`), from `/proc/net/dev`.
    pub netdev: Switch<NetdevConfig>,
    /// Boot time and current time (`node_boot_time_seconds`, `node_time_seconds`).
    pub boottime: Switch<BoottimeConfig>,
    /// Pressure stall information (`node_pressure_*`), from `/proc/pressure`.
    pub pressure: Switch<PressureConfig>,
    /// System-wide process counts, forks, context switches and interrupts.
    pub processes: Switch<ProcessesConfig>,
    /// The agent's own CPU, memory and file descriptors (`process_*`).
    pub process: Switch<ProcessConfig>,
    /// Metrics from `*.prom` files in a directory (node_exporter's textfile convention).
    pub textfile: Switch<TextfileConfig>,
    /// Metrics printed by commands (Prometheus text format or JSON), run every tick.
    pub exec: Switch<ExecConfig>,
    /// NVIDIA GPUs through NVML, with DCGM-exporter's names (off by default; needs a build
    /// with the `gpu` feature, else it reports itself unavailable).
    pub gpu: Switch<GpuConfig>,
    /// Kubernetes pods, services, nodes and deployments (`kube_*`), through watches; off by
    /// default, and only in builds with the `kubernetes` cargo feature.
    pub kubernetes: Switch<KubernetesConfig>,
}

impl Default for CollectorsConfig {
    fn default() -> Self {
        CollectorsConfig {
            procfs_path: PathBuf::from("/proc"),
            sysfs_path: PathBuf::from("/sys"),
            rootfs_path: PathBuf::from("/"),
            cpu: Switch::default(),
            loadavg: Switch::default(),
            meminfo: Switch::default(),
            vmstat: Switch::default(),
            filesystem: Switch::default(),
            diskstats: Switch::default(),
            netdev: Switch::default(),
            boottime: Switch::default(),
            pressure: Switch::default(),
            processes: Switch::default(),
            process: Switch::default(),
            textfile: Switch::default(),
            exec: Switch::default(),
            gpu: Switch::default(),
            kubernetes: Switch::default(),
        }
    }
}

impl CollectorsConfig {
    /// The roots the collectors read from.
    pub fn context(&self) -> Context {
        Context {
            procfs: self.procfs_path.clone(),
            sysfs: self.sysfs_path.clone(),
            rootfs: self.rootfs_path.clone(),
        }
    }

    /// Build the enabled collectors, in [`NAMES`] order.
    ///
    /// Fails on a setting that cannot work (an invalid regular expression, a
    /// bad timeout), naming its key, e.g. `collectors.filesystem.mount_points_exclude`.
    pub fn build(&self) -> Result<Vec<Box<dyn Collector>>, String> {
        let mut out: Vec<Box<dyn Collector>> = Vec::new();
        if self.cpu.enabled() {
            out.push(Box::new(cpu::CpuCollector::new(&self.cpu.0)));
        }
        if self.loadavg.enabled() {
            out.push(Box::new(loadavg::LoadavgCollector));
        }
        if self.meminfo.enabled() {
            out.push(Box::new(meminfo::MeminfoCollector));
        }
        if self.vmstat.enabled() {
            out.push(Box::new(vmstat::VmstatCollector::new(&self.vmstat.0)?));
        }
        if self.filesystem.enabled() {
            out.push(Box::new(filesystem::FilesystemCollector::new(
                &self.filesystem.0,
            )?));
        }
        if self.diskstats.enabled() {
            out.push(Box::new(diskstats::DiskstatsCollector::new(
                &self.diskstats.0,
            )?));
        }
        if self.netdev.enabled() {
            out.push(Box::new(netdev::NetdevCollector::new(&self.netdev.0)?));
        }
        if self.boottime.enabled() {
            out.push(Box::new(boottime::BoottimeCollector));
        }
        if self.pressure.enabled() {
            out.push(Box::new(pressure::PressureCollector));
        }
        if self.processes.enabled() {
            out.push(Box::new(processes::ProcessesCollector::new(
                &self.processes.0,
            )));
        }
        if self.process.enabled() {
            out.push(Box::new(process::ProcessCollector));
        }
        if let (true, Some(dir)) = (self.textfile.enabled(), &self.textfile.0.directory) {
            out.push(Box::new(textfile::TextfileCollector::new(dir)));
        }
        if self.exec.enabled() && !self.exec.0.commands.is_empty() {
            out.push(Box::new(exec::ExecCollector::new(&self.exec.0)?));
        }
        if self.gpu.enabled() {
            out.push(Box::new(gpu::GpuCollector::new(&self.gpu.0)));
        }
        Ok(out)
    }
}

/// Every enabled collector of a configuration: the `collectors:` section in [`NAMES`] order,
/// then those configured in sections of their own (`quantum:`).
pub fn build_all(cfg: &crate::config::MonitorConfig) -> Result<Vec<Box<dyn Collector>>, String> {
    let mut out = cfg.collectors.build()?;
    if cfg.quantum.enabled {
        out.push(Box::new(quantum::QuantumCollector::new(
            &cfg.quantum,
            &cfg.network,
        )?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_enable_everything() {
        let c = CollectorsConfig::default();
        let built = c.build().unwrap();
        let names: Vec<_> = built.iter().map(|c| c.name()).collect();
        let defaults: Vec<_> = NAMES
            .iter()
            .filter(|n| !OPTIONAL.contains(n))
            .copied()
            .collect();
        assert_eq!(names, defaults);
        assert_eq!(c.context().procfs, PathBuf::from("/proc"));
    }

    #[test]
    fn shorthand_and_maps() {
        let c: CollectorsConfig = serde_json::from_str(
            r#"{"cpu": false, "process": true, "filesystem": {"mount_timeout_seconds": 1.5}}"#,
        )
        .unwrap();
        assert!(!c.cpu.enabled());
        assert!(c.process.enabled());
        assert_eq!(c.filesystem.0.mount_timeout_seconds, 1.5);
        assert!(c.filesystem.enabled());
        let names: Vec<_> = c.build().unwrap().iter().map(|c| c.name()).collect();
        assert!(!names.contains(&"cpu"));
        assert_eq!(names.len(), NAMES.len() - OPTIONAL.len() - 1);
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = serde_json::from_str::<CollectorsConfig>(r#"{"cpus": false}"#).unwrap_err();
        assert!(e.to_string().contains("cpus"), "{e}");
        let e =
            serde_json::from_str::<CollectorsConfig>(r#"{"cpu": {"guests": false}}"#).unwrap_err();
        assert!(e.to_string().contains("guests"), "{e}");
    }

    #[test]
    fn bad_regex_names_its_key() {
        let c: CollectorsConfig =
            serde_json::from_str(r#"{"filesystem": {"mount_points_exclude": "("}}"#).unwrap();
        let e = c.build().err().unwrap();
        assert!(
            e.starts_with("collectors.filesystem.mount_points_exclude"),
            "{e}"
        );
        let c: CollectorsConfig =
            serde_json::from_str(r#"{"netdev": {"device_include": "[x"}}"#).unwrap();
        let e = c.build().err().unwrap();
        assert!(e.starts_with("collectors.netdev.device_include"), "{e}");
    }

    #[test]
    fn round_trips_and_has_a_schema() {
        let c = CollectorsConfig::default();
        let json = serde_json::to_string(&c).unwrap();
        let back: CollectorsConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let schema = serde_json::to_value(schemars::schema_for!(CollectorsConfig)).unwrap();
        let props = schema["properties"].as_object().unwrap();
        for name in NAMES {
            assert!(props.contains_key(*name), "schema lacks {name}");
        }
    }
}
