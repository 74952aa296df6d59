//! Reading one file for the secret scan: size limit, binary test, UTF-16 decoding.
//!
//! A file is binary when a NUL shows in its first 8 KiB (git's own test), unless it is
//! UTF-16: a byte-order mark (`FF FE`, `FE FF`), or ASCII-range text whose every other
//! byte is NUL. UTF-16 is decoded to UTF-8 before the scan, so lines and columns of its
//! findings count in the decoded text (a secret saved from a Windows editor or
//! PowerShell's `>` is found, not skipped as binary).

use std::io::Read;
use std::path::Path;

/// How many leading bytes are looked at to call a file binary.
const BINARY_PROBE: usize = 8 << 10;

/// What reading a file gave.
#[derive(Debug)]
pub(crate) enum Contents {
    /// Text to scan (UTF-16 already decoded), and how many bytes were read from disk.
    Text {
        /// The (UTF-8 or undecoded) bytes the detector sees.
        data: Vec<u8>,
        /// Bytes read from disk.
        raw_len: u64,
        /// Whether the file was UTF-16, now decoded.
        decoded: bool,
    },
    /// Over the size limit (its size in bytes).
    Huge(u64),
    /// Binary; not scanned.
    Binary,
    /// Gone since it was listed (a tracked file deleted in the working tree).
    Missing,
    /// Could not be opened or read (why).
    Unreadable(String),
}

/// Read `path` for scanning: at most `max_size` bytes.
pub(crate) fn read(path: &Path, max_size: u64) -> Contents {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Contents::Missing,
        Err(e) => return Contents::Unreadable(e.to_string()),
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > max_size {
        return Contents::Huge(size);
    }
    let mut data = Vec::with_capacity(size as usize);
    // `take` bounds the read even if the file grew since its size was read.
    if let Err(e) = file.take(max_size + 1).read_to_end(&mut data) {
        return Contents::Unreadable(e.to_string());
    }
    if data.len() as u64 > max_size {
        return Contents::Huge(data.len() as u64);
    }
    let raw_len = data.len() as u64;
    if let Some(text) = decode_utf16(&data) {
        return Contents::Text {
            data: text.into_bytes(),
            raw_len,
            decoded: true,
        };
    }
    if data[..data.len().min(BINARY_PROBE)].contains(&0) {
        return Contents::Binary;
    }
    Contents::Text {
        data,
        raw_len,
        decoded: false,
    }
}

/// Byte order of a UTF-16 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

/// The text of a UTF-16 file (without its BOM), or `None` when it is not UTF-16.
///
/// Without a BOM, UTF-16 is recognised by its NUL pattern: in the probe, at least 70% of
/// the odd bytes (little-endian) or even bytes (big-endian) are NUL and at most 10% of the
/// others are; UTF-8 text has no NULs and binary formats do not keep that rhythm.
pub(crate) fn decode_utf16(data: &[u8]) -> Option<String> {
    let (endian, body) = match data {
        [0xFF, 0xFE, rest @ ..] => (Endian::Little, rest),
        [0xFE, 0xFF, rest @ ..] => (Endian::Big, rest),
        _ => (sniff(&data[..data.len().min(BINARY_PROBE)])?, data),
    };
    let units = body.chunks_exact(2).map(|p| match endian {
        Endian::Little => u16::from_le_bytes([p[0], p[1]]),
        Endian::Big => u16::from_be_bytes([p[0], p[1]]),
    });
    Some(
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect(),
    )
}

/// UTF-16 without a BOM, by where its NULs fall.
fn sniff(probe: &[u8]) -> Option<Endian> {
    let pairs = probe.len() / 2;
    if pairs < 2 {
        return None;
    }
    let (mut even, mut odd) = (0usize, 0usize);
    for p in probe.chunks_exact(2) {
        even += usize::from(p[0] == 0);
        odd += usize::from(p[1] == 0);
    }
    let mostly = |n: usize| n * 10 >= pairs * 7;
    let rarely = |n: usize| n * 10 <= pairs;
    if mostly(odd) && rarely(even) {
        Some(Endian::Little)
    } else if mostly(even) && rarely(odd) {
        Some(Endian::Big)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str, bom: bool) -> Vec<u8> {
        let mut v = if bom { vec![0xFF, 0xFE] } else { vec![] };
        v.extend(s.encode_utf16().flat_map(|u| u.to_le_bytes()));
        v
    }

    #[test]
    fn utf16_with_or_without_bom_decodes() {
        let text = "key = \"värde\"\nline two\n";
        assert_eq!(decode_utf16(&utf16le(text, true)).as_deref(), Some(text));
        assert_eq!(decode_utf16(&utf16le(text, false)).as_deref(), Some(text));
        let mut be = vec![0xFE, 0xFF];
        be.extend(text.encode_utf16().flat_map(|u| u.to_be_bytes()));
        assert_eq!(decode_utf16(&be).as_deref(), Some(text));
        let nobom_be: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        assert_eq!(decode_utf16(&nobom_be).as_deref(), Some(text));
    }

    #[test]
    fn utf8_and_binary_are_not_utf16() {
        assert_eq!(decode_utf16(b"plain text\n"), None);
        // A PNG-like header with scattered NULs.
        let bin = [
            0x89, b'P', b'N', b'G', 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 1, 0,
        ];
        assert_eq!(decode_utf16(&bin), None);
        assert_eq!(decode_utf16(&[0u8; 64]), None);
    }
}
