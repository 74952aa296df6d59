//! From a located YAML tree to a [`Registry`]: the canonical shape and every legacy one.
//!
//! Legacy shapes are mapped as they are met, and each kind of mapping is
//! reported once as a note (`legacy.*`) with where it first occurs and how many
//! times it occurs, so a file that mixes shapes reads without crashing and the
//! output says what was translated. What cannot be mapped is a finding with its
//! location; extraction never stops at the first problem.

mod cx;
mod kubernetes;
mod module;
mod run;

use std::collections::BTreeMap;
use std::path::Path;

use crate::finding::{Finding, Sink};
use crate::model::{Registry, Spanned, Stage};
use crate::tree::{self, LoadError, Node, Tree, Value};

pub(crate) use cx::Cx;
pub use module::{
    BUILD_KEYS, HEALTH_KEYS, LOAD_KEYS, MODULE_KEYS, RESOURCE_KEYS, RESTART_KEYS, RUN_KEYS,
};

/// Keys of the top level of the canonical shape.
pub const TOP_KEYS: &[&str] = &["modules", "stages", "capacity"];
/// Keys of a stage given as a mapping.
pub const STAGE_KEYS: &[&str] = &["name", "capacity"];
/// Top-level keys of other shapes that are read (and noted) rather than warned about.
const LEGACY_TOP_KEYS: &[&str] = &["load_sequence", "dependency_graph", "apiVersion", "kind"];

/// A registry read from text, with what was noticed while reading it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The registry in canonical form.
    pub registry: Registry,
    /// Structure findings and legacy notes (validation adds the rest).
    pub findings: Vec<Finding>,
}

/// Read and map a registry file.
pub fn load_file(path: &Path) -> Result<Loaded, LoadError> {
    let file = path.display().to_string();
    let text = tree::read_file(path)?;
    let mut loaded = load_str(&file, &text)?;
    loaded.registry.base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| ".".into());
    Ok(loaded)
}

/// Map registry text; `file` names it in findings.
pub fn load_str(file: &str, text: &str) -> Result<Loaded, LoadError> {
    let tree = tree::parse(file, text)?;
    let mut cx = Cx::new(Sink::new(file));
    let registry = from_tree(&mut cx, &tree);
    Ok(Loaded {
        registry,
        findings: cx.finish(),
    })
}

fn from_tree(cx: &mut Cx, tree: &Tree) -> Registry {
    for (key, at, first) in &tree.duplicate_keys {
        cx.sink.error(
            *at,
            "yaml.duplicate-key",
            format!("key `{key}` is given twice (first at {first}); the second one is used"),
        );
    }
    if let Some(at) = tree.extra_document {
        cx.sink.note(
            at,
            "yaml.extra-document",
            "only the first YAML document is the registry; later documents are ignored",
        );
    }
    let mut reg = Registry {
        file: cx.sink.file.clone(),
        base_dir: ".".into(),
        ..Default::default()
    };
    let root = &tree.root;
    match &root.value {
        Value::Seq(_) => {
            cx.legacy(
                root.at,
                "legacy.modules-list",
                "a top-level list of modules, read as `modules:`",
            );
            reg.modules = module::modules(cx, root);
        }
        Value::Map(_) if root.get("spec").is_some() || root.get("apiVersion").is_some() => {
            kubernetes::read(cx, root, &mut reg);
        }
        Value::Map(_) => canonical(cx, root, &mut reg),
        _ => {
            cx.sink.error(
                root.at,
                "schema.type",
                format!(
                    "expected a mapping with a `modules:` list, found {}",
                    root.kind()
                ),
            );
        }
    }
    reg
}

fn canonical(cx: &mut Cx, root: &Node, reg: &mut Registry) {
    cx.unknown_keys(root, TOP_KEYS, LEGACY_TOP_KEYS, "top level", None);
    match root.get("modules") {
        Some(m) => reg.modules = module::modules(cx, m),
        None => {
            cx.sink
                .error(root.at, "schema.required", "the registry has no `modules:`");
        }
    }
    if let Some(s) = root.get("stages") {
        read_stages(cx, s, reg);
    }
    if let Some(c) = root.get("capacity") {
        reg.capacity_at = Some(c.at);
        reg.capacity = capacity(cx, c, "capacity");
    }
    if let Some(ls) = root.get("load_sequence") {
        kubernetes::load_sequence(cx, ls, reg);
    }
    if let Some(g) = root.get("dependency_graph") {
        kubernetes::dependency_graph(cx, g, reg);
    }
}

/// `stages:` as a map of number → name or {name, capacity}, or (legacy) a list.
pub(crate) fn read_stages(cx: &mut Cx, node: &Node, reg: &mut Registry) {
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let Some(n) = stage_number(cx, k) else {
                    continue;
                };
                let stage = match &v.value {
                    Value::Null => Stage {
                        at: k.at,
                        ..Default::default()
                    },
                    Value::Str { text, .. } => Stage {
                        name: text.clone(),
                        capacity: BTreeMap::new(),
                        at: k.at,
                    },
                    Value::Map(_) => {
                        cx.unknown_keys(v, STAGE_KEYS, &[], "stage", None);
                        Stage {
                            name: v
                                .get("name")
                                .and_then(|n| cx.string(n, "stage name"))
                                .unwrap_or_default(),
                            capacity: v
                                .get("capacity")
                                .map(|c| capacity(cx, c, "stage capacity"))
                                .unwrap_or_default(),
                            at: k.at,
                        }
                    }
                    Value::Seq(_) => {
                        cx.sink.error(
                            v.at,
                            "schema.type",
                            "a stage is a name or a mapping with `name` and `capacity`, not a list",
                        );
                        continue;
                    }
                };
                reg.stages.insert(n, stage);
            }
        }
        Value::Seq(items) => {
            if items.iter().any(|i| i.map().is_some()) {
                kubernetes::load_sequence(cx, node, reg);
                return;
            }
            cx.legacy(
                node.at,
                "legacy.stages-list",
                "`stages` as a list of names, numbered from 1",
            );
            for (i, item) in items.iter().enumerate() {
                let name = cx.string(item, "stage name").unwrap_or_default();
                reg.stages.insert(
                    i as u32 + 1,
                    Stage {
                        name,
                        capacity: BTreeMap::new(),
                        at: item.at,
                    },
                );
            }
        }
        Value::Null => {}
        Value::Str { .. } => {
            cx.sink.error(
                node.at,
                "schema.type",
                "`stages` must be a mapping of number → name",
            );
        }
    }
}

/// A stage number: a non-negative integer.
pub(crate) fn stage_number(cx: &mut Cx, node: &Node) -> Option<u32> {
    match node.int().and_then(|n| u32::try_from(n).ok()) {
        Some(n) => Some(n),
        None => {
            cx.sink.error(
                node.at,
                "stage.number",
                format!(
                    "stage `{}` is not a stage number (a whole number, 0 or more)",
                    node.str().unwrap_or(node.kind())
                ),
            );
            None
        }
    }
}

/// A mapping of resource name → quantity text.
pub(crate) fn capacity(cx: &mut Cx, node: &Node, what: &str) -> BTreeMap<String, Spanned<String>> {
    let mut out = BTreeMap::new();
    let Some(entries) = cx.expect_map(node, what) else {
        return out;
    };
    for (k, v) in entries {
        let (Some(name), Some(q)) = (k.str(), cx.string(v, what)) else {
            continue;
        };
        out.insert(name.to_string(), Spanned { value: q, at: v.at });
    }
    out
}
