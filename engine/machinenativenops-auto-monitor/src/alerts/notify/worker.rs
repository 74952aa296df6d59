//! One delivery worker per `webhook` / `command` notifier: takes due items from the
//! persistent queue, delivers, and on failure schedules a retry with backoff and jitter
//! until `max_attempts` or the queue's `max_age`.

use std::sync::Arc;
use std::time::Duration;

use crate::alerts::core::now_ms;
use crate::alerts::engine::Shared;
use crate::alerts::history::{self, open_connection};
use crate::alerts::queue;

/// Run until the engine stops or the notifier disappears from the configuration.
pub async fn run(shared: Arc<Shared>, receiver: String) {
    let conn = match open_connection(&shared.db_path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(receiver = %receiver, error = %e, "notification worker cannot open the database");
            return;
        }
    };
    let wake = shared.waker(&receiver);
    loop {
        if shared.stop.is_cancelled() {
            break;
        }
        let settings = shared.settings();
        let Some(spec) = settings.notifiers.get(&receiver).cloned() else {
            break;
        };
        let now = now_ms();
        let item = match queue::next_due(&conn, &receiver, now) {
            Ok(i) => i,
            Err(e) => {
                tracing::error!(receiver = %receiver, error = %e, "reading the notification queue");
                sleep_or_stop(&shared, Duration::from_secs(1)).await;
                continue;
            }
        };
        let Some(item) = item else {
            let next = queue::next_at(&conn, &receiver).ok().flatten();
            let wait = next
                .map(|t| Duration::from_millis((t - now).clamp(0, 5_000) as u64))
                .unwrap_or(Duration::from_secs(5));
            tokio::select! {
                _ = shared.stop.cancelled() => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            continue;
        };
        let max_age = settings.retry_queue.max_age.as_millis_i64();
        if now - item.created_at > max_age {
            drop_item(&shared, &conn, &item, "expired in the retry queue");
            continue;
        }
        let attempts = item.attempts + 1;
        let result = super::deliver(&shared.client, &spec, &item.payload).await;
        let done = now_ms();
        match result {
            Ok(detail) => {
                let _ = queue::remove(&conn, item.id);
                if let Err(e) = history::record_notification(
                    &conn,
                    &receiver,
                    &item.group_key,
                    &item.status,
                    &item.episodes,
                    done,
                    "success",
                    attempts,
                    &detail,
                ) {
                    tracing::error!(error = %e, "cannot record a notification");
                }
                shared.count_notification(&receiver, "success");
                tracing::info!(receiver = %receiver, status = %item.status, attempts, "notification delivered");
            }
            Err(e) => {
                shared.count_notification(&receiver, "failure");
                // Redis and the SuperAgent are retried until the queue's max_age: an outage
                // of either must lose nothing, and they resume within a second of returning.
                use crate::alerts::config::NotifierKind;
                let patient = matches!(spec.kind, NotifierKind::Redis | NotifierKind::Superagent);
                if attempts >= spec.max_attempts && !patient {
                    drop_item(
                        &shared,
                        &conn,
                        &item,
                        &format!("gave up after {attempts} attempts: {e}"),
                    );
                } else {
                    let mut delay =
                        queue::backoff(attempts, spec.initial_backoff.0, spec.max_backoff.0);
                    if patient {
                        delay = delay.min(Duration::from_secs(1));
                    }
                    tracing::warn!(receiver = %receiver, attempts, retry_in = ?delay, error = %e, "notification failed; will retry");
                    let _ = queue::retry_at(
                        &conn,
                        item.id,
                        attempts,
                        done + delay.as_millis() as i64,
                        &e,
                    );
                }
            }
        }
    }
}

fn drop_item(shared: &Shared, conn: &rusqlite::Connection, item: &queue::Item, why: &str) {
    tracing::error!(receiver = %item.receiver, group = %item.group_key, "notification dropped: {why}");
    let _ = queue::remove(conn, item.id);
    let _ = history::record_notification(
        conn,
        &item.receiver,
        &item.group_key,
        &item.status,
        &item.episodes,
        now_ms(),
        "dropped",
        item.attempts,
        why,
    );
    shared.count_notification(&item.receiver, "dropped");
}

async fn sleep_or_stop(shared: &Shared, d: Duration) {
    tokio::select! {
        _ = shared.stop.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}
