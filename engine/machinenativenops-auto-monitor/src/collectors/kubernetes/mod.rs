//! Kubernetes collector: pods, services, endpoint slices, nodes and deployments, through watches.
//!
//! Unlike the `/proc` collectors, this one does not read anything on the tick: background tasks
//! keep one watch per resource and namespace open against the API server (kube-runtime's
//! `watcher`: a list, then a watch resumed from the last resource version), and fold the events
//! into small per-object summaries. `collect()` only renders those summaries, so a tick costs no
//! API request and a cluster of thousands of pods is one list at start-up plus its changes.
//!
//! Metric names and labels are kube-state-metrics' where the quantity is the same
//! (`kube_pod_status_phase`, `kube_node_status_condition`, `kube_deployment_spec_replicas`, …),
//! so its dashboards and alerts work unchanged; the rest are `mno_kubernetes_*`. With
//! `services.auto_discover`, services annotated `machinenativeops.io/health-path` become HTTP
//! checks of the service checker while they exist.
//!
//! The configuration below always exists, so a file is valid for every build; switching the
//! collector on in a build without the `kubernetes` cargo feature is a configuration error.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[cfg(feature = "kubernetes")]
mod collector;
#[cfg(feature = "kubernetes")]
pub mod discover;
#[cfg(feature = "kubernetes")]
pub mod quantity;
#[cfg(feature = "kubernetes")]
pub mod render;
#[cfg(feature = "kubernetes")]
pub mod summary;

#[cfg(feature = "kubernetes")]
pub use collector::{KubernetesCollector, StartOptions};

/// `collectors.kubernetes`: watch a Kubernetes cluster (off by default).
///
/// The namespaces watched are `services.discovery_namespaces` (an empty list watches all
/// namespaces); with `services.auto_discover`, annotated services get HTTP checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Watch the Kubernetes API. Needs a build with the `kubernetes` cargo feature.
    pub enabled: bool,
    /// Kubeconfig file to read credentials from. When unset: `$KUBECONFIG` or
    /// `~/.kube/config` if present, otherwise the pod's service account (in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// Context of the kubeconfig to use; its `current-context` when unset.
    pub context: Option<String>,
    /// Watch nodes too (cluster-scoped: needs `list`/`watch` on nodes in a ClusterRole).
    pub nodes: bool,
    /// Seconds the first collection waits for the initial lists before reporting failure.
    #[schemars(range(min = 0))]
    pub sync_timeout_seconds: f64,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            enabled: false,
            kubeconfig: None,
            context: None,
            nodes: true,
            sync_timeout_seconds: 10.0,
        }
    }
}

impl super::Toggle for KubernetesConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

impl KubernetesConfig {
    /// Check the settings (and that this build can watch Kubernetes at all), naming the key.
    pub fn validate(&self, namespaces: &[String]) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if !cfg!(feature = "kubernetes") {
            return Err(
                "collectors.kubernetes.enabled: this build has no Kubernetes support \
                        (rebuild with the cargo feature `kubernetes`)"
                    .into(),
            );
        }
        if !(self.sync_timeout_seconds.is_finite() && self.sync_timeout_seconds >= 0.0) {
            return Err(format!(
                "collectors.kubernetes.sync_timeout_seconds: must be a number of seconds >= 0 (got {})",
                self.sync_timeout_seconds
            ));
        }
        for (i, ns) in namespaces.iter().enumerate() {
            if !is_dns_label(ns) {
                return Err(format!(
                    "services.discovery_namespaces.{i}: {ns:?} is not a namespace name \
                     (lower-case letters, digits and '-', at most 63 characters)"
                ));
            }
        }
        Ok(())
    }
}

/// Whether `s` is an RFC 1123 label, the form of a namespace name.
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_checked() {
        let c = KubernetesConfig {
            enabled: true,
            ..Default::default()
        };
        let ok = c.validate(&["default".into(), "kube-system".into()]);
        let bad = c.validate(&["default".into(), "Kube_System".into()]);
        if cfg!(feature = "kubernetes") {
            assert_eq!(ok, Ok(()));
            let e = bad.unwrap_err();
            assert!(e.starts_with("services.discovery_namespaces.1: "), "{e}");
        } else {
            let e = ok.unwrap_err();
            assert!(e.starts_with("collectors.kubernetes.enabled: "), "{e}");
        }
        // Off: nothing is checked, whatever the build.
        assert_eq!(
            KubernetesConfig::default().validate(&["Not A Namespace".into()]),
            Ok(())
        );
        assert!(!is_dns_label("-a") && !is_dns_label("") && is_dns_label("a-1"));
    }
}
