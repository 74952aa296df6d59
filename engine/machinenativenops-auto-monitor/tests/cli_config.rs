//! The command line and configuration loading, through the real binary:
//! every bad input gives one clear message with file, line, column and key
//! and a non-zero exit.

mod common;
use common::*;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Run `config validate FILE` on `yaml`; return (exit code, stderr, file path).
fn validate(yaml: &str) -> (i32, String, String) {
    let (_dir, path) = config_file(yaml);
    let o = run(&["config", "validate", path.to_str().unwrap()], &[]);
    (
        o.status.code().unwrap_or(-1),
        stderr(&o),
        path.display().to_string(),
    )
}

#[test]
fn version_and_help() {
    let o = run(&["--version"], &[]);
    assert!(o.status.success());
    assert!(
        stdout(&o).starts_with("machinenativenops-auto-monitor 2."),
        "{}",
        stdout(&o)
    );
    let o = run(&["--help"], &[]);
    for word in ["serve", "collect", "config", "--log-format", "MNO_CONFIG"] {
        assert!(stdout(&o).contains(word), "--help lacks {word}");
    }
}

#[test]
fn yaml_syntax_error_is_located() {
    let (code, err, file) = validate("monitoring:\n  interval: 30\n  cpu_threshold: [80\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{file}:")), "{err}");
    assert!(err.contains("YAML syntax error"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear message: {err}");
}

#[test]
fn wrong_type_names_key_line_and_column() {
    let (code, err, file) = validate("monitoring:\n  interval: 30\n  cpu_threshold: high\n");
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{file}:3:18: monitoring.cpu_threshold:")),
        "{err}"
    );
}

#[test]
fn negative_interval_is_rejected_with_location() {
    let (code, err, file) = validate("monitoring:\n  interval: -30\n");
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "{file}:2:3: monitoring.interval: must be a positive"
        )),
        "{err}"
    );
}

#[test]
fn unknown_collector_name_is_an_error() {
    let (code, err, file) = validate("collectors:\n  cpu: true\n  gpu_magic: true\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{file}:3:")), "{err}");
    assert!(err.contains("collectors"), "{err}");
    assert!(err.contains("gpu_magic"), "{err}");
}

#[test]
fn unreadable_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    // A directory cannot be read as a file, even by root (chmod 000 would not stop root).
    let o = run(&["config", "validate", dir.path().to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
    let missing = dir.path().join("nope.yaml");
    let o = run(
        &["--config", missing.to_str().unwrap(), "config", "show"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("nope.yaml: cannot read"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn original_python_config_loads_and_unknown_keys_warn() {
    // The sections of the original agent's default_config.yaml, plus keys we do not know.
    let yaml = r#"
version: "1.0.0"
architecture_hash: "abc123"
monitoring:
  interval: 15
  prometheus_port: 8000
  health_check_timeout: 5
  cpu_threshold: 75.0
  memory_threshold: 85.0
  disk_threshold: 90.0
  api_response_threshold: 2000.0
  quantum_fidelity_threshold: 0.94
  quantum_error_rate_threshold: 0.01
  legacy_option: yes
quantum:
  enabled: false
  fidelity_threshold: 0.94
  coherence_time_threshold: 100.0
  error_rate_threshold: 0.01
  services: {}
services:
  foundation_layer:
    config-manager: http://127.0.0.1:9/health
  intelligence_layer: {}
  quantum_layer: {}
  auto_discover: true
  discovery_namespaces: [default, machinenativenops-system]
auto_repair:
  enabled: false
  max_repair_attempts: 3
  cooldown_period: 300
  strategies: []
logging:
  level: INFO
  format: "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
  file: /var/log/machinenativenops/monitor.log
  max_size: "10MB"
  backup_count: 5
database:
  path: /var/lib/machinenativenops/auto_monitor/metrics.db
  retention_days: 30
  backup_enabled: true
  backup_interval: 3600
network:
  base_url: "http://127.0.0.1:8080"
  timeout: 30
  retry_attempts: 3
  verify_ssl: true
  headers: {}
  auth_token: null
extra_section:
  whatever: 1
"#;
    let (code, err, file) = validate(yaml);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "{file}:14:3: monitoring.legacy_option: unknown key"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}:51:1: extra_section: unknown key")),
        "{err}"
    );
}

#[test]
fn config_show_applies_env_over_file_and_flags_over_env() {
    let (_d, path) = config_file("monitoring:\n  interval: 10\n  prometheus_port: 9000\n");
    let p = path.to_str().unwrap();
    let o = run(
        &[
            "--config",
            p,
            "--log-level",
            "ERROR",
            "config",
            "show",
            "--format",
            "json",
        ],
        &[
            ("MNO_PORT", "9100"),
            ("MNO_LOG_LEVEL", "DEBUG"),
            ("MNO_INTERVAL", "5"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["monitoring"]["prometheus_port"], 9100);
    assert_eq!(v["monitoring"]["interval"], 5);
    assert_eq!(v["logging"]["level"], "ERROR");
    assert_eq!(v["monitoring"]["cpu_threshold"], 80.0);
    // MNO_CONFIG names the file when --config is absent.
    let o = run(&["config", "show"], &[("MNO_CONFIG", p)]);
    assert!(
        stdout(&o).contains("prometheus_port: 9000"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn embedded_default_is_valid_and_shown_without_a_file() {
    let o = run(&["config", "validate"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("embedded default_config.yaml"));
    let o = run(&["config", "show"], &[]);
    assert!(stdout(&o).contains("interval: 30"));
    assert!(stdout(&o).contains("prometheus_port: 8000"));
}

#[test]
fn bad_environment_value_fails_clearly() {
    let o = run(&["config", "show"], &[("MNO_INTERVAL", "-3")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("MNO_INTERVAL"), "{}", stderr(&o));
}

#[test]
fn port_in_use_names_where_the_port_came_from() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let (_d, path) = config_file(&format!(
        "monitoring:\n  interval: 5\n  prometheus_port: {port}\n"
    ));
    let o = run(&["--config", path.to_str().unwrap(), "serve"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}:3:3: monitoring.prometheus_port",
            path.display()
        )),
        "{err}"
    );
    assert!(
        err.to_lowercase().contains("address already in use") || err.contains("in use"),
        "{err}"
    );
}

#[test]
fn collect_once_prints_prometheus_and_json() {
    let o = run(&["collect", "--once"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fams = parse_text(&stdout(&o));
    assert!(fams["node_memory_MemTotal_bytes"].samples[0].1 > 0.0);
    assert_eq!(fams["node_cpu_seconds_total"].kind, "counter");
    assert!(fams.contains_key("mno_cpu_usage_percent"));
    let o = run(&["collect", "--once", "--format", "json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        v["families"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "node_load1")
    );
}

#[test]
fn json_log_format_and_debug_level_from_env() {
    // MNO_LOG_LEVEL=DEBUG … serve works; stop it once it has logged its first lines.
    let mut a = Agent::start(
        "monitoring:\n  interval: 1\n",
        &[("MNO_LOG_LEVEL", "DEBUG"), ("MNO_LOG_FORMAT", "json")],
    );
    a.wait_ready(std::time::Duration::from_secs(20));
    let port = a.port;
    let (status, err) = a.terminate();
    assert!(status.success(), "{status} {err}");
    let first: serde_json::Value =
        serde_json::from_str(err.lines().next().unwrap()).expect("json log line");
    let msg = first["fields"]["message"].as_str().unwrap();
    assert!(msg.contains("starting") && msg.contains("data: "), "{msg}");
    assert!(err.contains("\"level\":\"DEBUG\""), "no debug lines: {err}");
    assert!(err.contains(&port.to_string()));
}

#[test]
fn original_default_config_with_nulls_loads() {
    // The original agent's own default_config.yaml shape: `network.base_url: null` and other
    // nulls mean "use the default".
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/original_default_config.yaml"
    );
    let o = run(&["config", "validate", fixture], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("error"), "{}", stderr(&o));
    let o = run(&["config", "show", "--config", fixture], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shown: serde_json::Value = serde_saphyr::from_str(&stdout(&o)).unwrap();
    let c = &shown["config"];
    let c = if c.is_null() { &shown } else { c };
    // Each null took the built-in default.
    assert_eq!(c["network"]["base_url"], "", "{shown}");
    assert_eq!(c["monitoring"]["bind_address"], "127.0.0.1");
    // (`run` points database.path and logging.file at a scratch directory.)
    assert!(
        c["database"]["path"]
            .as_str()
            .is_some_and(|p| !p.is_empty())
    );
    assert_eq!(
        c["services"]["discovery_namespaces"],
        serde_json::json!(["default", "machinenativenops-system"])
    );
    assert_eq!(c["services"]["intelligence_layer"], serde_json::json!({}));
    assert_eq!(
        c["services"]["foundation_layer"],
        serde_json::json!({"config-manager": "http://127.0.0.1:9/health"})
    );
    assert_eq!(c["quantum"]["services"], serde_json::json!({}));
    assert_eq!(c["auto_repair"]["strategies"], serde_json::json!([]));
    assert_eq!(c["architecture_hash"], "");
    // Values that were set are kept.
    assert_eq!(c["monitoring"]["interval"], 30);
}

#[test]
fn type_errors_speak_the_users_words() {
    let cases: [(&str, &str); 12] = [
        (
            "monitoring:\n  interval: abc\n",
            ":2:13: monitoring.interval: expected a whole number or null, got `abc`",
        ),
        (
            "monitoring:\n  interval: 1.5\n",
            ":2:13: monitoring.interval: expected a whole number or null, got `1.5`",
        ),
        (
            "monitoring:\n  cpu_threshold: high\n",
            ":2:18: monitoring.cpu_threshold: expected a number or null, got `high`",
        ),
        (
            "quantum:\n  enabled: maybe\n",
            ":2:12: quantum.enabled: expected true or false or null, got `maybe`",
        ),
        (
            "network:\n  base_url: [a, b]\n",
            ":2:13: network.base_url: expected a string or null",
        ),
        (
            "network:\n  auth_token: {a: 1}\n",
            ":2:15: network.auth_token: expected a string or null",
        ),
        (
            "network:\n  retry_attempts: -1\n",
            ":2:19: network.retry_attempts: expected a whole number from 0 to 4294967295 or null, got `-1`",
        ),
        (
            "services:\n  discovery_namespaces: default\n",
            ":2:25: services.discovery_namespaces: expected a list or null, got `default`",
        ),
        (
            "services:\n  foundation_layer: [a]\n",
            ":2:21: services.foundation_layer: expected a mapping (key: value lines) or null",
        ),
        (
            "services:\n  discovery_namespaces:\n    - [x]\n",
            ":3:7: services.discovery_namespaces.0: expected a string",
        ),
        (
            "logging:\n  backup_count: many\n",
            ":2:17: logging.backup_count: expected a whole number, 0 or more or null, got `many`",
        ),
        (
            "http_checks:\n  - name: a\n",
            ":2:5: http_checks.0: missing key `url`",
        ),
    ];
    for (yaml, want) in cases {
        let (code, err, file) = validate(yaml);
        assert_eq!(code, 2, "{yaml}: {err}");
        assert!(
            err.contains(&format!("{file}{want}")),
            "{yaml}\nwant {want}\ngot {err}"
        );
        for rust in [
            "Option<",
            "u8",
            "u16",
            "u32",
            "u64",
            "i64",
            "f64",
            "usize",
            "Vec<",
            "String",
            "sequence start",
            "mapping start",
            "scalar",
        ] {
            assert!(!err.contains(rust), "{yaml}: {err} names {rust}");
        }
    }
}

#[test]
fn redis_settings_and_notifiers_are_checked_with_location() {
    let (code, err, file) = validate("redis:\n  url: http://x\n");
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{file}:2:3: redis.url")), "{err}");
    let (code, err, file) = validate("alerts:\n  notifiers:\n    - name: bus\n      type: redis\n");
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{file}:3:7: alerts.notifiers.0"))
            && err.contains("redis notifier needs redis.url"),
        "{err}"
    );
    let (code, err, _) =
        validate("alerts:\n  notifiers:\n    - name: agent\n      type: superagent\n");
    assert_eq!(code, 2);
    assert!(err.contains("SuperAgent's base URL"), "{err}");
    let (code, _, _) = validate(
        "redis:\n  url: redis://127.0.0.1:6379\nalerts:\n  notifiers:\n    - name: bus\n      type: redis\n    - name: agent\n      type: superagent\n      url: http://127.0.0.1:8082\n",
    );
    assert_eq!(code, 0);
}
