//! The signed, hash-chained evidence log: `evidence.jsonl` in a directory that also holds the
//! signing key (`evidence.key`, a 32-byte Ed25519 seed, mode 0600) and its public key
//! (`evidence.pub`, hex; a convenience for publishing it, never trusted by the verifier).
//!
//! Each line (version 2) is a DSSE envelope `{payload, payloadType, signatures:[{keyid,
//! sig}]}` with `payloadType` `application/vnd.in-toto+json` and an in-toto Statement v1 as
//! payload ([`super::statement`]). The Statement carries `predicate.mno.chain.{seq,
//! prev_hash}`; a record's hash is SHA-256 of its payload bytes, and `prev_hash` is the
//! previous record's hash (64 zeros for the first). The signature is Ed25519 over
//! `PAE(payloadType, payload)`.
//!
//! Version-1 lines (flat records signed over `PAE(LEGACY_PAYLOAD_TYPE, body)`, see
//! [`ChainRecord`]) are still verified, so a log begun before version 2 continues.
//!
//! Editing a record breaks its signature; deleting or moving one breaks `seq` and
//! `prev_hash` of the next. Removing records from the *end* leaves a valid shorter chain:
//! the head ([`ChainHead`]) is published in every report, `/metrics` and the state store,
//! and [`verify_with`](super::verify_with) given it detects the loss.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Evidence;
use super::statement::{RunFacts, parse_statement, rotation_statement};
use crate::finding::Status;

/// The log's file name inside the evidence directory.
pub const LOG_FILE: &str = "evidence.jsonl";
/// The signing key's file name (32 raw bytes, mode 0600).
pub const KEY_FILE: &str = "evidence.key";
/// The public key's file name (64 hex digits and a newline).
pub const PUB_FILE: &str = "evidence.pub";
/// DSSE payload type of a record: an in-toto Statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// DSSE payload type of a version-1 record body.
pub const LEGACY_PAYLOAD_TYPE: &str = "application/vnd.mno.evidence+json";
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

/// The two digests of an [`Evidence`] that a version-1 record keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordDigests {
    /// SHA-256, hex.
    pub sha256: String,
    /// SHA3-512, hex.
    pub sha3_512: String,
}

/// A version-1 line of `evidence.jsonl` (written before the in-toto Statement records;
/// still verified so old logs stay readable).
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
    /// Ed25519 over `PAE(LEGACY_PAYLOAD_TYPE, body)`, base64.
    pub signature: String,
}

/// The signed part of a version-1 record: fields in sorted order, so serde writes sorted keys.
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
            "payloadType": LEGACY_PAYLOAD_TYPE,
            "signatures": [{"keyid": self.key_id, "sig": self.signature}],
        })
    }
}

/// One DSSE signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsseSignature {
    /// The key id ([`key_id`]).
    pub keyid: String,
    /// Ed25519 over `PAE(payloadType, payload)`, base64.
    pub sig: String,
}

/// A version-2 line of `evidence.jsonl`: a DSSE envelope whose payload is an in-toto
/// Statement v1 (see [`super::statement`]). The line is the envelope, byte for byte what
/// `securesystemslib.dsse.Envelope.from_dict` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsseEnvelope {
    /// The Statement, base64 (standard alphabet, padded).
    pub payload: String,
    /// [`PAYLOAD_TYPE`].
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Exactly one signature.
    pub signatures: Vec<DsseSignature>,
}

/// A record just appended: where it sits in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Position in the chain, from 1 (also the count of records, the chain head's count).
    pub seq: u64,
    /// SHA-256 of the payload (the Statement bytes), hex: the new chain head.
    pub hash: String,
    /// The previous head.
    pub prev_hash: String,
    /// The signing key's id.
    pub key_id: String,
    /// The signature, base64.
    pub signature: String,
    /// The Statement as signed.
    pub statement: serde_json::Value,
}

/// The head of a chain: how many records and the last one's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChainHead {
    /// Records in the chain (the last one's `seq`).
    pub records: u64,
    /// The last record's hash ([`GENESIS_HASH`] when empty).
    pub hash: String,
}

impl std::fmt::Display for ChainHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.hash, self.records)
    }
}

/// DSSE v1 pre-authentication encoding of `body` under `payload_type`.
pub(crate) fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
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

/// Parse a public key written as 64 hex digits (optionally `ed25519:`-prefixed).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let t = text.trim();
    let t = t.strip_prefix("ed25519:").unwrap_or(t);
    let v = hex::decode(t).map_err(|_| "not 64 hex digits".to_string())?;
    let b: [u8; 32] = v.try_into().map_err(|_| "not a 32-byte key".to_string())?;
    VerifyingKey::from_bytes(&b).map_err(|_| "not an Ed25519 public key".to_string())
}

/// Read a public key file: 64 hex digits (what [`EvidenceChain`] writes) or 32 raw bytes.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, ChainError> {
    let raw = std::fs::read(path).map_err(io_err(path))?;
    let bad = |reason: String| ChainError::BadKey {
        path: path.display().to_string(),
        reason,
    };
    match raw.len() {
        32 => {
            let bytes: [u8; 32] = raw.try_into().map_err(|_| bad("not 32 bytes".into()))?;
            VerifyingKey::from_bytes(&bytes).map_err(|_| bad("not an Ed25519 public key".into()))
        }
        _ => parse_public_key(&String::from_utf8_lossy(&raw)).map_err(bad),
    }
}

/// An evidence directory opened for appending.
pub struct EvidenceChain {
    dir: PathBuf,
    /// The signing key, re-read from `evidence.key` at each append (a rotation by another
    /// process takes effect at once). Appends from threads of this process go one at a
    /// time through this lock (flock covers other processes).
    key: Mutex<SigningKey>,
    /// The key was given (from the environment), not read from `evidence.key`.
    fixed: bool,
}

impl std::fmt::Debug for EvidenceChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceChain")
            .field("dir", &self.dir)
            .field("key_id", &self.key_id())
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
        write_public_key(&dir.join(PUB_FILE), &key.verifying_key())?;
        Ok(EvidenceChain {
            dir: dir.to_path_buf(),
            key: Mutex::new(key),
            fixed: false,
        })
    }

    /// Open `dir` signing with the key whose 32-byte seed is `seed_hex` (64 hex digits, e.g.
    /// from `MNO_EVIDENCE_KEY`) instead of `evidence.key`; `evidence.pub` is written for it.
    pub fn open_with_key(dir: &Path, seed_hex: &str) -> Result<EvidenceChain, ChainError> {
        let bad = |reason: &str| ChainError::BadKey {
            path: "MNO_EVIDENCE_KEY".into(),
            reason: reason.into(),
        };
        let raw = hex::decode(seed_hex.trim()).map_err(|_| bad("not hex"))?;
        let seed: [u8; 32] = raw
            .try_into()
            .map_err(|_| bad("must be 64 hex digits (a 32-byte Ed25519 seed)"))?;
        let key = SigningKey::from_bytes(&seed);
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        write_public_key(&dir.join(PUB_FILE), &key.verifying_key())?;
        Ok(EvidenceChain {
            dir: dir.to_path_buf(),
            key: Mutex::new(key),
            fixed: true,
        })
    }

    /// The log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// The public key records are signed with (as of the last append or open).
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .verifying_key()
    }

    /// Its key id.
    pub fn key_id(&self) -> String {
        key_id(&self.verifying_key())
    }

    /// The current head, read from the end of the log (`records` 0 and [`GENESIS_HASH`]
    /// when there is no log yet).
    pub fn head(&self) -> Result<ChainHead, ChainError> {
        read_head(&self.log_path())
    }

    /// Append a minimal record of one validation (no repository, commit or report files).
    pub fn append(
        &self,
        validation_id: &str,
        overall_status: Status,
        evidence: &Evidence,
    ) -> Result<Appended, ChainError> {
        self.attest(&RunFacts::minimal(validation_id, overall_status, evidence))
    }

    /// Append a signed Statement of one gate run; safe with other threads and processes
    /// appending to the same directory. The line is fsynced before this returns.
    pub fn attest(&self, facts: &RunFacts) -> Result<Appended, ChainError> {
        self.append_with(|seq, prev, time, _| facts.statement(seq, prev, time))
            .map(|(a, _)| a)
    }

    /// Replace the signing key: append a record signed by the current key that announces a
    /// new one, then make the new key current. Returns the record and the new public key.
    pub fn rotate(&self) -> Result<(Appended, VerifyingKey), ChainError> {
        let key_path = self.dir.join(KEY_FILE);
        if self.fixed {
            return Err(ChainError::BadKey {
                path: "MNO_EVIDENCE_KEY".into(),
                reason: "the signing key comes from the environment: replace it there".into(),
            });
        }
        let new = new_signing_key(&key_path)?;
        let new_vk = new.verifying_key();
        let (rec, guard) = self.append_with(|seq, prev, time, _| {
            rotation_statement(
                seq,
                prev,
                time,
                &key_id(&new_vk),
                &hex::encode(new_vk.as_bytes()),
            )
        })?;
        // Still under the flock: nobody appends with the old key after the announcement.
        write_key_file(&key_path, &new.to_bytes(), true)?;
        write_public_key(&self.dir.join(PUB_FILE), &new_vk)?;
        *self.key.lock().unwrap_or_else(PoisonError::into_inner) = new;
        drop(guard);
        Ok((rec, new_vk))
    }

    /// Lock, read the tail and the current key, build the Statement with `make`, sign and
    /// append it. The returned file keeps the flock until dropped.
    fn append_with(
        &self,
        make: impl FnOnce(u64, &str, &str, &VerifyingKey) -> serde_json::Value,
    ) -> Result<(Appended, File), ChainError> {
        let mut key = self.key.lock().unwrap_or_else(PoisonError::into_inner);
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
        if !self.fixed {
            *key = read_signing_key(&self.dir.join(KEY_FILE))?;
        }
        let (last_seq, prev_hash) = tail_position(&mut f, &path)?;
        let seq = last_seq + 1;
        let time = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let vk = key.verifying_key();
        let statement = make(seq, &prev_hash, &time, &vk);
        // A `Value` of strings and numbers: serializing cannot fail; keys come out sorted.
        let payload = serde_json::to_vec(&statement).unwrap_or_default();
        let kid = key_id(&vk);
        let signature = B64.encode(key.sign(&pae(PAYLOAD_TYPE, &payload)).to_bytes());
        let env = DsseEnvelope {
            payload: B64.encode(&payload),
            payload_type: PAYLOAD_TYPE.into(),
            signatures: vec![DsseSignature {
                keyid: kid.clone(),
                sig: signature.clone(),
            }],
        };
        let mut line = serde_json::to_vec(&env).unwrap_or_default();
        line.push(b'\n');
        f.write_all(&line).map_err(io_err(&path))?;
        f.sync_data().map_err(io_err(&path))?;
        if seq == 1 {
            sync_dir(&self.dir);
        }
        let rec = Appended {
            seq,
            hash: hex::encode(Sha256::digest(&payload)),
            prev_hash,
            key_id: kid,
            signature,
            statement,
        };
        Ok((rec, f))
    }
}

/// The head of the log at `path`, read from its end without verifying anything
/// (`records` 0 and [`GENESIS_HASH`] when there is no log).
pub fn read_head(path: &Path) -> Result<ChainHead, ChainError> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(ChainHead {
                records: 0,
                hash: GENESIS_HASH.into(),
            });
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    let (records, hash) = tail_position(&mut f, path)?;
    Ok(ChainHead { records, hash })
}

/// `seq` and hash of the log's last record (0 and [`GENESIS_HASH`] when empty).
fn tail_position(f: &mut File, path: &Path) -> Result<(u64, String), ChainError> {
    let damaged = |reason: String| ChainError::Damaged {
        path: path.display().to_string(),
        reason,
    };
    match last_line(f).map_err(io_err(path))? {
        Tail::Empty => Ok((0, GENESIS_HASH.to_string())),
        Tail::Unfinished => Err(damaged("the last line is unfinished".into())),
        Tail::Line(line) => match parse_line(&line) {
            Ok(Line::Legacy(r)) => Ok((r.seq, r.hash)),
            Ok(Line::Dsse { payload, .. }) => {
                let st = parse_statement(&payload)
                    .map_err(|e| damaged(format!("the last record: {e}")))?;
                Ok((st.seq, hex::encode(Sha256::digest(&payload))))
            }
            Err(e) => Err(damaged(format!("the last line is not a record: {e}"))),
        },
    }
}

/// A line of the log, either version.
pub(crate) enum Line {
    /// Version 1.
    Legacy(ChainRecord),
    /// Version 2: the decoded payload and the envelope.
    Dsse {
        /// The Statement bytes.
        payload: Vec<u8>,
        /// The envelope as read.
        envelope: DsseEnvelope,
    },
}

/// Parse one line (without its newline).
pub(crate) fn parse_line(line: &[u8]) -> Result<Line, String> {
    let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    if v.get("payloadType").is_some() {
        let envelope: DsseEnvelope = serde_json::from_value(v).map_err(|e| e.to_string())?;
        let payload = B64
            .decode(&envelope.payload)
            .map_err(|e| format!("payload is not base64: {e}"))?;
        Ok(Line::Dsse { payload, envelope })
    } else {
        serde_json::from_value(v)
            .map(Line::Legacy)
            .map_err(|e| e.to_string())
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

/// Create a new signing key in `dir` (`evidence.key`, mode 0600, and `evidence.pub`) before
/// first use; refuses to replace an existing key (use [`EvidenceChain::rotate`]).
pub fn keygen(dir: &Path) -> Result<VerifyingKey, ChainError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join(KEY_FILE);
    let key = new_signing_key(&path)?;
    write_key_file(&path, &key.to_bytes(), false)?;
    let vk = key.verifying_key();
    write_public_key(&dir.join(PUB_FILE), &vk)?;
    Ok(vk)
}

fn load_or_create_key(path: &Path) -> Result<SigningKey, ChainError> {
    match read_signing_key(path) {
        Err(ChainError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    let key = new_signing_key(path)?;
    // Linked into place: another process creating the key at the same time either wins
    // (we read its key) or loses (it reads ours); nobody sees half a key.
    match write_key_file(path, &key.to_bytes(), false) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a new evidence signing key")
        }
        Err(ChainError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    read_signing_key(path)
}

/// A fresh random signing key (`path` only names it in errors).
fn new_signing_key(path: &Path) -> Result<SigningKey, ChainError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| ChainError::BadKey {
        path: path.display().to_string(),
        reason: format!("no randomness for a new key: {e}"),
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Write a key file (mode 0600) beside and move it into place: linked (fails when one
/// exists) or, with `replace`, renamed over the old one. Durable when this returns.
fn write_key_file(path: &Path, seed: &[u8; 32], replace: bool) -> Result<(), ChainError> {
    let tmp = temp_beside(path);
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(seed)?;
        f.sync_all()
    };
    let placed = write().and_then(|()| {
        if replace {
            std::fs::rename(&tmp, path)
        } else {
            std::fs::hard_link(&tmp, path)
        }
    });
    let _ = std::fs::remove_file(&tmp);
    placed.map_err(io_err(path))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
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

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
