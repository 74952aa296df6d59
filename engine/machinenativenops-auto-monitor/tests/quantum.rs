//! The quantum collector on calibration files in Qiskit's BackendProperties format
//! (tests/fixtures/quantum, made from the documented format): every figure the agent exports
//! equals the value worked out by hand from the file, units converted; a malformed entry fails
//! on its own; a service served over HTTP is read like a file.

mod common;
use common::*;
use std::collections::BTreeMap;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/quantum/");

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

struct Out(BTreeMap<String, ParsedFamily>);

impl Out {
    /// The value of the one sample of `name` whose labels include `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let f = self
            .0
            .get(name)
            .unwrap_or_else(|| panic!("no family {name}"));
        let hits: Vec<f64> = f
            .samples
            .iter()
            .filter(|(l, _)| {
                labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
            })
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(hits.len(), 1, "{name}{labels:?}: {hits:?}");
        hits[0]
    }
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        self.0.get(name).map_or(0, |f| {
            f.samples
                .iter()
                .filter(|(l, _)| {
                    labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
                })
                .count()
        })
    }
    fn assert(&self, name: &str, labels: &[(&str, &str)], want: f64) {
        let got = self.get(name, labels);
        assert!(close(got, want), "{name}{labels:?} = {got}, want {want}");
    }
}

fn collect(services_yaml: &str) -> Out {
    let (_d, cfg) = config_file(&format!(
        "collectors:\n  cpu: false\n  diskstats: false\n  filesystem: false\n  netdev: false\n\
         quantum:\n  enabled: true\n  timeout: 5\n  services:\n{services_yaml}"
    ));
    let o = run(
        &["--config", cfg.to_str().unwrap(), "collect", "--once"],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    if let Some(promtool) = tool("promtool") {
        let out = promtool_check(&promtool, &text);
        assert!(out.0 != 1, "promtool cannot parse our output: {}", out.1);
    }
    Out(parse_text(&text))
}

fn promtool_check(promtool: &std::path::Path, text: &str) -> (i32, String) {
    let o = mno_testkit::promtool_check_metrics(promtool, text);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

#[test]
fn falcon_5q_figures_match_the_hand_computed_values() {
    let out = collect(&format!("    falcon: {FIXTURES}falcon_5q.json\n"));
    let s = ("service", "falcon");
    let b = ("backend", "mno_test_falcon_5q");
    out.assert("mno_quantum_calibration_success", &[s], 1.0);
    // Per qubit, as in the file (µs, GHz).
    let q = [
        (112.45, 89.32, 5.2369, 0.0214),
        (145.03, 121.87, 5.0977, 0.0087),
        (98.76, 154.20, 5.1562, 0.0131),
        (171.34, 48.55, 5.2904, 0.0062),
        (60.12, 77.03, 5.0121, 0.0395),
    ];
    for (i, (t1, t2, f, ro)) in q.iter().enumerate() {
        let i = i.to_string();
        let l = [s, b, ("qubit", i.as_str())];
        out.assert("mno_quantum_qubit_t1_microseconds", &l, *t1);
        out.assert("mno_quantum_qubit_t2_microseconds", &l, *t2);
        out.assert("mno_quantum_qubit_frequency_gigahertz", &l, *f);
        out.assert("mno_quantum_qubit_readout_error", &l, *ro);
    }
    assert_eq!(out.count("mno_quantum_qubit_t1_microseconds", &[b]), 5);
    out.assert("mno_quantum_backend_qubits", &[b], 5.0);
    // Medians: T1 sorted 60.12 98.76 [112.45] 145.03 171.34; T2 48.55 77.03 [89.32] 121.87
    // 154.20; readout 0.0062 0.0087 [0.0131] 0.0214 0.0395.
    out.assert("mno_quantum_backend_t1_median_microseconds", &[b], 112.45);
    out.assert("mno_quantum_backend_t2_median_microseconds", &[b], 89.32);
    out.assert("mno_quantum_backend_readout_error_median", &[b], 0.0131);
    // Below 100 µs: q0 (T2 89.32), q2 (T1 98.76), q3 (T2 48.55), q4 (both) = 4.
    out.assert(
        "mno_quantum_backend_qubits_below_coherence_threshold",
        &[b],
        4.0,
    );
    // Readout error above 0.01: q0, q2, q4 = 3.
    out.assert(
        "mno_quantum_backend_qubits_above_error_threshold",
        &[b],
        3.0,
    );
    // Gates: error and fidelity = 1 - error; lengths in ns.
    let cx = |qs: &'static str| [b, ("gate", "cx"), ("qubits", qs)];
    out.assert("mno_quantum_gate_error", &cx("3_4"), 0.0715);
    out.assert("mno_quantum_gate_fidelity", &cx("3_4"), 0.9285);
    out.assert("mno_quantum_gate_fidelity", &cx("0_1"), 0.99288);
    out.assert("mno_quantum_gate_length_nanoseconds", &cx("1_2"), 419.556);
    out.assert(
        "mno_quantum_gate_length_nanoseconds",
        &[b, ("gate", "sx"), ("qubits", "4")],
        35.55555555555556,
    );
    out.assert(
        "mno_quantum_gate_error",
        &[b, ("gate", "sx"), ("qubits", "4")],
        0.00112,
    );
    // reset has a length and no error.
    out.assert(
        "mno_quantum_gate_length_nanoseconds",
        &[b, ("gate", "reset"), ("qubits", "2")],
        5696.0,
    );
    assert_eq!(out.count("mno_quantum_gate_error", &[("gate", "reset")]), 0);
    // rz, sx, x on 5 qubits + 8 cx = 23 errors; + 5 resets = 28 lengths.
    assert_eq!(out.count("mno_quantum_gate_error", &[b]), 23);
    assert_eq!(out.count("mno_quantum_gate_fidelity", &[b]), 23);
    assert_eq!(out.count("mno_quantum_gate_length_nanoseconds", &[b]), 28);
    // Medians per gate type: cx errors 0.00712 0.00712 0.00956 [0.00956 0.01243] 0.01243
    // 0.0715 0.0715 -> 0.010995; sx 0.000187 0.000213 [0.000256] 0.000342 0.00112.
    out.assert(
        "mno_quantum_backend_gate_error_median",
        &[b, ("gate", "cx")],
        0.010995,
    );
    out.assert(
        "mno_quantum_backend_gate_fidelity_median",
        &[b, ("gate", "cx")],
        0.989005,
    );
    out.assert(
        "mno_quantum_backend_gate_error_median",
        &[b, ("gate", "sx")],
        0.000256,
    );
    out.assert(
        "mno_quantum_backend_gate_error_median",
        &[b, ("gate", "rz")],
        0.0,
    );
    // Above 0.01: cx1_3, cx3_1, cx3_4, cx4_3; fidelity below 0.94: cx3_4, cx4_3.
    out.assert("mno_quantum_backend_gates_above_error_threshold", &[b], 4.0);
    out.assert(
        "mno_quantum_backend_gates_below_fidelity_threshold",
        &[b],
        2.0,
    );
    // 2026-11-28T04:13:51+00:00.
    out.assert(
        "mno_quantum_calibration_timestamp_seconds",
        &[b],
        1_795_839_231.0,
    );
    out.assert("mno_collector_success", &[("collector", "quantum")], 1.0);
}

#[test]
fn units_are_converted_and_bad_entries_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(
        &garbage,
        "{\"backend_name\": \"x\",\n  \"qubits\": [[{\"name\": }]]}\n",
    )
    .unwrap();
    let out = collect(&format!(
        "    eagle: file://{FIXTURES}eagle_3q_mixed_units.json\n\
         \x20   broken: {FIXTURES}missing_t1.json\n\
         \x20   garbage: {}\n\
         \x20   absent: {}\n",
        garbage.display(),
        dir.path().join("absent.json").display()
    ));
    let b = ("backend", "mno_test_eagle_3q");
    // T1 95400 ns, 0.000210 s, 0.152 ms; T2 0.1312 ms, 180500 ns, 0.00009 s;
    // frequency 4971.3 MHz, 5.0834e9 Hz, 5123400 kHz.
    let want = [
        (95.4, 131.2, 4.9713),
        (210.0, 180.5, 5.0834),
        (152.0, 90.0, 5.1234),
    ];
    for (i, (t1, t2, f)) in want.iter().enumerate() {
        let i = i.to_string();
        let l = [b, ("qubit", i.as_str())];
        out.assert("mno_quantum_qubit_t1_microseconds", &l, *t1);
        out.assert("mno_quantum_qubit_t2_microseconds", &l, *t2);
        out.assert("mno_quantum_qubit_frequency_gigahertz", &l, *f);
    }
    out.assert("mno_quantum_backend_t1_median_microseconds", &[b], 152.0);
    out.assert("mno_quantum_backend_t2_median_microseconds", &[b], 131.2);
    out.assert("mno_quantum_backend_readout_error_median", &[b], 0.0093);
    // q0 (T1 95.4) and q2 (T2 90) are below 100 µs; only q0's readout (0.018) is above 0.01.
    out.assert(
        "mno_quantum_backend_qubits_below_coherence_threshold",
        &[b],
        2.0,
    );
    out.assert(
        "mno_quantum_backend_qubits_above_error_threshold",
        &[b],
        1.0,
    );
    // Gate lengths: 0.0355 us, 35.5 ns, 3.55e-08 s, 0.66 us, 5.33e-07 s.
    for (g, qs, len) in [
        ("sx", "0", 35.5),
        ("sx", "1", 35.5),
        ("sx", "2", 35.5),
        ("ecr", "0_1", 660.0),
        ("ecr", "1_2", 533.0),
    ] {
        out.assert(
            "mno_quantum_gate_length_nanoseconds",
            &[b, ("gate", g), ("qubits", qs)],
            len,
        );
    }
    out.assert(
        "mno_quantum_backend_gate_error_median",
        &[b, ("gate", "ecr")],
        0.00895,
    );
    out.assert("mno_quantum_backend_gates_above_error_threshold", &[b], 1.0);
    out.assert(
        "mno_quantum_backend_gates_below_fidelity_threshold",
        &[b],
        0.0,
    );
    // 2026-11-29T22:47:05.123+01:00.
    out.assert(
        "mno_quantum_calibration_timestamp_seconds",
        &[b],
        1_795_988_825.123,
    );
    // The bad entries fail on their own; the collector and the good entry carry on.
    for (svc, ok) in [
        ("eagle", 1.0),
        ("broken", 0.0),
        ("garbage", 0.0),
        ("absent", 0.0),
    ] {
        out.assert("mno_quantum_calibration_success", &[("service", svc)], ok);
    }
    assert_eq!(
        out.count(
            "mno_quantum_backend_qubits",
            &[("backend", "mno_test_broken_3q")]
        ),
        0
    );
    out.assert("mno_collector_success", &[("collector", "quantum")], 1.0);
}

#[test]
fn services_are_fetched_over_http() {
    use std::io::{Read, Write};
    let body = std::fs::read_to_string(format!("{FIXTURES}eagle_3q_mixed_units.json"))
        .unwrap()
        .replace("mno_test_eagle_3q", "mno_test_http_3q");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        // Two requests: /props (200) and /missing (404), in either order.
        for _ in 0..2 {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let resp = if req.starts_with("GET /props ") {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into()
            };
            let _ = s.write_all(resp.as_bytes());
        }
    });
    let out = collect(&format!(
        "    remote: http://127.0.0.1:{port}/props\n    gone: http://127.0.0.1:{port}/missing\n"
    ));
    server.join().unwrap();
    out.assert(
        "mno_quantum_calibration_success",
        &[("service", "remote")],
        1.0,
    );
    out.assert(
        "mno_quantum_calibration_success",
        &[("service", "gone")],
        0.0,
    );
    out.assert(
        "mno_quantum_backend_t1_median_microseconds",
        &[("backend", "mno_test_http_3q")],
        152.0,
    );
}

#[test]
fn default_rules_follow_the_quantum_thresholds() {
    let (_d, cfg) = config_file(
        "quantum:\n  enabled: true\n  fidelity_threshold: 0.97\n  coherence_time_threshold: 80\n  error_rate_threshold: 0.02\n",
    );
    let o = run(&["--config", cfg.to_str().unwrap(), "rules", "check"], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lib =
        machinenativenops_auto_monitor::config::load(Some(&cfg), &|_| None, &Default::default())
            .unwrap();
    let specs = machinenativenops_auto_monitor::alerts::rules::default_specs(&lib.config);
    let expr = |n: &str| {
        specs
            .iter()
            .find(|s| s.alert.as_deref() == Some(n))
            .and_then(|s| s.expr.clone())
            .unwrap_or_else(|| panic!("no rule {n}"))
    };
    assert_eq!(
        expr("QuantumGateFidelityLow"),
        "mno_quantum_gate_fidelity < 0.97"
    );
    assert_eq!(
        expr("QuantumCoherenceTimeLow"),
        "mno_quantum_backend_t1_median_microseconds < 80"
    );
    assert_eq!(
        expr("QuantumDephasingTimeLow"),
        "mno_quantum_backend_t2_median_microseconds < 80"
    );
    assert_eq!(
        expr("QuantumReadoutErrorHigh"),
        "mno_quantum_backend_readout_error_median > 0.02"
    );
    assert_eq!(
        expr("QuantumGateErrorHigh"),
        "mno_quantum_backend_gate_error_median > 0.02"
    );
    assert_eq!(
        expr("QuantumCalibrationFailed"),
        "mno_quantum_calibration_success == 0"
    );
    // Off while the collector is off.
    let off = machinenativenops_auto_monitor::config::MonitorConfig::default();
    assert!(
        !machinenativenops_auto_monitor::alerts::rules::default_specs(&off)
            .iter()
            .any(|s| s.alert.as_deref().is_some_and(|a| a.starts_with("Quantum")))
    );
}

#[test]
fn bad_service_urls_are_config_errors() {
    let (_d, cfg) = config_file("quantum:\n  enabled: true\n  services:\n    x: ftp://q/props\n");
    let o = run(
        &["--config", cfg.to_str().unwrap(), "config", "validate"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("quantum.services.x"), "{err}");
    assert!(err.contains(":4:"), "{err}");
}
