//! Delta-of-delta timestamp compression for a block's tick times.
//!
//! The first time and the first delta are varints; every later time is the
//! difference between consecutive deltas, written in the smallest of a few
//! bit buckets (`0` for a perfectly regular tick). The buckets are finer
//! than Gorilla's because the agent's ticks jitter by a few milliseconds.

use super::bits::{
    BitReader, BitWriter, Truncated, get_uvarint, get_varint, put_uvarint, put_varint,
};

/// (prefix bits, prefix length, payload bits) per bucket, smallest first.
const BUCKETS: [(u64, u32, u32); 4] = [
    (0b10, 2, 4),
    (0b110, 3, 8),
    (0b1110, 4, 14),
    (0b11110, 5, 24),
];

/// Encode ascending millisecond timestamps.
pub fn encode(ts: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + ts.len() / 4);
    put_uvarint(&mut out, ts.len() as u64);
    let Some(&first) = ts.first() else {
        return out;
    };
    put_varint(&mut out, first);
    if ts.len() == 1 {
        return out;
    }
    let mut delta = ts[1].wrapping_sub(first);
    put_varint(&mut out, delta);
    let mut w = BitWriter::with_buffer(out);
    let mut prev = ts[1];
    for &t in &ts[2..] {
        let d = t.wrapping_sub(prev);
        let dod = d.wrapping_sub(delta);
        prev = t;
        delta = d;
        if dod == 0 {
            w.bit(false);
            continue;
        }
        match BUCKETS.iter().find(|(_, _, bits)| fits(dod, *bits)) {
            Some(&(prefix, plen, bits)) => {
                w.bits(prefix, plen);
                w.bits(dod as u64 & ((1u64 << bits) - 1), bits);
            }
            None => {
                w.bits(0b11111, 5);
                w.bits(dod as u64, 64);
            }
        }
    }
    w.finish()
}

/// Whether `v` fits a two's-complement field of `bits` bits.
fn fits(v: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    (-half..half).contains(&v)
}

/// Sign-extend the low `bits` bits of `v`.
fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Decode timestamps written by [`encode`].
pub fn decode(buf: &[u8]) -> Result<Vec<i64>, Truncated> {
    let mut pos = 0;
    let n = get_uvarint(buf, &mut pos)? as usize;
    // Each time costs at least one bit: a count beyond that is corrupt, not a reason to allocate.
    if n > buf.len().saturating_mul(8) + 2 {
        return Err(Truncated);
    }
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return Ok(out);
    }
    let first = get_varint(buf, &mut pos)?;
    out.push(first);
    if n == 1 {
        return Ok(out);
    }
    let mut delta = get_varint(buf, &mut pos)?;
    let mut prev = first.wrapping_add(delta);
    out.push(prev);
    let mut r = BitReader::new(&buf[pos..]);
    for _ in 2..n {
        let mut ones = 0;
        while ones < 5 && r.bit()? {
            ones += 1;
        }
        let dod = if ones == 0 {
            0
        } else if ones == 5 {
            r.bits(64)? as i64
        } else {
            let bits = BUCKETS[ones - 1].2;
            sign_extend(r.bits(bits)?, bits)
        };
        delta = delta.wrapping_add(dod);
        prev = prev.wrapping_add(delta);
        out.push(prev);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_ticks_cost_one_bit_each() {
        let ts: Vec<i64> = (0..7200).map(|i| 1_700_000_000_000 + i * 1000).collect();
        let buf = encode(&ts);
        assert!(buf.len() < 7200 / 8 + 16, "{}", buf.len());
        assert_eq!(decode(&buf).unwrap(), ts);
    }

    #[test]
    fn jitter_gaps_and_extremes_round_trip() {
        let mut ts = vec![i64::MIN + 5, -3, 0, 1, 2];
        let mut t = 1_700_000_000_000i64;
        for i in 0..3000i64 {
            t += 1000 + (i * 7919 % 9) - 4;
            if i % 500 == 0 {
                t += 3_600_000;
            }
            if i == 2000 {
                t += 1 << 40;
            }
            ts.push(t);
        }
        ts.push(i64::MAX);
        assert_eq!(decode(&encode(&ts)).unwrap(), ts);
        for n in 0..4 {
            assert_eq!(decode(&encode(&ts[..n])).unwrap(), &ts[..n]);
        }
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let ts: Vec<i64> = (0..100).map(|i| i * 1000 + i % 3).collect();
        let buf = encode(&ts);
        assert!(decode(&buf[..buf.len() / 2]).is_err());
        assert!(decode(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }
}
