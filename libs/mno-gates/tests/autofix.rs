//! Each fixer on a fixture: its patch passes the real `git apply --check`, is applied by the
//! real git, and the real check run again no longer reports the finding.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;

use mno_gates::autofix::{self, AutofixConfig, FixOptions, FixesSection, LlmConfig};
use mno_gates::{GateReport, load_config, run_gate};
use mno_testkit::git;

/// A git repository holding `files`, committed.
fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-qm", "fixture"]);
    dir
}

fn has(report: &GateReport, check: &str, rule: &str, file: &str) -> bool {
    report
        .findings()
        .any(|f| f.check == check && f.rule_id == rule && f.file == file)
}

fn propose(
    root: &Path,
    report: &GateReport,
    autofix: &AutofixConfig,
    key: Option<&str>,
) -> FixesSection {
    let cfg = load_config(root).unwrap().config;
    let opts = FixOptions {
        llm_api_key: key.map(str::to_string),
        own_output: Vec::new(),
    };
    autofix::propose(root, report, &cfg, autofix, &opts)
}

/// Write the section's patches outside the repository, then `git apply --check` and
/// `git apply` each in order with the real git.
fn apply_with_git(root: &Path, section: &FixesSection) {
    let out = tempfile::tempdir().unwrap();
    let written = autofix::write_patches(section, out.path()).unwrap();
    assert_eq!(written.len(), section.proposed.len());
    for p in &written {
        let p = p.to_str().unwrap();
        git(root, &["apply", "--check", p]);
        git(root, &["apply", p]);
    }
}

/// Run `check`, see `rule` on `file`, fix it, apply, run again: the finding is gone.
fn fixed_by(
    root: &Path,
    check: &str,
    rule: &str,
    file: &str,
    fixer: &str,
    autofix: &AutofixConfig,
) -> FixesSection {
    let before = run_gate(root, &[check]).unwrap();
    assert!(
        has(&before, check, rule, file),
        "{:#?}",
        before.findings().collect::<Vec<_>>()
    );
    let section = propose(root, &before, autofix, None);
    let p = section
        .proposed
        .iter()
        .find(|p| p.rule_id == rule && p.file == file)
        .unwrap_or_else(|| panic!("no patch for {rule} {file}: {section:#?}"));
    assert_eq!(p.fixer, fixer);
    assert!(!p.ai_proposed);
    assert!(
        p.patch.starts_with("patches/") && p.patch.ends_with(".patch"),
        "{}",
        p.patch
    );
    let fixed = before
        .findings()
        .find(|f| f.rule_id == rule && f.file == file && f.line == p.line && f.column == p.column)
        .unwrap()
        .clone();
    apply_with_git(root, &section);
    let after = run_gate(root, &[check]).unwrap();
    assert!(
        !after
            .findings()
            .any(|f| f.rule_id == rule && f.message == fixed.message),
        "{:#?}",
        after.findings().collect::<Vec<_>>()
    );
    section
}

const SERVICE_SCHEMA: &str = r#"{"type": "object", "properties": {"services": {"type": "array",
 "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"},
 "version": {"type": "string"}, "tags": {"type": "array"}}}}}}
"#;

const SCHEMA_GATES: &str = "schema_validation:\n  mappings:\n    - globs: ['config/*.yaml', 'config/*.json']\n      schema: schemas/s.json\n";

#[test]
fn schema_form_fixes_keep_comments_and_pass_the_schema() {
    let yaml = "# services we run\nservices:\n  - name: api   # the front door\n    port: \"9090\"  # keep this comment\n    version: 1.10\n    tags: web\n";
    let dir = repo(&[
        ("root.gates.yaml", SCHEMA_GATES),
        ("schemas/s.json", SERVICE_SCHEMA),
        ("config/a.yaml", yaml),
        (
            "config/b.json",
            "{\n  \"services\": [{\"name\": \"x\", \"port\": \"80\"}]\n}\n",
        ),
    ]);
    let root = dir.path();
    let section = fixed_by(
        root,
        "schema_validation",
        "schema.type",
        "config/a.yaml",
        "schema-form",
        &AutofixConfig::default(),
    );
    assert_eq!(section.proposed.len(), 4, "{section:#?}");
    let after = run_gate(root, &["schema_validation"]).unwrap();
    assert_eq!(
        after.findings().count(),
        0,
        "{:#?}",
        after.findings().collect::<Vec<_>>()
    );
    let text = std::fs::read_to_string(root.join("config/a.yaml")).unwrap();
    assert_eq!(
        text,
        "# services we run\nservices:\n  - name: api   # the front door\n    port: 9090  # keep this comment\n    version: \"1.10\"\n    tags: [web]\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("config/b.json")).unwrap(),
        "{\n  \"services\": [{\"name\": \"x\", \"port\": 80}]\n}\n"
    );
}

#[test]
fn a_value_of_the_wrong_kind_is_not_offered() {
    let dir = repo(&[
        ("root.gates.yaml", SCHEMA_GATES),
        ("schemas/s.json", SERVICE_SCHEMA),
        (
            "config/a.yaml",
            "services:\n  - port: \"fast\"\n  - port: |\n      80\n",
        ),
    ]);
    let report = run_gate(dir.path(), &["schema_validation"]).unwrap();
    let section = propose(dir.path(), &report, &AutofixConfig::default(), None);
    assert!(section.proposed.is_empty(), "{section:#?}");
    assert_eq!(section.unfixed.len(), 2, "{section:#?}");
    assert!(section.unfixed.iter().all(|u| u.fixer == "schema-form"));
}

#[test]
fn registry_defaults_fill_a_missing_and_a_short_version() {
    let reg = "modules:\n  - name: api\n    description: no version yet\n  - name: web\n    version: \"1.2\"\n    dependencies:\n      - api (>=1.0.0)\n";
    let dir = repo(&[("root.modules.yaml", reg)]);
    let root = dir.path();
    fixed_by(
        root,
        "module_registry",
        "schema.required",
        "root.modules.yaml",
        "registry-defaults",
        &AutofixConfig::default(),
    );
    let after = run_gate(root, &["module_registry"]).unwrap();
    assert!(
        !after
            .findings()
            .any(|f| f.severity == mno_gates::Severity::Error),
        "{:#?}",
        after.findings().collect::<Vec<_>>()
    );
    assert_eq!(
        std::fs::read_to_string(root.join("root.modules.yaml")).unwrap(),
        "modules:\n  - name: api\n    version: 1.0.0\n    description: no version yet\n  - name: web\n    version: \"1.2.0\"\n    dependencies:\n      - api (>=1.0.0)\n"
    );
}

#[test]
fn renames_move_the_file_and_update_its_references() {
    let gates = "naming_conventions:\n  rules:\n    - glob: 'src/**/*.rs'\n      style: snake_case\n    - glob: 'deploy/*'\n      style: kebab_case\n      applies_to: both\n  module_names: { style: kebab_case }\n";
    let dir = repo(&[
        ("root.gates.yaml", gates),
        (
            "src/lib.rs",
            "mod GateHandler;\npub use crate::GateHandler::GateHandler;\n",
        ),
        ("src/GateHandler.rs", "pub struct GateHandler;\n"),
        (
            "README.md",
            "The handler is src/GateHandler.rs; settings in deploy/App_Settings.env.\n",
        ),
        ("deploy/App_Settings.env", "LOG_LEVEL=info\n"),
        ("compose.yaml", "env_file: deploy/App_Settings.env\n"),
        (
            "root.modules.yaml",
            "modules:\n  - name: LogService\n    version: 1.0.0\n  - name: api\n    version: 1.0.0\n    dependencies:\n      - LogService (>=1.0.0)\n",
        ),
    ]);
    let root = dir.path();
    let section = fixed_by(
        root,
        "naming_conventions",
        "naming.snake_case",
        "src/GateHandler.rs",
        "naming-rename",
        &AutofixConfig::default(),
    );
    // One patch per finding: the module, the env file, the Rust file; all applied.
    assert_eq!(section.proposed.len(), 3, "{section:#?}");
    let rust = section
        .proposed
        .iter()
        .find(|p| p.file == "src/GateHandler.rs")
        .unwrap();
    assert!(
        rust.diff
            .contains("rename from src/GateHandler.rs\nrename to src/gate_handler.rs\n"),
        "{}",
        rust.diff
    );
    let after = run_gate(root, &["naming_conventions", "module_registry"]).unwrap();
    assert_eq!(
        after
            .findings()
            .filter(|f| f.severity != mno_gates::Severity::Note)
            .count(),
        0,
        "{:#?}",
        after.findings().collect::<Vec<_>>()
    );
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    assert!(!root.join("src/GateHandler.rs").exists());
    assert_eq!(read("src/gate_handler.rs"), "pub struct GateHandler;\n");
    assert_eq!(
        read("src/lib.rs"),
        "mod gate_handler;\npub use crate::gate_handler::GateHandler;\n"
    );
    assert_eq!(
        read("README.md"),
        "The handler is src/gate_handler.rs; settings in deploy/app-settings.env.\n"
    );
    assert_eq!(read("compose.yaml"), "env_file: deploy/app-settings.env\n");
    assert!(
        read("root.modules.yaml").contains("- name: log-service\n")
            && read("root.modules.yaml").contains("- log-service (>=1.0.0)")
    );
    // git sees renames, not a delete and an add.
    git(root, &["add", "-A"]);
    let status = git(root, &["status", "--porcelain"]);
    assert!(
        status.contains("R  src/GateHandler.rs -> src/gate_handler.rs"),
        "{status}"
    );
}

#[test]
fn secrets_become_environment_references_with_a_rotation_note() {
    let token = common::fake_github_token();
    let dir = repo(&[
        (
            "deploy/app.env",
            &format!("# settings\nGITHUB_TOKEN={token}\n"),
        ),
        (
            "tools/release.py",
            &format!("import sys\n\nTOKEN = \"{token}\"\n"),
        ),
        ("web/client.js", &format!("const token = '{token}';\n")),
        (
            "k8s/values.yaml",
            &format!("github:\n  token: \"{token}\"\n"),
        ),
    ]);
    let root = dir.path();
    let section = fixed_by(
        root,
        "security_scan",
        "github-token",
        "deploy/app.env",
        "secret-env",
        &AutofixConfig::default(),
    );
    assert_eq!(section.proposed.len(), 4, "{section:#?}");
    for p in &section.proposed {
        assert!(
            p.note
                .as_deref()
                .unwrap()
                .starts_with("rotate the secret `ghp_…`"),
            "{p:#?}"
        );
        assert!(
            !p.diff.contains(&token[8..])
                || p.diff
                    .lines()
                    .all(|l| !l.starts_with('+') || !l.contains(&token)),
            "{}",
            p.diff
        );
    }
    let after = run_gate(root, &["security_scan"]).unwrap();
    assert_eq!(
        after.findings().count(),
        0,
        "{:#?}",
        after.findings().collect::<Vec<_>>()
    );
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    assert_eq!(
        read("deploy/app.env"),
        "# settings\nGITHUB_TOKEN=${GITHUB_TOKEN}\n"
    );
    assert_eq!(
        read("tools/release.py"),
        "import os\nimport sys\n\nTOKEN = os.environ[\"TOKEN\"]\n"
    );
    assert_eq!(read("web/client.js"), "const token = process.env.TOKEN;\n");
    assert_eq!(read("k8s/values.yaml"), "github:\n  token: \"${TOKEN}\"\n");
}

/// A bare repository `owner/repo.git` under `mirror` with tag `v4` on a commit; its SHA.
fn mirror_action(mirror: &Path, owner: &str, repo_name: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("action.yml"),
        "name: x\nruns: { using: node20, main: i.js }\n",
    )
    .unwrap();
    git(work.path(), &["init", "-q"]);
    git(work.path(), &["add", "-A"]);
    git(work.path(), &["commit", "-qm", "v4"]);
    git(work.path(), &["tag", "v4"]);
    let sha = git(work.path(), &["rev-parse", "HEAD"]);
    let bare = mirror.join(owner).join(format!("{repo_name}.git"));
    std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
    git(
        mirror,
        &[
            "clone",
            "-q",
            "--bare",
            work.path().to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    sha
}

#[test]
fn actions_are_pinned_to_the_sha_of_their_tag_in_a_local_mirror() {
    let wf = ".github/workflows/ci.yml";
    let dir = repo(&[(
        wf,
        "on: pull_request\npermissions:\n  contents: read\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: other/unknown@v1\n      - run: make\n",
    )]);
    let root = dir.path();
    // Without a mirror nothing is pinned, and the report says why.
    let report = run_gate(root, &["security_scan"]).unwrap();
    let none = propose(root, &report, &AutofixConfig::default(), None);
    assert!(none.proposed.is_empty());
    assert!(
        none.unfixed
            .iter()
            .all(|u| u.reason.contains("no actions mirror")),
        "{none:#?}"
    );
    let mirror = tempfile::tempdir().unwrap();
    let sha = mirror_action(mirror.path(), "actions", "checkout");
    let cfg = AutofixConfig {
        actions_mirror: Some(mirror.path().display().to_string()),
        ..Default::default()
    };
    let section = fixed_by(
        root,
        "security_scan",
        "workflow.unpinned-action",
        wf,
        "action-pin",
        &cfg,
    );
    assert_eq!(section.proposed.len(), 1);
    assert!(
        section.unfixed.iter().any(|u| u
            .reason
            .contains("other/unknown is not in the actions mirror")),
        "{section:#?}"
    );
    let text = std::fs::read_to_string(root.join(wf)).unwrap();
    assert!(
        text.contains(&format!("      - uses: actions/checkout@{sha} # v4\n")),
        "{text}"
    );
    let after = run_gate(root, &["security_scan"]).unwrap();
    let left: Vec<_> = after
        .findings()
        .filter(|f| f.rule_id == "workflow.unpinned-action")
        .collect();
    assert_eq!(left.len(), 1, "only other/unknown stays: {left:#?}");
}

/// A one-shot chat-completions server on 127.0.0.1: answers each request with `content`,
/// and hands back each request's headers and body.
fn chat_server(answers: Vec<String>) -> (String, mpsc::Receiver<(String, serde_json::Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().unwrap()
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for content in answers {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let answer = serde_json::json!({
                "id": "chatcmpl-test", "object": "chat.completion", "model": "test-model",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}]
            })
            .to_string();
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
            let _ = tx.send((head, body));
        }
    });
    (url, rx)
}

const TYPO_REGISTRY: &str = "modules:\n  - name: logging-service\n    version: 1.0.0\n  - name: api\n    version: 1.0.0\n    dependencies:\n      - loging-service (>=1.0.0)\n";

fn llm_cfg(url: &str) -> AutofixConfig {
    AutofixConfig {
        llm: LlmConfig {
            endpoint: Some(url.to_string()),
            model: "test-model".into(),
            timeout: 10.0,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn an_ai_patch_is_offered_only_after_it_applies_and_the_check_passes() {
    let good = "The dependency name has a typo:\n```diff\n--- a/root.modules.yaml\n+++ b/root.modules.yaml\n@@ -5,3 +5,3 @@\n     version: 1.0.0\n     dependencies:\n-      - loging-service (>=1.0.0)\n+      - logging-service (>=1.0.0)\n```\n";
    let dir = repo(&[("root.modules.yaml", TYPO_REGISTRY)]);
    let root = dir.path();
    let report = run_gate(root, &["module_registry"]).unwrap();
    assert!(has(
        &report,
        "module_registry",
        "deps.unknown",
        "root.modules.yaml"
    ));
    let (url, requests) = chat_server(vec![good.to_string()]);
    // No key: the AI fixer stays off and says why.
    let off = propose(root, &report, &llm_cfg(&url), None);
    assert!(
        off.proposed.is_empty() && off.notes.iter().any(|n| n.contains("MNO_AUTOFIX_LLM_KEY")),
        "{off:#?}"
    );
    let section = propose(root, &report, &llm_cfg(&url), Some("sk-test-key"));
    let (head, body) = requests.recv().unwrap();
    assert!(head.starts_with("POST /v1/chat/completions "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: bearer sk-test-key"),
        "{head}"
    );
    assert_eq!(body["model"], "test-model");
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains("deps.unknown") && user.contains("loging-service (>=1.0.0)"),
        "{user}"
    );
    assert_eq!(section.proposed.len(), 1, "{section:#?}");
    let p = &section.proposed[0];
    assert!(p.ai_proposed && p.fixer == "ai", "{p:#?}");
    apply_with_git(root, &section);
    let after = run_gate(root, &["module_registry"]).unwrap();
    assert!(!has(
        &after,
        "module_registry",
        "deps.unknown",
        "root.modules.yaml"
    ));
    // The Markdown report marks it.
    let mut report = report;
    report.fixes = Some(section);
    let md = mno_gates::ReportFormat::Markdown.render(&report, None);
    assert!(md.contains("AI-proposed"), "{md}");
}

#[test]
fn ai_patches_that_do_not_apply_or_do_not_fix_are_rejected_with_the_reason() {
    let stale = "```diff\n--- a/root.modules.yaml\n+++ b/root.modules.yaml\n@@ -5,3 +5,3 @@\n     version: 9.9.9\n     dependencies:\n-      - loging-service (>=1.0.0)\n+      - logging-service (>=1.0.0)\n```\n";
    let useless = "```diff\n--- a/root.modules.yaml\n+++ b/root.modules.yaml\n@@ -1,5 +1,5 @@\n modules:\n   - name: logging-service\n-    version: 1.0.0\n+    version: 1.0.1\n   - name: api\n     version: 1.0.0\n```\n";
    let dir = repo(&[("root.modules.yaml", TYPO_REGISTRY)]);
    let root = dir.path();
    let report = run_gate(root, &["module_registry"]).unwrap();
    for (answer, why) in [
        (stale, "git apply --check"),
        (useless, "still reports deps.unknown"),
        ("Sorry, no idea.", "no unified diff"),
    ] {
        let (url, _requests) = chat_server(vec![answer.to_string()]);
        let section = propose(root, &report, &llm_cfg(&url), Some("k"));
        assert!(section.proposed.is_empty(), "{section:#?}");
        let u = section
            .unfixed
            .iter()
            .find(|u| u.fixer == "ai")
            .unwrap_or_else(|| panic!("{section:#?}"));
        assert!(u.ai_proposed && u.reason.contains(why), "{u:#?}");
    }
    // The tree is untouched by the trials.
    assert_eq!(
        std::fs::read_to_string(root.join("root.modules.yaml")).unwrap(),
        TYPO_REGISTRY
    );
    assert_eq!(git(root, &["status", "--porcelain"]), "");
}

#[test]
fn the_gate_fixture_is_fixed_in_one_pass_and_apply_applies_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    common::write_repo(root, false);
    git(root, &["init", "-q"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "fixture"]);
    let report = run_gate(
        root,
        &["schema_validation", "naming_conventions", "security_scan"],
    )
    .unwrap();
    let section = propose(root, &report, &AutofixConfig::default(), None);
    // The env file gets its token replaced, then its rename: two patches on one file, in order.
    let fixers: Vec<(&str, &str)> = section
        .proposed
        .iter()
        .map(|p| (p.fixer.as_str(), p.file.as_str()))
        .collect();
    assert!(
        fixers.contains(&("secret-env", common::ENV_FILE)),
        "{fixers:?}"
    );
    assert!(
        fixers.contains(&("naming-rename", common::ENV_FILE)),
        "{fixers:?}"
    );
    assert!(
        fixers.contains(&("schema-form", "config/services.yaml")),
        "{fixers:?}"
    );
    let applied = autofix::apply(root, &section).unwrap();
    assert_eq!(applied.len(), section.proposed.len());
    let after = run_gate(
        root,
        &["schema_validation", "naming_conventions", "security_scan"],
    )
    .unwrap();
    for p in &section.proposed {
        assert!(
            !after
                .findings()
                .any(|f| f.rule_id == p.rule_id && f.file == p.file && f.line == p.line),
            "{p:#?} still reported"
        );
    }
    // A second apply of the same patches fails cleanly on the first, naming it.
    let again = autofix::apply(root, &section).unwrap_err().to_string();
    assert!(again.starts_with("patch 001 "), "{again}");
}

#[test]
fn a_folder_is_renamed_with_every_file_under_it() {
    let gates = "naming_conventions:\n  rules:\n    - glob: 'deploy/*'\n      style: kebab_case\n      applies_to: directories\n";
    let dir = repo(&[
        ("root.gates.yaml", gates),
        ("deploy/Blue_Green/app.env", "A=1\n"),
        ("deploy/Blue_Green/sub/run.sh", "echo hi\n"),
        (
            "deploy/README.md",
            "See Blue_Green/app.env and ./Blue_Green/sub/run.sh.\n",
        ),
        ("Makefile", "deploy:\n\tsh deploy/Blue_Green/sub/run.sh\n"),
    ]);
    let root = dir.path();
    fixed_by(
        root,
        "naming_conventions",
        "naming.kebab-case",
        "deploy/Blue_Green",
        "naming-rename",
        &AutofixConfig::default(),
    );
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    assert_eq!(read("deploy/blue-green/app.env"), "A=1\n");
    assert_eq!(read("deploy/blue-green/sub/run.sh"), "echo hi\n");
    assert_eq!(
        read("deploy/README.md"),
        "See blue-green/app.env and ./blue-green/sub/run.sh.\n"
    );
    assert_eq!(
        read("Makefile"),
        "deploy:\n\tsh deploy/blue-green/sub/run.sh\n"
    );
    assert!(!root.join("deploy/Blue_Green").exists());
}
