//! Resource quantities, parsed the way Kubernetes parses them.
//!
//! `<sign><number><suffix>` where the number is `1`, `1.5` or `.5` and the suffix is
//! one of the binary SI suffixes (`Ki Mi Gi Ti Pi Ei`), the decimal SI suffixes
//! (`n u m k M G T P E`, note lowercase `k` and `m` = milli), or a decimal exponent
//! (`e3`, `E-2`). Values are kept exactly as an integer count of billionths, so
//! `0.1Ki`, `100m` and `1e3` compare without rounding error; digits finer than a
//! billionth are rounded up, as Kubernetes does.
//!
//! No maintained crate parses this on its own: `kube_quantity` needs `k8s-openapi`,
//! which would change features of shared crates across the workspace for one parser.

use std::fmt;

/// An exact quantity in billionths of the unit (cores, bytes, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity {
    /// Value × 10⁹.
    pub nanos: i128,
}

/// Why a quantity did not parse, with a corrected spelling when one is likely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QuantityError {
    /// What is wrong.
    pub message: String,
    /// A likely intended spelling.
    pub suggestion: Option<String>,
}

const NANO: i128 = 1_000_000_000;

fn err(message: String, suggestion: Option<String>) -> QuantityError {
    QuantityError {
        message,
        suggestion,
    }
}

impl Quantity {
    /// Parse a Kubernetes quantity.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(err("empty quantity".into(), None));
        }
        let (neg, rest) = match t.as_bytes()[0] {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, suffix) = rest.split_at(num_end);
        let (int_part, frac_part) = match num.split_once('.') {
            Some((i, f)) => (i, f),
            None => (num, ""),
        };
        if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
            return Err(err(
                format!(
                    "`{s}` is not a quantity: expected a number such as 500m, 1.5, 256Mi or 1e3"
                ),
                None,
            ));
        }
        let digits = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > 30 {
            return Err(err(format!("`{s}` has too many digits"), None));
        }
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits
                .parse()
                .map_err(|_| err(format!("`{s}` is not a quantity"), None))?
        };
        let (binary_shift, exp10) = suffix_scale(suffix).ok_or_else(|| {
            err(
                format!("`{s}` has an unknown suffix `{suffix}`"),
                suggest_suffix(int_part, frac_part, suffix, neg),
            )
        })?;
        // value = mantissa × 2^shift × 10^exp10 / 10^frac_len; in nanos: × 10^9.
        let scale10 = exp10 + 9 - frac_part.len() as i32;
        let out_of_range = || err(format!("`{s}` is out of range"), None);
        let mut num = mantissa
            .checked_mul(1i128 << binary_shift)
            .ok_or_else(out_of_range)?;
        let mut den: i128 = 1;
        if scale10 >= 0 {
            let p = 10i128
                .checked_pow(scale10 as u32)
                .ok_or_else(out_of_range)?;
            num = num.checked_mul(p).ok_or_else(out_of_range)?;
        } else {
            den = 10i128
                .checked_pow(scale10.unsigned_abs())
                .ok_or_else(out_of_range)?;
        }
        if num == 0 {
            return Ok(Quantity { nanos: 0 });
        }
        // Round up what is finer than a billionth, as Kubernetes does.
        let mut nanos = num / den;
        if num % den != 0 {
            nanos += 1;
        }
        Ok(Quantity {
            nanos: if neg { -nanos } else { nanos },
        })
    }

    /// Whether the value is below zero.
    pub fn is_negative(self) -> bool {
        self.nanos < 0
    }
}

/// `(binary shift, decimal exponent)` for a suffix.
fn suffix_scale(suffix: &str) -> Option<(u32, i32)> {
    Some(match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        _ => {
            let rest = suffix.strip_prefix(['e', 'E'])?;
            let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 3
            {
                return None;
            }
            let e: i32 = rest.parse().ok()?;
            (0, e)
        }
    })
}

/// A corrected spelling for common mistakes (`1GB`, `512mb`, `1K`, `2gi`).
fn suggest_suffix(int_part: &str, frac_part: &str, suffix: &str, neg: bool) -> Option<String> {
    let number = format!(
        "{}{int_part}{}{frac_part}",
        if neg { "-" } else { "" },
        if frac_part.is_empty() { "" } else { "." }
    );
    let s = suffix.trim();
    let core = s
        .strip_suffix("iB")
        .map(|c| format!("{c}i"))
        .or_else(|| s.strip_suffix(['B', 'b']).map(str::to_string))
        .unwrap_or_else(|| s.to_string());
    let upper = core.to_ascii_uppercase();
    let (dec, bin) = match upper.as_str() {
        "K" | "KI" => ("k", "Ki"),
        "M" | "MI" => ("M", "Mi"),
        "G" | "GI" => ("G", "Gi"),
        "T" | "TI" => ("T", "Ti"),
        "P" | "PI" => ("P", "Pi"),
        "E" | "EI" => ("E", "Ei"),
        _ => return None,
    };
    Some(format!(
        "write {number}{bin} (binary, ×1024) or {number}{dec} (decimal, ×1000)"
    ))
}

impl fmt::Display for Quantity {
    /// The canonical spelling: whole values with the largest exact suffix, else milli or nano.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n % NANO == 0 {
            let whole = n / NANO;
            if whole != 0 {
                for (suffix, shift) in [
                    ("Ei", 60),
                    ("Pi", 50),
                    ("Ti", 40),
                    ("Gi", 30),
                    ("Mi", 20),
                    ("Ki", 10),
                ] {
                    let unit = 1i128 << shift;
                    if whole % unit == 0 && whole.abs() >= unit {
                        return write!(f, "{}{suffix}", whole / unit);
                    }
                }
                for (suffix, exp) in [
                    ("E", 18),
                    ("P", 15),
                    ("T", 12),
                    ("G", 9),
                    ("M", 6),
                    ("k", 3),
                ] {
                    let unit = 10i128.pow(exp);
                    if whole % unit == 0 && whole.abs() >= unit {
                        return write!(f, "{}{suffix}", whole / unit);
                    }
                }
            }
            return write!(f, "{whole}");
        }
        if n % 1_000_000 == 0 {
            return write!(f, "{}m", n / 1_000_000);
        }
        if n % 1_000 == 0 {
            return write!(f, "{}u", n / 1_000);
        }
        write!(f, "{n}n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> i128 {
        Quantity::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .nanos
    }

    #[test]
    fn every_suffix_parses_exactly() {
        assert_eq!(q("1"), NANO);
        assert_eq!(q("200m"), 200_000_000);
        assert_eq!(q("1000m"), NANO);
        assert_eq!(q("5n"), 5);
        assert_eq!(q("5u"), 5_000);
        assert_eq!(q("1k"), 1_000 * NANO);
        assert_eq!(q("1M"), 1_000_000 * NANO);
        assert_eq!(q("1G"), 1_000_000_000 * NANO);
        assert_eq!(q("1T"), 10i128.pow(12) * NANO);
        assert_eq!(q("1P"), 10i128.pow(15) * NANO);
        assert_eq!(q("1E"), 10i128.pow(18) * NANO);
        assert_eq!(q("1Ki"), 1024 * NANO);
        assert_eq!(q("256Mi"), 256 * (1 << 20) * NANO);
        assert_eq!(q("1Gi"), (1 << 30) * NANO);
        assert_eq!(q("1Ti"), (1i128 << 40) * NANO);
        assert_eq!(q("1Pi"), (1i128 << 50) * NANO);
        assert_eq!(q("1Ei"), (1i128 << 60) * NANO);
    }

    #[test]
    fn decimals_signs_and_exponents() {
        assert_eq!(q("0.5"), NANO / 2);
        assert_eq!(q(".5"), NANO / 2);
        assert_eq!(q("1.5Gi"), 1_610_612_736 * NANO);
        assert_eq!(q("0.1Ki"), 102_400_000_000);
        assert_eq!(q("1e3"), 1_000 * NANO);
        assert_eq!(q("1E3"), 1_000 * NANO);
        assert_eq!(q("1.5e-3"), 1_500_000);
        assert_eq!(q("12e+2"), 1_200 * NANO);
        assert_eq!(q("+4"), 4 * NANO);
        assert_eq!(q("-1"), -NANO);
        assert_eq!(q("0"), 0);
        assert_eq!(q("0.0000000001"), 1, "finer than nano rounds up");
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1e3"), q("1k"));
    }

    #[test]
    fn bad_quantities_say_why_and_suggest() {
        let e = Quantity::parse("1GB").unwrap_err();
        assert!(e.message.contains("unknown suffix `GB`"), "{e}");
        assert_eq!(
            e.suggestion.as_deref(),
            Some("write 1Gi (binary, ×1024) or 1G (decimal, ×1000)")
        );
        assert!(
            Quantity::parse("512mb")
                .unwrap_err()
                .suggestion
                .unwrap()
                .contains("512Mi")
        );
        assert!(
            Quantity::parse("1K")
                .unwrap_err()
                .suggestion
                .unwrap()
                .contains("1Ki")
        );
        for bad in ["", "abc", "1.2.3", "Mi", "1 Gi x", "1e", "1e1000", "1Ei1"] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
        assert!(Quantity::parse("99999999999999999999999Ei").is_err());
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(Quantity::parse("1024Mi").unwrap().to_string(), "1Gi");
        assert_eq!(Quantity::parse("1500m").unwrap().to_string(), "1500m");
        assert_eq!(Quantity::parse("4").unwrap().to_string(), "4");
        assert_eq!(Quantity::parse("2000").unwrap().to_string(), "2k");
    }
}
