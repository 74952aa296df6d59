//! YAML loading with a location for every error and every unknown key.
//!
//! Deserialization goes through `serde-saphyr` (which reports line and
//! column), wrapped in `serde_path_to_error` (which adds the key path) and
//! `serde_ignored` (which reports unknown keys instead of failing on them:
//! a file written for an older or newer version still loads). A second pass
//! over the parser's event stream indexes every key path to its position,
//! so that checks done after deserialization (a negative interval, say) and
//! unknown-key warnings can name the line and column too.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// Line, 1-based.
    pub line: usize,
    /// Column, 1-based.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

impl From<serde_saphyr::Location> for Location {
    fn from(l: serde_saphyr::Location) -> Self {
        Location {
            line: l.line() as usize,
            column: l.column() as usize,
        }
    }
}

/// An error found while loading a YAML file, with where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file named.
        file: String,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The text is not valid YAML.
    #[error("{file}:{loc}: YAML syntax error: {message}")]
    Syntax {
        /// The file named.
        file: String,
        /// Where the parser stopped.
        loc: Location,
        /// What the parser said.
        message: String,
    },
    /// The YAML is well formed but a value is wrong for its key.
    #[error("{file}:{loc}: {key}: {message}")]
    Invalid {
        /// The file named.
        file: String,
        /// Where the offending node is.
        loc: Location,
        /// The dotted key path (`monitoring.interval`, `http_checks.0.url`).
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// The location of the error, when it has one.
    pub fn location(&self) -> Option<Location> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { loc, .. } | ConfigError::Invalid { loc, .. } => Some(*loc),
        }
    }
}

/// A warning about the input that did not stop loading (an unknown key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The file named.
    pub file: String,
    /// Where the key is, when it could be found.
    pub loc: Option<Location>,
    /// The dotted key path.
    pub key: String,
    /// What the warning says.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.loc {
            Some(loc) => write!(f, "{}:{}: {}: {}", self.file, loc, self.key, self.message),
            None => write!(f, "{}: {}: {}", self.file, self.key, self.message),
        }
    }
}

/// Where one node of a document is: the key naming it (mapping values only) and the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeLocation {
    /// Where the mapping key naming the node starts; `None` for sequence items and the root.
    pub key: Option<Location>,
    /// Where the node itself starts.
    pub value: Location,
}

/// Dotted key paths of a YAML document mapped to where each key starts.
#[derive(Debug, Clone, Default)]
pub struct PathIndex {
    map: HashMap<String, Location>,
    /// JSON Pointers (RFC 6901, `""` is the root) to nodes, for JSON Schema instance paths.
    pointers: HashMap<String, NodeLocation>,
    /// The document's root is an empty or null scalar.
    null_root: bool,
}

impl PathIndex {
    /// Index every key path in `text`; fails with the parser's position on a syntax error.
    ///
    /// With several documents (`---`), a path names where it first occurs.
    pub fn build(file: &str, text: &str) -> Result<PathIndex, ConfigError> {
        let mut docs = Self::build_documents(file, text)?.into_iter();
        let mut first = docs.next().unwrap_or_default();
        for doc in docs {
            for (k, v) in doc.map {
                first.map.entry(k).or_insert(v);
            }
            for (k, v) in doc.pointers {
                first.pointers.entry(k).or_insert(v);
            }
        }
        Ok(first)
    }

    /// Index each document of `text` on its own, in stream order (empty documents included).
    pub fn build_documents(file: &str, text: &str) -> Result<Vec<PathIndex>, ConfigError> {
        enum Frame {
            Map { expecting_key: bool },
            Seq { index: usize },
        }
        let mut docs = Vec::new();
        let mut map = HashMap::new();
        let mut pointers: HashMap<String, NodeLocation> = HashMap::new();
        let mut null_root = false;
        let mut frames: Vec<Frame> = Vec::new();
        let mut path: Vec<String> = Vec::new();
        // The same path as JSON Pointer segments (escaped), kept in step with `path`.
        let mut ptr: Vec<String> = Vec::new();
        let mut last_key = Location::default();
        // Called when a value node (scalar, alias or a closed collection) is complete.
        fn value_done(frames: &mut [Frame], path: &mut Vec<String>, ptr: &mut Vec<String>) {
            match frames.last_mut() {
                Some(Frame::Map { expecting_key }) => {
                    *expecting_key = true;
                    path.pop();
                    ptr.pop();
                }
                Some(Frame::Seq { index }) => {
                    *index += 1;
                    path.pop();
                    ptr.pop();
                }
                None => {}
            }
        }
        fn pointer(ptr: &[String]) -> String {
            ptr.iter().map(|s| format!("/{s}")).collect()
        }
        for item in Parser::new_from_str(text) {
            let (event, span) = item.map_err(|e| {
                let m = e.marker();
                ConfigError::Syntax {
                    file: file.to_string(),
                    loc: Location {
                        line: m.line(),
                        column: m.col() + 1,
                    },
                    message: e.info(),
                }
            })?;
            let loc = Location {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            // Before a node in a map's key position or a sequence slot, extend the path.
            let is_node = matches!(
                event,
                Event::Scalar(..)
                    | Event::Alias(..)
                    | Event::SequenceStart(..)
                    | Event::MappingStart(..)
            );
            if is_node {
                match frames.last_mut() {
                    Some(Frame::Map { expecting_key }) if *expecting_key => {
                        *expecting_key = false;
                        let key = match &event {
                            Event::Scalar(s, ..) => s.to_string(),
                            _ => "?".to_string(),
                        };
                        ptr.push(key.replace('~', "~0").replace('/', "~1"));
                        path.push(key);
                        map.entry(path.join(".")).or_insert(loc);
                        last_key = loc;
                        if matches!(event, Event::Scalar(..) | Event::Alias(..)) {
                            continue;
                        }
                        // A complex key: index its contents under the key path and move on.
                    }
                    Some(Frame::Map { .. }) => {
                        pointers.entry(pointer(&ptr)).or_insert(NodeLocation {
                            key: Some(last_key),
                            value: loc,
                        });
                    }
                    Some(Frame::Seq { index }) => {
                        path.push(index.to_string());
                        ptr.push(index.to_string());
                        map.entry(path.join(".")).or_insert(loc);
                        pointers.entry(pointer(&ptr)).or_insert(NodeLocation {
                            key: None,
                            value: loc,
                        });
                    }
                    None => {
                        null_root = matches!(
                            &event,
                            Event::Scalar(s, ScalarStyle::Plain, _, None)
                                if matches!(&s[..], "" | "~" | "null" | "Null" | "NULL")
                        );
                        pointers.insert(
                            String::new(),
                            NodeLocation {
                                key: None,
                                value: loc,
                            },
                        );
                    }
                }
            }
            match event {
                Event::MappingStart(..) => frames.push(Frame::Map {
                    expecting_key: true,
                }),
                Event::SequenceStart(..) => frames.push(Frame::Seq { index: 0 }),
                Event::MappingEnd | Event::SequenceEnd => {
                    frames.pop();
                    value_done(&mut frames, &mut path, &mut ptr);
                }
                Event::Scalar(..) | Event::Alias(..) => {
                    value_done(&mut frames, &mut path, &mut ptr)
                }
                Event::DocumentEnd => {
                    docs.push(PathIndex {
                        map: std::mem::take(&mut map),
                        pointers: std::mem::take(&mut pointers),
                        null_root: std::mem::take(&mut null_root),
                    });
                    frames.clear();
                    path.clear();
                    ptr.clear();
                }
                _ => {}
            }
        }
        Ok(docs)
    }

    /// Where the node at JSON Pointer `pointer` (RFC 6901; `""` is the root) is, if indexed.
    pub fn node(&self, pointer: &str) -> Option<NodeLocation> {
        self.pointers.get(pointer).copied()
    }

    /// Whether the document's root is an empty or null scalar (an empty document).
    pub fn is_null_document(&self) -> bool {
        self.null_root
    }

    /// Whether `key` itself (not only a parent) is in the document.
    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(&normalize_path(key))
    }

    /// Where `key` (dotted; `a[0].b` is accepted as `a.0.b`) is, or its nearest indexed parent.
    pub fn locate(&self, key: &str) -> Option<Location> {
        let mut key = normalize_path(key);
        loop {
            if let Some(loc) = self.map.get(&key) {
                return Some(*loc);
            }
            match key.rfind('.') {
                Some(i) => key.truncate(i),
                None => return None,
            }
        }
    }

    /// Where the value of `key` came from, for messages: the override that set it
    /// (`flag --port`, `environment MNO_PORT`), else `<file>:line:column: key` when the file
    /// sets `key` itself, else `key (default)`.
    pub fn origin(
        &self,
        key: &str,
        file: &dyn fmt::Display,
        overrides: &BTreeMap<String, String>,
    ) -> String {
        if let Some(o) = overrides.get(key) {
            return o.clone();
        }
        match self.locate(key) {
            Some(loc) if self.contains(key) => format!("{file}:{loc}: {key}"),
            _ => format!("{key} (default)"),
        }
    }
}

/// Turn `serde_path_to_error`'s `a[0].b` into `a.0.b`.
fn normalize_path(key: &str) -> String {
    key.replace('[', ".").replace(']', "")
}

/// A value loaded from YAML with the warnings met on the way and an index for later checks.
#[derive(Debug)]
pub struct Loaded<T> {
    /// The deserialized value.
    pub value: T,
    /// Unknown keys, each with its location.
    pub warnings: Vec<ConfigWarning>,
    /// Key locations, for reporting errors found by later validation.
    pub index: PathIndex,
    /// The file name used in messages.
    pub file: String,
}

impl<T> Loaded<T> {
    /// An error about `key` located through the index.
    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            loc: self.index.locate(key).unwrap_or_default(),
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// Read and deserialize a YAML file.
pub fn load_file<T: DeserializeOwned>(path: &Path) -> Result<Loaded<T>, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: file.clone(),
        source,
    })?;
    load_str(&file, &text)
}

/// Deserialize YAML text; `file` names it in messages.
pub fn load_str<T: DeserializeOwned>(file: &str, text: &str) -> Result<Loaded<T>, ConfigError> {
    let index = PathIndex::build(file, text)?;
    let mut ignored: Vec<String> = Vec::new();
    let mut err_path = String::new();
    let result: Result<T, serde_saphyr::Error> = if text.trim().is_empty() {
        // An empty file means "all defaults", as it did for the original agent.
        serde_saphyr::from_str::<T>("{}")
    } else {
        serde_saphyr::with_deserializer_from_str(text, |de| {
            let mut on_ignored = |p: serde_ignored::Path| ignored.push(p.to_string());
            let de = serde_ignored::Deserializer::new(de, &mut on_ignored);
            serde_path_to_error::deserialize(de).map_err(|e| {
                err_path = e.path().to_string();
                e.into_inner()
            })
        })
    };
    let value = result.map_err(|e| {
        let err_path = err_path
            .split('.')
            .filter(|seg| *seg != "?")
            .collect::<Vec<_>>()
            .join(".");
        let key = if err_path.is_empty() || err_path == "." {
            "(document)".to_string()
        } else {
            normalize_path(&err_path)
        };
        let loc = e
            .location()
            .map(Location::from)
            .or_else(|| index.locate(&key))
            .unwrap_or_default();
        ConfigError::Invalid {
            file: file.to_string(),
            loc,
            key,
            message: first_line(&e.to_string()),
        }
    })?;
    let warnings = ignored
        .into_iter()
        .map(|key| ConfigWarning {
            file: file.to_string(),
            loc: index.locate(&key),
            message: "unknown key, ignored".to_string(),
            key,
        })
        .collect();
    Ok(Loaded {
        value,
        warnings,
        index,
        file: file.to_string(),
    })
}

/// serde-saphyr's message carries a rendered snippet after the first line; keep the
/// message itself and drop its own `error: line L column C:` prefix (we print ours).
fn first_line(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or(msg);
    let line = line.strip_prefix("error: ").unwrap_or(line);
    let line = match line.find(": ") {
        Some(i) if line[..i].starts_with("line ") => &line[i + 2..],
        _ => line,
    };
    // Drop advice meant for programmers using the library, not for people editing the file.
    line.split(", set DuplicateKeyPolicy")
        .next()
        .unwrap_or(line)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct Mon {
        interval: u64,
        cpu_threshold: f64,
    }
    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct Doc {
        monitoring: Mon,
        checks: Vec<Check>,
    }
    #[derive(Deserialize, Debug, Default)]
    struct Check {
        url: String,
    }

    #[test]
    fn origin_names_override_file_or_default() {
        let idx = PathIndex::build("f", "monitoring:\n  interval: 5\n").unwrap();
        let mut overrides = BTreeMap::new();
        overrides.insert("port".to_string(), "flag --port".to_string());
        let o = |k: &str| idx.origin(k, &"f.yaml", &overrides);
        assert_eq!(o("port"), "flag --port");
        assert_eq!(o("monitoring.interval"), "f.yaml:2:3: monitoring.interval");
        // A parent in the file is not where a default child came from.
        assert_eq!(o("monitoring.bind"), "monitoring.bind (default)");
        assert_eq!(o("bind"), "bind (default)");
    }

    #[test]
    fn index_finds_nested_keys_and_sequence_items() {
        let text = "monitoring:\n  interval: 5\nchecks:\n  - url: a\n  - url: b\n";
        let idx = PathIndex::build("f", text).unwrap();
        assert_eq!(
            idx.locate("monitoring.interval"),
            Some(Location { line: 2, column: 3 })
        );
        assert_eq!(
            idx.locate("checks[1].url"),
            Some(Location { line: 5, column: 5 })
        );
        assert_eq!(
            idx.locate("checks.1.nope"),
            Some(Location { line: 5, column: 5 })
        );
        let doc = load_str::<Doc>("f", text).unwrap().value;
        assert_eq!(doc.checks[1].url, "b");
    }

    #[test]
    fn pointers_locate_keys_and_values_per_document() {
        let text = "a: 1\nlist:\n  - x\n  - {b/c: 2}\n---\n\n---\nz: [1, 2]\n";
        let docs = PathIndex::build_documents("f", text).unwrap();
        assert_eq!(docs.len(), 3);
        let at = |line, column| Location { line, column };
        assert_eq!(
            docs[0].node("/a"),
            Some(NodeLocation {
                key: Some(at(1, 1)),
                value: at(1, 4)
            })
        );
        assert_eq!(docs[0].node("/list/1").map(|n| n.value), Some(at(4, 5)));
        assert_eq!(
            docs[0].node("/list/1/b~1c").map(|n| n.value),
            Some(at(4, 11))
        );
        assert_eq!(docs[0].node("").map(|n| n.value), Some(at(1, 1)));
        assert!(!docs[0].is_null_document());
        assert!(docs[1].is_null_document());
        assert_eq!(docs[2].node("/z/1").map(|n| n.value), Some(at(8, 8)));
        assert_eq!(docs[2].node("/a"), None);
        // The merged index keeps the first document's paths and adds later ones.
        let merged = PathIndex::build("f", text).unwrap();
        assert_eq!(merged.locate("z"), Some(at(8, 1)));
    }

    #[test]
    fn json_text_is_indexed_too() {
        let text = "{\n\t\"a\": {\"b\":[true, {\"c\": null}]}\n}\n";
        let docs = PathIndex::build_documents("f.json", text).unwrap();
        assert_eq!(docs.len(), 1);
        let n = docs[0].node("/a/b/1/c").unwrap();
        assert_eq!(
            n.key,
            Some(Location {
                line: 2,
                column: 20
            })
        );
        assert_eq!(
            n.value,
            Location {
                line: 2,
                column: 25
            }
        );
    }

    #[test]
    fn wrong_type_names_file_line_column_and_key() {
        let err = load_str::<Doc>("c.yaml", "monitoring:\n  interval: abc\n").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("c.yaml:2:13: monitoring.interval: "),
            "{msg}"
        );
    }

    #[test]
    fn syntax_error_is_located() {
        let err = load_str::<Doc>("c.yaml", "monitoring: [\n").unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err}");
        assert_eq!(
            err.location(),
            Some(Location {
                line: 1,
                column: 13
            }),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_warn_with_location() {
        let loaded =
            load_str::<Doc>("c.yaml", "monitoring:\n  interval: 3\n  bogus: 1\nfoo: 2\n").unwrap();
        assert_eq!(loaded.value.monitoring.interval, 3);
        let w: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            vec![
                "c.yaml:3:3: monitoring.bogus: unknown key, ignored",
                "c.yaml:4:1: foo: unknown key, ignored"
            ]
        );
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let loaded = load_str::<Doc>("c.yaml", "# nothing\n").unwrap();
        assert_eq!(loaded.value.monitoring.interval, 0);
    }
}
