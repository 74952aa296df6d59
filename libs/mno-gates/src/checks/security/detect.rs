//! Finding secrets in one buffer: keyword prefilter, per-line regexes, then the filters.
//!
//! One Aho-Corasick automaton holds every rule's keywords; each keyword maps to the rules
//! it enables, so a line runs only the regexes of the rules whose keywords it contains.
//! Rules brought from a gitleaks file keep gitleaks' semantics: their regex runs on the
//! whole file when one of their keywords occurs anywhere in it (or always, without
//! keywords), and they are filtered only by entropy and their allowlists.

use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::bytes::{Regex, RegexBuilder};

use super::filters::{is_example_host, looks_like_code};
pub use super::filters::{is_placeholder, shannon_entropy};
use super::gitleaks::{Allowlist, CustomRules, Target};
use super::judge;
use super::rules::{Check, Kind, RuleDef, builtin};
use crate::config::SecurityConfig;
use crate::error::GateError;

/// Keywords are cut to this many characters for the prefilter.
const MAX_KEYWORD: usize = 10;

/// How far past its first line a multi-line match (a key block's body) is looked for.
const MULTILINE_WINDOW: usize = 4096;

/// The rule a hit came from, as reports name it.
#[derive(Debug, Clone, Copy)]
pub struct RuleRef {
    /// Stable rule id, reported as `rule_id`.
    pub id: &'static str,
    /// What the secret is, for messages.
    pub title: &'static str,
    /// A generic rule: its hit gives way to another rule's on the same secret.
    pub yields: bool,
}

/// One secret found in a buffer.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The rule that matched.
    pub rule: RuleRef,
    /// Line, 1-based.
    pub line: usize,
    /// Column of the secret, 1-based, in characters.
    pub column: usize,
    /// The secret itself (kept in memory only to hash and redact it).
    pub secret: String,
}

/// Where a rule's regex runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// On each line holding one of its keywords (built-in rules).
    Line,
    /// On the whole file when a keyword occurs in it, or always without keywords (gitleaks).
    File,
}

/// One compiled rule.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) info: RuleRef,
    pub(super) regex: Option<Regex>,
    /// Capture groups holding the assigned name (never the secret).
    pub(super) name_groups: Vec<usize>,
    /// The capture group of the secret (gitleaks `secretGroup`); 0: the first that took part.
    pub(super) secret_group: usize,
    pub(super) min_entropy: f64,
    pub(super) kind: Kind,
    pub(super) multiline: bool,
    pub(super) check: Option<fn(&str) -> Check>,
    scope: Scope,
    /// Only files whose path matches (gitleaks `path`).
    pub(super) path: Option<Regex>,
    pub(super) allow: Vec<Allowlist>,
    /// Built-in rules get the placeholder filters; a user's own rules only their allowlists.
    pub(super) builtin: bool,
}

/// The compiled rule set.
#[derive(Debug)]
pub struct Detector {
    prefilter: AhoCorasick,
    /// For each prefilter pattern, the rules it enables.
    keyword_rules: Vec<Vec<u32>>,
    rules: Vec<Compiled>,
    /// File-scope rules without keywords: they run on every file.
    always: Vec<u32>,
    /// `security_scan.allow_regexes`.
    allow: Vec<Regex>,
    /// Global gitleaks allowlists.
    global_allow: Vec<Allowlist>,
    /// Paths are reported relative to this.
    root: PathBuf,
    /// The generic rules' entropy floor.
    entropy_threshold: f64,
    /// The prefilter pattern that marks a Kubernetes Secret manifest.
    k8s_marker: usize,
    /// A `key: base64` line of a manifest's `data:`.
    k8s_data: Regex,
}

/// Present in a Kubernetes Secret manifest, whose `data:` values are base64.
const K8S_SECRET_MARKER: &str = "kind: secret";

impl Detector {
    /// Compile the built-in rules with the generic rules' entropy threshold and extra allow regexes.
    pub fn new(entropy_threshold: f64, allow_regexes: &[String]) -> Result<Detector, GateError> {
        Detector::build(
            entropy_threshold,
            allow_regexes,
            CustomRules::default(),
            Path::new(""),
        )
    }

    /// The detector a scan of `root` uses: built-ins plus or instead of the rules of a
    /// gitleaks file (`security_scan.gitleaks_config`, or `.gitleaks.toml` at the root).
    pub fn from_config(root: &Path, cfg: &SecurityConfig) -> Result<Detector, GateError> {
        let custom = super::gitleaks::load_for(root, cfg.gitleaks_config.as_deref())?;
        Detector::build(cfg.entropy_threshold, &cfg.allow_regexes, custom, root)
    }

    /// Compile built-ins (unless the custom set replaces them) and custom rules.
    pub fn build(
        entropy_threshold: f64,
        allow_regexes: &[String],
        custom: CustomRules,
        root: &Path,
    ) -> Result<Detector, GateError> {
        let CustomRules {
            rules: custom_rules,
            use_builtin,
            disabled,
            allowlists,
        } = custom;
        let overridden: Vec<&str> = custom_rules.iter().map(|r| r.compiled.info.id).collect();
        let mut rules: Vec<Compiled> = Vec::new();
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<u32>> = Vec::new();
        let mut add_keyword = |k: &str, i: u32, kws: &mut Vec<String>| {
            // A keyword's first bytes are as selective as the whole, and short keywords
            // keep the automaton small enough to stay in cache.
            let k: String = k.to_ascii_lowercase().chars().take(MAX_KEYWORD).collect();
            match kws.iter().position(|x| *x == k) {
                Some(p) => keyword_rules[p].push(i),
                None => {
                    kws.push(k);
                    keyword_rules.push(vec![i]);
                }
            }
        };
        if use_builtin {
            for r in builtin() {
                if disabled.iter().any(|d| d == r.id) || overridden.contains(&r.id) {
                    continue;
                }
                let i = rules.len() as u32;
                for k in r.keywords {
                    add_keyword(k, i, &mut keywords);
                }
                rules.push(compile_builtin(r)?);
            }
        }
        let mut always = Vec::new();
        for (r, kws) in custom_rules.into_iter().map(|c| {
            let kws = c.keywords.clone();
            (c.compiled, kws)
        }) {
            let i = rules.len() as u32;
            if kws.is_empty() {
                always.push(i);
            }
            for k in &kws {
                add_keyword(k, i, &mut keywords);
            }
            rules.push(r);
        }
        let k8s_marker = keywords.len();
        keywords.push(K8S_SECRET_MARKER.to_string());
        keyword_rules.push(Vec::new());
        let k8s_data = RegexBuilder::new(r"^\s+([\w.\-]+):\s+([A-Za-z0-9+/]{12,}={0,2})\s*$")
            .unicode(false)
            .build()
            .map_err(|e| pattern_error("kubernetes data", "", e))?;
        // A DFA: one table lookup per byte however many keywords there are (the NFA the
        // builder picks for a few hundred patterns is several times slower on this search).
        let prefilter = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&keywords)
            .map_err(|e| pattern_error("rule keywords", "", e))?;
        let allow = allow_regexes
            .iter()
            .map(|p| Regex::new(p).map_err(|e| pattern_error("security_scan.allow_regexes", p, e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Detector {
            prefilter,
            keyword_rules,
            rules,
            always,
            allow,
            global_allow: allowlists,
            root: root.to_path_buf(),
            entropy_threshold,
            k8s_marker,
            k8s_data,
        })
    }

    /// Number of rules in effect.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Every secret in `data`, in order (rules restricted to paths do not run).
    pub fn scan(&self, data: &[u8]) -> Vec<Hit> {
        self.scan_inner(None, data, 0)
    }

    /// Every secret in the file at `path` (under the detector's root) with contents `data`.
    pub fn scan_at(&self, path: &Path, data: &[u8]) -> Vec<Hit> {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        let rel = rel.to_string_lossy().replace('\\', "/");
        self.scan_inner(Some(&rel), data, 0)
    }

    fn scan_inner(&self, path: Option<&str>, data: &[u8], depth: u8) -> Vec<Hit> {
        if let Some(p) = path
            && self.global_allow.iter().any(|a| a.allows_path(p))
        {
            return Vec::new();
        }
        // Lines holding a keyword: (line start, range of `line_rules`) with the rules enabled.
        let mut lines: Vec<(usize, usize, usize)> = Vec::new();
        let mut line_rules: Vec<u32> = Vec::new();
        let mut file_rules: Vec<u32> = self.always.clone();
        let mut manifest = false;
        // Matches come in order, so each search for a line start only looks back to the
        // previous match: a long minified line with many matches stays linear.
        let (mut searched_to, mut start) = (0, 0);
        for m in self.prefilter.find_overlapping_iter(data) {
            let at = m.start().max(searched_to);
            if let Some(p) = data[searched_to..at].iter().rposition(|&b| b == b'\n') {
                start = searched_to + p + 1;
            }
            searched_to = at;
            if m.pattern().as_usize() == self.k8s_marker {
                manifest = true;
            }
            for &i in &self.keyword_rules[m.pattern().as_usize()] {
                if self.rules[i as usize].scope == Scope::File {
                    if !file_rules.contains(&i) {
                        file_rules.push(i);
                    }
                    continue;
                }
                match lines.last_mut() {
                    Some((s, _, end)) if *s == start => {
                        line_rules.push(i);
                        *end = line_rules.len();
                    }
                    _ => {
                        line_rules.push(i);
                        lines.push((start, line_rules.len() - 1, line_rules.len()));
                    }
                }
            }
        }
        let mut hits = Vec::new();
        let mut line_no = 1;
        let mut counted_to = 0;
        let mut enabled: Vec<u32> = Vec::new();
        for (start, from, to) in lines {
            line_no += newlines(&data[counted_to..start]);
            counted_to = start;
            enabled.clear();
            enabled.extend_from_slice(&line_rules[from..to]);
            // Rule order is evaluation order: specific rules before the generic ones.
            enabled.sort_unstable();
            enabled.dedup();
            let end = line_end(data, start);
            self.scan_line(data, start, end, &enabled, line_no, path, &mut hits);
        }
        file_rules.sort_unstable();
        let line_hits = hits.len();
        for &i in &file_rules {
            self.scan_file_rule(&self.rules[i as usize], data, path, &mut hits);
        }
        if hits.len() > line_hits {
            // A user's rule that found the same secret as a generic built-in one wins.
            let custom: Vec<(usize, String)> = hits[line_hits..]
                .iter()
                .map(|h| (h.line, h.secret.clone()))
                .collect();
            hits.retain(|h| {
                !h.rule.yields
                    || !custom.iter().any(|(l, s)| {
                        *l == h.line && (s.contains(&h.secret) || h.secret.contains(s.as_str()))
                    })
            });
        }
        if manifest && depth == 0 {
            self.scan_manifest_data(data, path, &mut hits);
        }
        hits
    }

    /// A Kubernetes Secret's `data:` values are base64: each is decoded and scanned as
    /// `key: value`, and what is found is reported on the encoded line.
    fn scan_manifest_data(&self, data: &[u8], path: Option<&str>, hits: &mut Vec<Hit>) {
        use base64::Engine;
        for (i, line) in data.split(|&b| b == b'\n').enumerate() {
            let line_no = i + 1;
            let Some(caps) = self.k8s_data.captures(line) else {
                continue;
            };
            let (Some(key), Some(value)) = (caps.get(1), caps.get(2)) else {
                continue;
            };
            if hits.iter().any(|h| h.line == line_no) {
                continue;
            }
            let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(value.as_bytes()) else {
                continue;
            };
            if raw.iter().any(|&b| b < 0x09 || b == 0x7f) {
                continue;
            }
            let mut text = key.as_bytes().to_vec();
            text.extend_from_slice(b": ");
            text.extend_from_slice(&raw);
            text.push(b'\n');
            let column = value.start() + 1;
            if let Some(h) = self.scan_inner(path, &text, 1).into_iter().next() {
                hits.push(Hit {
                    line: line_no,
                    column,
                    ..h
                });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn scan_line(
        &self,
        data: &[u8],
        start: usize,
        end: usize,
        enabled: &[u32],
        line_no: usize,
        path: Option<&str>,
        hits: &mut Vec<Hit>,
    ) {
        let raw_line = &data[start..end];
        // An inline `mno:allow` marks a reviewed false positive (or a deliberate fixture).
        if contains(raw_line, b"mno:allow") {
            return;
        }
        let raw_window = &data[start..(end + MULTILINE_WINDOW).min(data.len())];
        // JSON may escape `/` as `\/` (in URLs, in base64): read the line unescaped.
        let unescaped;
        let (line, full_window) = if contains(raw_line, b"\\/") {
            unescaped = unescape_slashes(raw_window);
            let line_len = raw_line.len() - count(raw_line, b"\\/");
            (&unescaped[..line_len], &unescaped[..])
        } else {
            (raw_line, raw_window)
        };
        let blobs = base64_blobs(line);
        let mut taken: Vec<(usize, usize)> = Vec::new();
        for &i in enabled {
            let rule = &self.rules[i as usize];
            let Some(regex) = &rule.regex else { continue };
            if !rule.path_matches(path) {
                continue;
            }
            let window = if rule.multiline { full_window } else { line };
            for caps in regex.captures_iter(window) {
                let Some(whole) = caps.get(0) else { continue };
                if whole.start() >= line.len() {
                    break;
                }
                let Some((secret, name)) = rule.secret_of(&caps) else {
                    continue;
                };
                let (s, e) = (secret.start(), secret.end());
                // Inside a `data:…;base64,` blob (an inlined image) any shape can occur.
                if blobs.iter().any(|&(bs, be)| s >= bs && e <= be) {
                    continue;
                }
                let overlaps = taken.iter().any(|&(ts, te)| s < te && ts < e);
                if overlaps && rule.kind != Kind::Specific || taken.contains(&(s, e)) {
                    continue;
                }
                let text = String::from_utf8_lossy(secret.as_bytes()).into_owned();
                // Quoted, or an XML element's text.
                let quoted = s > 0 && matches!(window[s - 1], b'"' | b'\'' | b'`' | b'>');
                if !quoted && rule.kind != Kind::Specific {
                    // An unquoted value after `,` is a call's argument, not data.
                    let before = window[..s].trim_ascii_end();
                    if looks_like_code(&text) || before.ends_with(b",") {
                        continue;
                    }
                }
                if rule.info.id.ends_with("-url") || rule.info.id == "connection-string-password" {
                    let host = &window[e..whole.end()];
                    let host = String::from_utf8_lossy(host.strip_prefix(b"@").unwrap_or(host));
                    if is_example_host(&host) && shannon_entropy(&text) < 3.0 {
                        continue;
                    }
                }
                if !judge::plausible(rule, &text, name, self.entropy_threshold) {
                    continue;
                }
                let line_text = &window[..line.len()];
                if !self.allowed_by_lists(rule, &text, whole.as_bytes(), line_text, path) {
                    continue;
                }
                taken.push((s, e));
                let col_at = s.min(line.len());
                let column = String::from_utf8_lossy(&line[..col_at]).chars().count() + 1;
                hits.push(Hit {
                    rule: rule.info,
                    line: line_no,
                    column,
                    secret: text,
                });
            }
        }
    }

    /// A gitleaks rule: its regex over the whole file (or a path-only rule: the file itself).
    fn scan_file_rule(
        &self,
        rule: &Compiled,
        data: &[u8],
        path: Option<&str>,
        hits: &mut Vec<Hit>,
    ) {
        if !rule.path_matches(path) {
            return;
        }
        let Some(regex) = &rule.regex else {
            // A rule with only `path` reports the file itself.
            if let Some(p) = path {
                hits.push(Hit {
                    rule: rule.info,
                    line: 1,
                    column: 1,
                    secret: p.to_string(),
                });
            }
            return;
        };
        let (mut line_no, mut counted_to) = (1, 0);
        for caps in regex.captures_iter(data) {
            let Some(whole) = caps.get(0) else { continue };
            let Some((secret, name)) = rule.secret_of(&caps) else {
                continue;
            };
            let text = String::from_utf8_lossy(secret.as_bytes()).into_owned();
            if !judge::plausible(rule, &text, name, self.entropy_threshold) {
                continue;
            }
            let s = secret.start();
            let ls = data[..s]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let line_text = &data[ls..line_end(data, s)];
            if contains(line_text, b"mno:allow")
                || !self.allowed_by_lists(rule, &text, whole.as_bytes(), line_text, path)
            {
                continue;
            }
            if s >= counted_to {
                line_no += newlines(&data[counted_to..s]);
            } else {
                line_no = 1 + newlines(&data[..s]);
            }
            counted_to = s;
            let column = String::from_utf8_lossy(&data[ls..s]).chars().count() + 1;
            hits.push(Hit {
                rule: rule.info,
                line: line_no,
                column,
                secret: text,
            });
        }
    }

    /// Whether no allowlist (configured regexes, gitleaks global and per-rule lists) covers it.
    fn allowed_by_lists(
        &self,
        rule: &Compiled,
        secret: &str,
        whole: &[u8],
        line: &[u8],
        path: Option<&str>,
    ) -> bool {
        if self.allow.iter().any(|r| r.is_match(secret.as_bytes())) {
            return false;
        }
        let t = Target {
            secret,
            whole,
            line,
            path,
        };
        !self
            .global_allow
            .iter()
            .chain(&rule.allow)
            .any(|a| a.applies_to(rule.info.id) && a.allows(&t))
    }
}

impl Compiled {
    fn path_matches(&self, path: Option<&str>) -> bool {
        match (&self.path, path) {
            (None, _) => true,
            (Some(re), Some(p)) => re.is_match(p.as_bytes()),
            (Some(_), None) => false,
        }
    }

    /// The secret and, for assignment rules, the assigned name.
    fn secret_of<'h>(
        &self,
        caps: &regex::bytes::Captures<'h>,
    ) -> Option<(regex::bytes::Match<'h>, Option<&'h [u8]>)> {
        let name = self
            .name_groups
            .iter()
            .find_map(|&g| caps.get(g))
            .map(|m| m.as_bytes());
        if self.secret_group > 0 {
            return caps.get(self.secret_group).map(|m| (m, name));
        }
        let secret = (1..caps.len())
            .filter(|g| !self.name_groups.contains(g))
            .find_map(|g| caps.get(g))
            // gitleaks: without a capture group, the whole match is the secret.
            .or_else(|| if caps.len() == 1 { caps.get(0) } else { None })?;
        Some((secret, name))
    }

    /// A rule from a gitleaks file.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn custom(
        id: &'static str,
        title: &'static str,
        regex: Option<Regex>,
        secret_group: usize,
        min_entropy: f64,
        path: Option<Regex>,
        allow: Vec<Allowlist>,
    ) -> Compiled {
        Compiled {
            info: RuleRef {
                id,
                title,
                yields: false,
            },
            regex,
            name_groups: Vec::new(),
            secret_group,
            min_entropy,
            kind: Kind::Specific,
            multiline: false,
            check: None,
            scope: Scope::File,
            path,
            allow,
            builtin: false,
        }
    }
}

fn compile_builtin(r: &'static RuleDef) -> Result<Compiled, GateError> {
    // ASCII semantics (`\b`, `\w`, `\s`), as in Go's regexp, and faster on bytes.
    let regex = RegexBuilder::new(r.regex)
        .unicode(false)
        .build()
        .map_err(|e| pattern_error(r.id, r.regex, e))?;
    let name_groups = regex
        .capture_names()
        .enumerate()
        .filter(|(_, n)| n.is_some_and(|n| n.starts_with("name")))
        .map(|(i, _)| i)
        .collect();
    Ok(Compiled {
        info: RuleRef {
            id: r.id,
            title: r.title,
            yields: r.kind != Kind::Specific,
        },
        regex: Some(regex),
        name_groups,
        secret_group: 0,
        min_entropy: r.min_entropy,
        kind: r.kind,
        multiline: r.multiline,
        check: r.check,
        scope: Scope::Line,
        path: None,
        allow: Vec::new(),
        builtin: true,
    })
}

/// Spans of `;base64,` payloads on a line (data URIs of images and fonts).
fn base64_blobs(line: &[u8]) -> Vec<(usize, usize)> {
    const MARK: &[u8] = b";base64,";
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = find(&line[from..], MARK) {
        let s = from + p + MARK.len();
        let len = line[s..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            .count();
        out.push((s, s + len));
        from = s + len;
    }
    out
}

pub(crate) fn pattern_error(what: &str, pattern: &str, e: impl std::fmt::Display) -> GateError {
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

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// `\/` as `/`.
fn unescape_slashes(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && s.get(i + 1) == Some(&b'/') {
            out.push(b'/');
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn more_than_64_rules_are_compiled_and_each_is_reachable() {
        let d = Detector::new(3.5, &[]).unwrap();
        assert!(d.rule_count() > 64, "{}", d.rule_count());
        // The last rules (beyond bit 63 of the old u64 sets) still fire.
        let line = format!(
            "curl -H \"Authorization: Bearer {}\" x\n",
            "Zq7Lm2Np9Rt4Vx8Bc3Df6Gh1Jk5"
        );
        let hits = d.scan(line.as_bytes());
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].rule.id, "authorization-bearer");
    }

    #[test]
    fn aws_key_id_with_low_entropy_is_found() {
        let d = Detector::new(3.5, &[]).unwrap();
        // Entropy about 2.9 bits: the old floor of 3.0 dropped it.
        let line = format!("aws_access_key_id = AKIA{}\n", "QQQQRRRRSSSS2233");
        let hits = d.scan(line.as_bytes());
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].rule.id, "aws-access-key-id");
    }

    #[test]
    fn inlined_base64_images_are_not_secrets() {
        let d = Detector::new(3.5, &[]).unwrap();
        let line = format!(
            "<img src=\"data:image/png;base64,iVBORw0KGgo/AAAAAAAAAAAAAAAAAAAAA{}\">\n",
            "Qk9Sd0tHZ29BQUFBTlNVaEVVZ0FBQUFFQUFBQUJD"
        );
        assert!(d.scan(line.as_bytes()).is_empty());
    }
}
