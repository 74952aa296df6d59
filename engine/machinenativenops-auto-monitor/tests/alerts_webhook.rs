//! Webhook delivery: the receiver is down at first, so the notification waits in the
//! persistent retry queue and arrives once, after the retries; one firing episode gives one
//! notification per `repeat_interval`; a restart of the agent sends no duplicate.

mod alerting_support;
mod common;

use std::time::{Duration, Instant};

use alerting_support::*;

#[test]
fn webhook_retries_repeats_and_survives_a_restart_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let hook_port = common::free_port();
    let config = format!(
        r#"
monitoring:
  interval: 1
alerts:
  default_rules: {{enabled: false}}
  notifiers:
    - name: hook
      type: webhook
      url: http://127.0.0.1:{hook_port}/alerts
      timeout: 2s
      initial_backoff: 300ms
      max_backoff: 1s
      max_attempts: 100
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 0s
    group_interval: 1s
    repeat_interval: 12s
  rules:
    - alert: AlwaysOn
      expr: mno_build_info == 1
      labels: {{severity: info}}
      annotations:
        summary: "build {{{{ $labels.version }}}}"
"#
    );
    let mut agent = Agent::start(dir.path(), common::free_port(), &config, &[], &[]);
    agent.wait_ready();
    // The alert fires at once; the receiver is down, so attempts fail and are retried.
    assert!(
        wait_until(Duration::from_secs(20), || {
            agent
                .metric(
                    "mno_alerts_notifications_total",
                    &[("notifier", "hook"), ("result", "failure")],
                )
                .is_some_and(|v| v >= 2.0)
        }),
        "no failed attempts recorded: {}",
        agent.logs()
    );
    assert!(
        agent
            .metric("mno_alerts_notifications_queued", &[("notifier", "hook")])
            .is_some_and(|v| v >= 1.0)
    );
    let fired_at = Instant::now();
    let hook = Recorder::start(hook_port);
    assert!(
        wait_until(Duration::from_secs(10), || hook.count() >= 1),
        "never delivered: {}",
        agent.logs()
    );
    let first = hook.bodies()[0].clone();
    assert_eq!(first["version"], "4");
    assert_eq!(first["status"], "firing");
    assert_eq!(first["receiver"], "hook");
    assert_eq!(first["groupLabels"]["alertname"], "AlwaysOn");
    assert_eq!(first["alerts"][0]["labels"]["severity"], "info");
    assert!(
        first["alerts"][0]["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("build ")
    );
    assert_eq!(first["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    // Exactly once, though it was attempted several times.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(hook.count(), 1, "duplicate deliveries: {:?}", hook.bodies());

    // One more per repeat_interval (12 s after the first was queued).
    assert!(
        wait_until(Duration::from_secs(20), || hook.count() >= 2),
        "no repeat after repeat_interval"
    );
    let second_at = Instant::now();
    assert!(
        second_at - fired_at >= Duration::from_secs(7),
        "repeat came too early"
    );
    assert_eq!(hook.count(), 2);

    // A restart within the repeat interval sends nothing new.
    agent.restart(&[], &[]);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        hook.count(),
        2,
        "a restart re-notified: {:?}",
        hook.bodies().last()
    );
    // The alert is still firing after the restart, with its original start time.
    let alerts = agent.json("/api/v1/alerts");
    assert_eq!(alerts["data"]["alerts"][0]["state"], "firing", "{alerts}");
    assert_eq!(
        alerts["data"]["alerts"][0]["activeAt"], first["alerts"][0]["startsAt"],
        "restored with its original activeAt"
    );
    // History counts the deliveries on the episode.
    let h = agent.json("/api/v1/alerts/history?alertname=AlwaysOn");
    let eps = h["data"]["episodes"].as_array().unwrap();
    assert_eq!(eps.len(), 1, "one episode across the restart: {h}");
    assert_eq!(eps[0]["notificationsSent"], 2);
    assert!(eps[0]["resolvedAt"].is_null());
    agent.stop();
}
