//! Golden test: every collector on the fixture tree under `tests/fixtures`
//! (`proc/`, `sys/`, `udev/`), compared family by family with
//! `tests/fixtures/collectors.golden`.
//!
//! Values that depend on the machine running the test (the current time,
//! `statvfs` of the temporary root, the page size) are checked separately
//! and written as `<host>` in the golden file. After an intended change,
//! regenerate it with `UPDATE_GOLDEN=1 cargo test --test collectors_fixture`
//! and review the diff.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use machinenativenops_auto_monitor::collectors::{CollectorsConfig, NAMES, OPTIONAL};
use machinenativenops_auto_monitor::metrics::Family;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Run every collector on the fixtures, with `rootfs` as the host root.
fn collect_all(rootfs: &Path) -> Vec<Family> {
    let f = fixtures();
    let cfg: CollectorsConfig = serde_json::from_value(serde_json::json!({
        "procfs_path": f.join("proc"),
        "sysfs_path": f.join("sys"),
        "rootfs_path": rootfs,
        "diskstats": { "udev_data_path": f.join("udev") },
        "processes": { "thread_states": false },
    }))
    .expect("config");
    let collectors = cfg.build().expect("collectors build");
    let names: Vec<_> = collectors.iter().map(|c| c.name()).collect();
    let defaults: Vec<_> = NAMES
        .iter()
        .filter(|n| !OPTIONAL.contains(n))
        .copied()
        .collect();
    assert_eq!(names, defaults);
    let ctx = cfg.context();
    let mut out = Vec::new();
    for c in &collectors {
        c.collect(&ctx, &mut out)
            .unwrap_or_else(|e| panic!("collector {} failed: {e}", c.name()));
    }
    out
}

/// A root with the mount points the fixture `mountinfo` names, except `/boot`.
fn fake_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("run")).unwrap();
    std::fs::create_dir_all(root.path().join("mnt/backup disk")).unwrap();
    root
}

fn family<'a>(fams: &'a [Family], name: &str) -> &'a Family {
    fams.iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no family {name}"))
}

fn value(fams: &[Family], name: &str, labels: &[(&str, &str)]) -> f64 {
    family(fams, name)
        .value(labels)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
}

/// Families whose values depend on the machine running the test.
fn host_dependent(name: &str) -> bool {
    matches!(
        name,
        "node_time_seconds"
            | "process_resident_memory_bytes"
            | "node_filesystem_size_bytes"
            | "node_filesystem_free_bytes"
            | "node_filesystem_avail_bytes"
            | "node_filesystem_files"
            | "node_filesystem_files_free"
    )
}

fn render(fams: &[Family]) -> String {
    let mut s = String::new();
    for f in fams {
        writeln!(s, "# {} {} {}", f.name, f.kind.as_str(), f.help).unwrap();
        for sample in &f.samples {
            let labels: Vec<String> = sample
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            let v = if host_dependent(&f.name) {
                "<host>".to_string()
            } else {
                format!("{}", sample.value)
            };
            writeln!(s, "{}{{{}}} {v}", f.name, labels.join(",")).unwrap();
        }
    }
    s
}

#[test]
fn fixture_tree_matches_golden_file() {
    let root = fake_root();
    let fams = collect_all(root.path());
    let text = render(&fams);
    let golden = fixtures().join("collectors.golden");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&golden).expect("read golden (UPDATE_GOLDEN=1 creates it)");
    if text != want {
        let diff: Vec<String> = want
            .lines()
            .zip(text.lines())
            .filter(|(w, g)| w != g)
            .take(10)
            .map(|(w, g)| format!("- {w}\n+ {g}"))
            .collect();
        panic!(
            "output differs from {} ({} vs {} lines); first differences:\n{}",
            golden.display(),
            want.lines().count(),
            text.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn family_names_are_unique_and_valid() {
    let root = fake_root();
    let fams = collect_all(root.path());
    let mut seen = BTreeSet::new();
    for f in &fams {
        assert!(seen.insert(f.name.clone()), "duplicate family {}", f.name);
        assert!(
            f.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{}",
            f.name
        );
        assert!(!f.samples.is_empty(), "empty family {}", f.name);
        let mut series = BTreeSet::new();
        for s in &f.samples {
            assert!(
                series.insert(&s.labels),
                "duplicate series {}{:?}",
                f.name,
                s.labels
            );
            let keys: Vec<_> = s.labels.iter().map(|(k, _)| k).collect();
            assert!(keys.is_sorted(), "{} labels not sorted: {keys:?}", f.name);
        }
    }
}

#[test]
fn unit_conversions() {
    let root = fake_root();
    let fams = collect_all(root.path());
    // cpu: ticks / USER_HZ (100).
    let cpu = |cpu, mode| {
        value(
            &fams,
            "node_cpu_seconds_total",
            &[("cpu", cpu), ("mode", mode)],
        )
    };
    assert_eq!(cpu("0", "user"), 444.9);
    assert_eq!(cpu("1", "idle"), 11110.69);
    assert_eq!(cpu("0", "steal"), 0.07);
    let guest = |cpu, mode| {
        value(
            &fams,
            "node_cpu_guest_seconds_total",
            &[("cpu", cpu), ("mode", mode)],
        )
    };
    assert_eq!(guest("0", "user"), 4.0);
    assert_eq!(guest("1", "nice"), 0.05);
    assert_eq!(family(&fams, "node_cpu_seconds_total").samples.len(), 16);
    // loadavg.
    assert_eq!(value(&fams, "node_load5", &[]), 0.37);
    // meminfo: kB × 1024; unit-less lines as they are.
    assert_eq!(
        value(&fams, "node_memory_MemTotal_bytes", &[]),
        15666184.0 * 1024.0
    );
    assert_eq!(
        value(&fams, "node_memory_Active_anon_bytes", &[]),
        3819172.0 * 1024.0
    );
    assert_eq!(
        value(&fams, "node_memory_SwapFree_bytes", &[]),
        4194300.0 * 1024.0
    );
    assert_eq!(value(&fams, "node_memory_HugePages_Total", &[]), 0.0);
    assert_eq!(
        fams.iter()
            .filter(|f| f.name.starts_with("node_memory_"))
            .count(),
        40
    );
    // vmstat: the default field regex.
    assert_eq!(value(&fams, "node_vmstat_pgmajfault", &[]), 12010.0);
    assert_eq!(value(&fams, "node_vmstat_oom_kill", &[]), 3.0);
    assert!(
        fams.iter()
            .all(|f| f.name != "node_vmstat_pgfree" && f.name != "node_vmstat_thp_fault_alloc")
    );
    // diskstats: sectors × 512, ms / 1000; partitions and loop devices left out.
    let sda = [("device", "sda")];
    assert_eq!(
        value(&fams, "node_disk_read_bytes_total", &sda),
        1003346126.0 * 512.0
    );
    assert_eq!(
        value(&fams, "node_disk_written_bytes_total", &sda),
        505697032.0 * 512.0
    );
    // ms × (1/1000), as node_exporter computes it: the same last digit as its
    // golden output (`node_disk_io_time_seconds_total{device="sda"} 9653.880000000001`).
    assert_eq!(
        value(&fams, "node_disk_io_time_seconds_total", &sda),
        9653.880000000001
    );
    assert_eq!(
        value(
            &fams,
            "node_disk_flush_requests_total",
            &[("device", "nvme0n1")]
        ),
        900.0
    );
    let devices: BTreeSet<_> = family(&fams, "node_disk_reads_completed_total")
        .samples
        .iter()
        .map(|s| s.labels[0].1.as_str())
        .collect();
    assert_eq!(devices, BTreeSet::from(["dm-0", "nvme0n1", "sda"]));
    assert_eq!(
        value(
            &fams,
            "node_disk_info",
            &[
                ("device", "sda"),
                ("serial", "S21NNXAG811111"),
                ("model", "Samsung_SSD_850_EVO")
            ]
        ),
        1.0
    );
    // netdev.
    let eth0 = [("device", "eth0")];
    assert_eq!(
        value(&fams, "node_network_receive_bytes_total", &eth0),
        163255460.0
    );
    assert_eq!(
        value(&fams, "node_network_transmit_colls_total", &eth0),
        10.0
    );
    assert_eq!(
        value(&fams, "node_network_receive_nohandler_total", &eth0),
        3.0
    );
    assert_eq!(
        value(
            &fams,
            "node_network_receive_packets_total",
            &[("device", "lo")]
        ),
        29.0
    );
    // boot time and clock.
    assert_eq!(value(&fams, "node_boot_time_seconds", &[]), 1418183276.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((value(&fams, "node_time_seconds", &[]) - now).abs() < 60.0);
    // pressure: µs / 1e6.
    // µs / 1000 / 1000 like node_exporter; a real node_exporter dump shows
    // `node_pressure_io_stalled_seconds_total 656.7367360000001` for this total.
    assert_eq!(
        value(&fams, "node_pressure_io_stalled_seconds_total", &[]),
        656.7367360000001
    );
    assert_eq!(
        value(&fams, "node_pressure_memory_stalled_seconds_total", &[]),
        0.012345
    );
    // processes: three PIDs in the fixture (1, 42, 4242; `self` is not a PID).
    assert_eq!(value(&fams, "node_processes_pids", &[]), 3.0);
    assert_eq!(value(&fams, "node_processes_threads", &[]), 7.0);
    assert_eq!(value(&fams, "node_processes_state", &[("state", "I")]), 1.0);
    assert_eq!(value(&fams, "node_processes_max_threads", &[]), 125869.0);
    assert_eq!(value(&fams, "node_processes_max_processes", &[]), 4194304.0);
    assert_eq!(value(&fams, "node_context_switches_total", &[]), 38014093.0);
    assert_eq!(value(&fams, "node_procs_running", &[]), 2.0);
    // process: the fixture's self/.
    assert_eq!(value(&fams, "process_cpu_seconds_total", &[]), 6.1);
    assert_eq!(value(&fams, "process_open_fds", &[]), 4.0);
    assert_eq!(value(&fams, "process_max_fds", &[]), 1024.0);
    assert_eq!(
        value(&fams, "process_virtual_memory_max_bytes", &[]),
        u64::MAX as f64
    );
    assert_eq!(
        value(&fams, "process_start_time_seconds", &[]),
        1418183276.0 + 823.75
    );
    assert_eq!(
        value(&fams, "process_resident_memory_bytes", &[]),
        1981.0 * rustix::param::page_size() as f64
    );
}

#[test]
fn filesystems_from_mountinfo() {
    let root = fake_root();
    let fams = collect_all(root.path());
    let errors = family(&fams, "node_filesystem_device_error");
    let mounts: Vec<(String, f64)> = errors
        .samples
        .iter()
        .map(|s| (s.labels[2].1.clone(), s.value))
        .collect();
    // Pseudo filesystems, /dev, /proc, /sys, docker and squashfs are left
    // out; the second "/" line is a duplicate; /boot does not exist under
    // the temporary root, so statvfs fails.
    assert_eq!(
        mounts,
        [
            ("/".to_string(), 0.0),
            ("/run".to_string(), 0.0),
            ("/boot".to_string(), 1.0),
            ("/mnt/backup disk".to_string(), 0.0),
        ]
    );
    let size = family(&fams, "node_filesystem_size_bytes");
    assert_eq!(size.samples.len(), 3, "no size for a mount that errored");
    let labels = [
        ("device", "/dev/vda"),
        ("fstype", "ext4"),
        ("mountpoint", "/"),
    ];
    let total = size.value(&labels).unwrap();
    assert!(total > 0.0);
    assert!(
        value(&fams, "node_filesystem_avail_bytes", &labels)
            <= value(&fams, "node_filesystem_free_bytes", &labels)
    );
    assert!(value(&fams, "node_filesystem_free_bytes", &labels) <= total);
    assert_eq!(value(&fams, "node_filesystem_readonly", &labels), 0.0);
    assert_eq!(
        value(
            &fams,
            "node_filesystem_readonly",
            &[("mountpoint", "/mnt/backup disk")]
        ),
        1.0
    );
}

#[test]
fn disabled_collectors_emit_nothing() {
    let f = fixtures();
    let cfg: CollectorsConfig = serde_json::from_value(serde_json::json!({
        "procfs_path": f.join("proc"),
        "sysfs_path": f.join("sys"),
        "cpu": false, "loadavg": false, "meminfo": false, "vmstat": false,
        "filesystem": false, "diskstats": false, "netdev": false, "boottime": false,
        "processes": false, "process": false,
    }))
    .unwrap();
    let collectors = cfg.build().unwrap();
    assert_eq!(
        collectors.iter().map(|c| c.name()).collect::<Vec<_>>(),
        ["pressure"]
    );
}
