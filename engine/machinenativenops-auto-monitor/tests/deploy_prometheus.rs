//! deploy/prometheus and deploy/grafana: promtool accepts the scrape configuration and the
//! rules and passes their unit tests; the alert rules are the agent's default rules (names,
//! expressions, `for`, labels and annotations: they cannot drift apart); every expression of
//! the Grafana dashboard parses and names only families the services export or the recording
//! rules record.

mod common;
use common::*;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use machinenativenops_auto_monitor::MonitorConfig;
use machinenativenops_auto_monitor::alerts::defaults::default_specs;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn promtool_ok(args: &[&str], dir: &Path) {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let o = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "promtool {args:?}: {text}");
    assert!(!text.contains("WARNING"), "promtool {args:?}: {text}");
}

#[test]
fn promtool_checks_the_scrape_config_and_the_rules() {
    let dir = repo().join("deploy/prometheus");
    promtool_ok(&["check", "config", "prometheus.yml"], &dir);
    promtool_ok(
        &[
            "check",
            "rules",
            "rules/mno-alerts.yml",
            "rules/mno-recording.yml",
        ],
        &dir,
    );
}

#[test]
fn promtool_rule_unit_tests_pass() {
    let dir = repo().join("deploy/prometheus");
    promtool_ok(&["test", "rules", "tests/mno-rules.test.yml"], &dir);
}

/// A wrong expectation fails `promtool test rules`: the unit tests can fail.
#[test]
fn a_wrong_expectation_fails_the_rule_unit_tests() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let src = repo().join("deploy/prometheus");
    let text = std::fs::read_to_string(src.join("tests/mno-rules.test.yml")).unwrap();
    let broken = text.replacen(
        "summary: \"CPU usage is 95%\"",
        "summary: \"CPU usage is 94%\"",
        1,
    );
    assert_ne!(broken, text);
    // The same layout in a scratch directory, so the relative rule_files resolve.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::create_dir_all(dir.path().join("tests")).unwrap();
    for f in ["rules/mno-alerts.yml", "rules/mno-recording.yml"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let test = dir.path().join("tests/mno-rules.test.yml");
    std::fs::write(&test, broken).unwrap();
    let o = Command::new(promtool)
        .args(["test", "rules"])
        .arg(&test)
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !o.status.success() && out.contains("CPU usage is 94%"),
        "{out}"
    );
}

#[test]
fn alert_rules_are_the_agents_default_rules() {
    let file = yaml(&repo().join("deploy/prometheus/rules/mno-alerts.yml"));
    let rules = file["groups"][0]["rules"]
        .as_array()
        .expect("one group of rules");
    let specs = default_specs(&MonitorConfig::default());
    assert!(!specs.is_empty());
    let ours: Vec<Value> = specs
        .iter()
        .map(|s| serde_json::to_value(s).unwrap())
        .collect();
    let names = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|r| r["alert"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        names(rules),
        names(&ours),
        "the same alerts in the same order"
    );
    for (theirs, ours) in rules.iter().zip(&ours) {
        let name = &ours["alert"];
        for key in ["expr", "for", "labels", "annotations"] {
            assert_eq!(theirs[key], ours[key], "{name}: `{key}` differs");
        }
        let extra: Vec<&String> = theirs
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !["alert", "expr", "for", "labels", "annotations"].contains(&k.as_str()))
            .collect();
        assert!(
            extra.is_empty(),
            "{name}: keys the agent does not have: {extra:?}"
        );
    }
}

/// Families the services export: the `mno_*` names in the metrics references.
fn documented_families() -> BTreeSet<String> {
    let re = regex::Regex::new(r"`(mno_[a-z0-9_]+)").unwrap();
    let mut out = BTreeSet::new();
    for doc in ["docs/metrics.md", "docs/super-agent.md"] {
        let text = std::fs::read_to_string(repo().join(doc)).unwrap();
        out.extend(re.captures_iter(&text).map(|c| c[1].to_string()));
    }
    out
}

fn recorded_names() -> BTreeSet<String> {
    let file = yaml(&repo().join("deploy/prometheus/rules/mno-recording.yml"));
    file["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .filter_map(|r| r["record"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn every_dashboard_expression_parses_and_names_known_families() {
    let path = repo().join("deploy/grafana/mno-overview.json");
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(dash["uid"], "machinenativeops-overview");
    let families = documented_families();
    let recorded = recorded_names();
    let name_re = regex::Regex::new(r"\b((?:mno|instance:mno|job:mno)[a-z0-9_:]*)").unwrap();

    let mut exprs = 0;
    let mut ids = BTreeSet::new();
    for panel in dash["panels"].as_array().unwrap() {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "duplicate panel id"
        );
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            exprs += 1;
            // Grafana's variables, as Grafana substitutes them before sending the query.
            let q = expr
                .replace("$__rate_interval", "1m")
                .replace("$__range", "6h")
                .replace("$instance", ".*");
            if let Err(e) = promql_parser::parser::parse(&q) {
                panic!("{}: {expr:?}: {e}", panel["title"]);
            }
            for m in name_re.captures_iter(&q) {
                let name = &m[1];
                let family = name
                    .strip_suffix("_bucket")
                    .filter(|f| families.contains(*f))
                    .unwrap_or(name);
                assert!(
                    families.contains(family) || recorded.contains(name),
                    "{}: {name} is neither an exported family nor a recording rule",
                    panel["title"]
                );
            }
        }
    }
    assert!(exprs >= 20, "{exprs} expressions");
    // Every recording rule is on the dashboard (it exists for it).
    let text = std::fs::read_to_string(&path).unwrap();
    for r in &recorded {
        assert!(
            text.contains(r.as_str()),
            "{r} is not used by the dashboard"
        );
    }
}

/// The parser rejects a broken expression: the dashboard check can fail.
#[test]
fn a_broken_dashboard_expression_is_caught() {
    assert!(promql_parser::parser::parse("sum by (instance) (mno_alerts_active").is_err());
}
