//! Sinks: where each tick's batch goes besides `/metrics`, the store and the alert rules.

pub mod remote_write;
