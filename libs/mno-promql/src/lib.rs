//! PromQL evaluation for the Auto-Monitor's store and alert rules.
//!
//! Parsing is done by the maintained `promql-parser` crate; the evaluator is
//! ours. It reads series through the [`Storage`] trait, so the SQLite store,
//! an in-memory batch (alert rules on the latest tick) and test fixtures all
//! answer the same queries the same way.

pub mod storage;

pub use storage::{MatchOp, Matcher, SeriesData, Storage, StorageError};
