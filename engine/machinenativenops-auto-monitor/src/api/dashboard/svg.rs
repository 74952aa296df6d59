//! Line charts as inline SVG, drawn on the server.
//!
//! Our own small writer rather than plotters. Plotters would be cheap to build (with
//! `default-features = false` and `svg_backend`, `line_series`: 4 crates, 2.5 s for a debug
//! build on this machine), but it writes fixed colours and its own text: here colours come
//! from CSS classes (`s0`…`s7`, `grid`, `axis`) so one chart follows the page's light or dark
//! scheme, tick labels grow on narrow screens, and the legend is HTML (readable at 390 px,
//! where SVG text shrinks with the chart). Only numbers and escaped text go into the markup.

use std::fmt::Write;

use mno_common::web::esc;

/// Width and height of the chart's coordinate system (it scales to its box).
const W: f64 = 480.0;
const H: f64 = 190.0;
/// Plot area inside the axes.
const LEFT: f64 = 66.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// How a chart's values are written on its axis and in its legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// 0–100 %.
    Percent,
    /// Bytes per second (binary prefixes).
    BytesPerSecond,
    /// Seconds, shown as ms below one second.
    Seconds,
}

/// One line: its legend name and points (ms, value) in time order.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (Unix ms, value), ascending.
    pub points: Vec<(i64, f64)>,
}

/// A value with its unit, for axes and legends.
pub fn format_value(v: f64, unit: Unit) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    match unit {
        Unit::Percent => format!("{}%", trim(v, if v.abs() < 10.0 { 1 } else { 0 })),
        Unit::Seconds if v.abs() < 1.0 => format!("{} ms", trim(v * 1000.0, 1)),
        Unit::Seconds => format!("{} s", trim(v, 2)),
        Unit::BytesPerSecond => {
            let mut x = v;
            for p in ["B/s", "KiB/s", "MiB/s", "GiB/s"] {
                if x.abs() < 1024.0 {
                    return format!("{} {p}", trim(x, if x.abs() < 10.0 { 1 } else { 0 }));
                }
                x /= 1024.0;
            }
            format!("{} TiB/s", trim(x, 1))
        }
    }
}

/// `v` with at most `decimals` decimals, trailing zeros dropped.
fn trim(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A "nice" axis maximum and tick step for data up to `max` (1, 2, 2.5, 5 × 10^k; powers of
/// 1024 for bytes).
fn nice_axis(max: f64, unit: Unit) -> (f64, f64) {
    // An idle network still gets a readable axis (0–1 KiB/s, not fractions of a byte).
    let floor = if unit == Unit::BytesPerSecond {
        1024.0
    } else {
        0.0
    };
    let max = if max.is_finite() && max > 0.0 {
        max.max(floor)
    } else {
        floor.max(1.0)
    };
    // Bytes are ticked in the binary unit the axis labels use (KiB/s, MiB/s, …).
    let scale = if unit == Unit::BytesPerSecond {
        1024f64.powf(max.log(1024.0).floor().max(0.0))
    } else {
        1.0
    };
    let raw = max / scale / 4.0;
    let k = raw.log10().floor();
    let (base, mult) = (10f64.powf(k) * scale, raw / 10f64.powf(k));
    let m = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|m| *m >= mult)
        .unwrap_or(10.0);
    let step = m * base;
    ((max / step).ceil().max(1.0) * step, step)
}

/// Time tick spacing (ms) giving about five ticks over `span_ms`.
fn time_step(span_ms: i64) -> i64 {
    const STEPS: [i64; 12] = [
        60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000,
        21_600_000, 43_200_000, 86_400_000,
    ];
    STEPS
        .into_iter()
        .find(|s| span_ms / s <= 6)
        .unwrap_or(86_400_000)
}

/// The `HH:MM` (or `MM-DD` over several days) label of a time in UTC.
fn time_label(ms: i64, span_ms: i64) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return String::new();
    };
    if span_ms > 2 * 86_400_000 {
        t.format("%m-%d").to_string()
    } else {
        t.format("%H:%M").to_string()
    }
}

/// An SVG line chart of `series` over `[start_ms, end_ms]`. Gaps longer than `gap_ms` break
/// the line. Percent charts always span 0–100.
pub fn line_chart(
    label: &str,
    series: &[Series],
    unit: Unit,
    start_ms: i64,
    end_ms: i64,
    gap_ms: i64,
) -> String {
    let span = (end_ms - start_ms).max(1);
    let data_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let (ymax, ystep) = if unit == Unit::Percent {
        (100.0, 25.0)
    } else {
        nice_axis(data_max, unit)
    };
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x = |t: i64| LEFT + (t - start_ms) as f64 / span as f64 * pw;
    let y = |v: f64| TOP + ph - (v.clamp(0.0, ymax) / ymax) * ph;

    let mut s = String::with_capacity(4096);
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}">"#,
        esc(label)
    );
    // Horizontal grid lines with value labels.
    let mut v = 0.0;
    while v <= ymax + ystep / 2.0 {
        let yy = y(v);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 5.0,
            yy + 4.0,
            esc(&format_value(v, unit))
        );
        v += ystep;
    }
    // Time ticks.
    let step = time_step(span);
    let mut t = (start_ms / step + 1) * step;
    while t < end_ms {
        let xx = x(t);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{:.1}"/><text class="tick" x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            TOP + ph,
            H - 7.0,
            time_label(t, span)
        );
        t += step;
    }
    let _ = write!(
        s,
        r#"<line class="axis" x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
        TOP + ph,
        W - RIGHT,
        TOP + ph
    );
    let mut drawn = 0;
    for (i, ser) in series.iter().enumerate() {
        let mut d = String::new();
        let mut prev: Option<i64> = None;
        for &(t, v) in &ser.points {
            if !v.is_finite() || t < start_ms || t > end_ms {
                prev = None;
                continue;
            }
            let cmd = match prev {
                Some(p) if t - p <= gap_ms => 'L',
                _ => 'M',
            };
            let _ = write!(d, "{cmd}{:.1} {:.1}", x(t), y(v));
            prev = Some(t);
        }
        if d.is_empty() {
            continue;
        }
        drawn += 1;
        let _ = write!(
            s,
            r#"<path class="line s{}" d="{d}"><title>{}</title></path>"#,
            i % 8,
            esc(&ser.name)
        );
    }
    if drawn == 0 {
        let _ = write!(
            s,
            r#"<text class="empty" x="{:.1}" y="{:.1}" text-anchor="middle">no data in this range yet</text>"#,
            LEFT + pw / 2.0,
            TOP + ph / 2.0
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axes() {
        assert_eq!(nice_axis(7.3, Unit::Seconds), (8.0, 2.0));
        let (max, step) = nice_axis(0.042, Unit::Seconds);
        assert!(
            (max - 0.06).abs() < 1e-9 && (step - 0.02).abs() < 1e-9,
            "{max} {step}"
        );
        assert_eq!(nice_axis(0.0, Unit::Seconds), (1.0, 0.25));
        assert_eq!(nice_axis(0.0, Unit::BytesPerSecond), (1024.0, 256.0));
        let (max, step) = nice_axis(3.0 * 1024.0 * 1024.0, Unit::BytesPerSecond);
        assert!(
            max >= 3.0 * 1024.0 * 1024.0 && step >= 512.0 * 1024.0,
            "{max} {step}"
        );
    }

    #[test]
    fn values_carry_units() {
        assert_eq!(format_value(42.0, Unit::Percent), "42%");
        assert_eq!(format_value(2.25, Unit::Percent), "2.2%");
        assert_eq!(format_value(0.0123, Unit::Seconds), "12.3 ms");
        assert_eq!(format_value(1536.0, Unit::BytesPerSecond), "1.5 KiB/s");
        assert_eq!(format_value(f64::NAN, Unit::Percent), "–");
    }

    #[test]
    fn lines_break_at_gaps_and_escape_names() {
        let s = Series {
            name: "<eth0>".into(),
            points: vec![(0, 1.0), (1000, 2.0), (10_000, 3.0), (11_000, 4.0)],
        };
        let svg = line_chart("net", &[s], Unit::BytesPerSecond, 0, 12_000, 2000);
        let d = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 2, "{d}");
        assert!(svg.contains("<title>&lt;eth0&gt;</title>"));
        assert!(!svg.contains("no data"));
        let empty = line_chart("x", &[], Unit::Percent, 0, 1000, 10);
        assert!(empty.contains("no data in this range yet"));
        assert!(!empty.contains("<path"));
    }
}
