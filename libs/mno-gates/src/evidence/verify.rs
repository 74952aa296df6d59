//! Walk an evidence log against keys the caller trusts, and against an expected head.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::chain::{
    GENESIS_HASH, LEGACY_PAYLOAD_TYPE, Line, PAYLOAD_TYPE, key_id, pae, parse_line,
    parse_public_key,
};
use super::statement::parse_statement;

/// What a valid chain holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifySummary {
    /// Records checked.
    pub records: u64,
    /// `seq` of the last record (0 when empty).
    pub last_seq: u64,
    /// `hash` of the last record ([`GENESIS_HASH`] when empty): anchor it elsewhere.
    pub last_hash: String,
    /// The key that signs from here on (the last rotation's, else the first trusted one
    /// that signed; the first given when the log is empty).
    pub key_id: String,
    /// `timestamp` of the last record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<String>,
    /// Key rotations passed (records signed by the old key announcing a new one).
    pub rotations: u64,
    /// Records of gate runs whose `verificationResult` is FAILED (a failed gate or an
    /// UNVERIFIED commit); version-1 records are not counted.
    pub failed_results: u64,
    /// Version-1 records (before the in-toto Statement format).
    pub legacy_records: u64,
    /// Whether an expected head was given and found.
    pub head_checked: bool,
}

/// Whether the log could not be read or was read and found altered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyErrorKind {
    /// The log could not be read at all.
    Unreadable,
    /// A record was edited, deleted, moved, re-signed or cut short.
    Tampered,
    /// A record is signed by a key the caller does not trust.
    Untrusted,
    /// Records were removed from the end: the expected head is missing.
    Truncated,
}

/// Where and why verification failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}line {line}: {reason}", if self.kind == VerifyErrorKind::Unreadable { "unreadable: " } else { "" })]
pub struct VerifyError {
    /// 1-based line of the log (0: the file as a whole).
    pub line: usize,
    /// Unreadable, tampered, untrusted or truncated.
    pub kind: VerifyErrorKind,
    /// What is wrong.
    pub reason: String,
}

/// A head the caller got elsewhere (a report, `/metrics`, the state store): a record hash
/// and, optionally, the record count at that time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedHead {
    /// The record hash (64 hex digits); `None` when only the count is known (`/metrics`).
    pub hash: Option<String>,
    /// The count (`seq` of that record).
    pub records: Option<u64>,
}

impl std::str::FromStr for ExpectedHead {
    type Err = String;
    /// `HASH`, `HASH:COUNT` or `:COUNT`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (h, c) = match s.split_once(':') {
            Some((h, c)) => (h, Some(c)),
            None => (s, None),
        };
        let hash = h.trim().to_ascii_lowercase();
        let hash = if hash.is_empty() && c.is_some() {
            None
        } else if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            Some(hash)
        } else {
            return Err(format!("{h:?} is not a 64-hex-digit record hash"));
        };
        let records = c
            .map(|c| {
                c.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{c:?} is not a record count"))
            })
            .transpose()?;
        Ok(ExpectedHead { hash, records })
    }
}

/// Check every record of the log at `path` against `keys`: see [`verify_with`].
pub fn verify(path: &Path, keys: &[VerifyingKey]) -> Result<VerifySummary, VerifyError> {
    verify_with(path, keys, None)
}

/// Check every record of the log at `path`: signatures by a trusted key (`keys`, extended
/// by rotation records signed by a trusted key, which also retire the signing key), `seq`
/// and `prev_hash` links, a complete last line, and, with `expect`, that the expected head
/// is in the chain (else the records after the end are named as missing).
pub fn verify_with(
    path: &Path,
    keys: &[VerifyingKey],
    expect: Option<&ExpectedHead>,
) -> Result<VerifySummary, VerifyError> {
    let file = File::open(path).map_err(|e| VerifyError {
        line: 0,
        kind: VerifyErrorKind::Unreadable,
        reason: format!("{}: {e}", path.display()),
    })?;
    if keys.is_empty() {
        return Err(VerifyError {
            line: 0,
            kind: VerifyErrorKind::Unreadable,
            reason: "no trusted public key given".into(),
        });
    }
    let mut trusted: BTreeMap<String, VerifyingKey> =
        keys.iter().map(|k| (key_id(k), *k)).collect();
    let mut reader = BufReader::new(file);
    let mut sum = VerifySummary {
        records: 0,
        last_seq: 0,
        last_hash: GENESIS_HASH.to_string(),
        key_id: key_id(&keys[0]),
        last_timestamp: None,
        rotations: 0,
        failed_results: 0,
        legacy_records: 0,
        head_checked: false,
    };
    // Hash → seq of every record, for the expected head.
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut buf = Vec::new();
    let mut lineno = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| VerifyError {
                line: lineno + 1,
                kind: VerifyErrorKind::Unreadable,
                reason: e.to_string(),
            })?;
        if n == 0 {
            break;
        }
        lineno += 1;
        let err = |kind, reason: String| VerifyError {
            line: lineno,
            kind,
            reason,
        };
        if buf.last() != Some(&b'\n') {
            return Err(err(
                VerifyErrorKind::Tampered,
                "the last line is cut short (no newline)".into(),
            ));
        }
        let line = parse_line(&buf[..buf.len() - 1])
            .map_err(|e| err(VerifyErrorKind::Tampered, format!("not a record: {e}")))?;
        let rec = check_signature(&line, &trusted).map_err(|(k, r)| err(k, r))?;
        check_link(&rec, &sum).map_err(|r| err(VerifyErrorKind::Tampered, r))?;
        match &rec.announces {
            Some(new) => {
                // The old key is retired: only the announced key signs after this.
                trusted.remove(&rec.key_id);
                sum.key_id = key_id(new);
                trusted.insert(sum.key_id.clone(), *new);
                sum.rotations += 1;
            }
            None => sum.key_id = rec.key_id.clone(),
        }
        sum.legacy_records += u64::from(rec.legacy);
        sum.failed_results += u64::from(rec.failed);
        sum.records += 1;
        sum.last_seq = rec.seq;
        seen.insert(rec.hash.clone(), rec.seq);
        sum.last_hash = rec.hash;
        sum.last_timestamp = rec.time;
    }
    if let Some(want) = expect {
        check_head(want, &seen, &sum)?;
        sum.head_checked = true;
    }
    Ok(sum)
}

/// What the walk needs of one record.
struct Checked {
    seq: u64,
    prev_hash: String,
    hash: String,
    key_id: String,
    time: Option<String>,
    announces: Option<VerifyingKey>,
    legacy: bool,
    failed: bool,
}

/// The record's signature by a trusted key.
fn check_signature(
    line: &Line,
    trusted: &BTreeMap<String, VerifyingKey>,
) -> Result<Checked, (VerifyErrorKind, String)> {
    let tampered = |r: String| (VerifyErrorKind::Tampered, r);
    let (payload_type, body, kid, sig, checked) = match line {
        Line::Legacy(rec) => {
            let body = rec.body();
            let hash = hex::encode(Sha256::digest(&body));
            if hash != rec.hash {
                return Err(tampered(format!(
                    "record seq {} was edited: its hash does not match its contents",
                    rec.seq
                )));
            }
            let c = Checked {
                seq: rec.seq,
                prev_hash: rec.prev_hash.clone(),
                hash,
                key_id: rec.key_id.clone(),
                time: Some(rec.timestamp.clone()),
                announces: None,
                legacy: true,
                failed: false,
            };
            (LEGACY_PAYLOAD_TYPE, body, &rec.key_id, &rec.signature, c)
        }
        Line::Dsse { payload, envelope } => {
            if envelope.payload_type != PAYLOAD_TYPE {
                return Err(tampered(format!(
                    "payloadType {:?} where {PAYLOAD_TYPE} was expected",
                    envelope.payload_type
                )));
            }
            let [s] = envelope.signatures.as_slice() else {
                return Err(tampered(format!(
                    "{} signatures where exactly 1 was expected",
                    envelope.signatures.len()
                )));
            };
            // Parsed before the signature is checked only to name the record; nothing in
            // it is believed until the signature holds.
            let st = parse_statement(payload).map_err(tampered)?;
            let announces =
                match &st.announces_key {
                    Some(k) => Some(parse_public_key(k).map_err(|e| {
                        tampered(format!("record seq {}: announced key: {e}", st.seq))
                    })?),
                    None => None,
                };
            let c = Checked {
                seq: st.seq,
                prev_hash: st.prev_hash,
                hash: hex::encode(Sha256::digest(payload)),
                key_id: s.keyid.clone(),
                time: st.time,
                announces,
                legacy: false,
                failed: st.verification_result.as_deref() == Some("FAILED"),
            };
            (PAYLOAD_TYPE, payload.clone(), &s.keyid, &s.sig, c)
        }
    };
    let Some(key) = trusted.get(kid) else {
        let list: Vec<&str> = trusted.keys().map(String::as_str).collect();
        return Err((
            VerifyErrorKind::Untrusted,
            format!(
                "record seq {} is signed by key {kid}, which is not trusted (trusted: {}); \
                 refusing the chain",
                checked.seq,
                list.join(", ")
            ),
        ));
    };
    let sig = B64
        .decode(sig)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or_else(|| {
            tampered(format!(
                "record seq {}: the signature is not a base64 Ed25519 signature",
                checked.seq
            ))
        })?;
    key.verify_strict(&pae(payload_type, &body), &sig)
        .map_err(|_| {
            tampered(format!(
                "record seq {}: bad signature (edited, or forged under key id {kid})",
                checked.seq
            ))
        })?;
    Ok(checked)
}

/// The record's `seq` and `prev_hash` against the record before it.
fn check_link(rec: &Checked, before: &VerifySummary) -> Result<(), String> {
    let want_seq = before.last_seq + 1;
    if rec.seq != want_seq {
        let what = if rec.seq > want_seq {
            "records were deleted"
        } else {
            "records were reordered or duplicated"
        };
        return Err(format!(
            "seq {} where {want_seq} was expected: {what}",
            rec.seq
        ));
    }
    if rec.prev_hash != before.last_hash {
        return Err(format!(
            "record seq {}: prev_hash does not match the record before it",
            rec.seq
        ));
    }
    Ok(())
}

/// The expected head against the records read.
fn check_head(
    want: &ExpectedHead,
    seen: &HashMap<String, u64>,
    sum: &VerifySummary,
) -> Result<(), VerifyError> {
    let truncated = |reason: String| VerifyError {
        line: 0,
        kind: VerifyErrorKind::Truncated,
        reason,
    };
    let Some(hash) = &want.hash else {
        return match want.records {
            Some(n) if n > sum.records => Err(truncated(format!(
                "records seq {}..={n} are missing: the chain ends at seq {} (hash {}) but {n} \
                 records were expected; {} record(s) were removed from the end",
                sum.records + 1,
                sum.records,
                sum.last_hash,
                n - sum.records
            ))),
            _ => Ok(()),
        };
    };
    match (seen.get(hash), want.records) {
        (Some(&seq), Some(n)) if seq != n => Err(truncated(format!(
            "the expected head {hash} is record seq {seq} here, not {n}: the chain was rewritten"
        ))),
        (Some(_), _) => Ok(()),
        (None, Some(n)) if n > sum.records => Err(truncated(format!(
            "records seq {}..={n} are missing: the chain ends at seq {} (hash {}) but the \
             expected head is {} at seq {n}; {} record(s) were removed from the end",
            sum.records + 1,
            sum.records,
            sum.last_hash,
            hash,
            n - sum.records
        ))),
        (None, _) => Err(truncated(format!(
            "the expected head {hash} is not in the chain ({} records, last hash {}): records \
             were removed from the end or the chain was rewritten",
            sum.records, sum.last_hash
        ))),
    }
}
