//! The textfile and exec collectors through the binary: a textfile with a syntax error is
//! reported with its file and line while the other files still load, exec commands'
//! output (text and JSON) is exported, and the whole output still parses for promtool.

mod common;
use common::*;

#[test]
fn a_broken_textfile_is_reported_with_its_line_and_the_others_load() {
    let dir = tempfile::tempdir().unwrap();
    let tf = dir.path().join("textfile");
    std::fs::create_dir(&tf).unwrap();
    std::fs::write(
        tf.join("backup.prom"),
        "# HELP backup_last_success_timestamp_seconds Last successful backup.\n\
         # TYPE backup_last_success_timestamp_seconds gauge\n\
         backup_last_success_timestamp_seconds{job=\"db\"} 1.7645e+09\n",
    )
    .unwrap();
    std::fs::write(
        tf.join("broken.prom"),
        "# TYPE raid_ok gauge\nraid_ok{md=\"md0\"} 1\nraid_ok{md=\"md1\" 0\n",
    )
    .unwrap();
    std::fs::write(
        tf.join("zz_apt.prom"),
        "# TYPE apt_upgrades_pending gauge\napt_upgrades_pending{origin=\"security\"} 3\n",
    )
    .unwrap();
    let script = dir.path().join("gen.sh");
    let (_d, cfg) = config_file(&format!(
        "collectors:\n  textfile:\n    directory: {}\n  exec:\n    commands:\n\
         \x20     - name: queue\n        command: [sh, -c, \"printf 'queue_depth{{q=\\\"mail\\\"}} 7\\\\n'\"]\n\
         \x20     - name: inventory\n        format: json\n        command: [printf, '%s', '{{\"metrics\": [{{\"name\": \"inventory_items\", \"value\": 42, \"type\": \"gauge\"}}]}}']\n\
         \x20     - name: nonsense\n        command: [printf, 'a 1\\nb c\\n']\n\
         \x20     - name: gone\n        command: [{}]\n",
        tf.display(),
        script.display()
    ));
    let o = run(
        &["--config", cfg.to_str().unwrap(), "collect", "--once"],
        &[],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let text = String::from_utf8(o.stdout).unwrap();
    let fams = parse_text(&text);
    // The good files load.
    assert_eq!(
        fams["backup_last_success_timestamp_seconds"].samples[0].1,
        1.7645e9
    );
    assert_eq!(fams["apt_upgrades_pending"].samples[0].1, 3.0);
    // The broken one is skipped whole, named with its line, in the log and in metrics.
    assert!(!fams.contains_key("raid_ok"));
    assert!(
        stderr.contains("broken.prom:3: "),
        "the log names the file and line: {stderr}"
    );
    let lines = &fams["mno_textfile_error_line"].samples;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].0["file"], "broken.prom");
    assert_eq!(lines[0].1, 3.0);
    assert_eq!(fams["node_textfile_scrape_error"].samples[0].1, 1.0);
    let mtimes: Vec<&str> = fams["node_textfile_mtime_seconds"]
        .samples
        .iter()
        .map(|(l, _)| l["file"].as_str())
        .collect();
    assert_eq!(mtimes, ["backup.prom", "zz_apt.prom"]);
    // Exec: text and JSON output; a bad output line and a missing program fail alone.
    assert_eq!(fams["queue_depth"].samples[0].1, 7.0);
    assert_eq!(fams["inventory_items"].samples[0].1, 42.0);
    let ok = |c: &str| {
        fams["mno_exec_success"]
            .samples
            .iter()
            .find(|(l, _)| l["command"] == c)
            .map(|s| s.1)
    };
    assert_eq!(ok("queue"), Some(1.0));
    assert_eq!(ok("inventory"), Some(1.0));
    assert_eq!(ok("nonsense"), Some(0.0));
    assert_eq!(ok("gone"), Some(0.0));
    assert!(stderr.contains("output line 2"), "{stderr}");
    assert!(
        !fams.contains_key("a"),
        "nonsense's output is skipped whole"
    );
    for c in ["textfile", "exec"] {
        let s = fams["mno_collector_success"]
            .samples
            .iter()
            .find(|(l, _)| l["collector"] == c)
            .map(|s| s.1);
        assert_eq!(s, Some(1.0), "{c}");
    }
    if let Some(promtool) = tool("promtool") {
        let out = mno_testkit::promtool_check_metrics(&promtool, &text);
        assert_ne!(
            out.status.code(),
            Some(1),
            "promtool cannot parse: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn exec_settings_are_checked_with_their_location() {
    let (_d, cfg) =
        config_file("collectors:\n  exec:\n    commands:\n      - name: a\n        command: []\n");
    let o = run(
        &["--config", cfg.to_str().unwrap(), "config", "validate"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("collectors.exec.commands.0.command"), "{err}");
}

#[test]
fn gpu_without_nvml_is_unavailable_and_the_rest_still_runs() {
    // NVML is looked for at a path that does not exist: the same as a host without a driver.
    let (_d, cfg) = config_file(
        "collectors:\n  gpu:\n    enabled: true\n    library: /nonexistent/libnvidia-ml.so.1\n",
    );
    let o = run(
        &["--config", cfg.to_str().unwrap(), "collect", "--once"],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fams = parse_text(&String::from_utf8(o.stdout).unwrap());
    let avail = &fams["mno_gpu_available"].samples;
    assert_eq!(avail.len(), 1);
    assert_eq!(avail[0].1, 0.0);
    assert!(!avail[0].0["reason"].is_empty());
    assert!(!fams.contains_key("DCGM_FI_DEV_GPU_UTIL"));
    let success = |c: &str| {
        fams["mno_collector_success"]
            .samples
            .iter()
            .find(|(l, _)| l["collector"] == c)
            .map(|s| s.1)
    };
    assert_eq!(success("gpu"), Some(1.0), "unavailable is not a failure");
    assert_eq!(success("loadavg"), Some(1.0));
}
