//! Compatibility with the Prometheus ecosystem, measured against the real tools:
//! `promtool check metrics` on our output and on node_exporter's from the same
//! host, and a family-by-family comparison with node_exporter (names, types,
//! label names, and values where they are comparable).

mod common;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

/// node_exporter's /metrics: from the server scripts/test.sh started, or one started here.
fn node_exporter_text() -> Option<String> {
    if let Ok(url) = std::env::var("MNO_TEST_NODE_EXPORTER_URL") {
        let (status, _, body) = http_get(&url, &[]).expect("node_exporter reachable");
        assert_eq!(status, 200);
        return Some(String::from_utf8(body).expect("utf-8"));
    }
    let ne = tool("prometheus-node-exporter")?;
    let port = free_port();
    let mut child = Command::new(ne)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--no-collector.systemd")
        .arg("--collector.processes")
        // Debian patches this default (adding /run, /mnt, /media); use upstream's, as we do.
        .arg(format!(
            "--collector.filesystem.mount-points-exclude={}",
            machinenativenops_auto_monitor::collectors::filesystem::DEFAULT_MOUNT_POINTS_EXCLUDE
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node_exporter");
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut text = None;
    for _ in 0..100 {
        if let Ok((200, _, body)) = http_get(&url, &[]) {
            text = Some(String::from_utf8(body).expect("utf-8"));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    Some(text.expect("node_exporter answered"))
}

fn our_text() -> String {
    let o = run(&["collect", "--once"], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).expect("utf-8")
}

/// Run `promtool check metrics`; returns (exit code, findings).
fn promtool_check(promtool: &std::path::Path, text: &str) -> (i32, BTreeSet<String>) {
    let out = mno_testkit::promtool_check_metrics(promtool, text);
    let findings = String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    (out.status.code().unwrap_or(-1), findings)
}

#[test]
fn promtool_finds_no_parse_error_and_no_lint_beyond_node_exporters() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let ours = our_text();
    let (code, our_findings) = promtool_check(&promtool, &ours);
    assert_ne!(
        code, 1,
        "promtool parse error on our output: {our_findings:?}"
    );
    let Some(ne) = node_exporter_text() else {
        return;
    };
    let (ne_code, ne_findings) = promtool_check(&promtool, &ne);
    assert_ne!(
        ne_code, 1,
        "promtool could not parse node_exporter: {ne_findings:?}"
    );
    let beyond: Vec<&String> = our_findings.difference(&ne_findings).collect();
    assert!(
        beyond.is_empty(),
        "lint findings node_exporter does not have on this host: {beyond:#?}"
    );
    eprintln!(
        "promtool: ours {} findings (exit {code}), node_exporter {} (exit {ne_code})",
        our_findings.len(),
        ne_findings.len()
    );
}

fn label_names(f: &ParsedFamily) -> BTreeSet<String> {
    f.samples
        .iter()
        .flat_map(|(l, _)| l.keys().cloned())
        .collect()
}

#[test]
fn node_families_match_node_exporter_names_types_labels_and_values() {
    let Some(ne_text) = node_exporter_text() else {
        return;
    };
    let ours = parse_text(&our_text());
    let ne = parse_text(&ne_text);

    let mut missing_in_ne = Vec::new();
    let mut compared = 0;
    for (name, f) in ours.iter().filter(|(n, _)| n.starts_with("node_")) {
        let Some(g) = ne.get(name) else {
            missing_in_ne.push(name.clone());
            continue;
        };
        compared += 1;
        assert_eq!(f.kind, g.kind, "type of {name}");
        assert_eq!(label_names(f), label_names(g), "label names of {name}");
    }
    // Families node_exporter only exposes on some hosts/kernels are still named as it names
    // them; anything else missing there is a naming mistake.
    assert!(
        missing_in_ne.is_empty(),
        "families node_exporter does not have: {missing_in_ne:?}"
    );
    assert!(compared > 40, "only {compared} families compared");

    // Values that do not move: MemTotal and filesystem sizes, exactly.
    let v = |fams: &BTreeMap<String, ParsedFamily>, name: &str| fams[name].samples[0].1;
    assert_eq!(
        v(&ours, "node_memory_MemTotal_bytes"),
        v(&ne, "node_memory_MemTotal_bytes")
    );
    assert_eq!(
        v(&ours, "node_boot_time_seconds"),
        v(&ne, "node_boot_time_seconds")
    );
    let sizes = |fams: &BTreeMap<String, ParsedFamily>| -> BTreeMap<String, f64> {
        fams.get("node_filesystem_size_bytes")
            .map(|f| {
                f.samples
                    .iter()
                    .map(|(l, v)| (l["mountpoint"].clone(), *v))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (os, ns) = (sizes(&ours), sizes(&ne));
    let mut same_mounts = 0;
    for (mp, size) in &os {
        if let Some(n) = ns.get(mp) {
            assert_eq!(size, n, "filesystem size of {mp}");
            same_mounts += 1;
        }
    }
    assert_eq!(
        os.keys().collect::<Vec<_>>(),
        ns.keys().collect::<Vec<_>>(),
        "same mount points"
    );
    eprintln!("compared {compared} families, {same_mounts} filesystems");

    // CPU seconds move between the two reads; within a couple of seconds per cpu and mode.
    let cpu = |fams: &BTreeMap<String, ParsedFamily>| -> BTreeMap<(String, String), f64> {
        fams["node_cpu_seconds_total"]
            .samples
            .iter()
            .map(|(l, v)| ((l["cpu"].clone(), l["mode"].clone()), *v))
            .collect()
    };
    let (oc, nc) = (cpu(&ours), cpu(&ne));
    assert_eq!(oc.keys().collect::<Vec<_>>(), nc.keys().collect::<Vec<_>>());
    for (k, o) in &oc {
        let n = nc[k];
        assert!(
            (o - n).abs() <= 3.0,
            "cpu seconds {k:?}: ours {o}, node_exporter {n}"
        );
    }
}
