//! The evaluator on small hand-made fixtures, one behaviour per test, with
//! expectations worked out by hand from Prometheus' documented semantics.

use std::time::Duration;

use mno_promql::{
    InstantSample, MemStorage, QueryError, QueryOptions, SeriesData, Value, instant_query,
    range_query,
};

fn l(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

/// A store with `name{labels}` sampled every `every` seconds from 0 to `until` with `f(t_s)`.
fn series(
    m: &mut MemStorage,
    labels: &[(&str, &str)],
    every: i64,
    until: i64,
    f: impl Fn(i64) -> f64,
) {
    let mut t = 0;
    while t <= until {
        m.add(labels, t * 1000, f(t));
        t += every;
    }
}

fn opts() -> QueryOptions {
    QueryOptions::default()
}

fn vector(store: &MemStorage, q: &str, t_s: i64) -> Vec<InstantSample> {
    match instant_query(store, q, t_s * 1000, &opts()) {
        Ok(Value::Vector(v)) => {
            let mut v = v;
            v.sort_by(|a, b| a.labels.cmp(&b.labels));
            v
        }
        other => panic!("{q}: expected a vector, got {other:?}"),
    }
}

fn one(store: &MemStorage, q: &str, t_s: i64) -> f64 {
    let v = vector(store, q, t_s);
    assert_eq!(v.len(), 1, "{q}: {v:?}");
    v[0].v
}

fn scalar(store: &MemStorage, q: &str, t_s: i64) -> f64 {
    match instant_query(store, q, t_s * 1000, &opts()) {
        Ok(Value::Scalar { v, .. }) => v,
        other => panic!("{q}: expected a scalar, got {other:?}"),
    }
}

fn err(r: Result<Value, QueryError>) -> QueryError {
    r.expect_err("expected an error")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn instant_selector_looks_back_five_minutes_inclusive() {
    let mut m = MemStorage::new();
    m.add(&[("__name__", "g")], 0, 1.0);
    m.add(&[("__name__", "g")], 60_000, 2.0);
    assert_eq!(one(&m, "g", 30), 1.0);
    assert_eq!(one(&m, "g", 60), 2.0);
    assert_eq!(one(&m, "g", 360), 2.0, "exactly 5 m after the last sample");
    let r = instant_query(&m, "g", 360_001, &opts()).unwrap();
    assert_eq!(r, Value::Vector(vec![]), "just past the lookback");
    assert_eq!(one(&m, "g offset 1m", 60), 1.0);
    assert_eq!(one(&m, "g @ 30", 9999 - 9000), 1.0);
    assert_eq!(one(&m, "g offset -1m", 0), 2.0);
    // The instant sample carries the evaluation time and keeps the name.
    let v = vector(&m, "g", 90);
    assert_eq!(v[0].t, 90_000);
    assert_eq!(v[0].labels, l(&[("__name__", "g")]));
}

#[test]
fn range_query_steps_and_staleness() {
    let mut m = MemStorage::new();
    // Present from 0 to 120 s, then gone.
    series(&mut m, &[("__name__", "g"), ("a", "1")], 30, 120, |t| {
        t as f64
    });
    let r = range_query(&m, "g", 0, 600_000, 60_000, &opts()).unwrap();
    let Value::Matrix(s) = r else { panic!() };
    assert_eq!(s.len(), 1);
    // Steps 0..=420 s see a sample within 5 m of 120 s; 480 s and later do not.
    let ts: Vec<i64> = s[0].samples.iter().map(|p| p.0 / 1000).collect();
    assert_eq!(ts, vec![0, 60, 120, 180, 240, 300, 360, 420]);
    assert_eq!(s[0].samples[3].1, 120.0);
    // A scalar range query is one series without labels.
    let Value::Matrix(s) = range_query(&m, "time()", 0, 120_000, 60_000, &opts()).unwrap() else {
        panic!()
    };
    assert_eq!(
        s,
        vec![SeriesData {
            labels: vec![],
            samples: vec![(0, 0.0), (60_000, 60.0), (120_000, 120.0)]
        }]
    );
}

#[test]
fn rate_increase_delta_and_resets() {
    let mut m = MemStorage::new();
    // A counter +10 every 10 s, reset to 0 at 60 s.
    series(&mut m, &[("__name__", "c_total")], 10, 120, |t| {
        if t < 60 {
            100.0 + t as f64
        } else {
            (t - 60) as f64
        }
    });
    // Window [60, 120]: samples 0..=60 at 60..=120 s, no extrapolation needed.
    assert!(close(one(&m, "increase(c_total[1m])", 120), 60.0));
    assert!(close(one(&m, "rate(c_total[1m])", 120), 1.0));
    // Across the reset: 150 -> 0 adds 150 back. The closed window [20 s, 120 s]
    // holds 11 samples spanning it exactly: 60 - 120 + 150 = 90, nothing to extrapolate.
    let inc = one(&m, "increase(c_total[100s])", 120);
    assert!(close(inc, 90.0), "{inc}");
    // [25 s, 115 s]: samples 30..=110 s (80 s); 5 s missing at each end (< 1.1 x 10 s):
    // (50 - 130 + 150) * 90 / 80.
    let inc = one(&m, "increase(c_total[90s])", 115);
    assert!(close(inc, 70.0 * 90.0 / 80.0), "{inc}");
    assert_eq!(one(&m, "resets(c_total[2m])", 120), 1.0);
    // delta is not counter-aware.
    assert!(close(one(&m, "delta(c_total[1m])", 50), 60.0));
    assert!(
        close(one(&m, "irate(c_total[1m])", 70), 1.0),
        "reset: last value over the gap"
    );
    assert_eq!(one(&m, "idelta(c_total[1m])", 60), -150.0);
    assert!(
        vector(&m, "rate(c_total[5s])", 120).is_empty(),
        "one sample is not enough"
    );
    assert_eq!(one(&m, "deriv(c_total[50s])", 50), 1.0);
}

#[test]
fn over_time_functions() {
    let mut m = MemStorage::new();
    for (i, v) in [3.0, 1.0, 4.0, 1.0, 5.0].into_iter().enumerate() {
        m.add(&[("__name__", "g")], i as i64 * 10_000, v);
    }
    let at = 40;
    assert_eq!(one(&m, "avg_over_time(g[1m])", at), 14.0 / 5.0);
    assert_eq!(one(&m, "sum_over_time(g[1m])", at), 14.0);
    assert_eq!(one(&m, "min_over_time(g[1m])", at), 1.0);
    assert_eq!(one(&m, "max_over_time(g[1m])", at), 5.0);
    assert_eq!(one(&m, "count_over_time(g[1m])", at), 5.0);
    assert_eq!(one(&m, "last_over_time(g[1m])", at), 5.0);
    assert_eq!(one(&m, "quantile_over_time(0.5, g[1m])", at), 3.0);
    assert_eq!(one(&m, "changes(g[1m])", at), 4.0);
    assert_eq!(one(&m, "present_over_time(g[1m])", at), 1.0);
    let var = one(&m, "stdvar_over_time(g[1m])", at);
    assert!(close(var, 2.56), "{var}");
    assert!(close(one(&m, "stddev_over_time(g[1m])", at), 1.6));
    // The window is closed: [10 s, 40 s] holds four samples.
    assert_eq!(one(&m, "count_over_time(g[30s])", at), 4.0);
    // Range functions drop the name, except last_over_time.
    assert!(vector(&m, "sum_over_time(g[1m])", at)[0].labels.is_empty());
    assert_eq!(
        vector(&m, "last_over_time(g[1m])", at)[0].labels,
        l(&[("__name__", "g")])
    );
    // Least squares through (-40,3) (-30,1) (-20,4) (-10,1) (0,5) relative to 40 s:
    // slope 40/1000 per second, value 3.6 at 40 s.
    assert!(close(one(&m, "deriv(g[1m])", at), 0.04));
    assert!(close(one(&m, "predict_linear(g[1m], 0)", at), 3.6));
    assert!(close(one(&m, "predict_linear(g[1m], 100)", at), 7.6));
    assert_eq!(one(&m, "absent_over_time(nope{a=\"b\"}[1m])", at), 1.0);
    assert_eq!(
        vector(&m, "absent_over_time(nope{a=\"b\"}[1m])", at)[0].labels,
        l(&[("a", "b")])
    );
    assert!(vector(&m, "absent_over_time(g[1m])", at).is_empty());
}

fn cpu_store() -> MemStorage {
    let mut m = MemStorage::new();
    for (cpu, mode, v) in [
        ("0", "idle", 10.0),
        ("0", "user", 4.0),
        ("1", "idle", 8.0),
        ("1", "user", 6.0),
        ("2", "idle", 7.0),
        ("2", "user", 6.0),
    ] {
        m.add(&[("__name__", "cpu"), ("cpu", cpu), ("mode", mode)], 0, v);
    }
    m.add(
        &[("__name__", "info"), ("cpu", "0"), ("model", "a")],
        0,
        1.0,
    );
    m.add(
        &[("__name__", "info"), ("cpu", "1"), ("model", "b")],
        0,
        1.0,
    );
    m
}

#[test]
fn aggregations_group_by_and_without() {
    let m = cpu_store();
    let v = vector(&m, "sum by (mode) (cpu)", 0);
    assert_eq!(v.len(), 2);
    assert_eq!(
        (v[0].labels.clone(), v[0].v),
        (l(&[("mode", "idle")]), 25.0)
    );
    assert_eq!(v[1].v, 16.0);
    let v = vector(&m, "avg without (cpu) (cpu)", 0);
    assert_eq!(
        v[1].labels,
        l(&[("mode", "user")]),
        "without drops the name too"
    );
    assert_eq!(v[1].v, 16.0 / 3.0);
    assert_eq!(one(&m, "count(cpu)", 0), 6.0);
    assert_eq!(one(&m, "max(cpu)", 0), 10.0);
    assert_eq!(one(&m, "min(cpu)", 0), 4.0);
    assert_eq!(one(&m, "group(cpu)", 0), 1.0);
    assert_eq!(one(&m, "quantile(0.5, cpu)", 0), 6.5);
    // 10, 8, 7: mean 25/3, squared deviations 25/9 + 1/9 + 16/9, over 3.
    assert!(close(one(&m, "stdvar(cpu{mode=\"idle\"})", 0), 14.0 / 9.0));
    assert_eq!(
        vector(&m, "sum by (__name__) (cpu)", 0)[0].labels,
        l(&[("__name__", "cpu")])
    );
    let v = vector(&m, "count_values(\"v\", cpu)", 0);
    let six = v.iter().find(|s| s.labels == l(&[("v", "6")])).map(|s| s.v);
    assert_eq!(six, Some(2.0));
}

#[test]
fn topk_bottomk_keep_series_and_order_by_value() {
    let m = cpu_store();
    let Value::Vector(v) = instant_query(&m, "topk(2, cpu)", 0, &opts()).unwrap() else {
        panic!()
    };
    let got: Vec<f64> = v.iter().map(|s| s.v).collect();
    assert_eq!(got, vec![10.0, 8.0]);
    assert_eq!(
        v[0].labels,
        l(&[("__name__", "cpu"), ("cpu", "0"), ("mode", "idle")])
    );
    let Value::Vector(v) = instant_query(&m, "bottomk(1, cpu) by (mode)", 0, &opts()).unwrap()
    else {
        panic!()
    };
    let mut got: Vec<f64> = v.iter().map(|s| s.v).collect();
    got.sort_by(f64::total_cmp);
    assert_eq!(got, vec![4.0, 7.0]);
    assert!(vector(&m, "topk(0, cpu)", 0).is_empty());
    let Value::Vector(v) = instant_query(&m, "sort_desc(cpu{mode=\"user\"})", 0, &opts()).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        v.iter().map(|s| s.v).collect::<Vec<_>>(),
        vec![6.0, 6.0, 4.0]
    );
}

#[test]
fn binary_operators_and_matching() {
    let m = cpu_store();
    // Vector/scalar: arithmetic drops the name; a comparison filters and keeps it.
    let v = vector(&m, "cpu{mode=\"idle\"} * 2", 0);
    assert_eq!(
        (v[0].labels.clone(), v[0].v),
        (l(&[("cpu", "0"), ("mode", "idle")]), 20.0)
    );
    let v = vector(&m, "cpu > 7", 0);
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].labels[0], ("__name__".to_string(), "cpu".to_string()));
    let v = vector(&m, "cpu > bool 7", 0);
    assert_eq!(v.len(), 6);
    assert!(
        v.iter()
            .all(|s| s.labels.iter().all(|(n, _)| n != "__name__"))
    );
    assert_eq!(
        vector(&m, "8 <= cpu", 0).iter().map(|s| s.v).sum::<f64>(),
        18.0
    );
    assert_eq!(scalar(&m, "2 ^ 10 % 1000", 0), 24.0);
    assert_eq!(scalar(&m, "1 > bool 2", 0), 0.0);
    // Vector/vector one-to-one with on(): only the `on` labels remain.
    let v = vector(&m, "cpu{mode=\"idle\"} - on(cpu) cpu{mode=\"user\"}", 0);
    assert_eq!(
        v.iter().map(|s| s.v).collect::<Vec<_>>(),
        vec![6.0, 2.0, 1.0]
    );
    assert_eq!(v[0].labels, l(&[("cpu", "0")]));
    // group_left copies labels from the "one" side; cpu 2 has no info and drops out.
    let v = vector(&m, "cpu * on(cpu) group_left(model) info", 0);
    assert_eq!(v.len(), 4);
    assert!(
        v.iter()
            .any(|s| s.labels == l(&[("cpu", "1"), ("mode", "user"), ("model", "b")]))
    );
    // group_right keeps the right side's labels.
    let v = vector(&m, "info * on(cpu) group_right(model) cpu", 0);
    assert_eq!(v.len(), 4);
    // Set operators.
    assert_eq!(vector(&m, "cpu and on(cpu) info", 0).len(), 4);
    assert_eq!(vector(&m, "cpu unless on(cpu) info", 0).len(), 2);
    assert_eq!(vector(&m, "info or cpu", 0).len(), 8);
    assert_eq!(vector(&m, "info or on(cpu) cpu", 0).len(), 4);
}

#[test]
fn matching_errors_are_execution_errors_with_prometheus_messages() {
    let m = cpu_store();
    let e = err(instant_query(&m, "cpu + on(cpu) cpu", 0, &opts()));
    assert_eq!(e.error_type(), "execution");
    assert!(
        e.message().contains("many-to-many matching not allowed"),
        "{e}"
    );
    let e = err(instant_query(&m, "cpu * on(cpu) info", 0, &opts()));
    assert!(
        e.message()
            .contains("many-to-one matching must be explicit"),
        "{e}"
    );
    // Two series equal but for the name clash once a function drops it.
    let mut m = MemStorage::new();
    m.add(&[("__name__", "a"), ("x", "1")], 0, 1.0);
    m.add(&[("__name__", "b"), ("x", "1")], 0, 2.0);
    m.add(&[("__name__", "b"), ("x", "1")], 10_000, 3.0);
    for q in ["abs({x=\"1\"})", "-{x=\"1\"}", "{x=\"1\"} * 2"] {
        let e = err(instant_query(&m, q, 10_000, &opts()));
        assert_eq!(
            e.message(),
            "vector cannot contain metrics with the same labelset",
            "{q}"
        );
    }
    // Only b has two samples, so only one rate series exists: no clash. One
    // +1 over 10 s, extrapolated towards the counter's zero point (20 s back,
    // beyond 1.1 x the interval, so half an interval): 1 x 15/10 over 60 s.
    assert!(close(one(&m, "rate({x=\"1\"}[1m])", 10), 0.025));
    // Comparisons keep the name, so nothing clashes.
    assert_eq!(vector(&m, "{x=\"1\"} > 0", 10).len(), 2);
}

#[test]
fn instant_functions() {
    let mut m = MemStorage::new();
    m.add(&[("__name__", "t"), ("host", "web-1")], 0, -2.5);
    assert_eq!(one(&m, "abs(t)", 0), 2.5);
    assert_eq!(one(&m, "ceil(t)", 0), -2.0);
    assert_eq!(one(&m, "floor(t)", 0), -3.0);
    assert_eq!(one(&m, "round(t)", 0), -2.0, "Prometheus rounds half up");
    assert_eq!(one(&m, "round(t, 2)", 0), -2.0);
    assert_eq!(one(&m, "clamp(t, -1, 1)", 0), -1.0);
    assert!(vector(&m, "clamp(t, 1, -1)", 0).is_empty());
    assert_eq!(one(&m, "clamp_min(t, 0)", 0), 0.0);
    assert_eq!(one(&m, "clamp_max(t, -3)", 0), -3.0);
    assert_eq!(one(&m, "sgn(t)", 0), -1.0);
    assert_eq!(one(&m, "timestamp(t)", 100), 0.0, "the sample's own time");
    assert_eq!(one(&m, "timestamp(abs(t))", 100), 100.0);
    assert_eq!(scalar(&m, "scalar(t)", 0), -2.5);
    assert!(scalar(&m, "scalar(t > 0)", 0).is_nan());
    assert_eq!(one(&m, "vector(3)", 0), 3.0);
    assert_eq!(one(&m, "hour(vector(7200))", 0), 2.0);
    assert_eq!(one(&m, "absent(nope{job=\"x\"})", 0), 1.0);
    assert!(vector(&m, "absent(t)", 0).is_empty());
    let v = vector(
        &m,
        "label_replace(t, \"id\", \"$1\", \"host\", \"web-(.*)\")",
        0,
    );
    assert_eq!(
        v[0].labels,
        l(&[("__name__", "t"), ("host", "web-1"), ("id", "1")])
    );
    let v = vector(&m, "label_join(t, \"x\", \"-\", \"host\", \"__name__\")", 0);
    assert_eq!(
        v[0].labels,
        l(&[("__name__", "t"), ("host", "web-1"), ("x", "web-1-t")])
    );
    let e = err(instant_query(
        &m,
        "label_replace(t, \"1bad\", \"\", \"host\", \".*\")",
        0,
        &opts(),
    ));
    assert_eq!(e.error_type(), "execution");
}

#[test]
fn histogram_quantile_interpolates_within_buckets() {
    let mut m = MemStorage::new();
    for (le, c) in [("0.1", 10.0), ("0.5", 30.0), ("+Inf", 40.0)] {
        m.add(&[("__name__", "h_bucket"), ("job", "a"), ("le", le)], 0, c);
    }
    let v = vector(&m, "histogram_quantile(0.5, h_bucket)", 0);
    assert_eq!(v[0].labels, l(&[("job", "a")]));
    assert!(close(v[0].v, 0.3));
    assert_eq!(one(&m, "histogram_quantile(0.99, h_bucket)", 0), 0.5);
}

#[test]
fn subqueries_align_to_their_step() {
    let mut m = MemStorage::new();
    series(&mut m, &[("__name__", "g")], 1, 600, |t| t as f64);
    // [1m:20s] at 100 s: steps 40, 60, 80, 100 (multiples of 20 s within [40, 100]).
    let Value::Matrix(s) = instant_query(&m, "g[1m:20s]", 100_000, &opts()).unwrap() else {
        panic!()
    };
    let ts: Vec<i64> = s[0].samples.iter().map(|p| p.0 / 1000).collect();
    assert_eq!(ts, vec![40, 60, 80, 100]);
    assert_eq!(one(&m, "max_over_time(g[1m:20s])", 110), 100.0);
    assert_eq!(
        one(&m, "count_over_time(g[1m:])", 120),
        2.0,
        "default step 1m: 60 s and 120 s"
    );
}

#[test]
fn result_types() {
    let mut m = MemStorage::new();
    m.add(&[("__name__", "g")], 0, 1.0);
    m.add(&[("__name__", "g")], 10_000, 2.0);
    assert_eq!(
        instant_query(&m, "1 + 1", 5_000, &opts()).unwrap(),
        Value::Scalar { t: 5_000, v: 2.0 }
    );
    assert_eq!(
        instant_query(&m, "\"hi\"", 5_000, &opts()).unwrap(),
        Value::String {
            t: 5_000,
            v: "hi".into()
        }
    );
    let Value::Matrix(s) = instant_query(&m, "g[1m]", 10_000, &opts()).unwrap() else {
        panic!()
    };
    assert_eq!(s[0].samples, vec![(0, 1.0), (10_000, 2.0)]);
    let e = err(range_query(&m, "g[1m]", 0, 10_000, 1_000, &opts()));
    assert_eq!(e.error_type(), "bad_data");
    assert!(e.message().contains("range vector"), "{e}");
}

#[test]
fn limits_and_bad_requests() {
    let mut m = MemStorage::new();
    series(&mut m, &[("__name__", "g")], 1, 3600, |t| t as f64);
    let o = opts();
    let e = err(range_query(&m, "g", 0, 1_000, 0, &o));
    assert_eq!(e, QueryError::BadData("zero or negative query resolution step widths are not accepted. Try a positive integer".into()));
    let e = err(range_query(&m, "g", 0, 11_001_000, 1_000, &o));
    assert_eq!(
        e.message(),
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
    assert!(
        range_query(&m, "g", 0, 11_000_000, 1_000, &o).is_ok(),
        "11,001 points is still allowed"
    );
    let e = err(range_query(&m, "g", 10_000, 0, 1_000, &o));
    assert_eq!(e.message(), "end timestamp must not be before start time");
    // The sample budget: 3,601 samples do not fit in 1,000.
    let small = QueryOptions {
        max_samples: 1_000,
        ..opts()
    };
    let e = err(instant_query(&m, "sum_over_time(g[1h])", 3_600_000, &small));
    assert_eq!(e.error_type(), "execution");
    assert!(e.message().contains("too many samples"), "{e}");
    // A subquery whose own grid is over budget fails before evaluating anything.
    let e = err(instant_query(
        &m,
        "max_over_time(g[1y:1ms])",
        3_600_000,
        &small,
    ));
    assert!(e.message().contains("too many samples"), "{e}");
    // A deadline already passed.
    let late = QueryOptions {
        timeout: Duration::ZERO,
        ..opts()
    };
    std::thread::sleep(Duration::from_millis(2));
    let e = err(instant_query(&m, "g", 0, &late));
    assert_eq!(e.error_type(), "timeout");
    // Syntax and unsupported constructs are bad_data naming the problem.
    let e = err(instant_query(&m, "rate(g[5m]", 0, &o));
    assert_eq!(e.error_type(), "bad_data");
    // Located as Prometheus locates it: line:column within the expression.
    assert_eq!(
        e.message(),
        "invalid parameter \"query\": 1:11: parse error: unclosed left parenthesis"
    );
    let e = err(instant_query(&m, "holt_winters(g[5m], 0.5, 0.5)", 0, &o));
    assert_eq!(e.error_type(), "bad_data");
    let e = err(instant_query(&m, "mad_over_time(g[5m])", 0, &o));
    assert!(e.message().contains("mad_over_time"), "{e}");
    let e = err(instant_query(&m, "sum(g[5m])", 0, &o));
    assert_eq!(e.error_type(), "bad_data");
}

#[test]
fn json_of_a_query_result() {
    let mut m = MemStorage::new();
    m.add(&[("__name__", "up"), ("job", "node")], 0, 1.0);
    let v = instant_query(&m, "up", 1_500, &opts()).unwrap();
    assert_eq!(
        mno_promql::json::render_success(&v),
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"node"},"value":[1.500,"1"]}]}}"#
    );
}
