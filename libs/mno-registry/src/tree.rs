//! Reading a registry file into a located YAML tree, with bounded memory.
//!
//! The registry is read through the YAML parser's event stream into a small
//! tree in which every node keeps its line and column, rather than through
//! serde: registries in the wild mix several shapes, and every finding about
//! any of them must name the line. The guards here run before anything
//! else: a size cap (checked on the file's metadata and again while reading),
//! a binary-content check, a nesting-depth cap and a node budget that counts
//! alias expansions, so a "billion laughs" document fails after a bounded
//! amount of work instead of exhausting memory.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use mno_common::Location;
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

use crate::finding::{Finding, Severity};

/// Largest registry file accepted, in bytes (a 5,000-module registry is about 2 MiB).
pub const MAX_BYTES: u64 = 16 << 20;
/// Most nodes a document may expand to, aliases included.
pub const MAX_NODES: usize = 1_000_000;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// Why a registry file could not be read at all (the CLI exits 2 for these).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened or read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file named.
        file: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_BYTES`].
    #[error("{file}: file is {size} bytes; a registry may be at most {limit} bytes")]
    TooLarge {
        /// The file named.
        file: String,
        /// Its size (at least this many bytes).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file is not text.
    #[error("{file}: not a text file: {what} at byte {offset}")]
    Binary {
        /// The file named.
        file: String,
        /// Byte offset of the first offending byte.
        offset: usize,
        /// What was found there.
        what: &'static str,
    },
    /// The file has no YAML content.
    #[error("{file}: the file is empty: expected a `modules:` list")]
    Empty {
        /// The file named.
        file: String,
    },
    /// The text is not valid YAML.
    #[error("{file}:{loc}: YAML syntax error: {message}")]
    Syntax {
        /// The file named.
        file: String,
        /// Where the parser stopped.
        loc: Location,
        /// The parser's message.
        message: String,
    },
    /// Aliases expand the document past [`MAX_NODES`] nodes.
    #[error(
        "{file}:{loc}: the document expands to more than {limit} nodes through aliases \
         (a \"billion laughs\" document?); refusing to expand it"
    )]
    TooManyNodes {
        /// The file named.
        file: String,
        /// The alias (or node) at which the budget ran out.
        loc: Location,
        /// The budget.
        limit: usize,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("{file}:{loc}: nesting deeper than {limit} levels")]
    TooDeep {
        /// The file named.
        file: String,
        /// The node that went too deep.
        loc: Location,
        /// The limit.
        limit: usize,
    },
}

impl LoadError {
    /// The rule id used when this error is reported as a finding.
    pub fn rule(&self) -> &'static str {
        match self {
            LoadError::Read { .. } => "load.read",
            LoadError::TooLarge { .. } => "load.too-large",
            LoadError::Binary { .. } => "load.binary",
            LoadError::Empty { .. } => "load.empty",
            LoadError::Syntax { .. } => "yaml.syntax",
            LoadError::TooManyNodes { .. } => "yaml.alias-budget",
            LoadError::TooDeep { .. } => "yaml.depth",
        }
    }

    /// This error as a finding (for the gate, which reports every problem the same way).
    pub fn to_finding(&self) -> Finding {
        let (file, loc) = match self {
            LoadError::Read { file, .. }
            | LoadError::TooLarge { file, .. }
            | LoadError::Binary { file, .. }
            | LoadError::Empty { file } => (file, Location { line: 1, column: 1 }),
            LoadError::Syntax { file, loc, .. }
            | LoadError::TooManyNodes { file, loc, .. }
            | LoadError::TooDeep { file, loc, .. } => (file, *loc),
        };
        let full = self.to_string();
        // Drop the `file:line:col: ` prefix: a finding carries those separately.
        let message = full
            .strip_prefix(&format!("{file}:{loc}: "))
            .or_else(|| full.strip_prefix(&format!("{file}: ")))
            .unwrap_or(&full)
            .to_string();
        Finding::new(file, loc, self.rule(), Severity::Error, message)
    }
}

/// A YAML node with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub at: Location,
    /// Its content.
    pub value: Value,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// A scalar's text; `plain` is false for quoted and block scalars.
    Str {
        /// The text after escape processing.
        text: String,
        /// Written without quotes (so `5` may be read as a number, `true` as a boolean).
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar text, if this is a scalar.
    pub fn str(&self) -> Option<&str> {
        match &self.value {
            Value::Str { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The entries, if this is a mapping.
    pub fn map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if this is a sequence.
    pub fn seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.map()?
            .iter()
            .find(|(k, _)| k.str() == Some(key))
            .map(|(_, v)| v)
    }

    /// Whether this is null.
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// A boolean written plainly (`true`, `false`, and YAML 1.1's `yes`/`no`/`on`/`off`).
    pub fn bool(&self) -> Option<bool> {
        match &self.value {
            Value::Str { text, plain: true } => match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => Some(true),
                "false" | "no" | "off" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// An integer written plainly (or quoted, as registries in the wild do).
    pub fn int(&self) -> Option<i64> {
        self.str().and_then(|t| t.trim().parse().ok())
    }

    /// What kind of node this is, for messages ("a mapping", "a list", ...).
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing",
            Value::Str { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A parsed document: its root, keys given twice, and whether more documents followed.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The first document's root node.
    pub root: Node,
    /// `(key, where repeated, where first given)` for every repeated mapping key.
    pub duplicate_keys: Vec<(String, Location, Location)>,
    /// Where a second document starts, when there is one (it is ignored).
    pub extra_document: Option<Location>,
}

/// Read a registry file with the size and content guards.
pub fn read_file(path: &Path) -> Result<String, LoadError> {
    let file = path.display().to_string();
    let read_err = |source| LoadError::Read {
        file: file.clone(),
        source,
    };
    let f = std::fs::File::open(path).map_err(read_err)?;
    let size = f.metadata().map_err(read_err)?.len();
    if size > MAX_BYTES {
        return Err(LoadError::TooLarge {
            file,
            size,
            limit: MAX_BYTES,
        });
    }
    // The file may grow between stat and read (or be a pipe): never read past the cap.
    let mut bytes = Vec::with_capacity(size as usize);
    f.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(LoadError::TooLarge {
            file,
            size: bytes.len() as u64,
            limit: MAX_BYTES,
        });
    }
    decode(&file, bytes)
}

/// Check that `bytes` are text (UTF-8, no NUL) and turn them into a string.
pub fn decode(file: &str, bytes: Vec<u8>) -> Result<String, LoadError> {
    if let Some(offset) = bytes.iter().position(|b| *b == 0) {
        return Err(LoadError::Binary {
            file: file.to_string(),
            offset,
            what: "a NUL byte",
        });
    }
    let mut text = String::from_utf8(bytes).map_err(|e| LoadError::Binary {
        file: file.to_string(),
        offset: e.utf8_error().valid_up_to(),
        what: "bytes that are not UTF-8",
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..3);
    }
    Ok(text)
}

/// Parse YAML text into a located tree; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Tree, LoadError> {
    if text.len() as u64 > MAX_BYTES {
        return Err(LoadError::TooLarge {
            file: file.to_string(),
            size: text.len() as u64,
            limit: MAX_BYTES,
        });
    }
    Builder::new(file).run(text)
}

enum Frame {
    Seq {
        at: Location,
        anchor: usize,
        items: Vec<Node>,
        size: usize,
    },
    Map {
        at: Location,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
        size: usize,
    },
}

struct Builder<'f> {
    file: &'f str,
    frames: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    duplicate_keys: Vec<(String, Location, Location)>,
}

impl<'f> Builder<'f> {
    fn new(file: &'f str) -> Self {
        Builder {
            file,
            frames: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            duplicate_keys: Vec::new(),
        }
    }

    fn run(mut self, text: &str) -> Result<Tree, LoadError> {
        let mut root: Option<Node> = None;
        let mut documents = 0usize;
        let mut extra_document = None;
        for item in Parser::new_from_str(text) {
            let (event, span) = item.map_err(|e| {
                let m = e.marker();
                LoadError::Syntax {
                    file: self.file.to_string(),
                    loc: Location {
                        line: m.line(),
                        column: m.col() + 1,
                    },
                    message: e.info(),
                }
            })?;
            let at = Location {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            match event {
                Event::DocumentStart(..) => {
                    documents += 1;
                    if documents > 1 {
                        // Only the first document is the registry; stop reading here.
                        extra_document = Some(at);
                        break;
                    }
                }
                Event::Scalar(text, style, anchor, _) => {
                    let plain = matches!(style, ScalarStyle::Plain);
                    let value =
                        if plain && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL") {
                            Value::Null
                        } else {
                            Value::Str {
                                text: text.into_owned(),
                                plain,
                            }
                        };
                    let node = Node { at, value };
                    self.count(1, at)?;
                    if anchor != 0 {
                        self.anchors.insert(anchor, (node.clone(), 1));
                    }
                    self.push(node, 1, &mut root);
                }
                Event::Alias(id) => {
                    // An alias to an unknown anchor is a parser error; treat it as null if seen.
                    let (node, size) = match self.anchors.get(&id) {
                        Some((n, s)) => (n.clone(), *s),
                        None => (
                            Node {
                                at,
                                value: Value::Null,
                            },
                            1,
                        ),
                    };
                    self.count(size, at)?;
                    self.push(node, size, &mut root);
                }
                Event::SequenceStart(_, anchor, _) => {
                    self.open(at)?;
                    self.frames.push(Frame::Seq {
                        at,
                        anchor,
                        items: Vec::new(),
                        size: 1,
                    });
                }
                Event::MappingStart(_, anchor, _) => {
                    self.open(at)?;
                    self.frames.push(Frame::Map {
                        at,
                        anchor,
                        entries: Vec::new(),
                        pending_key: None,
                        size: 1,
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(frame) = self.frames.pop() else {
                        continue;
                    };
                    let (node, anchor, size) = match frame {
                        Frame::Seq {
                            at,
                            anchor,
                            items,
                            size,
                        } => (
                            Node {
                                at,
                                value: Value::Seq(items),
                            },
                            anchor,
                            size,
                        ),
                        Frame::Map {
                            at,
                            anchor,
                            entries,
                            size,
                            ..
                        } => {
                            self.find_duplicates(&entries);
                            (
                                Node {
                                    at,
                                    value: Value::Map(entries),
                                },
                                anchor,
                                size,
                            )
                        }
                    };
                    if anchor != 0 {
                        self.anchors.insert(anchor, (node.clone(), size));
                    }
                    self.push(node, size, &mut root);
                }
                _ => {}
            }
        }
        match root {
            Some(root) if !root.is_null() => Ok(Tree {
                root,
                duplicate_keys: self.duplicate_keys,
                extra_document,
            }),
            _ => Err(LoadError::Empty {
                file: self.file.to_string(),
            }),
        }
    }

    fn count(&mut self, n: usize, at: Location) -> Result<(), LoadError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(LoadError::TooManyNodes {
                file: self.file.to_string(),
                loc: at,
                limit: MAX_NODES,
            });
        }
        Ok(())
    }

    fn open(&mut self, at: Location) -> Result<(), LoadError> {
        self.count(1, at)?;
        if self.frames.len() >= MAX_DEPTH {
            return Err(LoadError::TooDeep {
                file: self.file.to_string(),
                loc: at,
                limit: MAX_DEPTH,
            });
        }
        Ok(())
    }

    /// Attach a finished node to the open collection (or make it the root).
    fn push(&mut self, node: Node, size: usize, root: &mut Option<Node>) {
        match self.frames.last_mut() {
            None => {
                if root.is_none() {
                    *root = Some(node);
                }
            }
            Some(Frame::Seq { items, size: s, .. }) => {
                *s += size;
                items.push(node);
            }
            Some(Frame::Map {
                entries,
                pending_key,
                size: s,
                ..
            }) => {
                *s += size;
                match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => entries.push((key, node)),
                }
            }
        }
    }

    fn find_duplicates(&mut self, entries: &[(Node, Node)]) {
        if entries.len() < 2 {
            return;
        }
        if entries.len() <= 16 {
            // Small maps (nearly all of them): a scan is cheaper than hashing.
            for (i, (k, _)) in entries.iter().enumerate() {
                let Some(key) = k.str() else {
                    continue;
                };
                if let Some((first, _)) = entries[..i].iter().find(|(e, _)| e.str() == Some(key)) {
                    self.duplicate_keys.push((key.to_string(), k.at, first.at));
                }
            }
            return;
        }
        let mut seen: HashMap<&str, Location> = HashMap::with_capacity(entries.len());
        for (k, _) in entries {
            if let Some(key) = k.str() {
                if let Some(first) = seen.get(key) {
                    self.duplicate_keys.push((key.to_string(), k.at, *first));
                } else {
                    seen.insert(key, k.at);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_keep_their_positions() {
        let t = parse("f", "a:\n  b: [1, x]\nc: 'q'\n").unwrap();
        let b = t.root.get("a").and_then(|a| a.get("b")).unwrap();
        assert_eq!(b.at, Location { line: 2, column: 6 });
        assert_eq!(
            b.seq().unwrap()[1].at,
            Location {
                line: 2,
                column: 10
            }
        );
        assert_eq!(
            t.root.get("c").unwrap().value,
            Value::Str {
                text: "q".into(),
                plain: false
            }
        );
    }

    #[test]
    fn aliases_expand_and_count() {
        let t = parse("f", "a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(t.root.get("b").unwrap().seq().unwrap().len(), 2);
    }

    #[test]
    fn duplicate_keys_are_recorded() {
        let t = parse("f", "a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(t.duplicate_keys.len(), 1);
        assert_eq!(t.duplicate_keys[0].1, Location { line: 3, column: 1 });
    }

    #[test]
    fn empty_and_comment_only_documents_are_empty() {
        for text in ["", "# nothing\n", "---\n", "~\n"] {
            assert!(
                matches!(parse("f", text), Err(LoadError::Empty { .. })),
                "{text:?}"
            );
        }
    }

    #[test]
    fn second_document_is_noted_not_read() {
        let t = parse("f", "a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(t.extra_document, Some(Location { line: 2, column: 1 }));
        assert!(t.root.get("b").is_none());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(200) + &"]".repeat(200);
        assert!(matches!(parse("f", &text), Err(LoadError::TooDeep { .. })));
    }

    #[test]
    fn binary_is_refused() {
        assert!(matches!(
            decode("f", vec![b'a', 0, b'b']),
            Err(LoadError::Binary { offset: 1, .. })
        ));
        assert!(matches!(
            decode("f", vec![b'a', 0xff, 0xfe]),
            Err(LoadError::Binary { offset: 1, .. })
        ));
    }
}
