//! One module entry: canonical keys, and the legacy ones read into them.

use std::collections::BTreeMap;

use mno_common::Location;

use super::{Cx, run};
use crate::finding::FindingExt;
use crate::model::{Dependency, Module, ResourceSpec, Spanned};
use crate::tree::{Node, Value};
use crate::version::{parse_constraint, split_dependency};

/// Keys of a module.
pub const MODULE_KEYS: &[&str] = &[
    "name",
    "version",
    "description",
    "group",
    "priority",
    "allow_shared_priority",
    "optional",
    "path",
    "dependencies",
    "resources",
    "load_sequence",
    "health_check",
    "run",
    "build",
];
/// Keys of `load_sequence`.
pub const LOAD_KEYS: &[&str] = &["stage", "auto_start"];
/// Keys of `health_check`.
pub const HEALTH_KEYS: &[&str] = &[
    "http",
    "tcp",
    "command",
    "expect_status",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
];
/// Keys of `run`.
pub const RUN_KEYS: &[&str] = &["command", "env", "cwd", "restart", "grace_period"];
/// Keys of `build`.
pub const BUILD_KEYS: &[&str] = &["command", "env", "cwd", "timeout"];
/// Keys of `run.restart`.
pub const RESTART_KEYS: &[&str] = &["policy", "limit", "backoff", "max_backoff"];
/// Keys of one resource.
pub const RESOURCE_KEYS: &[&str] = &["request", "limit"];

/// Legacy module keys that are read into canonical ones.
const LEGACY_MODULE_KEYS: &[&str] = &[
    "id",
    "runtime",
    "entrypoint",
    "environment",
    "auto_start",
    "stage",
    "enabled",
    "port",
];

/// `modules:` as a list, or (legacy) a map keyed by id.
pub(crate) fn modules(cx: &mut Cx, node: &Node) -> Vec<Module> {
    match &node.value {
        Value::Seq(items) => items.iter().filter_map(|i| module(cx, i, None)).collect(),
        Value::Map(entries) => {
            cx.legacy(
                node.at,
                "legacy.modules-map",
                "modules given as a map keyed by id",
            );
            entries
                .iter()
                .filter_map(|(k, v)| module(cx, v, Some(k)))
                .collect()
        }
        Value::Null => Vec::new(),
        Value::Str { .. } => {
            cx.sink.error(
                node.at,
                "schema.type",
                "`modules` must be a list of modules",
            );
            Vec::new()
        }
    }
}

/// One module; `key` is its key when modules are a map keyed by id.
pub(crate) fn module(cx: &mut Cx, node: &Node, key: Option<&Node>) -> Option<Module> {
    if node.map().is_none() {
        let what = key.and_then(Node::str).unwrap_or("a module");
        cx.sink.error(
            node.at,
            "schema.type",
            format!(
                "{what} must be a mapping with `name` and `version`, found {}",
                node.kind()
            ),
        );
        return None;
    }
    let name = match (node.get("name"), node.get("id"), key) {
        (Some(n), _, _) => cx.string(n, "module name").map(|s| (s, n.at)),
        (None, Some(id), _) => {
            cx.legacy(id.at, "legacy.id", "`id` read as `name`");
            cx.string(id, "module id").map(|s| (s, id.at))
        }
        (None, None, Some(k)) => k.str().map(|s| (s.to_string(), k.at)),
        (None, None, None) => {
            cx.sink
                .error(node.at, "schema.required", "a module has no `name`")
                .with_suggestion("add `name: <module-name>`");
            return None;
        }
    };
    let (name, at) = name?;
    let first_finding = cx.sink.findings.len();
    let mut m = Module {
        name: name.clone(),
        at,
        ..Default::default()
    };
    cx.unknown_keys(
        node,
        MODULE_KEYS,
        LEGACY_MODULE_KEYS,
        &format!("module `{name}`"),
        Some(&name),
    );
    match node.get("version") {
        Some(v) => {
            if let Some(text) = cx.string(v, "version") {
                let stripped = match text.strip_prefix(['v', 'V']) {
                    Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
                        cx.legacy(
                            v.at,
                            "legacy.version-prefix",
                            "a leading `v` removed from versions",
                        );
                        rest.to_string()
                    }
                    _ => text,
                };
                m.version = Some(Spanned {
                    value: stripped,
                    at: v.at,
                });
            }
        }
        None => {
            cx.sink
                .error(
                    at,
                    "schema.required",
                    format!("module `{name}` has no `version`"),
                )
                .with_suggestion("add `version: 1.0.0`")
                .for_module(&name);
        }
    }
    m.description = node
        .get("description")
        .and_then(|n| cx.string(n, "description"));
    m.group = node.get("group").and_then(|n| cx.string(n, "group"));
    m.path = node.get("path").and_then(|n| cx.string(n, "path"));
    if let Some(p) = node.get("priority") {
        m.priority = cx
            .int(p, "priority")
            .map(|value| Spanned { value, at: p.at });
    }
    if let Some(b) = node.get("allow_shared_priority") {
        m.allow_shared_priority = cx.bool(b, "allow_shared_priority").unwrap_or(false);
    }
    if let Some(b) = node.get("optional") {
        m.optional = cx.bool(b, "optional").unwrap_or(false);
    }
    if let Some(d) = node.get("dependencies") {
        m.dependencies = dependencies(cx, d);
    }
    if let Some(r) = node.get("resources") {
        m.resources = resources(cx, r);
    }
    load_sequence(cx, node, &mut m);
    let port = run::legacy_port(cx, node);
    if let Some(h) = node.get("health_check") {
        m.health_check = run::health(cx, h, port);
    }
    if let Some(r) = node.get("run") {
        m.run = run::run(cx, r, RUN_KEYS, "run");
    }
    if let Some(b) = node.get("build") {
        m.build = run::run(cx, b, BUILD_KEYS, "build");
    }
    run::legacy_run(cx, node, &mut m, port);
    // Findings raised while reading this module's entry belong to it.
    for f in cx.sink.findings[first_finding..].iter_mut() {
        f.module.get_or_insert_with(|| name.clone());
    }
    Some(m)
}

fn load_sequence(cx: &mut Cx, node: &Node, m: &mut Module) {
    if let Some(ls) = node.get("load_sequence") {
        match &ls.value {
            Value::Map(_) => {
                cx.unknown_keys(ls, LOAD_KEYS, &[], "load_sequence", Some(&m.name));
                if let Some(s) = ls.get("stage") {
                    m.stage = super::stage_number(cx, s).map(|value| Spanned { value, at: s.at });
                }
                if let Some(a) = ls.get("auto_start") {
                    m.auto_start = cx.bool(a, "auto_start").unwrap_or(false);
                    m.auto_start_at = Some(a.at);
                }
            }
            Value::Str { .. } => {
                cx.legacy(
                    ls.at,
                    "legacy.load-sequence-number",
                    "`load_sequence: N` read as `load_sequence.stage`",
                );
                m.stage = super::stage_number(cx, ls).map(|value| Spanned { value, at: ls.at });
            }
            _ => {
                cx.expect_map(ls, "load_sequence");
            }
        }
    }
    if let Some(s) = node.get("stage") {
        cx.legacy(
            s.at,
            "legacy.module-stage",
            "module-level `stage` read as `load_sequence.stage`",
        );
        if m.stage.is_none() {
            m.stage = super::stage_number(cx, s).map(|value| Spanned { value, at: s.at });
        }
    }
    if let Some(a) = node.get("auto_start") {
        cx.legacy(
            a.at,
            "legacy.module-auto-start",
            "module-level `auto_start` read as `load_sequence.auto_start`",
        );
        if m.auto_start_at.is_none() {
            m.auto_start = cx.bool(a, "auto_start").unwrap_or(false);
            m.auto_start_at = Some(a.at);
        }
    }
    if let Some(e) = node.get("enabled")
        && cx.bool(e, "enabled") == Some(false)
    {
        cx.legacy(
            e.at,
            "legacy.enabled",
            "`enabled: false` read as `auto_start: false`",
        );
        m.auto_start = false;
    }
}

/// Dependencies: a list of `name (constraint)` texts; legacy maps and objects are read too.
pub(crate) fn dependencies(cx: &mut Cx, node: &Node) -> Vec<Dependency> {
    let mut out = Vec::new();
    match &node.value {
        Value::Seq(items) => {
            for item in items {
                match &item.value {
                    Value::Str { text, .. } => {
                        let (name, constraint) = split_dependency(text);
                        if constraint.is_none() {
                            cx.legacy(
                                item.at,
                                "legacy.dependency-plain",
                                "a dependency without a constraint, read as `*`",
                            );
                        }
                        push_dep(cx, &mut out, name, constraint, false, item.at);
                    }
                    Value::Map(_) if item.get("name").is_some() => {
                        cx.legacy(
                            item.at,
                            "legacy.dependency-object",
                            "`{name, version, optional}` dependency objects",
                        );
                        let name = item
                            .get("name")
                            .and_then(|n| cx.string(n, "dependency name"));
                        let constraint = item
                            .get("version")
                            .or_else(|| item.get("constraint"))
                            .and_then(|v| cx.string(v, "dependency constraint"));
                        let optional = item
                            .get("optional")
                            .and_then(|o| cx.bool(o, "optional"))
                            .unwrap_or(false);
                        if let Some(name) = name {
                            push_dep(cx, &mut out, name, constraint, optional, item.at);
                        }
                    }
                    Value::Map(entries) => {
                        cx.legacy(
                            item.at,
                            "legacy.dependency-map",
                            "dependencies as `{name: constraint}` maps",
                        );
                        for (k, v) in entries {
                            dep_entry(cx, &mut out, k, v);
                        }
                    }
                    _ => {
                        cx.sink.error(
                            item.at,
                            "schema.type",
                            "a dependency must be text like `name (>=1.0.0)`",
                        );
                    }
                }
            }
        }
        Value::Map(entries) => {
            cx.legacy(
                node.at,
                "legacy.dependency-map",
                "dependencies as `{name: constraint}` maps",
            );
            for (k, v) in entries {
                dep_entry(cx, &mut out, k, v);
            }
        }
        Value::Null => {}
        Value::Str { .. } => {
            cx.sink
                .error(node.at, "schema.type", "`dependencies` must be a list");
        }
    }
    out
}

fn dep_entry(cx: &mut Cx, out: &mut Vec<Dependency>, k: &Node, v: &Node) {
    let Some(name) = cx.string(k, "dependency name") else {
        return;
    };
    let constraint = match &v.value {
        Value::Null => None,
        _ => cx.string(v, "dependency constraint"),
    };
    push_dep(cx, out, name, constraint, false, k.at);
}

fn push_dep(
    cx: &mut Cx,
    out: &mut Vec<Dependency>,
    name: String,
    constraint: Option<String>,
    optional: bool,
    at: Location,
) {
    if name.is_empty() {
        cx.sink
            .error(at, "schema.type", "a dependency has no module name");
        return;
    }
    let parsed = constraint.as_deref().map(|c| {
        cx.constraints
            .entry(c.to_string())
            .or_insert_with(|| parse_constraint(c))
            .clone()
    });
    let req = match parsed {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            cx.sink
                .error(at, "deps.constraint", e)
                .with_suggestion("write e.g. `>=1.0.0`, `^1.2`, `>=1.0, <2.0` or `*`");
            None
        }
    };
    out.push(Dependency {
        name,
        constraint,
        req,
        optional,
        at,
    });
}

/// Resources: name → `{request, limit}`; legacy scalars and Kubernetes `requests`/`limits`.
fn resources(cx: &mut Cx, node: &Node) -> BTreeMap<String, ResourceSpec> {
    let mut out: BTreeMap<String, ResourceSpec> = BTreeMap::new();
    let Some(entries) = cx.expect_map(node, "resources") else {
        return out;
    };
    if node.get("requests").is_some() || node.get("limits").is_some() {
        cx.legacy(
            node.at,
            "legacy.resources-kubernetes",
            "Kubernetes `requests`/`limits` resources",
        );
        for (k, v) in entries {
            let side = k.str().unwrap_or("");
            if side != "requests" && side != "limits" {
                continue;
            }
            for (rk, rv) in cx.expect_map(v, side).unwrap_or(&[]) {
                let (Some(name), Some(q)) = (rk.str(), cx.string(rv, "quantity")) else {
                    continue;
                };
                let spec = out.entry(name.to_string()).or_default();
                let val = Some(Spanned {
                    value: q,
                    at: rv.at,
                });
                if side == "requests" {
                    spec.request = val;
                } else {
                    spec.limit = val;
                }
            }
        }
        return out;
    }
    for (k, v) in entries {
        let Some(name) = k.str() else {
            continue;
        };
        let spec = match &v.value {
            Value::Map(_) => {
                cx.unknown_keys(v, RESOURCE_KEYS, &[], &format!("resource `{name}`"), None);
                let mut get = |key: &str| {
                    v.get(key)
                        .and_then(|q| cx.string(q, key).map(|value| Spanned { value, at: q.at }))
                };
                ResourceSpec {
                    request: get("request"),
                    limit: get("limit"),
                }
            }
            Value::Str { text, .. } => {
                cx.legacy(
                    v.at,
                    "legacy.resource-scalar",
                    "a single resource value, read as request and limit",
                );
                let s = Spanned {
                    value: text.clone(),
                    at: v.at,
                };
                ResourceSpec {
                    request: Some(s.clone()),
                    limit: Some(s),
                }
            }
            _ => {
                cx.expect_map(v, &format!("resource `{name}`"));
                continue;
            }
        };
        out.insert(name.to_string(), spec);
    }
    out
}
