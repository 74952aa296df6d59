//! `GET /`: the dashboard. One HTML page rendered on the server from the latest tick (host
//! summary, collector and HTTP-check status), the local store (charts over a chosen range)
//! and the alert engine (active alerts, recent episodes). No script and no external asset:
//! charts are inline SVG ([`svg`]), the page reloads itself with `<meta http-equiv=refresh>`,
//! and CSS follows `prefers-color-scheme`.

pub mod svg;

use std::fmt::Write;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use mno_promql::{QueryOptions, Storage, Value};

use super::AppState;
use crate::metrics::Batch;
use mno_common::web::esc;
use svg::{Series, Unit, format_value, line_chart};

/// Seconds between the page's own reloads.
pub const REFRESH_SECONDS: u64 = 15;

/// Most lines on one chart (the largest are kept).
const MAX_SERIES: usize = 8;

/// Recent alert episodes listed.
const HISTORY_ROWS: usize = 15;

/// The ranges the page offers: (parameter, milliseconds).
pub const RANGES: [(&str, i64); 6] = [
    ("5m", 300_000),
    ("15m", 900_000),
    ("1h", 3_600_000),
    ("6h", 21_600_000),
    ("24h", 86_400_000),
    ("7d", 604_800_000),
];

/// The dashboard: host summary, charts over `range`, alerts, collector status.
#[utoipa::path(
    get,
    path = "/",
    tag = "ui",
    operation_id = "dashboard",
    params(
        ("range" = Option<String>, Query, description = "Chart range: 5m, 15m, 1h (default), 6h, 24h or 7d",
         pattern = "^(5m|15m|1h|6h|24h|7d)$"),
    ),
    responses(
        (status = 200, description = "The HTML dashboard", content_type = "text/html; charset=utf-8", body = String),
        (status = 400, description = "Unknown range", body = super::openapi::ErrorBody),
        (status = 500, description = "The page could not be built", body = super::openapi::ErrorBody),
    )
)]
pub async fn dashboard(State(st): State<Arc<AppState>>, uri: Uri) -> Response {
    let mut range = ("1h", 3_600_000);
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if k == "range" {
            match RANGES.iter().find(|(n, _)| *n == v) {
                Some(r) => range = *r,
                None => {
                    return super::error(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        format!(
                            "range: {v:?} is not one of {}",
                            RANGES.map(|r| r.0).join(", ")
                        ),
                    );
                }
            }
        }
    }
    let st = st.clone();
    match tokio::task::spawn_blocking(move || render(&st, range, now_ms())).await {
        Ok(html) => {
            let mut resp = html.into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => super::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("dashboard: {e}"),
        ),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One chart: what it queries and how its lines are named.
struct ChartDef {
    id: &'static str,
    title: &'static str,
    unit: Unit,
    /// (PromQL, legend suffix); each result series is named by `label` plus the suffix.
    queries: &'static [(&'static str, &'static str)],
    /// The label naming a line (`None`: the chart's title).
    label: Option<&'static str>,
    /// Shown when no series exists at all.
    empty: &'static str,
}

const CHARTS: [ChartDef; 5] = [
    ChartDef {
        id: "cpu",
        title: "CPU usage",
        unit: Unit::Percent,
        queries: &[("mno_cpu_usage_percent", "")],
        label: None,
        empty: "",
    },
    ChartDef {
        id: "memory",
        title: "Memory usage",
        unit: Unit::Percent,
        queries: &[("mno_memory_usage_percent", "")],
        label: None,
        empty: "",
    },
    ChartDef {
        id: "disk",
        title: "Disk usage",
        unit: Unit::Percent,
        queries: &[("mno_disk_usage_percent", "")],
        label: Some("mountpoint"),
        empty: "",
    },
    ChartDef {
        id: "network",
        title: "Network",
        unit: Unit::BytesPerSecond,
        queries: &[
            (
                "mno_network_receive_bytes_per_second{device!=\"lo\"}",
                " rx",
            ),
            (
                "mno_network_transmit_bytes_per_second{device!=\"lo\"}",
                " tx",
            ),
        ],
        label: Some("device"),
        empty: "",
    },
    ChartDef {
        id: "latency",
        title: "Service latency",
        unit: Unit::Seconds,
        queries: &[("mno_service_response_time_seconds", "")],
        label: Some("service"),
        empty: "No HTTP checks are configured (services: in the configuration).",
    },
];

/// The series of one chart over the range, largest first, at most [`MAX_SERIES`].
fn chart_series(
    store: &dyn Storage,
    def: &ChartDef,
    start: i64,
    end: i64,
    step: i64,
) -> Result<Vec<Series>, String> {
    let mut out = Vec::new();
    for (expr, suffix) in def.queries {
        let v = mno_promql::range_query(store, expr, start, end, step, &QueryOptions::default())
            .map_err(|e| e.to_string())?;
        let Value::Matrix(m) = v else { continue };
        for s in m {
            let base = match def.label {
                None => def.title.to_string(),
                Some(l) => s
                    .labels
                    .iter()
                    .find(|(k, _)| k == l)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            };
            out.push(Series {
                name: format!("{base}{suffix}"),
                points: s.samples,
            });
        }
    }
    let peak = |s: &Series| s.points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    out.sort_by(|a, b| peak(b).total_cmp(&peak(a)).then(a.name.cmp(&b.name)));
    out.truncate(MAX_SERIES);
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The latest value of `name` with the given labels in the batch.
fn latest(batch: Option<&Batch>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    batch?.family(name)?.value(labels)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn duration_words(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn bytes_words(b: f64) -> String {
    let mut x = b;
    for p in ["B", "KiB", "MiB", "GiB", "TiB"] {
        if x < 1024.0 {
            return format!("{x:.1} {p}");
        }
        x /= 1024.0;
    }
    format!("{x:.1} PiB")
}

/// A value for people: at most four significant digits, no exponent for everyday sizes.
fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e9).contains(&a) {
        return format!("{v:.3e}");
    }
    let decimals = if a >= 1000.0 {
        0
    } else {
        (3 - a.log10().floor().max(-3.0) as i32).clamp(0, 6) as usize
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `2026-12-03T12:26:27.674Z` as `2026-12-03 12:26:27`.
fn short_time(rfc3339: &str) -> String {
    rfc3339.replacen('T', " ", 1).chars().take(19).collect()
}

fn rfc3339_ms(ms: i64) -> String {
    crate::alerts::history::rfc3339(ms)
}

/// A summary card.
fn card(out: &mut String, label: &str, value: &str, note: &str, class: &str) {
    let _ = write!(
        out,
        r#"<div class="card {class}"><div class="label">{}</div><div class="value">{}</div><div class="note">{}</div></div>"#,
        esc(label),
        esc(value),
        esc(note)
    );
}

/// The whole page.
fn render(st: &AppState, range: (&str, i64), now: i64) -> String {
    let snap = st.snapshots.borrow().clone();
    let batch = snap.as_ref().map(|s| s.batch.as_ref());
    let mut h = String::with_capacity(64 * 1024);
    h.push_str(&mno_common::web::head(
        &format!("Auto-Monitor · {}", host_name()),
        REFRESH_SECONDS,
        CSS,
    ));
    // Header and range selector.
    let _ = write!(
        h,
        r#"<header><h1>Auto-Monitor <span class="host">{}</span></h1><nav class="ranges" aria-label="range">"#,
        esc(&host_name())
    );
    for (name, _) in RANGES {
        let cls = if name == range.0 { " class=\"on\"" } else { "" };
        let _ = write!(h, r#"<a{cls} href="/?range={name}">{name}</a>"#);
    }
    let _ = write!(
        h,
        r#"</nav><nav class="links"><a href="/docs/">API docs</a><a href="/metrics">/metrics</a><a href="/api/v1/alerts">alerts JSON</a></nav></header><main>"#
    );

    summary(&mut h, batch, st, now);

    // Charts.
    let start = now - range.1;
    // About 240 points per line, never finer than a second.
    let step = (range.1 / 240).max(1000) / 1000 * 1000;
    h.push_str(r#"<section class="charts">"#);
    for def in &CHARTS {
        let _ = write!(
            h,
            r#"<figure class="panel" id="chart-{}"><figcaption>{} <span class="range">last {}</span></figcaption>"#,
            def.id,
            esc(def.title),
            range.0
        );
        let series = match &st.store {
            None => Err("the local store is not open".to_string()),
            Some(store) => chart_series(store.as_ref(), def, start, now, step),
        };
        match series {
            Err(e) => {
                let _ = write!(
                    h,
                    r#"<p class="muted">cannot read the store: {}</p>"#,
                    esc(&e)
                );
            }
            Ok(series) if series.is_empty() && !def.empty.is_empty() => {
                let _ = write!(h, r#"<p class="muted">{}</p>"#, esc(def.empty));
            }
            Ok(series) => {
                h.push_str(&line_chart(
                    def.title,
                    &series,
                    def.unit,
                    start,
                    now,
                    step * 3 / 2 + 1000,
                ));
                h.push_str(r#"<ul class="legend">"#);
                for (i, s) in series.iter().enumerate() {
                    let last = s.points.last().map(|p| p.1).unwrap_or(f64::NAN);
                    let _ = write!(
                        h,
                        r#"<li><span class="sw s{}"></span>{} <b>{}</b></li>"#,
                        i % 8,
                        esc(&s.name),
                        esc(&format_value(last, def.unit))
                    );
                }
                h.push_str("</ul>");
            }
        }
        h.push_str("</figure>");
    }
    h.push_str("</section>");

    alerts(&mut h, st, now);
    collectors(&mut h, batch);

    let _ = write!(
        h,
        r#"</main><footer>machinenativenops-auto-monitor {} · page built {} UTC · reloads every {REFRESH_SECONDS} s</footer></body></html>"#,
        env!("CARGO_PKG_VERSION"),
        esc(&chrono::DateTime::from_timestamp_millis(now)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default())
    );
    h
}

fn summary(h: &mut String, batch: Option<&Batch>, st: &AppState, now: i64) {
    h.push_str(r#"<section class="cards" id="summary">"#);
    let Some(b) = batch else {
        card(
            h,
            "Status",
            "starting",
            "the first collection has not finished yet",
            "warn",
        );
        h.push_str("</section>");
        return;
    };
    let pct = |v: Option<f64>| v.map(|v| format!("{v:.1}%")).unwrap_or_else(|| "–".into());
    let level = |v: Option<f64>| match v {
        Some(v) if v >= 90.0 => "bad",
        Some(v) if v >= 75.0 => "warn",
        _ => "",
    };
    let cpu = latest(batch, "mno_cpu_usage_percent", &[]);
    card(h, "CPU", &pct(cpu), "of all CPUs", level(cpu));
    let mem = latest(batch, "mno_memory_usage_percent", &[]);
    let total = latest(batch, "node_memory_MemTotal_bytes", &[])
        .map(|t| format!("of {}", bytes_words(t)))
        .unwrap_or_default();
    card(h, "Memory", &pct(mem), &total, level(mem));
    let disk = b.family("mno_disk_usage_percent").and_then(|f| {
        f.samples
            .iter()
            .max_by(|a, b| a.value.total_cmp(&b.value))
            .map(|s| {
                let mp = s
                    .labels
                    .iter()
                    .find(|(k, _)| k == "mountpoint")
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("");
                (s.value, format!("fullest: {mp}"))
            })
    });
    card(
        h,
        "Disk",
        &pct(disk.as_ref().map(|d| d.0)),
        disk.as_ref().map(|d| d.1.as_str()).unwrap_or(""),
        level(disk.as_ref().map(|d| d.0)),
    );
    let load = ["node_load1", "node_load5", "node_load15"].map(|n| {
        latest(batch, n, &[])
            .map(|v| format!("{v:.2}"))
            .unwrap_or_else(|| "–".into())
    });
    card(
        h,
        "Load",
        &load[0],
        &format!("5m {} 15m {}", load[1], load[2]),
        "",
    );
    if let Some(boot) = latest(batch, "node_boot_time_seconds", &[]) {
        card(
            h,
            "Uptime",
            &duration_words(now as f64 / 1000.0 - boot),
            "since boot",
            "",
        );
    }
    let (mut ok, mut all) = (0, 0);
    if let Some(f) = b.family("mno_collector_success") {
        for s in &f.samples {
            all += 1;
            if s.value == 1.0 {
                ok += 1;
            }
        }
    }
    card(
        h,
        "Collectors",
        &format!("{ok}/{all}"),
        "ok on the last tick",
        if ok < all { "bad" } else { "" },
    );
    if let Some(e) = &st.alerts {
        let sh = e.shared();
        let core = sh.core();
        let live = core.live_alerts();
        let firing = live
            .iter()
            .filter(|(_, a)| a.state == crate::alerts::state::AlertState::Firing)
            .count();
        card(
            h,
            "Alerts",
            &firing.to_string(),
            &format!("firing · {} pending", live.len() - firing),
            if firing > 0 { "bad" } else { "" },
        );
    }
    let at = b
        .collected_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    card(
        h,
        "Last tick",
        &format!("{} ago", duration_words((now - at) as f64 / 1000.0)),
        &latest(batch, "mno_collection_duration_seconds", &[])
            .map(|d| format!("took {}", format_value(d, Unit::Seconds)))
            .unwrap_or_default(),
        "",
    );
    h.push_str("</section>");
}

fn label<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn alerts(h: &mut String, st: &AppState, now: i64) {
    h.push_str(r#"<section class="panel" id="alerts"><h2>Active alerts</h2>"#);
    let Some(e) = &st.alerts else {
        h.push_str(r#"<p class="muted">Alerting is not running.</p></section>"#);
        return;
    };
    let sh = e.shared();
    let core = sh.core();
    let live = core.live_alerts();
    if live.is_empty() {
        h.push_str(r#"<p class="muted">No alert is pending or firing.</p>"#);
    } else {
        h.push_str(r#"<div class="scroll"><table class="active"><thead><tr><th>alert</th><th>severity</th><th>state</th><th>since</th><th>value</th><th>summary</th></tr></thead><tbody>"#);
        for (key, a) in &live {
            let ann = core.annotations(key, a);
            let summary = ann
                .get("summary")
                .or_else(|| ann.get("description"))
                .cloned()
                .unwrap_or_default();
            let silenced = if core.silences.silenced(&a.labels, now) {
                " (silenced)"
            } else {
                ""
            };
            let _ = write!(
                h,
                r#"<tr><td>{}</td><td>{}</td><td class="st-{}">{}{silenced}</td><td title="{}">{}</td><td>{}</td><td class="wrap">{}</td></tr>"#,
                esc(label(&a.labels, "alertname")),
                esc(label(&a.labels, "severity")),
                a.state.as_str(),
                a.state.as_str(),
                esc(&rfc3339_ms(a.active_at)),
                esc(&format!(
                    "{} ago",
                    duration_words((now - a.active_at) as f64 / 1000.0)
                )),
                esc(&number(a.value)),
                esc(&summary)
            );
        }
        h.push_str("</tbody></table></div>");
    }
    h.push_str("<h2>Recent history</h2>");
    let q = crate::alerts::history::HistoryQuery {
        limit: HISTORY_ROWS,
        ..Default::default()
    };
    match core.db.query(&q) {
        Err(err) => {
            let _ = write!(
                h,
                r#"<p class="muted">history unavailable: {}</p>"#,
                esc(&err.to_string())
            );
        }
        Ok(rows) if rows.is_empty() => {
            h.push_str(r#"<p class="muted">No alert has fired yet.</p>"#);
        }
        Ok(rows) => {
            h.push_str(r#"<div class="scroll"><table class="history"><thead><tr><th>alert</th><th>severity</th><th>started</th><th>resolved</th><th>peak</th><th>repairs</th></tr></thead><tbody>"#);
            for r in rows {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&r.alertname),
                    esc(&r.severity),
                    esc(&short_time(&r.started_at)),
                    esc(&r
                        .resolved_at
                        .as_deref()
                        .map(short_time)
                        .unwrap_or("open".into())),
                    r.peak_value.map(number).unwrap_or_default(),
                    r.repair_attempts
                );
            }
            h.push_str("</tbody></table></div>");
        }
    }
    h.push_str("</section>");
}

fn collectors(h: &mut String, batch: Option<&Batch>) {
    h.push_str(r#"<section class="panel" id="collectors"><h2>Collectors</h2>"#);
    let Some(f) = batch.and_then(|b| b.family("mno_collector_success")) else {
        h.push_str(r#"<p class="muted">No collection yet.</p></section>"#);
        return;
    };
    h.push_str(r#"<div class="scroll"><table><thead><tr><th>collector</th><th>status</th><th>duration</th></tr></thead><tbody>"#);
    for s in &f.samples {
        let name = label(&s.labels, "collector");
        let took = latest(
            batch,
            "mno_collector_duration_seconds",
            &[("collector", name)],
        )
        .map(|d| format_value(d, Unit::Seconds))
        .unwrap_or_default();
        let (cls, word) = if s.value == 1.0 {
            ("ok", "ok")
        } else {
            ("bad", "failed")
        };
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td class="{cls}">{word}</td><td>{}</td></tr>"#,
            esc(name),
            esc(&took)
        );
    }
    h.push_str("</tbody></table></div>");
    if let Some(up) = batch.and_then(|b| b.family("mno_service_up"))
        && !up.samples.is_empty()
    {
        h.push_str(r#"<h2>HTTP checks</h2><div class="scroll"><table><thead><tr><th>service</th><th>status</th><th>HTTP</th><th>latency</th></tr></thead><tbody>"#);
        for s in &up.samples {
            let name = label(&s.labels, "service");
            let code = latest(batch, "mno_service_http_status", &[("service", name)])
                .map(|c| format!("{c:.0}"))
                .unwrap_or_default();
            let rt = latest(
                batch,
                "mno_service_response_time_seconds",
                &[("service", name)],
            )
            .map(|d| format_value(d, Unit::Seconds))
            .unwrap_or_default();
            let (cls, word) = if s.value == 1.0 {
                ("ok", "up")
            } else {
                ("bad", "down")
            };
            let _ = write!(
                h,
                r#"<tr><td>{}</td><td class="{cls}">{word}</td><td>{}</td><td>{}</td></tr>"#,
                esc(name),
                esc(&code),
                esc(&rt)
            );
        }
        h.push_str("</tbody></table></div>");
    }
    h.push_str("</section>");
}

/// Chart and summary styles on top of [`mno_common::web::BASE_CSS`].
const CSS: &str = r#"
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(135px,1fr));gap:10px}
.card{background:var(--panel);border:1px solid var(--border);border-radius:8px;padding:10px 12px;border-left:4px solid var(--border)}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.card .note{color:var(--muted);font-size:12px}
.card.warn{border-left-color:var(--warn)}.card.bad{border-left-color:var(--bad)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,460px),1fr));gap:16px}
figcaption{font-weight:600;margin-bottom:6px}
figcaption .range{color:var(--muted);font-weight:400;font-size:12px}
svg.chart{width:100%;height:auto;display:block}
svg .grid{stroke:var(--grid);stroke-width:1}
svg .axis{stroke:var(--muted);stroke-width:1}
svg .tick{fill:var(--muted);font-size:11px}
svg .empty{fill:var(--muted);font-size:13px}
svg .line{fill:none;stroke-width:1.8;stroke-linejoin:round;stroke-linecap:round}
.s0{stroke:var(--c0);background:var(--c0)}.s1{stroke:var(--c1);background:var(--c1)}.s2{stroke:var(--c2);background:var(--c2)}.s3{stroke:var(--c3);background:var(--c3)}
.s4{stroke:var(--c4);background:var(--c4)}.s5{stroke:var(--c5);background:var(--c5)}.s6{stroke:var(--c6);background:var(--c6)}.s7{stroke:var(--c7);background:var(--c7)}
ul.legend{list-style:none;margin:6px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px}
ul.legend b{font-weight:600;font-variant-numeric:tabular-nums}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.panel h2{margin-top:14px}.panel h2:first-child{margin-top:4px}
@media (max-width:600px){
table.active :is(th,td):is(:nth-child(2),:nth-child(4),:nth-child(6)),
table.history :is(th,td):is(:nth-child(2),:nth-child(5),:nth-child(6)){display:none}
td.wrap{min-width:0}}
@media (max-width:600px){svg .tick{font-size:15px}svg .empty{font-size:17px}.card .value{font-size:19px}}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(number(98.50746268680219), "98.51");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1234.56), "1235");
        assert_eq!(number(0.012345), "0.01235");
        assert_eq!(number(3.0e12), "3.000e12");
        assert_eq!(
            short_time("2026-12-03T12:26:27.674Z"),
            "2026-12-03 12:26:27"
        );
        assert_eq!(duration_words(7300.0), "2h 1m");
    }
}
