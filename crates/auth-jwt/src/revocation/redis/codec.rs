//! How a [`RedisRevocationList`](super::RedisRevocationList) lays revocations out in Redis:
//! the key and value of an entry, the pub/sub message announcing one, the write script that
//! stores and announces it, and the keys of lists before the issuer was part of the key.
//! Everything written is encoded here, next to what reads it back.

use redis::{Script, ScriptInvocation};

use crate::revocation::entry::{Kind, Revocation};

/// Records `(epoch, until)` as the max of the stored and the new values, with the key
/// expiring at `until + grace`, and publishes the result. Atomic (one script).
pub(super) const WRITE_SCRIPT: &str = r"
local epoch = tonumber(ARGV[1])
local untl = tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
if cur then
  local e, u = string.match(cur, '^(%-?%d+) (%-?%d+)$')
  if e then
    epoch = math.max(epoch, tonumber(e))
    untl = math.max(untl, tonumber(u))
  end
end
local value = string.format('%d %d', epoch, untl)
redis.call('SET', KEYS[1], value, 'EXAT', untl + tonumber(ARGV[3]))
redis.call('PUBLISH', ARGV[4], ARGV[5] .. ' ' .. value .. ' ' .. ARGV[6])
return value
";

impl Kind {
    /// The short name used in Redis keys and messages.
    fn tag(self) -> &'static str {
        match self {
            Self::Token => "jti",
            Self::Subject => "sub",
            Self::Session => "sid",
        }
    }

    /// The kind named by [`tag`](Self::tag).
    fn from_tag(tag: &str) -> Option<Self> {
        match tag {
            "jti" => Some(Self::Token),
            "sub" => Some(Self::Subject),
            "sid" => Some(Self::Session),
            _ => None,
        }
    }
}

/// One run of [`WRITE_SCRIPT`] for `revocation`. The key is
/// `{prefix}{tag}@{issuer length}:{issuer}{id}`; the arguments are the epoch and `until` to
/// store (as `"{epoch} {until}"`), the `grace` seconds the key outlives `until` by, and the
/// `channel` and two halves of the message the script publishes around the stored value:
/// `"v2 {tag} {epoch} {until} {issuer length} {issuer}{id}"`.
pub(super) fn write_invocation<'s>(
    script: &'s Script,
    prefix: &str,
    channel: &str,
    grace: i64,
    revocation: &Revocation<'_>,
) -> ScriptInvocation<'s> {
    let (tag, issuer, id) = (revocation.kind.tag(), revocation.issuer, revocation.id);
    let key = format!("{prefix}{tag}@{}:{issuer}{id}", issuer.len());
    let mut invocation = script.key(&key);
    invocation
        .arg(revocation.epoch)
        .arg(revocation.until)
        .arg(grace)
        .arg(channel)
        .arg(format!("v2 {tag}"))
        .arg(format!("{} {issuer}{id}", issuer.len()));
    invocation
}

/// The value stored under a key, `"{epoch} {until}"`.
pub(super) fn parse_value(value: &str) -> Option<(i64, i64)> {
    let (epoch, until) = value.split_once(' ')?;
    Some((epoch.parse().ok()?, until.parse().ok()?))
}

/// The revocation stored as `value` under `key`, a key of `prefix`
/// (`{prefix}{tag}@{issuer length}:{issuer}{id}`); `None` for anything else, keys without an
/// issuer included.
pub(super) fn parse_entry<'k>(prefix: &str, key: &'k str, value: &str) -> Option<Revocation<'k>> {
    let (kind, issuer, id) = key.strip_prefix(prefix).and_then(parse_scoped_key)?;
    let (epoch, until) = parse_value(value)?;
    Some(Revocation {
        kind,
        issuer,
        id,
        epoch,
        until,
    })
}

/// `{tag}@{issuer length}:{issuer}{id}` (after the prefix); `None` for anything else, keys
/// without an issuer included.
fn parse_scoped_key(rest: &str) -> Option<(Kind, &str, &str)> {
    let (tag, rest) = rest.split_once('@')?;
    let kind = Kind::from_tag(tag)?;
    let (split, scoped) = rest.split_once(':')?;
    let split: usize = split.parse().ok()?;
    Some((kind, scoped.get(..split)?, scoped.get(split..)?))
}

/// A key written before entries carried an issuer, `{prefix}{tag}:{id}`: its kind and id;
/// `None` for anything else, keys with an issuer included.
pub(super) fn parse_unscoped_key<'k>(prefix: &str, key: &'k str) -> Option<(Kind, &'k str)> {
    let rest = key.strip_prefix(prefix)?;
    let (tag, id) = rest.split_once(':')?;
    Some((Kind::from_tag(tag)?, id))
}

/// One pub/sub message: `"v2 {tag} {epoch} {until} {issuer length} {issuer}{id}"`. Messages
/// without the `v2` mark (from a version that did not key on the issuer) are `None`, like
/// malformed ones.
pub(super) fn parse_message(payload: &[u8]) -> Option<Revocation<'_>> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut parts = text.splitn(6, ' ');
    (parts.next()? == "v2").then_some(())?;
    let kind = Kind::from_tag(parts.next()?)?;
    let epoch = parts.next()?.parse().ok()?;
    let until = parts.next()?.parse().ok()?;
    let split: usize = parts.next()?.parse().ok()?;
    let scoped = parts.next()?;
    Some(Revocation {
        kind,
        issuer: scoped.get(..split)?,
        id: scoped.get(split..)?,
        epoch,
        until,
    })
}

/// The SCAN pattern matching every key under `prefix` (its glob characters escaped).
pub(super) fn key_pattern(prefix: &str) -> String {
    format!("{}*", glob_escape(prefix))
}

fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 4);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
