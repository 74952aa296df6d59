//! The persistent delivery queue (an outbox in `alerts.db`) of `webhook` and `command`
//! notifications: every notification is written here before its first attempt, retried with
//! exponential backoff and jitter, and survives a restart. The queue is bounded per notifier
//! (the oldest goes first), and a newer notification for the same group replaces an older one
//! still waiting — the receiver gets the group's current state, once.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::history::HistoryError;

/// A queued notification.
#[derive(Debug, Clone)]
pub struct Item {
    /// Row id.
    pub id: i64,
    /// Notifier name.
    pub receiver: String,
    /// Group key.
    pub group_key: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// The JSON payload.
    pub payload: String,
    /// History rows of the alerts in it.
    pub episodes: Vec<i64>,
    /// When it was queued (ms).
    pub created_at: i64,
    /// Attempts so far.
    pub attempts: u32,
}

fn err(context: &'static str) -> impl Fn(rusqlite::Error) -> HistoryError {
    move |e| HistoryError::from_sqlite(context, e)
}

/// Queue a notification; returns how many older ones were dropped to stay within `max_items`.
#[allow(clippy::too_many_arguments)]
pub fn enqueue(
    conn: &Connection,
    receiver: &str,
    group_key: &str,
    status: &str,
    payload: &str,
    episodes: &[i64],
    now: i64,
    max_items: usize,
) -> Result<usize, HistoryError> {
    let tx = conn.unchecked_transaction().map_err(err("begin"))?;
    conn.execute(
        "DELETE FROM outbox WHERE receiver = ?1 AND group_key = ?2",
        params![receiver, group_key],
    )
    .map_err(err("supersede"))?;
    conn.execute(
        "INSERT INTO outbox (receiver, group_key, status, payload, episodes, created_at, next_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![
            receiver,
            group_key,
            status,
            payload,
            serde_json::to_string(episodes).unwrap_or_else(|_| "[]".into()),
            now
        ],
    )
    .map_err(err("enqueue"))?;
    let dropped = conn
        .execute(
            "DELETE FROM outbox WHERE receiver = ?1 AND id NOT IN (SELECT id FROM outbox WHERE receiver = ?1 ORDER BY id DESC LIMIT ?2)",
            params![receiver, max_items.max(1) as i64],
        )
        .map_err(err("bound"))?;
    tx.commit().map_err(err("commit"))?;
    Ok(dropped)
}

/// The oldest item of `receiver` due at `now`.
pub fn next_due(conn: &Connection, receiver: &str, now: i64) -> Result<Option<Item>, HistoryError> {
    conn.query_row(
        "SELECT id, receiver, group_key, status, payload, episodes, created_at, attempts FROM outbox
         WHERE receiver = ?1 AND next_at <= ?2 ORDER BY next_at, id LIMIT 1",
        params![receiver, now],
        |r| {
            let eps: String = r.get(5)?;
            Ok(Item {
                id: r.get(0)?,
                receiver: r.get(1)?,
                group_key: r.get(2)?,
                status: r.get(3)?,
                payload: r.get(4)?,
                episodes: serde_json::from_str(&eps).unwrap_or_default(),
                created_at: r.get(6)?,
                attempts: r.get::<_, i64>(7)?.max(0) as u32,
            })
        },
    )
    .optional()
    .map_err(err("next due"))
}

/// When the next item of `receiver` is due (ms).
pub fn next_at(conn: &Connection, receiver: &str) -> Result<Option<i64>, HistoryError> {
    conn.query_row(
        "SELECT MIN(next_at) FROM outbox WHERE receiver = ?1",
        params![receiver],
        |r| r.get(0),
    )
    .map_err(err("next at"))
}

/// Remove a delivered (or abandoned) item.
pub fn remove(conn: &Connection, id: i64) -> Result<(), HistoryError> {
    conn.execute("DELETE FROM outbox WHERE id = ?1", params![id])
        .map_err(err("remove"))?;
    Ok(())
}

/// Schedule another attempt.
pub fn retry_at(
    conn: &Connection,
    id: i64,
    attempts: u32,
    next_at: i64,
    error: &str,
) -> Result<(), HistoryError> {
    conn.execute(
        "UPDATE outbox SET attempts = ?2, next_at = ?3, last_error = ?4 WHERE id = ?1",
        params![id, attempts, next_at, error],
    )
    .map_err(err("retry"))?;
    Ok(())
}

/// Items waiting per notifier.
pub fn lengths(conn: &Connection) -> Result<Vec<(String, i64)>, HistoryError> {
    let mut st = conn
        .prepare_cached("SELECT receiver, COUNT(*) FROM outbox GROUP BY receiver")
        .map_err(err("prepare lengths"))?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(err("lengths"))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(err("lengths"))
}

/// The delay before attempt `attempt + 1`: `initial · 2^(attempt-1)`, capped at `max`, ±20%.
pub fn backoff(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let base = initial.saturating_mul(1u32 << exp).min(max);
    let jitter = 0.8 + 0.4 * fastrand::f64();
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_supersedes_bounds_and_retries() {
        let d = tempfile::tempdir().unwrap();
        let c = super::super::history::open_connection(&d.path().join("a.db")).unwrap();
        enqueue(&c, "hook", "g1", "firing", "{}", &[1], 100, 2).unwrap();
        enqueue(&c, "hook", "g1", "resolved", "{}", &[1], 110, 2).unwrap();
        let it = next_due(&c, "hook", 200).unwrap().unwrap();
        assert_eq!(it.status, "resolved", "the newer state replaced the older");
        enqueue(&c, "hook", "g2", "firing", "{}", &[2], 120, 2).unwrap();
        assert_eq!(
            enqueue(&c, "hook", "g3", "firing", "{}", &[3], 130, 2).unwrap(),
            1
        );
        assert_eq!(lengths(&c).unwrap(), vec![("hook".to_string(), 2)]);
        let it = next_due(&c, "hook", 200).unwrap().unwrap();
        assert_eq!(it.group_key, "g2");
        retry_at(&c, it.id, 1, 500, "down").unwrap();
        assert_eq!(next_due(&c, "hook", 200).unwrap().unwrap().group_key, "g3");
        remove(&c, next_due(&c, "hook", 200).unwrap().unwrap().id).unwrap();
        assert!(next_due(&c, "hook", 200).unwrap().is_none());
        assert_eq!(next_at(&c, "hook").unwrap(), Some(500));
        assert!(next_due(&c, "other", 1000).unwrap().is_none());
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let (i, m) = (Duration::from_secs(1), Duration::from_secs(10));
        for (a, base) in [(1u32, 1.0f64), (2, 2.0), (3, 4.0), (10, 10.0)] {
            let d = backoff(a, i, m).as_secs_f64();
            assert!(d >= base * 0.8 - 1e-9 && d <= base * 1.2 + 1e-9, "{a}: {d}");
        }
    }
}
