//! The rules a registry must follow, each with a stable id (listed in docs/registry.md).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use semver::Version;

use crate::finding::{Finding, FindingExt, Severity, Sink, Summary, did_you_mean};
use crate::graph::Graph;
use crate::load::{self, Loaded};
use crate::model::Registry;
use crate::quantity::Quantity;
use crate::tree::LoadError;
use crate::version::parse_version;

/// The outcome of checking one file.
#[derive(Debug, Clone)]
pub struct Report {
    /// The file checked.
    pub file: String,
    /// Every finding, in file order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Counts by severity.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.findings)
    }

    /// No errors (warnings and notes allowed).
    pub fn is_valid(&self) -> bool {
        self.summary().errors == 0
    }
}

/// A checked registry: the model, each module's effective stage, and the report.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The registry.
    pub registry: Registry,
    /// Effective stage of each module (declared, or inferred from its dependencies).
    pub stages: Vec<u32>,
    /// The dependency graph.
    pub graph: Graph,
    /// What was found.
    pub report: Report,
}

/// Read and check a registry file.
pub fn check_file(path: &Path) -> Result<Checked, LoadError> {
    Ok(check_loaded(load::load_file(path)?))
}

/// Check registry text; `file` names it in findings.
pub fn check_str(file: &str, text: &str) -> Result<Checked, LoadError> {
    Ok(check_loaded(load::load_str(file, text)?))
}

fn check_loaded(loaded: Loaded) -> Checked {
    let Loaded { registry, findings } = loaded;
    let mut sink = Sink::new(&registry.file);
    sink.findings = findings;
    let graph = Graph::new(&registry);
    let versions = versions(&registry, &mut sink);
    names(&registry, &mut sink);
    dependencies(&registry, &graph, &versions, &mut sink);
    cycles(&registry, &graph, &mut sink);
    let stages = stage_rules(&registry, &graph, &mut sink);
    auto_start(&registry, &graph, &mut sink);
    let requests = resources(&registry, &mut sink);
    capacity(&registry, &stages, &requests, &mut sink);
    priorities(&registry, &mut sink);
    let mut findings = sink.findings;
    findings.sort_by_key(|a| (a.line, a.column, a.severity));
    Checked {
        report: Report {
            file: registry.file.clone(),
            findings,
        },
        registry,
        stages,
        graph,
    }
}

fn versions(reg: &Registry, sink: &mut Sink) -> Vec<Option<Version>> {
    reg.modules
        .iter()
        .map(|m| {
            let v = m.version.as_ref()?;
            match parse_version(&v.value) {
                Ok(ver) => Some(ver),
                Err((msg, suggestion)) => {
                    let f = sink.error(v.at, "version.semver", msg).for_module(&m.name);
                    if let Some(s) = suggestion {
                        f.with_suggestion(s);
                    }
                    None
                }
            }
        })
        .collect()
}

fn names(reg: &Registry, sink: &mut Sink) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for m in &reg.modules {
        if let Some(line) = first.get(m.name.as_str()) {
            sink.error(
                m.at,
                "module.duplicate-name",
                format!(
                    "module `{}` is registered twice (first on line {line})",
                    m.name
                ),
            )
            .for_module(&m.name);
            continue;
        }
        first.insert(&m.name, m.at.line);
        let ok = m
            .name
            .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && m.name.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            });
        if !ok {
            sink.warn(
                m.at,
                "module.name",
                format!(
                    "module name `{}` should be lowercase letters, digits, `-`, `_` or `.`",
                    m.name
                ),
            )
            .for_module(&m.name)
            .with_suggestion(format!(
                "rename it `{}`",
                m.name.to_ascii_lowercase().replace([' ', '/'], "-")
            ));
        }
    }
}

fn dependencies(reg: &Registry, graph: &Graph, versions: &[Option<Version>], sink: &mut Sink) {
    for m in &reg.modules {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for d in &m.dependencies {
            if let Some(line) = seen.insert(&d.name, d.at.line) {
                sink.warn(
                    d.at,
                    "deps.duplicate",
                    format!("`{}` is listed twice (also on line {line})", d.name),
                )
                .for_module(&m.name);
            }
            let Some(&j) = graph.index.get(&d.name) else {
                let guess = did_you_mean(&d.name, reg.modules.iter().map(|m| m.name.as_str()));
                let (sev, extra) = if d.optional {
                    (Severity::Note, " (optional, so it is skipped)")
                } else {
                    (Severity::Error, "")
                };
                let f = sink
                    .add(
                        d.at,
                        "deps.unknown",
                        sev,
                        format!(
                            "`{}` depends on `{}`, which is not registered{extra}",
                            m.name, d.name
                        ),
                    )
                    .for_module(&m.name);
                if let Some(g) = guess {
                    f.with_suggestion(format!("did you mean `{g}`?"));
                }
                continue;
            };
            let dep = &reg.modules[j];
            if let (Some(req), Some(Some(v))) = (&d.req, versions.get(j))
                && !req.matches(v)
            {
                let f = sink.error(
                    d.at,
                    "deps.unsatisfied",
                    format!(
                        "`{}` needs `{}` {} but the registered version is {v}",
                        m.name,
                        d.name,
                        d.constraint.as_deref().unwrap_or("*")
                    ),
                );
                f.for_module(&m.name);
                if !v.pre.is_empty() {
                    f.with_suggestion(format!(
                            "a pre-release only satisfies a constraint that names a pre-release of the same version, e.g. `>={v}`"
                        ));
                }
            }
            if dep.optional && !m.optional && !d.optional {
                sink.warn(
                    d.at,
                    "deps.optional",
                    format!("`{}` is required but depends on the optional module `{}`, which may be skipped", m.name, d.name),
                )
                .for_module(&m.name)
                .with_suggestion(format!("mark `{}` optional too, or the dependency `optional: true`", m.name));
            }
        }
    }
}

fn cycles(reg: &Registry, graph: &Graph, sink: &mut Sink) {
    for comp in graph.cyclic_components() {
        let start = comp[0];
        let path = graph.cycle_through(start, &comp);
        let names: Vec<&str> = path.iter().map(|&i| reg.modules[i].name.as_str()).collect();
        // Point at the dependency entry that starts the cycle.
        let next = path.get(1).copied().unwrap_or(start);
        let m = &reg.modules[start];
        let at = graph.deps[start]
            .iter()
            .find(|&&(w, _)| w == next)
            .map(|&(_, k)| m.dependencies[k].at)
            .unwrap_or(m.at);
        let extra = if comp.len() > path.len() - 1 {
            format!(
                " ({} modules depend on each other in this group)",
                comp.len()
            )
        } else {
            String::new()
        };
        sink.error(
            at,
            "deps.cycle",
            format!("dependency cycle: {}{extra}", names.join(" -> ")),
        )
        .for_module(&m.name)
        .with_suggestion("remove one dependency of the cycle");
    }
}

/// Check stage order and return each module's effective stage.
fn stage_rules(reg: &Registry, graph: &Graph, sink: &mut Sink) -> Vec<u32> {
    let first = reg.stages.keys().next().copied().unwrap_or(1);
    let mut stages: Vec<u32> = reg
        .modules
        .iter()
        .map(|m| m.stage.as_ref().map_or(first, |s| s.value))
        .collect();
    // A module without a stage loads with the latest of its dependencies.
    for i in graph.topological() {
        if reg.modules[i].stage.is_none() {
            let s = graph.deps[i]
                .iter()
                .map(|&(j, _)| stages[j])
                .max()
                .unwrap_or(first)
                .max(first);
            stages[i] = s;
        }
    }
    let staged = !reg.stages.is_empty() || reg.modules.iter().any(|m| m.stage.is_some());
    for (i, m) in reg.modules.iter().enumerate() {
        match &m.stage {
            // A registry that stages nothing loads everything together: nothing to note.
            None if staged => {
                sink.note(
                    m.at,
                    "stage.inferred",
                    format!(
                        "`{}` has no stage; it loads in {}",
                        m.name,
                        reg.stage_label(stages[i])
                    ),
                )
                .for_module(&m.name)
                .with_suggestion(format!("add `load_sequence: {{ stage: {} }}`", stages[i]));
            }
            Some(s) if !reg.stages.is_empty() && !reg.stages.contains_key(&s.value) => {
                let declared: Vec<String> = reg.stages.keys().map(u32::to_string).collect();
                sink.warn(
                    s.at,
                    "stage.undeclared",
                    format!(
                        "stage {} is not declared in `stages` ({})",
                        s.value,
                        declared.join(", ")
                    ),
                )
                .for_module(&m.name);
            }
            _ => {}
        }
        for &(j, k) in &graph.deps[i] {
            if stages[j] > stages[i] && m.stage.is_some() {
                let d = &reg.modules[j];
                sink.error(
                    m.dependencies[k].at,
                    "stage.order",
                    format!(
                        "`{}` loads in {} but depends on `{}`, which loads later, in {}",
                        m.name,
                        reg.stage_label(stages[i]),
                        d.name,
                        reg.stage_label(stages[j])
                    ),
                )
                .for_module(&m.name)
                .with_suggestion(format!(
                    "move `{}` to stage {} or later, or `{}` to stage {} or earlier",
                    m.name, stages[j], d.name, stages[i]
                ));
            }
        }
    }
    stages
}

fn auto_start(reg: &Registry, graph: &Graph, sink: &mut Sink) {
    for (i, m) in reg.modules.iter().enumerate() {
        if !m.auto_start {
            continue;
        }
        let at = m.auto_start_at.unwrap_or(m.at);
        if m.run.is_none() && m.health_check.is_none() {
            sink.warn(
                at,
                "autostart.nothing-to-run",
                format!(
                    "`{}` is auto-started but has neither `run` nor `health_check`",
                    m.name
                ),
            )
            .for_module(&m.name)
            .with_suggestion("add `run: { command: [...] }`");
        }
        for &(j, k) in &graph.deps[i] {
            let d = &reg.modules[j];
            if !d.auto_start && !m.dependencies[k].optional {
                sink.error(
                    m.dependencies[k].at,
                    "autostart.dependency",
                    format!(
                        "`{}` is auto-started but depends on `{}`, which is not",
                        m.name, d.name
                    ),
                )
                .for_module(&m.name)
                .with_suggestion(format!(
                    "set `auto_start: true` on `{}`, or `auto_start: false` here",
                    d.name
                ));
            }
        }
    }
}

/// Check every quantity and request ≤ limit; return each module's parsed requests.
fn resources(reg: &Registry, sink: &mut Sink) -> Vec<BTreeMap<String, Quantity>> {
    let mut out = Vec::with_capacity(reg.modules.len());
    for m in &reg.modules {
        let mut requests = BTreeMap::new();
        for (name, spec) in &m.resources {
            let mut parse = |q: &Option<crate::model::Spanned<String>>, what: &str| {
                let q = q.as_ref()?;
                match Quantity::parse(&q.value) {
                    Ok(v) if v.is_negative() => {
                        sink.error(
                            q.at,
                            "resources.negative",
                            format!("{name} {what} `{}` is negative", q.value),
                        )
                        .for_module(&m.name);
                        None
                    }
                    Ok(v) => Some(v),
                    Err(e) => {
                        let f = sink
                            .error(
                                q.at,
                                "resources.quantity",
                                format!("{name} {what}: {}", e.message),
                            )
                            .for_module(&m.name);
                        if let Some(s) = e.suggestion {
                            f.with_suggestion(s);
                        }
                        None
                    }
                }
            };
            let request = parse(&spec.request, "request");
            let limit = parse(&spec.limit, "limit");
            if let (Some(r), Some(l)) = (request, limit)
                && r > l
            {
                let at = spec.request.as_ref().map_or(m.at, |q| q.at);
                sink.error(
                    at,
                    "resources.request-exceeds-limit",
                    format!("{name} request {r} is more than its limit {l}"),
                )
                .for_module(&m.name);
            }
            if let Some(r) = request {
                requests.insert(name.clone(), r);
            }
        }
        out.push(requests);
    }
    out
}

fn capacity(
    reg: &Registry,
    stages: &[u32],
    requests: &[BTreeMap<String, Quantity>],
    sink: &mut Sink,
) {
    let parse_cap = |sink: &mut Sink, caps: &BTreeMap<String, crate::model::Spanned<String>>| {
        let mut out = BTreeMap::new();
        for (name, q) in caps {
            match Quantity::parse(&q.value) {
                Ok(v) => {
                    out.insert(name.clone(), (v, q.at));
                }
                Err(e) => {
                    let f = sink.error(
                        q.at,
                        "capacity.quantity",
                        format!("capacity {name}: {}", e.message),
                    );
                    if let Some(s) = e.suggestion {
                        f.with_suggestion(s);
                    }
                }
            }
        }
        out
    };
    // Sum of requests per stage and resource.
    let mut per_stage: BTreeMap<u32, BTreeMap<String, Quantity>> = BTreeMap::new();
    for (i, reqs) in requests.iter().enumerate() {
        let s = per_stage.entry(stages[i]).or_default();
        for (name, q) in reqs {
            s.entry(name.clone()).or_default().nanos += q.nanos;
        }
    }
    for (n, stage) in &reg.stages {
        let caps = parse_cap(sink, &stage.capacity);
        let empty = BTreeMap::new();
        let used = per_stage.get(n).unwrap_or(&empty);
        for (name, (cap, at)) in caps {
            let u = used.get(&name).copied().unwrap_or_default();
            if u > cap {
                sink.error(
                    at,
                    "capacity.stage",
                    format!(
                        "{} requests {u} {name}, more than its capacity {cap}",
                        reg.stage_label(*n)
                    ),
                );
            }
        }
    }
    let caps = parse_cap(sink, &reg.capacity);
    for (name, (cap, at)) in caps {
        // Stages accumulate: report the first stage by which requests no longer fit.
        let mut total = Quantity::default();
        for (n, used) in &per_stage {
            total.nanos += used.get(&name).map_or(0, |q| q.nanos);
            if total > cap {
                sink.error(
                    at,
                    "capacity.total",
                    format!("modules up to {} request {total} {name} in all, more than the capacity {cap}", reg.stage_label(*n)),
                );
                break;
            }
        }
    }
}

fn priorities(reg: &Registry, sink: &mut Sink) {
    let mut seen: HashMap<(&str, i64), (&str, usize, bool)> = HashMap::new();
    for m in &reg.modules {
        let Some(p) = &m.priority else {
            continue;
        };
        if !(0..=100).contains(&p.value) {
            sink.error(
                p.at,
                "priority.range",
                format!("priority {} is outside 0–100", p.value),
            )
            .for_module(&m.name)
            .with_suggestion(format!("use {}", p.value.clamp(0, 100)));
            continue;
        }
        let Some(group) = m.group.as_deref() else {
            continue;
        };
        match seen.get(&(group, p.value)) {
            Some(&(other, line, other_allows)) if !(other_allows && m.allow_shared_priority) => {
                sink.error(
                    p.at,
                    "priority.duplicate",
                    format!(
                        "priority {} is already used by `{other}` (line {line}) in group `{group}`",
                        p.value
                    ),
                )
                .for_module(&m.name)
                .with_suggestion(
                    "pick another priority, or set `allow_shared_priority: true` on both modules",
                );
            }
            Some(_) => {}
            None => {
                seen.insert(
                    (group, p.value),
                    (&m.name, p.at.line, m.allow_shared_priority),
                );
            }
        }
    }
}
