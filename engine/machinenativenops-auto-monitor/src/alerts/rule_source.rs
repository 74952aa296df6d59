//! Where in a rule file a problem is: expression errors at the offending token,
//! and the file-level checks `promtool check rules` makes (a rule file is a
//! mapping with `groups`, and every key is one it knows).

use mno_common::{ConfigError, Location, NodeLocation, PathIndex};

/// The file position of a PromQL error at `line`:`column` of the expression whose node is
/// `node` in `text` (the YAML source). `None` when the scalar's style makes the mapping
/// uncertain (folded or escaped text, a position past the text); callers then point at the
/// value.
pub fn expr_position(
    text: &str,
    node: NodeLocation,
    line: usize,
    column: usize,
) -> Option<Location> {
    let value = node.value;
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.get(value.line.checked_sub(1)?)?;
    let lead: String = first.chars().skip(value.column.checked_sub(1)?).collect();
    // A block scalar's node starts at its content; its `|` or `>` follows the key's colon.
    let block = node.key.and_then(|k| {
        let key_line = lines.get(k.line.checked_sub(1)?)?;
        let after: String = key_line.chars().skip(k.column.checked_sub(1)?).collect();
        let (_, rest) = after.split_once(':')?;
        rest.trim_start()
            .chars()
            .next()
            .filter(|c| matches!(c, '|' | '>'))
    });
    match block {
        Some('|') => {
            // Literal block: expression line k is file line value.line + k - 1, after the
            // block's indentation (the column its content starts at).
            let target = lines.get(value.line + line - 2)?;
            (column <= target.chars().count() + 2 - value.column).then_some(Location {
                line: value.line + line - 1,
                column: value.column - 1 + column,
            })
        }
        Some(_) => None,
        None => match lead.chars().next()? {
            q @ ('"' | '\'') => {
                // One-line quoted scalar with no escapes before the error.
                let body = &lead[1..];
                let close = body.find(q)?;
                let before: String = body.chars().take(column.saturating_sub(1)).collect();
                (line == 1 && !before.contains('\\') && before.len() <= close).then_some(Location {
                    line: value.line,
                    column: value.column + column,
                })
            }
            _ => {
                // A plain scalar on one line (a continued one is folded: not mapped).
                let own = first.len() - first.trim_start_matches(' ').len();
                let continued = lines.get(value.line).is_some_and(|l| {
                    let ind = l.len() - l.trim_start_matches(' ').len();
                    !l.trim().is_empty() && ind > own && !l.trim_start().starts_with('#')
                });
                (line == 1 && !continued && column <= lead.chars().count() + 1).then_some(
                    Location {
                        line: value.line,
                        column: value.column + column - 1,
                    },
                )
            }
        },
    }
}

/// The location of an error `message` about the expression at dotted `key`: the token's
/// own position when the message starts with PromQL's `line:column:`, else the value's.
pub fn expr_error_location(
    text: Option<&str>,
    index: &PathIndex,
    key: &str,
    message: &str,
) -> Option<Location> {
    let pointer: String = key.split('.').map(|s| format!("/{s}")).collect();
    let node = index.node(&pointer)?;
    let exact = (|| {
        let (pos, _) = message.split_once(": parse error")?;
        let (l, c) = pos.split_once(':')?;
        expr_position(text?, node, l.parse().ok()?, c.parse().ok()?)
    })();
    Some(exact.unwrap_or(node.value))
}

/// A rule file's document-level error in promtool's terms (a document that is a list or a
/// single value is not a rule file).
pub fn not_a_rule_file(e: ConfigError) -> ConfigError {
    match e {
        ConfigError::Invalid { file, loc, key, .. } if key == "(document)" => {
            ConfigError::Invalid {
                file,
                loc,
                key,
                message: "not a rule file: expected a mapping with a `groups:` list".into(),
            }
        }
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Location {
        Location { line, column }
    }

    fn node(text: &str, pointer: &str) -> NodeLocation {
        PathIndex::build("f", text).unwrap().node(pointer).unwrap()
    }

    #[test]
    fn positions_map_into_each_scalar_style() {
        let text = "a:\n  expr: up ==\n  q: \"up ==\"\n  b: |\n    sum(\n      x\n";
        let pos = |p: &str, l, c| expr_position(text, node(text, p), l, c);
        assert_eq!(pos("/a/expr", 1, 6), Some(at(2, 14)));
        assert_eq!(pos("/a/q", 1, 6), Some(at(3, 12)));
        assert_eq!(pos("/a/b", 2, 3), Some(at(6, 7)));
        // Past the block's text: not mapped.
        assert_eq!(pos("/a/b", 3, 1), None);
        // Folded text is not mapped.
        let folded = "e: >\n  up ==\n";
        assert_eq!(expr_position(folded, node(folded, "/e"), 1, 6), None);
        // Nor a plain scalar continued on the next line.
        let plain = "e: up ==\n  bar\n";
        assert_eq!(expr_position(plain, node(plain, "/e"), 1, 9), None);
    }
}
