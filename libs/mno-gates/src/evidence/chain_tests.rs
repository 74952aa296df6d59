use super::*;
use crate::evidence::{ExpectedHead, VerifyError, VerifyErrorKind, verify, verify_with};
use ed25519_dalek::Signature;

fn ev(n: u32) -> Evidence {
    Evidence {
        algorithm: crate::evidence::ALGORITHM.into(),
        construction: String::new(),
        sha256: hex::encode(Sha256::digest(n.to_be_bytes())),
        sha3_512: "ab".repeat(64),
        report_sha256: hex::encode(Sha256::digest(b"report")),
        files: 1,
        missing: 0,
        bytes: 3,
    }
}

/// A chain of `n` records in a fresh directory.
fn chain(n: u32) -> (tempfile::TempDir, EvidenceChain) {
    let dir = tempfile::tempdir().unwrap();
    let c = EvidenceChain::open(&dir.path().join("ev")).unwrap();
    for i in 0..n {
        c.append(&format!("v{i}"), Status::Passed, &ev(i)).unwrap();
    }
    (dir, c)
}

fn lines(c: &EvidenceChain) -> Vec<String> {
    std::fs::read_to_string(c.log_path())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(c: &EvidenceChain, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(c.log_path(), text).unwrap();
}

fn tampered(c: &EvidenceChain) -> VerifyError {
    let e = verify(&c.log_path(), &[c.verifying_key()]).unwrap_err();
    assert_eq!(e.kind, VerifyErrorKind::Tampered, "{e}");
    e
}

/// The envelope and Statement of a log line.
fn parse(l: &str) -> (DsseEnvelope, serde_json::Value) {
    let env: DsseEnvelope = serde_json::from_str(l).unwrap();
    let st = serde_json::from_slice(&B64.decode(&env.payload).unwrap()).unwrap();
    (env, st)
}

/// The line with its Statement replaced, signature kept.
fn with_statement(l: &str, st: &serde_json::Value) -> String {
    let (mut env, _) = parse(l);
    env.payload = B64.encode(serde_json::to_vec(st).unwrap());
    serde_json::to_string(&env).unwrap()
}

#[test]
fn appended_records_link_and_verify() {
    let (_d, c) = chain(3);
    let recs: Vec<_> = lines(&c).iter().map(|l| parse(l)).collect();
    let hash = |i: usize| hex::encode(Sha256::digest(B64.decode(&recs[i].0.payload).unwrap()));
    let chain_of = |i: usize| &recs[i].1["predicate"]["mno"]["chain"];
    assert_eq!(chain_of(0)["prev_hash"], GENESIS_HASH);
    assert_eq!(chain_of(1)["prev_hash"], hash(0).as_str());
    assert_eq!(chain_of(2)["seq"], 3);
    assert_eq!(recs[2].0.signatures[0].keyid, c.key_id());
    assert_eq!(recs[2].0.payload_type, "application/vnd.in-toto+json");
    assert_eq!(recs[2].1["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        recs[2].1["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    let s = verify(&c.log_path(), &[c.verifying_key()]).unwrap();
    assert_eq!((s.records, s.last_seq), (3, 3));
    assert_eq!(s.last_hash, hash(2));
    assert_eq!(
        c.head().unwrap(),
        ChainHead {
            records: 3,
            hash: hash(2)
        }
    );
}

#[test]
fn an_empty_log_is_valid() {
    let (_d, c) = chain(0);
    std::fs::write(c.log_path(), "").unwrap();
    let s = verify(&c.log_path(), &[c.verifying_key()]).unwrap();
    assert_eq!((s.records, s.last_hash.as_str()), (0, GENESIS_HASH));
}

#[test]
fn reopening_keeps_the_key_and_continues_the_chain() {
    let (d, c) = chain(2);
    let again = EvidenceChain::open(&d.path().join("ev")).unwrap();
    assert_eq!(again.key_id(), c.key_id());
    let r = again.append("v2", Status::Failed, &ev(2)).unwrap();
    assert_eq!(r.seq, 3);
    assert!(verify(&c.log_path(), &[c.verifying_key()]).is_ok());
    let key = d.path().join("ev").join(KEY_FILE);
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let pubkey = read_public_key(&d.path().join("ev").join(PUB_FILE)).unwrap();
    assert_eq!(pubkey, c.verifying_key());
}

#[test]
fn a_key_readable_by_others_is_refused() {
    let (d, _c) = chain(0);
    let key = d.path().join("ev").join(KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = EvidenceChain::open(&d.path().join("ev")).unwrap_err();
    assert!(matches!(e, ChainError::KeyPermissions { .. }), "{e}");
    assert!(e.to_string().contains("chmod 600"), "{e}");
}

#[test]
fn an_edited_record_is_found() {
    let (_d, c) = chain(3);
    let mut l = lines(&c);
    let (_, mut st) = parse(&l[1]);
    st["predicate"]["verificationResult"] = "FAILED".into();
    l[1] = with_statement(&l[1], &st);
    write_lines(&c, &l);
    let e = tampered(&c);
    assert_eq!(e.line, 2);
    assert!(e.reason.contains("bad signature"), "{e}");
}

#[test]
fn a_deleted_record_is_found() {
    let (_d, c) = chain(3);
    let mut l = lines(&c);
    l.remove(1);
    write_lines(&c, &l);
    let e = tampered(&c);
    assert_eq!(e.line, 2);
    assert!(e.reason.contains("deleted"), "{e}");

    // Also the first one.
    let (_d, c) = chain(2);
    let l = lines(&c);
    write_lines(&c, &l[1..]);
    assert_eq!(tampered(&c).line, 1);
}

#[test]
fn reordered_records_are_found() {
    let (_d, c) = chain(3);
    let mut l = lines(&c);
    l.swap(1, 2);
    write_lines(&c, &l);
    let e = tampered(&c);
    assert_eq!(e.line, 2);
}

#[test]
fn a_record_signed_with_another_key_is_refused_naming_the_key() {
    let (_d, c) = chain(2);
    let (_d2, other) = chain(0);
    let e = verify(&c.log_path(), &[other.verifying_key()]).unwrap_err();
    assert_eq!((e.kind, e.line), (VerifyErrorKind::Untrusted, 1));
    assert!(e.reason.contains(&c.key_id()), "{e}");
    assert!(e.reason.contains(&other.key_id()), "{e}");

    // A forged signature under the right key id.
    let mut l = lines(&c);
    let (mut env, _) = parse(&l[1]);
    env.signatures[0].sig = B64.encode([7u8; 64]);
    l[1] = serde_json::to_string(&env).unwrap();
    write_lines(&c, &l);
    assert!(tampered(&c).reason.contains("bad signature"));
}

#[test]
fn a_rotation_hands_over_to_the_new_key_and_retires_the_old() {
    let (d, c) = chain(2);
    let old = c.verifying_key();
    let old_key = read_signing_key(&d.path().join("ev").join(KEY_FILE)).unwrap();
    let (rec, new) = c.rotate().unwrap();
    assert_eq!(rec.seq, 3);
    assert_eq!(rec.key_id, key_id(&old));
    assert_eq!(c.verifying_key(), new);
    let r = c.append("after", Status::Passed, &ev(9)).unwrap();
    assert_eq!(r.key_id, key_id(&new));
    // Trusting the old key is enough: the rotation record, signed by it, names the new one.
    let s = verify(&c.log_path(), &[old]).unwrap();
    assert_eq!((s.records, s.rotations), (4, 1));
    assert_eq!(s.key_id, key_id(&new));
    // Trusting only the new key refuses the records before the rotation.
    let e = verify(&c.log_path(), &[new]).unwrap_err();
    assert_eq!((e.kind, e.line), (VerifyErrorKind::Untrusted, 1));
    // A record properly signed by the retired key after the rotation is refused.
    let mut l = lines(&c);
    let (_, mut st) = parse(&l[0]);
    st["predicate"]["mno"]["chain"] = serde_json::json!({"seq": 5, "prev_hash": r.hash});
    let payload = serde_json::to_vec(&st).unwrap();
    let sig = old_key.sign(&pae(PAYLOAD_TYPE, &payload)).to_bytes();
    let forged = DsseEnvelope {
        payload: B64.encode(&payload),
        payload_type: PAYLOAD_TYPE.into(),
        signatures: vec![DsseSignature {
            keyid: key_id(&old),
            sig: B64.encode(sig),
        }],
    };
    l.push(serde_json::to_string(&forged).unwrap());
    write_lines(&c, &l);
    let e = verify(&c.log_path(), &[old]).unwrap_err();
    assert_eq!((e.kind, e.line), (VerifyErrorKind::Untrusted, 5), "{e}");
    assert!(e.reason.contains(&key_id(&old)), "{e}");
}

#[test]
fn truncated_tail_is_detected_given_the_expected_head() {
    let (_d, c) = chain(5);
    let head = c.head().unwrap();
    let l = lines(&c);
    write_lines(&c, &l[..3]);
    // Without the head the shorter chain is valid: that is the gap being closed.
    assert!(verify(&c.log_path(), &[c.verifying_key()]).is_ok());
    let want: ExpectedHead = head.to_string().parse().unwrap();
    let e = verify_with(&c.log_path(), &[c.verifying_key()], Some(&want)).unwrap_err();
    assert_eq!(e.kind, VerifyErrorKind::Truncated);
    assert!(e.reason.contains("records seq 4..=5 are missing"), "{e}");
    assert!(e.reason.contains("2 record(s) were removed"), "{e}");
    // The hash alone: not in the chain.
    let e = verify_with(
        &c.log_path(),
        &[c.verifying_key()],
        Some(&head.hash.parse().unwrap()),
    )
    .unwrap_err();
    assert!(e.reason.contains("not in the chain"), "{e}");
    // An older head of a chain that grew since is fine.
    write_lines(&c, &l);
    let s = verify_with(&c.log_path(), &[c.verifying_key()], Some(&want)).unwrap();
    assert!(s.head_checked);
    assert!("zz".parse::<ExpectedHead>().is_err());
    // The count alone (what /metrics exports) still detects the loss.
    write_lines(&c, &l[..4]);
    let e = verify_with(
        &c.log_path(),
        &[c.verifying_key()],
        Some(&":5".parse().unwrap()),
    )
    .unwrap_err();
    assert!(e.reason.contains("records seq 5..=5 are missing"), "{e}");
}

#[test]
fn version_one_records_still_verify_and_the_chain_continues() {
    let (d, c) = chain(0);
    let key = read_signing_key(&d.path().join("ev").join(KEY_FILE)).unwrap();
    let mut r = ChainRecord {
        seq: 1,
        validation_id: "old".into(),
        timestamp: "2026-01-01T00:00:00Z".into(),
        overall_status: Status::Passed,
        report_sha256: "00".repeat(32),
        evidence: RecordDigests {
            sha256: "11".repeat(32),
            sha3_512: "22".repeat(64),
        },
        prev_hash: GENESIS_HASH.into(),
        key_id: c.key_id(),
        hash: String::new(),
        signature: String::new(),
    };
    r.hash = hex::encode(Sha256::digest(r.body()));
    r.signature = B64.encode(key.sign(&pae(LEGACY_PAYLOAD_TYPE, &r.body())).to_bytes());
    write_lines(&c, &[serde_json::to_string(&r).unwrap()]);
    let next = c.append("new", Status::Passed, &ev(1)).unwrap();
    assert_eq!((next.seq, next.prev_hash.as_str()), (2, r.hash.as_str()));
    let s = verify(&c.log_path(), &[c.verifying_key()]).unwrap();
    assert_eq!((s.records, s.legacy_records), (2, 1));
}

#[test]
fn a_truncated_last_line_is_found_and_blocks_appends() {
    let (_d, c) = chain(2);
    let text = std::fs::read_to_string(c.log_path()).unwrap();
    std::fs::write(c.log_path(), &text[..text.len() - 20]).unwrap();
    let e = tampered(&c);
    assert_eq!(e.line, 2);
    assert!(e.reason.contains("cut short"), "{e}");
    let e = c.append("v9", Status::Passed, &ev(9)).unwrap_err();
    assert!(matches!(e, ChainError::Damaged { .. }), "{e}");
}

#[test]
fn a_missing_log_is_unreadable() {
    let (_d, c) = chain(0);
    let e = verify(&c.log_path(), &[c.verifying_key()]).unwrap_err();
    assert_eq!((e.kind, e.line), (VerifyErrorKind::Unreadable, 0));
}

#[test]
fn long_records_are_found_by_the_backward_reader() {
    let (_d, c) = chain(1);
    let long = "x".repeat(10_000);
    c.append(&long, Status::Passed, &ev(1)).unwrap();
    let r = c.append("short", Status::Passed, &ev(2)).unwrap();
    assert_eq!(r.seq, 3);
    assert!(verify(&c.log_path(), &[c.verifying_key()]).is_ok());
}

#[test]
fn concurrent_appends_make_one_valid_chain() {
    let (d, c) = chain(0);
    let dir = d.path().join("ev");
    std::thread::scope(|s| {
        // Threads sharing one chain (the mutex) and threads with their own (flock between
        // separate open files, as between processes).
        for t in 0..3u32 {
            let c = &c;
            s.spawn(move || {
                for i in 0..15 {
                    c.append(&format!("shared-{t}-{i}"), Status::Passed, &ev(i))
                        .unwrap();
                }
            });
        }
        for t in 0..3u32 {
            let dir = dir.clone();
            s.spawn(move || {
                let own = EvidenceChain::open(&dir).unwrap();
                for i in 0..15 {
                    own.append(&format!("own-{t}-{i}"), Status::Failed, &ev(i))
                        .unwrap();
                }
            });
        }
    });
    let s = verify(&c.log_path(), &[c.verifying_key()]).unwrap();
    assert_eq!(s.records, 90);
}

#[test]
fn each_line_is_a_dsse_envelope_signed_over_pae() {
    let (_d, c) = chain(1);
    let (env, _) = parse(&lines(&c)[0]);
    assert_eq!(env.payload_type, PAYLOAD_TYPE);
    let payload = B64.decode(&env.payload).unwrap();
    let sig = Signature::from_slice(&B64.decode(&env.signatures[0].sig).unwrap()).unwrap();
    let mut pae_text = format!("DSSEv1 28 {PAYLOAD_TYPE} {} ", payload.len()).into_bytes();
    pae_text.extend_from_slice(&payload);
    assert!(c.verifying_key().verify_strict(&pae_text, &sig).is_ok());
}
