//! The Kubernetes-resource shape (`apiVersion/kind/metadata/spec`) and the stage and
//! dependency lists that registries of that shape keep apart from their modules.

use std::collections::BTreeMap;

use super::{Cx, module};
use crate::model::{Registry, Spanned, Stage};
use crate::tree::{Node, Value};

/// Keys of `spec` that are read.
const SPEC_KEYS: &[&str] = &[
    "modules",
    "coreModules",
    "dependencies",
    "dependency_graph",
    "loadOrder",
    "load_sequence",
    "stages",
    "capacity",
];

/// Read a `kind: …` document whose registry is under `spec`.
pub(crate) fn read(cx: &mut Cx, root: &Node, reg: &mut Registry) {
    cx.legacy(
        root.at,
        "legacy.kubernetes",
        "the Kubernetes-resource shape (`apiVersion/kind/metadata/spec`), read from `spec`",
    );
    cx.unknown_keys(
        root,
        &["apiVersion", "kind", "metadata", "spec", "status"],
        &[],
        "top level",
        None,
    );
    let Some(spec) = root.get("spec") else {
        cx.sink.error(
            root.at,
            "schema.required",
            "the resource has no `spec:` with the modules",
        );
        return;
    };
    if cx.expect_map(spec, "spec").is_none() {
        return;
    }
    for (k, _) in spec.map().unwrap_or(&[]) {
        if let Some(key) = k.str().filter(|key| !SPEC_KEYS.contains(key)) {
            cx.sink.note(
                k.at,
                "legacy.ignored-section",
                format!("`spec.{key}` is not part of the module registry; ignored"),
            );
        }
    }
    if let Some(m) = spec.get("modules") {
        reg.modules = module::modules(cx, m);
    }
    let mut core_names: Vec<Spanned<String>> = Vec::new();
    if let Some(core) = spec.get("coreModules") {
        cx.legacy(
            core.at,
            "legacy.core-modules",
            "`spec.coreModules`, loaded in the first stage",
        );
        for item in core.seq().unwrap_or(&[]) {
            match &item.value {
                Value::Str { text, .. } => core_names.push(Spanned {
                    value: text.clone(),
                    at: item.at,
                }),
                Value::Map(_) => {
                    if let Some(mut m) = module::module(cx, item, None) {
                        m.group.get_or_insert_with(|| "core".into());
                        core_names.push(Spanned {
                            value: m.name.clone(),
                            at: m.at,
                        });
                        reg.modules.push(m);
                    }
                }
                _ => {
                    cx.sink.error(
                        item.at,
                        "schema.type",
                        "a core module is a name or a module mapping",
                    );
                }
            }
        }
        if core.seq().is_none() {
            cx.sink
                .error(core.at, "schema.type", "`coreModules` must be a list");
        }
    }
    if let Some(s) = spec.get("stages") {
        super::read_stages(cx, s, reg);
    }
    if let Some(c) = spec.get("capacity") {
        reg.capacity_at = Some(c.at);
        reg.capacity = super::capacity(cx, c, "capacity");
    }
    for key in ["load_sequence", "loadOrder"] {
        if let Some(ls) = spec.get(key) {
            load_sequence(cx, ls, reg);
        }
    }
    for key in ["dependencies", "dependency_graph"] {
        if let Some(g) = spec.get(key) {
            dependency_graph(cx, g, reg);
        }
    }
    // Core modules without a stage load in the first one.
    let first = reg.stages.keys().next().copied().unwrap_or(1);
    for core in core_names {
        match reg.modules.iter_mut().find(|m| m.name == core.value) {
            Some(m) if m.stage.is_none() => {
                m.stage = Some(Spanned {
                    value: first,
                    at: core.at,
                })
            }
            Some(_) => {}
            None => {
                cx.sink.warn(
                    core.at,
                    "stage.unknown-module",
                    format!("core module `{}` is not a registered module", core.value),
                );
            }
        }
    }
}

/// A load order: a list whose items are names (one stage each), lists of names
/// (one stage each), or `{stage, modules, description}`.
pub(crate) fn load_sequence(cx: &mut Cx, node: &Node, reg: &mut Registry) {
    let Some(items) = node.seq() else {
        cx.sink
            .error(node.at, "schema.type", "a load order must be a list");
        return;
    };
    cx.legacy(
        node.at,
        "legacy.load-order",
        "a separate load order list, read as each module's stage",
    );
    for (i, item) in items.iter().enumerate() {
        let default_stage = i as u32 + 1;
        let (stage, names, name): (u32, Vec<&Node>, String) = match &item.value {
            Value::Str { .. } => (default_stage, vec![item], String::new()),
            Value::Seq(names) => (default_stage, names.iter().collect(), String::new()),
            Value::Map(_) => {
                let stage = match item.get("stage") {
                    Some(s) => match super::stage_number(cx, s) {
                        Some(n) => n,
                        None => continue,
                    },
                    None => default_stage,
                };
                let label = item
                    .get("name")
                    .or_else(|| item.get("description"))
                    .and_then(|d| d.str())
                    .unwrap_or("")
                    .to_string();
                let names = item
                    .get("modules")
                    .and_then(|m| m.seq())
                    .map(|s| s.iter().collect())
                    .unwrap_or_default();
                (stage, names, label)
            }
            Value::Null => continue,
        };
        reg.stages.entry(stage).or_insert_with(|| Stage {
            name,
            capacity: BTreeMap::new(),
            at: item.at,
        });
        for n in names {
            let Some(module_name) = cx.string(n, "module name") else {
                continue;
            };
            match reg.modules.iter_mut().find(|m| m.name == module_name) {
                Some(m) if m.stage.is_none() => {
                    m.stage = Some(Spanned {
                        value: stage,
                        at: n.at,
                    })
                }
                Some(m) => {
                    let given = m.stage.as_ref().map_or(stage, |s| s.value);
                    if given != stage {
                        cx.sink.warn(
                            n.at,
                            "stage.conflict",
                            format!("`{module_name}` is listed in stage {stage} here but has stage {given}; stage {given} is used"),
                        );
                    }
                }
                None => {
                    cx.sink.warn(
                        n.at,
                        "stage.unknown-module",
                        format!(
                            "the load order lists `{module_name}`, which is not a registered module"
                        ),
                    );
                }
            }
        }
    }
}

/// A dependency graph kept apart from the modules: name → list of dependencies.
pub(crate) fn dependency_graph(cx: &mut Cx, node: &Node, reg: &mut Registry) {
    let Some(entries) = cx.expect_map(node, "dependency graph") else {
        return;
    };
    cx.legacy(
        node.at,
        "legacy.dependency-graph",
        "a separate dependency graph, merged into each module's dependencies",
    );
    for (k, v) in entries {
        let Some(name) = cx.string(k, "module name") else {
            continue;
        };
        let deps = module::dependencies(cx, v);
        match reg.modules.iter_mut().find(|m| m.name == name) {
            Some(m) => {
                for d in deps {
                    if !m.dependencies.iter().any(|e| e.name == d.name) {
                        m.dependencies.push(d);
                    }
                }
            }
            None => {
                cx.sink.warn(
                    k.at,
                    "deps.unknown-module",
                    format!(
                        "the dependency graph lists `{name}`, which is not a registered module"
                    ),
                );
            }
        }
    }
}
