//! `super-agent gate run` writes evidence.json and appends to a signed, hash-chained log;
//! `super-agent evidence verify` exits 0 valid, 1 tampered, 2 unreadable; an unreachable
//! Auto-Monitor is noted in the report without failing the gate; a third party recomputes
//! the digest and verifies each record as a DSSE envelope with securesystemslib (in-toto).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A small repository the gate passes.
fn repo(dir: &Path) -> PathBuf {
    let root = dir.join("repo");
    std::fs::create_dir_all(root.join("src")).unwrap();
    common::write(
        &root,
        "root.modules.yaml",
        "modules:\n  - name: core\n    version: 1.0.0\n    load_sequence: { stage: 1 }\nstages: { 1: Core }\n",
    );
    common::write(&root.join("src"), "main.rs", "fn main() {}\n");
    common::write(&root, "notes-é.md", "# ünïcode \"quoted\"\n");
    root
}

fn cmd(dir: &Path) -> Command {
    let mut c = common::command(dir);
    c.env_remove("MNO_EVIDENCE_DIR")
        .env_remove("MNO_MONITOR_URL");
    c
}

fn gate(dir: &Path, extra: &[&str]) -> Output {
    cmd(dir)
        .args([
            "gate",
            "run",
            "repo",
            "--out",
            "out",
            "--checks",
            "module_registry,naming_conventions,security_scan",
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn verify(dir: &Path, args: &[&str]) -> Output {
    cmd(dir)
        .args(["evidence", "verify"])
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn gate_run_writes_evidence_and_verify_reports_each_outcome() {
    let d = tempfile::tempdir().unwrap();
    repo(d.path());
    for _ in 0..3 {
        let o = gate(d.path(), &["--evidence-log", "ev"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).contains("appended to"), "{}", text(&o));
    }
    let ev: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("out/evidence.json")).unwrap())
            .unwrap();
    assert_eq!(ev["algorithm"], "mno-evidence-v1");
    assert_eq!(ev["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(ev["sha3_512"].as_str().unwrap().len(), 128);
    assert!(
        ev["inputs"]
            .as_array()
            .unwrap()
            .contains(&"root.modules.yaml".into()),
        "{ev}"
    );

    let o = verify(d.path(), &["ev"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("valid: 3 records"), "{}", text(&o));
    // The directory from the environment, the log file itself, JSON output.
    let o = cmd(d.path())
        .args(["evidence", "verify", "--format", "json"])
        .env("MNO_EVIDENCE_DIR", "ev")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["valid"].as_bool(), v["summary"]["records"].as_u64()),
        (Some(true), Some(3))
    );
    assert_eq!(
        verify(d.path(), &["ev/evidence.jsonl"]).status.code(),
        Some(0)
    );

    // Tampered: an edited status.
    let log = d.path().join("ev/evidence.jsonl");
    let original = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, original.replacen("\"PASSED\"", "\"FAILED\"", 1)).unwrap();
    let o = verify(d.path(), &["ev"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("TAMPERED") && text(&o).contains(":1:"),
        "{}",
        text(&o)
    );
    let o = verify(d.path(), &["ev", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "tampered");
    // Tampered: the last line cut short.
    std::fs::write(&log, &original[..original.len() - 10]).unwrap();
    assert_eq!(verify(d.path(), &["ev"]).status.code(), Some(1));
    // Tampered: checked against another key.
    std::fs::write(&log, &original).unwrap();
    assert_eq!(
        gate(d.path(), &["--evidence-log", "ev2"]).status.code(),
        Some(0)
    );
    let o = verify(d.path(), &["ev", "--pubkey", "ev2/evidence.pub"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("expected"), "{}", text(&o));

    // Unreadable: no log, no public key.
    assert_eq!(verify(d.path(), &["nowhere"]).status.code(), Some(2));
    std::fs::create_dir(d.path().join("empty")).unwrap();
    std::fs::write(d.path().join("empty/evidence.jsonl"), "").unwrap();
    assert_eq!(verify(d.path(), &["empty"]).status.code(), Some(2));
    std::fs::copy(
        d.path().join("ev/evidence.pub"),
        d.path().join("empty/evidence.pub"),
    )
    .unwrap();
    assert_eq!(verify(d.path(), &["empty"]).status.code(), Some(0));
}

#[test]
fn parallel_gate_runs_append_one_valid_chain() {
    let d = tempfile::tempdir().unwrap();
    repo(d.path());
    // Create the key first so every process signs with it.
    assert_eq!(
        gate(d.path(), &["--evidence-log", "ev"]).status.code(),
        Some(0)
    );
    let children: Vec<_> = (0..4)
        .map(|i| {
            cmd(d.path())
                .args([
                    "gate",
                    "run",
                    "repo",
                    "--out",
                    &format!("out{i}"),
                    "--checks",
                    "module_registry",
                ])
                .env("MNO_EVIDENCE_DIR", "ev")
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let o = verify(d.path(), &["ev"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("valid: 5 records"), "{}", text(&o));
}

#[test]
fn an_unreachable_monitor_is_noted_not_fatal() {
    let d = tempfile::tempdir().unwrap();
    repo(d.path());
    let url = format!("http://127.0.0.1:{}", common::free_port());
    let o = gate(d.path(), &["--monitor-url", &url, "--monitor-timeout", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("unreachable"), "{}", text(&o));
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("out/report.json")).unwrap()).unwrap();
    assert_eq!(r["monitor"]["reachable"], false);
    assert_eq!(r["monitor"]["url"], url.as_str());
    let md = std::fs::read_to_string(d.path().join("out/report.md")).unwrap();
    assert!(
        md.contains("### Auto-Monitor") && md.contains("unreachable"),
        "{md}"
    );
}

/// Recompute the digest from evidence.json's inputs and report.json, and check every record's
/// hash, link and DSSE signature, in Python with securesystemslib (in-toto's DSSE library).
const RECOMPUTE: &str = r#"
import base64, hashlib, json, os, struct, sys
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
root, out, evdir = sys.argv[1:4]
ev = json.load(open(os.path.join(out, "evidence.json"), encoding="utf-8"))
report = json.load(open(os.path.join(out, "report.json"), encoding="utf-8"))
h1, h2 = hashlib.sha256(), hashlib.sha3_512()
def feed(b):
    h1.update(b); h2.update(b)
for name in sorted(ev["inputs"], key=lambda s: s.encode()):
    feed(name.encode() + b"\0")
    p = os.path.join(root, name)
    if os.path.isfile(p):
        data = open(p, "rb").read()
        feed(struct.pack(">Q", len(data)) + data)
    else:
        feed(struct.pack(">Q", 2**64 - 1))
r = json.dumps(report, separators=(",", ":"), ensure_ascii=False).encode()
feed(b"\0" + struct.pack(">Q", len(r)) + r)
assert h1.hexdigest() == ev["sha256"], "sha256 differs"
assert h2.hexdigest() == ev["sha3_512"], "sha3_512 differs"
assert hashlib.sha256(r).hexdigest() == ev["report_sha256"]
pub = open(os.path.join(evdir, "evidence.pub")).read().strip()
keyid = hashlib.sha256(bytes.fromhex(pub)).hexdigest()[:16]
key = SSlibKey(keyid, "ed25519", "ed25519", {"public": pub})
prev, n = "0" * 64, 0
for line in open(os.path.join(evdir, "evidence.jsonl"), encoding="utf-8"):
    rec = json.loads(line)
    body = {k: v for k, v in rec.items() if k not in ("hash", "signature")}
    b = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert hashlib.sha256(b).hexdigest() == rec["hash"], "hash differs"
    assert rec["prev_hash"] == prev and rec["key_id"] == keyid
    prev = rec["hash"]
    env = Envelope.from_dict({"payload": base64.b64encode(b).decode(),
        "payloadType": "application/vnd.mno.evidence+json",
        "signatures": [{"keyid": rec["key_id"], "sig": rec["signature"]}]})
    env.verify([key], 1)
    n += 1
last = json.loads(line)
assert last["report_sha256"] == ev["report_sha256"] and last["evidence"]["sha256"] == ev["sha256"]
print("verified", n)
"#;

#[test]
fn a_third_party_recomputes_the_digest_and_verifies_dsse_signatures() {
    let Some(python) = py_with_securesystemslib() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    repo(d.path());
    for _ in 0..2 {
        let o = gate(d.path(), &["--evidence-log", "ev"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let o = Command::new(python)
        .args(["-c", RECOMPUTE, "repo", "out", "ev"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("verified 2"), "{}", text(&o));

    // And it notices an edit the way `evidence verify` does.
    let log = d.path().join("ev/evidence.jsonl");
    let s = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, s.replacen("cli-", "cl1-", 1)).unwrap();
    let o = Command::new(python_path())
        .args(["-c", RECOMPUTE, "repo", "out", "ev"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
}

fn python_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/py-venv/bin/python")
}

/// target/py-venv's python when it has securesystemslib (scripts/test.sh installs in-toto);
/// `None` with a note otherwise, a panic under CI / MNO_REQUIRE_TOOLS=1.
fn py_with_securesystemslib() -> Option<PathBuf> {
    let py = python_path();
    let ok = Command::new(&py)
        .args([
            "-c",
            "import securesystemslib.dsse, securesystemslib.signer",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let required = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("MNO_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "target/py-venv with in-toto is required (CI / MNO_REQUIRE_TOOLS=1); run scripts/test.sh"
    );
    eprintln!("SKIP: target/py-venv lacks in-toto (target/py-venv/bin/pip install in-toto)");
    None
}
