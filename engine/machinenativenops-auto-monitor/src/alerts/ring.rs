//! Recent batches kept for rules that read history (`rate(x[5m])`) when there is no store.
//!
//! The batches are the agent's own immutable `Arc<Batch>`es, so keeping them costs only the
//! references; they are turned into series only when a general rule asks.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use mno_promql::{Matcher, SeriesData, Storage, StorageError};

use crate::metrics::Batch;

/// Milliseconds since the Unix epoch of a batch.
pub fn batch_ms(b: &Batch) -> i64 {
    b.collected_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The last batches covering `keep` of time.
#[derive(Debug, Default)]
pub struct Ring {
    batches: VecDeque<(i64, Arc<Batch>)>,
    keep: Duration,
}

impl Ring {
    /// A buffer keeping `keep` of history (zero keeps only the latest batch).
    pub fn new(keep: Duration) -> Ring {
        Ring {
            batches: VecDeque::new(),
            keep,
        }
    }

    /// Change how much history is kept (after a reload).
    pub fn set_keep(&mut self, keep: Duration) {
        self.keep = keep;
    }

    /// Add the latest batch and drop what is too old.
    pub fn push(&mut self, b: Arc<Batch>) {
        let t = batch_ms(&b);
        self.batches.push_back((t, b));
        let oldest = t - self.keep.as_millis() as i64;
        while self.batches.len() > 1 && self.batches.front().is_some_and(|(t0, _)| *t0 < oldest) {
            self.batches.pop_front();
        }
    }

    /// How many batches are held.
    pub fn len(&self) -> usize {
        self.batches.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}

impl Storage for Ring {
    fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SeriesData>, StorageError> {
        type Series = BTreeMap<Vec<(String, String)>, Vec<(i64, f64)>>;
        let mut out: Series = BTreeMap::new();
        for (t, b) in &self.batches {
            if *t < start_ms || *t > end_ms {
                continue;
            }
            for f in &b.families {
                let name_ok = matchers
                    .iter()
                    .filter(|m| m.name == "__name__")
                    .all(|m| m.matches(&f.name));
                if !name_ok {
                    continue;
                }
                for s in &f.samples {
                    let ok = matchers.iter().filter(|m| m.name != "__name__").all(|m| {
                        m.matches(
                            s.labels
                                .iter()
                                .find(|(k, _)| *k == m.name)
                                .map(|(_, v)| v.as_str())
                                .unwrap_or(""),
                        )
                    });
                    if !ok {
                        continue;
                    }
                    let mut labels: Vec<(String, String)> = s
                        .labels
                        .iter()
                        .filter(|(_, v)| !v.is_empty())
                        .cloned()
                        .collect();
                    labels.push(("__name__".into(), f.name.clone()));
                    labels.sort();
                    out.entry(labels).or_default().push((*t, s.value));
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|(labels, samples)| SeriesData { labels, samples })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Family;
    use std::time::SystemTime;

    #[test]
    fn keeps_the_window_and_answers_rate() {
        let mut r = Ring::new(Duration::from_secs(60));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..10u64 {
            r.push(Arc::new(Batch {
                collected_at: t0 + Duration::from_secs(i * 10),
                families: vec![
                    Family::counter("c_total", "c").with(&[("k", "v")], (i * 100) as f64),
                ],
            }));
        }
        assert_eq!(r.len(), 7, "60 s of 10 s batches plus the edge");
        let m = Matcher::new("__name__", mno_promql::MatchOp::Equal, "c_total").unwrap();
        let s = r.select(&[m], 0, i64::MAX).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].samples.len(), 7);
        assert_eq!(s[0].labels[0], ("__name__".into(), "c_total".into()));
    }
}
