//! The committed JSON Schema stays in sync with the Rust types, and the types with the
//! keys the loader accepts.

use std::collections::BTreeSet;

use mno_registry::load;

const SCHEMA_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/root-modules.schema.json"
);

#[test]
fn committed_schema_matches_the_rust_types() {
    let generated = serde_json::to_string_pretty(&mno_registry::json_schema()).unwrap() + "\n";
    if std::env::var("MNO_UPDATE_SCHEMAS").is_ok() {
        std::fs::write(SCHEMA_PATH, &generated).unwrap();
    }
    let committed =
        std::fs::read_to_string(SCHEMA_PATH).expect("schemas/root-modules.schema.json exists");
    assert!(
        committed == generated,
        "schemas/root-modules.schema.json is stale: regenerate with \
         `MNO_UPDATE_SCHEMAS=1 cargo test -p mno-registry --test schema`"
    );
}

fn properties(schema: &serde_json::Value) -> BTreeSet<String> {
    schema["properties"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn keys(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn schema_objects_have_exactly_the_keys_the_loader_reads() {
    let s = mno_registry::json_schema();
    let defs = &s["$defs"];
    assert_eq!(properties(&s), keys(load::TOP_KEYS), "top level");
    for (def, list) in [
        ("ModuleEntry", load::MODULE_KEYS),
        ("LoadSequence", load::LOAD_KEYS),
        ("HealthCheckEntry", load::HEALTH_KEYS),
        ("RunEntry", load::RUN_KEYS),
        ("BuildEntry", load::BUILD_KEYS),
        ("RestartEntry", load::RESTART_KEYS),
        ("ResourcePair", load::RESOURCE_KEYS),
        ("StageObject", load::STAGE_KEYS),
    ] {
        assert_eq!(properties(&defs[def]), keys(list), "{def}");
        // Every property is documented, so editors show what it means.
        for (name, p) in defs[def]["properties"].as_object().unwrap() {
            let described = p.get("description").is_some()
                || p.get("$ref").is_some()
                || p.get("anyOf").is_some_and(|a| {
                    a.as_array()
                        .is_some_and(|a| a.iter().any(|x| x.get("$ref").is_some()))
                });
            assert!(described, "{def}.{name} has no description");
        }
    }
}
