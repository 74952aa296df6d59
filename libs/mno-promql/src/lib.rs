//! PromQL evaluation for the Auto-Monitor's store and alert rules.
//!
//! Parsing is done by the maintained `promql-parser` crate; the evaluator is
//! ours. It reads series through the [`Storage`] trait, so the SQLite store,
//! an in-memory batch (alert rules on the latest tick) and test fixtures all
//! answer the same queries the same way.
//!
//! The semantics follow Prometheus 2.42 (the version the comparison tests run
//! against): closed `[t - range, t]` windows, a 5-minute lookback for instant
//! selectors, extrapolation in `rate`/`increase`/`delta`, counter-reset
//! handling, and the same error messages where Prometheus has one.
//!
//! The evaluator works one expression node at a time over every step of the
//! query (not one step at a time over the whole tree), so each selector reads
//! the store once per query and a range query costs one pass over the samples.

mod aggregations;
mod binary;
mod check;
mod error;
mod eval;
mod functions;
mod gomath;
pub mod json;
mod labels;
mod mem;
pub mod params;
mod rangefns;
mod selector;
pub mod storage;
mod syntax;
mod value;

pub use check::{check, parse_metric_selector};
pub use error::QueryError;
pub use eval::{QueryOptions, instant_query, range_query};
pub use mem::MemStorage;
pub use storage::{MatchOp, Matcher, SelectError, SeriesData, Storage, StorageError};
pub use syntax::{SyntaxError, describe as describe_parse_error, locate as locate_parse_error};
pub use value::{InstantSample, Value};

/// Names of the PromQL functions this engine evaluates, sorted.
pub fn supported_functions() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = functions::NAMES
        .iter()
        .chain(rangefns::NAMES)
        .copied()
        .collect();
    v.sort_unstable();
    v
}

/// Names of the aggregation operators this engine evaluates.
pub fn supported_aggregations() -> &'static [&'static str] {
    aggregations::NAMES
}
