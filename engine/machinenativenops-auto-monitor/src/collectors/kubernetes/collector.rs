//! The watch tasks and the collector that renders what they keep.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::KubernetesConfig;
use super::discover::{self, CheckDefaults};
use super::render::{self, Key};
use super::summary::{DeploymentSummary, NodeSummary, PodSummary, ServiceSummary, SliceSummary};
use crate::checks::Checker;
use crate::collectors::{CollectError, Collector, Context};
use crate::config::MonitorConfig;
use crate::metrics::Family;

/// A watch counts as failing for this long after an error. kube-runtime retries a failing
/// list or watch with a backoff of at most 30 s (plus jitter), so a watch that keeps failing
/// is never reported up, while one that recovered quietly is again after this.
const ERROR_HOLD: Duration = Duration::from_secs(120);

/// What the collector needs from the configuration.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// `collectors.kubernetes`.
    pub config: KubernetesConfig,
    /// `services.discovery_namespaces`; empty watches every namespace.
    pub namespaces: Vec<String>,
    /// `services.auto_discover`: annotated services become HTTP checks.
    pub auto_discover: bool,
    /// Timeout and interval of discovered checks.
    pub check_defaults: CheckDefaults,
}

impl StartOptions {
    /// The options a validated configuration asks for.
    pub fn from_config(cfg: &MonitorConfig) -> StartOptions {
        StartOptions {
            config: cfg.collectors.kubernetes.0.clone(),
            namespaces: cfg.services.discovery_namespaces.clone(),
            auto_discover: cfg.services.auto_discover,
            check_defaults: CheckDefaults {
                timeout: Duration::from_secs_f64(cfg.monitoring.health_check_timeout),
                interval: Duration::from_secs(cfg.monitoring.interval.max(1) as u64),
            },
        }
    }
}

/// The state of one watch.
#[derive(Debug, Default)]
struct Health {
    /// The initial list is complete: the objects are known.
    synced: bool,
    /// Errors from the list or watch calls so far.
    errors: u64,
    /// Events received so far (list items included).
    events: u64,
    /// The last error and when it happened; cleared by the next successful event.
    last_error: Option<(Instant, String)>,
}

/// One watch (a resource in a namespace, or cluster-wide) and the summaries it keeps.
struct Slot<S> {
    resource: &'static str,
    namespace: Option<String>,
    objects: RwLock<BTreeMap<Key, S>>,
    health: Mutex<Health>,
}

impl<S> Slot<S> {
    fn new(resource: &'static str, namespace: Option<String>) -> Arc<Slot<S>> {
        Arc::new(Slot {
            resource,
            namespace,
            objects: RwLock::new(BTreeMap::new()),
            health: Mutex::new(Health::default()),
        })
    }
}

/// The health side of a slot, whatever it holds.
trait Watched: Send + Sync {
    fn resource(&self) -> &'static str;
    fn namespace(&self) -> Option<&str>;
    fn with_health(&self, f: &mut dyn FnMut(&Health));
}

impl<S: Send + Sync> Watched for Slot<S> {
    fn resource(&self) -> &'static str {
        self.resource
    }
    fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
    fn with_health(&self, f: &mut dyn FnMut(&Health)) {
        if let Ok(h) = self.health.lock() {
            f(&h);
        }
    }
}

/// Everything the watch tasks and the collector share.
struct Shared {
    pods: Vec<Arc<Slot<PodSummary>>>,
    services: Vec<Arc<Slot<ServiceSummary>>>,
    slices: Vec<Arc<Slot<SliceSummary>>>,
    deployments: Vec<Arc<Slot<DeploymentSummary>>>,
    nodes: Option<Arc<Slot<NodeSummary>>>,
    /// Why no API client could be made (bad kubeconfig, no in-cluster credentials).
    setup_error: Mutex<Option<String>>,
    /// Bumped on every change, for the first collection waiting for the initial lists.
    changed: (Mutex<u64>, Condvar),
}

impl Shared {
    fn new(opts: &StartOptions) -> Shared {
        let scopes: Vec<Option<String>> = if opts.namespaces.is_empty() {
            vec![None]
        } else {
            opts.namespaces.iter().cloned().map(Some).collect()
        };
        fn per_ns<S>(scopes: &[Option<String>], r: &'static str) -> Vec<Arc<Slot<S>>> {
            scopes.iter().map(|ns| Slot::new(r, ns.clone())).collect()
        }
        Shared {
            pods: per_ns(&scopes, "pods"),
            services: per_ns(&scopes, "services"),
            slices: per_ns(&scopes, "endpointslices"),
            deployments: per_ns(&scopes, "deployments"),
            nodes: opts.config.nodes.then(|| Slot::new("nodes", None)),
            setup_error: Mutex::new(None),
            changed: (Mutex::new(0), Condvar::new()),
        }
    }

    fn watched(&self) -> Vec<&dyn Watched> {
        let mut out: Vec<&dyn Watched> = Vec::new();
        out.extend(self.pods.iter().map(|s| &**s as &dyn Watched));
        out.extend(self.services.iter().map(|s| &**s as &dyn Watched));
        out.extend(self.slices.iter().map(|s| &**s as &dyn Watched));
        out.extend(self.deployments.iter().map(|s| &**s as &dyn Watched));
        out.extend(self.nodes.iter().map(|s| &**s as &dyn Watched));
        out
    }

    fn notify(&self) {
        let (m, cv) = &self.changed;
        if let Ok(mut n) = m.lock() {
            *n += 1;
        }
        cv.notify_all();
    }

    /// Watches whose initial list is missing, with their last error.
    fn unsynced(&self) -> Vec<String> {
        let mut out = Vec::new();
        for w in self.watched() {
            w.with_health(&mut |h| {
                if !h.synced {
                    let mut s = w.resource().to_string();
                    if let Some(ns) = w.namespace() {
                        s.push_str(&format!(" in {ns}"));
                    }
                    if let Some((_, e)) = &h.last_error {
                        s.push_str(&format!(" ({e})"));
                    }
                    out.push(s);
                }
            });
        }
        out
    }

    /// `mno_kubernetes_watch_*`: reported every tick, also while the collector fails.
    fn health_families(&self) -> Vec<Family> {
        let mut up = Family::gauge(
            "mno_kubernetes_watch_up",
            "Whether the watch has its initial list and no error in the last two minutes (1) or not (0).",
        );
        let mut errors = Family::counter(
            "mno_kubernetes_watch_errors_total",
            "Errors of the watch's list and watch calls.",
        );
        let mut events = Family::counter(
            "mno_kubernetes_watch_events_total",
            "Objects received by the watch (initial list items and watch events).",
        );
        let now = Instant::now();
        for w in self.watched() {
            let mut l = vec![("resource", w.resource())];
            if let Some(ns) = w.namespace() {
                l.push(("namespace", ns));
            }
            w.with_health(&mut |h| {
                let failing = h
                    .last_error
                    .as_ref()
                    .is_some_and(|(t, _)| now.duration_since(*t) < ERROR_HOLD);
                up.push(&l, if h.synced && !failing { 1.0 } else { 0.0 });
                errors.push(&l, h.errors as f64);
                events.push(&l, h.events as f64);
            });
        }
        vec![up, errors, events]
    }

    /// The HTTP checks the annotated services ask for, given to `checker`.
    fn discover(&self, checker: &Checker, defaults: CheckDefaults) {
        let mut specs = Vec::new();
        for slot in &self.services {
            let Ok(objs) = slot.objects.read() else {
                continue;
            };
            for (key, svc) in objs.iter() {
                match discover::check_for(key, svc, defaults) {
                    Some(Ok(spec)) => specs.push(spec),
                    Some(Err(e)) => {
                        tracing::warn!(namespace = %key.0, service = %key.1, "not checked: {e}")
                    }
                    None => {}
                }
            }
        }
        checker.set_discovered(specs);
    }
}

/// Read every slot of a kind and render it, sorted by (namespace, name).
fn render_slots<S>(
    slots: &[Arc<Slot<S>>],
    f: impl FnOnce(&[(&Key, &S)]) -> Vec<Family>,
) -> Vec<Family> {
    let guards: Vec<_> = slots.iter().filter_map(|s| s.objects.read().ok()).collect();
    let mut items: Vec<(&Key, &S)> = guards.iter().flat_map(|g| g.iter()).collect();
    items.sort_by(|a, b| a.0.cmp(b.0));
    f(&items)
}

/// Collector of Kubernetes objects, fed by background watches (see the module docs).
pub struct KubernetesCollector {
    shared: Arc<Shared>,
    stop: CancellationToken,
    sync_timeout: Duration,
    waited: AtomicBool,
}

impl Drop for KubernetesCollector {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl KubernetesCollector {
    /// Start the watches on the current tokio runtime; discovered checks go to `checker`.
    ///
    /// Credentials and connection problems do not fail here: they are retried in the
    /// background and reported by `collect()` (so `mno_collector_success` is 0).
    pub fn start(opts: StartOptions, checker: Checker) -> Result<KubernetesCollector, String> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "collectors.kubernetes: needs the async runtime".to_string())?;
        let shared = Arc::new(Shared::new(&opts));
        let stop = CancellationToken::new();
        let sync_timeout = Duration::from_secs_f64(opts.config.sync_timeout_seconds.max(0.0));
        handle.spawn(supervise(shared.clone(), opts, checker, stop.clone()));
        Ok(KubernetesCollector {
            shared,
            stop,
            sync_timeout,
            waited: AtomicBool::new(false),
        })
    }

    /// `mno_kubernetes_watch_*` families, for the agent to add to every tick.
    pub fn health_source(&self) -> crate::agent::FamilySource {
        let shared = self.shared.clone();
        Arc::new(move || shared.health_families())
    }

    /// On the first collection, wait (at most the sync timeout) for the initial lists.
    fn wait_first_sync(&self) {
        if self.waited.swap(true, Ordering::SeqCst) {
            return;
        }
        let deadline = Instant::now() + self.sync_timeout;
        let wait = || {
            let (m, cv) = &self.shared.changed;
            let Ok(mut g) = m.lock() else { return };
            while !self.shared.unsynced().is_empty() {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                match cv.wait_timeout(g, deadline - now) {
                    Ok((next, _)) => g = next,
                    Err(_) => return,
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            // Blocking a current-thread runtime would stop the watches it runs: do not wait.
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread => {}
            // On a runtime thread, let the runtime move its other tasks elsewhere meanwhile.
            Ok(_) => tokio::task::block_in_place(wait),
            Err(_) => wait(),
        }
    }
}

impl Collector for KubernetesCollector {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn collect(&self, _ctx: &Context, out: &mut Vec<Family>) -> Result<(), CollectError> {
        self.wait_first_sync();
        let unsynced = self.shared.unsynced();
        if !unsynced.is_empty() {
            let setup = self
                .shared
                .setup_error
                .lock()
                .ok()
                .and_then(|e| e.clone())
                .map(|e| format!("{e}; "))
                .unwrap_or_default();
            return Err(CollectError::Unavailable(format!(
                "Kubernetes: {setup}no initial list yet for {}",
                unsynced.join(", ")
            )));
        }
        let s = &self.shared;
        crate::collectors::push_nonempty(out, render_slots(&s.pods, render::pods));
        crate::collectors::push_nonempty(
            out,
            render_slots(&s.services, |svcs| {
                render_slots(&s.slices, |slices| render::services(svcs, slices))
            }),
        );
        if let Some(n) = &s.nodes {
            crate::collectors::push_nonempty(
                out,
                render_slots(std::slice::from_ref(n), render::nodes),
            );
        }
        crate::collectors::push_nonempty(out, render_slots(&s.deployments, render::deployments));
        Ok(())
    }
}

/// Make a client from the configured credentials.
async fn client(cfg: &KubernetesConfig) -> Result<kube::Client, String> {
    crate::install_crypto_provider();
    let opts = kube::config::KubeConfigOptions {
        context: cfg.context.clone(),
        ..Default::default()
    };
    let config = match (&cfg.kubeconfig, &cfg.context) {
        (Some(path), _) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| format!("kubeconfig {}: {}", path.display(), chain(&e)))?;
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| format!("kubeconfig {}: {}", path.display(), chain(&e)))?
        }
        (None, Some(_)) => kube::Config::from_kubeconfig(&opts)
            .await
            .map_err(|e| format!("kubeconfig: {}", chain(&e)))?,
        (None, None) => kube::Config::infer()
            .await
            .map_err(|e| format!("no kubeconfig and not in a cluster: {}", chain(&e)))?,
    };
    kube::Client::try_from(config).map_err(|e| format!("Kubernetes client: {}", chain(&e)))
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// Get a client (retrying with backoff), then run one watch per slot until `stop`.
async fn supervise(
    shared: Arc<Shared>,
    opts: StartOptions,
    checker: Checker,
    stop: CancellationToken,
) {
    let mut delay = Duration::from_secs(1);
    let client = loop {
        match client(&opts.config).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(retry_in = ?delay, "Kubernetes collector: {e}");
                if let Ok(mut s) = shared.setup_error.lock() {
                    *s = Some(e);
                }
                shared.notify();
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    };
    if let Ok(mut s) = shared.setup_error.lock() {
        *s = None;
    }
    let api = |ns: &Option<String>| (client.clone(), ns.clone());
    let mut tasks = tokio::task::JoinSet::new();
    let on_services: Option<Arc<dyn Fn() + Send + Sync>> = opts.auto_discover.then(|| {
        let (shared, checker, d) = (shared.clone(), checker.clone(), opts.check_defaults);
        Arc::new(move || shared.discover(&checker, d)) as Arc<dyn Fn() + Send + Sync>
    });
    for slot in &shared.pods {
        let (c, ns) = api(&slot.namespace);
        tasks.spawn(watch::<Pod, _>(
            scoped(c, ns),
            slot.clone(),
            shared.clone(),
            None,
            stop.clone(),
        ));
    }
    for slot in &shared.services {
        let (c, ns) = api(&slot.namespace);
        tasks.spawn(watch::<Service, _>(
            scoped(c, ns),
            slot.clone(),
            shared.clone(),
            on_services.clone(),
            stop.clone(),
        ));
    }
    for slot in &shared.slices {
        let (c, ns) = api(&slot.namespace);
        tasks.spawn(watch::<EndpointSlice, _>(
            scoped(c, ns),
            slot.clone(),
            shared.clone(),
            None,
            stop.clone(),
        ));
    }
    for slot in &shared.deployments {
        let (c, ns) = api(&slot.namespace);
        tasks.spawn(watch::<Deployment, _>(
            scoped(c, ns),
            slot.clone(),
            shared.clone(),
            None,
            stop.clone(),
        ));
    }
    if let Some(slot) = &shared.nodes {
        tasks.spawn(watch::<Node, _>(
            Api::all(client.clone()),
            slot.clone(),
            shared.clone(),
            None,
            stop.clone(),
        ));
    }
    // The tasks end with `stop`; dropping the set would abort them, so wait for them here.
    while tasks.join_next().await.is_some() {}
}

/// A namespaced API, or the all-namespaces one when `ns` is None.
fn scoped<K>(client: kube::Client, ns: Option<String>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match ns {
        Some(ns) => Api::namespaced(client, &ns),
        None => Api::all(client),
    }
}

/// Fold one watch's events into its slot until `stop`.
async fn watch<K, S>(
    api: Api<K>,
    slot: Arc<Slot<S>>,
    shared: Arc<Shared>,
    on_change: Option<Arc<dyn Fn() + Send + Sync>>,
    stop: CancellationToken,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    for<'a> S: From<&'a K>,
    S: Send + Sync + 'static,
{
    let key = |o: &K| (o.namespace().unwrap_or_default(), o.name_any());
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    // Objects of a (re)list, swapped in whole when it completes.
    let mut buffer: Option<BTreeMap<Key, S>> = None;
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            e = stream.next() => e,
        };
        let Some(event) = event else { return };
        let mut changed = false;
        match event {
            Ok(ev) => {
                let (objects, done) = match &ev {
                    Event::Init => (0, false),
                    Event::InitDone => (0, true),
                    Event::InitApply(_) | Event::Apply(_) | Event::Delete(_) => (1, false),
                };
                match ev {
                    Event::Init => buffer = Some(BTreeMap::new()),
                    Event::InitApply(o) => {
                        buffer.get_or_insert_default().insert(key(&o), S::from(&o));
                    }
                    Event::InitDone => {
                        if let Ok(mut objs) = slot.objects.write() {
                            *objs = buffer.take().unwrap_or_default();
                        }
                        changed = true;
                    }
                    Event::Apply(o) => {
                        if let Ok(mut objs) = slot.objects.write() {
                            objs.insert(key(&o), S::from(&o));
                        }
                        changed = true;
                    }
                    Event::Delete(o) => {
                        if let Ok(mut objs) = slot.objects.write() {
                            objs.remove(&key(&o));
                        }
                        changed = true;
                    }
                }
                if let Ok(mut h) = slot.health.lock() {
                    h.events += objects;
                    // `Init` only says a relist starts; anything else came from the server.
                    if objects > 0 || done {
                        h.last_error = None;
                    }
                    h.synced |= done;
                }
            }
            Err(e) => {
                let msg = chain(&e);
                tracing::warn!(
                    resource = slot.resource,
                    namespace = slot.namespace.as_deref().unwrap_or("*"),
                    "Kubernetes watch: {msg}"
                );
                if let Ok(mut h) = slot.health.lock() {
                    h.errors += 1;
                    h.last_error = Some((Instant::now(), msg));
                }
            }
        }
        shared.notify();
        if changed && let Some(f) = &on_change {
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(namespaces: &[&str], nodes: bool) -> StartOptions {
        StartOptions {
            config: KubernetesConfig {
                enabled: true,
                nodes,
                sync_timeout_seconds: 0.0,
                ..Default::default()
            },
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            auto_discover: true,
            check_defaults: CheckDefaults {
                timeout: Duration::from_secs(1),
                interval: Duration::from_secs(1),
            },
        }
    }

    fn offline(shared: Shared) -> KubernetesCollector {
        KubernetesCollector {
            shared: Arc::new(shared),
            stop: CancellationToken::new(),
            sync_timeout: Duration::ZERO,
            waited: AtomicBool::new(false),
        }
    }

    #[test]
    fn one_watch_per_resource_and_namespace() {
        let s = Shared::new(&opts(&["default", "kube-system"], true));
        assert_eq!(s.watched().len(), 9);
        let s = Shared::new(&opts(&[], false));
        let names: Vec<_> = s
            .watched()
            .iter()
            .map(|w| (w.resource(), w.namespace().map(String::from)))
            .collect();
        assert_eq!(
            names,
            [
                ("pods", None),
                ("services", None),
                ("endpointslices", None),
                ("deployments", None)
            ]
        );
    }

    #[test]
    fn collect_fails_until_every_watch_has_listed() {
        let c = offline(Shared::new(&opts(&["default"], true)));
        let ctx = crate::collectors::CollectorsConfig::default().context();
        c.shared.pods[0].health.lock().unwrap().last_error =
            Some((Instant::now(), "connection refused".into()));
        let mut out = Vec::new();
        let e = c.collect(&ctx, &mut out).unwrap_err().to_string();
        assert!(e.contains("pods in default (connection refused)"), "{e}");
        assert!(e.contains("nodes"), "{e}");
        for w in [
            &c.shared.pods[0].health,
            &c.shared.services[0].health,
            &c.shared.slices[0].health,
            &c.shared.deployments[0].health,
        ] {
            w.lock().unwrap().synced = true;
        }
        c.shared
            .nodes
            .as_ref()
            .unwrap()
            .health
            .lock()
            .unwrap()
            .synced = true;
        assert!(c.collect(&ctx, &mut out).is_ok());
        // Nothing listed: no family has a sample, so none is added.
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn a_recent_error_marks_a_listed_watch_down_for_a_while() {
        let s = Shared::new(&opts(&["default"], false));
        let up = |s: &Shared| s.health_families()[0].value(&[("resource", "pods")]);
        assert_eq!(up(&s), Some(0.0), "not listed yet");
        s.pods[0].health.lock().unwrap().synced = true;
        assert_eq!(up(&s), Some(1.0));
        s.pods[0].health.lock().unwrap().last_error = Some((Instant::now(), "watch failed".into()));
        assert_eq!(up(&s), Some(0.0));
        if let Some(long_ago) = Instant::now().checked_sub(ERROR_HOLD + Duration::from_secs(1)) {
            s.pods[0].health.lock().unwrap().last_error = Some((long_ago, "watch failed".into()));
            assert_eq!(up(&s), Some(1.0));
        }
        let l = [("resource", "pods"), ("namespace", "default")];
        assert_eq!(s.health_families()[1].value(&l), Some(0.0));
    }
}
