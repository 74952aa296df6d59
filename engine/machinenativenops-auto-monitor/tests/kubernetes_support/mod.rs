//! A Kubernetes API server that replays recorded responses (no registry here ships a runnable
//! kube-apiserver; see ../shared/REFERENCE-TOOLS.md).
//!
//! It answers what a client-go style watcher asks: `GET <collection>` with the list fixture
//! (its `metadata.resourceVersion` included), and `GET <collection>?watch=true&resourceVersion=N`
//! with a chunked stream of newline-separated `WatchEvent`s newer than N, kept open so events
//! played later by the test arrive on the same connection. It counts lists and watches per
//! collection (to prove a change came through the watch, not a relist) and records the
//! `Authorization` headers it saw.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// One collection: its list response and the watch events played so far.
struct Collection {
    list: String,
    events: Vec<(u64, String)>,
    played: tokio::sync::watch::Sender<usize>,
}

#[derive(Default)]
struct State {
    collections: Mutex<BTreeMap<String, Collection>>,
    lists: Mutex<BTreeMap<String, usize>>,
    watches: Mutex<BTreeMap<String, usize>>,
    auth: Mutex<Vec<String>>,
}

/// The running replay server; stops when dropped.
pub struct Replay {
    /// Where it listens (127.0.0.1, a free port).
    pub addr: SocketAddr,
    dir: PathBuf,
    subst: Vec<(String, String)>,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// API path of a namespaced collection.
pub fn collection_path(namespace: &str, resource: &str) -> String {
    match resource {
        "endpointslices" => format!("/apis/discovery.k8s.io/v1/namespaces/{namespace}/{resource}"),
        "deployments" => format!("/apis/apps/v1/namespaces/{namespace}/{resource}"),
        _ => format!("/api/v1/namespaces/{namespace}/{resource}"),
    }
}

/// Namespaced collections the fixtures hold for each namespace.
pub const RESOURCES: &[&str] = &["pods", "services", "endpointslices", "deployments"];

fn resource_version(event_line: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(event_line).expect("watch event is JSON");
    v["object"]["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("watch event has a numeric resourceVersion")
}

impl Replay {
    /// Serve the fixtures of `dir` for `namespaces` (plus `nodes.json`), replacing each
    /// `(from, to)` of `subst` in the files' text.
    pub async fn start(dir: &Path, namespaces: &[&str], subst: &[(&str, &str)]) -> Replay {
        let subst: Vec<(String, String)> = subst
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let read = |p: PathBuf| {
            let mut text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            for (a, b) in &subst {
                text = text.replace(a, b);
            }
            text
        };
        let state = Arc::new(State::default());
        {
            let mut cols = state.collections.lock().unwrap();
            let mut add = |path: String, file: PathBuf| {
                cols.insert(
                    path,
                    Collection {
                        list: read(file),
                        events: Vec::new(),
                        played: tokio::sync::watch::Sender::new(0),
                    },
                );
            };
            add("/api/v1/nodes".into(), dir.join("nodes.json"));
            for ns in namespaces {
                for r in RESOURCES {
                    add(
                        collection_path(ns, r),
                        dir.join(ns).join(format!("{r}.json")),
                    );
                }
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let st = state.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let st = st.clone();
            async move { handle(st, uri, headers) }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Replay {
            addr,
            dir: dir.to_path_buf(),
            subst,
            state,
            task,
        }
    }

    /// Play the events of `watch/<namespace>-<resource>.jsonl` to that collection's watchers.
    pub fn play(&self, namespace: &str, resource: &str) {
        let file = self
            .dir
            .join("watch")
            .join(format!("{namespace}-{resource}.jsonl"));
        let mut text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (a, b) in &self.subst {
            text = text.replace(a, b);
        }
        let path = collection_path(namespace, resource);
        let mut cols = self.state.collections.lock().unwrap();
        let col = cols.get_mut(&path).expect("a served collection");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            col.events.push((resource_version(line), line.to_string()));
        }
        col.played.send_replace(col.events.len());
    }

    /// How many list requests `path` received.
    pub fn lists(&self, path: &str) -> usize {
        *self.state.lists.lock().unwrap().get(path).unwrap_or(&0)
    }

    /// How many watch requests `path` received.
    pub fn watches(&self, path: &str) -> usize {
        *self.state.watches.lock().unwrap().get(path).unwrap_or(&0)
    }

    /// Every collection path served.
    pub fn paths(&self) -> Vec<String> {
        self.state
            .collections
            .lock()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    /// The distinct `Authorization` headers received (`<none>` for requests without one).
    pub fn auth_headers(&self) -> Vec<String> {
        let mut v = self.state.auth.lock().unwrap().clone();
        v.sort();
        v.dedup();
        v
    }

    /// A kubeconfig for this server, with a bearer token, written into `dir`.
    pub fn kubeconfig(&self, dir: &Path, token: &str) -> PathBuf {
        let path = dir.join("kubeconfig.yaml");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: replay\n  cluster:\n    server: http://{}\ncontexts:\n- name: replay\n  context:\n    cluster: replay\n    user: tester\n    namespace: default\ncurrent-context: replay\nusers:\n- name: tester\n  user:\n    token: {token}\n",
                self.addr
            ),
        )
        .unwrap();
        path
    }
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
    });
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn handle(st: Arc<State>, uri: Uri, headers: HeaderMap) -> Response {
    st.auth.lock().unwrap().push(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<none>")
            .to_string(),
    );
    let path = uri.path().to_string();
    let query: BTreeMap<String, String> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cols = st.collections.lock().unwrap();
    let Some(col) = cols.get(&path) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("the server could not find the requested resource ({path})"),
        );
    };
    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    if !watch {
        *st.lists.lock().unwrap().entry(path).or_default() += 1;
        return (
            [(header::CONTENT_TYPE, "application/json")],
            col.list.clone(),
        )
            .into_response();
    }
    *st.watches.lock().unwrap().entry(path.clone()).or_default() += 1;
    let since: u64 = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let played = col.played.subscribe();
    drop(cols);
    let stream = futures_util::stream::unfold(
        (st, path, since, played),
        |(st, path, since, mut played)| async move {
            loop {
                played.borrow_and_update();
                let next = st.collections.lock().unwrap()[&path]
                    .events
                    .iter()
                    .find(|(rv, _)| *rv > since)
                    .cloned();
                if let Some((rv, line)) = next {
                    let chunk = bytes::Bytes::from(format!("{line}\n"));
                    return Some((Ok::<_, Infallible>(chunk), (st, path, rv, played)));
                }
                if played.changed().await.is_err() {
                    return None;
                }
            }
        },
    );
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}
