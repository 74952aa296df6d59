//! Auto-fix: patches for findings that can be fixed mechanically, and optionally an AI's.
//!
//! Each fixer turns one finding into file edits, rendered as a git-style unified diff
//! ([`diff`]). Nothing touches the checked tree: every patch is tried on a scratch copy
//! ([`verify`]) with the real `git apply --check`, applied there, and the finding's own
//! check is run again; only a patch after which the finding is gone and nothing new is
//! reported is offered. Patches build on each other in id order (content edits first,
//! renames last, later lines of a file before earlier ones), so `--apply` applies them in
//! that order, and so must a reviewer applying them by hand.
//!
//! | fixer | findings | edit |
//! |---|---|---|
//! | `schema-form` | `schema.type` | a scalar rewritten in place to the type the schema wants (`"8080"` → `8080`, `8080` → `"8080"`, `x` → `[x]`) |
//! | `registry-defaults` | `schema.required` (no `version`), `version.semver` (`1.2`) | `version: 1.0.0` added; `1.2` → `1.2.0` |
//! | `secret-env` | secrets of `security_scan` | the literal replaced by an environment reference for the file's language; rotate the secret |
//! | `action-pin` | `workflow.unpinned-action` | `owner/repo@v4` → `owner/repo@<sha> # v4`, the SHA from a local mirror |
//! | `naming-rename` | `naming.*` | the file or folder renamed (git rename), references updated |
//! | `ai` | others, when `autofix.llm` is configured | an OpenAI-compatible model's patch, offered only if it passes the same trial |

pub mod diff;
mod llm;
mod naming;
mod registry;
mod schema;
mod secret;
mod verify;
mod workflow;

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use diff::FileChange;

use crate::config::GatesConfig;
use crate::finding::{Finding, GateReport, Severity};
use verify::{ApplyMode, Scratch, git_apply, repo_prefix};

/// The folder (inside the report folder) the patches are written to.
pub const PATCH_DIR: &str = "patches";

/// `autofix:` — what the fixers may use. An operator's setting (`super-agent.yaml`, or the
/// flags of `gate run`), never the checked repository's: a pull request must not choose
/// where its code and an API key are sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AutofixConfig {
    /// Propose fixes after each gate run (`super-agent serve`: patches in the report folder;
    /// `gate run` turns this on with `--fix`).
    pub enabled: bool,
    /// A folder of bare (or plain) git clones of actions, `<owner>/<repo>.git` or
    /// `<owner>/<repo>`: `workflow.unpinned-action` is fixed with the commit its tag or
    /// branch names there. Nothing is fetched; unset, actions are not pinned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions_mirror: Option<String>,
    /// At most this many patches per run.
    #[schemars(range(min = 1))]
    pub max_fixes: usize,
    /// The optional AI fixer (off unless `endpoint` is set and its key is in the environment).
    pub llm: LlmConfig,
}

impl Default for AutofixConfig {
    fn default() -> Self {
        AutofixConfig {
            enabled: false,
            actions_mirror: None,
            max_fixes: 100,
            llm: LlmConfig::default(),
        }
    }
}

/// `autofix.llm`: an OpenAI-compatible chat-completions endpoint asked for patches for the
/// findings no mechanical fixer handles. Its patches are marked AI-proposed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// The chat-completions URL (`https://api.openai.com/v1/chat/completions`, a local
    /// server's `http://127.0.0.1:8080/v1/chat/completions`). Unset: no AI fixer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The environment variable holding the API key (sent as a bearer token). The key itself
    /// never goes in a file; without it the AI fixer stays off.
    pub api_key_env: String,
    /// The model asked.
    pub model: String,
    /// Seconds one request may take.
    #[schemars(range(min = 1.0))]
    pub timeout: f64,
    /// At most this many findings are sent per run.
    pub max_findings: usize,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            endpoint: None,
            api_key_env: "MNO_AUTOFIX_LLM_KEY".into(),
            model: "gpt-4o-mini".into(),
            timeout: 60.0,
            max_findings: 5,
        }
    }
}

/// How one run of the fixers goes beyond the configuration.
#[derive(Debug, Clone, Default)]
pub struct FixOptions {
    /// The AI fixer's key (read from `llm.api_key_env` by the caller).
    pub llm_api_key: Option<String>,
    /// Root-relative folders of the gate's own output, left out of the scratch copy.
    pub own_output: Vec<String>,
}

/// The report's "proposed fixes" section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FixesSection {
    /// Patches that passed `git apply --check` and the re-run check, in the order they apply.
    pub proposed: Vec<ProposedFix>,
    /// Findings a fixer looked at but could not fix, or whose patch failed its trial.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfixed: Vec<UnfixedFinding>,
    /// Why fixers did not run (no scratch copy, AI fixer without key, limit reached).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One patch offered for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProposedFix {
    /// `001`, `002`, …: the order patches apply in.
    pub id: String,
    /// The fixer that wrote it (`schema-form`, `registry-defaults`, `secret-env`,
    /// `action-pin`, `naming-rename`, `ai`).
    pub fixer: String,
    /// The finding's check.
    pub check: String,
    /// The finding's rule.
    pub rule_id: String,
    /// The finding's file.
    pub file: String,
    /// The finding's line.
    pub line: usize,
    /// The finding's column.
    pub column: usize,
    /// What the patch does, in one line.
    pub title: String,
    /// The patch file, relative to the report folder (`patches/001-secret-env-app.env.patch`).
    pub patch: String,
    /// Files the patch touches (the new path of a renamed one).
    pub files: Vec<String>,
    /// What a person must still do (rotate the secret, check a type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Written by the AI fixer, not by a mechanical rule: review it as such.
    pub ai_proposed: bool,
    /// The unified diff itself, written to `patch`. Not in report.json: a secret's patch holds
    /// the secret on its removed line, so the patch files are kept as private as the tree.
    #[serde(skip)]
    pub diff: String,
}

/// A finding left without a patch, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UnfixedFinding {
    /// The fixer that tried.
    pub fixer: String,
    /// The finding's check.
    pub check: String,
    /// The finding's rule.
    pub rule_id: String,
    /// The finding's file.
    pub file: String,
    /// The finding's line.
    pub line: usize,
    /// Why there is no patch.
    pub reason: String,
    /// The AI fixer's patch was the one rejected.
    pub ai_proposed: bool,
}

/// Why patches could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    /// `git apply` refused a patch (the tree changed since the run, or an earlier patch
    /// was skipped).
    #[error("patch {id} ({patch}) does not apply: {message}")]
    Apply {
        /// The patch id.
        id: String,
        /// Its file.
        patch: String,
        /// Git's message.
        message: String,
    },
    /// A patch file could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What fixers read and may use.
pub(crate) struct Cx<'a> {
    /// The scratch copy as patched so far.
    pub tree: &'a Path,
    /// The gate configuration of the run.
    pub cfg: &'a GatesConfig,
    /// The auto-fix configuration.
    pub autofix: &'a AutofixConfig,
}

/// A fixer's edit of one finding.
pub(crate) struct Fix {
    /// What it does, in one line.
    pub title: String,
    /// What a person must still do.
    pub note: Option<String>,
    /// The edits.
    pub changes: Vec<FileChange>,
}

/// The mechanical fixers, in the order their patches are made (content edits before renames,
/// which move files the others edit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fixer {
    SchemaForm,
    RegistryDefaults,
    SecretEnv,
    ActionPin,
    ModuleRename,
    FileRename,
}

impl Fixer {
    fn name(self) -> &'static str {
        match self {
            Fixer::SchemaForm => schema::NAME,
            Fixer::RegistryDefaults => registry::NAME,
            Fixer::SecretEnv => secret::NAME,
            Fixer::ActionPin => workflow::NAME,
            Fixer::ModuleRename | Fixer::FileRename => naming::NAME,
        }
    }

    fn of(f: &Finding) -> Option<Fixer> {
        if schema::applies(f) {
            Some(Fixer::SchemaForm)
        } else if registry::applies(f) {
            Some(Fixer::RegistryDefaults)
        } else if workflow::applies(f) {
            Some(Fixer::ActionPin)
        } else if secret::applies(f) {
            Some(Fixer::SecretEnv)
        } else if naming::applies_module(f) {
            Some(Fixer::ModuleRename)
        } else if naming::applies_file(f) {
            Some(Fixer::FileRename)
        } else {
            None
        }
    }

    fn fix(self, cx: &Cx<'_>, f: &Finding) -> Result<Fix, String> {
        match self {
            Fixer::SchemaForm => schema::fix(cx, f),
            Fixer::RegistryDefaults => registry::fix(cx, f),
            Fixer::SecretEnv => secret::fix(cx, f),
            Fixer::ActionPin => workflow::fix(cx, f),
            Fixer::ModuleRename => naming::fix_module(cx, f),
            Fixer::FileRename => naming::fix_file(cx, f),
        }
    }
}

/// Propose patches for the errors and warnings of `report` (a run over `root` with `cfg`).
///
/// Never changes `root`; the section's patches are to be written with [`write_patches`] and
/// applied, if at all, with [`apply`].
pub fn propose(
    root: &Path,
    report: &GateReport,
    cfg: &GatesConfig,
    autofix: &AutofixConfig,
    opts: &FixOptions,
) -> FixesSection {
    let mut section = FixesSection::default();
    // Builds are not re-run on a copy (they run the pull request's commands).
    let findings: Vec<&Finding> = report
        .findings()
        .filter(|f| f.severity != Severity::Note && f.check != crate::checks::build::CHECK)
        .collect();
    let mut mechanical: Vec<(Fixer, &Finding)> = Vec::new();
    let mut left: Vec<&Finding> = Vec::new();
    for f in findings {
        match Fixer::of(f) {
            Some(x) => mechanical.push((x, f)),
            None => left.push(f),
        }
    }
    // Nothing any fixer could take: no copy of the tree.
    if mechanical.is_empty() && (left.is_empty() || autofix.llm.endpoint.is_none()) {
        return section;
    }
    let mut scratch = match Scratch::copy(root, &opts.own_output) {
        Ok(s) => s,
        Err(e) => {
            section
                .notes
                .push(format!("no fixes: the tree could not be copied: {e}"));
            return section;
        }
    };
    // Later lines first (an inserted line moves only what follows it); deeper paths first
    // (a file is renamed before the folder holding it).
    mechanical.sort_by(|(xa, a), (xb, b)| {
        (xa, b.file.matches('/').count(), &a.file, b.line, b.column).cmp(&(
            xb,
            a.file.matches('/').count(),
            &b.file,
            a.line,
            a.column,
        ))
    });
    for (fixer, f) in mechanical {
        if section.proposed.len() >= autofix.max_fixes {
            section.notes.push(format!(
                "stopped at {} patches (autofix.max_fixes)",
                autofix.max_fixes
            ));
            break;
        }
        let cx = Cx {
            tree: scratch.path(),
            cfg,
            autofix,
        };
        let tried = fixer.fix(&cx, f).and_then(|fix| {
            let patch = diff::render(&fix.changes)?;
            scratch.verify(cfg, f, &patch)?;
            Ok((fix, patch))
        });
        match tried {
            Ok((fix, patch)) => offer(&mut section, fixer.name(), f, fix, patch, false),
            Err(reason) => {
                section
                    .unfixed
                    .push(unfixed(fixer.name(), f, reason, false));
                left.push(f);
            }
        }
    }
    if autofix.llm.endpoint.is_some() {
        llm::run(&mut section, &mut scratch, cfg, autofix, opts, &left);
    }
    section
}

fn offer(section: &mut FixesSection, fixer: &str, f: &Finding, fix: Fix, patch: String, ai: bool) {
    let id = format!("{:03}", section.proposed.len() + 1);
    let base = f.file.rsplit('/').next().unwrap_or("file");
    let slug: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut files: Vec<String> = diff::touched(&patch).into_iter().map(|(_, n)| n).collect();
    files.dedup();
    section.proposed.push(ProposedFix {
        patch: format!("{PATCH_DIR}/{id}-{fixer}-{slug}.patch"),
        id,
        fixer: fixer.to_string(),
        check: f.check.clone(),
        rule_id: f.rule_id.clone(),
        file: f.file.clone(),
        line: f.line,
        column: f.column,
        title: fix.title,
        files,
        note: fix.note,
        ai_proposed: ai,
        diff: patch,
    });
}

fn unfixed(fixer: &str, f: &Finding, reason: String, ai: bool) -> UnfixedFinding {
    UnfixedFinding {
        fixer: fixer.to_string(),
        check: f.check.clone(),
        rule_id: f.rule_id.clone(),
        file: f.file.clone(),
        line: f.line,
        reason,
        ai_proposed: ai,
    }
}

/// Write each proposed patch to `<out>/patches/` (old `*.patch` files there are removed
/// first, so the folder holds this run's patches only). Returns the files written.
pub fn write_patches(section: &FixesSection, out: &Path) -> Result<Vec<PathBuf>, FixError> {
    let dir = out.join(PATCH_DIR);
    let werr = |path: &Path, source| FixError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Ok(old) = std::fs::read_dir(&dir) {
        for e in old.flatten() {
            if e.path().extension().is_some_and(|x| x == "patch") {
                std::fs::remove_file(e.path()).map_err(|err| werr(&e.path(), err))?;
            }
        }
    }
    if section.proposed.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(&dir).map_err(|e| werr(&dir, e))?;
    let mut written = Vec::new();
    for p in &section.proposed {
        let path = out.join(&p.patch);
        std::fs::write(&path, &p.diff).map_err(|e| werr(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// Apply the proposed patches to `root` in order with `git apply` (each checked first);
/// stops at the first that does not apply. Returns the ids applied.
pub fn apply(root: &Path, section: &FixesSection) -> Result<Vec<String>, FixError> {
    let prefix = repo_prefix(root);
    let mut applied = Vec::new();
    for p in &section.proposed {
        let fail = |message| FixError::Apply {
            id: p.id.clone(),
            patch: p.patch.clone(),
            message,
        };
        git_apply(root, &p.diff, ApplyMode::Check, Some(&prefix)).map_err(fail)?;
        git_apply(root, &p.diff, ApplyMode::Apply, Some(&prefix)).map_err(fail)?;
        applied.push(p.id.clone());
    }
    Ok(applied)
}

/// Read a text file of the tree (UTF-8, at most 4 MiB), or why not.
pub(crate) fn read_text(tree: &Path, rel: &str) -> Result<String, String> {
    let path = tree.join(rel);
    let meta = std::fs::metadata(&path).map_err(|e| format!("{rel}: {e}"))?;
    if meta.len() > 4 << 20 {
        return Err(format!("{rel}: larger than 4 MiB; not edited"));
    }
    let bytes = std::fs::read(&path).map_err(|e| format!("{rel}: {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("{rel}: not UTF-8 text; not edited"))
}

/// The byte range of line `line` (1-based) of `text`, without its line break.
pub(crate) fn line_span(text: &str, line: usize) -> Option<(usize, usize)> {
    if line == 0 {
        return None;
    }
    let mut start = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let body = l.trim_end_matches('\n').trim_end_matches('\r');
            return Some((start, start + body.len()));
        }
        start += l.len();
    }
    None
}

/// The byte offset of 1-based character column `column` within `line`.
pub(crate) fn column_offset(line: &str, column: usize) -> Option<usize> {
    if column == 0 {
        return None;
    }
    line.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(line.len()))
        .nth(column - 1)
}
