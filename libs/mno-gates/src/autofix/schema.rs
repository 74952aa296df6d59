//! `schema-form`: a value that fails its schema only by form, rewritten in place.
//!
//! Only the one scalar the finding points at is rewritten, in the file's own text: nothing
//! is re-serialized, so comments, key order, quoting elsewhere and blank lines stay as they
//! are. A value that would need more than that (a multi-line or block scalar, an anchor, an
//! alias, a tagged value, a mapping) is not offered.

use super::{Cx, FileChange, Fix, column_offset, line_span, read_text};
use crate::finding::Finding;

/// The fixer's name in reports.
pub(super) const NAME: &str = "schema-form";

/// `schema.type` findings of `schema_validation`, located on a line.
pub(super) fn applies(f: &Finding) -> bool {
    f.check == crate::checks::schema::CHECK && f.rule_id == "schema.type" && f.line > 0
}

/// A scalar as written on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scalar {
    /// Byte range in the line, quotes included.
    pub start: usize,
    /// End of the range.
    pub end: usize,
    /// The quote character, if quoted.
    pub quote: Option<char>,
    /// The value (quotes removed; `None` when a quoted value holds escapes).
    pub value: Option<String>,
}

/// The scalar starting at byte `start` of `line`; `None` for what is not a one-line scalar.
pub(super) fn scalar_at(line: &str, start: usize) -> Option<Scalar> {
    let rest = line.get(start..)?;
    let first = rest.chars().next()?;
    match first {
        '"' | '\'' => {
            let mut escaped = false;
            let mut has_escape = false;
            let mut iter = rest.char_indices().skip(1).peekable();
            while let Some((i, c)) = iter.next() {
                if first == '"' && c == '\\' && !escaped {
                    escaped = true;
                    has_escape = true;
                    continue;
                }
                if c == first && !escaped {
                    // YAML's '' inside single quotes is one quote.
                    if first == '\'' && iter.peek().is_some_and(|(_, n)| *n == '\'') {
                        iter.next();
                        has_escape = true;
                        continue;
                    }
                    let inner = &rest[1..i];
                    return Some(Scalar {
                        start,
                        end: start + i + 1,
                        quote: Some(first),
                        value: (!has_escape).then(|| inner.to_string()),
                    });
                }
                escaped = false;
            }
            None
        }
        '&' | '*' | '!' | '|' | '>' | '[' | '{' | '#' => None,
        '-' if rest.len() == 1 || rest[1..].starts_with(' ') => None,
        _ => {
            // A plain scalar ends at a comment, or in flow context at `,` `]` `}`.
            let mut end = rest.len();
            let bytes = rest.as_bytes();
            for (i, &b) in bytes.iter().enumerate() {
                let comment = b == b'#' && i > 0 && bytes[i - 1].is_ascii_whitespace();
                if comment || b == b',' || b == b']' || b == b'}' {
                    end = i;
                    break;
                }
            }
            let value = rest[..end].trim_end();
            if value.is_empty() || value.ends_with(':') || value.contains(": ") {
                return None;
            }
            Some(Scalar {
                start,
                end: start + value.len(),
                quote: None,
                value: Some(value.to_string()),
            })
        }
    }
}

/// The types the schema wants, as named in the finding's message (`is not of type "integer"`).
fn wanted(message: &str) -> Vec<&'static str> {
    let Some(i) = message.find("is not of type") else {
        return Vec::new();
    };
    let tail = &message[i..];
    ["integer", "number", "boolean", "string", "array"]
        .into_iter()
        .filter(|t| tail.contains(&format!("\"{t}\"")))
        .collect()
}

/// The scalar rewritten as `ty`, when its text already is one in another form.
fn rewrite(s: &Scalar, ty: &str, json: bool) -> Option<String> {
    let v = s.value.as_deref()?;
    let unquoted = |ok: bool| ok.then(|| v.to_string());
    match ty {
        "integer" if s.quote.is_some() => {
            let t = v.trim();
            unquoted(!t.is_empty() && t == v && t.parse::<i64>().is_ok() && !t.starts_with('+'))
        }
        "number" if s.quote.is_some() => {
            let ok = v.parse::<f64>().is_ok_and(f64::is_finite)
                && serde_json::from_str::<serde_json::Number>(v).is_ok();
            unquoted(ok)
        }
        "boolean" if s.quote.is_some() => unquoted(v == "true" || v == "false"),
        // A bare number, boolean or null written where text is wanted: keep what was written.
        "string" if s.quote.is_none() => Some(serde_json::to_string(v).ok()?),
        "array" => {
            // YAML keeps its own quoting; JSON's string is re-escaped.
            let item = match (s.quote, json) {
                (Some(_), true) => serde_json::to_string(v).ok()?,
                (Some(q), false) => format!("{q}{v}{q}"),
                (None, _) => v.to_string(),
            };
            Some(format!("[{item}]"))
        }
        _ => None,
    }
}

/// Rewrite the scalar the finding points at as the type its schema wants.
pub(super) fn fix(cx: &Cx<'_>, f: &Finding) -> Result<Fix, String> {
    let types = wanted(&f.message);
    if types.is_empty() {
        return Err("the schema's wanted type is not one a scalar can be rewritten to".into());
    }
    let text = read_text(cx.tree, &f.file)?;
    let (ls, le) = line_span(&text, f.line).ok_or("the finding's line is not in the file")?;
    let line = &text[ls..le];
    let at = column_offset(line, f.column).ok_or("the finding's column is not on its line")?;
    let s = scalar_at(line, at).ok_or(
        "the value is not a one-line scalar (a block, multi-line, anchored or tagged value): \
         rewriting it would change more than its form",
    )?;
    let json = f.file.to_ascii_lowercase().ends_with(".json");
    let Some((ty, new)) = types
        .iter()
        .find_map(|t| rewrite(&s, t, json).map(|n| (*t, n)))
    else {
        return Err(format!(
            "`{}` is not a {} in another form",
            &line[s.start..s.end],
            types.join(" or ")
        ));
    };
    let old = &line[s.start..s.end];
    let mut new_text = String::with_capacity(text.len() + 2);
    new_text.push_str(&text[..ls + s.start]);
    new_text.push_str(&new);
    new_text.push_str(&text[ls + s.end..]);
    Ok(Fix {
        title: format!("{}:{}: `{old}` → `{new}` ({ty})", f.file, f.line),
        note: None,
        changes: vec![FileChange::edit(&f.file, text, new_text)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(line: &str, at: usize) -> Option<Scalar> {
        scalar_at(line, at)
    }

    #[test]
    fn scalars_are_found_in_block_and_flow_lines() {
        let x = s("    port: \"9090\"  # why", 10).unwrap();
        assert_eq!((x.quote, x.value.as_deref()), (Some('"'), Some("9090")));
        assert_eq!(&"    port: \"9090\"  # why"[x.start..x.end], "\"9090\"");
        let y = s("{a: 12, b: 3}", 4).unwrap();
        assert_eq!(y.value.as_deref(), Some("12"));
        assert_eq!(s("x: 'it''s'", 3).unwrap().value, None);
        assert!(s("x: &anchor 1", 3).is_none());
        assert!(s("x: |", 3).is_none());
        assert!(s("x: \"open", 3).is_none());
    }

    #[test]
    fn only_form_changes_are_made() {
        let q = |v: &str| Scalar {
            start: 0,
            end: 0,
            quote: Some('"'),
            value: Some(v.into()),
        };
        let p = |v: &str| Scalar {
            quote: None,
            ..q(v)
        };
        assert_eq!(
            rewrite(&q("9090"), "integer", false).as_deref(),
            Some("9090")
        );
        assert_eq!(rewrite(&q("fast"), "integer", false), None);
        assert_eq!(rewrite(&q(" 1"), "integer", false), None);
        assert_eq!(rewrite(&q("1.5"), "number", true).as_deref(), Some("1.5"));
        assert_eq!(
            rewrite(&q("true"), "boolean", false).as_deref(),
            Some("true")
        );
        assert_eq!(rewrite(&q("yes"), "boolean", false), None);
        assert_eq!(
            rewrite(&p("1.10"), "string", false).as_deref(),
            Some("\"1.10\"")
        );
        assert_eq!(rewrite(&p("web"), "array", false).as_deref(), Some("[web]"));
        assert_eq!(
            rewrite(&q("web"), "array", true).as_deref(),
            Some("[\"web\"]")
        );
        assert_eq!(
            wanted(r#"`/a`: "9090" is not of type "integer" (schema s.json)"#),
            ["integer"]
        );
        assert_eq!(
            wanted(r#"`/a`: 1 is not of types "boolean", "string""#),
            ["boolean", "string"]
        );
    }
}
