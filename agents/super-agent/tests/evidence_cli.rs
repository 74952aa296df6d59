//! `super-agent gate run` writes evidence.json and appends to a signed, hash-chained log;
//! `super-agent evidence verify` exits 0 valid, 1 tampered, 2 unreadable; an unreachable
//! Auto-Monitor is noted in the report without failing the gate; a third party recomputes
//! the digest and verifies each record as a DSSE envelope with securesystemslib (in-toto).

mod common;

use mno_testkit::git;
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
    assert_eq!(ev["algorithm"], "mno-evidence-v2");
    assert_eq!(ev["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(ev["sha3_512"].as_str().unwrap().len(), 128);
    assert!(
        ev["inputs"]
            .as_array()
            .unwrap()
            .contains(&"root.modules.yaml".into()),
        "{ev}"
    );

    let o = verify(d.path(), &["ev", "--pubkey", "ev/evidence.pub"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("valid: 3 records"), "{}", text(&o));
    // The directory from the environment, the log file itself, JSON output.
    let o = cmd(d.path())
        .args([
            "evidence",
            "verify",
            "--format",
            "json",
            "--pubkey",
            "ev/evidence.pub",
        ])
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
        verify(
            d.path(),
            &["ev/evidence.jsonl", "--pubkey", "ev/evidence.pub"]
        )
        .status
        .code(),
        Some(0)
    );

    // Tampered: an edited payload.
    let log = d.path().join("ev/evidence.jsonl");
    let original = std::fs::read_to_string(&log).unwrap();
    let at = original.find("\"payload\":\"").unwrap() + 20;
    let mut edited = original.clone().into_bytes();
    edited[at] = if edited[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&log, edited).unwrap();
    let o = verify(d.path(), &["ev", "--pubkey", "ev/evidence.pub"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("TAMPERED") && text(&o).contains(":1:"),
        "{}",
        text(&o)
    );
    let o = verify(
        d.path(),
        &["ev", "--format", "json", "--pubkey", "ev/evidence.pub"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "tampered");
    // Tampered: the last line cut short.
    std::fs::write(&log, &original[..original.len() - 10]).unwrap();
    assert_eq!(
        verify(d.path(), &["ev", "--pubkey", "ev/evidence.pub"])
            .status
            .code(),
        Some(1)
    );
    // Tampered: checked against another key.
    std::fs::write(&log, &original).unwrap();
    assert_eq!(
        gate(d.path(), &["--evidence-log", "ev2"]).status.code(),
        Some(0)
    );
    let o = verify(d.path(), &["ev", "--pubkey", "ev2/evidence.pub"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("UNTRUSTED"), "{}", text(&o));

    // Unreadable: no log; no key given (evidence.pub beside the log is not a default).
    assert_eq!(
        verify(d.path(), &["nowhere", "--pubkey", "ev/evidence.pub"])
            .status
            .code(),
        Some(2)
    );
    std::fs::create_dir(d.path().join("empty")).unwrap();
    std::fs::write(d.path().join("empty/evidence.jsonl"), "").unwrap();
    std::fs::copy(
        d.path().join("ev/evidence.pub"),
        d.path().join("empty/evidence.pub"),
    )
    .unwrap();
    let o = verify(d.path(), &["empty"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--pubkey"), "{}", text(&o));
    assert_eq!(
        verify(d.path(), &["empty", "--pubkey", "ev/evidence.pub"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn evidence_pub_beside_the_log_is_not_trusted_by_default() {
    let d = tempfile::tempdir().unwrap();
    repo(d.path());
    assert_eq!(
        gate(d.path(), &["--evidence-log", "ev"]).status.code(),
        Some(0)
    );
    std::fs::copy(
        d.path().join("ev/evidence.pub"),
        d.path().join("trusted.pub"),
    )
    .unwrap();
    // Whoever can write the evidence folder rewrites the log with their own key and puts
    // the matching evidence.pub beside it.
    assert_eq!(
        gate(d.path(), &["--evidence-log", "forged"]).status.code(),
        Some(0)
    );
    for f in ["evidence.jsonl", "evidence.pub"] {
        std::fs::copy(d.path().join("forged").join(f), d.path().join("ev").join(f)).unwrap();
    }
    // The old default (evidence.pub beside the log) would have said valid; now no key
    // means no verdict.
    let o = verify(d.path(), &["ev"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!text(&o).contains("valid:"), "{}", text(&o));
    // With the key kept elsewhere, the forged chain is refused, naming its key.
    let forged = std::fs::read_to_string(d.path().join("forged/evidence.pub")).unwrap();
    let forged_id = &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        hex::decode(forged.trim()).unwrap(),
    ))[..16];
    let o = verify(d.path(), &["ev", "--pubkey", "trusted.pub"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("UNTRUSTED") && text(&o).contains(forged_id),
        "{}",
        text(&o)
    );
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
    let o = verify(d.path(), &["ev", "--pubkey", "ev/evidence.pub"]);
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

/// Recompute the digest from evidence.json's inputs and report.json, and check every record
/// in Python with standard tools: in-toto-attestation parses and validates each Statement,
/// securesystemslib (in-toto's DSSE library) verifies each line as a DSSE envelope under a
/// key given on the command line, and the chain links are walked by hand.
const RECOMPUTE: &str = r#"
import base64, hashlib, json, os, struct, sys
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
root, out, evdir, pub = sys.argv[1:5]
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
        feed(struct.pack(">Q", len(data)) + hashlib.sha256(data).digest())
    else:
        feed(struct.pack(">Q", 2**64 - 1))
r = json.dumps(report, separators=(",", ":"), ensure_ascii=False).encode()
feed(b"\0" + struct.pack(">Q", len(r)) + r)
assert h1.hexdigest() == ev["sha256"], "sha256 differs"
assert h2.hexdigest() == ev["sha3_512"], "sha3_512 differs"
assert hashlib.sha256(r).hexdigest() == ev["report_sha256"]
keyid = hashlib.sha256(bytes.fromhex(pub)).hexdigest()[:16]
key = SSlibKey(keyid, "ed25519", "ed25519", {"public": pub})
prev, n = "0" * 64, 0
for line in open(os.path.join(evdir, "evidence.jsonl"), encoding="utf-8"):
    env = Envelope.from_dict(json.loads(line))
    assert env.payload_type == "application/vnd.in-toto+json"
    env.verify([key], 1)
    st = Statement.copy_from_pb(json_format.Parse(env.payload, statement_pb2.Statement()))
    st.validate()
    s = json.loads(env.payload)
    assert s["predicateType"] == "https://slsa.dev/verification_summary/v1"
    c = s["predicate"]["mno"]["chain"]
    assert c["prev_hash"] == prev and c["seq"] == n + 1, "chain link"
    prev = hashlib.sha256(env.payload).hexdigest()
    n += 1
p = s["predicate"]
assert p["mno"]["evidence"]["sha256"] == ev["sha256"]
subjects = {x["name"]: x["digest"] for x in s["subject"]}
assert subjects["report"]["sha256"] == ev["report_sha256"]
assert subjects["report.json"]["sha256"] == hashlib.sha256(open(os.path.join(out, "report.json"), "rb").read()).hexdigest()
pol = os.path.join(root, "root.gates.yaml")
want = hashlib.sha256(open(pol, "rb").read() if os.path.exists(pol) else b"").hexdigest()
assert p["policy"]["digest"]["sha256"] == want, "policy digest"
print("verified", n, p["verificationResult"], p["resourceUri"])
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
    let pubkey = std::fs::read_to_string(d.path().join("ev/evidence.pub")).unwrap();
    let o = Command::new(&python)
        .args(["-c", RECOMPUTE, "repo", "out", "ev", pubkey.trim()])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("verified 2 PASSED"), "{}", text(&o));

    // And it notices an edit the way `evidence verify` does.
    let log = d.path().join("ev/evidence.jsonl");
    let s = std::fs::read_to_string(&log).unwrap();
    let at = s.find("\"payload\":\"").unwrap() + 30;
    let mut edited = s.into_bytes();
    edited[at] = if edited[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&log, edited).unwrap();
    let o = Command::new(&python)
        .args(["-c", RECOMPUTE, "repo", "out", "ev", pubkey.trim()])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
}

/// The Statement of each record of the log in `dir`.
fn statements(dir: &Path) -> Vec<serde_json::Value> {
    use base64::Engine as _;
    std::fs::read_to_string(dir.join("evidence.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let env: serde_json::Value = serde_json::from_str(l).unwrap();
            let b = base64::engine::general_purpose::STANDARD
                .decode(env["payload"].as_str().unwrap())
                .unwrap();
            serde_json::from_slice(&b).unwrap()
        })
        .collect()
}

#[test]
fn a_signed_run_binds_the_commit_and_refuses_foreign_keys_and_truncation() {
    let d = tempfile::tempdir().unwrap();
    let root = repo(d.path());
    common::write(
        &root,
        "root.gates.yaml",
        "security_scan:\n  enabled: true\n",
    );
    git(&root, &["init", "-q"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "one"]);
    let first = git(&root, &["rev-parse", "HEAD"]);

    // 1. A signed run of the requested commit: the Statement binds repository, full commit,
    //    tree digest, report files and the policy digest, and says PASSED.
    let o = gate(
        d.path(),
        &[
            "--evidence-log",
            "ev",
            "--commit-sha",
            &first[..12],
            "--repository",
            "o/r",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let st = &statements(&d.path().join("ev"))[0];
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        st["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    let p = &st["predicate"];
    assert_eq!(p["verificationResult"], "PASSED");
    assert_eq!(
        p["resourceUri"],
        format!("git+https://github.com/o/r@{first}").as_str()
    );
    assert_eq!(p["mno"]["commit"]["status"], "VERIFIED");
    assert_eq!(st["subject"][0]["digest"]["gitCommit"], first.as_str());
    let policy = std::fs::read(root.join("root.gates.yaml")).unwrap();
    assert_eq!(
        p["policy"]["digest"]["sha256"],
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&policy)).as_str()
    );
    assert!(
        st["subject"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "report.md"),
        "{st}"
    );

    // 2. HEAD moves away from the requested commit: UNVERIFIED, a failing report entry,
    //    and the record says FAILED with the reason.
    common::write(&root, "later.txt", "later\n");
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "two"]);
    let second = git(&root, &["rev-parse", "HEAD"]);
    let o = gate(
        d.path(),
        &[
            "--evidence-log",
            "ev",
            "--commit-sha",
            &first,
            "--repository",
            "o/r",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("UNVERIFIED"), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("out/report.json")).unwrap()).unwrap();
    assert_eq!(
        report["validation_results"]["commit_binding"]["status"],
        "FAILED"
    );
    // The report publishes the chain head as it stood when the run started.
    assert_eq!(report["evidence_chain"]["records"], 1);
    let md = std::fs::read_to_string(d.path().join("out/report.md")).unwrap();
    assert!(md.contains("### Evidence chain"), "{md}");
    let st = &statements(&d.path().join("ev"))[1];
    assert_eq!(st["predicate"]["verificationResult"], "FAILED");
    assert_eq!(st["predicate"]["mno"]["commit"]["status"], "UNVERIFIED");
    assert_eq!(st["predicate"]["mno"]["commit"]["head"], second.as_str());
    assert!(
        st["predicate"]["mno"]["commit"]["reason"]
            .as_str()
            .unwrap()
            .contains(&second),
        "{st}"
    );

    // 3. A foreign key is refused, naming the key that signed.
    assert_eq!(
        gate(d.path(), &["--evidence-log", "ev2"]).status.code(),
        Some(0)
    );
    let signer = std::fs::read_to_string(d.path().join("ev/evidence.pub")).unwrap();
    let signer_id = &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        hex::decode(signer.trim()).unwrap(),
    ))[..16];
    let o = verify(d.path(), &["ev", "--pubkey", "ev2/evidence.pub"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("UNTRUSTED") && text(&o).contains(signer_id),
        "{}",
        text(&o)
    );
    // No key at all: refused, evidence.pub beside the log is no default.
    let o = verify(d.path(), &["ev"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // The key pinned in a trusted root.gates.yaml.
    common::write(
        d.path(),
        "policy.yaml",
        &format!(
            "evidence:\n  trusted_keys: [\"ed25519:{}\"]\n",
            signer.trim()
        ),
    );
    let o = verify(d.path(), &["ev", "--policy", "policy.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("1 record(s) say verificationResult FAILED"),
        "{}",
        text(&o)
    );

    // 4. Rotation: the old key announces the new one; later records verify under the old
    //    key's trust, and the new key alone cannot vouch for the records before it.
    let o = cmd(d.path())
        .args(["evidence", "rotate", "ev"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    git(&root, &["checkout", "-q", &first]);
    let o = gate(
        d.path(),
        &[
            "--evidence-log",
            "ev",
            "--commit-sha",
            &first,
            "--repository",
            "o/r",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = verify(
        d.path(),
        &[
            "ev",
            "--pubkey",
            "ev2/evidence.pub",
            "--policy",
            "policy.yaml",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("valid: 4 records") && text(&o).contains("1 key rotation"),
        "{}",
        text(&o)
    );

    // 5. Truncation: with the head published elsewhere, a removed tail is found and named.
    let head = cmd(d.path())
        .args(["evidence", "head", "ev"])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    assert!(head.ends_with(":4"), "{head}");
    let log = d.path().join("ev/evidence.jsonl");
    let full = std::fs::read_to_string(&log).unwrap();
    let kept: Vec<&str> = full.lines().take(2).collect();
    std::fs::write(&log, kept.join("\n") + "\n").unwrap();
    let o = verify(d.path(), &["ev", "--policy", "policy.yaml"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a shorter chain alone verifies: {}",
        text(&o)
    );
    let o = verify(
        d.path(),
        &["ev", "--policy", "policy.yaml", "--expect-head", &head],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("TRUNCATED") && text(&o).contains("records seq 3..=4 are missing"),
        "{}",
        text(&o)
    );
    std::fs::write(&log, &full).unwrap();
    let o = verify(
        d.path(),
        &["ev", "--policy", "policy.yaml", "--expect-head", &head],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // 6. Standard tools: in-toto-attestation reads each Statement, securesystemslib verifies
    //    each envelope (the last record is signed by the rotated key).
    let Some(python) = py_with_securesystemslib() else {
        return;
    };
    let new_pub = std::fs::read_to_string(d.path().join("ev/evidence.pub")).unwrap();
    std::fs::write(&log, full.lines().last().unwrap().to_string() + "\n").unwrap();
    // A one-record log starting mid-chain: check the envelope and Statement only.
    let o = Command::new(&python)
        .args([
            "-c",
            VERIFY_ONE,
            "ev/evidence.jsonl",
            new_pub.trim(),
            &first,
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("PASSED"), "{}", text(&o));
    // The old key does not verify the new key's record.
    let o = Command::new(&python)
        .args(["-c", VERIFY_ONE, "ev/evidence.jsonl", signer.trim(), &first])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
}

/// Verify the first line of a log as a DSSE envelope under one key (securesystemslib) and
/// read its Statement with in-toto-attestation; check that it binds the given commit.
const VERIFY_ONE: &str = r#"
import hashlib, json, sys
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
log, pub, commit = sys.argv[1:4]
env = Envelope.from_dict(json.loads(open(log).readline()))
keyid = hashlib.sha256(bytes.fromhex(pub)).hexdigest()[:16]
env.verify([SSlibKey(keyid, "ed25519", "ed25519", {"public": pub})], 1)
st = Statement.copy_from_pb(json_format.Parse(env.payload, statement_pb2.Statement()))
st.validate()
assert st.pb.predicate_type == "https://slsa.dev/verification_summary/v1"
assert any(s.digest.get("gitCommit") == commit for s in st.pb.subject), "commit not bound"
print(st.pb.predicate["verificationResult"], st.pb.predicate["resourceUri"])
"#;

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
            "import securesystemslib.dsse, securesystemslib.signer, in_toto_attestation.v1.statement",
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
    eprintln!(
        "SKIP: target/py-venv lacks in-toto (target/py-venv/bin/pip install in-toto in-toto-attestation)"
    );
    None
}

#[test]
fn keygen_creates_a_private_key_the_gate_then_signs_with() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    repo(d.path());
    let ev = d.path().join("ev");
    let o = cmd(d.path())
        .args(["evidence", "keygen"])
        .arg(&ev)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let printed = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(printed.len(), 64, "{printed}");
    assert_eq!(
        std::fs::read_to_string(ev.join("evidence.pub"))
            .unwrap()
            .trim(),
        printed
    );
    let mode = std::fs::metadata(ev.join("evidence.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second keygen must not replace the key.
    let again = cmd(d.path())
        .args(["evidence", "keygen"])
        .arg(&ev)
        .output()
        .unwrap();
    assert!(!again.status.success(), "{}", text(&again));
    assert_eq!(
        std::fs::read_to_string(ev.join("evidence.pub"))
            .unwrap()
            .trim(),
        printed
    );
    // The gate signs with it; verify --chain FILE with the printed key accepts the log.
    let o = gate(d.path(), &["--evidence-log", "ev"]);
    assert!(o.status.success(), "{}", text(&o));
    let pubfile = d.path().join("trusted.pub");
    std::fs::write(&pubfile, format!("{printed}\n")).unwrap();
    let o = cmd(d.path())
        .args(["evidence", "verify", "--chain"])
        .arg(ev.join("evidence.jsonl"))
        .arg("--pubkey")
        .arg(&pubfile)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    // A key from the environment: no key file is written, and the records verify with it.
    let seed = "7f".repeat(32);
    let vk = ed25519_dalek::SigningKey::from_bytes(&[0x7f; 32]).verifying_key();
    let o = cmd(d.path())
        .env("MNO_EVIDENCE_KEY", &seed)
        .args([
            "gate",
            "run",
            "repo",
            "--out",
            "out2",
            "--checks",
            "naming_conventions",
        ])
        .args(["--evidence-log", "ev2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!d.path().join("ev2/evidence.key").exists());
    assert_eq!(
        std::fs::read_to_string(d.path().join("ev2/evidence.pub"))
            .unwrap()
            .trim(),
        hex::encode(vk.as_bytes())
    );
    let o = verify(
        d.path(),
        &[
            "--chain",
            "ev2/evidence.jsonl",
            "--pubkey",
            "ev2/evidence.pub",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let bad = cmd(d.path())
        .env("MNO_EVIDENCE_KEY", "abc")
        .args([
            "gate",
            "run",
            "repo",
            "--out",
            "out3",
            "--checks",
            "naming_conventions",
        ])
        .args(["--evidence-log", "ev3"])
        .output()
        .unwrap();
    assert!(text(&bad).contains("MNO_EVIDENCE_KEY"), "{}", text(&bad));
}
