//! JSON in the exact shapes of Prometheus' HTTP API: values as strings,
//! timestamps as float seconds, `{"status":"success","data":…}` envelopes.

use std::fmt::Write;

use crate::error::QueryError;
use crate::value::Value;

pub use crate::gomath::format_float;

/// A millisecond timestamp as Prometheus writes it: seconds, then `.` and
/// three digits when the milliseconds are not zero (`1435781451.781`, `1435781451`).
pub fn format_timestamp(ms: i64) -> String {
    let mut s = String::new();
    push_timestamp(&mut s, ms);
    s
}

fn push_timestamp(out: &mut String, ms: i64) {
    let abs = ms.unsigned_abs();
    if ms < 0 {
        out.push('-');
    }
    let mut buf = itoa::Buffer::new();
    out.push_str(buf.format(abs / 1000));
    let frac = abs % 1000;
    if frac != 0 {
        out.push('.');
        if frac < 100 {
            out.push('0');
        }
        if frac < 10 {
            out.push('0');
        }
        out.push_str(buf.format(frac));
    }
}

/// Append a value as [`format_float`] writes it, without allocating.
fn push_float(out: &mut String, v: f64) {
    crate::gomath::write_float(out, v);
}

fn push_str(out: &mut String, s: &str) {
    // serde_json's escaping of a str cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string()));
}

/// A label set as a JSON object (`{"__name__":"up","job":"x"}`).
pub fn push_labels(out: &mut String, labels: &[(String, String)]) {
    out.push('{');
    for (i, (n, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, n);
        out.push(':');
        push_str(out, v);
    }
    out.push('}');
}

fn push_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    push_timestamp(out, t);
    out.push_str(",\"");
    // Written in place: a matrix can hold 10^5+ points, one allocation each adds up.
    push_float(out, v);
    out.push_str("\"]");
}

/// The `data` object of a query response: `{"resultType":…,"result":…}`.
pub fn render_data(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "{{\"resultType\":\"{}\",\"result\":",
        value.result_type()
    );
    match value {
        Value::Scalar { t, v } => push_point(&mut out, *t, *v),
        Value::String { t, v } => {
            out.push('[');
            push_timestamp(&mut out, *t);
            out.push(',');
            push_str(&mut out, v);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                push_labels(&mut out, &s.labels);
                out.push_str(",\"value\":");
                push_point(&mut out, s.t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            let points: usize = series.iter().map(|s| s.samples.len()).sum();
            out.reserve(points * 24);
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                push_labels(&mut out, &s.labels);
                out.push_str(",\"values\":[");
                for (j, (t, v)) in s.samples.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_point(&mut out, *t, *v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
    out
}

/// A success envelope around already-rendered `data` JSON.
pub fn success(data_json: &str) -> String {
    format!("{{\"status\":\"success\",\"data\":{data_json}}}")
}

/// A complete success response for a query result.
pub fn render_success(value: &Value) -> String {
    success(&render_data(value))
}

/// An error envelope: `{"status":"error","errorType":…,"error":…}`.
pub fn error(error_type: &str, message: &str) -> String {
    let mut out = String::from("{\"status\":\"error\",\"errorType\":");
    push_str(&mut out, error_type);
    out.push_str(",\"error\":");
    push_str(&mut out, message);
    out.push('}');
    out
}

/// The error envelope for a query error.
pub fn render_error(err: &QueryError) -> String {
    error(err.error_type(), err.message())
}

/// A JSON array of strings (label names or values).
pub fn string_array(items: &[String]) -> String {
    let mut out = String::from("[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(&mut out, s);
    }
    out.push(']');
    out
}

/// A JSON array of label-set objects (the `/api/v1/series` data).
pub fn label_sets(sets: &[Vec<(String, String)>]) -> String {
    let mut out = String::from("[");
    for (i, s) in sets.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_labels(&mut out, s);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SeriesData;
    use crate::value::InstantSample;

    fn l(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn timestamps_like_prometheus() {
        assert_eq!(format_timestamp(1_435_781_451_781), "1435781451.781");
        assert_eq!(format_timestamp(1_435_781_451_000), "1435781451");
        assert_eq!(format_timestamp(1_500), "1.500");
        assert_eq!(format_timestamp(1_005), "1.005");
        assert_eq!(format_timestamp(-1_500), "-1.500");
    }

    #[test]
    fn floats_round_trip_without_exponents() {
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut vals = vec![
            0.0,
            -0.0,
            1.0,
            0.1,
            1e21,
            1e-7,
            123456789.0,
            2.5e15,
            1e16,
            5e-324,
            f64::MAX,
            -1e300,
        ];
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            vals.push(f64::from_bits(rng));
            vals.push((rng % 1_000_000) as f64 / 100.0);
        }
        for v in vals.into_iter().filter(|v| v.is_finite()) {
            let mut s = String::new();
            push_float(&mut s, v);
            // Shortest round-trip digits, never an exponent (Go's 'f', -1).
            assert_eq!(s.parse::<f64>().ok(), Some(v), "{s}");
            assert!(!s.contains(['e', 'E']), "{s}");
            assert_eq!(s, format_float(v));
        }
    }

    #[test]
    fn shapes() {
        let v = Value::Scalar { t: 1000, v: 2.5 };
        assert_eq!(
            render_success(&v),
            r#"{"status":"success","data":{"resultType":"scalar","result":[1,"2.5"]}}"#
        );
        let v = Value::Vector(vec![InstantSample {
            labels: l(&[("__name__", "up"), ("job", "a\"b")]),
            t: 1500,
            v: f64::INFINITY,
        }]);
        assert_eq!(
            render_data(&v),
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b"},"value":[1.500,"+Inf"]}]}"#
        );
        let v = Value::Matrix(vec![SeriesData {
            labels: vec![],
            samples: vec![(0, 1.0), (15_000, f64::NAN)],
        }]);
        assert_eq!(
            render_data(&v),
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[0,"1"],[15,"NaN"]]}]}"#
        );
        let v = Value::String {
            t: 0,
            v: "x".into(),
        };
        assert_eq!(
            render_data(&v),
            r#"{"resultType":"string","result":[0,"x"]}"#
        );
        let e = QueryError::BadData("nope".into());
        assert_eq!(
            render_error(&e),
            r#"{"status":"error","errorType":"bad_data","error":"nope"}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&render_error(&e)).unwrap();
        assert_eq!(parsed["errorType"], "bad_data");
    }
}
