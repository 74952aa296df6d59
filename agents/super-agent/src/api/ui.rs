//! The web page: `GET /ui` lists recent gate runs and incidents; `GET /ui/gates/{id}` shows one
//! run with its report rendered (every check, every finding, the summary and the evidence).
//! Rendered on the server from the state store; no script, no external asset; reloads itself.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use mno_common::web::{esc, head};
use serde::Serialize;

use super::error::ApiError;
use super::extract::PathParams;
use super::{App, views};
use crate::gate_handler;
use crate::state::{IncidentRecord, JobRecord};

/// Seconds between the page's own reloads.
const REFRESH_SECONDS: u64 = 15;
/// Rows of each list.
const ROWS: usize = 50;

const CSS: &str = r#"
.badge{display:inline-block;padding:0 7px;border-radius:10px;font-size:12px;font-weight:600;border:1px solid currentColor}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0}
dt{color:var(--muted)}dd{margin:0;word-break:break-all}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
@media (max-width:600px){
table.runs :is(th,td):is(:nth-child(3),:nth-child(4),:nth-child(5),:nth-child(7),:nth-child(8)),
table.incidents :is(th,td):is(:nth-child(1),:nth-child(4),:nth-child(5),:nth-child(6),:nth-child(7)),
table.checks :is(th,td):is(:nth-child(4),:nth-child(5)),
table.findings :is(th,td):is(:nth-child(2),:nth-child(5)){display:none}
td.wrap{min-width:0}}
"#;

fn html(body: String) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The serde name of a value (`"critical"`, `"FAILED"`).
fn word<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn header_html(h: &mut String, title: &str) {
    let _ = write!(
        h,
        r#"<header><h1>SuperAgent <span class="host">{}</span></h1><nav class="links"><a href="/ui">runs &amp; incidents</a><a href="/docs/">API docs</a><a href="/metrics">/metrics</a><a href="/ready">/ready</a></nav></header><main>"#,
        esc(title)
    );
}

fn footer(h: &mut String) {
    let _ = write!(
        h,
        "</main><footer>super-agent {} · page built {} · reloads every {REFRESH_SECONDS} s</footer></body></html>",
        env!("CARGO_PKG_VERSION"),
        esc(&crate::now_rfc3339())
    );
}

/// `1 warning`, `2 warnings`.
fn count(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn status_cell(status: &str) -> String {
    format!(
        r#"<td class="st-{}"><span class="badge">{}</span></td>"#,
        esc(&status.to_ascii_lowercase()),
        esc(status)
    )
}

/// Recent gate runs and incidents.
#[utoipa::path(
    get,
    path = "/ui",
    tag = "ui",
    operation_id = "ui",
    responses(
        (status = 200, description = "The HTML page", content_type = "text/html; charset=utf-8", body = String),
        (status = 500, description = "The state store failed", body = super::openapi::ErrorBody),
    )
)]
pub(crate) async fn page(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let jobs = app.store.list_jobs(ROWS)?;
    let incidents = app.store.list_incidents(ROWS)?;
    let mut h = head("SuperAgent", REFRESH_SECONDS, CSS);
    header_html(&mut h, "runs and incidents");
    gates_table(&mut h, &jobs);
    incidents_table(&mut h, &incidents);
    footer(&mut h);
    Ok(html(h))
}

fn gates_table(h: &mut String, jobs: &[JobRecord]) {
    let _ = write!(h, r#"<section class="panel" id="gates"><h2>Gate runs</h2>"#);
    if jobs.is_empty() {
        h.push_str(r#"<p class="muted">No gate has run yet (POST /api/v1/gates or a GateValidationRequest message).</p></section>"#);
        return;
    }
    h.push_str(r#"<div class="scroll"><table class="runs"><thead><tr><th>run</th><th>status</th><th>repository</th><th>PR</th><th>commit</th><th>findings</th><th>created</th><th>finished</th></tr></thead><tbody>"#);
    for j in jobs {
        let shown = match &j.response {
            Some(r) => r.overall_status.as_str(),
            None => j.status.as_str(),
        };
        let (repo, pr, sha) = match (&j.response, &j.request) {
            (Some(r), _) => (
                r.metadata.repository.clone(),
                r.metadata.pr_number.to_string(),
                r.metadata.commit_sha.clone(),
            ),
            (None, Some(q)) => (
                q.metadata.repository.clone(),
                q.metadata.pr_number.to_string(),
                q.metadata.commit_sha.clone(),
            ),
            _ => Default::default(),
        };
        let findings = j
            .response
            .as_ref()
            .map(|r| {
                format!(
                    "{}, {}",
                    count(r.summary.errors, "error"),
                    count(r.summary.warnings, "warning")
                )
            })
            .unwrap_or_default();
        let _ = write!(
            h,
            r#"<tr><td><a href="/ui/gates/{id}">{id}</a></td>{}<td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            status_cell(shown),
            esc(&repo),
            esc(&pr),
            esc(&sha.chars().take(12).collect::<String>()),
            esc(&findings),
            esc(&j.created_at),
            esc(j.finished_at.as_deref().unwrap_or("")),
            id = esc(&j.validation_id),
        );
    }
    h.push_str("</tbody></table></div></section>");
}

fn incidents_table(h: &mut String, incidents: &[IncidentRecord]) {
    h.push_str(r#"<section class="panel" id="incidents"><h2>Incidents</h2>"#);
    if incidents.is_empty() {
        h.push_str(r#"<p class="muted">No incident received (IncidentSignal messages on POST /message).</p></section>"#);
        return;
    }
    h.push_str(r#"<div class="scroll"><table class="incidents"><thead><tr><th>#</th><th>alert</th><th>severity</th><th>status</th><th>received</th><th>from</th><th>namespace / cluster</th><th>summary</th></tr></thead><tbody>"#);
    for i in incidents {
        let s = &i.signal;
        let summary = s
            .annotations
            .get("summary")
            .or_else(|| s.annotations.get("description"))
            .cloned()
            .unwrap_or_default();
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td>{}</td><td class="st-{sev}">{sev}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td><td class="wrap">{}</td></tr>"#,
            i.id,
            esc(&s.alert_name),
            esc(s.status.as_str()),
            esc(&i.received_at),
            esc(&i.source_agent),
            esc(&i.context.namespace),
            esc(&i.context.cluster),
            esc(&summary),
            sev = esc(s.severity.as_str()),
        );
    }
    h.push_str("</tbody></table></div></section>");
}

fn unknown_job(id: &str) -> ApiError {
    ApiError::not_found("unknown_validation_id", format!("no gate job {id:?}"))
}

/// One gate run with its report rendered.
#[utoipa::path(
    get,
    path = "/ui/gates/{validation_id}",
    tag = "ui",
    operation_id = "ui_gate",
    params(("validation_id" = String, Path, description = "gate-<pr_number>-<sha8>")),
    responses(
        (status = 200, description = "The HTML page", content_type = "text/html; charset=utf-8", body = String),
        (status = 404, description = "No such job", body = super::openapi::ErrorBody),
        (status = 500, description = "The state store failed", body = super::openapi::ErrorBody),
    )
)]
pub(crate) async fn gate_page(
    State(app): State<Arc<App>>,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    if !gate_handler::is_validation_id(&id) {
        return Err(unknown_job(&id));
    }
    let job = app.store.get_job(&id)?.ok_or_else(|| unknown_job(&id))?;
    let refresh = if job.status.is_done() {
        0
    } else {
        REFRESH_SECONDS
    };
    let mut h = head(&format!("SuperAgent · {id}"), refresh, CSS);
    header_html(&mut h, &id);
    render_job(&mut h, &job);
    footer(&mut h);
    Ok(html(h))
}

fn render_job(h: &mut String, job: &JobRecord) {
    let shown = job
        .response
        .as_ref()
        .map(|r| r.overall_status.as_str())
        .unwrap_or(job.status.as_str());
    let _ = write!(
        h,
        r#"<section class="panel" id="job"><h2>{} <span class="st-{} badge">{}</span></h2><dl>"#,
        esc(&job.validation_id),
        esc(&shown.to_ascii_lowercase()),
        esc(shown)
    );
    let mut row = |k: &str, v: &str| {
        if !v.is_empty() {
            let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
        }
    };
    row("job status", job.status.as_str());
    if let Some(r) = &job.response {
        row("repository", &r.metadata.repository);
        row("pull request", &r.metadata.pr_number.to_string());
        row("commit", &r.metadata.commit_sha);
    }
    row("requested by", &job.source_agent);
    row("trace id", &job.trace_id);
    row("created", &job.created_at);
    row("started", job.started_at.as_deref().unwrap_or(""));
    row("finished", job.finished_at.as_deref().unwrap_or(""));
    row("root", job.root.as_deref().unwrap_or(""));
    row("error", job.error.as_deref().unwrap_or(""));
    h.push_str("</dl>");
    if !job.reports.is_empty() {
        h.push_str(r#"<p>Report files: "#);
        for name in &job.reports {
            let _ = write!(
                h,
                r#"<a href="{}">{}</a> "#,
                esc(&views::report_url(&job.validation_id, name)),
                esc(name)
            );
        }
        h.push_str("</p>");
    }
    h.push_str("</section>");
    let Some(r) = &job.response else {
        h.push_str(r#"<section class="panel"><p class="muted">No report yet: the job has not finished.</p></section>"#);
        return;
    };
    let _ = write!(
        h,
        r#"<section class="panel" id="report"><h2>Report</h2><p>{} · {} · {} · finished {}</p>"#,
        count(r.summary.errors, "error"),
        count(r.summary.warnings, "warning"),
        count(r.summary.notes, "note"),
        esc(&r.timestamp)
    );
    if let Some(e) = &r.error {
        let _ = write!(h, r#"<p class="bad">{}</p>"#, esc(e));
    }
    for w in &r.config_warnings {
        let _ = write!(h, r#"<p class="warn">{}</p>"#, esc(w));
    }
    h.push_str(r#"<div class="scroll"><table class="checks"><thead><tr><th>check</th><th>status</th><th>findings</th><th>duration</th><th>detail</th></tr></thead><tbody>"#);
    for (name, c) in &r.validation_results {
        let _ = write!(
            h,
            r##"<tr><td><a href="#check-{n}">{n}</a></td>{}<td>{}</td><td>{} ms</td><td class="wrap">{}</td></tr>"##,
            status_cell(c.status.as_str()),
            c.findings.len(),
            c.duration_ms,
            esc(c.detail.as_deref().unwrap_or("")),
            n = esc(name),
        );
    }
    h.push_str("</tbody></table></div>");
    for (name, c) in &r.validation_results {
        let _ = write!(
            h,
            r#"<details id="check-{n}"{}><summary>{n}: {} ({})</summary>"#,
            if c.findings.is_empty() { "" } else { " open" },
            esc(c.status.as_str()),
            count(c.findings.len(), "finding"),
            n = esc(name),
        );
        if c.findings.is_empty() {
            h.push_str(r#"<p class="muted">No findings.</p>"#);
        } else {
            h.push_str(r#"<div class="scroll"><table class="findings"><thead><tr><th>severity</th><th>rule</th><th>where</th><th>message</th><th>suggested fix</th></tr></thead><tbody>"#);
            for f in &c.findings {
                let sev = word(&f.severity);
                let _ = write!(
                    h,
                    r#"<tr><td class="st-{s}">{s}</td><td><code>{}</code></td><td><code>{}:{}:{}</code></td><td class="wrap">{}</td><td class="wrap">{}</td></tr>"#,
                    esc(&f.rule_id),
                    esc(&f.file),
                    f.line,
                    f.column,
                    esc(&f.message),
                    esc(f.suggested_fix.as_deref().unwrap_or("")),
                    s = esc(&sev.to_ascii_lowercase()),
                );
            }
            h.push_str("</tbody></table></div>");
        }
        h.push_str("</details>");
    }
    if let Some(ev) = &r.evidence {
        let pretty = serde_json::to_string_pretty(ev).unwrap_or_default();
        let _ = write!(
            h,
            "<details><summary>Evidence</summary><pre>{}</pre></details>",
            esc(&pretty)
        );
    }
    if let Some(m) = &r.monitor {
        let pretty = serde_json::to_string_pretty(m).unwrap_or_default();
        let _ = write!(
            h,
            "<details><summary>Auto-Monitor</summary><pre>{}</pre></details>",
            esc(&pretty)
        );
    }
    h.push_str("</section>");
}
