//! Settling a session with its store, step by step.
//!
//! A [`Settling`] is what is left of one settling: a step that needs at most one store call
//! (`Settling::call` makes it), and what to do with the answer (`Settling::answer`). The
//! steps are written once and run by one of two drivers:
//!
//! - [`Settling::run_now`], right after the response, as far as the store answers at once
//!   (its [`StoreFuture`] is ready: a `MemoryStore`, a fresh `CachingStore` entry): no future
//!   is kept and nothing is allocated for the settling;
//! - [`Settling::run`], a future, for the rest: a store that answers later (its call, dropped
//!   unpolled by `run_now`, is made again there), or the backoff after a conflicting save.

use std::sync::Arc;

use auth_core::{
    CreateOutcome, SaveOutcome, SessionData, SessionId, SessionRecord, StoreError, StoreFuture,
    StoreResult,
};
use time::{Duration, OffsetDateTime};

use super::merge::{Merge, reapply};
use super::plan::{CookieChange, Job, Plan, Settled, cookie_for, saved, touched};
use super::state::{Changes, Original};
use crate::config::Config;
use crate::id::new_session_id;
use crate::unix_time::date;

/// How far settling got at once.
pub(crate) enum Settle {
    /// Done: what the response needs.
    Now(Settled),
    /// The rest needs waiting: [`Settling::run`] it.
    Later(Settling),
}

/// One settling in progress (see the [module docs](self)).
pub(crate) struct Settling {
    config: Arc<Config>,
    step: Step,
    /// "Now" when settling began, in nanoseconds since the epoch.
    now: i128,
}

/// What is left to do.
enum Step {
    Done(Settled),
    Delete(SessionId),
    /// Creating a new session; `attempts` IDs were taken already.
    Create {
        record: SessionRecord,
        attempts: u8,
    },
    /// Moving session `old` to `record.id`.
    Cycle {
        old: SessionId,
        record: SessionRecord,
        attempts: u8,
    },
    Touch {
        id: SessionId,
        expires_at: OffsetDateTime,
        resend_cookie: bool,
        max_age: Option<Duration>,
    },
    /// A versioned save of `save.record`.
    Save(Box<Saving>),
    /// A save conflicted: waiting a random while before reloading.
    Backoff(Box<Saving>),
    /// Reloading the session a concurrent request saved, to merge into it.
    Reload(Box<Saving>),
}

/// A save, and what a merge after a conflict needs.
struct Saving {
    record: SessionRecord,
    original: Original,
    changes: Changes,
    /// This request's data, before any merge.
    ours: Arc<SessionData>,
    resend_cookie: bool,
    conflicts: Vec<String>,
    /// Saves tried so far.
    saves: u32,
}

/// What a store call answered.
enum Answer {
    Created(CreateOutcome),
    Saved(SaveOutcome),
    Loaded(Option<SessionRecord>),
    Touched(bool),
    Deleted,
}

impl Settling {
    /// The settling of `job` (a plan that needs the store).
    pub(super) fn new(config: Arc<Config>, job: Job) -> Self {
        let Job {
            plan,
            original,
            changes,
            now,
        } = job;
        let step = match plan {
            Plan::Done(settled) => Step::Done(settled),
            Plan::Delete(id) => Step::Delete(id),
            Plan::Create(record) => Step::Create {
                record,
                attempts: 0,
            },
            Plan::Cycle(old, mut record) => {
                record.version = 1;
                match fresh_id() {
                    Ok(id) => {
                        record.id = id;
                        Step::Cycle {
                            old,
                            record,
                            attempts: 0,
                        }
                    }
                    Err(error) => Step::Done(Settled::failed(&error)),
                }
            }
            Plan::Save {
                record,
                resend_cookie,
            } => match original {
                Some(original) => Step::Save(Box::new(Saving {
                    ours: Arc::clone(&record.data),
                    record,
                    original,
                    changes,
                    resend_cookie,
                    conflicts: Vec::new(),
                    saves: 0,
                })),
                None => Step::Done(Settled::failed(&StoreError::backend("no original"))),
            },
            Plan::Touch {
                id,
                expires_at,
                resend_cookie,
                max_age,
            } => Step::Touch {
                id,
                expires_at: date(expires_at),
                resend_cookie,
                max_age,
            },
        };
        Self { config, step, now }
    }

    /// Runs the steps the store answers at once; the rest from the first call the store
    /// answers later (dropped unpolled, to be made again by [`run`](Self::run)) or from a
    /// backoff.
    pub(crate) fn run_now(mut self) -> Settle {
        loop {
            match &mut self.step {
                Step::Done(settled) => return Settle::Now(std::mem::take(settled)),
                Step::Backoff(_) => return Settle::Later(self),
                _ => {}
            }
            // A call the store answers later is dropped here, unpolled.
            let Ok(answer) = self.call().into_ready() else {
                return Settle::Later(self);
            };
            self.answer(answer);
        }
    }

    /// Runs the remaining steps, waiting for the store and the backoffs.
    pub(crate) async fn run(mut self) -> Settled {
        loop {
            match &mut self.step {
                Step::Done(settled) => return std::mem::take(settled),
                Step::Backoff(saving) => {
                    tokio::time::sleep(backoff(saving.saves.saturating_sub(1))).await;
                    self.slept();
                    continue;
                }
                _ => {}
            }
            let answer = self.call().await;
            self.answer(answer);
        }
    }

    /// The store call of the current step (one that needs the store).
    fn call(&mut self) -> StoreFuture<'_, Answer> {
        let store = &*self.config.store;
        match &self.step {
            Step::Delete(id) => store.delete(id).map(|()| Answer::Deleted),
            Step::Create { record, .. } => store.create(record).map(Answer::Created),
            Step::Cycle { old, record, .. } => store.cycle(old, record).map(Answer::Created),
            Step::Touch { id, expires_at, .. } => store.touch(id, *expires_at).map(Answer::Touched),
            Step::Save(saving) => store.save(&saving.record).map(Answer::Saved),
            Step::Reload(saving) => store.load(&saving.original.id).map(Answer::Loaded),
            Step::Done(_) | Step::Backoff(_) => StoreFuture::ready(Err(StoreError::backend(
                "a settling step that needs no store call was sent to the store",
            ))),
        }
    }

    /// The backoff is over.
    fn slept(&mut self) {
        let step = std::mem::replace(&mut self.step, Step::Done(Settled::default()));
        self.step = match step {
            Step::Backoff(saving) => Step::Reload(saving),
            other => other,
        };
    }

    /// Takes the answer to the current step's call and moves on.
    fn answer(&mut self, answer: StoreResult<Answer>) {
        let step = std::mem::replace(&mut self.step, Step::Done(Settled::default()));
        self.step = match self.advance(step, answer) {
            Ok(step) => step,
            Err(error) => Step::Done(Settled::failed(&error)),
        };
    }

    fn advance(&self, step: Step, answer: StoreResult<Answer>) -> Result<Step, StoreError> {
        let now = self.now;
        Ok(match (step, answer) {
            (Step::Delete(_), Ok(Answer::Deleted)) => {
                Step::Done(Settled::cookie(CookieChange::Remove))
            }
            (Step::Delete(_), Err(error)) => {
                tracing::error!(%error, "session store failed to delete a session at logout");
                Step::Done(Settled::unavailable())
            }
            (
                Step::Create {
                    mut record,
                    attempts,
                },
                Ok(Answer::Created(outcome)),
            ) => match outcome {
                CreateOutcome::Created => Step::Done(Settled::cookie(cookie_for(&record, now))),
                // The (astronomically unlikely) collision: another ID.
                CreateOutcome::IdTaken if attempts < 2 => {
                    record.id = fresh_id()?;
                    Step::Create {
                        record,
                        attempts: attempts + 1,
                    }
                }
                CreateOutcome::IdTaken => return Err(collisions()),
                // `create` never answers this; refuse rather than guess.
                CreateOutcome::NotFound => {
                    return Err(StoreError::backend("store answered NotFound to create"));
                }
            },
            (
                Step::Cycle {
                    old,
                    mut record,
                    attempts,
                },
                Ok(Answer::Created(outcome)),
            ) => match outcome {
                CreateOutcome::Created => Step::Done(Settled::cookie(cookie_for(&record, now))),
                // Ended meanwhile (a logout, a revocation): it stays ended, this request's
                // login or ID change is dropped.
                CreateOutcome::NotFound => Step::Done(deleted_meanwhile()),
                CreateOutcome::IdTaken if attempts < 2 => {
                    record.id = fresh_id()?;
                    Step::Cycle {
                        old,
                        record,
                        attempts: attempts + 1,
                    }
                }
                CreateOutcome::IdTaken => return Err(collisions()),
            },
            (
                Step::Touch {
                    id,
                    resend_cookie,
                    max_age,
                    ..
                },
                Ok(Answer::Touched(live)),
            ) => Step::Done(Settled::cookie(touched(live, id, resend_cookie, max_age))),
            (Step::Save(mut saving), Ok(Answer::Saved(outcome))) => {
                saving.saves += 1;
                match outcome {
                    SaveOutcome::Saved { .. } => Step::Done(Settled {
                        cookie: saved(&saving.record, saving.resend_cookie, now),
                        unavailable: false,
                        conflicts: std::mem::take(&mut saving.conflicts),
                    }),
                    // Deleted meanwhile (a logout elsewhere): it stays deleted.
                    SaveOutcome::NotFound => Step::Done(deleted_meanwhile()),
                    SaveOutcome::Conflict if saving.saves >= self.config.max_save_attempts => {
                        return Err(StoreError::backend(format!(
                            "session save still conflicting after {} attempts",
                            self.config.max_save_attempts
                        )));
                    }
                    // Many writers on one session: each round has one winner, so back off a
                    // random while before re-reading, or the same writers collide again.
                    SaveOutcome::Conflict => Step::Backoff(saving),
                }
            }
            (Step::Reload(mut saving), Ok(Answer::Loaded(fresh))) => {
                let Some(fresh) = fresh else {
                    return Ok(Step::Done(deleted_meanwhile()));
                };
                let Saving {
                    record,
                    original,
                    changes,
                    ours,
                    conflicts,
                    ..
                } = &mut *saving;
                conflicts.clear();
                *record = reapply(
                    &fresh,
                    record,
                    Merge {
                        original,
                        changes,
                        ours,
                        policy: self.config.conflict_policy,
                    },
                    conflicts,
                );
                Step::Save(saving)
            }
            (_, Err(error)) => return Err(error),
            (_, Ok(_)) => return Err(StoreError::backend("a settling step got another answer")),
        })
    }
}

fn deleted_meanwhile() -> Settled {
    tracing::info!(
        "session was deleted by a concurrent request; this request's changes are dropped"
    );
    Settled::cookie(CookieChange::Remove)
}

fn collisions() -> StoreError {
    StoreError::backend("three session ID collisions in a row")
}

fn fresh_id() -> Result<SessionId, StoreError> {
    new_session_id().map_err(StoreError::backend)
}

/// A random while below `min(2^attempt, 32)` milliseconds (full jitter). Waited with tokio's
/// timer: the runtime must have time enabled (`#[tokio::main]` does), which only matters for
/// sessions written by concurrent requests.
fn backoff(attempt: u32) -> std::time::Duration {
    let cap_ms = 1_u64 << attempt.min(5);
    let mut random = [0_u8; 2];
    let jitter = if auth_core::fill_random(&mut random).is_ok() {
        u64::from(u16::from_le_bytes(random))
    } else {
        u64::from(attempt) * 7919
    };
    std::time::Duration::from_micros(jitter % (cap_ms * 1000 + 1))
}
