//! Silences: label matchers and a time window during which matching alerts neither notify
//! nor trigger repairs (they still show in `/api/v1/alerts` and the `ALERTS` series, as in
//! Prometheus, which does not know about silences either). Shaped like Alertmanager's
//! `PostableSilence`; persisted in `alerts.db`.

use mno_promql::{MatchOp, Matcher};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::history::{HistoryError, rfc3339};
use super::labels;

/// One matcher of a silence (Alertmanager's shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SilenceMatcher {
    /// Label name.
    pub name: String,
    /// Value or regular expression.
    pub value: String,
    /// `value` is a regular expression (anchored).
    #[serde(rename = "isRegex", default)]
    pub is_regex: bool,
    /// Equality (true) or inequality.
    #[serde(rename = "isEqual", default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

/// A silence as posted: `startsAt`/`endsAt` are RFC 3339; `duration` (`2h`) may replace
/// `endsAt`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PostableSilence {
    /// Matchers; all must match.
    pub matchers: Vec<SilenceMatcher>,
    /// Start (default now).
    #[serde(rename = "startsAt", default)]
    pub starts_at: Option<String>,
    /// End.
    #[serde(rename = "endsAt", default)]
    pub ends_at: Option<String>,
    /// Length, instead of `endsAt`.
    #[serde(default)]
    pub duration: Option<String>,
    /// Who created it.
    #[serde(rename = "createdBy", default)]
    pub created_by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// A stored silence.
#[derive(Debug, Clone)]
pub struct Silence {
    /// Id.
    pub id: String,
    /// Matchers as posted.
    pub matchers: Vec<SilenceMatcher>,
    compiled: Vec<Matcher>,
    /// Start (ms).
    pub starts_at: i64,
    /// End (ms).
    pub ends_at: i64,
    /// Author.
    pub created_by: String,
    /// Comment.
    pub comment: String,
    /// Last change (ms).
    pub updated_at: i64,
}

impl Silence {
    /// `active`, `pending` or `expired` at `now`.
    pub fn state(&self, now: i64) -> &'static str {
        if now < self.starts_at {
            "pending"
        } else if now < self.ends_at {
            "active"
        } else {
            "expired"
        }
    }

    /// As Alertmanager's `GettableSilence`.
    pub fn to_json(&self, now: i64) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "matchers": self.matchers,
            "startsAt": rfc3339(self.starts_at),
            "endsAt": rfc3339(self.ends_at),
            "updatedAt": rfc3339(self.updated_at),
            "createdBy": self.created_by,
            "comment": self.comment,
            "status": {"state": self.state(now)},
        })
    }
}

fn compile(ms: &[SilenceMatcher]) -> Result<Vec<Matcher>, String> {
    ms.iter()
        .map(|m| {
            let op = match (m.is_regex, m.is_equal) {
                (false, true) => MatchOp::Equal,
                (false, false) => MatchOp::NotEqual,
                (true, true) => MatchOp::Regex,
                (true, false) => MatchOp::NotRegex,
            };
            Matcher::new(&m.name, op, &m.value)
                .map_err(|e| format!("matcher {:?}: invalid regular expression: {e}", m.name))
        })
        .collect()
}

fn parse_time(s: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))
}

/// All silences, in memory and in the database.
#[derive(Debug, Default)]
pub struct Silences {
    list: Vec<Silence>,
}

impl Silences {
    /// Load from the database.
    pub fn load(conn: &Connection) -> Result<Silences, HistoryError> {
        let e = |c| move |x| HistoryError::from_sqlite(c, x);
        let mut st = conn
            .prepare("SELECT id, matchers, starts_at, ends_at, created_by, comment, updated_at FROM silences")
            .map_err(e("prepare silences"))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })
            .map_err(e("query silences"))?;
        let mut list = Vec::new();
        for row in rows {
            let (id, m, starts_at, ends_at, created_by, comment, updated_at) =
                row.map_err(e("read silences"))?;
            let matchers: Vec<SilenceMatcher> = serde_json::from_str(&m).unwrap_or_default();
            // A silence that no longer compiles silences nothing rather than everything.
            let Ok(compiled) = compile(&matchers) else {
                continue;
            };
            list.push(Silence {
                id,
                matchers,
                compiled,
                starts_at,
                ends_at,
                created_by,
                comment,
                updated_at,
            });
        }
        Ok(Silences { list })
    }

    /// Validate and store a new silence; returns its id. Errors are for a 400 answer.
    pub fn add(
        &mut self,
        conn: &Connection,
        p: PostableSilence,
        now: i64,
    ) -> Result<String, String> {
        if p.matchers.is_empty() {
            return Err("a silence needs at least one matcher".into());
        }
        let compiled = compile(&p.matchers)?;
        if compiled.iter().all(|m| m.matches("")) {
            return Err("at least one matcher must not match the empty string (it would silence everything)".into());
        }
        let starts_at = match &p.starts_at {
            Some(s) => parse_time(s)?,
            None => now,
        };
        let ends_at = match (&p.ends_at, &p.duration) {
            (Some(s), _) => parse_time(s)?,
            (None, Some(d)) => {
                starts_at
                    + i64::try_from(super::duration::parse(d)?.as_millis())
                        .map_err(|_| "duration too large".to_string())?
            }
            (None, None) => return Err("endsAt (or duration) is required".into()),
        };
        if ends_at <= starts_at {
            return Err("endsAt must be after startsAt".into());
        }
        if ends_at <= now {
            return Err("endsAt is in the past".into());
        }
        let id = new_id();
        conn.execute(
            "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                serde_json::to_string(&p.matchers).unwrap_or_default(),
                starts_at,
                ends_at,
                p.created_by,
                p.comment,
                now
            ],
        )
        .map_err(|e| format!("cannot store the silence: {e}"))?;
        self.list.push(Silence {
            id: id.clone(),
            matchers: p.matchers,
            compiled,
            starts_at,
            ends_at,
            created_by: p.created_by,
            comment: p.comment,
            updated_at: now,
        });
        Ok(id)
    }

    /// Expire a silence now; `Ok(false)` when there is no such (unexpired) silence.
    pub fn expire(&mut self, conn: &Connection, id: &str, now: i64) -> Result<bool, String> {
        let Some(s) = self.list.iter_mut().find(|s| s.id == id && s.ends_at > now) else {
            return Ok(false);
        };
        s.ends_at = now.max(s.starts_at);
        s.updated_at = now;
        conn.execute(
            "UPDATE silences SET ends_at = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, s.ends_at, now],
        )
        .map_err(|e| format!("cannot expire the silence: {e}"))?;
        Ok(true)
    }

    /// Whether an active silence matches `labels` at `now`.
    pub fn silenced(&self, labels: &[(String, String)], now: i64) -> bool {
        self.list.iter().any(|s| {
            s.starts_at <= now && now < s.ends_at && labels::matches_all(&s.compiled, labels)
        })
    }

    /// Active silences at `now`.
    pub fn active(&self, now: i64) -> usize {
        self.list
            .iter()
            .filter(|s| s.state(now) == "active")
            .count()
    }

    /// All silences.
    pub fn all(&self) -> &[Silence] {
        &self.list
    }
}

fn new_id() -> String {
    let a = fastrand::u128(..);
    let h = format!("{a:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(json: &str) -> PostableSilence {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn silences_match_expire_and_persist() {
        let d = tempfile::tempdir().unwrap();
        let c = super::super::history::open_connection(&d.path().join("a.db")).unwrap();
        let mut s = Silences::default();
        let now = 1_700_000_000_000;
        let id = s
            .add(
                &c,
                post(r#"{"matchers":[{"name":"alertname","value":"Disk.*","isRegex":true}],"duration":"1h","createdBy":"t","comment":"c"}"#),
                now,
            )
            .unwrap();
        let l = vec![("alertname".to_string(), "DiskFull".to_string())];
        assert!(s.silenced(&l, now + 1));
        assert!(!s.silenced(&[("alertname".into(), "Cpu".into())], now + 1));
        assert!(!s.silenced(&l, now + 3_600_001));
        let again = Silences::load(&c).unwrap();
        assert!(again.silenced(&l, now + 1));
        assert!(s.expire(&c, &id, now + 10).unwrap());
        assert!(!s.silenced(&l, now + 11));
        assert!(!s.expire(&c, &id, now + 12).unwrap());
        assert!(!Silences::load(&c).unwrap().silenced(&l, now + 11));
    }

    #[test]
    fn bad_silences_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let c = super::super::history::open_connection(&d.path().join("a.db")).unwrap();
        let mut s = Silences::default();
        for body in [
            r#"{"matchers":[],"duration":"1h"}"#,
            r#"{"matchers":[{"name":"a","value":".*","isRegex":true}],"duration":"1h"}"#,
            r#"{"matchers":[{"name":"a","value":"("," isRegex":true,"isRegex":true}],"duration":"1h"}"#,
            r#"{"matchers":[{"name":"a","value":"b"}]}"#,
            r#"{"matchers":[{"name":"a","value":"b"}],"endsAt":"2001-01-01T00:00:00Z"}"#,
        ] {
            assert!(s.add(&c, post(body), 1_700_000_000_000).is_err(), "{body}");
        }
    }
}
