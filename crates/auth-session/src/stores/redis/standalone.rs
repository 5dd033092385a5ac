//! The operations on a standalone server: each is one Lua script (`scripts/*.lua`, after
//! `prelude.lua`), which keeps a session and its subject's index in one atomic step: a
//! create-if-absent, a versioned save, a touch, a delete, a create-then-delete cycle, and the
//! listing and revocation of a principal's sessions.

use auth_core::{CreateOutcome, SaveOutcome, SessionRecord, StoreError, StoreResult};
use redis::{Script, ScriptInvocation};
use time::OffsetDateTime;

use super::codec;
use super::shared::{Core, Principal, SessionKey, Write, create_outcome, save_outcome};

/// How long a subject's index must live at least: until the session expires, by the store's
/// clock `now` (Unix seconds), and at least 1 s.
pub(super) fn index_ttl(expires_at: OffsetDateTime, now: i64) -> i64 {
    (codec::expiry(expires_at) - now).max(1)
}

/// `script` on the session of `write`, with the arguments the create, save and cycle scripts
/// start with (for the prelude's `index_add`): prefix, member, subject, index TTL.
fn write_script<'a>(core: &'a Core, script: &'a Script, write: &Write<'_>) -> ScriptInvocation<'a> {
    let mut invocation = script.key(&write.session.key);
    invocation
        .arg(&*core.prefix)
        .arg(&write.session.member)
        .arg(write.subject)
        .arg(index_ttl(write.record.expires_at, core.now()));
    invocation
}

pub(super) async fn create(core: &Core, write: &Write<'_>) -> StoreResult<CreateOutcome> {
    let reply = core
        .run(
            write_script(core, &core.scripts.create, write)
                .arg(write.record.version)
                .arg(write.expires)
                .arg(&write.data),
        )
        .await?;
    create_outcome(reply)
}

pub(super) async fn save(core: &Core, write: &Write<'_>, next: u64) -> StoreResult<SaveOutcome> {
    let reply = core
        .run(
            write_script(core, &core.scripts.save, write)
                .arg(write.record.version)
                .arg(next)
                .arg(write.expires)
                .arg(&write.data),
        )
        .await?;
    save_outcome(reply, next)
        .ok_or_else(|| StoreError::decode("unexpected reply to a session save"))
}

pub(super) async fn touch(
    core: &Core,
    session: &SessionKey,
    expires_at: OffsetDateTime,
) -> StoreResult<bool> {
    let touched: i64 = core
        .run(
            core.scripts
                .touch
                .key(&session.key)
                .arg(&*core.prefix)
                .arg(&session.member)
                .arg(index_ttl(expires_at, core.now()))
                .arg(codec::expiry(expires_at)),
        )
        .await?;
    Ok(touched == 1)
}

pub(super) async fn delete(core: &Core, session: &SessionKey) -> StoreResult<()> {
    let _: i64 = core
        .run(
            core.scripts
                .delete
                .key(&session.key)
                .arg(&*core.prefix)
                .arg(&session.member),
        )
        .await?;
    Ok(())
}

/// The whole cycle in one script: the old session checked, the new one created, the old one
/// deleted.
pub(super) async fn cycle(
    core: &Core,
    old: &SessionKey,
    new: &Write<'_>,
) -> StoreResult<CreateOutcome> {
    let reply = core
        .run(
            write_script(core, &core.scripts.cycle, new)
                .key(&old.key)
                .arg(new.record.version)
                .arg(new.expires)
                .arg(&new.data)
                .arg(&old.member),
        )
        .await?;
    create_outcome(reply)
}

/// The sessions of the subject's index that belong to the principal (the script compares the
/// issuer), but the one whose member is `except` (`""`: none), in one script.
pub(super) async fn sessions_of(
    core: &Core,
    principal: &Principal<'_>,
    except: &str,
) -> StoreResult<Vec<SessionRecord>> {
    let rows: Vec<Vec<u8>> = core
        .run(
            core.scripts
                .list
                .arg(&*core.prefix)
                .arg(principal.subject)
                .arg(principal.has_issuer)
                .arg(principal.issuer),
        )
        .await?;
    let mut sessions = Vec::with_capacity(rows.len() / 4);
    for row in rows.chunks(4) {
        let [member, version, expires_at, data] = row else {
            return Err(StoreError::decode("truncated session index reply"));
        };
        if member.as_slice() != except.as_bytes() {
            let (version, expires_at) = (codec::number(version)?, codec::number(expires_at)?);
            sessions.push(core.listed(member, version, expires_at, data)?);
        }
    }
    Ok(sessions)
}

/// Deletes the principal's sessions but the one whose member is `keep` (`""`: none), in one
/// script.
pub(super) async fn delete_sessions_of(
    core: &Core,
    principal: &Principal<'_>,
    keep: &str,
) -> StoreResult<u64> {
    core.run(
        core.scripts
            .revoke
            .arg(&*core.prefix)
            .arg(principal.subject)
            .arg(keep)
            .arg(principal.has_issuer)
            .arg(principal.issuer),
    )
    .await
}
