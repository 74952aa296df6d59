//! HTTP API of the alerting engine: `GET /api/v1/alerts` and `GET /api/v1/rules` in
//! Prometheus' shapes, `GET /api/v1/alerts/history`, silences (`GET|POST /api/v1/silences`,
//! `DELETE /api/v1/silences/{id}`) and `POST /-/reload`. Calls that change state need
//! `Authorization: Bearer <alerts.api_token | MNO_API_TOKEN>`; without it they answer 401.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{delete, get, post};
use mno_common::server::constant_time_eq;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use super::core::now_ms;
use super::engine::{Engine, Shared};
use super::history::{HistoryQuery, rfc3339};
use super::silences::PostableSilence;
use super::state::AlertState;

/// The alerting routes, to merge into the agent's router.
pub fn router(engine: Engine) -> Router {
    Router::new()
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts/history", get(history))
        .route("/api/v1/silences", get(list_silences).post(add_silence))
        .route("/api/v1/silences/{id}", delete(expire_silence))
        .route("/-/reload", post(reload))
        .with_state(engine)
}

fn error(status: StatusCode, kind: &str, detail: impl Into<String>) -> Response {
    let detail = detail.into();
    (
        status,
        Json(json!({"status": "error", "errorType": kind, "error": kind, "detail": detail})),
    )
        .into_response()
}

fn success(data: Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

fn authorize(sh: &Shared, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(token) = sh.settings().api_token.clone() else {
        return Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "no API token is configured (alerts.api_token or MNO_API_TOKEN); state-changing calls are disabled",
        )));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.trim().as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        )))
    }
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, the way Prometheus prints alert values.
pub fn go_float_e(v: f64) -> String {
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
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let e: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
        }
        None => s,
    }
}

fn alert_json(
    labels: &[(String, String)],
    annotations: BTreeMap<String, String>,
    state: AlertState,
    active_at: i64,
    value: f64,
    keep_firing_since: Option<i64>,
) -> Value {
    let labels: BTreeMap<&str, &str> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut a = json!({
        "labels": labels,
        "annotations": annotations,
        "state": state.as_str(),
        "activeAt": rfc3339(active_at),
        "value": go_float_e(value),
    });
    if let Some(k) = keep_firing_since {
        a["keepFiringSince"] = rfc3339(k).into();
    }
    a
}

#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    tag = "alerts",
    operation_id = "alerts",
    summary = "Active (pending and firing) alerts",
    responses(
        (status = 200, description = "Success envelope `{status, data}`", body = crate::api::openapi::PromSuccess),
    )
)]
pub(crate) async fn alerts(State(e): State<Engine>) -> Response {
    let sh = e.shared();
    let core = sh.core();
    let now = now_ms();
    let list: Vec<Value> = core
        .live_alerts()
        .into_iter()
        .map(|(k, a)| {
            let mut v = alert_json(
                &a.labels,
                core.annotations(k, a),
                a.state,
                a.active_at,
                a.value,
                a.keep_firing_since,
            );
            // Not in Prometheus' shape; Alertmanager-style extra for the dashboard.
            v["silenced"] = core.silences.silenced(&a.labels, now).into();
            v
        })
        .collect();
    success(json!({ "alerts": list }))
}

#[utoipa::path(
    get,
    path = "/api/v1/rules",
    tag = "alerts",
    operation_id = "rules",
    summary = "Rule groups with their state",
    responses(
        (status = 200, description = "Success envelope `{status, data}`", body = crate::api::openapi::PromSuccess),
    )
)]
pub(crate) async fn rules(State(e): State<Engine>) -> Response {
    let sh = e.shared();
    let core = sh.core();
    let mut groups = Vec::new();
    for (gi, g) in core.rules.groups.iter().enumerate() {
        let mut rules = Vec::new();
        let mut last = 0i64;
        let mut total = 0f64;
        for (ri, r) in g.rules.iter().enumerate() {
            let key = core.key_of(gi, ri);
            let st = core.states.get(key);
            let mut state = "inactive";
            let mut alerts = Vec::new();
            if let Some(st) = st {
                for a in st
                    .active
                    .values()
                    .filter(|a| a.state != AlertState::Inactive)
                {
                    if a.state == AlertState::Firing {
                        state = "firing";
                    } else if state != "firing" {
                        state = "pending";
                    }
                    alerts.push(alert_json(
                        &a.labels,
                        core.annotations(key, a),
                        a.state,
                        a.active_at,
                        a.value,
                        a.keep_firing_since,
                    ));
                }
                last = last.max(st.last_eval);
                total += st.eval_seconds;
            }
            rules.push(json!({
                "state": state,
                "name": r.name,
                "query": r.expr_text,
                "duration": r.for_.as_secs_f64(),
                "keepFiringFor": r.keep_firing_for.as_secs_f64(),
                "labels": r.labels_spec,
                "annotations": r.annotations_spec,
                "alerts": alerts,
                "health": match st.and_then(|s| s.last_error.as_ref()) {
                    Some(_) => "err",
                    None if st.is_some_and(|s| s.last_eval > 0) => "ok",
                    None => "unknown",
                },
                "lastError": st.and_then(|s| s.last_error.clone()).unwrap_or_default(),
                "evaluationTime": st.map(|s| s.eval_seconds).unwrap_or(0.0),
                "lastEvaluation": st.filter(|s| s.last_eval > 0).map(|s| rfc3339(s.last_eval)).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                "type": "alerting",
            }));
        }
        groups.push(json!({
            "name": g.name,
            "file": g.file,
            "rules": rules,
            "interval": g.interval.unwrap_or(core.settings.evaluation_interval.unwrap_or(core.settings.tick)).as_secs_f64(),
            "limit": g.limit,
            "evaluationTime": total,
            "lastEvaluation": if last > 0 { rfc3339(last) } else { "0001-01-01T00:00:00Z".into() },
        }));
    }
    success(json!({ "groups": groups }))
}

/// RFC 3339 or Unix seconds (Prometheus' time parameter) → milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>()
        && f.is_finite()
    {
        return Ok((f * 1000.0) as i64);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("cannot parse {s:?} to a valid timestamp"))
}

#[utoipa::path(
    get,
    path = "/api/v1/alerts/history",
    tag = "alerts",
    operation_id = "alert_history",
    summary = "Alert episodes, newest first",
    params(
        ("since" = Option<String>, Query, description = "Episodes open at or after this time (RFC 3339 or Unix seconds); alias `start`"),
        ("until" = Option<String>, Query, description = "Episodes started at or before this time; alias `end`"),
        ("severity" = Option<String>, Query, description = "Severity label"),
        ("alertname" = Option<String>, Query, description = "Alert name"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 10000, description = "Most rows (default 500)"),
    ),
    responses(
        (status = 200, description = "Success envelope `{status, data}`", body = crate::api::openapi::PromSuccess),
        (status = 400, description = "Invalid parameter", body = crate::api::openapi::AlertError),
        (status = 500, description = "The history database failed", body = crate::api::openapi::AlertError),
    )
)]
pub(crate) async fn history(
    State(e): State<Engine>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut hq = HistoryQuery {
        limit: 500,
        ..Default::default()
    };
    for (k, v) in &q {
        match k.as_str() {
            "since" | "start" => match parse_time(v) {
                Ok(t) => hq.since = Some(t),
                Err(m) => return error(StatusCode::BAD_REQUEST, "bad_data", format!("since: {m}")),
            },
            "until" | "end" => match parse_time(v) {
                Ok(t) => hq.until = Some(t),
                Err(m) => return error(StatusCode::BAD_REQUEST, "bad_data", format!("until: {m}")),
            },
            "severity" => hq.severity = Some(v.clone()),
            "alertname" => hq.alertname = Some(v.clone()),
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=10_000).contains(&n) => hq.limit = n,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "bad_data",
                        "limit: a number from 1 to 10000",
                    );
                }
            },
            other => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_data",
                    format!("unknown parameter {other:?}"),
                );
            }
        }
    }
    if let (Some(s), Some(u)) = (hq.since, hq.until)
        && u < s
    {
        return error(StatusCode::BAD_REQUEST, "bad_data", "until is before since");
    }
    let sh = e.shared();
    let rows = sh.core().db.query(&hq);
    match rows {
        Ok(rows) => success(json!({ "episodes": rows })),
        Err(err) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            err.to_string(),
        ),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/silences",
    tag = "alerts",
    operation_id = "list_silences",
    summary = "All silences",
    responses(
        (status = 200, description = "Success envelope `{status, data}`", body = crate::api::openapi::PromSuccess),
    )
)]
pub(crate) async fn list_silences(State(e): State<Engine>) -> Response {
    let sh = e.shared();
    let core = sh.core();
    let now = now_ms();
    let list: Vec<Value> = core.silences.all().iter().map(|s| s.to_json(now)).collect();
    success(json!({ "silences": list }))
}

#[utoipa::path(
    post,
    path = "/api/v1/silences",
    tag = "alerts",
    operation_id = "add_silence",
    summary = "Create a silence (token)",
    request_body(content = super::silences::PostableSilence, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success envelope `{status, data}`", body = crate::api::openapi::PromSuccess),
        (status = 400, description = "Invalid silence", body = crate::api::openapi::AlertError),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::openapi::AlertError),
    )
)]
pub(crate) async fn add_silence(
    State(e): State<Engine>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let sh = e.shared();
    if let Err(r) = authorize(&sh, &headers) {
        return *r;
    }
    let p: PostableSilence = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(err) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_data",
                format!("invalid silence: {err}"),
            );
        }
    };
    let mut core = sh.core();
    let core = &mut *core;
    match core.silences.add(core.db.conn(), p, now_ms()) {
        Ok(id) => {
            tracing::info!(id = %id, "silence created");
            success(json!({ "silenceID": id }))
        }
        Err(m) => error(StatusCode::BAD_REQUEST, "bad_data", m),
    }
}

#[utoipa::path(
    delete,
    path = "/api/v1/silences/{id}",
    tag = "alerts",
    operation_id = "expire_silence",
    summary = "Expire a silence (token)",
    params(
        ("id" = String, Path, description = "Silence id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success envelope `{status, data}`", body = crate::api::openapi::PromSuccess),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::openapi::AlertError),
        (status = 404, description = "No active silence with this id", body = crate::api::openapi::AlertError),
        (status = 500, description = "The history database failed", body = crate::api::openapi::AlertError),
    )
)]
pub(crate) async fn expire_silence(
    State(e): State<Engine>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let sh = e.shared();
    if let Err(r) = authorize(&sh, &headers) {
        return *r;
    }
    let mut core = sh.core();
    let core = &mut *core;
    match core.silences.expire(core.db.conn(), &id, now_ms()) {
        Ok(true) => success(json!({ "silenceID": id })),
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no active silence {id:?}"),
        ),
        Err(m) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", m),
    }
}

#[utoipa::path(
    post,
    path = "/-/reload",
    tag = "alerts",
    operation_id = "reload",
    summary = "Reload rules and configuration (token)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success envelope `{status, data}`", body = crate::api::openapi::PromSuccess),
        (status = 400, description = "The new configuration is invalid; the previous one stays", body = crate::api::openapi::AlertError),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::openapi::AlertError),
        (status = 500, description = "The reload failed", body = crate::api::openapi::AlertError),
    )
)]
pub(crate) async fn reload(State(e): State<Engine>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&e.shared(), &headers) {
        return *r;
    }
    let e2 = e.clone();
    match tokio::task::spawn_blocking(move || e2.reload()).await {
        Ok(Ok(msg)) => {
            tracing::info!("{msg}");
            success(json!({ "message": msg }))
        }
        Ok(Err(m)) => {
            tracing::error!("reload failed, keeping the previous rules: {m}");
            error(StatusCode::BAD_REQUEST, "bad_config", m)
        }
        Err(err) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            err.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(go_float_e(1.0), "1e+00");
        assert_eq!(go_float_e(95.5), "9.55e+01");
        assert_eq!(go_float_e(0.001), "1e-03");
        assert_eq!(parse_time("1.5").unwrap(), 1500);
        assert_eq!(parse_time("1970-01-01T00:00:01Z").unwrap(), 1000);
        assert!(parse_time("yesterday").is_err());
    }
}
