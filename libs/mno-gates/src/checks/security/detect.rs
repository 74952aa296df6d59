//! Finding secrets in one buffer: keyword prefilter, per-line regexes, entropy and placeholders.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::Regex;

use super::rules::{RULES, RuleDef};
use crate::error::GateError;

/// How far past its header line a private key's body is looked for.
const KEY_BODY_WINDOW: usize = 512;

/// One secret found in a buffer.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The rule that matched.
    pub rule: &'static RuleDef,
    /// Line, 1-based.
    pub line: usize,
    /// Column of the secret, 1-based, in characters.
    pub column: usize,
    /// The secret itself (kept in memory only to hash and redact it).
    pub secret: String,
}

/// The compiled rule set.
#[derive(Debug)]
pub struct Detector {
    prefilter: AhoCorasick,
    /// For each prefilter pattern, the bit set of rules it enables.
    keyword_rules: Vec<u64>,
    regexes: Vec<Regex>,
    min_entropy: Vec<f64>,
    allow: Vec<Regex>,
}

impl Detector {
    /// Compile the built-in rules with the generic rule's entropy threshold and extra allow regexes.
    pub fn new(entropy_threshold: f64, allow_regexes: &[String]) -> Result<Detector, GateError> {
        const _: () = assert!(RULES.len() <= 64, "rule sets are u64 bit sets");
        let mut keywords = Vec::new();
        let mut keyword_rules = Vec::new();
        for (i, r) in RULES.iter().enumerate() {
            for k in r.keywords {
                keywords.push(*k);
                keyword_rules.push(1u64 << i);
            }
        }
        let prefilter = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&keywords)
            .map_err(|e| pattern_error("built-in keywords", "", e))?;
        let regexes = RULES
            .iter()
            .map(|r| Regex::new(r.regex).map_err(|e| pattern_error(r.id, r.regex, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let min_entropy = RULES
            .iter()
            .map(|r| {
                if r.generic {
                    entropy_threshold
                } else {
                    r.min_entropy
                }
            })
            .collect();
        let allow = allow_regexes
            .iter()
            .map(|p| Regex::new(p).map_err(|e| pattern_error("security_scan.allow_regexes", p, e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Detector {
            prefilter,
            keyword_rules,
            regexes,
            min_entropy,
            allow,
        })
    }

    /// Every secret in `data`, in order.
    pub fn scan(&self, data: &[u8]) -> Vec<Hit> {
        // Lines holding a keyword, each with the rules its keywords enable.
        let mut lines: Vec<(usize, u64)> = Vec::new();
        // Hits come in order, so each search for a line start only looks back to the previous
        // hit: a long minified line with many hits stays linear.
        let (mut searched_to, mut start) = (0, 0);
        for m in self.prefilter.find_overlapping_iter(data) {
            let at = m.start().max(searched_to);
            if let Some(p) = data[searched_to..at].iter().rposition(|&b| b == b'\n') {
                start = searched_to + p + 1;
            }
            searched_to = at;
            let bits = self.keyword_rules[m.pattern().as_usize()];
            match lines.last_mut() {
                Some((s, b)) if *s == start => *b |= bits,
                _ => lines.push((start, bits)),
            }
        }
        if lines.is_empty() {
            return Vec::new();
        }
        let mut hits = Vec::new();
        let mut line_no = 1;
        let mut counted_to = 0;
        for (start, bits) in lines {
            line_no += newlines(&data[counted_to..start]);
            counted_to = start;
            let end = line_end(data, start);
            self.scan_line(data, start, end, bits, line_no, &mut hits);
        }
        hits
    }

    fn scan_line(
        &self,
        data: &[u8],
        start: usize,
        end: usize,
        bits: u64,
        line_no: usize,
        hits: &mut Vec<Hit>,
    ) {
        let line = &data[start..end];
        // An inline `mno:allow` marks a reviewed false positive (or a deliberate fixture).
        if contains(line, b"mno:allow") {
            return;
        }
        let mut taken: Vec<(usize, usize)> = Vec::new();
        for (i, rule) in RULES.iter().enumerate() {
            if bits & (1u64 << i) == 0 {
                continue;
            }
            let window = if rule.id == "private-key" {
                &data[start..(end + KEY_BODY_WINDOW).min(data.len())]
            } else {
                line
            };
            for caps in self.regexes[i].captures_iter(window) {
                let Some(whole) = caps.get(0) else { continue };
                if whole.start() >= line.len() {
                    break;
                }
                let Some(secret) = caps.iter().skip(1).flatten().next() else {
                    continue;
                };
                let (s, e) = (secret.start(), secret.end());
                if rule.generic && taken.iter().any(|&(ts, te)| s < te && ts < e) {
                    continue;
                }
                let text = String::from_utf8_lossy(secret.as_bytes()).into_owned();
                if !self.plausible(rule, i, &text) {
                    continue;
                }
                taken.push((s, e));
                let col_at = s.min(line.len());
                let column = String::from_utf8_lossy(&line[..col_at]).chars().count() + 1;
                hits.push(Hit {
                    rule,
                    line: line_no,
                    column,
                    secret: text,
                });
            }
        }
    }

    fn plausible(&self, rule: &RuleDef, i: usize, secret: &str) -> bool {
        if is_placeholder(secret) || self.allow.iter().any(|r| r.is_match(secret.as_bytes())) {
            return false;
        }
        if shannon_entropy(secret) < self.min_entropy[i] {
            return false;
        }
        // A generic value must look random, not like a word or an identifier.
        !rule.generic
            || (secret.bytes().any(|b| b.is_ascii_digit())
                && has_mixed_classes(secret)
                && !is_constant_name(secret))
    }
}

fn pattern_error(what: &str, pattern: &str, e: impl std::fmt::Display) -> GateError {
    GateError::Pattern {
        what: what.to_string(),
        pattern: pattern.to_string(),
        message: e.to_string(),
    }
}

fn line_end(data: &[u8], at: usize) -> usize {
    data[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(data.len(), |p| at + p)
}

fn newlines(data: &[u8]) -> usize {
    data.iter().filter(|&&b| b == b'\n').count()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Shannon entropy in bits per character.
pub fn shannon_entropy(s: &str) -> f64 {
    let mut counts = [0usize; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    if n == 0.0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// `SCREAMING_SNAKE_CASE` with an underscore: a constant's name on the right of `=`, not a value.
fn is_constant_name(s: &str) -> bool {
    s.contains('_')
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn has_mixed_classes(s: &str) -> bool {
    let lower = s.bytes().any(|b| b.is_ascii_lowercase());
    let upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let digit = s.bytes().any(|b| b.is_ascii_digit());
    let other = s.bytes().any(|b| !b.is_ascii_alphanumeric());
    [lower, upper, digit, other].iter().filter(|&&x| x).count() >= 2
}

/// Values that stand in for a secret in docs, templates and examples.
pub fn is_placeholder(secret: &str) -> bool {
    const MARKERS: &[&str] = &[
        "example",
        "changeme",
        "change_me",
        "change-me",
        "placeholder",
        "your",
        "xxxx",
        "dummy",
        "sample",
        "redacted",
        "replace",
        "insert",
        "fixme",
        "todo",
        "<",
        ">",
        "${",
        "{{",
        "%(",
        "****",
        "....",
        "password",
        "passwd",
        "secret",
    ];
    // Keys published in vendor documentation; their text says nothing "example"-like.
    const KNOWN_EXAMPLES: &[&str] = &[
        // jwt.io's sample token signature.
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        // Stripe's documented test key.
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    ];
    let lower = secret.to_ascii_lowercase();
    if MARKERS.iter().any(|m| lower.contains(m))
        || KNOWN_EXAMPLES.iter().any(|k| secret.contains(k))
        || secret.starts_with('$')
    {
        return true;
    }
    // One repeated character (`aaaaaaaa`, `00000000`) is a filler, not a key.
    let mut bytes = secret.bytes();
    bytes.next().is_some_and(|first| bytes.all(|b| b == first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_uniform_and_repeated_strings() {
        assert_eq!(shannon_entropy("aaaa"), 0.0);
        assert!((shannon_entropy("abcd") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn placeholders_are_recognized() {
        for p in [
            "changeme",
            "${DB_PASSWORD}",
            "<your-token>",
            "AKIAIOSFODNN7EXAMPLE",
            "xxxxxxxxxxxxxxxx",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        assert!(!is_placeholder("q8Zr2LmX0vT7wKp4"));
    }

    #[test]
    fn a_line_with_mno_allow_is_skipped() {
        let d = Detector::new(3.5, &[]).unwrap();
        let key = format!("AKIA{}", "Q3ZT7WX2LMNB5KRD");
        assert_eq!(d.scan(format!("id = \"{key}\"\n").as_bytes()).len(), 1);
        assert!(
            d.scan(format!("id = \"{key}\" # mno:allow\n").as_bytes())
                .is_empty()
        );
    }

    #[test]
    fn line_and_column_are_one_based() {
        let d = Detector::new(3.5, &[]).unwrap();
        let text = format!(
            "a\nb\n  token: ghp_{}\n",
            "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0A"
        );
        let hits = d.scan(text.as_bytes());
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!((hits[0].line, hits[0].column), (3, 10));
        assert_eq!(hits[0].rule.id, "github-token");
    }
}
