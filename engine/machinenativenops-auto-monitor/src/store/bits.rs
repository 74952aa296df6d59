//! Bit-level writer and reader shared by the Gorilla and delta-of-delta codecs.
//!
//! Bits are packed most-significant first into bytes, the layout the Gorilla
//! paper and Prometheus' `bstream` use, so a hex dump reads in stream order.

/// Appends bits to a byte buffer.
#[derive(Debug, Default)]
pub struct BitWriter {
    buf: Vec<u8>,
    /// Bits already used in the last byte of `buf` (0 means the next bit starts a new byte).
    used: u32,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> BitWriter {
        BitWriter::default()
    }

    /// A writer appending after the bytes already in `buf`.
    pub fn with_buffer(buf: Vec<u8>) -> BitWriter {
        BitWriter { buf, used: 0 }
    }

    /// Write one bit.
    #[inline]
    pub fn bit(&mut self, b: bool) {
        if self.used == 0 {
            self.buf.push(0);
        }
        if b {
            let last = self.buf.len() - 1;
            self.buf[last] |= 0x80 >> self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    /// Write the low `n` bits of `v` (n ≤ 64), most significant first.
    #[inline]
    pub fn bits(&mut self, v: u64, mut n: u32) {
        debug_assert!(n <= 64);
        while n > 0 {
            if self.used == 0 {
                self.buf.push(0);
            }
            let free = 8 - self.used;
            let take = free.min(n);
            // The `take` bits of v just below bit position n.
            let chunk = ((v >> (n - take)) & ((1u64 << take) - 1)) as u8;
            let last = self.buf.len() - 1;
            self.buf[last] |= chunk << (free - take);
            self.used = (self.used + take) % 8;
            n -= take;
        }
    }

    /// The bytes written so far (the last byte is zero-padded).
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes the buffer holds without growing.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Make room for `extra` more bytes, exactly (see `Vec::reserve_exact`).
    pub fn reserve_exact(&mut self, extra: usize) {
        self.buf.reserve_exact(extra);
    }

    /// Give back the buffer's unused capacity.
    pub fn shrink_to_fit(&mut self) {
        self.buf.shrink_to_fit();
    }

    /// The bytes written (the last byte is zero-padded).
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads bits written by [`BitWriter`]; reading past the end is an error, never a panic.
#[derive(Debug)]
pub struct BitReader<'a> {
    buf: &'a [u8],
    /// Absolute bit position.
    pos: usize,
}

/// The stream ended before the value did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl<'a> BitReader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> BitReader<'a> {
        BitReader { buf, pos: 0 }
    }

    /// Read one bit.
    #[inline]
    pub fn bit(&mut self) -> Result<bool, Truncated> {
        let byte = *self.buf.get(self.pos / 8).ok_or(Truncated)?;
        let b = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Ok(b)
    }

    /// Read `n` bits (n ≤ 64) as the low bits of a u64.
    #[inline]
    pub fn bits(&mut self, mut n: u32) -> Result<u64, Truncated> {
        debug_assert!(n <= 64);
        if self.pos + n as usize > self.buf.len() * 8 {
            return Err(Truncated);
        }
        let mut v: u64 = 0;
        while n > 0 {
            let byte = self.buf[self.pos / 8];
            let off = (self.pos % 8) as u32;
            let avail = 8 - off;
            let take = avail.min(n);
            let chunk = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            v = (v << take) | chunk as u64;
            self.pos += take as usize;
            n -= take;
        }
        Ok(v)
    }
}

/// Append `v` as an unsigned LEB128 varint.
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Append `v` zigzag-encoded as a varint.
pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Read an unsigned varint at `*pos`, advancing it.
pub fn get_uvarint(buf: &[u8], pos: &mut usize) -> Result<u64, Truncated> {
    let mut v: u64 = 0;
    for shift in (0..70).step_by(7) {
        let b = *buf.get(*pos).ok_or(Truncated)?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return Err(Truncated);
        }
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(Truncated)
}

/// Read a zigzag varint at `*pos`, advancing it.
pub fn get_varint(buf: &[u8], pos: &mut usize) -> Result<i64, Truncated> {
    let u = get_uvarint(buf, pos)?;
    Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_across_byte_boundaries() {
        let mut w = BitWriter::new();
        let items: Vec<(u64, u32)> = vec![
            (1, 1),
            (0b101, 3),
            (0x3fff, 14),
            (u64::MAX, 64),
            (0, 5),
            (0xdead_beef, 32),
            (1, 64),
        ];
        for &(v, n) in &items {
            w.bits(v, n);
        }
        w.bit(true);
        let buf = w.finish();
        let mut r = BitReader::new(&buf);
        for &(v, n) in &items {
            assert_eq!(r.bits(n).unwrap(), v, "{n} bits");
        }
        assert!(r.bit().unwrap());
        // Padding bits read as zero; past the end is an error.
        while r.bit().is_ok() {}
        assert_eq!(r.bits(1), Err(Truncated));
    }

    #[test]
    fn varints_round_trip() {
        let mut out = Vec::new();
        let vals = [0i64, 1, -1, 63, -64, 1 << 40, i64::MIN, i64::MAX];
        for v in vals {
            put_varint(&mut out, v);
        }
        let mut pos = 0;
        for v in vals {
            assert_eq!(get_varint(&out, &mut pos).unwrap(), v);
        }
        assert_eq!(get_uvarint(&out, &mut pos), Err(Truncated));
        // An overlong varint is rejected rather than overflowing.
        assert_eq!(get_uvarint(&[0xff; 11], &mut 0), Err(Truncated));
    }
}
