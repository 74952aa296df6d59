//! Evidence of a gate run: digests over what the checks read and the report, and a signed,
//! hash-chained log of those digests.
//!
//! **Digest** ([`digest`], `mno-evidence-v2`): SHA-256 and SHA3-512 over one byte stream
//! that a third party can rebuild from the repository and `report.json` with `sha256sum`
//! and a few lines of script (docs/gates.md, "Evidence"):
//!
//! ```text
//! for each path in sorted(set(files_read of every check)):     (byte order of the UTF-8 path)
//!     path || 0x00 || u64be(len) || sha256(contents)            (32 raw bytes; exactly len bytes hashed)
//!     path || 0x00 || u64be(2^64 - 1)                           (file gone or not a regular file)
//! 0x00 || u64be(len(R)) || R                                    R = the report as compact JSON
//! ```
//!
//! Files are hashed one by one on every CPU, then the short stream of per-file sums is
//! hashed: v1 streamed every file's bytes through both hashes on one core and took longer
//! than the secret scan itself. The content binding rests on SHA-256 (per file); SHA3-512
//! covers the stream of names, lengths and sums. `len` is the size when the file is
//! opened; a file that grows while it is read is hashed up to that size, one that shrinks
//! is padded with zero bytes. The report comes last as an entry with an empty name, which no file has. `R` is
//! `serde_json::to_vec(report)`: `report.json` without whitespace, same key order.
//!
//! **Chain** ([`EvidenceChain`]): `evidence.jsonl`, one DSSE-signed in-toto Statement per
//! gate run ([`statement`]: repository, commit, tree digest, report files, policy), each
//! holding the hash of the previous record; [`verify_with`] walks it against keys the caller
//! trusts and an expected head.
//! The server and `super-agent gate run --evidence-log DIR` both call:
//!
//! ```no_run
//! # fn f(root: &std::path::Path, report: &mno_gates::GateReport) -> Result<(), Box<dyn std::error::Error>> {
//! use mno_gates::evidence::{self, EvidenceChain};
//! let ev = evidence::digest(root, report)?;
//! let chain = EvidenceChain::open("evidence".as_ref())?; // creates evidence.key on first use
//! let record = chain.append("validation-42", report.overall_status, &ev)?;
//! let summary = evidence::verify(&chain.log_path(), &[chain.verifying_key()])?;
//! # Ok(()) }
//! ```

mod chain;
pub mod statement;
mod verify;

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sha3::Sha3_512;

use crate::finding::GateReport;

pub use chain::{
    Appended, ChainError, ChainHead, ChainRecord, DsseEnvelope, DsseSignature, EvidenceChain,
    GENESIS_HASH, KEY_FILE, LEGACY_PAYLOAD_TYPE, LOG_FILE, PAYLOAD_TYPE, PUB_FILE, RecordDigests,
    key_id, keygen, parse_public_key, read_head, read_public_key,
};
pub use ed25519_dalek::VerifyingKey;
pub use statement::{CommitBinding, CommitStatus, RunFacts};
pub use verify::{ExpectedHead, VerifyError, VerifyErrorKind, VerifySummary, verify, verify_with};

/// The name of the digest construction, carried in every [`Evidence`].
pub const ALGORITHM: &str = "mno-evidence-v2";

/// The length written for a file that could not be read when the digest was taken.
pub const MISSING_LEN: u64 = u64::MAX;

/// One-sentence construction, carried in every [`Evidence`] so a reader needs no other document.
const CONSTRUCTION: &str = "sha256 and sha3-512 over: for each file read, sorted and \
    deduplicated, path || 0x00 || u64be(len) || sha256(contents) (u64be(2^64-1) and no sum if \
    unreadable); then 0x00 || u64be(len(R)) || R where R is the report as compact JSON \
    (docs/gates.md#evidence)";

/// Digests over the files a gate run read and its report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Evidence {
    /// The construction's name ([`ALGORITHM`]).
    pub algorithm: String,
    /// The construction in one sentence.
    pub construction: String,
    /// SHA-256 of the stream, lowercase hex.
    pub sha256: String,
    /// SHA3-512 of the stream, lowercase hex.
    pub sha3_512: String,
    /// SHA-256 of the report alone (compact JSON), lowercase hex.
    pub report_sha256: String,
    /// Distinct files covered.
    pub files: usize,
    /// Of those, files that were gone or unreadable (hashed as a marker).
    pub missing: usize,
    /// File bytes hashed (the report not included).
    pub bytes: u64,
}

/// Both hashes fed with the same bytes.
#[derive(Default)]
struct Hashers(Sha256, Sha3_512);

impl Hashers {
    fn feed(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
        self.1.update(bytes);
    }
}

/// The files the report's checks read: sorted by their bytes, without duplicates.
pub fn inputs(report: &GateReport) -> Vec<String> {
    let mut out: Vec<String> = report
        .validation_results
        .values()
        .flat_map(|r| r.files_read.iter().cloned())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Take the evidence digest of `report` and the files its checks read under `root`.
///
/// A file that is gone or is not a regular file is hashed as a marker and counted in
/// `missing`; only a read that fails half-way through is an error.
pub fn digest(root: &Path, report: &GateReport) -> io::Result<Evidence> {
    let report_json = serde_json::to_vec(report).map_err(io::Error::other)?;
    let names = inputs(report);
    let files = hash_files(root, &names)?;
    let mut h = Hashers::default();
    let (mut bytes, mut missing) = (0u64, 0usize);
    for (name, file) in names.iter().zip(&files) {
        h.feed(name.as_bytes());
        h.feed(&[0]);
        match file {
            Some((len, sum)) => {
                h.feed(&len.to_be_bytes());
                h.feed(sum);
                bytes += len;
            }
            None => {
                h.feed(&MISSING_LEN.to_be_bytes());
                missing += 1;
            }
        }
    }
    h.feed(&[0]);
    h.feed(&(report_json.len() as u64).to_be_bytes());
    h.feed(&report_json);
    Ok(Evidence {
        algorithm: ALGORITHM.to_string(),
        construction: CONSTRUCTION.to_string(),
        sha256: hex::encode(h.0.finalize()),
        sha3_512: hex::encode(h.1.finalize()),
        report_sha256: hex::encode(Sha256::digest(&report_json)),
        files: names.len(),
        missing,
        bytes,
    })
}

/// A file's length and SHA-256; `None` when it is gone or not a regular file.
pub(crate) type FileSum = Option<(u64, [u8; 32])>;

/// Each file's [`FileSum`], hashed on every CPU.
///
/// Hashing per file is what lets the digest use more than one core: a single stream over
/// every file's bytes (the v1 construction) ran on one, and took longer than the scan.
pub(crate) fn hash_files(root: &Path, names: &[String]) -> io::Result<Vec<FileSum>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(names.len().max(1));
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<FileSum>> = names.iter().map(|_| Mutex::new(None)).collect();
    let failed: Mutex<Option<io::Error>> = Mutex::new(None);
    let work = || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(name) = names.get(i) else { return };
            let Some((file, len)) = open_regular(&root.join(name)) else {
                continue;
            };
            match stream(file, len, &mut buf) {
                Ok(sum) => {
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some((len, sum));
                    }
                }
                Err(e) => {
                    if let Ok(mut f) = failed.lock() {
                        f.get_or_insert(io::Error::new(e.kind(), format!("{name}: {e}")));
                    }
                    return;
                }
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(slots
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect())
}

/// `evidence.json` for `--out`: the evidence plus the list of files it covers (`inputs`), so
/// that a third party can recompute the digest.
pub fn manifest_json(evidence: &Evidence, report: &GateReport) -> String {
    let mut v = serde_json::to_value(evidence).unwrap_or_default();
    v["inputs"] = inputs(report).into();
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

/// The file and its size, when it is a regular file that opens.
fn open_regular(path: &Path) -> Option<(File, u64)> {
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file().then_some((file, meta.len()))
}

/// SHA-256 of exactly `len` bytes of `file`: what is beyond is ignored, what is short is zeros.
fn stream(file: File, len: u64, buf: &mut [u8]) -> io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    let mut left = len;
    let mut r = file.take(len);
    loop {
        let n = match r.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        left -= n as u64;
    }
    buf.fill(0);
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{CheckResult, Status};

    fn report(files: &[&str]) -> GateReport {
        let mut r = CheckResult::with_status("module_registry", Status::Passed, "ok");
        r.files_read = files.iter().map(|s| s.to_string()).collect();
        let mut rep = GateReport::new("/repo", vec![r], Vec::new());
        rep.timestamp = "2026-01-01T00:00:00Z".into();
        rep
    }

    /// The construction written out by hand, for a report over `files` (name, contents).
    fn by_hand(files: &[(&str, Option<&[u8]>)], report: &GateReport) -> String {
        let mut s = Vec::new();
        for (name, body) in files {
            s.extend_from_slice(name.as_bytes());
            s.push(0);
            match body {
                Some(b) => {
                    s.extend_from_slice(&(b.len() as u64).to_be_bytes());
                    s.extend_from_slice(&Sha256::digest(b));
                }
                None => s.extend_from_slice(&u64::MAX.to_be_bytes()),
            }
        }
        let r = serde_json::to_vec(report).unwrap();
        s.push(0);
        s.extend_from_slice(&(r.len() as u64).to_be_bytes());
        s.extend_from_slice(&r);
        hex::encode(Sha256::digest(&s))
    }

    #[test]
    fn digest_follows_the_documented_construction() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("b.yaml"), "b: 1\n").unwrap();
        std::fs::write(dir.path().join("src/a.rs"), "fn a() {}\n").unwrap();
        // Unsorted, duplicated, one gone and one a directory.
        let rep = report(&["src/a.rs", "b.yaml", "gone.txt", "src/a.rs", "src"]);
        let ev = digest(dir.path(), &rep).unwrap();
        let want = by_hand(
            &[
                ("b.yaml", Some(b"b: 1\n")),
                ("gone.txt", None),
                ("src", None),
                ("src/a.rs", Some(b"fn a() {}\n")),
            ],
            &rep,
        );
        assert_eq!(ev.sha256, want);
        assert_eq!((ev.files, ev.missing, ev.bytes), (4, 2, 15));
        assert_eq!(ev.sha3_512.len(), 128);
        assert_eq!(ev.algorithm, ALGORITHM);
        let r = serde_json::to_vec(&rep).unwrap();
        assert_eq!(ev.report_sha256, hex::encode(Sha256::digest(&r)));
    }

    #[test]
    fn digest_is_stable_and_changes_with_any_input() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "one").unwrap();
        let rep = report(&["a"]);
        let first = digest(dir.path(), &rep).unwrap();
        assert_eq!(first, digest(dir.path(), &rep).unwrap());

        std::fs::write(dir.path().join("a"), "two").unwrap();
        let edited = digest(dir.path(), &rep).unwrap();
        assert_ne!(edited.sha256, first.sha256);
        assert_ne!(edited.sha3_512, first.sha3_512);
        assert_eq!(edited.report_sha256, first.report_sha256);

        let mut rep2 = rep.clone();
        rep2.timestamp = "2026-01-01T00:00:01Z".into();
        assert_ne!(digest(dir.path(), &rep2).unwrap().sha256, edited.sha256);

        std::fs::remove_file(dir.path().join("a")).unwrap();
        let gone = digest(dir.path(), &rep).unwrap();
        assert_eq!(gone.missing, 1);
        assert_ne!(gone.sha256, edited.sha256);
        // An empty file is not a missing one.
        std::fs::write(dir.path().join("a"), "").unwrap();
        assert_ne!(digest(dir.path(), &rep).unwrap().sha256, gone.sha256);
    }

    #[test]
    fn large_files_are_streamed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("big.bin"), &body).unwrap();
        let rep = report(&["big.bin"]);
        let ev = digest(dir.path(), &rep).unwrap();
        assert_eq!(ev.sha256, by_hand(&[("big.bin", Some(&body))], &rep));
        assert_eq!(ev.bytes, 300_000);
    }

    /// Regression: with many files the per-file sums land in their own slots, in name order,
    /// whichever thread hashed them.
    #[test]
    fn many_files_hashed_in_parallel_keep_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..200).map(|i| format!("f{i:03}")).collect();
        for (i, n) in names.iter().enumerate() {
            std::fs::write(dir.path().join(n), format!("body {i}")).unwrap();
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let rep = report(&refs);
        let bodies: Vec<String> = (0..200).map(|i| format!("body {i}")).collect();
        let want: Vec<(&str, Option<&[u8]>)> = names
            .iter()
            .zip(&bodies)
            .map(|(n, b)| (n.as_str(), Some(b.as_bytes())))
            .collect();
        assert_eq!(
            digest(dir.path(), &rep).unwrap().sha256,
            by_hand(&want, &rep)
        );
    }

    #[test]
    fn manifest_lists_the_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let rep = report(&["z", "a", "z"]);
        let ev = digest(dir.path(), &rep).unwrap();
        let v: serde_json::Value = serde_json::from_str(&manifest_json(&ev, &rep)).unwrap();
        assert_eq!(v["inputs"], serde_json::json!(["a", "z"]));
        assert_eq!(v["sha256"], ev.sha256.as_str());
    }
}
