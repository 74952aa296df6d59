//! The extraction context: typed reads of tree nodes that report what is wrong where.

use std::time::Duration;

use mno_common::Location;

use crate::duration::parse_duration;
use crate::finding::{Finding, FindingExt, Sink, did_you_mean};
use crate::tree::{Node, Value};

/// A legacy mapping seen so far: rule, description, first place, count.
struct LegacyUse {
    rule: &'static str,
    what: &'static str,
    first: Location,
    count: usize,
}

/// Findings being collected and legacy mappings being counted.
pub(crate) struct Cx {
    pub sink: Sink,
    legacy: Vec<LegacyUse>,
    /// Parsed constraints by text: registries repeat the same few constraints.
    pub constraints: std::collections::HashMap<String, Result<semver::VersionReq, String>>,
}

impl Cx {
    pub fn new(sink: Sink) -> Cx {
        Cx {
            sink,
            legacy: Vec::new(),
            constraints: std::collections::HashMap::new(),
        }
    }

    /// Count a use of a legacy shape; one note per kind is emitted at the end.
    pub fn legacy(&mut self, at: Location, rule: &'static str, what: &'static str) {
        match self.legacy.iter_mut().find(|l| l.rule == rule) {
            Some(l) => l.count += 1,
            None => self.legacy.push(LegacyUse {
                rule,
                what,
                first: at,
                count: 1,
            }),
        }
    }

    /// All findings, legacy notes included, in file order.
    pub fn finish(mut self) -> Vec<Finding> {
        for l in &self.legacy {
            let times = if l.count == 1 {
                String::new()
            } else {
                format!(" ({} places)", l.count)
            };
            self.sink.note(
                l.first,
                l.rule,
                format!("legacy shape mapped: {}{times}", l.what),
            );
        }
        let mut f = self.sink.findings;
        f.sort_by_key(|f| (f.line, f.column));
        f
    }

    /// Warn about keys of `node` that are neither in `known` nor in `also`.
    pub fn unknown_keys(
        &mut self,
        node: &Node,
        known: &[&str],
        also: &[&str],
        context: &str,
        module: Option<&str>,
    ) {
        let Some(entries) = node.map() else {
            return;
        };
        for (k, _) in entries {
            let Some(key) = k.str() else {
                continue;
            };
            if known.contains(&key) || also.contains(&key) {
                continue;
            }
            let guess = did_you_mean(key, known.iter().copied());
            let f = self.sink.warn(
                k.at,
                "schema.unknown-key",
                format!("unknown key `{key}` in {context}; it is ignored"),
            );
            if let Some(g) = guess {
                f.with_suggestion(format!("did you mean `{g}`?"));
            }
            if let Some(m) = module {
                f.for_module(m);
            }
        }
    }

    /// The entries of a mapping, or an error naming `what`.
    pub fn expect_map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match &node.value {
            Value::Map(m) => Some(m),
            Value::Null => Some(&[]),
            _ => {
                self.type_error(node, what, "a mapping");
                None
            }
        }
    }

    /// A scalar as text (numbers and booleans too), or an error naming `what`.
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str { text, .. } => Some(text.clone()),
            _ => {
                self.type_error(node, what, "text");
                None
            }
        }
    }

    /// A boolean, or an error naming `what`.
    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        let b = node.bool();
        if b.is_none() {
            self.type_error(node, what, "true or false");
        }
        b
    }

    /// An integer, or an error naming `what`.
    pub fn int(&mut self, node: &Node, what: &str) -> Option<i64> {
        let i = node.int();
        if i.is_none() {
            self.type_error(node, what, "a whole number");
        }
        i
    }

    /// A duration (`5s`, `500ms`, a number of seconds), or a `rule` error.
    pub fn duration(&mut self, node: &Node, what: &str, rule: &str) -> Option<Duration> {
        let text = self.string(node, what)?;
        match parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.sink
                    .error(node.at, rule, format!("{what}: {e}"))
                    .with_suggestion("write e.g. 500ms, 5s or 1m");
                None
            }
        }
    }

    /// A list of scalars (an argument list), or an error naming `what`.
    pub fn string_list(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        let Some(items) = node.seq() else {
            self.type_error(node, what, "a list");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.string(item, what)?);
        }
        Some(out)
    }

    fn type_error(&mut self, node: &Node, what: &str, expected: &str) {
        let found = match &node.value {
            Value::Str { text, .. } => format!("`{}`", short(text)),
            _ => node.kind().to_string(),
        };
        self.sink.error(
            node.at,
            "schema.type",
            format!("{what} must be {expected}, found {found}"),
        );
    }
}

fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}
