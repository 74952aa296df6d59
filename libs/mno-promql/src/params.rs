//! Request parameters as Prometheus' HTTP API reads them: timestamps as float
//! seconds or RFC 3339, durations as float seconds or `1h30m`-style strings.

/// Prometheus' smallest timestamp (ms), what `start` defaults to on metadata endpoints.
pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974_000;
/// Prometheus' largest timestamp (ms), what `end` defaults to on metadata endpoints.
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974_999;

const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// Parse a timestamp: float Unix seconds (rounded to the millisecond) or RFC 3339.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let err = || format!("cannot parse {s:?} to a valid timestamp");
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return Err(err());
        }
        let secs = f.trunc();
        let frac = ((f - secs) * 1000.0).round();
        let ms = secs * 1000.0 + frac;
        if ms < MIN_TIME_MS as f64 || ms > MAX_TIME_MS as f64 {
            return Err(err());
        }
        return Ok(ms as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    match s {
        MIN_TIME_FORMATTED => Ok(MIN_TIME_MS),
        MAX_TIME_FORMATTED => Ok(MAX_TIME_MS),
        _ => Err(err()),
    }
}

/// Parse a duration into nanoseconds: float seconds or a Prometheus duration (`1d2h30m15s250ms`).
pub fn parse_duration_ns(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ns = f * 1e9;
        if ns.is_nan() || ns >= i64::MAX as f64 || ns <= i64::MIN as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ns as i64);
    }
    parse_prom_duration_ms(s)
        .and_then(|ms| ms.checked_mul(1_000_000))
        .ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

/// Parse a Prometheus duration string (`5m`, `1h30m`, `2d`, `0`) into milliseconds.
pub fn parse_prom_duration_ms(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    // Units must appear in this order, each at most once (Prometheus' regex).
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let b = s.as_bytes();
    let mut i = 0;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return None;
        }
        let n: i64 = s[start..i].parse().ok()?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let pos = UNITS[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
        next_unit = pos + 1;
        total = total.checked_add(n.checked_mul(UNITS[pos].1)?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.1234"), Ok(1_700_000_000_123));
        assert_eq!(parse_time("1.5"), Ok(1500));
        assert_eq!(parse_time("-1.5"), Ok(-1500));
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51+02:00"),
            Ok(1_435_781_451_000)
        );
        assert_eq!(parse_time(MIN_TIME_FORMATTED), Ok(MIN_TIME_MS));
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("NaN").is_err());
        assert!(parse_time("1e300").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("15"), Ok(15_000_000_000));
        assert_eq!(parse_duration_ns("0.5"), Ok(500_000_000));
        assert_eq!(parse_duration_ns("15s"), Ok(15_000_000_000));
        assert_eq!(parse_prom_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_prom_duration_ms("1d2h3m4s5ms"), Some(93_784_005));
        assert_eq!(parse_prom_duration_ms("0"), Some(0));
        assert_eq!(parse_prom_duration_ms("1y"), Some(31_536_000_000));
        assert_eq!(parse_prom_duration_ms("30m1h"), None);
        assert_eq!(parse_prom_duration_ms("5x"), None);
        assert_eq!(parse_prom_duration_ms(""), None);
        assert!(parse_duration_ns("1e300").is_err());
        assert!(parse_duration_ns("abc").is_err());
    }
}
