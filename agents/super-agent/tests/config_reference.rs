//! docs/config-reference.md is generated from the JSON Schemas in schemas/ (which the schema
//! tests keep equal to the config structs): every key with its type, default and the doc
//! comment it was written with. This test renders it again and fails when the checked-in file
//! differs; regenerate with `MNO_UPDATE_DOCS=1 cargo test -p super-agent --test config_reference`.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// (schema file, section title, what the file is).
const SCHEMAS: &[(&str, &str, &str)] = &[
    (
        "auto-monitor-config.schema.json",
        "Auto-Monitor: `monitor.yaml`",
        "`machinenativenops-auto-monitor --config FILE` (or `MNO_CONFIG`); installed as `/etc/machinenativenops/monitor.yaml`.",
    ),
    (
        "super-agent-config.schema.json",
        "SuperAgent: `super-agent.yaml`",
        "`super-agent serve --config FILE` (or `MNO_AGENT_CONFIG`, else `./super-agent.yaml`); installed as `/etc/machinenativenops/super-agent.yaml`.",
    ),
    (
        "root-modules.schema.json",
        "Module registry: `root.modules.yaml`",
        "The repository's module registry (docs/registry.md).",
    ),
    (
        "root-gates.schema.json",
        "Gate configuration: `root.gates.yaml`",
        "The repository's gate configuration (docs/gates.md).",
    ),
];

struct Doc<'a> {
    root: &'a Value,
    out: String,
}

impl Doc<'_> {
    /// `#/$defs/X` of this schema.
    fn resolve<'v>(&'v self, v: &'v Value) -> &'v Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.trim_start_matches("#/$defs/");
                &self.root["$defs"][name]
            }
            None => v,
        }
    }

    /// The non-null alternative of `anyOf: [X, null]`, resolved.
    fn core<'v>(&'v self, v: &'v Value) -> &'v Value {
        if let Some(alts) = v.get("anyOf").and_then(Value::as_array) {
            let non_null: Vec<&Value> = alts.iter().filter(|a| a["type"] != "null").collect();
            if non_null.len() == 1 {
                return self.resolve(non_null[0]);
            }
        }
        self.resolve(v)
    }

    fn type_name(&self, v: &Value) -> String {
        let c = self.core(v);
        let nullable = v
            .get("anyOf")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x["type"] == "null"))
            || c["type"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "null"));
        let base = if let Some(e) = c.get("enum").and_then(Value::as_array) {
            e.iter()
                .map(|x| {
                    format!(
                        "`{}`",
                        x.as_str().map(str::to_string).unwrap_or(x.to_string())
                    )
                })
                .collect::<Vec<_>>()
                .join(" \\| ")
        } else if let Some(one) = c.get("oneOf").or(c.get("anyOf")).and_then(Value::as_array) {
            one.iter()
                .filter(|x| x["type"] != "null")
                .map(|x| self.type_name(x))
                .collect::<Vec<_>>()
                .join(" or ")
        } else {
            match &c["type"] {
                Value::String(s) => self.plain_type(s, c),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|s| *s != "null")
                    .map(|s| self.plain_type(s, c))
                    .collect::<Vec<_>>()
                    .join(" or "),
                _ if c.get("properties").is_some() => "object".into(),
                _ => "any".into(),
            }
        };
        if nullable && !base.contains("null") {
            format!("{base} or null")
        } else {
            base
        }
    }

    fn plain_type(&self, t: &str, c: &Value) -> String {
        match t {
            "array" => match c.get("items") {
                Some(items) => format!("list of {}", self.type_name(items)),
                None => "list".into(),
            },
            "object" if c.get("properties").is_none() => match c.get("additionalProperties") {
                Some(Value::Object(_)) => {
                    format!("map of {}", self.type_name(&c["additionalProperties"]))
                }
                _ => "map".into(),
            },
            other => other.into(),
        }
    }

    fn row(&mut self, path: &str, v: &Value) {
        let c = self.core(v);
        let desc = v
            .get("description")
            .or(c.get("description"))
            .and_then(Value::as_str)
            .unwrap_or("");
        // The first paragraph, on one line; table cells cannot hold `|`.
        let desc = desc
            .split("\n\n")
            .next()
            .unwrap_or("")
            .replace('\n', " ")
            .replace('|', "\\|");
        let default = match v.get("default") {
            None => String::new(),
            Some(d) if d.is_object() || (d.is_array() && d.to_string().len() > 40) => {
                "(see below)".into()
            }
            Some(d) => format!("`{}`", d.to_string().replace('|', "\\|")),
        };
        let _ = writeln!(
            self.out,
            "| `{path}` | {} | {default} | {desc} |",
            self.type_name(v)
        );
    }

    /// Rows for the properties of `obj` under `prefix`, depth-first; `seen` stops recursion
    /// through self-referencing definitions.
    fn walk(&mut self, prefix: &str, obj: &Value, seen: &mut Vec<String>) {
        let Some(props) = obj.get("properties").and_then(Value::as_object) else {
            return;
        };
        for (key, v) in props {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            self.row(&path, v);
            let c = self.core(v);
            let (child, child_path) = if c.get("properties").is_some() {
                (c, path.clone())
            } else if c["type"] == "array" && c.get("items").is_some() {
                (self.core(&c["items"]), format!("{path}[]"))
            } else if let Some(ap @ Value::Object(_)) = c.get("additionalProperties") {
                (self.core(ap), format!("{path}.<name>"))
            } else {
                continue;
            };
            let id = child.to_string();
            if child.get("properties").is_some() && !seen.contains(&id) {
                seen.push(id);
                // Clone: `child` borrows from `self.root`, which outlives `self.out`'s writes.
                let child = child.clone();
                self.walk(&child_path, &child, seen);
                seen.pop();
            }
        }
    }
}

fn render() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Generated from schemas/*.schema.json by agents/super-agent/tests/config_reference.rs:\n\
         MNO_UPDATE_DOCS=1 cargo test -p super-agent --test config_reference. Do not edit by hand. -->\n\n\
         Every key of the configuration files, from the JSON Schemas in `schemas/` (which tests\n\
         keep equal to the code). Types: `or null` means the key may be left empty for its\n\
         default. Explanations, examples and the environment variables are in\n\
         [configuration.md](configuration.md) (Auto-Monitor), [super-agent.md](super-agent.md),\n\
         [registry.md](registry.md) and [gates.md](gates.md). Precedence everywhere: built-in\n\
         defaults < file < `MNO_*` environment < flags.\n",
    );
    for (file, title, what) in SCHEMAS {
        let path = Path::new(REPO).join("schemas").join(file);
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut doc = Doc {
            root: &schema,
            out: String::new(),
        };
        let _ = write!(
            doc.out,
            "\n## {title}\n\n{what} Schema: [`schemas/{file}`](../schemas/{file}).\n\n\
             | key | type | default | description |\n|---|---|---|---|\n"
        );
        let mut seen = Vec::new();
        doc.walk("", &schema, &mut seen);
        out.push_str(&doc.out);
    }
    out
}

#[test]
fn config_reference_is_generated_from_the_schemas() {
    let path = Path::new(REPO).join("docs/config-reference.md");
    let want = render();
    if std::env::var("MNO_UPDATE_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/config-reference.md is stale: MNO_UPDATE_DOCS=1 cargo test -p super-agent --test config_reference"
    );
}

/// Every top-level key of every schema appears: nothing is dropped by the walk.
#[test]
fn every_top_level_key_is_documented() {
    let text = render();
    for (file, ..) in SCHEMAS {
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(Path::new(REPO).join("schemas").join(file)).unwrap(),
        )
        .unwrap();
        for key in schema["properties"].as_object().unwrap().keys() {
            assert!(text.contains(&format!("| `{key}` |")), "{file}: {key}");
        }
    }
    assert!(text.contains("| `monitoring.interval` |"));
    assert!(text.contains("| `collectors.procfs_path` |"));
}
