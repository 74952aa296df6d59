//! Gorilla XOR float compression (Pelkonen et al., VLDB 2015, §4.1.2), hand-written.
//!
//! Each value is XORed with the previous one: an identical value costs one
//! bit; otherwise the meaningful (non-zero) bits of the XOR are written,
//! reusing the previous leading/trailing-zero window when they fit in it.
//! Bit-exact: NaN payloads and -0.0 survive. Kept as the fallback codec and
//! as the reference the chosen codec is measured against (docs/storage.md).

use super::bits::{BitReader, BitWriter, Truncated};

/// Encode `values` (the count is not stored; the caller keeps it).
pub fn encode(values: &[f64], out: Vec<u8>) -> Vec<u8> {
    let mut w = BitWriter::with_buffer(out);
    let Some((&first, rest)) = values.split_first() else {
        return w.finish();
    };
    let mut prev = first.to_bits();
    w.bits(prev, 64);
    // An impossible window so the first non-zero XOR writes its own.
    let (mut lead, mut trail) = (u32::MAX, 0u32);
    for v in rest {
        let cur = v.to_bits();
        let x = cur ^ prev;
        prev = cur;
        if x == 0 {
            w.bit(false);
            continue;
        }
        w.bit(true);
        // Leading zeros are stored in 5 bits, so at most 31.
        let l = x.leading_zeros().min(31);
        let t = x.trailing_zeros();
        if lead != u32::MAX && l >= lead && t >= trail {
            w.bit(false);
            w.bits(x >> trail, 64 - lead - trail);
        } else {
            lead = l;
            trail = t;
            let sig = 64 - l - t;
            w.bit(true);
            w.bits(l as u64, 5);
            // 64 meaningful bits does not fit 6 bits; it is stored as 0 (never a real length).
            w.bits((sig & 63) as u64, 6);
            w.bits(x >> t, sig);
        }
    }
    w.finish()
}

/// Decode `n` values from `buf`.
pub fn decode(buf: &[u8], n: usize, out: &mut Vec<f64>) -> Result<(), Truncated> {
    if n == 0 {
        return Ok(());
    }
    let mut r = BitReader::new(buf);
    let mut prev = r.bits(64)?;
    out.reserve(n);
    out.push(f64::from_bits(prev));
    let (mut lead, mut trail) = (0u32, 0u32);
    for _ in 1..n {
        if r.bit()? {
            if r.bit()? {
                lead = r.bits(5)? as u32;
                let mut sig = r.bits(6)? as u32;
                if sig == 0 {
                    sig = 64;
                }
                if lead + sig > 64 {
                    return Err(Truncated);
                }
                trail = 64 - lead - sig;
            }
            let sig = 64 - lead - trail;
            prev ^= r.bits(sig)? << trail;
        }
        out.push(f64::from_bits(prev));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(vals: &[f64]) -> usize {
        let buf = encode(vals, Vec::new());
        let mut back = Vec::new();
        decode(&buf, vals.len(), &mut back).unwrap();
        let a: Vec<u64> = vals.iter().map(|v| v.to_bits()).collect();
        let b: Vec<u64> = back.iter().map(|v| v.to_bits()).collect();
        assert_eq!(a, b);
        buf.len()
    }

    #[test]
    fn constant_series_costs_a_bit_per_sample() {
        let n = round_trip(&[42.5; 801]);
        assert_eq!(n, 8 + 100);
    }

    #[test]
    fn special_values_survive_bit_exactly() {
        round_trip(&[
            0.0,
            -0.0,
            f64::NAN,
            f64::from_bits(0x7ff8_0000_0000_0001),
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            1.0,
            f64::from_bits(1),
            f64::from_bits(u64::MAX),
            f64::from_bits(1 << 63),
        ]);
        round_trip(&[]);
        round_trip(&[7.0]);
    }

    #[test]
    fn counters_and_random_walks_round_trip() {
        let mut x = 0.0f64;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut vals = Vec::new();
        for i in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            x += (seed % 1000) as f64 / 100.0 - 5.0;
            vals.push(if i % 3 == 0 { x } else { (i as f64) * 0.01 });
        }
        round_trip(&vals);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let buf = encode(&[1.0, 2.0, 3.0], Vec::new());
        let mut out = Vec::new();
        assert!(decode(&buf[..buf.len() - 2], 3, &mut out).is_err());
        assert!(decode(&[], 1, &mut out).is_err());
    }
}
