//! How a module runs and how to tell it is up: `run`, `build`, `health_check`, and the
//! legacy `runtime`, `entrypoint` and `environment` keys read into them.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Cx;
use super::module::{HEALTH_KEYS, RESTART_KEYS};
use crate::finding::FindingExt;
use crate::model::{HealthCheck, Module, Probe, RestartMode, RestartPolicy, RunSpec};
use crate::tree::{Node, Value};

/// A legacy port (`runtime.serve_port` or module `port`) for legacy health endpoints.
pub(super) fn legacy_port(cx: &mut Cx, node: &Node) -> Option<u16> {
    let p = node
        .get("runtime")
        .and_then(|r| r.get("serve_port"))
        .or_else(|| node.get("port"))?;
    let port = cx.int(p, "port").and_then(|i| u16::try_from(i).ok());
    if port.is_none() {
        cx.sink
            .error(p.at, "schema.type", "a port must be a number 1–65535");
    }
    port
}

pub(super) fn health(cx: &mut Cx, node: &Node, port: Option<u16>) -> Option<HealthCheck> {
    cx.expect_map(node, "health_check")?;
    cx.unknown_keys(
        node,
        HEALTH_KEYS,
        &["endpoint", "path", "url", "port"],
        "health_check",
        None,
    );
    let mut probes: Vec<Probe> = Vec::new();
    if let Some(u) = node.get("http").or_else(|| node.get("url"))
        && let Some(url) = cx.string(u, "http")
    {
        probes.push(http_probe(cx, u, url, node));
    }
    if let Some(e) = node.get("endpoint").or_else(|| node.get("path")) {
        let path = cx.string(e, "endpoint").unwrap_or_default();
        let port = node
            .get("port")
            .and_then(|p| p.int())
            .and_then(|p| u16::try_from(p).ok())
            .or(port);
        match port {
            Some(port) if !path.starts_with("http") => {
                cx.legacy(
                    e.at,
                    "legacy.health-endpoint",
                    "`health_check.endpoint` with a port, read as `http:`",
                );
                let url = format!("http://127.0.0.1:{port}/{}", path.trim_start_matches('/'));
                probes.push(http_probe(cx, e, url, node));
            }
            _ if path.starts_with("http") => probes.push(http_probe(cx, e, path, node)),
            _ => {
                cx.sink
                    .warn(
                        e.at,
                        "health.url",
                        format!(
                            "health endpoint `{path}` has no host or port, so it cannot be checked"
                        ),
                    )
                    .with_suggestion(format!(
                        "write `http: http://127.0.0.1:PORT/{}`",
                        path.trim_start_matches('/')
                    ));
            }
        }
    }
    if let Some(t) = node.get("tcp")
        && let Some(address) = cx.string(t, "tcp")
    {
        if address
            .rsplit_once(':')
            .and_then(|(h, p)| (!h.is_empty()).then(|| p.parse::<u16>().ok()).flatten())
            .is_none()
        {
            cx.sink
                .error(
                    t.at,
                    "health.address",
                    format!("tcp address `{address}` must be host:port"),
                )
                .with_suggestion("write e.g. `127.0.0.1:6379`");
        }
        probes.push(Probe::Tcp { address });
    }
    if let Some(c) = node.get("command")
        && let Some(argv) = command(cx, c, "health_check.command")
    {
        probes.push(Probe::Command { argv });
    }
    if probes.len() != 1 {
        let msg = if probes.is_empty() {
            "health_check needs one of `http`, `tcp` or `command`"
        } else {
            "health_check has more than one of `http`, `tcp` and `command`; give exactly one"
        };
        if probes.is_empty() && node.get("endpoint").or_else(|| node.get("path")).is_some() {
            return None; // already reported as health.url
        }
        cx.sink.error(node.at, "health.kind", msg);
        return None;
    }
    let dur = |cx: &mut Cx, key: &str, default: Duration| {
        node.get(key)
            .and_then(|n| cx.duration(n, &format!("health_check.{key}"), "health.duration"))
            .unwrap_or(default)
    };
    let interval = dur(cx, "interval", Duration::from_secs(5));
    let timeout = dur(cx, "timeout", Duration::from_secs(2));
    let start_period = dur(cx, "start_period", Duration::ZERO);
    let start_interval = dur(cx, "start_interval", interval.min(Duration::from_secs(1)));
    let mut retries = 3;
    if let Some(r) = node.get("retries") {
        match cx.int(r, "retries").map(u32::try_from) {
            Some(Ok(n)) if n >= 1 => retries = n,
            Some(_) => {
                cx.sink
                    .error(r.at, "health.retries", "retries must be 1 or more");
            }
            None => {}
        }
    }
    for (key, d) in [
        ("interval", interval),
        ("timeout", timeout),
        ("start_interval", start_interval),
    ] {
        if d.is_zero() {
            let at = node.get(key).map_or(node.at, |n| n.at);
            cx.sink.error(
                at,
                "health.duration",
                format!("health_check.{key} must be more than 0"),
            );
        }
    }
    Some(HealthCheck {
        probe: probes.remove(0),
        interval: interval.max(Duration::from_millis(1)),
        timeout: timeout.max(Duration::from_millis(1)),
        retries,
        start_period,
        start_interval: start_interval.max(Duration::from_millis(1)),
        at: node.at,
    })
}

fn http_probe(cx: &mut Cx, at: &Node, url: String, node: &Node) -> Probe {
    match url::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
        _ => {
            cx.sink
                .error(
                    at.at,
                    "health.url",
                    format!("`{url}` is not an http:// or https:// URL"),
                )
                .with_suggestion("write e.g. `http://127.0.0.1:8000/health`");
        }
    }
    let mut expect_status = Vec::new();
    if let Some(s) = node.get("expect_status") {
        let items: Vec<&Node> = match &s.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![s],
        };
        for i in items {
            match i
                .int()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (100..=599).contains(n))
            {
                Some(n) => expect_status.push(n),
                None => {
                    cx.sink.error(
                        i.at,
                        "schema.type",
                        "expect_status must be HTTP status codes (100–599)",
                    );
                }
            }
        }
    }
    Probe::Http { url, expect_status }
}

/// An argument list; a legacy command string is split on spaces when that is unambiguous.
fn command(cx: &mut Cx, node: &Node, what: &str) -> Option<Vec<String>> {
    let argv = match &node.value {
        Value::Str { text, .. } => {
            if text.contains([
                '"', '\'', '\\', '$', '`', '|', '&', ';', '<', '>', '(', ')', '*',
            ]) {
                cx.sink
                    .error(node.at, "run.command", format!("{what} is a shell string; commands are run from argument lists, never through a shell"))
                    .with_suggestion("write the command as a list: [program, arg1, arg2]");
                return None;
            }
            cx.legacy(
                node.at,
                "legacy.command-string",
                "a command string, split on spaces into an argument list",
            );
            text.split_whitespace().map(str::to_string).collect()
        }
        _ => cx.string_list(node, what)?,
    };
    if argv.is_empty() || argv[0].trim().is_empty() {
        cx.sink
            .error(node.at, "run.command", format!("{what} is empty"));
        return None;
    }
    Some(argv)
}

pub(super) fn run(cx: &mut Cx, node: &Node, keys: &[&str], what: &str) -> Option<RunSpec> {
    cx.expect_map(node, what)?;
    cx.unknown_keys(node, keys, &[], what, None);
    let Some(c) = node.get("command") else {
        cx.sink.error(
            node.at,
            "schema.required",
            format!("`{what}` has no `command`"),
        );
        return None;
    };
    let command = command(cx, c, &format!("{what}.command"))?;
    let mut spec = RunSpec {
        command,
        at: node.at,
        ..Default::default()
    };
    if let Some(e) = node.get("env") {
        spec.env = env(cx, e);
    }
    spec.cwd = node.get("cwd").and_then(|c| cx.string(c, "cwd"));
    // Only `build` lists `timeout` among its keys; elsewhere it was warned about as unknown.
    if let Some(t) = node.get("timeout").filter(|_| keys.contains(&"timeout")) {
        spec.timeout = cx.duration(t, &format!("{what}.timeout"), "run.duration");
    }
    if let Some(g) = node.get("grace_period") {
        spec.grace_period = cx
            .duration(g, "grace_period", "run.duration")
            .unwrap_or(spec.grace_period);
    }
    if let Some(r) = node.get("restart") {
        spec.restart = restart(cx, r);
    }
    Some(spec)
}

fn restart(cx: &mut Cx, node: &Node) -> RestartPolicy {
    let mut p = RestartPolicy::default();
    if cx.expect_map(node, "restart").is_none() {
        return p;
    }
    cx.unknown_keys(node, RESTART_KEYS, &[], "restart", None);
    if let Some(m) = node.get("policy") {
        match m.str() {
            Some("never" | "no") => p.mode = RestartMode::Never,
            Some("on-failure" | "on_failure") => p.mode = RestartMode::OnFailure,
            Some("always") => p.mode = RestartMode::Always,
            _ => {
                cx.sink.error(
                    m.at,
                    "run.restart",
                    "restart.policy must be never, on-failure or always",
                );
            }
        }
    }
    if let Some(l) = node.get("limit") {
        match cx.int(l, "restart.limit").map(u32::try_from) {
            Some(Ok(n)) => p.limit = n,
            Some(Err(_)) => {
                cx.sink
                    .error(l.at, "run.restart", "restart.limit must be 0 or more");
            }
            None => {}
        }
    }
    if let Some(b) = node.get("backoff") {
        p.backoff = cx
            .duration(b, "restart.backoff", "run.duration")
            .unwrap_or(p.backoff);
    }
    if let Some(b) = node.get("max_backoff") {
        p.max_backoff = cx
            .duration(b, "restart.max_backoff", "run.duration")
            .unwrap_or(p.max_backoff);
    }
    p
}

/// Environment: a map, or (legacy) a list of `{name, value}`.
fn env(cx: &mut Cx, node: &Node) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                if let (Some(k), Some(v)) = (k.str(), cx.string(v, "environment value")) {
                    out.insert(k.to_string(), v);
                }
            }
        }
        Value::Seq(items) => {
            cx.legacy(
                node.at,
                "legacy.environment-list",
                "environment as a list of `{name, value}`",
            );
            for i in items {
                let name = i.get("name").and_then(|n| cx.string(n, "environment name"));
                let value = match i.get("value") {
                    Some(v) if !v.is_null() => cx.string(v, "environment value"),
                    _ => Some(String::new()),
                };
                match (name, value) {
                    (Some(n), Some(v)) => {
                        out.insert(n, v);
                    }
                    _ => {
                        cx.sink.error(
                            i.at,
                            "schema.type",
                            "an environment entry needs `name` and `value`",
                        );
                    }
                }
            }
        }
        Value::Null => {}
        Value::Str { .. } => {
            cx.expect_map(node, "env");
        }
    }
    out
}

/// `runtime`, `entrypoint` and `environment`: legacy ways to say how a module runs.
pub(super) fn legacy_run(cx: &mut Cx, node: &Node, m: &mut Module, port: Option<u16>) {
    if let Some(rt) = node.get("runtime") {
        cx.legacy(rt.at, "legacy.runtime", "`runtime: {command, args, serve_port, health_path}` read as `run` and an HTTP health check");
        if cx.expect_map(rt, "runtime").is_some() && m.run.is_none() {
            let mut argv = rt
                .get("command")
                .and_then(|c| command(cx, c, "runtime.command"))
                .unwrap_or_default();
            if let Some(a) = rt.get("args") {
                argv.extend(cx.string_list(a, "runtime.args").unwrap_or_default());
            }
            if !argv.is_empty() {
                let env = rt.get("env").map(|e| env(cx, e)).unwrap_or_default();
                m.run = Some(RunSpec {
                    command: argv,
                    env,
                    at: rt.at,
                    ..Default::default()
                });
            }
        }
        if let (Some(hp), Some(port), None) = (rt.get("health_path"), port, &m.health_check) {
            let path = cx.string(hp, "health_path").unwrap_or_default();
            m.health_check = Some(HealthCheck {
                probe: Probe::Http {
                    url: format!("http://127.0.0.1:{port}/{}", path.trim_start_matches('/')),
                    expect_status: Vec::new(),
                },
                interval: Duration::from_secs(5),
                timeout: Duration::from_secs(2),
                retries: 3,
                start_period: Duration::ZERO,
                start_interval: Duration::from_secs(1),
                at: hp.at,
            });
        }
    }
    if let Some(e) = node.get("entrypoint") {
        cx.legacy(
            e.at,
            "legacy.entrypoint",
            "`entrypoint` read as `run.command`",
        );
        if m.run.is_none() {
            // A single path is the whole command; only a string with spaces needs splitting.
            let single = e
                .str()
                .filter(|t| !t.trim().is_empty() && !t.contains(char::is_whitespace));
            let argv = match single {
                Some(path) => Some(vec![path.to_string()]),
                None => command(cx, e, "entrypoint"),
            };
            if let Some(argv) = argv {
                m.run = Some(RunSpec {
                    command: argv,
                    at: e.at,
                    ..Default::default()
                });
            }
        }
    }
    if let Some(e) = node.get("environment") {
        let vars = env(cx, e);
        match &mut m.run {
            Some(run) => {
                for (k, v) in vars {
                    run.env.entry(k).or_insert(v);
                }
            }
            None if !vars.is_empty() => {
                cx.sink.note(
                    e.at,
                    "legacy.environment-unused",
                    "`environment` is ignored: the module has no run command",
                );
            }
            None => {}
        }
    }
}
