//! deploy/kubernetes, deploy/docker and deploy/compose, validated offline:
//!
//! - the base and each overlay (dev, staging, prod) are rendered and every object passes
//!   `kubernetes-validate --strict` (the Kubernetes 1.37 schemas it ships). No kustomize binary
//!   installs offline here (PyPI's `kustomize` is an unrelated generator; npm and crates.io have
//!   none), so `render` below applies the kustomization subset these files use — `resources`,
//!   `images`, `patches` with strategic-merge patch files — and refuses any other key, so a
//!   file never means more here than it would to `kubectl apply -k`;
//! - requests and limits equal root.modules.yaml's resources, the DaemonSet has host PID and
//!   read-only /proc and /sys mounts that its configuration points the collectors at, probes
//!   use /health and /ready, the discovery RBAC is read-only and limited to the kinds it reads;
//! - the compose file passes the compose-spec schema, the Dockerfiles pass hadolint, and the
//!   configurations shipped with them pass `config validate`.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A tool of the test virtual environment (`target/py-venv`), or `None` (skipped).
fn venv_tool(name: &str) -> Option<PathBuf> {
    let p = repo().join("target/py-venv/bin").join(name);
    if p.is_file() {
        return Some(p);
    }
    let msg = format!("{name} missing from target/py-venv (scripts/test.sh installs it)");
    if tools_required() {
        panic!("{msg}");
    }
    eprintln!("SKIP: {msg}");
    None
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Strategic merge as kubectl does it for these files: maps merge, `null` deletes a key,
/// lists of named items (containers, env, ports, volumes, volumeMounts) merge by `name`, any
/// other list is replaced.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(k);
                } else if let Some(slot) = b.get_mut(k) {
                    merge(slot, v);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        (Value::Array(b), Value::Array(p))
            if p.iter().all(|x| x.get("name").is_some())
                && b.iter().all(|x| x.get("name").is_some()) =>
        {
            for item in p {
                match b.iter_mut().find(|x| x["name"] == item["name"]) {
                    Some(slot) => merge(slot, item),
                    None => b.push(item.clone()),
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// The objects a kustomization directory produces.
fn render(dir: &Path) -> Vec<Value> {
    let k = yaml(&dir.join("kustomization.yaml"));
    for key in k.as_object().unwrap().keys() {
        assert!(
            ["apiVersion", "kind", "resources", "images", "patches"].contains(&key.as_str()),
            "{}: `{key}` is not applied by this test's renderer; extend render() first",
            dir.display()
        );
    }
    let mut objects = Vec::new();
    for r in k["resources"].as_array().into_iter().flatten() {
        let p = dir.join(r.as_str().unwrap());
        if p.is_dir() {
            objects.extend(render(&p));
        } else {
            objects.push(yaml(&p));
        }
    }
    for image in k["images"].as_array().into_iter().flatten() {
        let name = image["name"].as_str().unwrap();
        let mut hits = 0;
        for o in &mut objects {
            for c in containers_mut(o) {
                let current = c["image"].as_str().unwrap().to_string();
                let (repo, tag) = current.rsplit_once(':').unwrap_or((&current, ""));
                if repo == name {
                    let new_name = image["newName"].as_str().unwrap_or(repo);
                    let new_tag = image["newTag"].as_str().unwrap_or(tag);
                    c["image"] = json!(format!("{new_name}:{new_tag}"));
                    hits += 1;
                }
            }
        }
        assert!(
            hits > 0,
            "{}: image {name} matches no container",
            dir.display()
        );
    }
    for p in k["patches"].as_array().into_iter().flatten() {
        let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["path"], "only patch files are applied here");
        let patch = yaml(&dir.join(p["path"].as_str().unwrap()));
        let target = objects
            .iter_mut()
            .find(|o| {
                o["kind"] == patch["kind"] && o["metadata"]["name"] == patch["metadata"]["name"]
            })
            .unwrap_or_else(|| panic!("{}: patch {p} has no target", dir.display()));
        merge(target, &patch);
    }
    objects
}

fn containers_mut(o: &mut Value) -> Vec<&mut Value> {
    // pointer_mut: IndexMut would insert the missing keys into objects without a pod template.
    match o
        .pointer_mut("/spec/template/spec/containers")
        .and_then(Value::as_array_mut)
    {
        Some(cs) => cs.iter_mut().collect(),
        None => Vec::new(),
    }
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn container<'a>(o: &'a Value, name: &str) -> &'a Value {
    o["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

const LAYOUTS: [&str; 4] = ["base", "overlays/dev", "overlays/staging", "overlays/prod"];

/// `kubernetes-validate --strict` on the objects: Ok, or its output.
fn kubernetes_validate(kv: &Path, objects: &[Value]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        let p = dir.path().join(format!("{i:02}.json"));
        std::fs::write(&p, serde_json::to_string_pretty(o).unwrap()).unwrap();
        files.push(p);
    }
    let o = Command::new(kv)
        .args(["--strict", "--kubernetes-version", "1.37.0"])
        .args(&files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let passed = text
        .lines()
        .filter(|l| l.contains(" passed for resource "))
        .count();
    if o.status.success() && passed == objects.len() && !text.contains("WARN") {
        Ok(())
    } else {
        Err(text)
    }
}

#[test]
fn base_and_overlays_render_and_validate_against_the_kubernetes_schemas() {
    let Some(kv) = venv_tool("kubernetes-validate") else {
        return;
    };
    for layout in LAYOUTS {
        let objects = render(&repo().join("deploy/kubernetes").join(layout));
        assert!(objects.len() >= 12, "{layout}: {} objects", objects.len());
        if let Err(e) = kubernetes_validate(&kv, &objects) {
            panic!("{layout}:\n{e}");
        }
    }
}

/// A field Kubernetes does not have is refused: the validation above can fail.
#[test]
fn an_unknown_field_fails_validation() {
    let Some(kv) = venv_tool("kubernetes-validate") else {
        return;
    };
    let mut objects = render(&repo().join("deploy/kubernetes/base"));
    let ds = objects
        .iter_mut()
        .find(|o| o["kind"] == "DaemonSet")
        .unwrap();
    ds["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] =
        json!("/health");
    assert!(kubernetes_validate(&kv, &objects).is_err());
}

#[test]
fn overlays_change_what_they_say() {
    let dev = render(&repo().join("deploy/kubernetes/overlays/dev"));
    let ds = find(&dev, "DaemonSet", "machinenativenops-auto-monitor");
    let c = container(ds, "auto-monitor");
    assert_eq!(
        c["image"],
        "ghcr.io/machinenativeops/machinenativenops-auto-monitor:main"
    );
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "MNO_LOG_LEVEL")
    );
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "MNO_LOG_FORMAT"),
        "merged, not replaced"
    );

    let prod = render(&repo().join("deploy/kubernetes/overlays/prod"));
    let sa = find(&prod, "Deployment", "super-agent");
    let data = sa["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "data")
        .unwrap();
    assert_eq!(
        data["persistentVolumeClaim"]["claimName"],
        "super-agent-data"
    );
    assert!(data.get("emptyDir").is_none(), "{data}");
    find(&prod, "PersistentVolumeClaim", "super-agent-data");
    assert_eq!(
        container(sa, "super-agent")["image"],
        "ghcr.io/machinenativeops/super-agent:2.0.0"
    );
}

/// root.modules.yaml's resources of `module`, as Kubernetes names them.
fn registry_resources(module: &str) -> Value {
    let reg = yaml(&repo().join("root.modules.yaml"));
    let m = reg["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == module)
        .unwrap_or_else(|| panic!("root.modules.yaml has no module {module}"));
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    for (name, q) in m["resources"].as_object().unwrap() {
        let k8s = if name == "storage" {
            "ephemeral-storage"
        } else {
            name.as_str()
        };
        requests.insert(k8s.to_string(), q["request"].clone());
        limits.insert(k8s.to_string(), q["limit"].clone());
    }
    json!({"requests": requests, "limits": limits})
}

#[test]
fn requests_and_limits_match_the_module_registry() {
    for layout in LAYOUTS {
        let objects = render(&repo().join("deploy/kubernetes").join(layout));
        for (kind, object, name, module) in [
            (
                "DaemonSet",
                "machinenativenops-auto-monitor",
                "auto-monitor",
                "machinenativenops-auto-monitor",
            ),
            ("Deployment", "super-agent", "super-agent", "super-agent"),
            ("Deployment", "redis", "redis", "redis"),
        ] {
            let c = container(find(&objects, kind, object), name);
            assert_eq!(
                c["resources"],
                registry_resources(module),
                "{layout}: {kind}/{object}"
            );
        }
    }
}

#[test]
fn the_daemonset_reads_the_host_read_only_and_probes_health_and_ready() {
    let objects = render(&repo().join("deploy/kubernetes/base"));
    let ds = find(&objects, "DaemonSet", "machinenativenops-auto-monitor");
    let spec = &ds["spec"]["template"]["spec"];
    assert_eq!(spec["hostPID"], true);
    let c = container(ds, "auto-monitor");
    let volumes = spec["volumes"].as_array().unwrap();
    let mounts = c["volumeMounts"].as_array().unwrap();
    let mount_of = |host: &str| {
        let v = volumes
            .iter()
            .find(|v| v["hostPath"]["path"] == host)
            .unwrap_or_else(|| panic!("no hostPath {host}"));
        let m = mounts.iter().find(|m| m["name"] == v["name"]).unwrap();
        assert_eq!(m["readOnly"], true, "{host} is mounted read-only");
        m["mountPath"].as_str().unwrap().to_string()
    };
    let (proc_, sys, root) = (mount_of("/proc"), mount_of("/sys"), mount_of("/"));
    // Only read-only host mounts.
    for v in volumes.iter().filter(|v| v.get("hostPath").is_some()) {
        let m = mounts.iter().find(|m| m["name"] == v["name"]).unwrap();
        assert_eq!(m["readOnly"], true, "{v}");
    }

    // The collectors read the mounts: the ConfigMap's monitor.yaml says so, and the agent
    // accepts it.
    let cm = find(&objects, "ConfigMap", "machinenativenops-auto-monitor");
    let text = cm["data"]["monitor.yaml"].as_str().unwrap();
    let cfg: Value = serde_saphyr::from_str(text).unwrap();
    assert_eq!(cfg["collectors"]["procfs_path"], proc_.as_str());
    assert_eq!(cfg["collectors"]["sysfs_path"], sys.as_str());
    assert_eq!(cfg["collectors"]["rootfs_path"], root.as_str());
    let (_dir, path) = config_file(text);
    let o = run(
        &["--config", path.to_str().unwrap(), "config", "validate"],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let port = cfg["monitoring"]["prometheus_port"].as_u64().unwrap();
    let ports = c["ports"].as_array().unwrap();
    assert!(
        ports
            .iter()
            .any(|p| p["name"] == "metrics" && p["containerPort"] == port)
    );
    let svc = find(&objects, "Service", "machinenativenops-auto-monitor");
    assert_eq!(svc["spec"]["ports"][0]["name"], "metrics");

    for (o, cname, port) in [
        (ds, "auto-monitor", "metrics"),
        (
            find(&objects, "Deployment", "super-agent"),
            "super-agent",
            "http",
        ),
    ] {
        let c = container(o, cname);
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health", "{cname}");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready", "{cname}");
        assert_eq!(c["livenessProbe"]["httpGet"]["port"], port, "{cname}");
        assert_eq!(
            c["securityContext"]["readOnlyRootFilesystem"], true,
            "{cname}"
        );
        assert_eq!(
            c["securityContext"]["allowPrivilegeEscalation"], false,
            "{cname}"
        );
    }
}

#[test]
fn discovery_rbac_is_read_only_and_limited_to_what_discovery_reads() {
    let objects = render(&repo().join("deploy/kubernetes/base"));
    let mut granted = Vec::new();
    for o in objects
        .iter()
        .filter(|o| o["kind"] == "ClusterRole" || o["kind"] == "Role")
    {
        for rule in o["rules"].as_array().unwrap() {
            let mut verbs: Vec<&str> = rule["verbs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            verbs.sort();
            assert_eq!(verbs, ["list", "watch"], "{rule}");
            assert!(rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none());
            for g in rule["apiGroups"].as_array().unwrap() {
                for r in rule["resources"].as_array().unwrap() {
                    granted.push(format!("{}/{}", g.as_str().unwrap(), r.as_str().unwrap()));
                }
            }
        }
    }
    granted.sort();
    assert_eq!(
        granted,
        [
            "/nodes",
            "/pods",
            "/services",
            "apps/deployments",
            "discovery.k8s.io/endpointslices"
        ]
    );
    // Bound to the Auto-Monitor's account only.
    let binding = find(
        &objects,
        "ClusterRoleBinding",
        "machinenativenops-auto-monitor-discovery",
    );
    assert_eq!(binding["subjects"].as_array().unwrap().len(), 1);
    assert_eq!(
        binding["subjects"][0]["name"],
        "machinenativenops-auto-monitor"
    );
}

#[test]
fn compose_file_passes_the_compose_spec_schema() {
    let Some(cj) = venv_tool("check-jsonschema") else {
        return;
    };
    let o = Command::new(&cj)
        .args(["--builtin-schema", "vendor.compose-spec"])
        .arg(repo().join("deploy/compose/docker-compose.yml"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // A misspelt key is caught.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("docker-compose.yml");
    let text = std::fs::read_to_string(repo().join("deploy/compose/docker-compose.yml")).unwrap();
    std::fs::write(&bad, text.replacen("healthcheck:", "healthchek:", 1)).unwrap();
    let o = Command::new(&cj)
        .args(["--builtin-schema", "vendor.compose-spec"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!o.status.success());

    // Its services' resources follow root.modules.yaml, and the monitor.yaml it mounts is valid.
    let compose = yaml(&repo().join("deploy/compose/docker-compose.yml"));
    for (svc, module) in [
        ("redis", "redis"),
        ("auto-monitor", "machinenativenops-auto-monitor"),
        ("super-agent", "super-agent"),
    ] {
        let want = registry_resources(module);
        let r = &compose["services"][svc]["deploy"]["resources"];
        assert_eq!(
            cpus(&r["limits"]["cpus"]),
            millicores(&want["limits"]["cpu"]),
            "{svc}"
        );
        assert_eq!(
            cpus(&r["reservations"]["cpus"]),
            millicores(&want["requests"]["cpu"]),
            "{svc}"
        );
        assert_eq!(
            mebibytes(&r["limits"]["memory"]),
            mebibytes(&want["limits"]["memory"]),
            "{svc}"
        );
        assert_eq!(
            mebibytes(&r["reservations"]["memory"]),
            mebibytes(&want["requests"]["memory"]),
            "{svc}"
        );
    }
    let o = run(
        &[
            "--config",
            repo().join("deploy/compose/monitor.yaml").to_str().unwrap(),
            "config",
            "validate",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// "1.0" (cores) as millicores.
fn cpus(v: &Value) -> u64 {
    (v.as_str().unwrap().parse::<f64>().unwrap() * 1000.0).round() as u64
}

/// "1000m" / "1" as millicores.
fn millicores(v: &Value) -> u64 {
    let s = v.as_str().unwrap();
    match s.strip_suffix('m') {
        Some(m) => m.parse().unwrap(),
        None => s.parse::<u64>().unwrap() * 1000,
    }
}

/// "512M" (compose: binary megabytes) or "512Mi"/"1Gi" (Kubernetes) as MiB.
fn mebibytes(v: &Value) -> u64 {
    let s = v.as_str().unwrap();
    let s = s.strip_suffix('i').unwrap_or(s);
    if let Some(g) = s.strip_suffix('G') {
        g.parse::<u64>().unwrap() * 1024
    } else {
        s.strip_suffix('M').unwrap().parse().unwrap()
    }
}

#[test]
fn dockerfiles_pass_hadolint_and_build_what_they_copy() {
    let Some(hadolint) = venv_tool("hadolint") else {
        return;
    };
    for (file, bin, profile) in [
        (
            "deploy/docker/auto-monitor.Dockerfile",
            "machinenativenops-auto-monitor",
            "agent",
        ),
        (
            "deploy/docker/super-agent.Dockerfile",
            "super-agent",
            "release",
        ),
    ] {
        let path = repo().join(file);
        let o = Command::new(&hadolint).arg(&path).output().unwrap();
        assert!(
            o.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        let text = std::fs::read_to_string(&path).unwrap();
        // Multi-stage: a build stage and a runtime stage that copies the binary from it.
        assert_eq!(
            text.lines().filter(|l| l.starts_with("FROM ")).count(),
            2,
            "{file}"
        );
        assert!(text.contains(&format!("-p {bin}")), "{file} builds {bin}");
        assert!(text.contains(&format!("target/{profile}/{bin}")), "{file}");
        assert!(
            text.contains(&format!("COPY --from=build /out/{bin} /usr/bin/{bin}")),
            "{file}"
        );
        assert!(text.contains("USER 65534"), "{file} runs unprivileged");
        // What it copies from the repository exists.
        for line in text
            .lines()
            .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
        {
            let src = line.split_whitespace().nth(1).unwrap();
            assert!(repo().join(src).exists(), "{file}: {src}");
        }
    }
}
