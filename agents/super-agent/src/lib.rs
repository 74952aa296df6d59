//! The SuperAgent service: `super-agent serve`.
//!
//! The SuperAgent is message driven. A client (a CI job, another agent, the
//! Auto-Monitor) posts an envelope `{meta, context, payload}` to `/message`;
//! the envelope is validated and dispatched by `meta.message_type` to a
//! registered [`handlers::MessageHandler`]. The main handler validates a
//! repository through the gate library (`mno-gates`): a gate run is a job on a
//! bounded pool of blocking threads (gate checks are CPU heavy), its state is
//! kept in a [`state::StateStore`] (SQLite in the data directory now; the trait
//! lets a Redis store slot in), and its reports are written where
//! `GET /api/v1/gates/{id}` points to them.
//!
//! The command-line tools (`super-agent gate`, `super-agent registry`) live in
//! the binary; this library holds what the server needs, so tests and other
//! binaries can start it in-process or check its types.

pub mod api;
pub mod config;
pub mod gate_handler;
pub mod handlers;
pub mod jobs;
pub mod messages;
pub mod metrics;
pub mod redis_queue;
pub mod retention;
pub mod service;
pub mod state;

pub use config::{AgentConfig, Effective, FlagOverrides, LoadError};
pub use messages::{
    Envelope, GateValidationRequest, GateValidationResponse, IncidentSignal, MessageType,
};
pub use service::{ServeError, serve};
pub use state::{StateStore, StoreError};

/// The environment variable that gives the evidence signing key (64 hex digits, the
/// Ed25519 seed) instead of `<evidence dir>/evidence.key`.
pub const EVIDENCE_KEY_ENV: &str = "MNO_EVIDENCE_KEY";

/// Open an evidence directory, signing with `MNO_EVIDENCE_KEY` when it is set, else with
/// (creating on first use) its `evidence.key`.
pub fn open_evidence_chain(
    dir: &std::path::Path,
) -> Result<mno_gates::EvidenceChain, mno_gates::evidence::ChainError> {
    match std::env::var(EVIDENCE_KEY_ENV) {
        Ok(k) if !k.trim().is_empty() => mno_gates::EvidenceChain::open_with_key(dir, &k),
        _ => mno_gates::EvidenceChain::open(dir),
    }
}

/// Install the process-wide TLS crypto provider (ring) once; reqwest needs one to build a client.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Now as RFC 3339 UTC with milliseconds (the timestamp format of every message).
pub fn now_rfc3339() -> String {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
