//! Sinks: where each tick's batch goes besides `/metrics`, the store and the alert rules:
//! Redis (each tick's host snapshot) and Prometheus remote_write.

pub mod redis;
pub mod remote_write;
