//! The load plan (stages; within each, start steps whose modules start in parallel)
//! and the dependency graph drawn as Graphviz dot or Mermaid.

use std::fmt::Write;

use serde::Serialize;

use crate::validate::Checked;

/// One module's place in the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedModule {
    /// Module name.
    pub name: String,
    /// Its version, as written.
    pub version: Option<String>,
    /// `registry up` starts it.
    pub auto_start: bool,
    /// It has a run command.
    pub runs: bool,
    /// It is skipped when its program is missing.
    pub optional: bool,
    /// Its priority (higher starts first within a step).
    pub priority: Option<i64>,
    /// Modules of the same stage it starts after.
    pub after: Vec<String>,
    /// Index in the registry's module list.
    #[serde(skip)]
    pub index: usize,
}

/// One stage of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct StagePlan {
    /// Stage number.
    pub stage: u32,
    /// Stage name.
    pub name: String,
    /// Start steps in order; the modules of one step start in parallel.
    pub steps: Vec<Vec<PlannedModule>>,
}

/// The whole load plan, stages in ascending order.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The registry file.
    pub file: String,
    /// Stages in load order.
    pub stages: Vec<StagePlan>,
}

/// Why there is no plan.
#[derive(Debug, thiserror::Error)]
#[error(
    "{file}: the registry has {errors} error(s); run `super-agent registry check` and fix them first"
)]
pub struct PlanError {
    /// The file.
    pub file: String,
    /// How many errors it has.
    pub errors: usize,
}

/// Build the load plan of a checked registry; refused when it has errors.
pub fn plan(c: &Checked) -> Result<Plan, PlanError> {
    let errors = c.report.summary().errors;
    if errors > 0 {
        return Err(PlanError {
            file: c.registry.file.clone(),
            errors,
        });
    }
    let reg = &c.registry;
    let mut numbers: Vec<u32> = c.stages.clone();
    numbers.sort_unstable();
    numbers.dedup();
    let stages = numbers
        .into_iter()
        .map(|stage| {
            let members: Vec<usize> = (0..reg.modules.len())
                .filter(|&i| c.stages[i] == stage)
                .collect();
            let steps = c
                .graph
                .layers(&members)
                .into_iter()
                .map(|layer| {
                    let mut step: Vec<PlannedModule> = layer
                        .into_iter()
                        .map(|i| {
                            let m = &reg.modules[i];
                            PlannedModule {
                                name: m.name.clone(),
                                version: m.version.as_ref().map(|v| v.value.clone()),
                                auto_start: m.auto_start,
                                runs: m.run.is_some(),
                                optional: m.optional,
                                priority: m.priority.as_ref().map(|p| p.value),
                                after: c.graph.deps[i]
                                    .iter()
                                    .filter(|&&(j, _)| c.stages[j] == stage && j != i)
                                    .map(|&(j, _)| reg.modules[j].name.clone())
                                    .collect(),
                                index: i,
                            }
                        })
                        .collect();
                    // Higher priority first, then by name, so the order is stable.
                    step.sort_by(|a, b| {
                        b.priority
                            .unwrap_or(0)
                            .cmp(&a.priority.unwrap_or(0))
                            .then(a.name.cmp(&b.name))
                    });
                    step
                })
                .collect();
            StagePlan {
                stage,
                name: reg.stage_name(stage),
                steps,
            }
        })
        .collect();
    Ok(Plan {
        file: reg.file.clone(),
        stages,
    })
}

/// The plan as text.
pub fn render_plan(p: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "load plan for {} (modules with the same step start in parallel)",
        p.file
    );
    let width = p
        .stages
        .iter()
        .flat_map(|s| s.steps.iter().flatten())
        .map(|m| m.name.len())
        .max()
        .unwrap_or(4);
    for s in &p.stages {
        let _ = writeln!(out, "\nstage {}: {}", s.stage, s.name);
        for (k, step) in s.steps.iter().enumerate() {
            for m in step {
                let mut tags = vec![if m.auto_start && (m.runs) {
                    "auto-start"
                } else if m.auto_start {
                    "auto-start (external)"
                } else {
                    "manual"
                }];
                if m.optional {
                    tags.push("optional");
                }
                let after = if m.after.is_empty() {
                    String::new()
                } else {
                    format!("  after {}", m.after.join(", "))
                };
                let _ = writeln!(
                    out,
                    "  step {}  {:<width$}  {:<10}  {}{after}",
                    k + 1,
                    m.name,
                    m.version.as_deref().unwrap_or("-"),
                    tags.join(", ")
                );
            }
        }
    }
    out
}

/// Graph output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// Draw the dependency graph, modules grouped by stage, edges from dependent to dependency.
pub fn render_graph(c: &Checked, format: GraphFormat) -> String {
    let reg = &c.registry;
    let mut out = String::new();
    let mut stages: Vec<u32> = c.stages.clone();
    stages.sort_unstable();
    stages.dedup();
    let label = |i: usize| {
        let m = &reg.modules[i];
        match &m.version {
            Some(v) => format!("{} {}", m.name, v.value),
            None => m.name.clone(),
        }
    };
    match format {
        GraphFormat::Dot => {
            let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
            let _ = writeln!(
                out,
                "digraph registry {{\n  rankdir=LR;\n  node [shape=box];"
            );
            for s in &stages {
                let _ = writeln!(
                    out,
                    "  subgraph cluster_stage_{s} {{\n    label={};",
                    q(&format!("{s}: {}", reg.stage_name(*s)))
                );
                for i in (0..reg.modules.len()).filter(|&i| c.stages[i] == *s) {
                    let _ = writeln!(
                        out,
                        "    {} [label={}];",
                        q(&reg.modules[i].name),
                        q(&label(i))
                    );
                }
                let _ = writeln!(out, "  }}");
            }
            for m in &reg.modules {
                for d in &m.dependencies {
                    let style = if c.graph.index.contains_key(&d.name) {
                        ""
                    } else {
                        ", style=dashed, color=red"
                    };
                    let _ = writeln!(
                        out,
                        "  {} -> {} [label={}{style}];",
                        q(&m.name),
                        q(&d.name),
                        q(d.constraint.as_deref().unwrap_or("*"))
                    );
                }
            }
            out.push_str("}\n");
        }
        GraphFormat::Mermaid => {
            let esc = |s: &str| s.replace('"', "#quot;");
            let id = |name: &str| match c.graph.index.get(name) {
                Some(i) => format!("m{i}"),
                None => format!(
                    "x_{}",
                    name.replace(|ch: char| !ch.is_ascii_alphanumeric(), "_")
                ),
            };
            let _ = writeln!(out, "flowchart LR");
            for s in &stages {
                let _ = writeln!(
                    out,
                    "  subgraph stage{s}[\"{}\"]",
                    esc(&format!("{s}: {}", reg.stage_name(*s)))
                );
                for i in (0..reg.modules.len()).filter(|&i| c.stages[i] == *s) {
                    let _ = writeln!(out, "    m{i}[\"{}\"]", esc(&label(i)));
                }
                let _ = writeln!(out, "  end");
            }
            for m in &reg.modules {
                for d in &m.dependencies {
                    let arrow = if c.graph.index.contains_key(&d.name) {
                        "-->"
                    } else {
                        "-.->"
                    };
                    let _ = writeln!(
                        out,
                        "  {} {arrow}|\"{}\"| {}",
                        id(&m.name),
                        esc(d.constraint.as_deref().unwrap_or("*")),
                        id(&d.name)
                    );
                }
            }
        }
    }
    out
}
