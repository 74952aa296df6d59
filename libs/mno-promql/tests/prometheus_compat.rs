//! Correctness against Prometheus itself: the same samples are backfilled
//! into a real Prometheus (promtool create-blocks-from openmetrics) and
//! loaded into `MemStorage`; every supported function and operator runs
//! through Prometheus' HTTP API and through `mno_promql` (instant queries at
//! several times, range queries at several steps) and the JSON results must
//! agree: labels exactly, timestamps exactly, values within 1e-9 relative.

mod common;

use common::{Prometheus, SPAN, T0};
use mno_promql::{QueryOptions, instant_query, json, range_query};
use serde_json::Value as J;

/// Every supported construct, on the fixture's series.
fn queries() -> Vec<String> {
    let at = T0 + 1800;
    let q = [
        // Selectors and matchers.
        "node_cpu_seconds_total",
        "node_cpu_seconds_total{mode=\"idle\"}",
        "node_cpu_seconds_total{mode!=\"idle\",cpu=~\"0|1\"}",
        "node_cpu_seconds_total{mode!~\"i.*\"}",
        "{__name__=~\"node_load.*\"}",
        "{__name__=~\"node_load.*\", instance!=\"host-a\"}",
        "http_requests_total",
        "node_memory_MemAvailable_bytes offset 10m",
        "node_load1 offset -2m",
        "node_load1 @ {AT}",
        "node_load1 @ start()",
        "node_load1 @ end()",
        // Range functions on counters.
        "rate(node_cpu_seconds_total[1m])",
        "rate(node_cpu_seconds_total[5m])",
        "rate(http_requests_total[5m])",
        "rate(http_requests_total[2m] offset 1m)",
        "rate(http_requests_total[10m] @ {AT})",
        "irate(http_requests_total[5m])",
        "increase(http_requests_total[10m])",
        "increase(node_cpu_seconds_total{cpu=\"1\"}[3m])",
        "delta(node_load1[5m])",
        "delta(temperature_celsius[2m])",
        "idelta(node_load1[5m])",
        "deriv(node_memory_MemAvailable_bytes[10m])",
        "deriv(node_load1[5m])",
        "predict_linear(node_memory_MemAvailable_bytes[15m], 3600)",
        "changes(node_load1[10m])",
        "resets(http_requests_total[30m])",
        // *_over_time.
        "avg_over_time(node_load1[5m])",
        "min_over_time(temperature_celsius[10m])",
        "max_over_time(temperature_celsius[10m])",
        "sum_over_time(node_load1[5m])",
        "count_over_time(node_load1[5m])",
        "count_over_time(http_requests_total[2m])",
        "last_over_time(node_load1[5m])",
        "stddev_over_time(node_memory_MemAvailable_bytes[10m])",
        "stdvar_over_time(temperature_celsius[10m])",
        "quantile_over_time(0.9, node_load1[10m])",
        "quantile_over_time(0.25, temperature_celsius[5m])",
        "present_over_time(http_requests_total[1m])",
        "absent_over_time(http_requests_total{code=\"500\",instance=\"a\"}[5m])",
        "absent_over_time(nonexistent{job=\"x\"}[5m])",
        // Aggregations.
        "sum(rate(node_cpu_seconds_total[5m]))",
        "avg by (mode) (rate(node_cpu_seconds_total[1m]))",
        "sum without (cpu) (rate(node_cpu_seconds_total[5m]))",
        "count by (cpu) (node_cpu_seconds_total)",
        "min by (mode) (rate(node_cpu_seconds_total[5m]))",
        "max by (instance) (rate(http_requests_total[5m]))",
        "stddev by (mode) (rate(node_cpu_seconds_total[5m]))",
        "stdvar(temperature_celsius)",
        "group by (mode) (node_cpu_seconds_total)",
        "quantile by (mode) (0.5, rate(node_cpu_seconds_total[5m]))",
        "quantile(0.9, temperature_celsius)",
        "topk(3, rate(node_cpu_seconds_total[5m]))",
        "bottomk(2, temperature_celsius)",
        "topk by (cpu) (1, rate(node_cpu_seconds_total[5m]))",
        "count_values(\"load\", round(node_load1))",
        "count_values without (instance) (\"load\", round(node_load5))",
        "sum by (__name__) ({__name__=~\"node_load.*\"})",
        "avg(node_memory_MemAvailable_bytes)",
        "sum(http_requests_total) by (code)",
        // Binary operators.
        "node_memory_MemAvailable_bytes / 1024 / 1024",
        "2 * node_load1",
        "node_load1 - node_load5",
        "node_load1 / on(instance) node_load5",
        "node_load1 + ignoring(instance) group_left node_load5{instance=\"host-a\"}",
        "node_load1 > 1",
        "node_load1 > bool 1",
        "1 < node_load1",
        "1 < bool node_load1",
        "node_load1 == bool node_load5",
        "node_load1 >= on(instance) node_load5",
        "node_load1 != 0.5",
        "node_load1 <= 1.2",
        "temperature_celsius % 7",
        "node_load1 ^ 2",
        "-node_load1",
        "-(2 ^ 3)",
        "1 + 2 * 3",
        "5 % 3 > bool 1",
        "rate(node_cpu_seconds_total[5m]) * on(cpu) group_left(model) node_cpu_info",
        "node_cpu_info * on(cpu) group_right(model) rate(node_cpu_seconds_total[5m])",
        "sum by (instance) (rate(http_requests_total{code=\"500\"}[5m])) / sum by (instance) (rate(http_requests_total[5m]))",
        "node_load1 > 1 and node_load5 < 1.2",
        "node_load1 or node_load5",
        "node_load1 unless node_load1 > 1",
        "http_requests_total and on(instance) rate(http_requests_total{code=\"500\"}[1m]) > 0",
        "rate(http_requests_total[5m]) > 0 or on(instance) vector(0)",
        // Scalars and instant functions.
        "time()",
        "vector(1)",
        "vector(time())",
        "scalar(sum(node_load1))",
        "scalar(node_load1)",
        "node_load1 * scalar(node_load5{instance=\"host-a\"})",
        "pi()",
        "abs(temperature_celsius)",
        "ceil(node_load1)",
        "floor(node_load1)",
        "round(node_load1)",
        "round(temperature_celsius, 5)",
        "clamp(temperature_celsius, -5, 25)",
        "clamp_min(temperature_celsius, 0)",
        "clamp_max(node_load1, 1)",
        "sgn(temperature_celsius)",
        "exp(node_load1)",
        "sqrt(node_load1)",
        "ln(node_memory_MemAvailable_bytes)",
        "log2(node_load5)",
        "log10(node_memory_MemAvailable_bytes)",
        "sin(node_load1)",
        "deg(node_load1)",
        "timestamp(node_load1)",
        "timestamp(rate(http_requests_total[5m]))",
        "time() - timestamp(node_load1{instance=\"host-b\"})",
        "hour()",
        "minute(timestamp(node_load1))",
        "day_of_week()",
        "days_in_month()",
        "month(vector(time()))",
        "year()",
        "label_replace(node_load1, \"host\", \"h-$1\", \"instance\", \"host-(.*)\")",
        "label_replace(node_load1, \"instance\", \"\", \"instance\", \".*a\")",
        "label_join(node_cpu_info, \"id\", \"/\", \"cpu\", \"model\")",
        "sort(temperature_celsius)",
        "sort_desc(node_load1)",
        "absent(nonexistent{job=\"x\", env=\"prod\"})",
        "absent(node_load1)",
        "histogram_quantile(0.9, rate(request_duration_seconds_bucket[5m]))",
        "histogram_quantile(0.5, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
        "histogram_quantile(0.99, request_duration_seconds_bucket)",
        "rate(request_duration_seconds_sum[5m]) / rate(request_duration_seconds_count[5m])",
        // Subqueries.
        "max_over_time(rate(http_requests_total[1m])[10m:1m])",
        "avg_over_time(node_load1[10m:])",
        "min_over_time(sum by (mode) (rate(node_cpu_seconds_total[2m]))[7m:30s] offset 1m)",
        // NaN and infinities.
        "odd_gauge",
        "max(odd_gauge)",
        "min by (instance) (odd_gauge)",
        "avg(odd_gauge)",
        "sum(odd_gauge)",
        "stddev(odd_gauge)",
        "topk(2, odd_gauge)",
        "bottomk(1, odd_gauge)",
        "quantile(0.5, odd_gauge)",
        "max_over_time(odd_gauge[2m])",
        "min_over_time(odd_gauge[2m])",
        "avg_over_time(odd_gauge[2m])",
        "sum_over_time(odd_gauge[2m])",
        "changes(odd_gauge[5m])",
        "deriv(odd_gauge[1m])",
        "odd_gauge > 0",
        "odd_gauge == bool odd_gauge",
        "clamp_max(odd_gauge, 3)",
        "sort_desc(odd_gauge)",
        "count_values(\"v\", odd_gauge)",
        // Errors both sides must agree on (class only).
        "node_cpu_seconds_total + on(mode) node_cpu_seconds_total",
        "rate({__name__=~\"node_load1|node_load5\"}[5m])",
        "node_cpu_seconds_total * on(cpu) node_cpu_info",
    ];
    q.iter()
        .map(|s| s.replace("{AT}", &at.to_string()))
        .collect()
}

/// Only the instant query may return a range vector.
fn instant_only() -> Vec<&'static str> {
    vec![
        "node_load1[5m]",
        "http_requests_total[2m] offset 1m",
        "rate(node_cpu_seconds_total{cpu=\"0\"}[5m])[3m:1m]",
        "node_load1[1m] @ 1767227400",
        "\"a string\"",
    ]
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) || (a - b).abs() <= 1e-12
}

fn num(v: &J) -> f64 {
    match v {
        J::String(s) => s.parse().unwrap_or(f64::NAN),
        J::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

fn point_eq(a: &J, b: &J) -> bool {
    match (a.as_array(), b.as_array()) {
        (Some(a), Some(b)) if a.len() == 2 && b.len() == 2 => {
            num(&a[0]) == num(&b[0])
                && match (&a[1], &b[1]) {
                    (J::String(x), J::String(y)) if x.parse::<f64>().is_err() => x == y,
                    _ => close(num(&a[1]), num(&b[1])),
                }
        }
        _ => false,
    }
}

fn sorted(v: &J, keep_order: bool) -> Vec<J> {
    let mut items = v.as_array().cloned().unwrap_or_default();
    if !keep_order {
        items.sort_by_key(|x| x["metric"].to_string());
    }
    items
}

/// Compare a Prometheus response with ours; `None` when they agree.
fn diff(query: &str, prom: &J, ours: &J) -> Option<String> {
    let status = prom["status"].as_str().unwrap_or("");
    if status != ours["status"].as_str().unwrap_or("") {
        return Some(format!("status: prometheus {prom} / ours {ours}"));
    }
    if status == "error" {
        return (prom["errorType"] != ours["errorType"])
            .then(|| format!("errorType: prometheus {prom} / ours {ours}"));
    }
    let (p, o) = (&prom["data"], &ours["data"]);
    if p["resultType"] != o["resultType"] {
        return Some(format!("resultType: prometheus {p} / ours {o}"));
    }
    let keep_order = query.starts_with("sort");
    match p["resultType"].as_str() {
        Some("scalar") | Some("string") => {
            (!point_eq(&p["result"], &o["result"])).then(|| format!("prometheus {p} / ours {o}"))
        }
        Some("vector") => {
            let (pv, ov) = (
                sorted(&p["result"], keep_order),
                sorted(&o["result"], keep_order),
            );
            if pv.len() != ov.len() {
                return Some(format!(
                    "{} vs {} samples: prometheus {p} / ours {o}",
                    pv.len(),
                    ov.len()
                ));
            }
            for (a, b) in pv.iter().zip(&ov) {
                if a["metric"] != b["metric"] || !point_eq(&a["value"], &b["value"]) {
                    return Some(format!("sample: prometheus {a} / ours {b}"));
                }
            }
            None
        }
        _ => {
            let (pm, om) = (sorted(&p["result"], false), sorted(&o["result"], false));
            if pm.len() != om.len() {
                let names = |m: &Vec<J>| {
                    m.iter()
                        .map(|s| s["metric"].to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                return Some(format!(
                    "{} vs {} series: prometheus [{}] / ours [{}]",
                    pm.len(),
                    om.len(),
                    names(&pm),
                    names(&om)
                ));
            }
            for (a, b) in pm.iter().zip(&om) {
                if a["metric"] != b["metric"] {
                    return Some(format!(
                        "series: prometheus {} / ours {}",
                        a["metric"], b["metric"]
                    ));
                }
                let (av, bv) = (
                    a["values"].as_array().cloned().unwrap_or_default(),
                    b["values"].as_array().cloned().unwrap_or_default(),
                );
                if av.len() != bv.len() {
                    return Some(format!(
                        "{}: {} vs {} points; first prometheus {:?} / ours {:?}",
                        a["metric"],
                        av.len(),
                        bv.len(),
                        av.first(),
                        bv.first()
                    ));
                }
                for (x, y) in av.iter().zip(&bv) {
                    if !point_eq(x, y) {
                        return Some(format!("{}: point prometheus {x} / ours {y}", a["metric"]));
                    }
                }
            }
            None
        }
    }
}

fn ours_json(r: Result<mno_promql::Value, mno_promql::QueryError>) -> J {
    let text = match r {
        Ok(v) => json::render_success(&v),
        Err(e) => json::render_error(&e),
    };
    serde_json::from_str(&text).expect("our JSON parses")
}

#[test]
fn every_supported_construct_matches_prometheus() {
    let series = common::fixture();
    let Some(prom) = Prometheus::start(&series) else {
        return;
    };
    let store = common::mem(&series);
    let opts = QueryOptions::default();
    // Instant times: the first sample, aligned and unaligned mid-range, inside
    // host-b's gap, just after the data ends (lookback) and past the lookback.
    let times = [
        T0,
        T0 + 1800,
        T0 + 1807,
        T0 + 4300,
        T0 + SPAN + 60,
        T0 + SPAN + 400,
    ];
    // Range queries: whole span at 60 s, a window at 15 s (sample-aligned), 37 s unaligned.
    let ranges = [
        (T0 + 60, T0 + SPAN + 360, 60),
        (T0 + 1200, T0 + 2400, 15),
        (T0, T0 + SPAN, 37),
    ];
    let mut failures = Vec::new();
    let mut checks = 0;
    // Guard against a vacuous pass: errors only where expected, data elsewhere.
    let mut prom_errors = std::collections::BTreeSet::new();
    let mut empty = std::collections::BTreeMap::<String, usize>::new();
    let mut note = |q: &str, p: &J| {
        if p["status"] == "error" {
            prom_errors.insert(q.to_string());
        } else if p["data"]["result"].as_array().is_some_and(|r| r.is_empty()) {
            *empty.entry(q.to_string()).or_default() += 1;
        }
    };
    let mut instant = |q: &str, failures: &mut Vec<String>| {
        for &t in &times {
            let (_, body) = prom.get(
                "/api/v1/query",
                &[("query", q.to_string()), ("time", t.to_string())],
            );
            let p: J = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{q}: {e}: {body}"));
            note(q, &p);
            let o = ours_json(instant_query(&store, q, t * 1000, &opts));
            checks += 1;
            if let Some(d) = diff(q, &p, &o) {
                failures.push(format!("instant {q} @ T0+{}: {d}", t - T0));
            }
        }
    };
    for q in queries().iter().map(String::as_str).chain(instant_only()) {
        instant(q, &mut failures);
    }
    for q in queries() {
        for &(s, e, step) in &ranges {
            let (_, body) = prom.get(
                "/api/v1/query_range",
                &[
                    ("query", q.clone()),
                    ("start", s.to_string()),
                    ("end", e.to_string()),
                    ("step", step.to_string()),
                ],
            );
            let p: J = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{q}: {e}: {body}"));
            note(&q, &p);
            let o = ours_json(range_query(
                &store,
                &q,
                s * 1000,
                e * 1000,
                step * 1000,
                &opts,
            ));
            checks += 1;
            if let Some(d) = diff(&q, &p, &o) {
                failures.push(format!(
                    "range {q} [T0+{}, T0+{}] step {step}: {d}",
                    s - T0,
                    e - T0
                ));
            }
        }
    }
    eprintln!("{checks} comparisons, {} mismatches", failures.len());
    eprintln!("queries Prometheus refused: {prom_errors:?}");
    eprintln!("empty results (query: count): {empty:?}");
    let expected_errors = [
        "node_cpu_seconds_total + on(mode) node_cpu_seconds_total",
        "rate({__name__=~\"node_load1|node_load5\"}[5m])",
        "node_cpu_seconds_total * on(cpu) node_cpu_info",
    ];
    for q in &prom_errors {
        assert!(
            expected_errors.contains(&q.as_str()),
            "Prometheus refused {q}: the fixture or the query is wrong"
        );
    }
    let hardly_empty = empty
        .iter()
        .filter(|(_, n)| **n > 6)
        .map(|(q, _)| q)
        .collect::<Vec<_>>();
    assert!(
        hardly_empty.len() <= 4,
        "too many queries mostly empty: {hardly_empty:?}"
    );
    for f in &failures {
        eprintln!("MISMATCH {}", &f[..f.len().min(600)]);
    }
    assert!(
        failures.is_empty(),
        "{} of {checks} comparisons differ from Prometheus",
        failures.len()
    );
}
