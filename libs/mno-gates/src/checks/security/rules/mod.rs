//! The built-in secret rules, one file per provider family.
//!
//! Each rule names keywords for the Aho-Corasick prefilter (one of them must occur on
//! the line before the rule's regex runs: that keeps the scan fast however many rules
//! there are) and a regex whose first participating capture group is the secret. Formats
//! come from the providers' documentation (prefixes, lengths, alphabets, checksums); a
//! format with no distinctive prefix needs the provider's name on the line as context.
//!
//! Every rule carries test samples: `pos` templates (expanded with random characters at
//! test time, so no realistic token is committed) that the rule must find, and `neg`
//! look-alikes (placeholders, documented examples, truncated or malformed tokens) that no
//! rule may report.

mod ai;
mod cloud;
mod devops;
mod generic;
mod saas;
#[cfg(test)]
mod tests;
mod vcs;

pub mod samples;

/// What a rule's own validator says about a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Proven by its structure (a checksum matched): no entropy or placeholder test needed.
    Proven,
    /// Not decided: the usual entropy and placeholder tests apply.
    Unknown,
    /// Not this format after all.
    Reject,
}

/// How a rule's hits are weighed against other rules and placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A provider format: its shape is most of the evidence.
    Specific,
    /// A value assigned to a secret-like name: must look random, and yields to a
    /// specific rule that matched the same value.
    Generic,
    /// A password: may be short and wordy, so it must mix character classes and must not
    /// be a well-known default; yields to specific rules like [`Kind::Generic`].
    Password,
}

/// One credential format.
#[derive(Debug, Clone, Copy)]
pub struct RuleDef {
    /// Stable rule id, reported as `rule_id`.
    pub id: &'static str,
    /// What the secret is, for messages.
    pub title: &'static str,
    /// Lowercase keywords, one of which must occur on the line for the regex to run.
    pub keywords: &'static [&'static str],
    /// The pattern; its first capture group that took part in the match is the secret.
    pub regex: &'static str,
    /// Minimum Shannon entropy of the secret (0 for formats whose shape is proof enough).
    pub min_entropy: f64,
    /// How hits are weighed.
    pub kind: Kind,
    /// The match may run past its first line (key blocks): the regex sees the following
    /// lines too, and only matches that start on the keyword's line count.
    pub multiline: bool,
    /// A structural test of the secret (a checksum, a decodable body).
    pub check: Option<fn(&str) -> Check>,
    /// Test templates the rule must find (see [`samples::expand`]).
    pub pos: &'static [&'static str],
    /// Test look-alikes no rule may report.
    pub neg: &'static [&'static str],
}

impl RuleDef {
    /// Positive test templates.
    pub const fn pos(mut self, pos: &'static [&'static str]) -> Self {
        self.pos = pos;
        self
    }
    /// Negative test samples.
    pub const fn neg(mut self, neg: &'static [&'static str]) -> Self {
        self.neg = neg;
        self
    }
    /// A structural validator.
    pub const fn check(mut self, f: fn(&str) -> Check) -> Self {
        self.check = Some(f);
        self
    }
    /// Lets the match span several lines.
    pub const fn multiline(mut self) -> Self {
        self.multiline = true;
        self
    }
    /// Changes how hits are weighed.
    pub const fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }
}

/// A specific rule (most fields), completed with the builder methods above.
pub const fn rule(
    id: &'static str,
    title: &'static str,
    keywords: &'static [&'static str],
    regex: &'static str,
    min_entropy: f64,
) -> RuleDef {
    RuleDef {
        id,
        title,
        keywords,
        regex,
        min_entropy,
        kind: Kind::Specific,
        multiline: false,
        check: None,
        pos: &[],
        neg: &[],
    }
}

/// The rule families, specific formats first and the generic rules last (a generic rule
/// yields to a specific one that matched the same value, so it must run after it).
const FAMILIES: &[&[RuleDef]] = &[
    cloud::RULES,
    vcs::RULES,
    devops::RULES,
    ai::RULES,
    saas::RULES,
    generic::RULES,
];

/// Every built-in rule, in evaluation order.
pub fn builtin() -> impl Iterator<Item = &'static RuleDef> {
    FAMILIES.iter().flat_map(|f| f.iter())
}

/// The base62 alphabet GitHub and npm use for their token checksums.
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// GitHub's and npm's token checksum: the last 6 characters are the CRC-32 of the 30
/// random characters before them, in base62.
pub fn crc32_base62(token: &str) -> Check {
    let Some((_, body)) = token.split_once('_') else {
        return Check::Reject;
    };
    if body.len() != 36 {
        return Check::Unknown;
    }
    let (random, sum) = body.split_at(30);
    if sum == base62_6(crc32(random.as_bytes())) {
        Check::Proven
    } else {
        // Tokens from before the checksum format (and fixtures) still get the usual tests.
        Check::Unknown
    }
}

/// `n` in base62, left-padded with zeros to 6 characters.
pub fn base62_6(mut n: u32) -> String {
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// CRC-32 (IEEE 802.3, as zlib and Go's `hash/crc32` compute it).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// An `Authorization: Basic` value must decode to `user:password`.
pub fn basic_auth(value: &str) -> Check {
    use base64::Engine;
    match base64::engine::general_purpose::STANDARD.decode(value) {
        Ok(raw) if raw.iter().all(|b| (0x20..0x7f).contains(b)) => {
            let text = String::from_utf8_lossy(&raw);
            match text.split_once(':') {
                Some((_, pw))
                    if !pw.is_empty() && !crate::checks::security::filters::is_placeholder(pw) =>
                {
                    Check::Unknown
                }
                _ => Check::Reject,
            }
        }
        _ => Check::Reject,
    }
}
