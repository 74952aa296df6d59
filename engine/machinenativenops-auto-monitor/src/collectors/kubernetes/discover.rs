//! `services.auto_discover`: services annotated for health checks become HTTP checks.
//!
//! A service with `machinenativeops.io/health-path: /healthz` is probed at
//! `http://<clusterIP>:<port>/healthz` (headless services: `<name>.<namespace>.svc`). The port
//! is `machinenativeops.io/health-port` (a number or the name of a service port), else the
//! service's first port; `machinenativeops.io/health-scheme` may say `https`. The check is
//! named `<namespace>/<service>` (the `service` label of `mno_service_up`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::render::Key;
use super::summary::ServiceSummary;
use crate::checks::CheckSpec;

/// Annotation naming the HTTP path to probe; its presence opts the service in.
pub const HEALTH_PATH: &str = "machinenativeops.io/health-path";
/// Annotation naming the port (number or service port name) to probe.
pub const HEALTH_PORT: &str = "machinenativeops.io/health-port";
/// Annotation naming the scheme (`http` or `https`).
pub const HEALTH_SCHEME: &str = "machinenativeops.io/health-scheme";

/// Timeout and interval of discovered checks (`monitoring.health_check_timeout` / `interval`).
#[derive(Debug, Clone, Copy)]
pub struct CheckDefaults {
    /// Request timeout.
    pub timeout: Duration,
    /// Time between probes.
    pub interval: Duration,
}

/// The check an annotated service asks for: `None` when it has no health-path annotation,
/// an error naming the annotation when one is unusable.
pub fn check_for(
    key: &Key,
    svc: &ServiceSummary,
    defaults: CheckDefaults,
) -> Option<Result<CheckSpec, String>> {
    let path = svc.annotations.get(HEALTH_PATH)?;
    Some(build(key, svc, path, defaults))
}

fn build(
    (ns, name): &Key,
    svc: &ServiceSummary,
    path: &str,
    defaults: CheckDefaults,
) -> Result<CheckSpec, String> {
    if !path.starts_with('/') {
        return Err(format!("{HEALTH_PATH}: {path:?} must start with '/'"));
    }
    let scheme = svc
        .annotations
        .get(HEALTH_SCHEME)
        .map(|s| s.trim().to_ascii_lowercase())
        .unwrap_or_else(|| "http".into());
    if scheme != "http" && scheme != "https" {
        return Err(format!("{HEALTH_SCHEME}: {scheme:?} is not http or https"));
    }
    let port = match svc.annotations.get(HEALTH_PORT).map(|p| p.trim()) {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => i32::from(n),
            _ => svc
                .ports
                .iter()
                .find(|(n, _)| n.as_deref() == Some(p))
                .map(|(_, port)| *port)
                .ok_or_else(|| {
                    format!(
                        "{HEALTH_PORT}: {p:?} is neither a port number nor a port of the service"
                    )
                })?,
        },
        None => svc
            .ports
            .first()
            .map(|(_, p)| *p)
            .ok_or_else(|| format!("the service has no ports; set {HEALTH_PORT}"))?,
    };
    let host = match svc.cluster_ip.as_deref() {
        Some(ip) if !ip.is_empty() && ip != "None" => match ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => ip.to_string(),
        },
        _ => format!("{name}.{ns}.svc"),
    };
    let url = url::Url::parse(&format!("{scheme}://{host}:{port}{path}"))
        .map_err(|e| format!("{HEALTH_PATH}: {path:?} does not make a URL: {e}"))?;
    Ok(CheckSpec {
        name: format!("{ns}/{name}"),
        url,
        method: reqwest::Method::GET,
        expected: Vec::new(),
        timeout: defaults.timeout,
        interval: defaults.interval,
        headers: BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(
        ip: Option<&str>,
        ports: &[(Option<&str>, i32)],
        ann: &[(&str, &str)],
    ) -> ServiceSummary {
        ServiceSummary {
            cluster_ip: ip.map(String::from),
            ports: ports
                .iter()
                .map(|(n, p)| (n.map(String::from), *p))
                .collect(),
            annotations: ann
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
    const D: CheckDefaults = CheckDefaults {
        timeout: Duration::from_secs(5),
        interval: Duration::from_secs(30),
    };
    fn key() -> Key {
        ("shop".into(), "api".into())
    }

    #[test]
    fn annotated_services_become_checks() {
        let s = svc(
            Some("10.96.0.10"),
            &[(Some("http"), 8080), (Some("metrics"), 9090)],
            &[(HEALTH_PATH, "/healthz")],
        );
        let c = check_for(&key(), &s, D).unwrap().unwrap();
        assert_eq!(c.name, "shop/api");
        assert_eq!(c.url.as_str(), "http://10.96.0.10:8080/healthz");
        let s = svc(
            Some("None"),
            &[(Some("http"), 8080), (Some("metrics"), 9090)],
            &[
                (HEALTH_PATH, "/ready?full=1"),
                (HEALTH_PORT, "metrics"),
                (HEALTH_SCHEME, "HTTPS"),
            ],
        );
        let c = check_for(&key(), &s, D).unwrap().unwrap();
        assert_eq!(c.url.as_str(), "https://api.shop.svc:9090/ready?full=1");
        let s = svc(
            Some("fd00::a"),
            &[(None, 80)],
            &[(HEALTH_PATH, "/"), (HEALTH_PORT, "8081")],
        );
        let c = check_for(&key(), &s, D).unwrap().unwrap();
        assert_eq!(c.url.as_str(), "http://[fd00::a]:8081/");
    }

    #[test]
    fn unannotated_or_bad_annotations() {
        assert!(check_for(&key(), &svc(Some("10.0.0.1"), &[(None, 80)], &[]), D).is_none());
        for (ann, what) in [
            (vec![(HEALTH_PATH, "healthz")], HEALTH_PATH),
            (
                vec![(HEALTH_PATH, "/h"), (HEALTH_PORT, "nope")],
                HEALTH_PORT,
            ),
            (
                vec![(HEALTH_PATH, "/h"), (HEALTH_SCHEME, "ftp")],
                HEALTH_SCHEME,
            ),
        ] {
            let e = check_for(&key(), &svc(Some("10.0.0.1"), &[(None, 80)], &ann), D)
                .unwrap()
                .unwrap_err();
            assert!(e.starts_with(what), "{e}");
        }
        let e = check_for(
            &key(),
            &svc(Some("10.0.0.1"), &[], &[(HEALTH_PATH, "/h")]),
            D,
        )
        .unwrap()
        .unwrap_err();
        assert!(e.contains(HEALTH_PORT), "{e}");
    }
}
