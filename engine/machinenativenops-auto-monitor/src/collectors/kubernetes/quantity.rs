//! Kubernetes resource quantities (`3800m`, `16393872Ki`, `1e3`) as numbers.
//!
//! The grammar is the API's (`<signedNumber><suffix>`, suffixes `Ki`…`Ei`, `n` `u` `m` `k`
//! `M` `G` `T` `P` `E`, or `e<exponent>`). The number is kept exact as an integer mantissa
//! with powers of ten and two, so rounding matches Go's `Quantity.Value()` (rounds up to an
//! integer) and `MilliValue()` (rounds up to a thousandth) that kube-state-metrics reports.

/// A parsed quantity: `mantissa × 10^exp10 × 2^exp2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    exp10: i32,
    exp2: u32,
}

/// Why a quantity string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity {text:?}: {reason}")]
pub struct QuantityError {
    /// The text.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Quantity {
    /// Parse the API's quantity text.
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let err = |reason| QuantityError {
            text: text.to_string(),
            reason,
        };
        let s = text.trim();
        let (neg, s) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let num_len = s
            .bytes()
            .position(|c| !(c.is_ascii_digit() || c == b'.'))
            .unwrap_or(s.len());
        let (num, suffix) = s.split_at(num_len);
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() && frac.is_empty() {
            return Err(err("no digits"));
        }
        if frac.contains('.') {
            return Err(err("more than one decimal point"));
        }
        let digits = format!("{int}{frac}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > 36 {
            return Err(err("too many digits"));
        }
        let mut mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| err("not a number"))?
        };
        if neg {
            mantissa = -mantissa;
        }
        let mut exp10 = -(frac.len() as i32);
        let mut exp2 = 0u32;
        match suffix {
            "" => {}
            "Ki" => exp2 = 10,
            "Mi" => exp2 = 20,
            "Gi" => exp2 = 30,
            "Ti" => exp2 = 40,
            "Pi" => exp2 = 50,
            "Ei" => exp2 = 60,
            "n" => exp10 -= 9,
            "u" => exp10 -= 6,
            "m" => exp10 -= 3,
            "k" => exp10 += 3,
            "M" => exp10 += 6,
            "G" => exp10 += 9,
            "T" => exp10 += 12,
            "P" => exp10 += 15,
            "E" => exp10 += 18,
            s if s.starts_with(['e', 'E']) => {
                let e: i32 = s[1..]
                    .parse()
                    .ok()
                    .filter(|e: &i32| e.abs() <= 1000)
                    .ok_or_else(|| err("bad exponent"))?;
                exp10 += e;
            }
            _ => return Err(err("unknown suffix")),
        }
        Ok(Quantity {
            mantissa,
            exp10,
            exp2,
        })
    }

    /// The value times `10^scale`, rounded up to an integer (Go's `ScaledValue` rounding).
    fn scaled_ceil(&self, scale: i32) -> f64 {
        let approx =
            || self.mantissa as f64 * 10f64.powi(self.exp10 + scale) * 2f64.powi(self.exp2 as i32);
        let Some(m) = self.mantissa.checked_mul(1i128 << self.exp2.min(126)) else {
            return approx().ceil();
        };
        let e = self.exp10 + scale;
        if e >= 0 {
            match 10i128.checked_pow(e as u32).and_then(|p| m.checked_mul(p)) {
                Some(v) => v as f64,
                None => approx(),
            }
        } else {
            let Some(d) = 10i128.checked_pow((-e) as u32) else {
                // Smaller than any integer step: rounds up to 1 when positive.
                return if m > 0 { 1.0 } else { 0.0 };
            };
            let q = m / d;
            (if m % d != 0 && m > 0 { q + 1 } else { q }) as f64
        }
    }

    /// The value rounded up to an integer (bytes, counts).
    pub fn value(&self) -> f64 {
        self.scaled_ceil(0)
    }

    /// The value rounded up to thousandths (CPU cores: `3800m` is 3.8).
    pub fn milli_value(&self) -> f64 {
        self.scaled_ceil(3) / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> f64 {
        Quantity::parse(s).unwrap().value()
    }
    fn m(s: &str) -> f64 {
        Quantity::parse(s).unwrap().milli_value()
    }

    #[test]
    fn suffixes() {
        assert_eq!(v("110"), 110.0);
        assert_eq!(v("16393872Ki"), 16_787_324_928.0);
        assert_eq!(v("1Gi"), 1_073_741_824.0);
        assert_eq!(v("2Ei"), 2.0 * 1_152_921_504_606_846_976.0);
        assert_eq!(v("100M"), 100_000_000.0);
        assert_eq!(v("1e3"), 1000.0);
        assert_eq!(v("1E3"), 1000.0);
        assert_eq!(v("3E"), 3e18);
        assert_eq!(v("0"), 0.0);
        assert_eq!(v("+5k"), 5000.0);
        assert_eq!(v("-5k"), -5000.0);
        assert_eq!(m("3800m"), 3.8);
        assert_eq!(m("4"), 4.0);
        assert_eq!(m("250m"), 0.25);
        assert_eq!(m("0.5"), 0.5);
        assert_eq!(m(".5"), 0.5);
        assert_eq!(m("1.5e-2"), 0.015);
    }

    #[test]
    fn rounding_goes_up_like_go() {
        // Go: resource.MustParse("1500m").Value() == 2; MustParse("1n").MilliValue() == 1.
        assert_eq!(v("1500m"), 2.0);
        assert_eq!(v("100n"), 1.0);
        assert_eq!(m("1n"), 0.001);
        assert_eq!(v("-1500m"), -1.0);
        assert_eq!(v("1e-999"), 1.0);
        assert_eq!(v("-1e-999"), 0.0);
    }

    #[test]
    fn bad_input_is_rejected() {
        for s in ["", "Ki", "1.2.3", "12Xi", "1e", "1e+", "abc", "1e99999"] {
            let e = Quantity::parse(s).unwrap_err();
            assert_eq!(e.text, s);
        }
        assert_eq!(
            Quantity::parse("12Xi").unwrap_err().to_string(),
            "invalid quantity \"12Xi\": unknown suffix"
        );
    }
}
