//! Durations written the way Prometheus and Alertmanager write them (`90s`, `1h30m`, `500ms`),
//! or as a plain number of seconds (the seed's shorthand `duration: 60`).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration with Prometheus' text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    /// A duration of `s` seconds.
    pub const fn secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }

    /// Milliseconds, saturating.
    pub fn as_millis_i64(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }

    /// Whether it is zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

/// Parse `1h30m`, `5m`, `500ms`, `2d`, `1w`, `1y`, or a number of seconds (`60`, `0.5`).
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if t.starts_with('-') {
        return Err(format!("{t:?}: a duration must not be negative"));
    }
    if let Ok(n) = t.parse::<f64>() {
        return secs_f64(n).ok_or_else(|| format!("{t:?}: not a valid number of seconds"));
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "{t:?}: not a duration (use e.g. 30s, 5m, 1h30m, 500ms)"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{t:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            "" => {
                return Err(format!(
                    "{t:?}: missing unit after {n} (ms, s, m, h, d, w, y)"
                ));
            }
            u => return Err(format!("{t:?}: unknown unit {u:?} (ms, s, m, h, d, w, y)")),
        };
        let add = n
            .checked_mul(ms)
            .ok_or_else(|| format!("{t:?}: duration too large"))?;
        total = total
            .checked_add(Duration::from_millis(add))
            .ok_or_else(|| format!("{t:?}: duration too large"))?;
    }
    Ok(total)
}

fn secs_f64(n: f64) -> Option<Duration> {
    (0.0..1e12).contains(&n).then(|| Duration::from_secs_f64(n))
}

/// Prometheus' text form: `1h30m`, `500ms`, `0s`.
pub fn format(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, len) in [
        ("y", 365 * 86_400_000u128),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= len {
            out.push_str(&format!("{}{unit}", ms / len));
            ms %= len;
        }
    }
    out
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format(self.0))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(self.0))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 30s, 5m, 1h30m or a number of seconds")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Dur, E> {
                parse(v).map(Dur).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dur, E> {
                Ok(Dur(Duration::from_secs(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dur, E> {
                if v < 0 {
                    return Err(E::custom(format!("{v}: a duration must not be negative")));
                }
                Ok(Dur(Duration::from_secs(v as u64)))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Dur, E> {
                if v < 0.0 {
                    return Err(E::custom(format!("{v}: a duration must not be negative")));
                }
                secs_f64(v)
                    .map(Dur)
                    .ok_or_else(|| E::custom(format!("{v}: not a valid number of seconds")))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: `30s`, `5m`, `1h30m`, `500ms` (units ms, s, m, h, d, w, y) or a number of seconds.",
            "anyOf": [
                { "type": "string", "pattern": "^([0-9]+(ms|s|m|h|d|w|y))+$|^[0-9]+(\\.[0-9]+)?$" },
                { "type": "number", "minimum": 0 }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_forms_round_trip() {
        for (s, ms) in [
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            ("0s", 0),
            ("60", 60_000),
            ("1.5", 1_500),
            ("1d", 86_400_000),
        ] {
            assert_eq!(parse(s).unwrap().as_millis(), ms, "{s}");
        }
        assert_eq!(format(Duration::from_millis(5_400_500)), "1h30m500ms");
        assert!(parse("-5m").unwrap_err().contains("negative"));
        assert!(parse("5x").is_err());
        assert!(parse("m5").is_err());
        assert!(parse("5").is_ok());
    }
}
