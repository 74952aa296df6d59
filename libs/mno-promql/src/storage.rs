//! The boundary between the evaluator and whatever holds the samples.

/// How a label matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored, as in Prometheus)
    Regex,
    /// `!~` (fully anchored)
    NotRegex,
}

/// One label matcher; the metric name is matched as the label `__name__`.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
    /// Value or regular expression source.
    pub value: String,
    /// Compiled, anchored regex for `Regex`/`NotRegex`.
    pub regex: Option<regex::Regex>,
}

impl Matcher {
    /// Build a matcher; regexes are anchored (`^(?:…)$`) like Prometheus'.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, regex::Error> {
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(regex::Regex::new(&format!("^(?:{value})$"))?)
            }
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// Whether a label value (empty when the label is absent) matches.
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

/// A series and its samples in a time range.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    /// Labels sorted by name, including `__name__`.
    pub labels: Vec<(String, String)>,
    /// (timestamp in milliseconds, value), ascending by timestamp.
    pub samples: Vec<(i64, f64)>,
}

/// Why the storage could not answer.
#[derive(Debug, thiserror::Error)]
#[error("storage: {0}")]
pub struct StorageError(pub String);

/// Read access to series, as the evaluator and the metadata endpoints need it.
///
/// An empty matcher list selects every series (the metadata endpoints use it
/// for `/api/v1/labels` without `match[]`).
pub trait Storage: Send + Sync {
    /// Series matching every matcher, with their samples in `[start_ms, end_ms]`.
    fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SeriesData>, StorageError>;

    /// Label sets (no samples) of series matching every matcher with data in the range.
    fn series(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Vec<(String, String)>>, StorageError> {
        Ok(self
            .select(matchers, start_ms, end_ms)?
            .into_iter()
            .map(|s| s.labels)
            .collect())
    }

    /// Like [`Storage::select`], but gives up with [`SelectError::TooManySamples`]
    /// once more than `max_samples` samples would be returned, so a query over a
    /// huge range fails cleanly instead of exhausting memory. The provided
    /// version selects everything first; a store that can count as it reads
    /// should override it and stop early.
    fn select_limited(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
        max_samples: usize,
    ) -> Result<Vec<SeriesData>, SelectError> {
        let out = self.select(matchers, start_ms, end_ms)?;
        let total: usize = out.iter().map(|s| s.samples.len()).sum();
        if total > max_samples {
            return Err(SelectError::TooManySamples);
        }
        Ok(out)
    }

    /// Sorted, distinct label names of series matching every matcher with data in the range.
    fn label_names(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, StorageError> {
        let mut names: Vec<String> = self
            .series(matchers, start_ms, end_ms)?
            .into_iter()
            .flat_map(|ls| ls.into_iter().map(|(n, _)| n))
            .collect();
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    /// Sorted, distinct non-empty values of label `name` among series matching
    /// every matcher with data in the range.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, StorageError> {
        Ok(distinct_label_values(
            self.series(matchers, start_ms, end_ms)?,
            name,
        ))
    }
}

/// Sorted, distinct non-empty values of label `name` among `label_sets`.
pub fn distinct_label_values(label_sets: Vec<Vec<(String, String)>>, name: &str) -> Vec<String> {
    let mut values: Vec<String> = label_sets
        .into_iter()
        .filter_map(|ls| ls.into_iter().find(|(n, _)| n == name).map(|(_, v)| v))
        .filter(|v| !v.is_empty())
        .collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// Why [`Storage::select_limited`] returned nothing.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// More samples than the caller's budget matched.
    #[error("too many samples")]
    TooManySamples,
}
