//! Query errors, classified the way Prometheus' HTTP API classifies them.

use crate::storage::StorageError;

/// Why a query produced no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The request or the expression is wrong (HTTP 400, `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// The query ran past its deadline (HTTP 503, `timeout`).
    #[error("{0}")]
    Timeout(String),
    /// The expression is valid but cannot be evaluated on this data (HTTP 422, `execution`).
    #[error("{0}")]
    Execution(String),
    /// The store failed (HTTP 500, `internal`).
    #[error("{0}")]
    Storage(String),
}

impl QueryError {
    /// The Prometheus `errorType` of this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::BadData(_) => "bad_data",
            QueryError::Timeout(_) => "timeout",
            QueryError::Execution(_) => "execution",
            QueryError::Storage(_) => "internal",
        }
    }

    /// The HTTP status Prometheus answers this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            QueryError::BadData(_) => 400,
            QueryError::Timeout(_) => 503,
            QueryError::Execution(_) => 422,
            QueryError::Storage(_) => 500,
        }
    }

    /// The message without its classification.
    pub fn message(&self) -> &str {
        match self {
            QueryError::BadData(m)
            | QueryError::Timeout(m)
            | QueryError::Execution(m)
            | QueryError::Storage(m) => m,
        }
    }
}

impl From<StorageError> for QueryError {
    fn from(e: StorageError) -> Self {
        QueryError::Storage(e.to_string())
    }
}

/// Shorthand for an execution error.
pub(crate) fn exec(msg: impl Into<String>) -> QueryError {
    QueryError::Execution(msg.into())
}

/// Prometheus' message for the sample budget.
pub(crate) fn too_many_samples() -> QueryError {
    exec("query processing would load too many samples into memory in query execution")
}

/// Prometheus' message for two output series with one label set.
pub(crate) fn duplicate_labelset() -> QueryError {
    exec("vector cannot contain metrics with the same labelset")
}
