//! The check of concurrent writers: versioned saves lose no update.

use std::sync::Arc;

use auth_core::{SaveOutcome, SessionId, SessionStore};
use serde_json::json;

use super::Harness;
use super::check::{Check, LIVE};

/// Tasks in [`concurrent_disjoint_updates_lose_nothing`].
pub const CONCURRENT_TASKS: usize = 32;
/// Updates each task makes in [`concurrent_disjoint_updates_lose_nothing`].
pub const CONCURRENT_ROUNDS: u64 = 3;

/// [`CONCURRENT_TASKS`] tokio tasks each update their own key of one session
/// [`CONCURRENT_ROUNDS`] times (load, modify, yield, save, retry on `Conflict`): every update
/// is kept and the version counts them exactly.
///
/// Needs a tokio runtime (`#[tokio::test]`); a multi-threaded one adds real parallelism.
pub async fn concurrent_disjoint_updates_lose_nothing<H: Harness>(harness: &H) {
    let c = Check("concurrent_disjoint_updates_lose_nothing");
    let store = Arc::new(harness.store().await);
    let record = c
        .record(harness, LIVE)
        .with_value("shared", json!("untouched"));
    c.create(&*store, &record).await;

    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|task| {
            let store = Arc::clone(&store);
            let id = record.id;
            tokio::spawn(async move { update_own_key(&*store, id, task).await })
        })
        .collect();
    for (task, handle) in tasks.into_iter().enumerate() {
        match handle.await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => c.fail(format_args!("task {task}: {why}")),
            Err(error) => c.fail(format_args!("task {task} did not finish: {error}")),
        }
    }

    let loaded = c
        .load(&*store, &record.id, "after the concurrent updates")
        .await;
    for task in 0..CONCURRENT_TASKS {
        let key = format!("task-{task}");
        c.eq(
            loaded.data.get(&key),
            Some(&json!(CONCURRENT_ROUNDS)),
            &format!("value of `{key}` (an update was lost)"),
        );
    }
    c.eq(
        loaded.data.get("shared"),
        Some(&json!("untouched")),
        "untouched key",
    );
    c.eq(
        loaded.version,
        1 + CONCURRENT_TASKS as u64 * CONCURRENT_ROUNDS,
        "version after every update",
    );
}

async fn update_own_key<S: SessionStore>(
    store: &S,
    id: SessionId,
    task: usize,
) -> Result<(), String> {
    let key = format!("task-{task}");
    for round in 1..=CONCURRENT_ROUNDS {
        // Every conflict means another update succeeded, and there are only so many.
        let mut attempts = 0usize;
        loop {
            attempts += 1;
            if attempts > 100 * CONCURRENT_TASKS {
                return Err(format!(
                    "round {round}: still conflicting after {attempts} attempts"
                ));
            }
            let mut record = match store.load(&id).await {
                Ok(Some(record)) => record,
                Ok(None) => return Err(format!("round {round}: the session vanished")),
                Err(error) => return Err(format!("round {round}: load failed: {error}")),
            };
            let previous = record.data.get(&key).cloned().unwrap_or(json!(0));
            if previous != json!(round - 1) {
                return Err(format!(
                    "round {round}: own key was {previous}, want {}",
                    round - 1
                ));
            }
            record.data_mut().insert(key.clone(), json!(round));
            // Let the other tasks load the same version: this is what makes conflicts happen.
            tokio::task::yield_now().await;
            match store.save(&record).await {
                Ok(SaveOutcome::Saved { version }) if version == record.version + 1 => break,
                Ok(SaveOutcome::Saved { version }) => {
                    return Err(format!(
                        "round {round}: saved at version {version}, want {}",
                        record.version + 1
                    ));
                }
                Ok(SaveOutcome::Conflict) => {}
                Ok(SaveOutcome::NotFound) => {
                    return Err(format!("round {round}: save said the session is gone"));
                }
                Err(error) => return Err(format!("round {round}: save failed: {error}")),
            }
        }
    }
    Ok(())
}
