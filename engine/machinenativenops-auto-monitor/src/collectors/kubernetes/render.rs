//! Summaries → metric families, with kube-state-metrics' names, labels and value conventions.
//!
//! Conventions copied from kube-state-metrics so its queries work unchanged: a condition is
//! three samples (`true`, `false`, `unknown`) of which the current one is 1; a pod's phase is
//! one sample per phase; reasons are a sample of 1 for the current reason only; resource names
//! are sanitised to label form (`ephemeral-storage` → `ephemeral_storage`) with a `unit` label.

use std::collections::{BTreeMap, BTreeSet};

use super::summary::{DeploymentSummary, NodeSummary, PodSummary, ServiceSummary, SliceSummary};
use crate::metrics::Family;

/// (namespace, name) of an object; the namespace is empty for cluster-scoped ones.
pub type Key = (String, String);

fn condition_samples(f: &mut Family, labels: &[(&str, &str)], label: &str, status: &str) {
    for (v, s) in [("true", "True"), ("false", "False"), ("unknown", "Unknown")] {
        let mut l = labels.to_vec();
        l.push((label, v));
        f.push(&l, if status == s { 1.0 } else { 0.0 });
    }
}

fn b(v: bool) -> f64 {
    if v { 1.0 } else { 0.0 }
}

/// Pod phase, readiness and container states.
pub fn pods(pods: &[(&Key, &PodSummary)]) -> Vec<Family> {
    let mut phase = Family::gauge("kube_pod_status_phase", "The pods current phase.");
    let mut ready = Family::gauge(
        "kube_pod_status_ready",
        "Describes whether the pod is ready to serve requests.",
    );
    let mut c_ready = Family::gauge(
        "kube_pod_container_status_ready",
        "Describes whether the containers readiness check succeeded.",
    );
    let mut restarts = Family::counter(
        "kube_pod_container_status_restarts_total",
        "The number of container restarts per container.",
    );
    let mut waiting = Family::gauge(
        "kube_pod_container_status_waiting_reason",
        "Describes the reason the container is currently in waiting state.",
    );
    let mut terminated = Family::gauge(
        "kube_pod_container_status_terminated_reason",
        "Describes the reason the container is currently in terminated state.",
    );
    let mut last_terminated = Family::gauge(
        "kube_pod_container_status_last_terminated_reason",
        "Describes the last reason the container was in terminated state.",
    );
    for ((ns, name), p) in pods {
        let l = [("namespace", ns.as_str()), ("pod", name.as_str())];
        if !p.phase.is_empty() {
            for ph in ["Pending", "Succeeded", "Failed", "Unknown", "Running"] {
                phase.push(&[l[0], l[1], ("phase", ph)], b(p.phase == ph));
            }
        }
        if let Some(status) = &p.ready {
            condition_samples(&mut ready, &l, "condition", status);
        }
        for c in &p.containers {
            let cl = [l[0], l[1], ("container", c.name.as_str())];
            c_ready.push(&cl, b(c.ready));
            restarts.push(&cl, f64::from(c.restarts));
            for (fam, reason) in [
                (&mut waiting, &c.waiting_reason),
                (&mut terminated, &c.terminated_reason),
                (&mut last_terminated, &c.last_terminated_reason),
            ] {
                if let Some(r) = reason {
                    fam.push(&[cl[0], cl[1], cl[2], ("reason", r.as_str())], 1.0);
                }
            }
        }
    }
    vec![
        phase,
        ready,
        c_ready,
        restarts,
        waiting,
        terminated,
        last_terminated,
    ]
}

/// kube-state-metrics' label form of a resource name: anything but `[a-zA-Z0-9_]` becomes `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Unit and value of a node resource, as kube-state-metrics reports it.
fn resource_value(name: &str, q: &super::quantity::Quantity) -> (&'static str, f64) {
    match name {
        "cpu" => ("core", q.milli_value()),
        "memory" | "storage" | "ephemeral-storage" => ("byte", q.value()),
        "pods" => ("integer", q.value()),
        n if n.starts_with("hugepages-") || n.starts_with("attachable-volumes-") => {
            ("byte", q.value())
        }
        // Extended resources (`nvidia.com/gpu`) and anything else are counts.
        _ => ("integer", q.value()),
    }
}

/// Node conditions, capacity, allocatable resources and cordoning.
pub fn nodes(nodes: &[(&Key, &NodeSummary)]) -> Vec<Family> {
    let mut cond = Family::gauge(
        "kube_node_status_condition",
        "The condition of a cluster node.",
    );
    let mut cap = Family::gauge(
        "kube_node_status_capacity",
        "The capacity for different resources of a node.",
    );
    let mut alloc = Family::gauge(
        "kube_node_status_allocatable",
        "The allocatable for different resources of a node that are available for scheduling.",
    );
    let mut unsched = Family::gauge(
        "kube_node_spec_unschedulable",
        "Whether a node can schedule new pods.",
    );
    for ((_, node), n) in nodes {
        let l = [("node", node.as_str())];
        for (c, status) in &n.conditions {
            condition_samples(
                &mut cond,
                &[l[0], ("condition", c.as_str())],
                "status",
                status,
            );
        }
        for (fam, map) in [(&mut cap, &n.capacity), (&mut alloc, &n.allocatable)] {
            for (res, q) in map {
                let (unit, v) = resource_value(res, q);
                fam.push(
                    &[l[0], ("resource", sanitize(res).as_str()), ("unit", unit)],
                    v,
                );
            }
        }
        unsched.push(&l, b(n.unschedulable));
    }
    vec![cond, cap, alloc, unsched]
}

/// Deployment replica counts.
pub fn deployments(deps: &[(&Key, &DeploymentSummary)]) -> Vec<Family> {
    type Field = fn(&DeploymentSummary) -> i32;
    let specs: [(&str, &str, Field); 6] = [
        (
            "kube_deployment_spec_replicas",
            "Number of desired pods for a deployment.",
            |d| d.desired,
        ),
        (
            "kube_deployment_status_replicas",
            "The number of replicas per deployment.",
            |d| d.replicas,
        ),
        (
            "kube_deployment_status_replicas_ready",
            "The number of ready replicas per deployment.",
            |d| d.ready,
        ),
        (
            "kube_deployment_status_replicas_available",
            "The number of available replicas per deployment.",
            |d| d.available,
        ),
        (
            "kube_deployment_status_replicas_unavailable",
            "The number of unavailable replicas per deployment.",
            |d| d.unavailable,
        ),
        (
            "kube_deployment_status_replicas_updated",
            "The number of updated replicas per deployment.",
            |d| d.updated,
        ),
    ];
    specs
        .iter()
        .map(|(name, help, field)| {
            let mut f = Family::gauge(*name, *help);
            for ((ns, dep), d) in deps {
                f.push(
                    &[("namespace", ns.as_str()), ("deployment", dep.as_str())],
                    f64::from(field(d)),
                );
            }
            f
        })
        .collect()
}

/// Ready and not-ready endpoints of each service, from its endpoint slices.
pub fn services(
    services: &[(&Key, &ServiceSummary)],
    slices: &[(&Key, &SliceSummary)],
) -> Vec<Family> {
    let mut by_service: BTreeMap<Key, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for ((ns, _), s) in slices {
        let Some(svc) = &s.service else { continue };
        let e = by_service.entry((ns.clone(), svc.clone())).or_default();
        e.0.extend(s.ready.iter().map(String::as_str));
        e.1.extend(s.not_ready.iter().map(String::as_str));
    }
    let mut ready = Family::gauge(
        "mno_kubernetes_service_ready_endpoints",
        "Endpoints of the service that are ready to receive traffic (from its endpoint slices).",
    );
    let mut not_ready = Family::gauge(
        "mno_kubernetes_service_not_ready_endpoints",
        "Endpoints of the service that are not ready (from its endpoint slices).",
    );
    for (key, _) in services {
        let (r, n) = by_service
            .get(*key)
            .map(|(r, n)| (r.len(), n.difference(r).count()))
            .unwrap_or((0, 0));
        let l = [("namespace", key.0.as_str()), ("service", key.1.as_str())];
        ready.push(&l, r as f64);
        not_ready.push(&l, n as f64);
    }
    vec![ready, not_ready]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::kubernetes::summary::ContainerSummary;

    fn key(ns: &str, n: &str) -> Key {
        (ns.into(), n.into())
    }

    #[test]
    fn pod_phase_and_reasons_follow_kube_state_metrics() {
        let k = key("kube-system", "metrics-server-1");
        let p = PodSummary {
            phase: "Running".into(),
            ready: Some("False".into()),
            containers: vec![ContainerSummary {
                name: "metrics-server".into(),
                ready: false,
                restarts: 7,
                waiting_reason: Some("CrashLoopBackOff".into()),
                terminated_reason: None,
                last_terminated_reason: Some("Error".into()),
            }],
        };
        let f = pods(&[(&k, &p)]);
        let ph = &f[0];
        assert_eq!(ph.samples.len(), 5);
        assert_eq!(ph.value(&[("phase", "Running")]), Some(1.0));
        assert_eq!(ph.value(&[("phase", "Pending")]), Some(0.0));
        assert_eq!(f[1].value(&[("condition", "false")]), Some(1.0));
        assert_eq!(f[1].value(&[("condition", "true")]), Some(0.0));
        assert_eq!(f[3].value(&[("container", "metrics-server")]), Some(7.0));
        assert_eq!(f[4].value(&[("reason", "CrashLoopBackOff")]), Some(1.0));
        assert!(f[5].samples.is_empty());
        assert_eq!(f[6].value(&[("reason", "Error")]), Some(1.0));
    }

    #[test]
    fn resources_are_sanitised_with_units() {
        let q = |s| super::super::quantity::Quantity::parse(s).unwrap();
        assert_eq!(sanitize("nvidia.com/gpu"), "nvidia_com_gpu");
        assert_eq!(sanitize("hugepages-2Mi"), "hugepages_2Mi");
        assert_eq!(resource_value("cpu", &q("3800m")), ("core", 3.8));
        assert_eq!(resource_value("memory", &q("1Ki")), ("byte", 1024.0));
        assert_eq!(resource_value("hugepages-1Gi", &q("0")), ("byte", 0.0));
        assert_eq!(resource_value("nvidia.com/gpu", &q("2")), ("integer", 2.0));
    }

    #[test]
    fn dual_stack_slices_count_a_pod_once() {
        let svc = ServiceSummary {
            cluster_ip: None,
            ports: vec![],
            annotations: BTreeMap::new(),
        };
        let sk = key("default", "web");
        let lonely = key("default", "lonely");
        let slice = |ready: &[&str], not: &[&str]| SliceSummary {
            service: Some("web".into()),
            ready: ready.iter().map(|s| s.to_string()).collect(),
            not_ready: not.iter().map(|s| s.to_string()).collect(),
        };
        let (a, b) = (key("default", "web-v4"), key("default", "web-v6"));
        let (v4, v6) = (
            slice(&["Pod/default/a"], &["Pod/default/b"]),
            slice(&["Pod/default/a"], &["Pod/default/b"]),
        );
        let f = services(&[(&sk, &svc), (&lonely, &svc)], &[(&a, &v4), (&b, &v6)]);
        assert_eq!(f[0].value(&[("service", "web")]), Some(1.0));
        assert_eq!(f[1].value(&[("service", "web")]), Some(1.0));
        assert_eq!(f[0].value(&[("service", "lonely")]), Some(0.0));
    }
}
