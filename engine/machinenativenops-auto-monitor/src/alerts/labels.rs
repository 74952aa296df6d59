//! Label sets, fingerprints and label matchers (`severity="critical"`, `alertname=~"Disk.*"`).
//!
//! Matchers are the query engine's ([`mno_promql::Matcher`], anchored regexes like
//! Prometheus'), so routes, silences and repair strategies match exactly as selectors do.

use mno_promql::{MatchOp, Matcher};

/// A label set sorted by name, without duplicates.
pub type Labels = Vec<(String, String)>;

/// The value of `name` in `labels` (`""` when absent, as Prometheus treats it).
pub fn get<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// Sort by name and drop empty values (an empty label is the same as no label).
pub fn canonical(mut labels: Labels) -> Labels {
    labels.retain(|(_, v)| !v.is_empty());
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    labels.dedup_by(|a, b| a.0 == b.0);
    labels
}

/// Set `name` to `value` in a canonical label set (empty removes it).
pub fn set(labels: &mut Labels, name: &str, value: &str) {
    match labels.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => labels[i].1 = value.to_string(),
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, (name.to_string(), value.to_string())),
    }
}

/// A 64-bit FNV-1a fingerprint of a canonical label set (stable across restarts and builds).
pub fn fingerprint(labels: &[(String, String)]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for x in b {
            h ^= u64::from(*x);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (k, v) in labels {
        eat(k.as_bytes());
        eat(&[0xff]);
        eat(v.as_bytes());
        eat(&[0xfe]);
    }
    h
}

/// The fingerprint as Alertmanager prints it: 16 hex digits.
pub fn fingerprint_hex(fp: u64) -> String {
    format!("{fp:016x}")
}

/// Whether every matcher matches `labels`.
pub fn matches_all(matchers: &[Matcher], labels: &[(String, String)]) -> bool {
    matchers.iter().all(|m| m.matches(get(labels, &m.name)))
}

/// Parse one matcher: `name="value"`, `name!="v"`, `name=~"re"`, `name!~"re"` (quotes optional).
pub fn parse_matcher(s: &str) -> Result<Matcher, String> {
    let s = s.trim();
    let name_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    let name = &s[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("{s:?}: a matcher starts with a label name"));
    }
    let rest = s[name_end..].trim_start();
    let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
        (MatchOp::Regex, r)
    } else if let Some(r) = rest.strip_prefix("!~") {
        (MatchOp::NotRegex, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (MatchOp::NotEqual, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (MatchOp::Equal, r)
    } else {
        return Err(format!(
            "{s:?}: expected =, !=, =~ or !~ after the label name"
        ));
    };
    let rest = rest.trim();
    let value = if let Some(q) = rest.strip_prefix('"') {
        let inner = q
            .strip_suffix('"')
            .ok_or_else(|| format!("{s:?}: unterminated quoted value"))?;
        unescape(inner)
    } else {
        rest.to_string()
    };
    Matcher::new(name, op, &value).map_err(|e| format!("{s:?}: invalid regular expression: {e}"))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parse a list of matchers, naming the index of a bad one.
pub fn parse_matchers(list: &[String]) -> Result<Vec<Matcher>, (usize, String)> {
    list.iter()
        .enumerate()
        .map(|(i, s)| parse_matcher(s).map_err(|e| (i, e)))
        .collect()
}

/// A matcher written back as text.
pub fn matcher_text(m: &Matcher) -> String {
    let op = match m.op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Regex => "=~",
        MatchOp::NotRegex => "!~",
    };
    format!("{}{op}{:?}", m.name, m.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        canonical(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn matchers_parse_and_match_like_prometheus() {
        let labels = l(&[("alertname", "DiskFull"), ("severity", "critical")]);
        for (m, want) in [
            (r#"severity="critical""#, true),
            ("severity=critical", true),
            (r#"severity!="critical""#, false),
            (r#"alertname=~"Disk.*""#, true),
            (r#"alertname=~"Disk""#, false),
            (r#"alertname!~"Cpu.*""#, true),
            (r#"missing="""#, true),
        ] {
            let m = parse_matcher(m).unwrap();
            assert_eq!(
                matches_all(std::slice::from_ref(&m), &labels),
                want,
                "{m:?}"
            );
        }
        assert!(parse_matcher("=x").is_err());
        assert!(parse_matcher("a>b").is_err());
        assert!(parse_matcher(r#"a=~"(""#).is_err());
    }

    #[test]
    fn fingerprints_ignore_order_but_not_values() {
        let a = l(&[("b", "2"), ("a", "1")]);
        let b = l(&[("a", "1"), ("b", "2")]);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&l(&[("a", "1"), ("b", "3")])));
        assert_eq!(fingerprint_hex(1), "0000000000000001");
    }
}
