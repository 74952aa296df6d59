//! `super-agent gate run --fix` writes patches and leaves the tree alone; `--apply` applies
//! them, after which the gate passes.

mod common;

use std::path::Path;
use std::process::Output;

use mno_testkit::git;

fn gate(dir: &Path, args: &[&str]) -> Output {
    common::command(dir)
        .arg("gate")
        .arg("run")
        .args(args)
        .output()
        .expect("run super-agent")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A committed repository with a token in an env file and a Rust file not in snake_case.
fn repo(dir: &Path) {
    let token = format!("ghp_{}", "Zq7Lm2Xv9Kp4Rt8Wn3Bc6Hd1Fg5Js0Ty2Ue7");
    std::fs::create_dir_all(dir.join("deploy")).unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("deploy/app.env"),
        format!("LOG=info\nGITHUB_TOKEN={token}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), "mod GateHandler;\n").unwrap();
    std::fs::write(dir.join("src/GateHandler.rs"), "pub fn f() {}\n").unwrap();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "fixture"]);
}

#[test]
fn fix_writes_patches_and_apply_makes_the_gate_pass() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    std::fs::create_dir(&root).unwrap();
    repo(&root);
    let out = dir.path().join("reports");
    let out_s = out.to_str().unwrap();
    let checks = "naming_conventions,security_scan";

    let r = gate(&root, &[".", "--out", out_s, "--checks", checks, "--fix"]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r.stderr));
    let stdout = text(&r.stdout);
    assert!(stdout.contains("proposed fixes: 2"), "{stdout}");
    assert!(
        stdout.contains("note: rotate the secret `ghp_…`"),
        "{stdout}"
    );
    assert!(!stdout.contains("Zq7Lm2Xv9Kp4"), "secret printed: {stdout}");
    // The tree is untouched; the patches are in the report folder, in order.
    assert_eq!(git(&root, &["status", "--porcelain"]), "");
    let mut patches: Vec<String> = std::fs::read_dir(out.join("patches"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    patches.sort();
    assert_eq!(
        patches,
        [
            "001-secret-env-app.env.patch",
            "002-naming-rename-GateHandler.rs.patch"
        ]
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let proposed = json["fixes"]["proposed"].as_array().unwrap();
    assert_eq!(proposed.len(), 2);
    assert_eq!(proposed[0]["ai_proposed"], false);
    assert_eq!(
        proposed[1]["patch"],
        "patches/002-naming-rename-GateHandler.rs.patch"
    );
    assert!(
        proposed[0].get("diff").is_none(),
        "report.json must not carry the secret's patch"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("### Proposed fixes"), "{md}");
    // The real git takes each patch in order.
    for p in &patches {
        let path = out.join("patches").join(p);
        git(&root, &["apply", "--check", path.to_str().unwrap()]);
        git(&root, &["apply", path.to_str().unwrap()]);
    }
    git(&root, &["reset", "-q", "--hard"]);
    git(&root, &["clean", "-qfd"]);

    let r = gate(&root, &[".", "--out", out_s, "--checks", checks, "--apply"]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r.stderr));
    assert!(
        text(&r.stdout).contains("applied 2 patches"),
        "{}",
        text(&r.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("src/lib.rs")).unwrap(),
        "mod gate_handler;\n"
    );
    let r = gate(&root, &[".", "--out", out_s, "--checks", checks]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stdout));
}
