//! `registry-defaults`: registry fields filled with safe defaults.
//!
//! Only two, both the registry's own suggestions and neither changing what runs:
//! a module without `version` gets `version: 1.0.0` (dependents' constraints are checked
//! again by the re-run, so a version that breaks one is not offered), and a version
//! written short (`1`, `1.2`) gets its missing parts as zeros (`1.0.0`, `1.2.0`), which is
//! how semver tools read it. Nothing that starts, stops or places a module is filled in.

use regex::Regex;

use super::schema::scalar_at;
use super::{Cx, FileChange, Fix, column_offset, line_span, read_text};
use crate::finding::Finding;

/// The fixer's name in reports.
pub(super) const NAME: &str = "registry-defaults";

/// The version given to a module without one (the registry's suggestion).
const DEFAULT_VERSION: &str = "1.0.0";

fn missing_version(f: &Finding) -> bool {
    f.rule_id == "schema.required" && f.message.contains("has no `version`")
}

/// `module_registry` findings with a safe default.
pub(super) fn applies(f: &Finding) -> bool {
    f.check == crate::checks::registry::CHECK
        && f.line > 0
        && (missing_version(f) || f.rule_id == "version.semver")
}

/// Fill in the missing or short version.
pub(super) fn fix(cx: &Cx<'_>, f: &Finding) -> Result<Fix, String> {
    let text = read_text(cx.tree, &f.file)?;
    let (ls, le) = line_span(&text, f.line).ok_or("the finding's line is not in the file")?;
    let line = &text[ls..le];
    let at = column_offset(line, f.column).ok_or("the finding's column is not on its line")?;
    let s = scalar_at(line, at).ok_or("the value is not a one-line scalar")?;
    let (new_text, title) = if missing_version(f) {
        add_version(&text, ls, line, &s)?
    } else {
        let v = s.value.as_deref().ok_or("the version holds escapes")?;
        let short =
            Regex::new(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?$").map_err(|e| e.to_string())?;
        if !short.is_match(v) {
            return Err(format!(
                "`{v}` is not a short version (`1`, `1.2`): the right one is the author's call"
            ));
        }
        let full = format!("{v}{}", ".0".repeat(2 - v.matches('.').count()));
        let q = s.quote.map(String::from).unwrap_or_default();
        let mut t = text.clone();
        t.replace_range(ls + s.start..ls + s.end, &format!("{q}{full}{q}"));
        (
            t,
            format!("{}:{}: version `{v}` → `{full}`", f.file, f.line),
        )
    };
    Ok(Fix {
        title,
        note: None,
        changes: vec![FileChange::edit(&f.file, text, new_text)],
    })
}

/// Insert `version:` next to the module's name (`s`, on `line` starting at byte `ls`).
fn add_version(
    text: &str,
    ls: usize,
    line: &str,
    s: &super::schema::Scalar,
) -> Result<(String, String), String> {
    let before = line[..s.start].trim_end();
    let key_end = before
        .strip_suffix(':')
        .ok_or("the module's name is not written as `name: …`")?;
    let key_start = key_end
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let key = &key_end[key_start..];
    if key != "name" && key != "id" {
        return Err(
            "the module is keyed by its name (legacy map form); add `version:` by hand".into(),
        );
    }
    let lead = line[..key_start].trim_end();
    let mut t = text.to_string();
    if lead.ends_with('{') || lead.ends_with(',') {
        // Flow mapping: `- { name: api, … }` → `- { name: api, version: 1.0.0, … }`.
        t.insert_str(ls + s.end, &format!(", version: {DEFAULT_VERSION}"));
    } else {
        // Block mapping: a new line at the key's indentation.
        let indent = " ".repeat(line[..key_start].chars().count());
        let eol = ls + line.len();
        let nl = if text[eol..].starts_with("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let insert_at = if eol < text.len() {
            eol + nl.len()
        } else {
            eol
        };
        let prefix = if eol >= text.len() { nl } else { "" };
        t.insert_str(
            insert_at,
            &format!("{prefix}{indent}version: {DEFAULT_VERSION}{nl}"),
        );
    }
    let name = s.value.clone().unwrap_or_default();
    Ok((
        t,
        format!("module `{name}`: add `version: {DEFAULT_VERSION}`"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_added_in_block_and_flow_form() {
        let text = "modules:\n  - name: api\n    group: x\n";
        let line = "  - name: api";
        let s = scalar_at(line, 10).unwrap();
        let (t, _) = add_version(text, 9, line, &s).unwrap();
        assert_eq!(
            t,
            "modules:\n  - name: api\n    version: 1.0.0\n    group: x\n"
        );
        let text = "modules:\n  - { name: api, group: x }\n";
        let line = "  - { name: api, group: x }";
        let s = scalar_at(line, 12).unwrap();
        let (t, _) = add_version(text, 9, line, &s).unwrap();
        assert_eq!(t, "modules:\n  - { name: api, version: 1.0.0, group: x }\n");
        let text = "modules:\n  - name: api";
        let (t, _) = add_version(
            text,
            9,
            "  - name: api",
            &scalar_at("  - name: api", 10).unwrap(),
        )
        .unwrap();
        assert_eq!(t, "modules:\n  - name: api\n    version: 1.0.0\n");
    }
}
