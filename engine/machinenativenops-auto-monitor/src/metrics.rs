//! The sample model every collector produces and every consumer reads.
//!
//! A collection tick yields one [`Batch`]: metric families with their samples.
//! The batch is immutable once built and shared behind an `Arc`; `/metrics`,
//! the store and the alert evaluator all read the same one.

use std::time::SystemTime;

/// Prometheus metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    /// Monotonic counter; its name ends in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Type not known (node_exporter's vmstat fields, for instance).
    Untyped,
}

impl MetricType {
    /// The word used on `# TYPE` lines of the text format.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Untyped => "untyped",
        }
    }
}

/// One labelled value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Label pairs in a stable order (the order they were pushed).
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// A named metric with its help text, type and samples.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Family {
    /// Full sample name (counters include the `_total` suffix).
    pub name: String,
    /// One-line help text.
    pub help: String,
    /// Metric type.
    #[serde(rename = "type")]
    pub kind: MetricType,
    /// The samples.
    pub samples: Vec<Sample>,
}

impl Family {
    /// A new, empty family.
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: MetricType) -> Family {
        Family {
            name: name.into(),
            help: help.into(),
            kind,
            samples: Vec::new(),
        }
    }

    /// A new gauge family.
    pub fn gauge(name: impl Into<String>, help: impl Into<String>) -> Family {
        Family::new(name, help, MetricType::Gauge)
    }

    /// A new counter family (`name` must end in `_total`).
    pub fn counter(name: impl Into<String>, help: impl Into<String>) -> Family {
        Family::new(name, help, MetricType::Counter)
    }

    /// A new untyped family.
    pub fn untyped(name: impl Into<String>, help: impl Into<String>) -> Family {
        Family::new(name, help, MetricType::Untyped)
    }

    /// Add a sample with the given labels.
    pub fn push(&mut self, labels: &[(&str, &str)], value: f64) {
        self.samples.push(Sample {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
        });
    }

    /// Add a sample and return the family (builder style, for single-sample families).
    pub fn with(mut self, labels: &[(&str, &str)], value: f64) -> Family {
        self.push(labels, value);
        self
    }

    /// The value of the first sample whose labels include all of `matchers`.
    pub fn value(&self, matchers: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                matchers
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|s| s.value)
    }
}

/// Everything one collection tick produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Batch {
    /// When the tick started.
    #[serde(serialize_with = "ser_time")]
    pub collected_at: SystemTime,
    /// The families, in collector order.
    pub families: Vec<Family>,
}

fn ser_time<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    s.serialize_f64(secs)
}

impl Batch {
    /// The family named `name`, if present.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }
}
