use super::*;

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
    let e = verify(&c.log_path(), &c.verifying_key()).unwrap_err();
    assert_eq!(e.kind, VerifyErrorKind::Tampered, "{e}");
    e
}

#[test]
fn appended_records_link_and_verify() {
    let (_d, c) = chain(3);
    let recs: Vec<ChainRecord> = lines(&c)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs[0].prev_hash, GENESIS_HASH);
    assert_eq!(recs[1].prev_hash, recs[0].hash);
    assert_eq!(recs[2].seq, 3);
    assert_eq!(recs[2].key_id, c.key_id());
    let s = verify(&c.log_path(), &c.verifying_key()).unwrap();
    assert_eq!((s.records, s.last_seq), (3, 3));
    assert_eq!(s.last_hash, recs[2].hash);

    // The body is sorted, compact JSON without hash and signature.
    let body = String::from_utf8(recs[0].body()).unwrap();
    assert!(body.starts_with("{\"evidence\":{\"sha256\":"), "{body}");
    assert!(body.contains("\"validation_id\":\"v0\"}"), "{body}");
    assert!(!body.contains("signature") && !body.contains("\"hash\""));
}

#[test]
fn an_empty_log_is_valid() {
    let (_d, c) = chain(0);
    std::fs::write(c.log_path(), "").unwrap();
    let s = verify(&c.log_path(), &c.verifying_key()).unwrap();
    assert_eq!((s.records, s.last_hash.as_str()), (0, GENESIS_HASH));
}

#[test]
fn reopening_keeps_the_key_and_continues_the_chain() {
    let (d, c) = chain(2);
    let again = EvidenceChain::open(&d.path().join("ev")).unwrap();
    assert_eq!(again.key_id(), c.key_id());
    let r = again.append("v2", Status::Failed, &ev(2)).unwrap();
    assert_eq!(r.seq, 3);
    assert!(verify(&c.log_path(), &c.verifying_key()).is_ok());
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
    l[1] = l[1].replace("\"PASSED\"", "\"FAILED\"");
    write_lines(&c, &l);
    let e = tampered(&c);
    assert_eq!(e.line, 2);
    assert!(e.reason.contains("edited"), "{e}");
}

#[test]
fn an_edited_and_rehashed_record_fails_its_signature() {
    let (_d, c) = chain(2);
    let mut l = lines(&c);
    let mut r: ChainRecord = serde_json::from_str(&l[0]).unwrap();
    r.overall_status = Status::Failed;
    r.hash = hex::encode(Sha256::digest(r.body()));
    l[0] = serde_json::to_string(&r).unwrap();
    write_lines(&c, &l);
    let e = tampered(&c);
    assert_eq!(e.line, 1);
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
fn a_record_signed_with_another_key_is_found() {
    let (_d, c) = chain(2);
    let (_d2, other) = chain(0);
    let e = verify(&c.log_path(), &other.verifying_key()).unwrap_err();
    assert_eq!((e.kind, e.line), (VerifyErrorKind::Tampered, 1));
    assert!(e.reason.contains("expected"), "{e}");

    // A forged signature under the right key id.
    let mut l = lines(&c);
    let mut r: ChainRecord = serde_json::from_str(&l[1]).unwrap();
    r.signature = B64.encode([7u8; 64]);
    l[1] = serde_json::to_string(&r).unwrap();
    write_lines(&c, &l);
    assert!(tampered(&c).reason.contains("bad signature"));
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
    let e = verify(&c.log_path(), &c.verifying_key()).unwrap_err();
    assert_eq!((e.kind, e.line), (VerifyErrorKind::Unreadable, 0));
}

#[test]
fn long_records_are_found_by_the_backward_reader() {
    let (_d, c) = chain(1);
    let long = "x".repeat(10_000);
    c.append(&long, Status::Passed, &ev(1)).unwrap();
    let r = c.append("short", Status::Passed, &ev(2)).unwrap();
    assert_eq!(r.seq, 3);
    assert!(verify(&c.log_path(), &c.verifying_key()).is_ok());
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
    let s = verify(&c.log_path(), &c.verifying_key()).unwrap();
    assert_eq!(s.records, 90);
}

#[test]
fn dsse_envelope_carries_the_body_and_signature() {
    let (_d, c) = chain(1);
    let r: ChainRecord = serde_json::from_str(&lines(&c)[0]).unwrap();
    let env = r.dsse_envelope();
    assert_eq!(env["payloadType"], PAYLOAD_TYPE);
    let payload = B64.decode(env["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload, r.body());
    let sig = B64
        .decode(env["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    let sig = Signature::from_slice(&sig).unwrap();
    let mut pae_text = format!("DSSEv1 33 {PAYLOAD_TYPE} {} ", payload.len()).into_bytes();
    pae_text.extend_from_slice(&payload);
    assert!(c.verifying_key().verify_strict(&pae_text, &sig).is_ok());
}
