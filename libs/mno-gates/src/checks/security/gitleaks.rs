//! Rules in gitleaks' format (`.gitleaks.toml`), so teams bring the rules they have.
//!
//! Supported: `[[rules]]` (`id`, `description`, `regex`, `secretGroup`, `entropy`,
//! `keywords`, `path`), their `[[rules.allowlists]]` and legacy `[rules.allowlist]`
//! (`regexes`, `regexTarget`, `paths`, `stopwords`, `condition`), the global
//! `[allowlist]` / `[[allowlists]]` (with `targetRules`), and `[extend]` (`useDefault`:
//! keep the built-in rules; `path`: extend another gitleaks file; `disabledRules`).
//! Allowlist `commits` never match: a tree scan has no commit. Go's regex syntax is
//! mostly Rust's; what Rust lacks (look-ahead, look-behind, backreferences) is an error
//! naming the file, line, column and rule.
//!
//! Which file: `security_scan.gitleaks_config` when set (`""` turns the lookup off);
//! otherwise `.gitleaks.toml` at the scanned root. An auto-detected file always adds to
//! the built-in rules, whatever its `[extend]` says: a stray file (written for another
//! tool, or added by the pull request under review) must not switch the built-in rules
//! off. A file named in `root.gates.yaml` has gitleaks' meaning: without
//! `[extend] useDefault = true` its rules replace the built-in ones.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;
use toml::Spanned;

use super::detect::Compiled;
use crate::error::GateError;

/// The file looked for at the root when `gitleaks_config` is not set.
pub const DEFAULT_FILE: &str = ".gitleaks.toml";

/// How deep `[extend] path` chains may go.
const MAX_EXTEND_DEPTH: usize = 3;

/// Rules and allowlists read from gitleaks files.
#[derive(Debug)]
pub struct CustomRules {
    /// The rules, compiled.
    pub rules: Vec<CustomRule>,
    /// Keep the built-in rules (`[extend] useDefault = true`, or no file at all).
    pub use_builtin: bool,
    /// Built-in rule ids turned off (`[extend] disabledRules`).
    pub disabled: Vec<String>,
    /// Global allowlists.
    pub allowlists: Vec<Allowlist>,
}

impl Default for CustomRules {
    fn default() -> Self {
        CustomRules {
            rules: Vec::new(),
            use_builtin: true,
            disabled: Vec::new(),
            allowlists: Vec::new(),
        }
    }
}

/// One rule from a gitleaks file.
#[derive(Debug)]
pub struct CustomRule {
    pub(crate) compiled: Compiled,
    /// Its keywords (lowercase).
    pub keywords: Vec<String>,
}

/// What an allowlist's regexes look at (`regexTarget`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegexTarget {
    Secret,
    Match,
    Line,
}

/// One allowlist: a hit it covers is not reported.
#[derive(Debug)]
pub struct Allowlist {
    /// All criteria must hold (`condition = "AND"`) rather than any.
    and: bool,
    target: RegexTarget,
    regexes: Vec<Regex>,
    paths: Vec<Regex>,
    stopwords: Vec<String>,
    /// Only `commits`: nothing a tree scan can match.
    commits_only: bool,
    /// Rule ids it applies to (global `[[allowlists]]` `targetRules`); empty: all.
    target_rules: Vec<String>,
}

/// A candidate, as allowlists see it.
pub struct Target<'a> {
    /// The secret.
    pub secret: &'a str,
    /// The whole regex match.
    pub whole: &'a [u8],
    /// The line it is on.
    pub line: &'a [u8],
    /// The file, relative to the root (none when scanning a bare buffer).
    pub path: Option<&'a str>,
}

impl Allowlist {
    /// Whether it covers hits of this rule.
    pub fn applies_to(&self, rule_id: &str) -> bool {
        self.target_rules.is_empty() || self.target_rules.iter().any(|r| r == rule_id)
    }

    /// Whether it covers a whole file (only paths, for every rule).
    pub fn allows_path(&self, path: &str) -> bool {
        self.target_rules.is_empty()
            && self.regexes.is_empty()
            && self.stopwords.is_empty()
            && !self.paths.is_empty()
            && self.paths.iter().any(|p| p.is_match(path.as_bytes()))
    }

    /// Whether it covers this candidate.
    pub fn allows(&self, t: &Target) -> bool {
        if self.commits_only {
            return false;
        }
        let text: &[u8] = match self.target {
            RegexTarget::Secret => t.secret.as_bytes(),
            RegexTarget::Match => t.whole,
            RegexTarget::Line => t.line,
        };
        let lower = t.secret.to_ascii_lowercase();
        let checks = [
            (!self.regexes.is_empty()).then(|| self.regexes.iter().any(|r| r.is_match(text))),
            (!self.paths.is_empty()).then(|| {
                t.path
                    .is_some_and(|p| self.paths.iter().any(|r| r.is_match(p.as_bytes())))
            }),
            (!self.stopwords.is_empty())
                .then(|| self.stopwords.iter().any(|w| lower.contains(w.as_str()))),
        ];
        let mut present = checks.iter().flatten().peekable();
        if present.peek().is_none() {
            return false;
        }
        if self.and {
            present.all(|&x| x)
        } else {
            present.any(|&x| x)
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileToml {
    #[serde(default)]
    extend: Option<ExtendToml>,
    #[serde(default)]
    rules: Vec<RuleToml>,
    #[serde(default)]
    allowlist: Option<AllowToml>,
    #[serde(default)]
    allowlists: Vec<AllowToml>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ExtendToml {
    #[serde(default)]
    use_default: bool,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    disabled_rules: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleToml {
    id: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    regex: Option<Spanned<String>>,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    path: Option<Spanned<String>>,
    #[serde(default)]
    allowlist: Option<AllowToml>,
    #[serde(default)]
    allowlists: Vec<AllowToml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AllowToml {
    #[serde(default)]
    condition: Option<Spanned<String>>,
    #[serde(default)]
    regex_target: Option<Spanned<String>>,
    #[serde(default)]
    regexes: Vec<Spanned<String>>,
    #[serde(default)]
    paths: Vec<Spanned<String>>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    commits: Vec<String>,
    #[serde(default)]
    target_rules: Vec<String>,
}

/// The gitleaks rules for a scan of `root`: `setting` is `security_scan.gitleaks_config`.
pub fn load_for(root: &Path, setting: Option<&str>) -> Result<CustomRules, GateError> {
    match setting {
        Some("") => Ok(CustomRules::default()),
        Some(p) => load(&root.join(p)),
        None => {
            let path = root.join(DEFAULT_FILE);
            if !path.is_file() {
                return Ok(CustomRules::default());
            }
            let mut rules = load(&path)?;
            rules.use_builtin = true;
            Ok(rules)
        }
    }
}

/// Read one gitleaks file (and the files it extends).
pub fn load(path: &Path) -> Result<CustomRules, GateError> {
    load_depth(path, 0)
}

fn load_depth(path: &Path, depth: usize) -> Result<CustomRules, GateError> {
    let text = std::fs::read_to_string(path).map_err(|e| GateError::Gitleaks {
        path: path.display().to_string(),
        line: 0,
        column: 0,
        message: e.to_string(),
    })?;
    let err = |span: Option<std::ops::Range<usize>>, message: String| {
        let (line, column) = span.map_or((0, 0), |s| line_col(&text, s.start));
        GateError::Gitleaks {
            path: path.display().to_string(),
            line,
            column,
            message,
        }
    };
    let file: FileToml =
        toml::from_str(&text).map_err(|e| err(e.span(), e.message().to_string()))?;
    let extend = file.extend.unwrap_or_default();
    let mut out = match &extend.path {
        Some(base) if depth < MAX_EXTEND_DEPTH => {
            let dir = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
            load_depth(&dir.join(base), depth + 1)?
        }
        Some(_) => {
            return Err(err(
                None,
                format!("[extend] path nests deeper than {MAX_EXTEND_DEPTH} files"),
            ));
        }
        None => CustomRules {
            use_builtin: false,
            ..CustomRules::default()
        },
    };
    out.use_builtin |= extend.use_default;
    out.disabled.extend(extend.disabled_rules);
    for a in file.allowlist.into_iter().chain(file.allowlists) {
        out.allowlists.push(allowlist(a, &err, "[allowlist]")?);
    }
    for r in file.rules {
        let id_span = r.id.span();
        let id = intern(r.id.into_inner());
        let ctx = format!("rule {id:?}");
        let regex = match r.regex {
            Some(re) => {
                let span = re.span();
                Some(
                    compile(re.get_ref())
                        .map_err(|e| err(Some(span), format!("{ctx}: regex: {e}")))?,
                )
            }
            None => None,
        };
        let path_re = match r.path {
            Some(p) => {
                let span = p.span();
                Some(
                    compile(p.get_ref())
                        .map_err(|e| err(Some(span), format!("{ctx}: path: {e}")))?,
                )
            }
            None => None,
        };
        if regex.is_none() && path_re.is_none() {
            return Err(err(
                Some(id_span),
                format!("{ctx}: needs a regex or a path"),
            ));
        }
        let mut allow = Vec::new();
        for a in r.allowlist.into_iter().chain(r.allowlists) {
            allow.push(allowlist(a, &err, &ctx)?);
        }
        let title = intern(r.description.unwrap_or_else(|| id.to_string()));
        let compiled = Compiled::custom(
            id,
            title,
            regex,
            r.secret_group.unwrap_or(0),
            r.entropy.unwrap_or(0.0),
            path_re,
            allow,
        );
        let keywords = r.keywords.iter().map(|k| k.to_ascii_lowercase()).collect();
        // A rule with the id of one already read (an extended file's) replaces it.
        out.rules.retain(|c| c.compiled.info.id != id);
        out.rules.push(CustomRule { compiled, keywords });
    }
    Ok(out)
}

fn allowlist(
    a: AllowToml,
    err: &impl Fn(Option<std::ops::Range<usize>>, String) -> GateError,
    ctx: &str,
) -> Result<Allowlist, GateError> {
    let and = match &a.condition {
        None => false,
        Some(c) => match c.get_ref().to_ascii_uppercase().as_str() {
            "OR" => false,
            "AND" => true,
            other => {
                return Err(err(
                    Some(c.span()),
                    format!("{ctx}: allowlist condition {other:?} (expected OR or AND)"),
                ));
            }
        },
    };
    let target = match &a.regex_target {
        None => RegexTarget::Secret,
        Some(t) => match t.get_ref().as_str() {
            "secret" | "" => RegexTarget::Secret,
            "match" => RegexTarget::Match,
            "line" => RegexTarget::Line,
            other => {
                return Err(err(
                    Some(t.span()),
                    format!(
                        "{ctx}: allowlist regexTarget {other:?} (expected secret, match or line)"
                    ),
                ));
            }
        },
    };
    let regexes = a
        .regexes
        .iter()
        .map(|r| {
            compile(r.get_ref())
                .map_err(|e| err(Some(r.span()), format!("{ctx}: allowlist regex: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let paths = a
        .paths
        .iter()
        .map(|r| {
            compile(r.get_ref())
                .map_err(|e| err(Some(r.span()), format!("{ctx}: allowlist path: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let commits_only =
        !a.commits.is_empty() && regexes.is_empty() && paths.is_empty() && a.stopwords.is_empty();
    Ok(Allowlist {
        and,
        target,
        regexes,
        paths,
        stopwords: a.stopwords.iter().map(|s| s.to_ascii_lowercase()).collect(),
        commits_only,
        target_rules: a.target_rules,
    })
}

/// A Go (RE2) pattern as a Rust regex: ASCII classes as in Go, Unicode when it needs it.
fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .build()
        .or_else(|_| Regex::new(pattern))
        .map_err(|e| match e {
            regex::Error::Syntax(s) => {
                s.lines().last().unwrap_or_default().trim().to_string() + &position(&s)
            }
            other => other.to_string(),
        })
}

/// The `^^^` marker line of a regex syntax error, as "at character N of the pattern".
fn position(syntax: &str) -> String {
    syntax
        .lines()
        .find(|l| l.trim_start().starts_with('^'))
        .and_then(|l| l.find('^'))
        .map(|p| format!(" (at character {} of the pattern)", p + 1 - 4.min(p)))
        .unwrap_or_default()
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A rule's id or title kept for the process's lifetime: hits carry `&'static str`, and
/// each distinct string is leaked once however often the configuration is reloaded.
fn intern(s: String) -> &'static str {
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(&s) = seen.get(s.as_str()) {
        return s;
    }
    let leaked: &'static str = Box::leak(s.into_boxed_str());
    seen.insert(leaked);
    leaked
}
