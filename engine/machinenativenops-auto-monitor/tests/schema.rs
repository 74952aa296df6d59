//! The committed JSON Schema stays in sync with the Rust configuration types,
//! and the embedded default validates against it.

use machinenativenops_auto_monitor::config;

const SCHEMA_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/auto-monitor-config.schema.json"
);

#[test]
fn committed_schema_matches_the_rust_types() {
    let generated = serde_json::to_string_pretty(&config::json_schema()).unwrap() + "\n";
    if std::env::var("MNO_UPDATE_SCHEMAS").is_ok() {
        std::fs::write(SCHEMA_PATH, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(SCHEMA_PATH)
        .expect("schemas/auto-monitor-config.schema.json exists");
    assert!(
        committed == generated,
        "schemas/auto-monitor-config.schema.json is stale: regenerate with \
         `MNO_UPDATE_SCHEMAS=1 cargo test -p machinenativenops-auto-monitor --test schema`"
    );
}

#[test]
fn schema_describes_every_section_and_key() {
    let s = config::json_schema();
    let props = s["properties"].as_object().unwrap();
    for section in [
        "version",
        "architecture_hash",
        "monitoring",
        "quantum",
        "services",
        "auto_repair",
        "logging",
        "database",
        "network",
        "collectors",
        "http_checks",
    ] {
        assert!(props.contains_key(section), "schema lacks {section}");
        assert!(
            props[section].get("description").is_some(),
            "{section} has no description"
        );
    }
    // Defaults are in the schema, so editors show them.
    let text = s.to_string();
    assert!(text.contains("\"interval\""));
    assert!(text.contains("prometheus_port"));
}

#[test]
fn schema_accepts_null_where_the_loader_does() {
    // The original agent's config with its nulls loads (tests/cli_config.rs), so the schema
    // editors check it against must accept it too; a wrong type is still refused.
    let schema = config::json_schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/original_default_config.yaml"
    ))
    .unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let bad = serde_json::json!({"network": {"base_url": 5}});
    assert!(!validator.is_valid(&bad));
    // A null list item is not a default for anything: refused as the loader refuses it.
    let bad = serde_json::json!({"services": {"discovery_namespaces": [null]}});
    assert!(!validator.is_valid(&bad));
}
