//! The baseline: accepted secrets keyed by rule id and a keyed hash of the secret, never by line.
//!
//! Line-keyed baselines conflict on every merge and would hide a new secret
//! that lands on an old line; a hash of the secret itself follows it when
//! code moves and lets nothing else through.
//!
//! The hash is HMAC-SHA256 keyed with a random per-repository salt kept in the baseline
//! (format version 2). An unsalted hash of a short secret (a 6-digit PIN, an 8-character
//! password) is reversed by trying every candidate; with a 256-bit salt, nothing computed
//! ahead of time or in another repository helps, and a report without its baseline tells
//! nothing. Without a baseline, each run draws a fresh salt: report fingerprints then
//! differ from run to run (there is nothing to match them against anyway).
//!
//! Version 1 baselines (unsalted `sha256(rule:secret)`) are still honoured so that an
//! upgrade does not fail every gate, but the scan reports a warning asking to rewrite the
//! file with `super-agent gate baseline`, which then writes version 2.

use std::collections::BTreeSet;
use std::path::Path;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The format written today: HMAC fingerprints with a salt.
pub const VERSION: u32 = 2;
/// Bytes of salt drawn for a new baseline.
const SALT_BYTES: usize = 32;

/// The baseline file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// Format version: 2 (salted HMAC), or 1 (legacy unsalted SHA-256, read only).
    pub version: u32,
    /// Hex key of the HMAC fingerprints (version 2); empty in version 1.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub salt: String,
    /// Accepted secrets.
    pub entries: Vec<BaselineEntry>,
}

/// One accepted secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BaselineEntry {
    /// The rule that matched it.
    pub rule_id: String,
    /// [`fingerprint`] of the rule and secret.
    pub fingerprint: String,
    /// Where it was first seen; informational only, never used to match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Why a baseline could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct BaselineError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// The key of a run's fingerprints and what the baseline accepts.
#[derive(Debug, Clone)]
pub struct Keys {
    salt: Vec<u8>,
    accepted: BTreeSet<(String, String)>,
    /// Entries of a version 1 baseline, matched by the old unsalted hash.
    legacy: BTreeSet<(String, String)>,
}

impl Keys {
    /// Keys with a fresh random salt that accept nothing (no baseline, or rebuilding one).
    pub fn fresh() -> Result<Keys, BaselineError> {
        Ok(Keys::with_salt(new_salt()?))
    }

    /// Keys with a given salt that accept nothing.
    pub fn with_salt(salt: Vec<u8>) -> Keys {
        Keys {
            salt,
            accepted: BTreeSet::new(),
            legacy: BTreeSet::new(),
        }
    }

    /// The salt fingerprints are keyed with.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// This run's fingerprint of a secret.
    pub fn fingerprint(&self, rule_id: &str, secret: &str) -> String {
        fingerprint(&self.salt, rule_id, secret)
    }

    /// Whether the baseline accepts `secret` found by `rule_id` (`fp` is its fingerprint).
    pub fn accepts(&self, rule_id: &str, secret: &str, fp: &str) -> bool {
        let key = |f: String| (rule_id.to_string(), f);
        self.accepted.contains(&key(fp.to_string()))
            || (!self.legacy.is_empty()
                && self
                    .legacy
                    .contains(&key(legacy_fingerprint(rule_id, secret))))
    }
}

impl Baseline {
    /// Read a baseline; a missing file is an empty baseline (version 0).
    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        let err = |message: String| BaselineError {
            path: path.display().to_string(),
            message,
        };
        let b: Baseline = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Baseline::default()),
            Err(e) => return Err(err(e.to_string())),
        };
        match b.version {
            1 => Ok(b),
            VERSION => {
                b.salt_bytes().map_err(err)?;
                Ok(b)
            }
            v => Err(err(format!(
                "baseline format version {v} is not one this super-agent reads (1 or {VERSION})"
            ))),
        }
    }

    /// The salt of a version 2 baseline, decoded.
    fn salt_bytes(&self) -> Result<Vec<u8>, String> {
        match hex::decode(&self.salt) {
            Ok(s) if s.len() >= 16 => Ok(s),
            _ => Err(format!(
                "version {VERSION} baseline needs a `salt` of at least 32 hex digits; \
                 rewrite it with `super-agent gate baseline`"
            )),
        }
    }

    /// Whether this is a version 1 baseline (unsalted fingerprints), still honoured.
    pub fn is_legacy(&self) -> bool {
        self.version == 1
    }

    /// The keys for a scan against this baseline: its salt, or a fresh one when it has none.
    pub fn keys(&self) -> Result<Keys, BaselineError> {
        let pairs = || {
            self.entries
                .iter()
                .map(|e| (e.rule_id.clone(), e.fingerprint.clone()))
                .collect()
        };
        match self.version {
            VERSION => {
                let salt = self.salt_bytes().map_err(|message| BaselineError {
                    path: "baseline".into(),
                    message,
                })?;
                Ok(Keys {
                    accepted: pairs(),
                    ..Keys::with_salt(salt)
                })
            }
            1 => Ok(Keys {
                legacy: pairs(),
                ..Keys::fresh()?
            }),
            _ => Keys::fresh(),
        }
    }

    /// The salt a rewritten baseline keeps: this one's (so unchanged entries stay byte for
    /// byte the same), or a new one for a version 1, missing or empty baseline.
    pub fn salt_for_rewrite(&self) -> Result<Vec<u8>, BaselineError> {
        match self.salt_bytes() {
            Ok(s) if self.version == VERSION => Ok(s),
            _ => new_salt(),
        }
    }

    /// A version 2 baseline accepting every fingerprinted finding given, which must have
    /// been fingerprinted with `salt`.
    pub fn from_findings<'a>(
        findings: impl IntoIterator<Item = &'a crate::Finding>,
        salt: &[u8],
    ) -> Baseline {
        let mut entries: Vec<BaselineEntry> = findings
            .into_iter()
            .filter_map(|f| {
                Some(BaselineEntry {
                    rule_id: f.rule_id.clone(),
                    fingerprint: f.fingerprint.clone()?,
                    file: Some(f.file.clone()),
                })
            })
            .collect();
        entries.sort();
        entries.dedup_by(|a, b| a.rule_id == b.rule_id && a.fingerprint == b.fingerprint);
        Baseline {
            version: VERSION,
            salt: hex::encode(salt),
            entries,
        }
    }
}

/// A new random salt.
fn new_salt() -> Result<Vec<u8>, BaselineError> {
    let mut salt = vec![0u8; SALT_BYTES];
    getrandom::fill(&mut salt).map_err(|e| BaselineError {
        path: "baseline".into(),
        message: format!("cannot draw a random salt: {e}"),
    })?;
    Ok(salt)
}

/// Hex HMAC-SHA256 of `rule_id:secret` keyed with `salt`: stable across moves, and without
/// the salt useless for guessing the secret back.
pub fn fingerprint(salt: &[u8], rule_id: &str, secret: &str) -> String {
    // HMAC takes a key of any length, so `new_from_slice` cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(salt) else {
        unreachable!("HMAC accepts keys of every length")
    };
    mac.update(rule_id.as_bytes());
    mac.update(b":");
    mac.update(secret.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The version 1 fingerprint, `sha256(rule_id:secret)`: only to match old baselines, never
/// written to a report.
fn legacy_fingerprint(rule_id: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(rule_id.as_bytes());
    h.update(b":");
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

/// A secret shown safely: at most a quarter of it and never more than 4 characters, and
/// nothing about its length.
pub fn redact(secret: &str) -> String {
    let n = secret.chars().count();
    let prefix: String = secret.chars().take((n / 4).min(4)).collect();
    format!("{prefix}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_shows_at_most_four_chars() {
        // mno:allow on the next line: a made-up key, the redaction test needs its shape.
        assert_eq!(redact("AKIAQ3ZT7WX2LMNB5KRD"), "AKIA…"); // mno:allow
        assert_eq!(redact(&"x".repeat(200)), "xxxx…");
        assert_eq!(redact("hunter22"), "hu…");
        assert_eq!(redact("abc"), "…");
        // The length is never shown: two secrets of different lengths look alike.
        assert_eq!(
            redact("ghp_aaaaaaaaaaaaaaaa"),
            redact("ghp_bbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
        );
    }

    #[test]
    fn fingerprint_of_short_secret_is_not_plain_sha256() {
        let salt = [7u8; 32];
        let fp = fingerprint(&salt, "generic-password", "1234");
        assert_ne!(fp, legacy_fingerprint("generic-password", "1234"));
        assert_eq!(fp.len(), 64);
        // Another repository's salt gives another fingerprint: nothing precomputed carries over.
        assert_ne!(fp, fingerprint(&[8u8; 32], "generic-password", "1234"));
        assert_eq!(fp, fingerprint(&salt, "generic-password", "1234"));
        assert_ne!(fp, fingerprint(&salt, "other-rule", "1234"));
    }

    #[test]
    fn baseline_salt_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.json");
        let keys = Keys::fresh().unwrap();
        let finding = crate::Finding {
            check: "security_scan".into(),
            rule_id: "r".into(),
            severity: crate::Severity::Error,
            file: "a.env".into(),
            line: 1,
            column: 1,
            message: String::new(),
            suggested_fix: None,
            fingerprint: Some(keys.fingerprint("r", "s3cret")),
        };
        let b = Baseline::from_findings([&finding], keys.salt());
        assert_eq!(b.version, VERSION);
        std::fs::write(&path, serde_json::to_string_pretty(&b).unwrap()).unwrap();
        let back = Baseline::load(&path).unwrap();
        assert_eq!(back, b);
        let again = back.keys().unwrap();
        assert_eq!(again.salt(), keys.salt());
        let fp = again.fingerprint("r", "s3cret");
        assert!(again.accepts("r", "s3cret", &fp));
        assert!(!again.accepts("r", "other", &again.fingerprint("r", "other")));
        // Rewriting keeps the salt, so unchanged entries stay the same.
        assert_eq!(back.salt_for_rewrite().unwrap(), keys.salt());
    }

    #[test]
    fn a_version_1_baseline_still_accepts_its_secrets() {
        let b = Baseline {
            version: 1,
            salt: String::new(),
            entries: vec![BaselineEntry {
                rule_id: "r".into(),
                fingerprint: legacy_fingerprint("r", "s3cret"),
                file: None,
            }],
        };
        assert!(b.is_legacy());
        let keys = b.keys().unwrap();
        let fp = keys.fingerprint("r", "s3cret");
        assert_ne!(fp, legacy_fingerprint("r", "s3cret"));
        assert!(keys.accepts("r", "s3cret", &fp));
        assert!(!keys.accepts("r", "other", &keys.fingerprint("r", "other")));
        // Its rewrite draws a salt.
        assert_eq!(b.salt_for_rewrite().unwrap().len(), SALT_BYTES);
    }

    #[test]
    fn a_baseline_of_an_unknown_version_or_without_salt_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.json");
        std::fs::write(&path, r#"{"version": 3, "entries": []}"#).unwrap();
        let e = Baseline::load(&path).unwrap_err().to_string();
        assert!(e.contains("version 3") && e.contains("b.json"), "{e}");
        std::fs::write(&path, r#"{"version": 2, "entries": []}"#).unwrap();
        let e = Baseline::load(&path).unwrap_err().to_string();
        assert!(e.contains("salt"), "{e}");
    }

    #[test]
    fn a_missing_baseline_is_empty() {
        let b = Baseline::load(Path::new("/nonexistent/baseline.json")).unwrap();
        assert!(b.entries.is_empty());
    }
}
