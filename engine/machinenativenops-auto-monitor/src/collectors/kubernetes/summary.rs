//! What the collector keeps of each watched object: the fields its metrics and discovery need.
//!
//! Full API objects (managed fields, specs, annotations) are many kilobytes each; a summary is a
//! few strings, so memory grows with the cluster's size only by what is rendered.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerState, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::quantity::Quantity;

/// One container's status.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSummary {
    /// Container name.
    pub name: String,
    /// Whether it passes its readiness probe.
    pub ready: bool,
    /// Restarts so far.
    pub restarts: i32,
    /// Reason it is waiting (`CrashLoopBackOff`, `ContainerCreating`…), when waiting.
    pub waiting_reason: Option<String>,
    /// Reason it terminated (`Completed`, `Error`, `OOMKilled`…), when terminated.
    pub terminated_reason: Option<String>,
    /// Reason its previous run terminated, if it ran before.
    pub last_terminated_reason: Option<String>,
}

/// A pod's phase, readiness and containers.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSummary {
    /// `status.phase` (Pending, Running, Succeeded, Failed, Unknown); empty when not reported.
    pub phase: String,
    /// Status of the `Ready` condition (`True`, `False`, `Unknown`), if the pod has one.
    pub ready: Option<String>,
    /// Regular containers (not init or ephemeral ones).
    pub containers: Vec<ContainerSummary>,
}

/// A node's conditions and resources.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSummary {
    /// Condition type → status (`True`, `False`, `Unknown`), in the node's order.
    pub conditions: Vec<(String, String)>,
    /// Resource name → quantity, as reported in `status.capacity`.
    pub capacity: BTreeMap<String, Quantity>,
    /// Resource name → quantity, as reported in `status.allocatable`.
    pub allocatable: BTreeMap<String, Quantity>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
}

/// A deployment's replica counts.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentSummary {
    /// `spec.replicas` (the API defaults it to 1).
    pub desired: i32,
    /// `status.replicas`.
    pub replicas: i32,
    /// `status.readyReplicas`.
    pub ready: i32,
    /// `status.availableReplicas`.
    pub available: i32,
    /// `status.unavailableReplicas`.
    pub unavailable: i32,
    /// `status.updatedReplicas`.
    pub updated: i32,
}

/// A service, as far as endpoints and discovery go.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSummary {
    /// `spec.clusterIP` (`None` for headless services).
    pub cluster_ip: Option<String>,
    /// Ports: (name, port).
    pub ports: Vec<(Option<String>, i32)>,
    /// The `machinenativeops.io/*` annotations.
    pub annotations: BTreeMap<String, String>,
}

/// One endpoint slice: which service it belongs to and its endpoints by readiness.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceSummary {
    /// Owning service (label `kubernetes.io/service-name`); slices without it are ignored.
    pub service: Option<String>,
    /// Identities of ready endpoints (the target object, else the first address), so the
    /// IPv4 and IPv6 slices of a dual-stack service count a pod once.
    pub ready: Vec<String>,
    /// Identities of endpoints that are not ready.
    pub not_ready: Vec<String>,
}

/// Prefix of the annotations kept on services.
pub const ANNOTATION_PREFIX: &str = "machinenativeops.io/";

fn reason(state: Option<&ContainerState>) -> (Option<String>, Option<String>) {
    let Some(s) = state else {
        return (None, None);
    };
    let nonempty = |r: &Option<String>| r.clone().filter(|r| !r.is_empty());
    (
        s.waiting.as_ref().and_then(|w| nonempty(&w.reason)),
        s.terminated.as_ref().and_then(|t| nonempty(&t.reason)),
    )
}

impl From<&Pod> for PodSummary {
    fn from(p: &Pod) -> PodSummary {
        let status = p.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status.clone());
        let containers = status
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        let (waiting, terminated) = reason(c.state.as_ref());
                        let (_, last) = reason(c.last_state.as_ref());
                        ContainerSummary {
                            name: c.name.clone(),
                            ready: c.ready,
                            restarts: c.restart_count,
                            waiting_reason: waiting,
                            terminated_reason: terminated,
                            last_terminated_reason: last,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        PodSummary {
            phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
            ready,
            containers,
        }
    }
}

fn quantities(
    node: &str,
    what: &str,
    map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> BTreeMap<String, Quantity> {
    let mut out = BTreeMap::new();
    for (k, q) in map.into_iter().flatten() {
        match Quantity::parse(&q.0) {
            Ok(v) => {
                out.insert(k.clone(), v);
            }
            // One odd value should not hide the node's other resources.
            Err(e) => tracing::warn!(node, resource = %k, "{what}: {e}"),
        }
    }
    out
}

impl From<&Node> for NodeSummary {
    fn from(n: &Node) -> NodeSummary {
        let name = n.metadata.name.as_deref().unwrap_or_default();
        let status = n.status.as_ref();
        NodeSummary {
            conditions: status
                .and_then(|s| s.conditions.as_ref())
                .map(|cs| {
                    cs.iter()
                        .map(|c| (c.type_.clone(), c.status.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            capacity: quantities(name, "capacity", status.and_then(|s| s.capacity.as_ref())),
            allocatable: quantities(
                name,
                "allocatable",
                status.and_then(|s| s.allocatable.as_ref()),
            ),
            unschedulable: n
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false),
        }
    }
}

impl From<&Deployment> for DeploymentSummary {
    fn from(d: &Deployment) -> DeploymentSummary {
        let s = d.status.as_ref();
        let n = |f: fn(&k8s_openapi::api::apps::v1::DeploymentStatus) -> Option<i32>| {
            s.and_then(f).unwrap_or(0)
        };
        DeploymentSummary {
            desired: d.spec.replicas.unwrap_or(1),
            replicas: n(|s| s.replicas),
            ready: n(|s| s.ready_replicas),
            available: n(|s| s.available_replicas),
            unavailable: n(|s| s.unavailable_replicas),
            updated: n(|s| s.updated_replicas),
        }
    }
}

impl From<&Service> for ServiceSummary {
    fn from(s: &Service) -> ServiceSummary {
        let spec = s.spec.as_ref();
        ServiceSummary {
            cluster_ip: spec.and_then(|s| s.cluster_ip.clone()),
            ports: spec
                .and_then(|s| s.ports.as_ref())
                .map(|ps| ps.iter().map(|p| (p.name.clone(), p.port)).collect())
                .unwrap_or_default(),
            annotations: s
                .metadata
                .annotations
                .iter()
                .flatten()
                .filter(|(k, _)| k.starts_with(ANNOTATION_PREFIX))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

impl From<&EndpointSlice> for SliceSummary {
    fn from(s: &EndpointSlice) -> SliceSummary {
        let mut out = SliceSummary {
            service: s
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name"))
                .cloned(),
            ready: Vec::new(),
            not_ready: Vec::new(),
        };
        for e in s.endpoints.iter().flatten() {
            let id = match &e.target_ref {
                Some(r) => format!(
                    "{}/{}/{}",
                    r.kind.as_deref().unwrap_or_default(),
                    r.namespace.as_deref().unwrap_or_default(),
                    r.name.as_deref().unwrap_or_default()
                ),
                None => e.addresses.first().cloned().unwrap_or_default(),
            };
            // The API: a nil `ready` is unknown and consumers should treat it as ready.
            let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            if ready {
                out.ready.push(id);
            } else {
                out.not_ready.push(id);
            }
        }
        out
    }
}
