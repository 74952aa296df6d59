//! Schema references (`$ref`) resolved from local files inside the repository only.
//!
//! A gate runs on pull requests, so a schema must not make it read `/etc/passwd`
//! (`$ref: ../../../etc/passwd`) or reach the network: every reference is
//! resolved to a file, canonicalized, and read only when it lies under the
//! canonical root. Refusals are recorded so the check can report each one at
//! the `$ref` that asked for it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jsonschema::{Retrieve, Uri};
use serde_json::Value;

use super::parse::{Format, parse_value};

/// Largest schema file read through a reference.
const MAX_SCHEMA_BYTES: u64 = 16 << 20;

/// What the retriever did: files read (for `files_read` and locating `$ref`s) and refusals.
#[derive(Debug, Default)]
pub struct Log {
    /// Canonical path and text of every schema file read through a reference.
    pub read: Vec<(PathBuf, String)>,
    /// Each refused URI (fragment removed) and why.
    pub refused: Vec<(String, String)>,
}

/// Reads `file://` references under `root`; maps an `http(s)` `$id` prefix to a local folder.
pub struct LocalRetriever {
    root: PathBuf,
    /// `(URL prefix ending in /, local folder)`: a root schema whose `$id` is
    /// `https://x/schemas/a.json` finds `https://x/schemas/b.json` next to itself.
    alias: Option<(String, PathBuf)>,
    log: Arc<Mutex<Log>>,
}

impl LocalRetriever {
    /// A retriever for schemas under the canonical `root`.
    pub fn new(root: &Path, alias: Option<(String, PathBuf)>, log: Arc<Mutex<Log>>) -> Self {
        LocalRetriever {
            root: root.to_path_buf(),
            alias,
            log,
        }
    }

    fn resolve(&self, uri: &str) -> Result<(PathBuf, String), String> {
        let url = url::Url::parse(uri).map_err(|e| format!("not a URL: {e}"))?;
        let path = match url.scheme() {
            "file" => url
                .to_file_path()
                .map_err(|()| "not a local file path".to_string())?,
            "http" | "https" => match &self.alias {
                Some((prefix, dir)) if uri.starts_with(prefix.as_str()) => {
                    let rest = &uri[prefix.len()..];
                    url::Url::from_directory_path(dir)
                        .and_then(|base| base.join(rest).map_err(|_| ()))
                        .and_then(|u| u.to_file_path())
                        .map_err(|()| "cannot map to a local file".to_string())?
                }
                _ => {
                    return Err(
                        "remote references are not fetched: the gate reads local files only".into(),
                    );
                }
            },
            other => return Err(format!("`{other}:` references are not supported")),
        };
        let canonical = path
            .canonicalize()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if !canonical.starts_with(&self.root) {
            return Err(format!("{} is outside the repository", canonical.display()));
        }
        let meta = std::fs::metadata(&canonical).map_err(|e| e.to_string())?;
        if meta.len() > MAX_SCHEMA_BYTES {
            return Err(format!("larger than {MAX_SCHEMA_BYTES} bytes"));
        }
        let text = std::fs::read_to_string(&canonical).map_err(|e| e.to_string())?;
        Ok((canonical, text))
    }
}

impl Retrieve for LocalRetriever {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let uri = uri.as_str();
        let bare = uri.split('#').next().unwrap_or(uri).to_string();
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let result = self.resolve(&bare).and_then(|(path, text)| {
            let value = parse_value(Format::of(&path), &text)
                .map_err(|e| format!("{}: {}", path.display(), e.message))?;
            log.read.push((path, text));
            Ok(value)
        });
        match result {
            Ok(v) => Ok(v),
            Err(why) => {
                log.refused.push((bare.clone(), why.clone()));
                Err(format!("{bare}: {why}").into())
            }
        }
    }
}

/// Every `$ref` in `schema` with its JSON Pointer (escaped), in document order.
pub fn refs(schema: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, ptr: &mut String, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let len = ptr.len();
                    ptr.push('/');
                    ptr.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    if let (true, Value::String(r)) = (k == "$ref" || k == "$dynamicRef", child) {
                        out.push((ptr.clone(), r.clone()));
                    } else {
                        walk(child, ptr, out);
                    }
                    ptr.truncate(len);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let len = ptr.len();
                    ptr.push('/');
                    ptr.push_str(&i.to_string());
                    walk(child, ptr, out);
                    ptr.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(schema, &mut String::new(), &mut out);
    out
}

/// The document a `$ref` written in the file at `base` points to, without its fragment.
pub fn ref_target(base: &url::Url, reference: &str) -> Option<String> {
    let joined = base.join(reference).ok()?;
    let s = joined.as_str();
    Some(s.split('#').next().unwrap_or(s).to_string())
}
