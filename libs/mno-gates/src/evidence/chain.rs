//! The signed, hash-chained evidence log: `evidence.jsonl` in a directory that also holds the
//! signing key (`evidence.key`, a 32-byte Ed25519 seed, mode 0600) and its public key
//! (`evidence.pub`, hex).
//!
//! Each line is one [`ChainRecord`]. Its *body* is the record without `hash` and
//! `signature`, serialized as compact JSON with keys sorted (what Python's
//! `json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` prints):
//!
//! - `hash = sha256(body)`, lowercase hex;
//! - `prev_hash` = the previous record's `hash` (64 zeros for the first), `seq` counts from 1;
//! - `signature` = base64 Ed25519 signature over DSSE's pre-authentication encoding
//!   `PAE(PAYLOAD_TYPE, body)`, so each record is also a DSSE envelope with `body` as its
//!   payload ([`ChainRecord::dsse_envelope`]) that in-toto / securesystemslib verify.
//!
//! Editing a record breaks its hash; re-hashing it breaks its signature; deleting or
//! moving one breaks `seq` and `prev_hash` of the next. Removing records from the *end*
//! leaves a valid shorter chain: anchor the last hash ([`VerifySummary::last_hash`])
//! somewhere else (a CI log, a commit status) to detect that.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Evidence;
use crate::finding::Status;

/// The log's file name inside the evidence directory.
pub const LOG_FILE: &str = "evidence.jsonl";
/// The signing key's file name (32 raw bytes, mode 0600).
pub const KEY_FILE: &str = "evidence.key";
/// The public key's file name (64 hex digits and a newline).
pub const PUB_FILE: &str = "evidence.pub";
/// DSSE payload type of a record body.
pub const PAYLOAD_TYPE: &str = "application/vnd.mno.evidence+json";
/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Why the chain could not be opened or appended to.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A file of the evidence directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// The signing key is readable by group or others.
    #[error("{path}: permissions {mode:o} let others read the signing key; run `chmod 600 {path}`")]
    KeyPermissions {
        /// The key file.
        path: String,
        /// Its mode bits.
        mode: u32,
    },
    /// A key file is not what it should be.
    #[error("{path}: {reason}")]
    BadKey {
        /// The key file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The log's last line is unfinished or unreadable; appending would hide it.
    #[error("{path}: {reason}; run `super-agent evidence verify` and remove the damaged last line")]
    Damaged {
        /// The log file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ChainError + '_ {
    move |source| ChainError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The two digests of an [`Evidence`] that a record keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordDigests {
    /// SHA-256, hex.
    pub sha256: String,
    /// SHA3-512, hex.
    pub sha3_512: String,
}

/// One line of `evidence.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainRecord {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// The validation this records (the request's id; random for the CLI).
    pub validation_id: String,
    /// RFC 3339 time the record was appended.
    pub timestamp: String,
    /// The gate's overall status.
    pub overall_status: Status,
    /// SHA-256 of the report alone.
    pub report_sha256: String,
    /// The evidence digests.
    pub evidence: RecordDigests,
    /// `hash` of the previous record ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// First 16 hex digits of SHA-256 of the signing public key.
    pub key_id: String,
    /// SHA-256 of the record's canonical body, hex.
    pub hash: String,
    /// Ed25519 over `PAE(PAYLOAD_TYPE, body)`, base64.
    pub signature: String,
}

/// The signed part of a record: fields in sorted order, so serde writes sorted keys.
#[derive(Serialize)]
struct Body<'a> {
    evidence: &'a RecordDigests,
    key_id: &'a str,
    overall_status: Status,
    prev_hash: &'a str,
    report_sha256: &'a str,
    seq: u64,
    timestamp: &'a str,
    validation_id: &'a str,
}

impl ChainRecord {
    /// The canonical body: compact JSON, sorted keys, without `hash` and `signature`.
    pub fn body(&self) -> Vec<u8> {
        let b = Body {
            evidence: &self.evidence,
            key_id: &self.key_id,
            overall_status: self.overall_status,
            prev_hash: &self.prev_hash,
            report_sha256: &self.report_sha256,
            seq: self.seq,
            timestamp: &self.timestamp,
            validation_id: &self.validation_id,
        };
        // Plain strings and integers: serializing cannot fail.
        serde_json::to_vec(&b).unwrap_or_default()
    }

    /// The record as a DSSE envelope `{payload, payloadType, signatures: [{keyid, sig}]}`.
    pub fn dsse_envelope(&self) -> serde_json::Value {
        serde_json::json!({
            "payload": B64.encode(self.body()),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"keyid": self.key_id, "sig": self.signature}],
        })
    }
}

/// DSSE v1 pre-authentication encoding of `body`.
fn pae(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        PAYLOAD_TYPE.len(),
        PAYLOAD_TYPE,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The key id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Read a public key file: 64 hex digits (what [`EvidenceChain`] writes) or 32 raw bytes.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, ChainError> {
    let raw = std::fs::read(path).map_err(io_err(path))?;
    let bad = |reason: &str| ChainError::BadKey {
        path: path.display().to_string(),
        reason: reason.to_string(),
    };
    let bytes: [u8; 32] = match raw.len() {
        32 => raw.try_into().map_err(|_| bad("not 32 bytes"))?,
        _ => {
            let text = String::from_utf8_lossy(&raw);
            let v = hex::decode(text.trim()).map_err(|_| bad("not 64 hex digits"))?;
            v.try_into().map_err(|_| bad("not a 32-byte key"))?
        }
    };
    VerifyingKey::from_bytes(&bytes).map_err(|_| bad("not an Ed25519 public key"))
}

/// An evidence directory opened for appending.
pub struct EvidenceChain {
    dir: PathBuf,
    key: SigningKey,
    key_id: String,
    /// Appends from threads of this process go one at a time (flock covers other processes).
    lock: Mutex<()>,
}

impl std::fmt::Debug for EvidenceChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceChain")
            .field("dir", &self.dir)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl EvidenceChain {
    /// Open `dir` (created if needed), generating the signing key on first use.
    ///
    /// Refuses a key file that group or others can read.
    pub fn open(dir: &Path) -> Result<EvidenceChain, ChainError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let key = load_or_create_key(&dir.join(KEY_FILE))?;
        let vk = key.verifying_key();
        write_public_key(&dir.join(PUB_FILE), &vk)?;
        Ok(EvidenceChain {
            dir: dir.to_path_buf(),
            key_id: key_id(&vk),
            key,
            lock: Mutex::new(()),
        })
    }

    /// The log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// The public key records are signed with.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Its key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Append a signed record of one validation; safe with other threads and processes
    /// appending to the same directory. The line is fsynced before this returns.
    pub fn append(
        &self,
        validation_id: &str,
        overall_status: Status,
        evidence: &Evidence,
    ) -> Result<ChainRecord, ChainError> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let path = self.log_path();
        let mut f = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o644)
            .open(&path)
            .map_err(io_err(&path))?;
        // Released when `f` is closed.
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io_err(&path)(e.into()))?;
        let (seq, prev_hash) = match last_line(&mut f).map_err(io_err(&path))? {
            Tail::Empty => (1, GENESIS_HASH.to_string()),
            Tail::Unfinished => {
                return Err(ChainError::Damaged {
                    path: path.display().to_string(),
                    reason: "the last line is unfinished".into(),
                });
            }
            Tail::Line(line) => {
                let last: ChainRecord =
                    serde_json::from_slice(&line).map_err(|e| ChainError::Damaged {
                        path: path.display().to_string(),
                        reason: format!("the last line is not a record: {e}"),
                    })?;
                (last.seq + 1, last.hash)
            }
        };
        let mut rec = ChainRecord {
            seq,
            validation_id: validation_id.to_string(),
            timestamp: chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            overall_status,
            report_sha256: evidence.report_sha256.clone(),
            evidence: RecordDigests {
                sha256: evidence.sha256.clone(),
                sha3_512: evidence.sha3_512.clone(),
            },
            prev_hash,
            key_id: self.key_id.clone(),
            hash: String::new(),
            signature: String::new(),
        };
        let body = rec.body();
        rec.hash = hex::encode(Sha256::digest(&body));
        rec.signature = B64.encode(self.key.sign(&pae(&body)).to_bytes());
        let mut line = serde_json::to_vec(&rec).unwrap_or_default();
        line.push(b'\n');
        f.write_all(&line).map_err(io_err(&path))?;
        f.sync_data().map_err(io_err(&path))?;
        if seq == 1 {
            sync_dir(&self.dir);
        }
        Ok(rec)
    }
}

/// What ends the log.
enum Tail {
    Empty,
    Unfinished,
    Line(Vec<u8>),
}

/// The last complete line of `f` (without its newline), read backwards from the end.
fn last_line(f: &mut File) -> io::Result<Tail> {
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(Tail::Empty);
    }
    let mut last = [0u8; 1];
    f.seek(SeekFrom::Start(len - 1))?;
    f.read_exact(&mut last)?;
    if last[0] != b'\n' {
        return Ok(Tail::Unfinished);
    }
    // Walk back in blocks until the newline before the last one (or the start).
    let end = len - 1;
    let mut start = end;
    let mut block = vec![0u8; 4096];
    'outer: while start > 0 {
        let from = start.saturating_sub(block.len() as u64);
        let n = (start - from) as usize;
        f.seek(SeekFrom::Start(from))?;
        f.read_exact(&mut block[..n])?;
        for i in (0..n).rev() {
            if block[i] == b'\n' {
                start = from + i as u64 + 1;
                break 'outer;
            }
        }
        start = from;
    }
    let mut line = vec![0u8; (end - start) as usize];
    f.seek(SeekFrom::Start(start))?;
    f.read_exact(&mut line)?;
    Ok(Tail::Line(line))
}

fn load_or_create_key(path: &Path) -> Result<SigningKey, ChainError> {
    match read_signing_key(path) {
        Err(ChainError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| ChainError::BadKey {
        path: path.display().to_string(),
        reason: format!("no randomness for a new key: {e}"),
    })?;
    // Written beside and linked into place: another process creating the key at the same
    // time either wins (we read its key) or loses (it reads ours); nobody sees half a key.
    let tmp = temp_beside(path);
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&seed)?;
        f.sync_all()
    };
    let linked = write().and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                sync_dir(dir);
            }
            tracing::info!(path = %path.display(), "created a new evidence signing key");
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(path)(e)),
    }
    read_signing_key(path)
}

fn read_signing_key(path: &Path) -> Result<SigningKey, ChainError> {
    let f = File::open(path).map_err(io_err(path))?;
    let mode = f.metadata().map_err(io_err(path))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(ChainError::KeyPermissions {
            path: path.display().to_string(),
            mode: mode & 0o777,
        });
    }
    let mut raw = Vec::with_capacity(33);
    f.take(33).read_to_end(&mut raw).map_err(io_err(path))?;
    let seed: [u8; 32] = raw.try_into().map_err(|_| ChainError::BadKey {
        path: path.display().to_string(),
        reason: "not a 32-byte Ed25519 seed".into(),
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Write `evidence.pub` when it is missing or names another key.
fn write_public_key(path: &Path, vk: &VerifyingKey) -> Result<(), ChainError> {
    if let Ok(existing) = read_public_key(path) {
        if existing == *vk {
            return Ok(());
        }
        tracing::warn!(path = %path.display(), "public key did not match the signing key; rewritten");
    }
    let tmp = temp_beside(path);
    let text = hex::encode(vk.as_bytes()) + "\n";
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_err(path)(e)
        })
}

fn temp_beside(path: &Path) -> PathBuf {
    let mut r = [0u8; 6];
    let _ = getrandom::fill(&mut r);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        hex::encode(r)
    ))
}

/// Make a new directory entry durable; best effort.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// What a valid chain holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifySummary {
    /// Records checked.
    pub records: u64,
    /// `seq` of the last record (0 when empty).
    pub last_seq: u64,
    /// `hash` of the last record ([`GENESIS_HASH`] when empty): anchor it elsewhere.
    pub last_hash: String,
    /// The key every record is signed with.
    pub key_id: String,
    /// `timestamp` of the last record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<String>,
}

/// Whether the log could not be read or was read and found altered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyErrorKind {
    /// The log could not be read at all.
    Unreadable,
    /// A record was edited, deleted, moved, re-signed or cut short.
    Tampered,
}

/// Where and why verification failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}line {line}: {reason}", if self.kind == VerifyErrorKind::Unreadable { "unreadable: " } else { "" })]
pub struct VerifyError {
    /// 1-based line of the log (0: the file as a whole).
    pub line: usize,
    /// Unreadable or tampered.
    pub kind: VerifyErrorKind,
    /// What is wrong.
    pub reason: String,
}

/// Check every record of the log at `path` against `key`: hashes, signatures, `seq` and
/// `prev_hash` links, and a complete last line.
pub fn verify(path: &Path, key: &VerifyingKey) -> Result<VerifySummary, VerifyError> {
    let file = File::open(path).map_err(|e| VerifyError {
        line: 0,
        kind: VerifyErrorKind::Unreadable,
        reason: format!("{}: {e}", path.display()),
    })?;
    let want_key = key_id(key);
    let mut reader = BufReader::new(file);
    let mut sum = VerifySummary {
        records: 0,
        last_seq: 0,
        last_hash: GENESIS_HASH.to_string(),
        key_id: want_key.clone(),
        last_timestamp: None,
    };
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
            return Ok(sum);
        }
        lineno += 1;
        let tampered = |reason: String| VerifyError {
            line: lineno,
            kind: VerifyErrorKind::Tampered,
            reason,
        };
        if buf.last() != Some(&b'\n') {
            return Err(tampered("the last line is cut short (no newline)".into()));
        }
        let rec: ChainRecord = serde_json::from_slice(&buf[..buf.len() - 1])
            .map_err(|e| tampered(format!("not a record: {e}")))?;
        check_record(&rec, key, &want_key, &sum).map_err(tampered)?;
        sum.records += 1;
        sum.last_seq = rec.seq;
        sum.last_hash = rec.hash;
        sum.last_timestamp = Some(rec.timestamp);
    }
}

/// One record against its own hash, the key, and the record before it.
fn check_record(
    rec: &ChainRecord,
    key: &VerifyingKey,
    want_key: &str,
    before: &VerifySummary,
) -> Result<(), String> {
    let body = rec.body();
    if hex::encode(Sha256::digest(&body)) != rec.hash {
        return Err(format!(
            "record seq {} was edited: its hash does not match its contents",
            rec.seq
        ));
    }
    if rec.key_id != want_key {
        return Err(format!(
            "signed by key {} where {want_key} was expected",
            rec.key_id
        ));
    }
    let sig = B64
        .decode(&rec.signature)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or("the signature is not a base64 Ed25519 signature")?;
    key.verify_strict(&pae(&body), &sig)
        .map_err(|_| format!("record seq {}: bad signature", rec.seq))?;
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

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
