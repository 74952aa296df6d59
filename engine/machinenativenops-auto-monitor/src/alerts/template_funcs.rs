//! Prometheus' template functions for alert templates: `humanize` and friends, Go's `%g`,
//! and a `printf` that covers what rule annotations use.

use minijinja::value::Value;
use minijinja::{Error, ErrorKind};

/// A template argument as a number (numeric strings such as label values included).
pub fn to_f64(v: &Value) -> Result<f64, Error> {
    if let Some(s) = v.as_str() {
        return s.trim().parse::<f64>().map_err(|_| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("{s:?} is not a number"),
            )
        });
    }
    f64::try_from(v.clone())
        .map_err(|_| Error::new(ErrorKind::InvalidOperation, format!("{v} is not a number")))
}

/// Go's `%.4g`: 4 significant digits, exponent form outside 1e-4 ≤ |v| < 1e4.
pub fn fmt_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let prec = prec.max(1);
    let sci = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Prometheus' `humanize`: SI prefixes (k, M, G… and m, µ, n…).
pub fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return fmt_g(v, 4);
    }
    if v.abs() >= 1.0 {
        let mut v = v;
        let mut prefix = "";
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", fmt_g(v, 4));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", fmt_g(v, 4))
}

/// Prometheus' `humanize1024`: binary prefixes (Ki, Mi, …).
pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return fmt_g(v, 4);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", fmt_g(v, 4))
}

/// Prometheus' `humanizePercentage`: 0.1234 → `12.34%`.
pub fn humanize_percentage(v: f64) -> String {
    format!("{}%", fmt_g(v * 100.0, 4))
}

/// Prometheus' `humanizeDuration`: seconds → `1d 2h 3m 4s` (or ms/us/ns below a second).
pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return fmt_g(v, 4);
    }
    if v.abs() < 1.0 {
        if v == 0.0 {
            return "0s".into();
        }
        let mut v = v;
        for p in ["ms", "us", "ns", "ps", "fs", "as", "zs", "ys"] {
            v *= 1000.0;
            if v.abs() >= 1.0 {
                return format!("{}{p}", fmt_g(v, 4));
            }
        }
        return format!("{}ys", fmt_g(v, 4));
    }
    let sign = if v < 0.0 { "-" } else { "" };
    let a = v.abs();
    let secs = a % 60.0;
    let whole = a as u64;
    let (m, h, d) = ((whole / 60) % 60, (whole / 3600) % 24, whole / 86400);
    if d > 0 {
        format!("{sign}{d}d {h}h {m}m {:.0}s", secs.trunc())
    } else if h > 0 {
        format!("{sign}{h}h {m}m {:.0}s", secs.trunc())
    } else if m > 0 {
        format!("{sign}{m}m {:.0}s", secs.trunc())
    } else {
        format!("{sign}{}s", fmt_g(secs, 4))
    }
}

/// Prometheus' `humanizeTimestamp`: Unix seconds → UTC date and time.
pub fn humanize_timestamp(v: f64) -> String {
    if !v.is_finite() {
        return fmt_g(v, 4);
    }
    let ms = (v * 1000.0) as i64;
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.f +0000 UTC").to_string(),
        None => fmt_g(v, 4),
    }
}

/// Capitalise the first letter of each word (Go's `title`).
pub fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// A subset of Go's `fmt.Sprintf`: `%s %v %d %f %e %g %x %q %%`, width, precision, `-`/`0`.
pub fn printf(fmt: &str, args: &[Value]) -> Result<String, Error> {
    let mut out = String::new();
    let mut it = fmt.chars().peekable();
    let mut n = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = it.peek() {
            if "-+0 #".contains(f) {
                flags.push(f);
                it.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            it.next();
        }
        let mut prec: Option<usize> = None;
        if it.peek() == Some(&'.') {
            it.next();
            let mut p = String::new();
            while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                it.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(n) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        n += 1;
        let s = match verb {
            'd' => match to_f64(arg) {
                Ok(f) => format!("{}", f.trunc() as i64),
                Err(_) => format!("%!d({arg})"),
            },
            'f' | 'F' => format!("{:.*}", prec.unwrap_or(6), to_f64(arg)?),
            'e' => {
                let s = format!("{:.*e}", prec.unwrap_or(6), to_f64(arg)?);
                match s.split_once('e') {
                    Some((m, e)) => {
                        let e: i32 = e.parse().unwrap_or(0);
                        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
                    }
                    None => s,
                }
            }
            'g' => {
                let v = to_f64(arg)?;
                match prec {
                    Some(p) => fmt_g(v, p),
                    None => shortest(v),
                }
            }
            'x' => match to_f64(arg) {
                Ok(f) => format!("{:x}", f as i64),
                Err(_) => arg
                    .to_string()
                    .bytes()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            },
            'q' => format!("{:?}", arg.to_string()),
            's' | 'v' => {
                if let Ok(f) = f64::try_from(arg.clone())
                    && arg.as_str().is_none()
                {
                    shortest(f)
                } else {
                    let s = arg.to_string();
                    match prec {
                        Some(p) => s.chars().take(p).collect(),
                        None => s,
                    }
                }
            }
            other => format!("%!{other}({arg})"),
        };
        let w: usize = width.parse().unwrap_or(0);
        if s.chars().count() < w {
            let pad = w - s.chars().count();
            if flags.contains('-') {
                out.push_str(&s);
                out.push_str(&" ".repeat(pad));
            } else if flags.contains('0') && verb != 's' {
                let (sign, digits) = match s.strip_prefix('-') {
                    Some(d) => ("-", d),
                    None => ("", s.as_str()),
                };
                out.push_str(sign);
                out.push_str(&"0".repeat(pad));
                out.push_str(digits);
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(&s);
            }
        } else {
            out.push_str(&s);
        }
    }
    Ok(out)
}

/// Go's `%v` of a float: the shortest representation, exponent form for large/small values.
/// Go's `%v` of a float.
fn shortest(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return fmt_g(v, 4);
    }
    let e = v.abs().log10().floor() as i32;
    if !(-4..21).contains(&e) {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((m, x)) => {
                let x: i32 = x.parse().unwrap_or(0);
                format!("{m}e{}{:02}", if x < 0 { '-' } else { '+' }, x.abs())
            }
            None => s,
        }
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_functions_match_prometheus_outputs() {
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(1234.0), "1.234k");
        assert_eq!(humanize(0.001234), "1.234m");
        assert_eq!(humanize(12.0), "12");
        assert_eq!(humanize1024(2048.0), "2ki");
        assert_eq!(humanize_percentage(0.1234), "12.34%");
        assert_eq!(humanize_duration(3661.0), "1h 1m 1s");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(0.0012), "1.2ms");
        assert_eq!(fmt_g(1e-7, 4), "1e-07");
        assert_eq!(fmt_g(123456.0, 4), "1.235e+05");
        assert_eq!(humanize_timestamp(0.0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
