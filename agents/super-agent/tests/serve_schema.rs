//! The committed JSON Schemas of the SuperAgent's messages and config stay in sync with the
//! Rust types (regenerate with `MNO_UPDATE_SCHEMAS=1 cargo test -p super-agent --test serve_schema`),
//! and documents written by hand validate against them.

mod common;

use common::{assert_valid, envelope, gate_payload, schema};
use serde_json::json;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas");

#[test]
fn committed_schemas_match_the_rust_types() {
    let mut stale = Vec::new();
    for (file, value) in super_agent::messages::schemas() {
        let path = std::path::Path::new(DIR).join(file);
        let generated = serde_json::to_string_pretty(&value).unwrap() + "\n";
        if std::env::var("MNO_UPDATE_SCHEMAS").is_ok() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "stale schemas {stale:?}: regenerate with \
         `MNO_UPDATE_SCHEMAS=1 cargo test -p super-agent --test serve_schema`"
    );
}

#[test]
fn example_messages_validate_against_the_schemas() {
    let gate = gate_payload(7, "repos/app");
    assert_valid(&schema("gate-validation-request.schema.json"), &gate);
    let env = envelope("GateValidationRequest", "t-1", gate);
    assert_valid(&schema("message-envelope.schema.json"), &env);
    let incident = json!({
        "alert_name": "HighCPU", "severity": "warning", "status": "firing",
        "labels": {"instance": "host-1"}, "annotations": {"summary": "CPU over 90%"},
        "starts_at": "2026-01-01T00:00:00Z", "source": "auto-monitor"
    });
    assert_valid(&schema("incident-signal.schema.json"), &incident);
    // The schemas reject what the server rejects.
    let bad = envelope("Nope", "t-1", json!({}));
    let v = jsonschema::validator_for(&schema("message-envelope.schema.json")).unwrap();
    assert!(!v.is_valid(&bad));
    let v = jsonschema::validator_for(&schema("gate-validation-request.schema.json")).unwrap();
    assert!(!v.is_valid(&json!({"metadata": {"pr_number": 1}, "artifacts": {"root": "."}})));
    let config = json!({"port": 8082, "allowed_roots": ["."], "max_concurrent_gates": 2});
    assert_valid(&schema("super-agent-config.schema.json"), &config);
}

#[test]
fn the_guide_lists_every_metric_environment_variable_and_config_key() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/super-agent.md"
    ))
    .unwrap();
    let text = super_agent::metrics::Metrics::new().render(Default::default());
    for name in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = name.split(' ').next().unwrap();
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/super-agent.md lacks {name}"
        );
    }
    for (var, _) in super_agent::config::ENV_VARS {
        assert!(doc.contains(var), "docs/super-agent.md lacks {var}");
    }
    let defaults = serde_json::to_value(super_agent::AgentConfig::default()).unwrap();
    for key in defaults.as_object().unwrap().keys() {
        assert!(
            doc.contains(&format!("\n{key}:")),
            "docs/super-agent.md lacks config key {key}"
        );
    }
}
