//! `diskstats`: per block device I/O counters, from `/proc/diskstats`.

use std::path::{Path, PathBuf};

use regex_lite::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CollectError, Collector, Context, Toggle, compile_regex, parse_num};
use crate::metrics::Family;

/// node_exporter 1.5's default `--collector.diskstats.device-exclude`: partitions and pseudo devices.
pub const DEFAULT_DEVICE_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// Sector counts in `/proc/diskstats` are always 512-byte units.
const SECTOR_SIZE: f64 = 512.0;
/// Times in `/proc/diskstats` are milliseconds.
const SECONDS_PER_TICK: f64 = 1.0 / 1000.0;

/// Settings of the `diskstats` collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DiskstatsConfig {
    /// Whether to collect block device I/O counters.
    pub enabled: bool,
    /// Regular expression of device names to leave out. The default skips
    /// partitions (`sda1`, `nvme0n1p2`), RAM disks, loop and floppy devices.
    pub device_exclude: String,
    /// If set, only devices whose name matches this regular expression are
    /// kept (`device_exclude` still applies).
    pub device_include: Option<String>,
    /// Directory of udev's device database, read for the `path`, `wwn`,
    /// `model`, `serial` and `revision` labels of `node_disk_info`. Missing
    /// is fine: the labels are then empty.
    pub udev_data_path: PathBuf,
}

impl Default for DiskstatsConfig {
    fn default() -> Self {
        DiskstatsConfig {
            enabled: true,
            device_exclude: DEFAULT_DEVICE_EXCLUDE.to_string(),
            device_include: None,
            udev_data_path: PathBuf::from("/run/udev/data"),
        }
    }
}

impl Toggle for DiskstatsConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

/// One line of `/proc/diskstats`.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskStat {
    /// Major device number.
    pub major: u32,
    /// Minor device number.
    pub minor: u32,
    /// Device name (`sda`, `nvme0n1`, `dm-0`).
    pub device: String,
    /// The counters after the name, as many as this kernel prints (11, 15 or 17).
    pub stats: Vec<u64>,
}

/// Parse `/proc/diskstats`.
pub fn parse(text: &str) -> Result<Vec<DiskStat>, CollectError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() < 14 {
            return Err(CollectError::parse(
                "/proc/diskstats",
                format!(
                    "expected at least 14 fields, got {}: {line:?}",
                    fields.len()
                ),
            ));
        }
        let what = format!("/proc/diskstats {}", fields[2]);
        let stats = fields[3..]
            .iter()
            .map(|v| parse_num::<u64>(&what, v))
            .collect::<Result<_, _>>()?;
        out.push(DiskStat {
            major: parse_num(&what, fields[0])?,
            minor: parse_num(&what, fields[1])?,
            device: fields[2].to_string(),
            stats,
        });
    }
    Ok(out)
}

/// `(name, help, is_counter, scale)` of each counter, in `/proc/diskstats` column order.
const COLUMNS: [(&str, &str, bool, f64); 17] = [
    (
        "node_disk_reads_completed_total",
        "The total number of reads completed successfully.",
        true,
        1.0,
    ),
    (
        "node_disk_reads_merged_total",
        "The total number of reads merged.",
        true,
        1.0,
    ),
    (
        "node_disk_read_bytes_total",
        "The total number of bytes read successfully.",
        true,
        SECTOR_SIZE,
    ),
    (
        "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        true,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        true,
        1.0,
    ),
    (
        "node_disk_writes_merged_total",
        "The number of writes merged.",
        true,
        1.0,
    ),
    (
        "node_disk_written_bytes_total",
        "The total number of bytes written successfully.",
        true,
        SECTOR_SIZE,
    ),
    (
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        true,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_io_now",
        "The number of I/Os currently in progress.",
        false,
        1.0,
    ),
    (
        "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        true,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        true,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        true,
        1.0,
    ),
    (
        "node_disk_discards_merged_total",
        "The total number of discards merged.",
        true,
        1.0,
    ),
    (
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        true,
        1.0,
    ),
    (
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        true,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        true,
        1.0,
    ),
    (
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        true,
        SECONDS_PER_TICK,
    ),
];

/// Properties of a device from udev's database (`E:KEY=VALUE` lines).
pub fn parse_udev(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Reads `/proc/diskstats` and udev's database.
#[derive(Debug)]
pub struct DiskstatsCollector {
    exclude: Regex,
    include: Option<Regex>,
    udev_data_path: PathBuf,
}

impl DiskstatsCollector {
    /// A collector with these settings; fails on an invalid regex.
    pub fn new(cfg: &DiskstatsConfig) -> Result<Self, String> {
        Ok(DiskstatsCollector {
            exclude: compile_regex("diskstats.device_exclude", &cfg.device_exclude)?,
            include: cfg
                .device_include
                .as_deref()
                .map(|p| compile_regex("diskstats.device_include", p))
                .transpose()?,
            udev_data_path: cfg.udev_data_path.clone(),
        })
    }

    fn ignored(&self, device: &str) -> bool {
        self.exclude.is_match(device) || self.include.as_ref().is_some_and(|r| !r.is_match(device))
    }

    fn udev(&self, major: u32, minor: u32) -> Vec<(String, String)> {
        let path: &Path = &self.udev_data_path;
        std::fs::read_to_string(path.join(format!("b{major}:{minor}")))
            .map(|t| parse_udev(&t))
            .unwrap_or_default()
    }
}

/// The families for these devices; `udev` gives each device's udev properties.
pub fn families(
    disks: &[DiskStat],
    mut udev: impl FnMut(&DiskStat) -> Vec<(String, String)>,
) -> Vec<Family> {
    let mut info = Family::gauge("node_disk_info", "Info of /sys/block/<block_device>.");
    let mut columns: Vec<Family> = COLUMNS
        .iter()
        .map(|(name, help, counter, _)| {
            if *counter {
                Family::counter(*name, *help)
            } else {
                Family::gauge(*name, *help)
            }
        })
        .collect();
    for d in disks {
        let props = udev(d);
        let prop = |k: &str| {
            props
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let (major, minor) = (d.major.to_string(), d.minor.to_string());
        info.push(
            &[
                // Sorted by name, as client_golang writes them.
                ("device", d.device.as_str()),
                ("major", major.as_str()),
                ("minor", minor.as_str()),
                ("model", prop("ID_MODEL")),
                ("path", prop("ID_PATH")),
                ("revision", prop("ID_REVISION")),
                ("serial", prop("ID_SERIAL_SHORT")),
                ("wwn", prop("ID_WWN")),
            ],
            1.0,
        );
        for ((family, (_, _, _, scale)), value) in columns.iter_mut().zip(&COLUMNS).zip(&d.stats) {
            family.push(&[("device", d.device.as_str())], *value as f64 * scale);
        }
    }
    let mut out = vec![info];
    out.append(&mut columns);
    out
}

impl Collector for DiskstatsCollector {
    fn name(&self) -> &'static str {
        "diskstats"
    }

    fn collect(&self, ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let mut disks = parse(&ctx.read_proc("diskstats")?)?;
        disks.retain(|d| !self.ignored(&d.device));
        super::push_nonempty(out, families(&disks, |d| self.udev(d.major, d.minor)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricType;

    const DISKSTATS: &str = "\
   8       0 sda 25354637 34367663 1003346126 18492372 28444756 36356054 505697032 110949944 0 9653880 129425816 0 0 0 0
   8       1 sda1 1 2 3 4 5 6 7 8 0 9 10 0 0 0 0
 259       0 nvme0n1 47114 4 4643973 21650 1078320 43950 39451633 1011053 0 222766 1032546 10 2 80 7 900 42
   7       0 loop0 1 2 3 4 5 6 7 8 0 9 10
 253       0 dm-0 59910002 0 1003337218 46229572 64579214 0 505696880 1158557800 0 11325968 1206301256
";

    fn collector() -> DiskstatsCollector {
        DiskstatsCollector::new(&DiskstatsConfig::default()).unwrap()
    }

    #[test]
    fn parses_all_kernel_formats() {
        let d = parse(DISKSTATS).unwrap();
        assert_eq!(d.len(), 5);
        assert_eq!(
            (d[0].major, d[0].minor, d[0].device.as_str()),
            (8, 0, "sda")
        );
        assert_eq!(d[0].stats.len(), 15);
        assert_eq!(d[2].stats.len(), 17);
        assert_eq!(d[4].stats.len(), 11);
    }

    #[test]
    fn converts_units_and_skips_missing_columns() {
        let c = collector();
        let mut d = parse(DISKSTATS).unwrap();
        d.retain(|d| !c.ignored(&d.device));
        let names: Vec<_> = d.iter().map(|d| d.device.as_str()).collect();
        assert_eq!(names, ["sda", "nvme0n1", "dm-0"]);
        let f = families(&d, |_| Vec::new());
        let get = |n: &str, dev: &str| {
            f.iter()
                .find(|f| f.name == n)
                .and_then(|f| f.value(&[("device", dev)]))
        };
        assert_eq!(
            get("node_disk_read_bytes_total", "sda"),
            Some(1003346126.0 * 512.0)
        );
        assert_eq!(
            get("node_disk_read_time_seconds_total", "sda"),
            Some(18492.372)
        );
        assert_eq!(
            get("node_disk_io_time_weighted_seconds_total", "dm-0"),
            Some(1206301.256)
        );
        assert_eq!(
            get("node_disk_discarded_sectors_total", "nvme0n1"),
            Some(80.0)
        );
        assert_eq!(
            get("node_disk_flush_requests_time_seconds_total", "nvme0n1"),
            Some(0.042)
        );
        // Discard columns exist from Linux 4.18, flush columns from 5.5.
        assert_eq!(get("node_disk_discards_completed_total", "dm-0"), None);
        assert_eq!(get("node_disk_flush_requests_total", "sda"), None);
        let io_now = f.iter().find(|f| f.name == "node_disk_io_now").unwrap();
        assert_eq!(io_now.kind, MetricType::Gauge);
    }

    #[test]
    fn info_carries_udev_properties() {
        let udev = parse_udev(
            "S:disk/by-id/wwn-0x5000\nE:ID_PATH=pci-0000:00:1f.2-ata-1\nE:ID_MODEL=Samsung_SSD\nE:ID_SERIAL_SHORT=S1234\nE:ID_WWN=0x5000\nE:ID_REVISION=EXM0\n",
        );
        let d = parse("   8       0 sda 1 2 3 4 5 6 7 8 0 9 10\n").unwrap();
        let f = families(&d, |_| udev.clone());
        assert_eq!(f[0].name, "node_disk_info");
        assert_eq!(
            f[0].samples[0].labels,
            [
                ("device", "sda"),
                ("major", "8"),
                ("minor", "0"),
                ("model", "Samsung_SSD"),
                ("path", "pci-0000:00:1f.2-ata-1"),
                ("revision", "EXM0"),
                ("serial", "S1234"),
                ("wwn", "0x5000"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn include_and_exclude() {
        let c = DiskstatsCollector::new(&DiskstatsConfig {
            device_include: Some("^(sd|nvme)".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(!c.ignored("sda"));
        assert!(c.ignored("sda1"));
        assert!(c.ignored("dm-0"));
        assert!(!c.ignored("nvme0n1"));
        assert!(c.ignored("nvme0n1p1"));
    }

    #[test]
    fn rejects_short_lines() {
        assert!(parse("8 0 sda 1 2 3 4\n").is_err());
        assert!(parse("8 0 sda 1 2 3 4 5 6 7 8 0 9 x\n").is_err());
    }

    #[test]
    fn real_host_diskstats_parse() {
        let ctx = super::super::CollectorsConfig::default().context();
        let mut out = Vec::new();
        collector().collect(&ctx, &mut out).unwrap();
        // Every counter series has a matching info series.
        if let Some(reads) = out
            .iter()
            .find(|f| f.name == "node_disk_reads_completed_total")
        {
            let info = out.iter().find(|f| f.name == "node_disk_info").unwrap();
            assert_eq!(reads.samples.len(), info.samples.len());
        }
    }
}
