//! `super-agent registry check|plan|graph`: output formats and exit codes.

mod common;

use common::{run, write};

const VALID: &str = r#"
modules:
  - name: db
    version: 2.1.0
    load_sequence: { stage: 1, auto_start: true }
    run: { command: [db] }
  - name: api
    version: 1.0.0
    dependencies: [db (^2.0)]
    load_sequence: { stage: 1, auto_start: true }
    run: { command: [api] }
  - name: ui
    version: 1.0.0
    dependencies: ["api (>=1.0, <2.0)"]
    load_sequence: { stage: 2 }
stages: { 1: Core Services, 2: Applications }
"#;

const INVALID: &str = r#"
modules:
  - name: api
    version: 1.0.0
    dependencies: [loging-service (>=1.0.0)]
    resources:
      memory: { request: 1GB, limit: 2Gi }
  - name: logging-service
    version: 1.0.0
"#;

#[test]
fn version_flag_prints_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("super-agent {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_exit_codes_are_0_1_2() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.yaml", VALID);
    write(dir.path(), "bad.yaml", INVALID);
    let ok = run(dir.path(), &["registry", "check", "ok.yaml"]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "ok.yaml: valid (3 modules)\n"
    );
    let bad = run(dir.path(), &["registry", "check", "bad.yaml"]);
    assert_eq!(bad.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(text.contains("module api"), "{text}");
    assert!(text.contains("5:20  error    deps.unknown"), "{text}");
    assert!(text.contains("help: did you mean"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "no color when not on a terminal: {text}"
    );
    let missing = run(dir.path(), &["registry", "check", "nope.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("error: nope.yaml: cannot read:"));
    // The default file is ./root.modules.yaml, or MNO_REGISTRY.
    write(dir.path(), "root.modules.yaml", VALID);
    assert_eq!(
        run(dir.path(), &["registry", "check"]).status.code(),
        Some(0)
    );
    let env = common::command(dir.path())
        .env("MNO_REGISTRY", "bad.yaml")
        .args(["registry", "check"])
        .output()
        .unwrap();
    assert_eq!(env.status.code(), Some(1));
}

#[test]
fn check_json_carries_every_field_of_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.yaml", INVALID);
    let out = run(
        dir.path(),
        &["registry", "check", "--format", "json", "bad.yaml"],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["summary"]["errors"], 2);
    let f = &v["findings"][0];
    assert_eq!(f["file"], "bad.yaml");
    assert_eq!(f["line"], 5);
    assert_eq!(f["column"], 20);
    assert_eq!(f["rule"], "deps.unknown");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["module"], "api");
    assert!(f["message"].as_str().unwrap().contains("`loging-service`"));
    let q = &v["findings"][1];
    assert_eq!(
        (q["rule"].as_str(), q["line"].as_u64()),
        (Some("resources.quantity"), Some(7))
    );
    assert_eq!(
        q["suggestion"],
        "write 1Gi (binary, ×1024) or 1G (decimal, ×1000)"
    );
    // Findings deserialize into the library's type, as the gate will read them.
    let parsed: Vec<mno_registry::Finding> = serde_json::from_value(v["findings"].clone()).unwrap();
    assert_eq!(parsed.len(), 2);
}

#[test]
fn strict_makes_warnings_fail() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "warn.yaml",
        "modules:\n  - name: a\n    version: 1.0.0\n    colour: blue\n",
    );
    assert_eq!(
        run(dir.path(), &["registry", "check", "warn.yaml"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(dir.path(), &["registry", "check", "--strict", "warn.yaml"])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn unreadable_inputs_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "empty.yaml", "");
    std::fs::write(dir.path().join("bin.yaml"), b"\x7fELF\x00\x01").unwrap();
    write(dir.path(), "syntax.yaml", "modules: [\n");
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 10].join(", ")
        ));
    }
    write(dir.path(), "bomb.yaml", &bomb);
    for (file, want) in [
        (
            "empty.yaml",
            "error: empty.yaml: the file is empty: expected a `modules:` list",
        ),
        (
            "bin.yaml",
            "error: bin.yaml: not a text file: a NUL byte at byte 4",
        ),
        (
            "syntax.yaml",
            "error: syntax.yaml:1:10: YAML syntax error: unclosed bracket '['",
        ),
        (
            "bomb.yaml",
            "nodes through aliases (a \"billion laughs\" document?)",
        ),
    ] {
        let out = run(dir.path(), &["registry", "check", file]);
        assert_eq!(out.status.code(), Some(2), "{file}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{file}: {err}");
    }
}

#[test]
fn plan_shows_stages_steps_and_parallel_starts() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.yaml", VALID);
    let out = run(dir.path(), &["registry", "plan", "ok.yaml"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let want = "\nstage 1: Core Services\n  step 1  db   2.1.0       auto-start\n  step 2  api  1.0.0       auto-start  after db\n\nstage 2: Applications\n  step 1  ui   1.0.0       manual\n";
    assert!(text.ends_with(want), "{text}");
    let json = run(
        dir.path(),
        &["registry", "plan", "--format", "json", "ok.yaml"],
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["stages"][0]["steps"][1][0]["after"][0], "db");
    // An invalid registry has no plan.
    write(dir.path(), "bad.yaml", INVALID);
    let bad = run(dir.path(), &["registry", "plan", "bad.yaml"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("the registry has 2 error(s)"));
}

#[test]
fn graph_renders_dot_and_mermaid() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.yaml", VALID);
    let dot = run(
        dir.path(),
        &["registry", "graph", "--format", "dot", "ok.yaml"],
    );
    let dot = String::from_utf8_lossy(&dot.stdout);
    assert!(dot.starts_with("digraph registry {"), "{dot}");
    assert!(
        dot.contains("subgraph cluster_stage_1 {\n    label=\"1: Core Services\";"),
        "{dot}"
    );
    assert!(dot.contains("\"api\" -> \"db\" [label=\"^2.0\"];"), "{dot}");
    let mm = run(
        dir.path(),
        &["registry", "graph", "--format", "mermaid", "ok.yaml"],
    );
    let mm = String::from_utf8_lossy(&mm.stdout);
    assert!(
        mm.starts_with("flowchart LR\n  subgraph stage1[\"1: Core Services\"]"),
        "{mm}"
    );
    assert!(mm.contains("m1 -->|\"^2.0\"| m0"), "{mm}");
    assert!(mm.contains("m2 -->|\">=1.0, <2.0\"| m1"), "{mm}");
}

#[test]
fn the_repository_registry_passes_check() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = run(&root, &["registry", "check", "root.modules.yaml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "root.modules.yaml: valid (3 modules)\n"
    );
}
