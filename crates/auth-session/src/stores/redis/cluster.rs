//! The operations on a Redis Cluster. Every script (`scripts/cluster/*.lua`) touches only its
//! one declared key, so it runs on the node owning that key's slot: a session's key
//! (`{<prefix>:<member>}`), or a subject's index (`{<prefix>:user:<subject>}:z`, a sorted
//! set). Sessions and indexes live in different slots, so the index is kept by separate
//! commands, ordered so that a live session with a subject is always in that subject's index:
//!
//! - an index entry's score is its *horizon* (Unix seconds): the session may not outlive it
//!   without first raising it. Entries are added (or raised, `ZADD GT`) *before* a session
//!   gets the subject or an expiry beyond its horizon, and the index key expires (`EXPIREAT`)
//!   at its highest horizon plus `CLOCK_SKEW`. The horizon is computed by the store's clock
//!   ([`index_horizon`]);
//! - each session hash records in `i` the horizon its index entry is known to have, so a save
//!   or touch that keeps the subject and stays within it is one script, with no index traffic;
//! - an entry is removed (`ZREM`) right after its session was deleted, as that subject's (a
//!   delete, the old ID of a cycle, a revocation): the session cannot come back (see the
//!   tombstones below), so the entry stands for nothing. Otherwise entries are only removed
//!   once their horizon has passed by the server's clock (`TIME`) minus `CLOCK_SKEW`, which
//!   covers disagreeing server clocks: never while they might stand for a live session,
//!   whatever runs concurrently. An entry whose session is missing is *not* pruned when
//!   listed: a create writes the entry before the session;
//! - a deleted session leaves a *tombstone* for `TOMBSTONE_TTL`: the hash with only `n`, the
//!   tokens of its last writes. A retried create (the cluster connection retries a script
//!   whose connection dropped, so it may run again after the session was deleted) finds it and
//!   answers as the first execution did without writing; every other operation sees no `v`,
//!   so no session.
//!
//! `n` lists the last 4 writes (create or save) as `<version>:<token>`, newest first; a token
//! is random per call. A retried write is recognised by its own entry, which holds the version
//! it wrote: only that call's write can have put it there.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use auth_core::{CreateOutcome, SaveOutcome, SessionRecord, StoreError, StoreResult};
use time::OffsetDateTime;

use super::codec;
use super::shared::{Core, Principal, SessionKey, Write, create_outcome, save_outcome};

/// How far past a session's expiry its index entry is set when the record has no absolute
/// deadline, at least: fewer index updates for sliding expiries.
pub(super) const INDEX_HEADROOM: i64 = 3600;

/// Index entries are pruned this long after their horizon, and an index expires this long
/// after its highest horizon: for Redis servers' clocks that disagree (the index and the
/// sessions are on different nodes). Application instances' clocks play no part.
const CLOCK_SKEW: i64 = 300;

/// How long a deleted session's tombstone keeps its ID taken (seconds): longer than a cluster
/// connection retries a request with the default retry settings (16 attempts with backoff, at
/// most about 11 minutes even without an overall response timeout).
const TOMBSTONE_TTL: i64 = 900;

/// Attempts at a touch whose session changes subject under it.
const TOUCH_ATTEMPTS: usize = 4;

/// Per-session requests of a listing or revocation in flight at once.
const FAN_OUT: usize = 64;

/// The key of `subject`'s index on a cluster: a sorted set, named apart from the set a
/// standalone store keeps (`{<prefix>:user:<subject>}`), in the same slot.
fn index_key(core: &Core, subject: &str) -> String {
    let mut key = core.index_key(subject);
    key.push_str(":z");
    key
}

/// The horizon of a session's index entry, how long the session may live without raising it:
/// its absolute deadline when it has one, else its expiry plus at least `INDEX_HEADROOM` (as
/// much again as it has left by the store's clock `now`, when that is more).
pub(super) fn index_horizon(
    expires_at: OffsetDateTime,
    absolute: Option<OffsetDateTime>,
    now: i64,
) -> i64 {
    let expires = codec::expiry(expires_at);
    match absolute.map(codec::expiry) {
        Some(absolute) if absolute >= expires => absolute,
        _ => expires.saturating_add((expires - now).max(INDEX_HEADROOM)),
    }
}

/// A one-time token for a create or save, by which a retried script (after a reconnect)
/// recognises its own write.
pub(super) fn token() -> StoreResult<String> {
    let mut bytes = [0; 12];
    auth_core::fill_random(&mut bytes).map_err(StoreError::backend)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Adds `member` to `subject`'s index, or raises its entry, to `horizon` (before the session
/// may get the subject or an expiry up to the horizon).
async fn raise_index(core: &Core, subject: &str, member: &str, horizon: i64) -> StoreResult<()> {
    let _: i64 = core
        .run(
            core.scripts
                .cluster
                .index
                .key(index_key(core, subject))
                .arg(member)
                .arg(horizon)
                .arg(CLOCK_SKEW),
        )
        .await?;
    Ok(())
}

/// Removes the entries of deleted sessions from `subject`'s index.
async fn unindex(core: &Core, subject: &str, members: &[&str]) -> StoreResult<()> {
    if members.is_empty() {
        return Ok(());
    }
    let mut cmd = redis::cmd("ZREM");
    cmd.arg(index_key(core, subject)).arg(members);
    let _: i64 = core.query(&cmd).await?;
    Ok(())
}

/// Raises the index entry (with a subject), then creates.
pub(super) async fn create(core: &Core, write: &Write<'_>) -> StoreResult<CreateOutcome> {
    let record = write.record;
    let horizon = if write.subject.is_empty() {
        0
    } else {
        let horizon = index_horizon(record.expires_at, record.absolute_expires_at, core.now());
        raise_index(core, write.subject, &write.session.member, horizon).await?;
        horizon
    };
    let reply = core
        .run(
            core.scripts
                .cluster
                .create
                .key(&write.session.key)
                .arg(record.version)
                .arg(write.expires)
                .arg(&write.data)
                .arg(write.subject)
                .arg(horizon)
                .arg(token()?),
        )
        .await?;
    match create_outcome(reply)? {
        CreateOutcome::NotFound => Err(StoreError::decode("unexpected reply to a session create")),
        outcome => Ok(outcome),
    }
}

/// Saves in one script, or, when it answers that the index entry must be raised first, three
/// round trips: the script, the raise, the script again.
pub(super) async fn save(core: &Core, write: &Write<'_>, next: u64) -> StoreResult<SaveOutcome> {
    let record = write.record;
    let token = token()?;
    let mut raised = None;
    loop {
        let reply: i64 = core
            .run(
                core.scripts
                    .cluster
                    .save
                    .key(&write.session.key)
                    .arg(record.version)
                    .arg(next)
                    .arg(write.expires)
                    .arg(&write.data)
                    .arg(write.subject)
                    .arg(raised.map(|h: i64| h.to_string()).unwrap_or_default())
                    .arg(&token),
            )
            .await?;
        if let Some(outcome) = save_step(reply, raised.is_some(), next)? {
            return Ok(outcome);
        }
        // "Raise the index entry first": once only, a raised horizon covers the expiry.
        let horizon = index_horizon(record.expires_at, record.absolute_expires_at, core.now());
        raise_index(core, write.subject, &write.session.member, horizon).await?;
        raised = Some(horizon);
    }
}

/// The outcome of a save whose script answered `reply`, or `None` for "raise the subject's
/// index entry, then run it again"; `raised` tells that this was done already (the raised
/// horizon covers the expiry, so being asked again is a fault).
pub(super) fn save_step(reply: i64, raised: bool, next: u64) -> StoreResult<Option<SaveOutcome>> {
    match (save_outcome(reply, next), reply) {
        (Some(outcome), _) => Ok(Some(outcome)),
        (None, -2) if !raised => Ok(None),
        _ => Err(StoreError::decode("unexpected reply to a session save")),
    }
}

/// Touches in one script, or raises the index entry of the subject the script names and
/// tries again (a few times, should the subject keep changing meanwhile).
pub(super) async fn touch(
    core: &Core,
    session: &SessionKey,
    expires_at: OffsetDateTime,
) -> StoreResult<bool> {
    let mut raised: (String, i64) = (String::new(), 0);
    for _ in 0..TOUCH_ATTEMPTS {
        let (reply, subject): (i64, String) = core
            .run(
                core.scripts
                    .cluster
                    .touch
                    .key(&session.key)
                    .arg(codec::expiry(expires_at))
                    .arg(&raised.0)
                    .arg(raised.1),
            )
            .await?;
        let subject = match touch_step(reply, subject)? {
            TouchStep::Done(touched) => return Ok(touched),
            TouchStep::RaiseIndex(subject) => subject,
        };
        // The record's absolute deadline is unknown here: the headroom horizon.
        let horizon = index_horizon(expires_at, None, core.now());
        raise_index(core, &subject, &session.member, horizon).await?;
        raised = (subject, horizon);
    }
    Err(StoreError::backend(
        "the session's subject kept changing during a touch",
    ))
}

/// What a touch does after its script's reply.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TouchStep {
    /// Touched (`true`), or no live record (`false`).
    Done(bool),
    /// Raise this subject's index entry, then run the script again.
    RaiseIndex(String),
}

/// The step after a touch script answered `(reply, subject)`.
pub(super) fn touch_step(reply: i64, subject: String) -> StoreResult<TouchStep> {
    match (reply, subject.is_empty()) {
        (1, true) => Ok(TouchStep::Done(true)),
        (0, true) => Ok(TouchStep::Done(false)),
        (-2, false) => Ok(TouchStep::RaiseIndex(subject)),
        _ => Err(StoreError::decode("unexpected reply to a session touch")),
    }
}

/// Deletes the session (leaving a tombstone), then its entry in its subject's index.
pub(super) async fn delete(core: &Core, session: &SessionKey) -> StoreResult<()> {
    delete_live(core, session).await.map(|_| ())
}

/// Deletes the session; `true` when it was live (the cycle's check that `old` still was).
async fn delete_live(core: &Core, session: &SessionKey) -> StoreResult<bool> {
    let deleted: Option<String> = core
        .run(
            core.scripts
                .cluster
                .delete
                .key(&session.key)
                .arg(TOMBSTONE_TTL),
        )
        .await?;
    let Some(subject) = deleted else {
        return Ok(false);
    };
    if !subject.is_empty() {
        unindex(core, &subject, &[&session.member]).await?;
    }
    Ok(true)
}

/// Create, then delete `old` if it is still live, else remove `new` again (a logout or a
/// revocation that ended `old` wins): the two keys are in different slots.
pub(super) async fn cycle(
    core: &Core,
    old: &SessionKey,
    new: &Write<'_>,
) -> StoreResult<CreateOutcome> {
    match create(core, new).await? {
        CreateOutcome::Created => {}
        other => return Ok(other),
    }
    if delete_live(core, old).await? {
        Ok(CreateOutcome::Created)
    } else {
        // `old` was ended meanwhile (a logout, a revocation): it stays ended.
        delete(core, &new.session).await?;
        Ok(CreateOutcome::NotFound)
    }
}

/// The members of `subject`'s index whose horizon is not over.
async fn members(core: &Core, subject: &str) -> StoreResult<Vec<String>> {
    core.run(
        core.scripts
            .cluster
            .members
            .key(index_key(core, subject))
            .arg(CLOCK_SKEW),
    )
    .await
}

/// The indexed sessions that still have `subject`, but the one whose member is `except`
/// (`""`: none): one script on the index, then one `HMGET` per member, `FAN_OUT` at a time.
/// The caller compares the issuer.
pub(super) async fn sessions_of(
    core: &Core,
    subject: &str,
    except: &str,
) -> StoreResult<Vec<SessionRecord>> {
    type Row = (Option<u64>, Option<i64>, Option<Vec<u8>>, Option<String>);
    let mut members = members(core, subject).await?;
    members.retain(|member| *member != except);
    let mut sessions = Vec::new();
    for chunk in members.chunks(FAN_OUT) {
        let rows = join_all(chunk.iter().map(|member| {
            let mut cmd = redis::cmd("HMGET");
            cmd.arg(core.key(member)).arg(&["v", "e", "d", "s"]);
            async move { core.query::<Row>(&cmd).await }
        }))
        .await;
        for (member, row) in chunk.iter().zip(rows) {
            // Not written yet (a create writes the entry first), gone, or moved to another
            // subject: the entry stays until its horizon (or its session's deletion).
            let (Some(version), Some(expires_at), Some(data), Some(owner)) = row? else {
                continue;
            };
            if owner == subject {
                sessions.push(core.listed(member.as_bytes(), version, expires_at, &data)?);
            }
        }
    }
    Ok(sessions)
}

/// Revokes the principal's indexed sessions but `keep` (`""`: none): one script on the index,
/// then one script per member (`FAN_OUT` at a time), each deleting its session only if it
/// still belongs to the principal, then one `ZREM` of the revoked entries per chunk.
pub(super) async fn delete_sessions_of(
    core: &Core,
    principal: &Principal<'_>,
    keep: &str,
) -> StoreResult<u64> {
    let subject = principal.subject;
    let members = members(core, subject).await?;
    let mut deleted = 0;
    for chunk in members.chunks(FAN_OUT) {
        let targets: Vec<&str> = chunk
            .iter()
            .map(String::as_str)
            .filter(|member| *member != keep)
            .collect();
        let replies = join_all(targets.iter().map(|member| {
            let mut invocation = core.scripts.cluster.revoke.key(core.key(member));
            invocation
                .arg(subject)
                .arg(TOMBSTONE_TTL)
                .arg(principal.has_issuer)
                .arg(principal.issuer);
            async move { core.run::<u64>(&invocation).await }
        }))
        .await;
        let mut revoked = Vec::new();
        let mut failed = None;
        for (member, reply) in targets.iter().zip(replies) {
            match reply {
                Ok(1) => revoked.push(*member),
                Ok(0) => {}
                Ok(_) => {
                    failed.get_or_insert(StoreError::decode("unexpected reply to a revocation"));
                }
                Err(error) => {
                    failed.get_or_insert(error);
                }
            }
        }
        // The sessions deleted so far leave the index even when others failed.
        unindex(core, subject, &revoked).await?;
        deleted += revoked.len() as u64;
        if let Some(error) = failed {
            return Err(error);
        }
    }
    Ok(deleted)
}

/// Polls `futures` together (requests on one multiplexed connection then share the wire) and
/// returns their outputs in order.
pub(super) async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut done = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => done = false,
                }
            }
        }
        if done {
            Poll::Ready(outputs.drain(..).flatten().collect())
        } else {
            Poll::Pending
        }
    })
    .await
}
