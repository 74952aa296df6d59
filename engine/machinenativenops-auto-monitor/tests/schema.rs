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
