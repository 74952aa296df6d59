//! Rendering a batch in the Prometheus text format 0.0.4 and OpenMetrics 1.0.
//!
//! Why not `prometheus-client` or `prometheus`: the first writes only
//! OpenMetrics, the second only 0.0.4, and both want metric objects
//! registered up front, while our input is a batch of families built fresh
//! each tick. Both formats are rendered once per tick (plus their gzip
//! forms) and every scrape is served from those bytes: a scrape costs a
//! reference-count increment, never a read of /proc.

use std::fmt::Write as _;
use std::io::Write as _;

use bytes::Bytes;

use crate::metrics::{Batch, Family, MetricType};

/// Content type of the text format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics 1.0.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A batch rendered in both formats, plain and gzip-compressed.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Text format 0.0.4.
    pub text: Bytes,
    /// Text format 0.0.4, gzip.
    pub text_gz: Bytes,
    /// OpenMetrics 1.0.
    pub openmetrics: Bytes,
    /// OpenMetrics 1.0, gzip.
    pub openmetrics_gz: Bytes,
}

impl Rendered {
    /// Render `batch` in both formats.
    pub fn new(batch: &Batch) -> Rendered {
        // The bodies are kept for a whole tick (and by every response in flight): without
        // the capacity their size estimate left over (about 2.5 times the body on a host).
        let mut text = render_text(&batch.families);
        text.shrink_to_fit();
        let mut om = render_openmetrics(&batch.families);
        om.shrink_to_fit();
        Rendered {
            text_gz: gzip(text.as_bytes()),
            openmetrics_gz: gzip(om.as_bytes()),
            text: Bytes::from(text),
            openmetrics: Bytes::from(om),
        }
    }
}

fn gzip(data: &[u8]) -> Bytes {
    // Fast compression: this runs once per tick, and the output is a few kilobytes.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let ok = enc.write_all(data).is_ok();
    match enc.finish() {
        Ok(v) if ok => Bytes::from(v),
        _ => Bytes::new(),
    }
}

fn escape_help(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_label(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn write_value(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

fn write_samples(name: &str, f: &Family, out: &mut String) {
    for s in &f.samples {
        out.push_str(name);
        if !s.labels.is_empty() {
            out.push('{');
            for (i, (k, v)) in s.labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push_str("=\"");
                escape_label(v, out);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        write_value(s.value, out);
        out.push('\n');
    }
}

/// Render families in the Prometheus text format 0.0.4.
pub fn render_text(families: &[Family]) -> String {
    let mut out = String::with_capacity(families.len() * 256);
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        out.push_str("# HELP ");
        out.push_str(&f.name);
        out.push(' ');
        escape_help(&f.help, &mut out);
        out.push_str("\n# TYPE ");
        out.push_str(&f.name);
        out.push(' ');
        out.push_str(f.kind.as_str());
        out.push('\n');
        write_samples(&f.name, f, &mut out);
    }
    out
}

/// Render families in OpenMetrics 1.0 (counter families are named without `_total`).
pub fn render_openmetrics(families: &[Family]) -> String {
    let mut out = String::with_capacity(families.len() * 256);
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let (family_name, kind) = match f.kind {
            MetricType::Counter => match f.name.strip_suffix("_total") {
                Some(base) => (base, "counter"),
                // OpenMetrics requires the suffix; a counter without it is exposed as unknown.
                None => (f.name.as_str(), "unknown"),
            },
            MetricType::Gauge => (f.name.as_str(), "gauge"),
            MetricType::Untyped => (f.name.as_str(), "unknown"),
        };
        out.push_str("# TYPE ");
        out.push_str(family_name);
        out.push(' ');
        out.push_str(kind);
        out.push_str("\n# HELP ");
        out.push_str(family_name);
        out.push(' ');
        escape_label(&f.help, &mut out);
        out.push('\n');
        write_samples(&f.name, f, &mut out);
    }
    out.push_str("# EOF\n");
    out
}

/// Whether an `Accept` header asks for OpenMetrics (as Prometheus does when it can parse it).
pub fn wants_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let mut it = part.split(';');
        let media = it.next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/openmetrics-text") {
            return false;
        }
        // A q=0 entry refuses the type.
        !it.any(|p| {
            let p = p.trim();
            p.starts_with("q=") && p[2..].parse::<f32>().map(|q| q == 0.0).unwrap_or(false)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fams() -> Vec<Family> {
        let mut c = Family::counter(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
        );
        c.push(&[("cpu", "0"), ("mode", "idle")], 12.5);
        let g = Family::gauge("mno_weird", "Help with \\ and\nnewline.")
            .with(&[("path", "a\"b\\c\nd")], f64::NAN);
        let empty = Family::gauge("mno_empty", "No samples.");
        vec![c, g, empty]
    }

    #[test]
    fn text_format_escapes_and_types() {
        let t = render_text(&fams());
        assert_eq!(
            t,
            "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n\
             # TYPE node_cpu_seconds_total counter\n\
             node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n\
             # HELP mno_weird Help with \\\\ and\\nnewline.\n\
             # TYPE mno_weird gauge\n\
             mno_weird{path=\"a\\\"b\\\\c\\nd\"} NaN\n"
        );
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let t = render_openmetrics(&fams());
        assert!(t.starts_with("# TYPE node_cpu_seconds counter\n# HELP node_cpu_seconds "));
        assert!(t.contains("\nnode_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n"));
        assert!(t.ends_with("# EOF\n"));
        assert!(!t.contains("mno_empty"));
    }

    #[test]
    fn accept_negotiation() {
        assert!(wants_openmetrics(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(!wants_openmetrics("text/plain"));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
    }

    #[test]
    fn gzip_round_trips() {
        let b = Batch {
            collected_at: std::time::SystemTime::now(),
            families: fams(),
        };
        let r = Rendered::new(&b);
        let mut d = flate2::read::GzDecoder::new(&r.text_gz[..]);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut d, &mut s).unwrap();
        assert_eq!(s.as_bytes(), &r.text[..]);
    }
}
