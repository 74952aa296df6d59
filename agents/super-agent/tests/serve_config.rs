//! `super-agent.yaml` loading as the binary does it: located errors, precedence, the port-in-use
//! message naming where the port came from, `config validate|show|schema`, `serve --help`.

mod common;

use std::process::Output;

use common::*;

fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command(dir);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run super-agent")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn config_errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (text, want) in [
        (
            "bind: 127.0.0.1\nport: abc\n",
            "super-agent.yaml:2:7: port:",
        ),
        (
            "port: 70000\n",
            "super-agent.yaml:1:1: port: must be a port number",
        ),
        (
            "allowed_roots:\n  - /definitely/not/here\n",
            "super-agent.yaml:2:5: allowed_roots.0:",
        ),
        ("store: mongo\n", "super-agent.yaml:1:8: store:"),
        (
            "store: redis\n",
            "super-agent.yaml:1:1: store: redis needs redis.url",
        ),
        (
            "redis:\n  url: http://x\n",
            "super-agent.yaml:2:3: redis.url:",
        ),
        (
            "max_body_bytes: 10\n",
            "super-agent.yaml:1:1: max_body_bytes:",
        ),
        (
            "monitor_url: ftp://x\n",
            "super-agent.yaml:1:1: monitor_url:",
        ),
        (
            "logging:\n  level: LOUD\n",
            "super-agent.yaml:2:3: logging.level:",
        ),
        ("port: [1\n", "super-agent.yaml:1:7: YAML syntax error"),
    ] {
        std::fs::write(d.join("super-agent.yaml"), text).unwrap();
        // Found in the working directory without --config, like `serve` would.
        let o = run(d, &["config", "validate"], &[]);
        assert_eq!(o.status.code(), Some(2), "{text}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(want),
            "{text}: want {want:?} in {}",
            stderr(&o)
        );
        let o = run(d, &["serve"], &[]);
        assert_eq!(o.status.code(), Some(2), "{text}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{text}: {}", stderr(&o));
    }
    // An unknown key warns with its location; the file still loads.
    std::fs::write(
        d.join("super-agent.yaml"),
        "port: 9000\nmax_concurent_gates: 4\n",
    )
    .unwrap();
    let o = run(d, &["config", "validate"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("super-agent.yaml:2:1: max_concurent_gates: unknown key"),
        "{}",
        stderr(&o)
    );
    // A bad environment value names the variable.
    let o = run(d, &["config", "validate"], &[("MNO_AGENT_PORT", "eighty")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("MNO_AGENT_PORT"), "{}", stderr(&o));
}

#[test]
fn precedence_and_show_mask_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("my.yaml"), "port: 9000\ntoken: from-file-secret\n").unwrap();
    let o = run(
        d,
        &["config", "--config", "my.yaml", "show", "--format", "json"],
        &[
            ("MNO_AGENT_PORT", "9100"),
            ("MNO_AGENT_TOKEN", "from-env-secret"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["port"], 9100);
    assert_eq!(v["token"], "***");
    assert!(!stdout(&o).contains("secret"));
    // MNO_AGENT_CONFIG names the file when --config does not.
    let o = run(d, &["config", "show"], &[("MNO_AGENT_CONFIG", "my.yaml")]);
    assert!(stdout(&o).contains("port: 9000"), "{}", stdout(&o));
    assert!(stdout(&o).contains("source: my.yaml"), "{}", stdout(&o));
    // No file at all: the defaults.
    let o = run(d, &["config", "show"], &[]);
    assert!(stdout(&o).contains("port: 8082"), "{}", stdout(&o));
    assert!(stdout(&o).contains("bind: \"127.0.0.1\""), "{}", stdout(&o));
}

#[test]
fn a_port_in_use_names_where_the_port_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let data = d.join("data");
    let data = data.to_str().unwrap();
    std::fs::write(
        d.join("super-agent.yaml"),
        format!("bind: 127.0.0.1\nport: {port}\n"),
    )
    .unwrap();
    let o = run(d, &["serve", "--data-dir", data], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "cannot listen on 127.0.0.1:{port} (port from super-agent.yaml:2:1: port)"
        )),
        "{err}"
    );
    assert!(err.to_lowercase().contains("in use"), "{err}");
    std::fs::remove_file(d.join("super-agent.yaml")).unwrap();
    let o = run(
        d,
        &["serve", "--data-dir", data],
        &[("MNO_AGENT_PORT", &port.to_string())],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("(port from environment MNO_AGENT_PORT)"),
        "{}",
        stderr(&o)
    );
    let o = run(
        d,
        &["serve", "--data-dir", data, "--port", &port.to_string()],
        &[],
    );
    assert!(
        stderr(&o).contains("(port from flag --port)"),
        "{}",
        stderr(&o)
    );
    drop(busy);
}

#[test]
fn the_schema_command_prints_the_committed_schema_and_help_lists_the_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["config", "schema"], &[]);
    assert!(o.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(printed, schema("super-agent-config.schema.json"));
    let o = run(dir.path(), &["serve", "--help"], &[]);
    let help = stdout(&o);
    for s in [
        "--port",
        "--bind",
        "--config",
        "--data-dir",
        "--allowed-root",
        "/message",
        "/api/v1/gates",
        "/incidents",
        "MNO_AGENT_TOKEN",
        "MNO_AGENT_ALLOWED_ROOTS",
    ] {
        assert!(help.contains(s), "serve --help lacks {s}:\n{help}");
    }
}
