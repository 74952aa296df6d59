//! The committed root.gates.yaml JSON Schema stays in sync with the Rust types.

const SCHEMA_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/root-gates.schema.json"
);

#[test]
fn committed_schema_matches_the_rust_types() {
    let generated = serde_json::to_string_pretty(&mno_gates::json_schema()).unwrap() + "\n";
    if std::env::var("MNO_UPDATE_SCHEMAS").is_ok() {
        std::fs::write(SCHEMA_PATH, &generated).unwrap();
    }
    let committed =
        std::fs::read_to_string(SCHEMA_PATH).expect("schemas/root-gates.schema.json exists");
    assert!(
        committed == generated,
        "schemas/root-gates.schema.json is stale: regenerate with \
         `MNO_UPDATE_SCHEMAS=1 cargo test -p mno-gates --test schema`"
    );
}

#[test]
fn the_defaults_serialize_to_a_document_the_loader_reads_back() {
    let defaults = mno_gates::GatesConfig::default();
    let text = serde_json::to_string(&defaults).unwrap();
    // JSON is YAML: the loader must accept what the defaults look like, with no warnings.
    let loaded = mno_common::load_str::<mno_gates::GatesConfig>("root.gates.yaml", &text).unwrap();
    assert_eq!(loaded.value, defaults);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn a_bad_config_is_an_error_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("root.gates.yaml"),
        "security_scan:\n  enabled: true\nnaming_conventions:\n  rules:\n    - glob: '*.md'\n      style: shouty\n",
    )
    .unwrap();
    let err = mno_gates::load_config(dir.path()).unwrap_err().to_string();
    assert!(err.contains("root.gates.yaml:6:"), "{err}");
}

#[test]
fn unknown_keys_warn_with_their_location() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("root.gates.yaml"),
        "security_scan:\n  max_file_sise: 10\n",
    )
    .unwrap();
    let loaded = mno_gates::load_config(dir.path()).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains(":2:"), "{:?}", loaded.warnings);
}
