//! Test-sample templates: random token bodies generated at test time from a seed.
//!
//! A template is text with `{C:N}` slots, N characters drawn from class C:
//! `a` alphanumeric, `l` lowercase alphanumeric, `U` uppercase alphanumeric, `L` letters,
//! `w` lowercase letters, `h` lowercase hex, `H` uppercase hex, `d` digits, `b` base64,
//! `u` URL-safe base64, `A` base32 (A-Z, 2-7), `B` bech32 (uppercase), `p` password characters (punctuation too).
//! `{gh}` is a GitHub/npm token body with a valid checksum, `{uuid}` a UUID and
//! `{basic}` a base64 `user:password`.

use base64::Engine;

/// A small deterministic generator (xorshift64*), so samples are the same on every run.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// `n` characters from `alphabet`.
    pub fn pick(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len())] as char)
            .collect()
    }
}

/// The alphabet of a template class.
pub fn class(c: char) -> Option<&'static [u8]> {
    Some(match c {
        'a' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        'l' => b"abcdefghijklmnopqrstuvwxyz0123456789",
        'U' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        'L' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        'w' => b"abcdefghijklmnopqrstuvwxyz",
        'h' => b"0123456789abcdef",
        'H' => b"0123456789ABCDEF",
        'd' => b"0123456789",
        'b' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        'u' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        'A' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
        'B' => b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
        'p' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%&*+-.:=?@^_~",
        _ => return None,
    })
}

/// The template with every slot filled.
pub fn expand(template: &str, rng: &mut Rng) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let slot = &rest[open + 1..open + close];
        match fill(slot, rng) {
            Some(v) => {
                out.push_str(&v);
                rest = &rest[open + close + 1..];
            }
            // Not a slot (JSON braces): keep the brace and read on.
            None => {
                out.push('{');
                rest = &rest[open + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn fill(slot: &str, rng: &mut Rng) -> Option<String> {
    match slot {
        "gh" => {
            let body = rng.pick(class('a')?, 30);
            let sum = super::base62_6(super::crc32(body.as_bytes()));
            Some(body + &sum)
        }
        "uuid" => {
            let h = class('h')?;
            Some(format!(
                "{}-{}-4{}-a{}-{}",
                rng.pick(h, 8),
                rng.pick(h, 4),
                rng.pick(h, 3),
                rng.pick(h, 3),
                rng.pick(h, 12)
            ))
        }
        "basic" => {
            let raw = format!(
                "svc-{}:{}",
                rng.pick(class('w')?, 5),
                rng.pick(class('a')?, 16)
            );
            Some(base64::engine::general_purpose::STANDARD.encode(raw))
        }
        _ => {
            let (c, n) = slot.split_once(':')?;
            let mut chars = c.chars();
            let alphabet = class(chars.next()?)?;
            Some(rng.pick(alphabet, n.parse().ok()?))
        }
    }
}
