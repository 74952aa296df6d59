//! Reading YAML and JSON into values plus an index from JSON Pointer to line and column.
//!
//! Values come from the format's own parser (`serde_json` for JSON, so JSON
//! semantics are exact; `serde-saphyr` for YAML, with its alias budget against
//! "billion laughs"); locations come from `mno_common::PathIndex`, which walks
//! the YAML event stream. JSON is YAML 1.2, so the same index serves both.

use std::path::Path;

use mno_common::{Location, PathIndex};
use serde_json::Value;

/// How a file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.json`: one JSON value.
    Json,
    /// `.yaml`, `.yml` (or anything else): one or more YAML documents.
    Yaml,
}

impl Format {
    /// The format named by `path`'s extension.
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// Text that does not parse, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Where the parser stopped (1-based; 0 when unknown).
    pub at: Location,
    /// What the parser said, in one line.
    pub message: String,
}

/// One document: its value and where each of its nodes is.
pub struct Document {
    /// The document as JSON.
    pub value: Value,
    /// JSON Pointer → location.
    pub index: PathIndex,
}

/// Every document of `text` (YAML: null documents skipped; JSON: exactly one).
pub fn parse_documents(format: Format, text: &str) -> Result<Vec<Document>, SyntaxError> {
    match format {
        Format::Json => {
            let value: Value = serde_json::from_str(text).map_err(|e| SyntaxError {
                at: Location {
                    line: e.line(),
                    column: e.column(),
                },
                message: e.to_string(),
            })?;
            // Valid JSON the YAML parser rejects (rare) only loses locations, not the check.
            let index = PathIndex::build_documents("", text)
                .ok()
                .and_then(|d| d.into_iter().next())
                .unwrap_or_default();
            Ok(vec![Document { value, index }])
        }
        Format::Yaml => {
            let indexes = PathIndex::build_documents("", text).map_err(|e| SyntaxError {
                at: e.location().unwrap_or_default(),
                message: syntax_message(&e.to_string()),
            })?;
            let values: Vec<Value> =
                serde_saphyr::from_multiple(text).map_err(|e| SyntaxError {
                    at: e.location().map(Location::from).unwrap_or_default(),
                    message: first_line(&e.to_string()),
                })?;
            // serde-saphyr skips empty and null documents; skip their indexes alike.
            let mut indexes: Vec<PathIndex> = indexes
                .into_iter()
                .filter(|i| !i.is_null_document())
                .collect();
            if indexes.len() != values.len() {
                indexes = Vec::new();
            }
            let mut indexes = indexes.into_iter();
            Ok(values
                .into_iter()
                .map(|value| Document {
                    value,
                    index: indexes.next().unwrap_or_default(),
                })
                .collect())
        }
    }
}

/// One value (a schema file): the first document of YAML, or the JSON value.
pub fn parse_value(format: Format, text: &str) -> Result<Value, SyntaxError> {
    let mut docs = parse_documents(format, text)?;
    if docs.is_empty() {
        return Err(SyntaxError {
            at: Location::default(),
            message: "the file holds no document".into(),
        });
    }
    Ok(docs.swap_remove(0).value)
}

/// Where the node at `pointer` is, or its nearest indexed ancestor (line 0 when the index
/// is empty); `prefer_key` points at
/// the key naming a mapping value (an unexpected property) rather than at the value.
pub fn locate(index: &PathIndex, pointer: &str, prefer_key: bool) -> Location {
    let mut p = pointer;
    loop {
        if let Some(n) = index.node(p) {
            return match n.key {
                // A value on its key's line is pointed at; a block collection under its key
                // is pointed at by the key that names it.
                Some(k) if prefer_key || k.line != n.value.line => k,
                _ => n.value,
            };
        }
        match p.rfind('/') {
            Some(i) => p = &p[..i],
            // Not even the root is indexed: the finding is about the file as a whole.
            None => return Location::default(),
        }
    }
}

/// mno-common's syntax error reads `FILE:L:C: YAML syntax error: MESSAGE`; keep MESSAGE.
fn syntax_message(s: &str) -> String {
    match s.find("YAML syntax error: ") {
        Some(i) => s[i..].to_string(),
        None => s.to_string(),
    }
}

/// serde-saphyr's message has a snippet after its first line and its own location prefix.
fn first_line(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or(msg);
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line.find(": ") {
        Some(i) if line[..i].starts_with("line ") => line[i + 2..].to_string(),
        _ => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_documents_align_with_their_indexes_across_empty_ones() {
        let text = "a: 1\n---\n---\n# only a comment\n---\nb:\n  c: [1, 2]\n";
        let docs = parse_documents(Format::Yaml, text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].value["b"]["c"][1], 2);
        assert_eq!(
            locate(&docs[1].index, "/b/c/1", false),
            Location {
                line: 7,
                column: 10
            }
        );
        // A block mapping is pointed at by its key; a missing child by its nearest parent.
        assert_eq!(
            locate(&docs[1].index, "/b", false),
            Location { line: 6, column: 1 }
        );
        assert_eq!(
            locate(&docs[1].index, "/b/zz", false),
            Location { line: 6, column: 1 }
        );
    }

    #[test]
    fn numeric_keys_become_strings() {
        let docs = parse_documents(Format::Yaml, "stages:\n  1: Core\n").unwrap();
        assert_eq!(docs[0].value["stages"]["1"], "Core");
        assert_eq!(
            locate(&docs[0].index, "/stages/1", false),
            Location { line: 2, column: 6 }
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let e = parse_documents(Format::Yaml, "a: 1\nb: [1, 2\nc: 3\n")
            .err()
            .unwrap();
        assert!(e.at.line >= 2, "{e:?}");
        assert!(e.message.contains("YAML syntax error"), "{e:?}");
        let e = parse_documents(Format::Json, "{\n  \"a\": 1,\n  \"b\" 2\n}\n")
            .err()
            .unwrap();
        assert_eq!(e.at, Location { line: 3, column: 7 }, "{e:?}");
    }

    #[test]
    fn compact_and_pretty_json_are_indexed() {
        let docs = parse_documents(Format::Json, r#"{"a":{"b":[1,{"c":true}]}}"#).unwrap();
        assert_eq!(
            locate(&docs[0].index, "/a/b/1/c", false),
            Location {
                line: 1,
                column: 19
            }
        );
        let pretty = serde_json::to_string_pretty(&docs[0].value).unwrap();
        let docs = parse_documents(Format::Json, &pretty).unwrap();
        assert_eq!(
            locate(&docs[0].index, "/a/b/1/c", false),
            Location {
                line: 6,
                column: 14
            }
        );
    }
}
