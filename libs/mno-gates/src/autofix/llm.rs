//! `ai`: findings no mechanical fixer handles, sent to an OpenAI-compatible chat-completions
//! endpoint; its patch is offered only after the same trial as any other (`git apply
//! --check`, applied to the scratch copy, the failing check run again) and is marked
//! AI-proposed.
//!
//! What is sent: the finding (check, rule, location, message, suggestion) and the text of
//! its file (a window around the line for a large file), with every secret the scan's
//! detector sees in it replaced by `<redacted>`. Secret findings themselves are never sent.
//! A patch touching the gate's own configuration (root.gates.yaml, the secrets baseline,
//! a gitleaks file) or adding an `mno:allow` is refused: it would silence the check rather
//! than fix the code.

use std::time::Duration;

use serde_json::{Value, json};

use super::verify::Scratch;
use super::{AutofixConfig, Fix, FixOptions, FixesSection, offer, read_text, unfixed};
use crate::checks::security::Detector;
use crate::config::{CONFIG_FILE, GatesConfig};
use crate::finding::Finding;

/// The fixer's name in reports.
pub(super) const NAME: &str = "ai";

/// The most of a file sent as context.
const MAX_CONTEXT: usize = 24_000;

/// Lines each side of the finding sent when the whole file is too large.
const WINDOW_LINES: usize = 120;

/// The most of an answer read.
const MAX_ANSWER: usize = 1 << 20;

const SYSTEM: &str = "You fix one finding of a repository gate (schema validation, module \
registry, naming conventions, secret scanning, workflow hardening). Answer with exactly one \
unified diff in git format (paths prefixed a/ and b/, relative to the repository root) inside \
a ```diff fenced block, changing as little as possible. Do not silence the check (no mno:allow \
comments, no changes to root.gates.yaml or baselines). Lines shown as <redacted> hide secrets: \
do not touch them.";

/// Ask for patches for up to `max_findings` of `left` and offer those that pass.
pub(super) fn run(
    section: &mut FixesSection,
    scratch: &mut Scratch,
    cfg: &GatesConfig,
    autofix: &AutofixConfig,
    opts: &FixOptions,
    left: &[&Finding],
) {
    let llm = &autofix.llm;
    let Some(endpoint) = llm.endpoint.as_deref() else {
        return;
    };
    let Some(key) = opts.llm_api_key.as_deref().filter(|k| !k.is_empty()) else {
        section.notes.push(format!(
            "AI fixer off: no API key in ${} (autofix.llm.api_key_env)",
            llm.api_key_env
        ));
        return;
    };
    let mut sent = 0;
    let mut seen = std::collections::BTreeSet::new();
    for f in left {
        if super::secret::applies(f) || !seen.insert((&f.rule_id, &f.file, f.line, &f.message)) {
            continue;
        }
        if sent >= llm.max_findings {
            section.notes.push(format!(
                "AI fixer: only the first {} findings were sent (autofix.llm.max_findings)",
                llm.max_findings
            ));
            break;
        }
        sent += 1;
        let tried = prompt(scratch.path(), cfg, f)
            .and_then(|p| ask(endpoint, key, llm, &p))
            .and_then(|answer| extract_patch(&answer))
            .and_then(|patch| {
                guard(cfg, &patch)?;
                scratch.verify(cfg, f, &patch)?;
                Ok(patch)
            });
        match tried {
            Ok(patch) => {
                let fix = Fix {
                    title: format!("AI-proposed fix for {} at {}:{}", f.rule_id, f.file, f.line),
                    note: Some(format!(
                        "written by the model {}, not by a rule: it applies and the check passes \
                         after it, but review what it changes",
                        llm.model
                    )),
                    changes: Vec::new(),
                };
                offer(section, NAME, f, fix, patch, true);
            }
            Err(reason) => section.unfixed.push(unfixed(
                NAME,
                f,
                format!("AI-proposed patch rejected: {reason}"),
                true,
            )),
        }
    }
}

/// The user message: the finding and its file, secrets redacted.
fn prompt(tree: &std::path::Path, cfg: &GatesConfig, f: &Finding) -> Result<String, String> {
    let text = read_text(tree, &f.file)?;
    let redacted = redact_secrets(tree, cfg, &f.file, &text)?;
    let context = if redacted.len() <= MAX_CONTEXT {
        redacted
    } else {
        let lines: Vec<&str> = redacted.lines().collect();
        let from = f.line.saturating_sub(WINDOW_LINES + 1);
        let to = (f.line + WINDOW_LINES).min(lines.len());
        let mut s = format!("(lines {}–{} of {})\n", from + 1, to, lines.len());
        for l in &lines[from..to] {
            if s.len() + l.len() > MAX_CONTEXT {
                break;
            }
            s.push_str(l);
            s.push('\n');
        }
        s
    };
    let finding = json!({
        "check": f.check, "rule_id": f.rule_id, "file": f.file, "line": f.line,
        "column": f.column, "message": f.message, "suggested_fix": f.suggested_fix,
    });
    Ok(format!(
        "Finding:\n```json\n{finding:#}\n```\n\nFile `{}`:\n```\n{context}```\n",
        f.file
    ))
}

/// `text` with each secret the detector finds replaced by `<redacted>`.
fn redact_secrets(
    tree: &std::path::Path,
    cfg: &GatesConfig,
    rel: &str,
    text: &str,
) -> Result<String, String> {
    let detector = Detector::from_config(tree, &cfg.security_scan)
        .map_err(|e| format!("the detector does not build: {e}"))?;
    let mut out = text.to_string();
    for h in detector.scan_at(&tree.join(rel), text.as_bytes()) {
        if !h.secret.is_empty() {
            out = out.replace(&h.secret, "<redacted>");
        }
    }
    Ok(out)
}

/// POST the chat-completions request; the answer's `choices[0].message.content`.
fn ask(endpoint: &str, key: &str, llm: &super::LlmConfig, user: &str) -> Result<String, String> {
    let body = json!({
        "model": llm.model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": user},
        ],
    });
    let timeout = Duration::from_secs_f64(llm.timeout.max(1.0));
    // Its own thread and runtime: callers may be inside an async runtime already.
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("async runtime: {e}"))?;
            rt.block_on(post(endpoint, key, &body, timeout))
        })
        .join()
        .unwrap_or_else(|_| Err("the request thread panicked".into()))
    })
}

async fn post(
    endpoint: &str,
    key: &str,
    body: &Value,
    timeout: Duration,
) -> Result<String, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let mut resp = client
        .post(endpoint)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("{endpoint}: {}", chain(&e)))?;
    let status = resp.status();
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| chain(&e))? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_ANSWER {
            return Err(format!("the answer is larger than {MAX_ANSWER} bytes"));
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    if !status.is_success() {
        let snippet: String = text.chars().take(200).collect();
        return Err(format!("HTTP {status}: {snippet}"));
    }
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("the answer is not chat-completions JSON: {e}"))?;
    v.pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| "the answer has no choices[0].message.content".into())
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The unified diff in a model's answer: a ```diff / ```patch block, else the text from
/// its first `diff --git` or `--- ` line.
fn extract_patch(answer: &str) -> Result<String, String> {
    let mut lines = answer.lines();
    let mut fenced = None;
    while let Some(l) = lines.next() {
        let t = l.trim();
        if t == "```diff" || t == "```patch" {
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            fenced = Some(body.join("\n") + "\n");
            break;
        }
    }
    let patch = match fenced {
        Some(p) => p,
        None => {
            let start = answer
                .find("diff --git ")
                .or_else(|| answer.find("\n--- ").map(|i| i + 1))
                .or_else(|| answer.starts_with("--- ").then_some(0))
                .ok_or("the answer holds no unified diff")?;
            let mut p = answer[start..].to_string();
            if !p.ends_with('\n') {
                p.push('\n');
            }
            p
        }
    };
    if !patch.contains("\n+++ ") && !patch.starts_with("+++ ") {
        return Err("the answer's diff has no `+++` file header".into());
    }
    Ok(patch)
}

/// Refuse a patch that would silence the gate instead of fixing the finding, or that names
/// a path a patch must not.
fn guard(cfg: &GatesConfig, patch: &str) -> Result<(), String> {
    let mut protected = vec![CONFIG_FILE.to_string(), ".gitleaks.toml".to_string()];
    if !cfg.security_scan.baseline.is_empty() {
        protected.push(cfg.security_scan.baseline.clone());
    }
    if let Some(g) = cfg
        .security_scan
        .gitleaks_config
        .as_ref()
        .filter(|g| !g.is_empty())
    {
        protected.push(g.clone());
    }
    let touched = super::diff::touched(patch);
    if touched.is_empty() {
        return Err("the diff names no file".into());
    }
    for (old, new) in &touched {
        for p in [old, new] {
            if !super::diff::plain_path(p) {
                return Err(format!("the diff names the path {p:?}"));
            }
            if protected.contains(p) {
                return Err(format!(
                    "the diff changes {p}, the gate's own configuration"
                ));
            }
        }
    }
    if patch
        .lines()
        .any(|l| l.starts_with('+') && !l.starts_with("+++") && l.contains("mno:allow"))
    {
        return Err("the diff adds an `mno:allow`, which silences the check".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_are_taken_from_fences_or_bare_text() {
        let fenced = "Here:\n```diff\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n```\nDone.";
        assert_eq!(
            extract_patch(fenced).unwrap(),
            "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
        );
        let bare = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b";
        assert!(extract_patch(bare).unwrap().ends_with("+b\n"));
        assert!(extract_patch("I cannot help with that.").is_err());
    }

    #[test]
    fn patches_that_silence_the_gate_are_refused() {
        let cfg = GatesConfig::default();
        let allow = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+a # mno:allow\n";
        assert!(guard(&cfg, allow).unwrap_err().contains("mno:allow"));
        let conf = "--- a/root.gates.yaml\n+++ b/root.gates.yaml\n@@ -1 +1 @@\n-a\n+b\n";
        assert!(guard(&cfg, conf).unwrap_err().contains("configuration"));
        let up = "--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n";
        assert!(guard(&cfg, up).is_err());
        assert!(guard(&cfg, "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n").is_ok());
    }
}
