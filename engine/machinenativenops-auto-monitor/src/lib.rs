//! MachineNativeOps Auto-Monitor: a light host monitoring agent.
//!
//! Collectors read the system once per tick into a [`metrics::Batch`]; the
//! batch is rendered once for `/metrics` (text 0.0.4 and OpenMetrics) and
//! shared with every other consumer. Metric names follow node_exporter's so
//! dashboards and rules written for it work unchanged; the seed's threshold
//! quantities are the `mno_*` families. The binary (`main.rs`) only parses
//! flags and calls into this library.

pub mod agent;
pub mod alerts;
pub mod api;
pub mod checks;
pub mod collectors;
pub mod config;
pub mod derive;
pub mod exposition;
pub mod memory;
pub mod metrics;
pub mod service;
pub mod sinks;
pub mod store;

pub use agent::{Agent, Snapshot};
pub use config::{MonitorConfig, load};
pub use metrics::{Batch, Family, MetricType, Sample};

/// Install the process-wide TLS crypto provider (ring) once; later calls do nothing.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
