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
    /// Keys whose value is null (`key:`, `key: ~`, `key: null`), where each key starts.
    null_values: Vec<Location>,
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
            first.null_values.extend(doc.null_values);
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
        let mut null_values = Vec::new();
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
                        if is_null_scalar(&event) {
                            null_values.push(last_key);
                        }
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
                        null_root = is_null_scalar(&event);
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
                        null_values: std::mem::take(&mut null_values),
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

/// Whether a parser event is a null scalar (plain, untagged: empty, `~`, `null`).
fn is_null_scalar(event: &Event) -> bool {
    matches!(
        event,
        Event::Scalar(s, ScalarStyle::Plain, _, None)
            if matches!(&s[..], "" | "~" | "null" | "Null" | "NULL")
    )
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

/// How a document is read beyond the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadOptions {
    /// A key whose value is null (`key:`, `key: ~`, `key: null`) in a block mapping is read
    /// as if it were absent, so it takes its default — what the original Python agent did
    /// with `config.get(key) or default`. A null document is an empty one.
    pub null_is_default: bool,
}

/// Read and deserialize a YAML file.
pub fn load_file<T: DeserializeOwned>(path: &Path) -> Result<Loaded<T>, ConfigError> {
    load_file_with(path, LoadOptions::default())
}

/// Read and deserialize a YAML file with `opts`.
pub fn load_file_with<T: DeserializeOwned>(
    path: &Path,
    opts: LoadOptions,
) -> Result<Loaded<T>, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: file.clone(),
        source,
    })?;
    load_str_with(&file, &text, opts)
}

/// Deserialize YAML text; `file` names it in messages.
pub fn load_str<T: DeserializeOwned>(file: &str, text: &str) -> Result<Loaded<T>, ConfigError> {
    load_str_with(file, text, LoadOptions::default())
}

/// `text` with every null-valued key of a block mapping blanked out (the key, its colon and
/// its null replaced by spaces, up to the end of the line), so that the deserializer does not
/// see it and every other line and column stays where it was. A key is blanked when only
/// indentation and sequence dashes (`- `) come before it on its line; keys inside `{…}` flow
/// mappings are left as they are.
fn hide_null_values(text: &str, keys: &[Location]) -> Option<String> {
    let mut bytes: Vec<u8> = text.as_bytes().to_vec();
    let mut changed = false;
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    for loc in keys {
        let Some(&line_start) = starts.get(loc.line.wrapping_sub(1)) else {
            continue;
        };
        let line = &text[line_start..];
        let line = &line[..line.find('\n').unwrap_or(line.len())];
        let line = line.strip_suffix('\r').unwrap_or(line);
        // What precedes the key: spaces and dashes of block sequences only (ASCII, so the
        // key's character column is its byte offset + 1).
        let lead = line.len() - line.trim_start_matches([' ', '-']).len();
        let prefix = &line[..lead];
        if loc.column != lead + 1 || prefix.split(' ').any(|w| !w.is_empty() && w != "-") {
            continue;
        }
        for b in &mut bytes[line_start + lead..line_start + line.len()] {
            *b = b' ';
        }
        changed = true;
    }
    // Only whole lines' tails became ASCII spaces: still valid UTF-8.
    let out = String::from_utf8_lossy(&bytes).into_owned();
    changed.then_some(out)
}

/// Deserialize YAML text with `opts`; `file` names it in messages.
pub fn load_str_with<T: DeserializeOwned>(
    file: &str,
    text: &str,
    opts: LoadOptions,
) -> Result<Loaded<T>, ConfigError> {
    let index = PathIndex::build(file, text)?;
    let mut hidden: Option<String> = None;
    if opts.null_is_default {
        // A mapping whose keys were all null is itself null once they are hidden: repeat
        // until nothing changes (at most once per nesting level).
        let mut nulls = index.null_values.clone();
        for _ in 0..64 {
            let current = hidden.as_deref().unwrap_or(text);
            match hide_null_values(current, &nulls) {
                Some(next) => {
                    nulls = PathIndex::build(file, &next)?.null_values;
                    hidden = Some(next);
                }
                None => break,
            }
        }
    }
    let source = hidden.as_deref().unwrap_or(text);
    let mut ignored: Vec<String> = Vec::new();
    let mut err_path = String::new();
    let empty = text.trim().is_empty() || (opts.null_is_default && index.is_null_document());
    let result: Result<T, serde_saphyr::Error> = if empty {
        // An empty file means "all defaults", as it did for the original agent.
        serde_saphyr::from_str::<T>("{}")
    } else {
        serde_saphyr::with_deserializer_from_str(source, |de| {
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
        let in_list = key
            .rsplit('.')
            .next()
            .is_some_and(|k| k.parse::<usize>().is_ok());
        let nullable = opts.null_is_default && !in_list && key != "(document)";
        ConfigError::Invalid {
            file: file.to_string(),
            loc,
            message: user_message(&e, nullable, text),
            key,
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

/// The deserializer's complaint in the words of someone editing the file: what kind of
/// value the key takes (never a Rust type name), what was found, and whether null is
/// accepted there (`nullable`: a mapping value read with [`LoadOptions::null_is_default`]).
fn user_message(e: &serde_saphyr::Error, nullable: bool, text: &str) -> String {
    use serde_saphyr::Error as E;
    let mut e = e;
    while let E::WithSnippet { error, .. } | E::AliasError { error, .. } = e {
        e = error;
    }
    let or_null = |what: &str| {
        if nullable {
            format!("expected {what} or null")
        } else {
            format!("expected {what}")
        }
    };
    let got = |loc: Option<serde_saphyr::Location>| {
        loc.and_then(|l| scalar_at(text, l.line() as usize, l.column() as usize))
            .map(|v| format!(", got {v}"))
            .unwrap_or_default()
    };
    match e {
        E::InvalidScalar { ty, .. } => format!("{}{}", or_null(kind_words(ty)), got(e.location())),
        E::InvalidBooleanStrict { .. } => {
            format!("{}{}", or_null("true or false"), got(e.location()))
        }
        E::NullIntoString { .. } | E::InvalidCharNull { .. } => {
            "expected a string, got null".to_string()
        }
        E::Unexpected { expected, .. } => {
            format!("{}{}", or_null(kind_words(expected)), got(e.location()))
        }
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => format!(
            "{}, got {}",
            or_null(kind_words(expected)),
            found_words(unexpected)
        ),
        E::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => format!(
            "expected {}, got {}",
            kind_words(expected),
            found_words(unexpected)
        ),
        E::SerdeMissingField { field, .. } => format!("missing key `{field}`"),
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => format!(
            "unknown value `{variant}`, expected one of {}",
            expected
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        E::SerdeUnknownField {
            field, expected, ..
        } => format!(
            "unknown key `{field}`, expected one of {}",
            expected
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        // A message of our own Deserialize impls (a duration, a size): the text alone, the
        // location is printed in front of it already.
        E::Message { msg, .. } | E::ExternalMessage { msg, .. } => {
            scrub_type_names(&first_line(msg))
        }
        _ => scrub_type_names(&first_line(&e.to_string())),
    }
}

/// A kind of value as the deserializer names it (`u32`, `sequence start`, `struct X`, …),
/// in plain words.
fn kind_words(kind: &str) -> &'static str {
    let k = kind.trim();
    let k = k
        .strip_prefix("a ")
        .or_else(|| k.strip_prefix("an "))
        .unwrap_or(k);
    match k {
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" => "a whole number from 0 to 4294967295",
        "u64" | "u128" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "integer" => "a whole number",
        "f32" | "f64" | "floating point" | "float" | "number" => "a number",
        "bool" | "boolean" => "true or false",
        "char" | "character" => "a single character",
        "sequence start" | "sequence" | "seq" | "list" => "a list",
        "mapping start" | "map" | "mapping" => "a mapping (key: value lines)",
        "string scalar" | "string" | "str" | "borrowed string" | "string or map" => "a string",
        "scalar" => "a single value",
        k if k.starts_with("struct ") => "a mapping (key: value lines)",
        k if k.starts_with("tuple") => "a list",
        _ => "a different kind of value",
    }
}

/// What serde says it found (`string "x"`, `map`, `unit value`) in plain words.
fn found_words(found: &str) -> String {
    match found {
        "map" => "a mapping".to_string(),
        "sequence" => "a list".to_string(),
        "unit value" | "unit" => "null".to_string(),
        f => f
            .replacen("floating point", "number", 1)
            .replacen("integer", "number", 1),
    }
}

/// The scalar that starts at `line`:`column` (1-based) as written, for messages; `None` when
/// the position is not a one-line scalar.
fn scalar_at(text: &str, line: usize, column: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let rest: String = l.chars().skip(column.checked_sub(1)?).collect();
    let rest = rest.split(" #").next().unwrap_or("").trim();
    if rest.is_empty() || rest.starts_with(['[', '{', '|', '>', '&', '*', '!', ':', '#']) {
        return None;
    }
    let shown: String = rest.chars().take(40).collect();
    Some(format!("`{shown}`"))
}

/// Remove Rust type names from a message that has no better translation.
fn scrub_type_names(msg: &str) -> String {
    // serde-saphyr adds advice for programmers ("; use Option<String>").
    let msg = msg.split("; use Option<").next().unwrap_or(msg);
    msg.split(' ')
        .map(|w| {
            let core = w.trim_end_matches([',', '.', ';', ')']);
            let tail = &w[core.len()..];
            match core {
                "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64"
                | "i128" | "isize" => format!("whole number{tail}"),
                "f32" | "f64" => format!("number{tail}"),
                _ => w.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(default)]
    struct Net {
        base_url: String,
        timeout: f64,
        headers: BTreeMap<String, String>,
        names: Vec<String>,
    }
    impl Default for Net {
        fn default() -> Self {
            Net {
                base_url: "dflt".into(),
                timeout: 30.0,
                headers: BTreeMap::new(),
                names: vec!["a".into()],
            }
        }
    }
    #[derive(Deserialize, Debug, Default, PartialEq)]
    #[serde(default)]
    struct NetDoc {
        network: Net,
    }
    const NULLS: LoadOptions = LoadOptions {
        null_is_default: true,
    };

    #[test]
    fn null_values_take_their_defaults_when_asked() {
        let text = "network:\n  base_url: null\n  timeout: ~\n  headers:\n    x-a:\n  names:\n";
        let loaded = load_str_with::<NetDoc>("c.yaml", text, NULLS).unwrap();
        assert_eq!(loaded.value, NetDoc::default());
        // Locations are those of the file as written.
        assert_eq!(
            loaded.index.locate("network.timeout"),
            Some(Location { line: 3, column: 3 })
        );
        // A mapping left empty by its null keys, and a null document, are defaults too.
        let loaded = load_str_with::<NetDoc>("c.yaml", "network:\n  timeout:\n", NULLS).unwrap();
        assert_eq!(loaded.value, NetDoc::default());
        let loaded = load_str_with::<NetDoc>("c.yaml", "~\n", NULLS).unwrap();
        assert_eq!(loaded.value, NetDoc::default());
        // Without the option, null is an error in the user's words.
        let err = load_str::<NetDoc>("c.yaml", "network:\n  base_url: null\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.yaml:2:13: network.base_url: expected a string, got null"
        );
        // A null list item has no default: refused, and said so.
        let err = load_str_with::<NetDoc>("c.yaml", "network:\n  names:\n    - null\n", NULLS)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.yaml:3:7: network.names.0: expected a string, got null"
        );
    }

    #[test]
    fn hidden_null_keys_keep_other_positions_and_text() {
        let text = "a:\n  é: null # c\n  b: 1 # c\nl:\n- k: null\n  v: 1\nf: {k: null}\n";
        let idx = PathIndex::build("f", text).unwrap();
        let out = hide_null_values(text, &idx.null_values).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[1].trim(), "", "{out}");
        assert_eq!(lines[2], "  b: 1 # c");
        assert_eq!(lines[4].trim(), "-");
        assert_eq!(lines[5], "  v: 1");
        assert_eq!(lines[6], "f: {k: null}");
        assert_eq!(out.len(), text.len());
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Item {
        #[serde(default = "dflt_name")]
        name: String,
        v: u32,
    }
    fn dflt_name() -> String {
        "n".into()
    }

    #[test]
    fn a_null_first_key_of_a_list_item_takes_its_default_too() {
        let text = "- name: null\n  v: 1\n- v: 2\n  name: x\n";
        let items = load_str_with::<Vec<Item>>("f", text, NULLS).unwrap().value;
        assert_eq!(
            items,
            vec![
                Item {
                    name: "n".into(),
                    v: 1
                },
                Item {
                    name: "x".into(),
                    v: 2
                }
            ]
        );
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let loaded = load_str::<Doc>("c.yaml", "# nothing\n").unwrap();
        assert_eq!(loaded.value.monitoring.interval, 0);
    }
}
