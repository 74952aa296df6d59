//! An in-memory [`Storage`]: test fixtures, benchmarks, and alert rules that
//! evaluate on the latest batch.

use std::collections::HashMap;

use crate::storage::{Matcher, SelectError, SeriesData, Storage, StorageError};

/// Series held in memory, each with its samples ascending by time.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    series: Vec<SeriesData>,
    index: HashMap<Vec<(String, String)>, usize>,
}

impl MemStorage {
    /// An empty store.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// A store holding `series`; labels and samples are sorted, empty label
    /// values dropped, and series with the same labels merged.
    pub fn from_series(series: Vec<SeriesData>) -> MemStorage {
        let mut m = MemStorage::new();
        for s in series {
            for (t, v) in s.samples {
                m.push_owned(s.labels.clone(), t, v);
            }
        }
        m.finish();
        m
    }

    /// Add one sample (call [`MemStorage::finish`] after adding out of order).
    pub fn add(&mut self, labels: &[(&str, &str)], t: i64, v: f64) {
        let ls = labels
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        self.push_owned(ls, t, v);
    }

    /// Add one sample with owned labels (call [`MemStorage::finish`] after adding out of order).
    pub fn push_owned(&mut self, mut labels: Vec<(String, String)>, t: i64, v: f64) {
        labels.retain(|(_, v)| !v.is_empty());
        labels.sort();
        let i = match self.index.get(&labels) {
            Some(&i) => i,
            None => {
                self.series.push(SeriesData {
                    labels: labels.clone(),
                    samples: Vec::new(),
                });
                self.index.insert(labels, self.series.len() - 1);
                self.series.len() - 1
            }
        };
        self.series[i].samples.push((t, v));
    }

    /// Sort every series' samples by time, keeping the last of equal timestamps.
    pub fn finish(&mut self) {
        for s in &mut self.series {
            if s.samples.windows(2).any(|w| w[0].0 >= w[1].0) {
                s.samples.sort_by_key(|(t, _)| *t);
                // dedup_by keeps the first of a run; reverse so the last one added wins.
                s.samples.reverse();
                s.samples.dedup_by_key(|(t, _)| *t);
                s.samples.reverse();
            }
        }
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether the store holds no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Total number of samples.
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    /// Every series.
    pub fn series_data(&self) -> &[SeriesData] {
        &self.series
    }

    fn matching<'a>(
        &'a self,
        matchers: &'a [Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> impl Iterator<Item = (&'a SeriesData, &'a [(i64, f64)])> + 'a {
        self.series.iter().filter_map(move |s| {
            let ok = matchers.iter().all(|m| {
                let v = s
                    .labels
                    .iter()
                    .find(|(n, _)| *n == m.name)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("");
                m.matches(v)
            });
            if !ok {
                return None;
            }
            let lo = s.samples.partition_point(|(t, _)| *t < start_ms);
            let hi = s.samples.partition_point(|(t, _)| *t <= end_ms);
            (lo < hi).then(|| (s, &s.samples[lo..hi]))
        })
    }
}

impl Storage for MemStorage {
    fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SeriesData>, StorageError> {
        let mut out: Vec<SeriesData> = self
            .matching(matchers, start_ms, end_ms)
            .map(|(s, samples)| SeriesData {
                labels: s.labels.clone(),
                samples: samples.to_vec(),
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    fn select_limited(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
        max_samples: usize,
    ) -> Result<Vec<SeriesData>, SelectError> {
        // Count before copying anything, so an over-budget query allocates nothing.
        let total: usize = self
            .matching(matchers, start_ms, end_ms)
            .map(|(_, s)| s.len())
            .sum();
        if total > max_samples {
            return Err(SelectError::TooManySamples);
        }
        Ok(self.select(matchers, start_ms, end_ms)?)
    }

    fn series(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Vec<(String, String)>>, StorageError> {
        let mut out: Vec<_> = self
            .matching(matchers, start_ms, end_ms)
            .map(|(s, _)| s.labels.clone())
            .collect();
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MatchOp;

    #[test]
    fn selects_by_matchers_and_range() {
        let mut m = MemStorage::new();
        m.add(&[("__name__", "a"), ("job", "x")], 2000, 2.0);
        m.add(&[("__name__", "a"), ("job", "x")], 1000, 1.0);
        m.add(&[("__name__", "a"), ("job", "y")], 1000, 5.0);
        m.add(&[("__name__", "b"), ("job", "")], 1000, 7.0);
        m.finish();
        let name = Matcher::new("__name__", MatchOp::Equal, "a").unwrap();
        let out = m.select(std::slice::from_ref(&name), 0, 1500).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].samples, vec![(1000, 1.0)]);
        let out = m.select(std::slice::from_ref(&name), 1500, 3000).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].samples, vec![(2000, 2.0)]);
        // An empty label value is the same as no label.
        let no_job = Matcher::new("job", MatchOp::Equal, "").unwrap();
        let out = m.select(&[no_job], 0, 3000).unwrap();
        assert_eq!(out[0].labels, vec![("__name__".into(), "b".into())]);
        assert!(matches!(
            m.select_limited(&[name], 0, 3000, 2),
            Err(SelectError::TooManySamples)
        ));
        assert_eq!(m.label_values("job", &[], 0, 3000).unwrap(), vec!["x", "y"]);
        assert_eq!(
            m.label_names(&[], 0, 3000).unwrap(),
            vec!["__name__", "job"]
        );
    }
}
