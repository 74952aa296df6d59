//! Query results, shaped like Prometheus' `resultType`s.

use crate::storage::SeriesData;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// Labels sorted by name (`__name__` included when the expression keeps it).
    pub labels: Vec<(String, String)>,
    /// Evaluation timestamp in milliseconds.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A single number (`resultType: scalar`).
    Scalar {
        /// Evaluation timestamp in milliseconds.
        t: i64,
        /// Value.
        v: f64,
    },
    /// A string literal (`resultType: string`).
    String {
        /// Evaluation timestamp in milliseconds.
        t: i64,
        /// Value.
        v: String,
    },
    /// An instant vector (`resultType: vector`).
    Vector(Vec<InstantSample>),
    /// A range vector or a range query's result (`resultType: matrix`), sorted by labels.
    Matrix(Vec<SeriesData>),
}

impl Value {
    /// The Prometheus `resultType` name.
    pub fn result_type(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}
