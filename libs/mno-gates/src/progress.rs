//! Progress of a long check, for a progress bar or periodic log lines.
//!
//! A check that reports progress keeps its counters in atomics it updates anyway;
//! a separate ticker thread reads them a few times a second and calls the hook.
//! Without a hook no ticker starts, so the scan loop itself never pays for it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How often the ticker calls the hook.
const TICK: Duration = Duration::from_millis(100);

/// One progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressEvent {
    /// The check reporting (`security_scan`).
    pub check: &'static str,
    /// Files looked at so far (scanned or skipped).
    pub files: u64,
    /// Bytes scanned so far.
    pub bytes: u64,
    /// Files to look at in all, once known (a pre-count runs beside the scan).
    pub total_files: Option<u64>,
    /// The last event of this check.
    pub done: bool,
}

/// A progress callback; called from a ticker thread, never from the scanning threads.
#[derive(Clone)]
pub struct Progress {
    hook: Arc<dyn Fn(&ProgressEvent) + Send + Sync>,
    count_total: bool,
}

impl Progress {
    /// Wrap a callback; events carry no total.
    pub fn new(f: impl Fn(&ProgressEvent) + Send + Sync + 'static) -> Progress {
        Progress {
            hook: Arc::new(f),
            count_total: false,
        }
    }

    /// Also count the total beside the work (one more walk of the tree, for a progress bar).
    pub fn with_total(mut self) -> Progress {
        self.count_total = true;
        self
    }

    /// Report one event.
    pub fn report(&self, event: &ProgressEvent) {
        (self.hook)(event)
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// What the ticker shares with the check: the total once counted, and whether work is done.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    /// Total files, 0 while unknown.
    pub total: AtomicU64,
    /// Set when the work is over; a pre-count still running stops.
    pub done: AtomicBool,
}

/// Run `work` while, if there is a hook, a ticker reports `snapshot()` (files, bytes) every
/// [`TICK`] and, if the hook wants a total, `count` (on its own thread) fills in
/// `meter.total`; a last `done` event follows `work`. Without a hook this is `work()`.
pub(crate) fn with_ticker<R>(
    check: &'static str,
    progress: Option<&Progress>,
    snapshot: impl Fn() -> (u64, u64) + Sync,
    count: impl FnOnce(&Meter) + Send,
    work: impl FnOnce() -> R,
) -> R {
    let Some(progress) = progress else {
        return work();
    };
    let meter = Meter::default();
    let event = |done| {
        let (files, bytes) = snapshot();
        let total = meter.total.load(Ordering::Relaxed);
        // When the work beat the pre-count, everything has been seen: the total is known.
        let total = if done && progress.count_total && total == 0 {
            files
        } else {
            total
        };
        ProgressEvent {
            check,
            files,
            bytes,
            total_files: (total > 0).then_some(total),
            done,
        }
    };
    std::thread::scope(|s| {
        let counter = s.spawn(|| {
            if progress.count_total {
                count(&meter)
            }
        });
        let ticker = s.spawn(|| {
            while !meter.done.load(Ordering::Acquire) {
                progress.report(&event(false));
                std::thread::park_timeout(TICK);
            }
        });
        let r = work();
        meter.done.store(true, Ordering::Release);
        ticker.thread().unpark();
        // The ticker's last event comes before the final one, and a finished pre-count's
        // total is in it (an unfinished one stops on `done`).
        let _ = ticker.join();
        let _ = counter.join();
        progress.report(&event(true));
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn without_a_hook_work_just_runs() {
        assert_eq!(with_ticker("c", None, || (0, 0), |_| {}, || 7), 7);
    }

    #[test]
    fn the_last_event_is_done_and_carries_final_counts() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let p = Progress::new(move |e| s2.lock().unwrap().push(*e)).with_total();
        let files = AtomicU64::new(0);
        with_ticker(
            "c",
            Some(&p),
            || (files.load(Ordering::Relaxed), 10),
            |m| m.total.store(3, Ordering::Relaxed),
            || files.store(3, Ordering::Relaxed),
        );
        let seen = seen.lock().unwrap();
        let last = seen.last().unwrap();
        assert!(last.done);
        assert_eq!((last.files, last.bytes, last.total_files), (3, 10, Some(3)));
        assert_eq!(seen.iter().filter(|e| e.done).count(), 1);
    }
}
