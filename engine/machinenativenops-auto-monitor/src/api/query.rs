//! The Prometheus-compatible query API: `/api/v1/query`, `/api/v1/query_range`,
//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/{name}/values` (GET and
//! form POST), with Prometheus' parameters, JSON shapes, error types and
//! status codes, so Grafana's Prometheus data source can point at the agent.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mno_promql::params::{MAX_TIME_MS, MIN_TIME_MS, parse_duration_ns, parse_time};
use mno_promql::{Matcher, QueryError, QueryOptions, Storage, Value, json};
use tokio::sync::Semaphore;

/// Queries evaluated at once; more wait their turn (Prometheus: 20; an agent shares its host).
const MAX_CONCURRENT: usize = 4;

/// The version of the Prometheus HTTP API these routes follow (for `/api/v1/status/buildinfo`).
const PROMETHEUS_API_VERSION: &str = "2.42.0";

#[derive(Clone)]
pub(crate) struct QueryState {
    storage: Option<Arc<dyn Storage>>,
    opts: Arc<QueryOptions>,
    permits: Arc<Semaphore>,
}

/// The query routes over `storage`.
pub fn routes(storage: Arc<dyn Storage>) -> Router {
    routes_with(Some(storage), QueryOptions::default())
}

/// The query routes; with no storage every route answers 503 `unavailable`.
pub fn routes_optional(storage: Option<Arc<dyn Storage>>) -> Router {
    routes_with(storage, QueryOptions::default())
}

/// The query routes with explicit limits (tests use small ones).
pub fn routes_with(storage: Option<Arc<dyn Storage>>, opts: QueryOptions) -> Router {
    let state = QueryState {
        storage,
        opts: Arc::new(opts),
        permits: Arc::new(Semaphore::new(MAX_CONCURRENT)),
    };
    Router::new()
        .route("/api/v1/query", get(query).post(query_post))
        .route(
            "/api/v1/query_range",
            get(query_range).post(query_range_post),
        )
        .route("/api/v1/series", get(series).post(series_post))
        .route("/api/v1/labels", get(label_names).post(label_names_post))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
        .route(
            "/api/v1/query_exemplars",
            get(exemplars).post(exemplars_post),
        )
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .with_state(state)
}

/// Form values from the query string and, for a form POST, the body (which
/// wins, as Go's `Request.FormValue` does).
struct Form(Vec<(String, String)>);

impl Form {
    fn new(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Form {
        let mut pairs = Vec::new();
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            pairs.extend(url::form_urlencoded::parse(body).into_owned());
        }
        if let Some(q) = uri.query() {
            pairs.extend(url::form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        Form(pairs)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A timestamp parameter (ms), `default` when absent or empty.
    fn time(&self, name: &str, default: i64) -> Result<i64, QueryError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(s) => parse_time(s).map_err(|e| invalid(name, &e)),
        }
    }
}

fn invalid(param: &str, msg: &str) -> QueryError {
    QueryError::BadData(format!("invalid parameter {param:?}: {msg}"))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn error_response(e: &QueryError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, json::render_error(e))
}

fn unavailable() -> Response {
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        json::error("unavailable", "no store configured"),
    )
}

fn success(data_json: &str) -> Response {
    json_response(StatusCode::OK, json::success(data_json))
}

/// Run `f` on the blocking pool (the store is SQLite, evaluation is CPU work),
/// at most `MAX_CONCURRENT` at a time.
async fn run_blocking<T: Send + 'static>(
    st: &QueryState,
    f: impl FnOnce(Arc<dyn Storage>, &QueryOptions) -> Result<T, QueryError> + Send + 'static,
) -> Result<T, Response> {
    let Some(storage) = st.storage.clone() else {
        return Err(unavailable());
    };
    let _permit = st
        .permits
        .acquire()
        .await
        .map_err(|_| error_response(&QueryError::Execution("query engine shut down".into())))?;
    let opts = st.opts.clone();
    tokio::task::spawn_blocking(move || f(storage, &opts))
        .await
        .map_err(|e| error_response(&QueryError::Execution(format!("query failed: {e}"))))?
        .map_err(|e| error_response(&e))
}

/// Query options for this request: the `timeout` parameter can only shorten the default.
fn request_opts(form: &Form, base: &QueryOptions) -> Result<QueryOptions, QueryError> {
    let mut opts = base.clone();
    if let Some(t) = form.get("timeout").filter(|t| !t.is_empty()) {
        let ns = parse_duration_ns(t).map_err(|e| invalid("timeout", &e))?;
        let d = Duration::from_nanos(ns.max(0) as u64);
        opts.timeout = opts.timeout.min(d);
    }
    Ok(opts)
}

#[utoipa::path(
    get,
    path = "/api/v1/query",
    tag = "query",
    operation_id = "query",
    summary = "Instant query",
    params(
        ("query" = String, Query, description = "PromQL expression", example = "mno_cpu_usage_percent"),
        ("time" = Option<String>, Query, description = "Evaluation time: RFC 3339 or Unix seconds (default: now)"),
        ("timeout" = Option<String>, Query, description = "Evaluation timeout (Prometheus duration); can only shorten the default"),
    ),
    responses(super::openapi::PromResponses)
)]
pub(crate) async fn query(
    State(st): State<QueryState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::new(&uri, &headers, &body);
    let prepared = (|| {
        let t = form.time("time", now_ms())?;
        let opts = request_opts(&form, &st.opts)?;
        Ok::<_, QueryError>((t, opts, form.get("query").unwrap_or("").to_string()))
    })();
    let (t, opts, expr) = match prepared {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    match run_blocking(&st, move |s, _| {
        mno_promql::instant_query(s.as_ref(), &expr, t, &opts)
    })
    .await
    {
        Ok(v) => success(&json::render_data(&v)),
        Err(r) => r,
    }
}

/// Start, end and step (ms) of a range query, checked as Prometheus checks them.
fn range_params(form: &Form) -> Result<(i64, i64, i64), QueryError> {
    let start = parse_time(form.get("start").unwrap_or("")).map_err(|e| invalid("start", &e))?;
    let end = parse_time(form.get("end").unwrap_or("")).map_err(|e| invalid("end", &e))?;
    if end < start {
        return Err(invalid(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step_ns =
        parse_duration_ns(form.get("step").unwrap_or("")).map_err(|e| invalid("step", &e))?;
    if step_ns <= 0 {
        return Err(invalid(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // Prometheus divides durations in nanoseconds; i128 keeps huge ranges exact.
    if (end as i128 - start as i128) * 1_000_000 / step_ns as i128 > 11_000 {
        return Err(QueryError::BadData(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                .into(),
        ));
    }
    Ok((start, end, (step_ns / 1_000_000).max(1)))
}

#[utoipa::path(
    get,
    path = "/api/v1/query_range",
    tag = "query",
    operation_id = "query_range",
    summary = "Range query",
    params(
        ("query" = String, Query, description = "PromQL expression", example = "mno_cpu_usage_percent"),
        ("start" = String, Query, description = "Range start: RFC 3339 or Unix seconds", example = "2026-01-01T00:00:00Z"),
        ("end" = String, Query, description = "Range end: RFC 3339 or Unix seconds", example = "2026-01-01T01:00:00Z"),
        ("step" = String, Query, description = "Resolution: a duration (`15s`) or seconds", example = "15s"),
        ("timeout" = Option<String>, Query, description = "Evaluation timeout (Prometheus duration); can only shorten the default"),
    ),
    responses(super::openapi::PromResponses)
)]
pub(crate) async fn query_range(
    State(st): State<QueryState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::new(&uri, &headers, &body);
    let prepared = (|| {
        let (start, end, step) = range_params(&form)?;
        let opts = request_opts(&form, &st.opts)?;
        Ok::<_, QueryError>((
            start,
            end,
            step,
            opts,
            form.get("query").unwrap_or("").to_string(),
        ))
    })();
    let (start, end, step, opts, expr) = match prepared {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    match run_blocking(&st, move |s, _| {
        mno_promql::range_query(s.as_ref(), &expr, start, end, step, &opts)
    })
    .await
    {
        Ok(v) => success(&json::render_data(&v)),
        Err(r) => r,
    }
}

/// The `match[]` selectors of a metadata request.
fn matcher_sets(form: &Form) -> Result<Vec<Vec<Matcher>>, QueryError> {
    form.all("match[]")
        .into_iter()
        .map(mno_promql::parse_metric_selector)
        .collect()
}

#[utoipa::path(
    get,
    path = "/api/v1/series",
    tag = "query",
    operation_id = "series",
    summary = "Series matching selectors",
    params(
        ("match[]" = Vec<String>, Query, description = "Series selectors (at least one)", explode = true, example = json!(["up"])),
        ("start" = Option<String>, Query, description = "Start: RFC 3339 or Unix seconds"),
        ("end" = Option<String>, Query, description = "End: RFC 3339 or Unix seconds"),
    ),
    responses(super::openapi::PromResponses)
)]
pub(crate) async fn series(
    State(st): State<QueryState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::new(&uri, &headers, &body);
    let prepared = (|| {
        if form.all("match[]").is_empty() {
            return Err(QueryError::BadData("no match[] parameter provided".into()));
        }
        metadata_params(&form)
    })();
    let (sets, start, end) = match prepared {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let result = run_blocking(&st, move |s, _| {
        let mut all: Vec<Vec<(String, String)>> = Vec::new();
        for m in &sets {
            all.extend(s.series(m, start, end)?);
        }
        all.sort();
        all.dedup();
        Ok(all)
    })
    .await;
    match result {
        Ok(sets) => success(&json::label_sets(&sets)),
        Err(r) => r,
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/labels",
    tag = "query",
    operation_id = "label_names",
    summary = "Label names",
    params(
        ("match[]" = Option<Vec<String>>, Query, description = "Series selectors", explode = true),
        ("start" = Option<String>, Query, description = "Start: RFC 3339 or Unix seconds"),
        ("end" = Option<String>, Query, description = "End: RFC 3339 or Unix seconds"),
    ),
    responses(super::openapi::PromResponses)
)]
pub(crate) async fn label_names(
    State(st): State<QueryState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::new(&uri, &headers, &body);
    let prepared = metadata_params(&form);
    let (sets, start, end) = match prepared {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let result = run_blocking(&st, move |s, _| {
        let mut names = Vec::new();
        if sets.is_empty() {
            names = s.label_names(&[], start, end)?;
        }
        for m in &sets {
            names.extend(s.label_names(m, start, end)?);
        }
        names.sort();
        names.dedup();
        Ok(names)
    })
    .await;
    match result {
        Ok(names) => success(&json::string_array(&names)),
        Err(r) => r,
    }
}

/// The `match[]`, `start` and `end` parameters shared by the metadata endpoints
/// (series, labels, label values), with Prometheus' open-ended defaults.
fn metadata_params(form: &Form) -> Result<(Vec<Vec<Matcher>>, i64, i64), QueryError> {
    let start = form.time("start", MIN_TIME_MS)?;
    let end = form.time("end", MAX_TIME_MS)?;
    Ok((matcher_sets(form)?, start, end))
}

fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

#[utoipa::path(
    get,
    path = "/api/v1/label/{name}/values",
    tag = "query",
    operation_id = "label_values",
    summary = "Values of one label",
    params(
        ("name" = String, Path, description = "Label name"),
        ("match[]" = Option<Vec<String>>, Query, description = "Series selectors", explode = true),
        ("start" = Option<String>, Query, description = "Start: RFC 3339 or Unix seconds"),
        ("end" = Option<String>, Query, description = "End: RFC 3339 or Unix seconds"),
    ),
    responses(super::openapi::PromResponses)
)]
pub(crate) async fn label_values(
    State(st): State<QueryState>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::new(&uri, &headers, &body);
    let prepared = (|| {
        if !valid_label_name(&name) {
            return Err(QueryError::BadData(format!("invalid label name: {name:?}")));
        }
        metadata_params(&form)
    })();
    let (sets, start, end) = match prepared {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let result = run_blocking(&st, move |s, _| {
        let mut values = Vec::new();
        if sets.is_empty() {
            values = s.label_values(&name, &[], start, end)?;
        }
        for m in &sets {
            values.extend(s.label_values(&name, m, start, end)?);
        }
        values.sort();
        values.dedup();
        Ok(values)
    })
    .await;
    match result {
        Ok(values) => success(&json::string_array(&values)),
        Err(r) => r,
    }
}

/// Metric metadata: the store keeps none, so an empty object (what Grafana expects).
#[utoipa::path(
    get,
    path = "/api/v1/metadata",
    tag = "query",
    operation_id = "metadata",
    summary = "Metric metadata (always empty: the store keeps none)",
    responses(super::openapi::PromResponses)
)]
pub(crate) async fn metadata(State(st): State<QueryState>) -> Response {
    if st.storage.is_none() {
        return unavailable();
    }
    success("{}")
}

/// Exemplars: the store keeps none, so an empty list (Grafana asks when exemplars are on).
#[utoipa::path(
    get,
    path = "/api/v1/query_exemplars",
    tag = "query",
    operation_id = "query_exemplars",
    summary = "Exemplars (always empty: the store keeps none)",
    responses(super::openapi::PromResponses)
)]
pub(crate) async fn exemplars(State(st): State<QueryState>) -> Response {
    if st.storage.is_none() {
        return unavailable();
    }
    success("[]")
}

/// Which Prometheus API level this is, for clients (Grafana) that ask.
#[utoipa::path(
    get,
    path = "/api/v1/status/buildinfo",
    tag = "query",
    operation_id = "buildinfo",
    summary = "Which Prometheus API level this follows",
    responses(super::openapi::PromResponses)
)]
pub(crate) async fn buildinfo() -> Response {
    success(&format!(
        "{{\"version\":\"{PROMETHEUS_API_VERSION}\",\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"machinenativenops-auto-monitor {}\",\"buildDate\":\"\",\"goVersion\":\"\"}}",
        env!("CARGO_PKG_VERSION")
    ))
}

/// Form fields of a POSTed instant query (the same as the GET parameters).
#[derive(utoipa::ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct QueryForm {
    /// PromQL expression.
    query: String,
    /// Evaluation time: RFC 3339 or Unix seconds.
    time: Option<String>,
    /// Evaluation timeout.
    timeout: Option<String>,
}

/// Form fields of a POSTed range query.
#[derive(utoipa::ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct RangeForm {
    /// PromQL expression.
    query: String,
    /// Range start.
    start: String,
    /// Range end.
    end: String,
    /// Resolution.
    step: String,
    /// Evaluation timeout.
    timeout: Option<String>,
}

/// Form fields of a POSTed metadata request (series, labels).
#[derive(utoipa::ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct MatchForm {
    /// Series selectors.
    #[serde(rename = "match[]")]
    matchers: Option<Vec<String>>,
    /// Start.
    start: Option<String>,
    /// End.
    end: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/query",
    tag = "query",
    operation_id = "query_post",
    summary = "Instant query (form POST)",
    request_body(content = QueryForm, content_type = "application/x-www-form-urlencoded"),
    responses(super::openapi::PromResponses)
)]
pub(crate) async fn query_post(
    st: State<QueryState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    query(st, uri, headers, body).await
}

#[utoipa::path(
    post,
    path = "/api/v1/query_range",
    tag = "query",
    operation_id = "query_range_post",
    summary = "Range query (form POST)",
    request_body(content = RangeForm, content_type = "application/x-www-form-urlencoded"),
    responses(super::openapi::PromResponses)
)]
pub(crate) async fn query_range_post(
    st: State<QueryState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    query_range(st, uri, headers, body).await
}

#[utoipa::path(
    post,
    path = "/api/v1/series",
    tag = "query",
    operation_id = "series_post",
    summary = "Series matching selectors (form POST)",
    request_body(content = MatchForm, content_type = "application/x-www-form-urlencoded"),
    responses(super::openapi::PromResponses)
)]
pub(crate) async fn series_post(
    st: State<QueryState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    series(st, uri, headers, body).await
}

#[utoipa::path(
    post,
    path = "/api/v1/labels",
    tag = "query",
    operation_id = "label_names_post",
    summary = "Label names (form POST)",
    request_body(content = MatchForm, content_type = "application/x-www-form-urlencoded"),
    responses(super::openapi::PromResponses)
)]
pub(crate) async fn label_names_post(
    st: State<QueryState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    label_names(st, uri, headers, body).await
}

#[utoipa::path(
    post,
    path = "/api/v1/query_exemplars",
    tag = "query",
    operation_id = "query_exemplars_post",
    summary = "Exemplars (form POST; always empty)",
    responses(super::openapi::PromResponses)
)]
pub(crate) async fn exemplars_post(st: State<QueryState>) -> Response {
    exemplars(st).await
}

/// What the `query` subcommand asks for; times and durations as the HTTP API takes them.
#[derive(Debug, Default, Clone)]
pub struct CliQuery {
    /// The PromQL expression.
    pub expr: String,
    /// Instant-query time (default: now).
    pub time: Option<String>,
    /// Range start (default: one hour before the end).
    pub start: Option<String>,
    /// Range end (default: now).
    pub end: Option<String>,
    /// Range step (default: the range / 250, at least 1 s).
    pub step: Option<String>,
}

/// Run a `query` subcommand: a range query when any of start/end/step is given.
pub fn run_cli_query(storage: &dyn Storage, q: &CliQuery) -> Result<Value, QueryError> {
    let opts = QueryOptions::default();
    let time = |name: &str, v: &Option<String>, default: i64| match v.as_deref() {
        None => Ok(default),
        Some(s) => parse_time(s).map_err(|e| invalid(name, &e)),
    };
    if q.start.is_none() && q.end.is_none() && q.step.is_none() {
        let t = time("time", &q.time, now_ms())?;
        return mno_promql::instant_query(storage, &q.expr, t, &opts);
    }
    let end = time("end", &q.end, now_ms())?;
    let start = time("start", &q.start, end - 3_600_000)?;
    let step = match q.step.as_deref() {
        Some(s) => parse_duration_ns(s).map_err(|e| invalid("step", &e))? / 1_000_000,
        None => ((end - start) / 250 / 1000 * 1000).max(1000),
    };
    mno_promql::range_query(storage, &q.expr, start, end, step, &opts)
}

/// A query result as a plain-text table (the `query` subcommand).
pub fn table(value: &Value) -> String {
    use std::fmt::Write;
    let series = |labels: &[(String, String)]| -> String {
        let name = labels
            .iter()
            .find(|(n, _)| n == "__name__")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let rest: Vec<String> = labels
            .iter()
            .filter(|(n, _)| n != "__name__")
            .map(|(n, v)| format!("{n}={v:?}"))
            .collect();
        if rest.is_empty() && !name.is_empty() {
            name.to_string()
        } else {
            format!("{name}{{{}}}", rest.join(", "))
        }
    };
    let time = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_else(|| ms.to_string())
    };
    let mut rows: Vec<[String; 3]> = Vec::new();
    match value {
        Value::Scalar { t, v } => rows.push(["scalar".into(), time(*t), json::format_float(*v)]),
        Value::String { t, v } => rows.push(["string".into(), time(*t), v.clone()]),
        Value::Vector(samples) => {
            for s in samples {
                rows.push([series(&s.labels), time(s.t), json::format_float(s.v)]);
            }
        }
        Value::Matrix(m) => {
            for s in m {
                let name = series(&s.labels);
                for (t, v) in &s.samples {
                    rows.push([name.clone(), time(*t), json::format_float(*v)]);
                }
            }
        }
    }
    let header = [
        "SERIES".to_string(),
        "TIME".to_string(),
        "VALUE".to_string(),
    ];
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in std::iter::once(&header).chain(rows.iter()) {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {}",
            r[0],
            r[1],
            r[2],
            w0 = widths[0],
            w1 = widths[1]
        );
    }
    if rows.is_empty() {
        out.push_str("(no data)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_params_follow_prometheus() {
        let f = |q: &str| {
            Form(
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect(),
            )
        };
        assert_eq!(
            range_params(&f("start=0&end=60&step=15s")).ok(),
            Some((0, 60_000, 15_000))
        );
        assert_eq!(
            range_params(&f("start=0&end=60&step=0.5")).ok(),
            Some((0, 60_000, 500))
        );
        let e = range_params(&f("start=0&end=60&step=0")).unwrap_err();
        assert!(e.message().contains("zero or negative"), "{e}");
        let e = range_params(&f("start=0&end=11001&step=1")).unwrap_err();
        assert!(
            e.message()
                .starts_with("exceeded maximum resolution of 11,000 points"),
            "{e}"
        );
        assert!(range_params(&f("start=0&end=11000&step=1")).is_ok());
        let e = range_params(&f("start=10&end=0&step=1")).unwrap_err();
        assert!(
            e.message()
                .contains("end timestamp must not be before start time")
        );
        let e = range_params(&f("end=10&step=1")).unwrap_err();
        assert_eq!(
            e.message(),
            "invalid parameter \"start\": cannot parse \"\" to a valid timestamp"
        );
    }

    #[test]
    fn table_lists_every_point() {
        let v = Value::Vector(vec![mno_promql::InstantSample {
            labels: vec![("__name__".into(), "up".into()), ("job".into(), "x".into())],
            t: 0,
            v: 1.0,
        }]);
        let t = table(&v);
        assert!(t.starts_with("SERIES"), "{t}");
        assert!(
            t.contains("up{job=\"x\"}  1970-01-01T00:00:00.000Z  1"),
            "{t}"
        );
        assert!(table(&Value::Matrix(vec![])).contains("(no data)"));
    }
}
