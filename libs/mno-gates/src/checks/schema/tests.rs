use super::*;
use crate::config::SchemaMapping;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn mapping(glob: &str, schema: &str) -> SchemaMapping {
    SchemaMapping {
        glob: Some(glob.into()),
        globs: Vec::new(),
        schema: schema.into(),
    }
}

fn cfg(mappings: Vec<SchemaMapping>) -> SchemaConfig {
    SchemaConfig {
        mappings,
        ..Default::default()
    }
}

fn located(r: &CheckResult) -> Vec<(String, String, usize, usize)> {
    r.findings
        .iter()
        .map(|f| (f.rule_id.clone(), f.file.clone(), f.line, f.column))
        .collect()
}

const MODULES_2020: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["modules"],
  "properties": {
    "modules": {"type": "array", "items": {"$ref": "defs/module.schema.json"}}
  }
}"#;

const MODULE_DRAFT7: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["name", "version"],
  "additionalProperties": false,
  "properties": {
    "name": {"type": "string"},
    "version": {"type": "string"},
    "kind": {"enum": ["lib", "app"]}
  }
}"#;

#[test]
fn nested_yaml_violations_are_located_through_a_cross_file_ref() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "schemas/modules.schema.json", MODULES_2020);
    write(dir.path(), "schemas/defs/module.schema.json", MODULE_DRAFT7);
    write(
        dir.path(),
        "config/modules.yaml",
        "modules:\n  - name: a\n    version: 1.0.0\n  - name: b\n    version: 2\n    kind: tool\n    colour: red\n  - name: c\n",
    );
    let r = run(
        dir.path(),
        &cfg(vec![mapping(
            "config/*.yaml",
            "schemas/modules.schema.json",
        )]),
    );
    assert_eq!(r.status, Status::Failed);
    let s = |r: &str, l, c| (r.to_string(), "config/modules.yaml".to_string(), l, c);
    assert_eq!(
        located(&r),
        vec![
            s("schema.type", 5, 14),
            s("schema.enum", 6, 11),
            s("schema.additionalProperties", 7, 5),
            s("schema.required", 8, 5),
        ]
    );
    let ty = &r.findings[0];
    assert!(
        ty.message.starts_with("`/modules/1/version`: "),
        "{}",
        ty.message
    );
    assert!(
        ty.message.ends_with("(schema schemas/modules.schema.json)"),
        "{}",
        ty.message
    );
    assert_eq!(
        r.findings[1].suggested_fix.as_deref(),
        Some(r#"use one of "lib", "app""#)
    );
    assert_eq!(
        r.findings[3].suggested_fix.as_deref(),
        Some("add `version`")
    );
    assert_eq!(
        r.files_read,
        vec![
            "config/modules.yaml",
            "schemas/defs/module.schema.json",
            "schemas/modules.schema.json"
        ]
    );
}

#[test]
fn json_violations_are_located_and_draft7_keywords_apply() {
    let dir = tempfile::tempdir().unwrap();
    // Draft 7: `dependencies` is a keyword there (split in 2019-09).
    write(
        dir.path(),
        "s.json",
        r#"{"$schema": "http://json-schema.org/draft-07/schema#", "dependencies": {"a": ["b"]}}"#,
    );
    write(dir.path(), "data/x.json", "{\n  \"a\": 1\n}\n");
    let r = run(dir.path(), &cfg(vec![mapping("data/*.json", "s.json")]));
    assert_eq!(
        located(&r),
        vec![(
            "schema.required".to_string(),
            "data/x.json".to_string(),
            1,
            1
        )]
    );
}

#[test]
fn multi_document_yaml_validates_each_document() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.json",
        r#"{"type": "object", "properties": {"n": {"type": "integer"}}}"#,
    );
    write(dir.path(), "d.yaml", "n: 1\n---\nn: two\n");
    let r = run(dir.path(), &cfg(vec![mapping("*.yaml", "s.json")]));
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    assert_eq!((r.findings[0].line, r.findings[0].column), (3, 4));
    assert!(
        r.findings[0].message.starts_with("document 2, `/n`"),
        "{}",
        r.findings[0].message
    );
    assert_eq!(r.stats["documents_validated"], 2);
}

#[test]
fn syntax_errors_are_located_findings() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.json", r#"{"type": "object"}"#);
    write(dir.path(), "bad.yaml", "a: 1\nb: [1, 2\nc: 3\n");
    write(dir.path(), "bad.json", "{\n  \"a\": 1,\n}\n");
    let r = run(dir.path(), &cfg(vec![mapping("bad.*", "s.json")]));
    let got = located(&r);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0].0, "schema.syntax");
    assert_eq!((got[0].1.as_str(), got[0].2), ("bad.json", 3));
    assert_eq!(
        (got[1].0.as_str(), got[1].1.as_str()),
        ("schema.syntax", "bad.yaml")
    );
    assert!(got[1].2 >= 2, "{got:#?}");
}

#[test]
fn a_ref_escaping_the_root_is_refused_at_the_ref() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("repo");
    write(parent.path(), "outside.json", r#"{"type": "string"}"#);
    write(
        &root,
        "s.json",
        "{\n  \"properties\": {\n    \"a\": {\"$ref\": \"../outside.json\"}\n  }\n}\n",
    );
    write(&root, "d.yaml", "a: 1\n");
    let r = run(&root, &cfg(vec![mapping("*.yaml", "s.json")]));
    assert_eq!(r.status, Status::Failed);
    assert_eq!(
        located(&r),
        vec![(
            "schema.ref-unresolvable".to_string(),
            "s.json".to_string(),
            3,
            19
        )]
    );
    assert!(
        r.findings[0].message.contains("outside the repository"),
        "{}",
        r.findings[0].message
    );
    // The schema file outside was never read.
    assert!(
        !r.files_read.iter().any(|f| f.contains("outside")),
        "{:?}",
        r.files_read
    );
}

#[test]
fn remote_refs_and_missing_files_are_unresolvable() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.json",
        r#"{"$ref": "https://example.com/x.json"}"#,
    );
    write(dir.path(), "m.json", r#"{"$ref": "nope.json"}"#);
    write(dir.path(), "d.yaml", "a: 1\n");
    let r = run(
        dir.path(),
        &cfg(vec![
            mapping("*.yaml", "s.json"),
            mapping("*.yaml", "m.json"),
        ]),
    );
    let got = located(&r);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got.iter().all(|g| g.0 == "schema.ref-unresolvable"),
        "{got:#?}"
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.file == "s.json" && f.message.contains("remote"))
    );
}

#[test]
fn an_invalid_schema_is_a_finding_on_the_schema_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.json", "{\n  \"type\": \"objekt\"\n}\n");
    write(
        dir.path(),
        "u.json",
        r#"{"$schema": "https://example.com/my-meta"}"#,
    );
    write(dir.path(), "d.yaml", "a: 1\n");
    let r = run(
        dir.path(),
        &cfg(vec![
            mapping("*.yaml", "s.json"),
            mapping("*.yaml", "u.json"),
        ]),
    );
    let got = located(&r);
    assert_eq!(
        got,
        vec![
            (
                "schema.invalid-schema".to_string(),
                "s.json".to_string(),
                2,
                11
            ),
            (
                "schema.invalid-schema".to_string(),
                "u.json".to_string(),
                1,
                13
            ),
        ]
    );
}

#[test]
fn zero_config_uses_modelines_json_schema_keys_and_conventions() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "schemas/s.schema.json",
        r#"{"properties": {"n": {"type": "integer"}}}"#,
    );
    write(
        dir.path(),
        "conf/a.yaml",
        "# yaml-language-server: $schema=../schemas/s.schema.json\nn: x\n",
    );
    write(
        dir.path(),
        "conf/b.json",
        "{\"$schema\": \"../schemas/s.schema.json\", \"n\": \"y\"}",
    );
    // Remote schemas and files naming none are left alone.
    write(
        dir.path(),
        "conf/c.json",
        r#"{"$schema": "https://example.com/s.json", "n": "z"}"#,
    );
    write(dir.path(), "conf/d.yaml", "n: z\n");
    write(
        dir.path(),
        "schemas/root-gates.schema.json",
        r#"{"properties": {"x": {"type": "boolean"}}}"#,
    );
    write(dir.path(), "root.gates.yaml", "x: 1\n");
    // A modeline naming a schema that is not there is reported where it is written.
    write(
        dir.path(),
        "conf/e.yaml",
        "# yaml-language-server: $schema=missing.json\nn: 1\n",
    );
    let r = run(dir.path(), &SchemaConfig::default());
    let got = located(&r);
    let f = |r: &str, file: &str, l, c| (r.to_string(), file.to_string(), l, c);
    assert_eq!(
        got,
        vec![
            f("schema.type", "conf/a.yaml", 2, 4),
            f("schema.type", "conf/b.json", 1, 46),
            f("schema.ref-unresolvable", "conf/e.yaml", 1, 33),
            f("schema.type", "root.gates.yaml", 1, 4),
        ]
    );
    assert_eq!(r.stats["files_validated"], 3);
}

#[test]
fn nothing_to_validate_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", "a: 1\n");
    let r = run(dir.path(), &SchemaConfig::default());
    assert_eq!(r.status, Status::Skipped);
}

#[test]
fn an_http_id_maps_sibling_refs_to_local_files() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "schemas/a.json",
        r#"{"$id": "https://example.com/schemas/a.json", "$ref": "b.json"}"#,
    );
    write(dir.path(), "schemas/b.json", r#"{"type": "array"}"#);
    write(dir.path(), "d.yaml", "a: 1\n");
    let r = run(dir.path(), &cfg(vec![mapping("d.yaml", "schemas/a.json")]));
    assert_eq!(
        located(&r),
        vec![("schema.type".to_string(), "d.yaml".to_string(), 1, 1)]
    );
}

#[test]
fn modelines_are_read_from_comments_only() {
    assert_eq!(
        modeline("# yaml-language-server: $schema=s.json\na: 1\n"),
        Some((
            "s.json".into(),
            Location {
                line: 1,
                column: 33
            }
        ))
    );
    assert_eq!(
        modeline("a: 'yaml-language-server: $schema=s.json'\n"),
        None
    );
    assert_eq!(
        modeline("# yaml-language-server: $schema=https://x/s.json\n"),
        None
    );
}

#[test]
fn a_missing_mapped_schema_is_reported_at_its_mapping() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "root.gates.yaml",
        "schema_validation:\n  mappings:\n    - glob: '*.yaml'\n      schema: nope.json\n",
    );
    let r = run(dir.path(), &cfg(vec![mapping("*.yaml", "nope.json")]));
    assert_eq!(
        located(&r),
        vec![(
            "schema.ref-unresolvable".to_string(),
            "root.gates.yaml".to_string(),
            4,
            15
        )]
    );
}
