//! Laying this request's changes over a record a concurrent request saved.

use std::collections::BTreeSet;

use auth_core::{SessionData, SessionRecord};

use super::state::{Changes, Original};
use crate::config::ConflictPolicy;

/// What a merge needs besides the two records.
#[derive(Clone, Copy)]
pub(super) struct Merge<'a> {
    pub(super) original: &'a Original,
    pub(super) changes: &'a Changes,
    /// This request's data (a changed key's value, or its absence when removed).
    pub(super) ours: &'a SessionData,
    pub(super) policy: ConflictPolicy,
}

/// This request's changes laid over `fresh`, the record a concurrent request saved.
pub(super) fn reapply(
    fresh: &SessionRecord,
    current: &SessionRecord,
    merge: Merge<'_>,
    conflicts: &mut Vec<String>,
) -> SessionRecord {
    let Merge {
        original,
        changes,
        ours,
        policy,
    } = merge;
    let mut merged = fresh
        .clone()
        .with_expires_at(current.expires_at.max(fresh.expires_at));
    merged.idle_timeout = current.idle_timeout.or(fresh.idle_timeout);
    merged.absolute_expires_at = current.absolute_expires_at.or(fresh.absolute_expires_at);
    if changes.is_empty() {
        return merged;
    }
    let data: &mut SessionData = merged.data_mut();
    if changes.cleared {
        data.clear();
    }
    // In key order, each once.
    let keys: BTreeSet<&str> = changes.keys().collect();
    for key in keys {
        let theirs = fresh.data.get(key);
        let before = original.data.as_deref().unwrap_or(ours).get(key);
        if theirs != before {
            conflicts.push(key.to_owned());
            match policy {
                ConflictPolicy::FirstWriterWins => {
                    tracing::info!(key = %key, "concurrent change to a session key kept; this request's value dropped");
                    continue;
                }
                ConflictPolicy::LastWriterWins => {
                    tracing::info!(key = %key, "concurrent change to a session key overwritten (last writer wins)");
                }
            }
        }
        match ours.get(key) {
            Some(value) => {
                data.insert(key.to_owned(), value.clone());
            }
            None => {
                data.remove(key);
            }
        }
    }
    merged
}
