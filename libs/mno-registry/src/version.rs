//! Versions and dependency constraints.
//!
//! Constraints use Cargo's syntax through the `semver` crate (`>=1.0.0`, `^1.2`,
//! `~1.2`, `>=1.0, <2.0`, `*`; a bare `1.2.3` means `^1.2.3`), with two
//! spellings from other ecosystems accepted: space-separated comparators
//! (`>=1.0 <2.0`, npm) and `==` (pip). `||` alternatives are not supported.

use semver::{Version, VersionReq};

/// Parse a version; `Err` carries a message and, when obvious, a corrected spelling.
pub fn parse_version(text: &str) -> Result<Version, (String, Option<String>)> {
    let t = text.trim();
    Version::parse(t).map_err(|e| {
        let parts: Vec<&str> = t.split('.').collect();
        let numeric = parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        let suggestion = match parts.len() {
            1 | 2 if numeric => {
                let mut p = parts.clone();
                p.resize(3, "0");
                Some(format!("write {}", p.join(".")))
            }
            _ => None,
        };
        (
            format!("version `{t}` is not a semantic version (MAJOR.MINOR.PATCH): {e}"),
            suggestion,
        )
    })
}

/// Parse a dependency constraint; `*` and the empty string match any version.
pub fn parse_constraint(text: &str) -> Result<VersionReq, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(VersionReq::STAR);
    }
    if t.contains("||") {
        return Err(format!(
            "constraint `{t}`: alternatives with `||` are not supported; list one range"
        ));
    }
    let normalized = normalize(t);
    VersionReq::parse(&normalized).map_err(|e| format!("constraint `{t}` does not parse: {e}"))
}

/// `>= v1.0 <2.0` → `>=1.0, <2.0`; `==1.0` → `=1.0`.
fn normalize(t: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let is_op = |c: char| matches!(c, '<' | '>' | '=' | '^' | '~');
    for part in t.split(',') {
        // An operator written apart from its version (`>= 1.0`) joins the next token.
        let mut pending_op = String::new();
        for token in part.split_whitespace() {
            if token.chars().all(is_op) {
                pending_op.push_str(token);
                continue;
            }
            out.push(format!("{pending_op}{token}"));
            pending_op.clear();
        }
        if !pending_op.is_empty() {
            out.push(pending_op);
        }
    }
    out.iter()
        .map(|c| {
            let c = c.replacen("==", "=", 1);
            let op_end = c.find(|ch: char| !is_op(ch)).unwrap_or(c.len());
            let (op, ver) = c.split_at(op_end);
            let ver = ver.strip_prefix(['v', 'V']).unwrap_or(ver);
            format!("{op}{ver}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Split a dependency written as text into name and constraint:
/// `name (>=1.0)`, `name >=1.0`, `name>=1.0`, `name@^1.2` or a plain `name`.
pub fn split_dependency(text: &str) -> (String, Option<String>) {
    let t = text.trim();
    let end = t
        .find(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
        .unwrap_or(t.len());
    let (name, rest) = t.split_at(end);
    // A name cannot end in '.', but `name.` is unlikely; keep dots (module.sub) in names.
    let rest = rest.trim();
    let rest = rest.strip_prefix('@').unwrap_or(rest).trim();
    if rest.is_empty() {
        return (name.to_string(), None);
    }
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(rest)
        .trim();
    (name.to_string(), Some(inner.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(req: &str, v: &str) -> bool {
        parse_constraint(req)
            .unwrap_or_else(|e| panic!("{e}"))
            .matches(&Version::parse(v).unwrap())
    }

    #[test]
    fn constraints_from_the_issue() {
        assert!(ok(">=1.0.0", "2.0.0"));
        assert!(!ok(">=1.0.0", "0.9.9"));
        assert!(ok("^1.2", "1.9.0"));
        assert!(!ok("^1.2", "2.0.0"));
        assert!(!ok("^1.2", "1.1.9"));
        assert!(ok(">=1.0, <2.0", "1.5.0"));
        assert!(!ok(">=1.0, <2.0", "2.0.0"));
        assert!(ok("*", "0.0.1"));
        assert!(ok("", "3.0.0"));
    }

    #[test]
    fn other_ecosystems_spellings() {
        assert!(ok(">=1.0 <2.0", "1.5.0"));
        assert!(!ok(">=1.0 <2.0", "2.1.0"));
        assert!(ok(">= 1.0.0", "1.0.0"));
        assert!(ok("==1.2.3", "1.2.3"));
        assert!(ok(">=v1.0.0", "1.0.0"));
        assert!(ok("~1.2", "1.2.9"));
        assert!(parse_constraint("1.x || 2.x").is_err());
        assert!(parse_constraint(">=banana").is_err());
    }

    #[test]
    fn dependency_text_forms() {
        let s = |t: &str| split_dependency(t);
        assert_eq!(
            s("config-manager (>=1.0.0)"),
            ("config-manager".into(), Some(">=1.0.0".into()))
        );
        assert_eq!(
            s("config-manager >=1.0.0"),
            ("config-manager".into(), Some(">=1.0.0".into()))
        );
        assert_eq!(
            s("config-manager>=1.0, <2"),
            ("config-manager".into(), Some(">=1.0, <2".into()))
        );
        assert_eq!(s("redis@^7"), ("redis".into(), Some("^7".into())));
        assert_eq!(s("redis"), ("redis".into(), None));
    }

    #[test]
    fn versions_suggest_a_fix() {
        assert!(parse_version("2.0.0").is_ok());
        assert_eq!(
            parse_version("1.0").unwrap_err().1.as_deref(),
            Some("write 1.0.0")
        );
        assert!(parse_version("latest").unwrap_err().1.is_none());
    }
}
