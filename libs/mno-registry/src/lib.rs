//! root.modules.yaml: the module registry (model, validation, load plan, supervisor).
//!
//! A registry lists modules with their versions, dependency constraints,
//! resources, stage and health check. This crate reads one (the canonical
//! shape and the legacy shapes found in the wild, each mapping reported as a
//! note), checks it against the rules in docs/registry.md (every finding with
//! file, line, column and a stable rule id, so the SuperAgent's gate can report
//! them unchanged), derives the load plan (stages in order; within a stage,
//! steps whose modules start in parallel), and supervises the modules it starts:
//! health checks gate each stage, crashed modules restart with exponential
//! backoff, and stopping goes in reverse order with a grace period, killing each
//! module's whole process group.
//!
//! The reading is done through a located YAML tree ([`tree`]) rather than serde
//! so that every shape maps and every finding has a line; [`schema`] holds the
//! canonical shape as types only to generate the committed JSON Schema.

pub mod duration;
pub mod finding;
pub mod graph;
pub mod load;
pub mod model;
pub mod output;
pub mod plan;
pub mod quantity;
pub mod schema;
pub mod supervisor;
pub mod tree;
pub mod validate;
pub mod version;

pub use finding::{Finding, Severity, Summary};
pub use load::{Loaded, load_file, load_str};
pub use model::{Module, Registry};
pub use output::{Style, render_json, render_text};
pub use plan::{GraphFormat, Plan, plan, render_graph, render_plan};
pub use quantity::Quantity;
pub use schema::json_schema;
pub use tree::LoadError;
pub use validate::{Checked, Report, check_file, check_str};
