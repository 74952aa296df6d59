//! The Auto-Monitor and the SuperAgent through a real `redis-server` (started here): the
//! monitor binary writes its host snapshot to Redis and publishes alert notifications on the
//! alerts channel (`redis` notifier); its `superagent` notifier turns a firing and then a
//! resolved alert into one incident at the SuperAgent (its real server code, run in this
//! process on the same Redis), whose gate report carries the monitor's snapshot. Redis is
//! stopped in the middle: the monitor keeps collecting into its local store, the resolved
//! alert waits in the retry queue, and both services are back within 5 s of Redis returning.

mod alerting_support;
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alerting_support::*;
use mno_redis::redis;
use mno_testkit::RedisServer;
use serde_json::{Value, json};

const TOKEN: &str = "monitor-agent-e2e-token-0123"; // mno:allow (a test fixture, not a credential)
const HOST: &str = "test-host-1";

/// The SuperAgent server, in this process, stopped on drop.
struct SuperAgent {
    port: u16,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SuperAgent {
    fn start(dir: &std::path::Path, redis_url: &str) -> SuperAgent {
        let port = common::free_port();
        let repos = dir.join("repos");
        std::fs::create_dir_all(repos.join("small")).unwrap();
        std::fs::write(repos.join("small/README.md"), "# small\n").unwrap();
        let cfg = dir.join("super-agent.yaml");
        std::fs::write(
            &cfg,
            format!(
                "port: {port}\ntoken: {TOKEN}\ndata_dir: {data}\nallowed_roots: [{repos}]\nredis:\n  url: {redis_url}\n  timeout: 1\n",
                data = dir.join("data").display(),
                repos = repos.display(),
            ),
        )
        .unwrap();
        let eff = super_agent::config::load(
            Some(&cfg),
            &|_| None,
            &super_agent::FlagOverrides::default(),
        )
        .expect("super-agent config");
        assert_eq!(eff.config.store, super_agent::config::StoreBackend::Redis);
        let paths = super_agent::service::data_paths(&eff.config);
        let (stop, rx) = tokio::sync::watch::channel(false);
        let thread = std::thread::spawn(move || {
            super_agent::install_crypto_provider();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(super_agent::service::serve_until(&eff, &paths, rx))
                .expect("super-agent serve");
            rt.shutdown_timeout(Duration::from_secs(1));
        });
        let a = SuperAgent {
            port,
            stop,
            thread: Some(thread),
        };
        assert!(
            wait_until(Duration::from_secs(20), || matches!(
                request("GET", &a.url("/health"), &[], None),
                Ok((200, _))
            )),
            "super-agent did not start"
        );
        a
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (st, body) = request("GET", &self.url(path), &[], None).expect("GET");
        (st, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

impl Drop for SuperAgent {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Messages published on a channel, collected by a thread that resubscribes after an outage.
fn subscribe(url: String, channel: String) -> Arc<Mutex<Vec<Value>>> {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let g2 = got.clone();
    std::thread::spawn(move || {
        loop {
            let Ok(client) = redis::Client::open(url.as_str()) else {
                return;
            };
            let Ok(mut con) = client.get_connection() else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let mut ps = con.as_pubsub();
            if ps.subscribe(&channel).is_err() {
                continue;
            }
            while let Ok(m) = ps.get_message() {
                let text: String = m.get_payload().unwrap_or_default();
                g2.lock()
                    .unwrap()
                    .push(serde_json::from_str(&text).unwrap_or(Value::Null));
            }
        }
    });
    got
}

fn host_hash(r: &RedisServer) -> String {
    r.cli(&["HGET", &format!("mno:monitor:host:{HOST}"), "updated_at"])
        .unwrap_or_default()
}

fn incident(agent: &SuperAgent, name: &str) -> Option<Value> {
    let (st, v) = agent.get("/incidents");
    if st != 200 {
        return None;
    }
    v["incidents"]
        .as_array()?
        .iter()
        .find(|i| i["signal"]["alert_name"] == name)
        .cloned()
}

#[test]
fn snapshots_pubsub_and_incidents_through_redis_survive_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let rdir = dir.path().join("redis");
    std::fs::create_dir_all(&rdir).unwrap();
    let rdir_arg = rdir.display().to_string();
    let Some(mut rs) = RedisServer::start(&[
        "--dir",
        &rdir_arg,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]) else {
        return;
    };
    if rs.cli(&["PING"]).is_none() {
        assert!(!mno_testkit::tools_required(), "redis-cli is missing");
        eprintln!("SKIP: redis-cli not installed");
        return;
    }
    let agent = SuperAgent::start(&dir.path().join("agent"), &rs.url());
    let published = subscribe(rs.url(), "mno:alerts".into());
    let svc = Switch::start(true);
    let config = format!(
        r#"
monitoring:
  interval: 1
redis:
  url: {redis}
  snapshot_ttl: 30
http_checks:
  - name: toggled
    url: http://127.0.0.1:{svc}/health
    expected_status: [200]
    interval: 0.5
    timeout: 2
alerts:
  default_rules: {{enabled: false}}
  external_labels: {{host: {HOST}}}
  notifiers:
    - name: agent
      type: superagent
      url: http://127.0.0.1:{agent}
      bearer_token: {TOKEN}
      timeout: 2s
    - name: bus
      type: redis
  route:
    receiver: log
    group_wait: 0s
    group_interval: 1s
    repeat_interval: 1h
    routes:
      - receiver: bus
        continue: true
      - receiver: agent
  rules:
    - alert: ToggledDown
      expr: mno_service_up{{service="toggled"}} == 0
      for: 1s
      labels: {{severity: critical}}
      annotations:
        summary: "{{{{ $labels.service }}}} is down"
"#,
        redis = rs.url(),
        svc = svc.server.port,
        agent = agent.port,
    );
    let mut mon = Agent::start(dir.path(), common::free_port(), &config, &[], &[]);
    mon.wait_ready();

    // The snapshot: a hash with a TTL, and the host in the index.
    assert!(
        wait_until(Duration::from_secs(20), || !host_hash(&rs).is_empty()),
        "no snapshot in redis: {}",
        mon.logs()
    );
    let ttl: i64 = rs
        .cli(&["TTL", &format!("mno:monitor:host:{HOST}")])
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&ttl), "ttl {ttl}");
    assert!(
        rs.cli(&["ZRANGE", "mno:monitor:hosts", "0", "-1"])
            .unwrap()
            .contains(HOST)
    );

    // Firing: one incident at the SuperAgent, and the notification on the channel.
    svc.set(false);
    let mut firing = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            firing = incident(&agent, "ToggledDown");
            firing.is_some()
        }),
        "no incident: {}",
        mon.logs()
    );
    let firing = firing.unwrap();
    assert_eq!(firing["state"], "firing", "{firing:#}");
    assert_eq!(firing["signal"]["severity"], "critical");
    assert_eq!(firing["signal"]["source"], HOST);
    assert_eq!(firing["source_agent"], "auto-monitor");
    let id = firing["id"].as_u64().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || published
            .lock()
            .unwrap()
            .iter()
            .any(|m| m["status"] == "firing"
                && m["alerts"][0]["labels"]["alertname"] == "ToggledDown")),
        "nothing published: {}",
        mon.logs()
    );

    // A gate report carries the monitored host's snapshot, with the firing alert.
    assert!(wait_until(Duration::from_secs(10), || {
        rs.cli(&["HGET", &format!("mno:monitor:host:{HOST}"), "alerts"])
            .unwrap_or_default()
            .contains("\"state\":\"firing\"")
    }));
    let body = json!({
        "metadata": {"pr_number": 5, "commit_sha": "abcdef0123456789", "repository": "o/small"},
        "validation_requirements": {"naming_conventions": true},
        "artifacts": {"root": "small"},
    });
    let (st, text) = request(
        "POST",
        &agent.url("/api/v1/gates?wait=true"),
        &[("authorization", &format!("Bearer {TOKEN}"))],
        Some(&body.to_string()),
    )
    .unwrap();
    assert_eq!(st, 200, "{text}");
    let job: Value = serde_json::from_str(&text).unwrap();
    let hosts = job["response"]["monitor_hosts"]
        .as_array()
        .expect("monitor_hosts");
    let h = hosts
        .iter()
        .find(|h| h["host"] == HOST)
        .unwrap_or_else(|| panic!("{HOST} not in {hosts:#?}"));
    assert!(h["cpu_usage_percent"].is_number(), "{h:#}");
    assert!(
        h["active_alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "ToggledDown" && a["state"] == "firing"),
        "{h:#}"
    );

    // Redis down: the monitor goes on collecting locally; the alert resolves meanwhile.
    rs.stop();
    svc.set(true);
    let (st, _) = agent.get(&format!("/incidents/{id}"));
    assert_eq!(
        st, 503,
        "the SuperAgent answers 503 while its store is down"
    );
    let before = local_sample_time(&mon);
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        local_sample_time(&mon) > before,
        "the local store stopped while redis was down"
    );
    assert!(
        mon.logs().contains("collection and the local store go on"),
        "{}",
        mon.logs()
    );
    rs.restart();
    let back = Instant::now();
    let updated_before = host_hash(&rs);
    // Within 5 s: the snapshot is written again and the resolved signal has arrived.
    assert!(
        wait_until(Duration::from_secs(5), || {
            agent.get(&format!("/incidents/{id}")).1["state"] == "resolved"
        }),
        "incident not resolved within 5 s of redis returning: {}",
        mon.logs()
    );
    assert!(
        wait_until(
            Duration::from_secs(5).saturating_sub(back.elapsed()),
            || host_hash(&rs) != updated_before
        ),
        "no new snapshot within 5 s of redis returning"
    );
    let (_, inc) = agent.get(&format!("/incidents/{id}"));
    assert_eq!(inc["id"], id);
    assert!(inc["resolved_at"].is_string(), "{inc:#}");
    assert!(inc["signals"].as_u64().unwrap() >= 2, "{inc:#}");
    // One incident for the alert: the resolved signal closed the firing one.
    let (_, all) = agent.get("/incidents");
    let n = all["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["signal"]["alert_name"] == "ToggledDown")
        .count();
    assert_eq!(n, 1, "{all:#}");
    mon.stop();
}

/// Ticks appended to the monitor's local store so far.
fn local_sample_time(mon: &Agent) -> f64 {
    mon.metric("mno_store_ticks_appended_total", &[])
        .unwrap_or(0.0)
}
