//! The collection tick: run every collector once, derive the `mno_*`
//! quantities, render the exposition formats and publish the batch.
//!
//! One tick per interval feeds every consumer through a `watch` channel:
//! `/metrics` serves the latest rendered batch, and later consumers (the
//! store, the alert evaluator, sinks) subscribe to the same channel, so
//! nothing reads /proc twice per tick.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::checks::Checker;
use crate::collectors::{Collector, Context};
use crate::config::MonitorConfig;
use crate::exposition::Rendered;
use crate::metrics::{Batch, Family};

/// A published tick: the batch and its rendered forms.
#[derive(Debug)]
pub struct Snapshot {
    /// The families collected.
    pub batch: Arc<Batch>,
    /// The batch rendered for `/metrics`.
    pub rendered: Rendered,
}

/// Receiver side of the tick channel; `None` until the first tick completes.
pub type SnapshotRx = watch::Receiver<Option<Arc<Snapshot>>>;

/// Extra families added to every tick by a consumer that describes itself (the store's
/// `mno_store_*` statistics, for instance); called once per tick on the collection thread.
pub type FamilySource = Arc<dyn Fn() -> Vec<Family> + Send + Sync>;

/// The wall clock that stamps each tick (replaced in tests to step it back or forward).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Runs the collectors and keeps what rates need from the previous tick.
pub struct Agent {
    collectors: Vec<Box<dyn Collector>>,
    ctx: Context,
    checker: Checker,
    prev: Option<Arc<Batch>>,
    sources: Vec<FamilySource>,
    clock: Clock,
}

impl Agent {
    /// An agent for a validated configuration.
    ///
    /// With `collectors.kubernetes` on, this starts its watches on the current tokio runtime
    /// (and fails outside one); discovered service checks go to `checker`.
    pub fn new(cfg: &MonitorConfig, checker: Checker) -> Result<Agent, String> {
        #[cfg_attr(not(feature = "kubernetes"), allow(unused_mut))]
        let (mut collectors, mut sources) = (
            crate::collectors::build_all(cfg)?,
            Vec::<FamilySource>::new(),
        );
        #[cfg(feature = "kubernetes")]
        if cfg.collectors.kubernetes.enabled() {
            use crate::collectors::kubernetes::{KubernetesCollector, StartOptions};
            let k = KubernetesCollector::start(StartOptions::from_config(cfg), checker.clone())?;
            sources.push(k.health_source());
            collectors.push(Box::new(k));
        }
        Ok(Agent {
            collectors,
            ctx: cfg.collectors.context(),
            checker,
            prev: None,
            sources,
            clock: Arc::new(SystemTime::now),
        })
    }

    /// Stamp ticks with `clock` instead of the system's wall clock.
    pub fn with_clock(mut self, clock: Clock) -> Agent {
        self.clock = clock;
        self
    }

    /// Add families from `source` to every tick.
    pub fn add_source(&mut self, source: FamilySource) {
        self.sources.push(source);
    }

    /// Names of the enabled collectors.
    pub fn collector_names(&self) -> Vec<&'static str> {
        self.collectors.iter().map(|c| c.name()).collect()
    }

    /// Collect one batch (blocking: collectors read files).
    pub fn collect(&mut self) -> Arc<Batch> {
        let started = (self.clock)();
        let tick = Instant::now();
        let mut families: Vec<Family> = Vec::with_capacity(64);
        let mut success = Family::gauge(
            "mno_collector_success",
            "Whether the collector succeeded on the last tick (1) or failed (0).",
        );
        let mut duration = Family::gauge(
            "mno_collector_duration_seconds",
            "Time the collector took on the last tick, in seconds.",
        );
        for c in &self.collectors {
            let t = Instant::now();
            let mut out = Vec::new();
            let result =
                std::panic::catch_unwind(AssertUnwindSafe(|| c.collect(&self.ctx, &mut out)));
            let ok = match result {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    tracing::warn!(collector = c.name(), error = %e, "collector failed");
                    false
                }
                Err(_) => {
                    tracing::error!(collector = c.name(), "collector panicked");
                    false
                }
            };
            if ok {
                families.append(&mut out);
            }
            let l = [("collector", c.name())];
            success.push(&l, if ok { 1.0 } else { 0.0 });
            duration.push(&l, t.elapsed().as_secs_f64());
        }
        let derived = crate::derive::derive(&families, self.prev.as_deref(), started);
        families.extend(derived);
        families.extend(self.checker.families());
        for s in &self.sources {
            families.extend(s());
        }
        families.push(success);
        families.push(duration);
        families.push(
            Family::gauge(
                "mno_build_info",
                "Build information of the Auto-Monitor; the value is 1.",
            )
            .with(&[("version", env!("CARGO_PKG_VERSION"))], 1.0),
        );
        families.push(
            Family::gauge(
                "mno_last_collection_timestamp_seconds",
                "Unix time at which the last collection tick started.",
            )
            .with(
                &[],
                started
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0),
            ),
        );
        families.push(
            Family::gauge(
                "mno_collection_duration_seconds",
                "Time the last collection tick took, in seconds.",
            )
            .with(&[], tick.elapsed().as_secs_f64()),
        );
        let batch = Arc::new(Batch {
            collected_at: started,
            families,
        });
        self.prev = Some(batch.clone());
        batch
    }
}

/// Run ticks every `interval` until `stop`, publishing each snapshot on `tx`.
pub async fn run(
    mut agent: Agent,
    interval: Duration,
    tx: watch::Sender<Option<Arc<Snapshot>>>,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut trimmed = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let trim = trimmed.elapsed() >= crate::memory::TRIM_EVERY;
        if trim {
            trimmed = std::time::Instant::now();
        }
        let joined = tokio::task::spawn_blocking(move || {
            let batch = agent.collect();
            let rendered = Rendered::new(&batch);
            // The previous tick's batch and bodies are still published; what this tick
            // freed (the collectors' scratch, the compressor) is handed back.
            if trim {
                crate::memory::release_free_memory();
            }
            (agent, Arc::new(Snapshot { batch, rendered }))
        })
        .await;
        match joined {
            Ok((a, snap)) => {
                agent = a;
                tracing::debug!(families = snap.batch.families.len(), "tick collected");
                tx.send_replace(Some(snap));
            }
            Err(e) => {
                // The agent moved into the task is gone; nothing sensible remains to run.
                tracing::error!(error = %e, "collection task failed; stopping collection");
                break;
            }
        }
    }
}
