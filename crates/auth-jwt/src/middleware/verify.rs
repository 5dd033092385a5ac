//! The verification of one token against a layer's [`Config`]: size, structure, header,
//! entry, key, signature, claims and revocation.

use std::mem::MaybeUninit;
use std::sync::Arc;

use auth_core::{AuthMethod, Claims, Identity, RevocationStatus, TokenRef};
use serde::de::{DeserializeOwned, IgnoredAny};

use super::JwtRejectionKind;
use super::config::{Config, Revocation};
use super::parse::{self, Parsed, PayloadError};
use super::trust::Entry;
use crate::Algorithm;
use crate::keyset::LookupError;

/// Reads only the `sid` claim (serde path, for payloads the fast scanner leaves to serde).
#[derive(serde::Deserialize)]
struct SidOnly {
    #[serde(default)]
    sid: Option<String>,
}

/// Why verification did not produce an identity.
pub(crate) enum Failure {
    Reject(JwtRejectionKind),
    #[cfg(feature = "jwks")]
    Wait(crate::jwks::KeyWait),
}

impl From<JwtRejectionKind> for Failure {
    fn from(kind: JwtRejectionKind) -> Self {
        Self::Reject(kind)
    }
}

// Stack buffers for the decoded parts, left uninitialised (the decoder writes before anything
// reads): sized for the usual token (an RSA-4096 signature is 512 bytes); anything larger is
// decoded into a heap buffer (`security.rs` has a 9 KB token taking that path).
const STACK_HEADER: usize = 256;
const STACK_SIGNATURE: usize = 512;
const STACK_PAYLOAD: usize = 1024;

/// Decodes base64url (no padding, canonical) into `stack` when it fits, else into `heap`.
fn decode<'b>(
    input: &[u8],
    stack: &'b mut [MaybeUninit<u8>],
    heap: &'b mut Vec<u8>,
) -> Option<&'b [u8]> {
    let len = parse::decoded_len(input.len())?;
    let buf = if len <= stack.len() {
        stack
    } else {
        heap.reserve_exact(len);
        heap.spare_capacity_mut()
    };
    parse::b64url_decode(input, buf)
}

/// Splits at the first `.`: the part before it and the rest after it.
fn split_dot(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let dot = memchr::memchr(b'.', bytes)?;
    Some((bytes.get(..dot)?, bytes.get(dot + 1..)?))
}

fn json_object(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().first() == Some(&b'{')
}

/// A verified token: its claims, its identity, and the index of the entry that verified it.
pub(crate) struct Verified<C> {
    pub(crate) claims: Claims<C>,
    pub(crate) identity: Identity,
    pub(crate) entry: usize,
}

impl Config {
    /// The entry a token's payload names. With several, the `iss` is read (unverified) from
    /// the payload first, so that only that entry's keys are tried; the claims check compares
    /// it again once the token is verified. With one entry there is nothing to choose, and the
    /// claims check alone compares `iss` with it after the signature: skipping the read saves
    /// about 12% of what the layer adds to an HS256 request (`jwt_paired`, 3 x 300 rounds:
    /// 3.64 against 4.13 raw-verify units with the read).
    fn entry_for(&self, payload: &[u8]) -> Result<(usize, &Entry), JwtRejectionKind> {
        if let [only] = &*self.entries {
            return Ok((0, only));
        }
        let iss = parse::issuer_of(payload).ok_or(JwtRejectionKind::Malformed)?;
        let iss = iss.ok_or(JwtRejectionKind::InvalidIssuer)?;
        self.entries
            .iter()
            .enumerate()
            .find(|(_, e)| *e.issuer == *iss)
            .ok_or(JwtRejectionKind::InvalidIssuer)
    }

    /// Verifies `token` completely: size, structure, header, entry, key, signature, claims.
    pub(crate) fn verify<C: DeserializeOwned>(
        &self,
        token: &[u8],
        allow_wait: bool,
    ) -> Result<Verified<C>, Failure> {
        use JwtRejectionKind as K;
        if token.len() > self.max_token_len {
            return Err(K::TooLarge.into());
        }
        // Exactly three parts; memchr keeps the scan of a long RSA signature cheap.
        let (h64, rest) = split_dot(token).ok_or(K::Malformed)?;
        let (p64, s64) = split_dot(rest).ok_or(K::Malformed)?;
        if memchr::memchr(b'.', s64).is_some() {
            return Err(K::Malformed.into());
        }
        if h64.is_empty() || p64.is_empty() || s64.is_empty() {
            return Err(K::Malformed.into());
        }

        let (mut stack, mut heap) = ([MaybeUninit::uninit(); STACK_HEADER], Vec::new());
        let header_json = decode(h64, &mut stack, &mut heap).ok_or(K::Malformed)?;
        if !json_object(header_json) {
            return Err(K::Malformed.into());
        }
        let header = parse::parse_header(header_json).ok_or(K::Malformed)?;
        let alg: Algorithm = header.alg.parse().map_err(|_| K::InvalidAlgorithm)?;
        if header.crit {
            return Err(K::UnsupportedCritical.into());
        }

        // Every part is decoded before the signature is checked, so any byte outside the
        // base64url alphabet anywhere in the token is `Malformed` (the bearer source leaves
        // this check to the decoders, whose alphabet is stricter than RFC 6750's b64token).
        let (mut pay_stack, mut pay_heap) = ([MaybeUninit::uninit(); STACK_PAYLOAD], Vec::new());
        let payload = decode(p64, &mut pay_stack, &mut pay_heap).ok_or(K::Malformed)?;
        let (mut sig_stack, mut sig_heap) = ([MaybeUninit::uninit(); STACK_SIGNATURE], Vec::new());
        let signature = decode(s64, &mut sig_stack, &mut sig_heap).ok_or(K::Malformed)?;
        let signing_input = token.get(..h64.len() + 1 + p64.len()).ok_or(K::Malformed)?;
        if !json_object(payload) {
            return Err(K::Malformed.into());
        }
        let (index, entry) = self.entry_for(payload)?;
        entry.check_header(alg, header.typ.as_deref())?;
        let checked = entry.keys.with_key(header.kid.as_deref(), alg, |key| {
            key.verify_signature(signing_input, signature)
        });
        match checked {
            Ok(true) => {}
            Ok(false) => return Err(K::InvalidSignature.into()),
            Err(LookupError::Unknown) => return Err(K::UnknownKey.into()),
            Err(LookupError::WrongAlgorithm) => return Err(K::InvalidAlgorithm.into()),
            Err(LookupError::Unavailable) => return Err(K::KeysUnavailable.into()),
            #[cfg(feature = "jwks")]
            Err(LookupError::Refetch(wait)) => {
                return Err(if allow_wait {
                    Failure::Wait(wait)
                } else {
                    K::UnknownKey.into()
                });
            }
        }
        #[cfg(not(feature = "jwks"))]
        let _ = allow_wait;

        let Parsed {
            claims,
            roles,
            scopes,
            sid,
        } = self.parse_claims::<C>(entry, payload)?;
        entry.check_claims(&claims, self.clock.unix_timestamp())?;
        if let Some(revocation) = &self.revocation {
            let sid = match sid {
                Some(sid) => sid,
                None => {
                    serde_json::from_slice::<SidOnly>(payload)
                        .map_err(|_| K::Malformed)?
                        .sid
                }
            };
            Self::check_revocation(revocation, entry, &claims, sid.as_deref())?;
        }

        let subject = claims.sub.clone().unwrap_or_default();
        let mut identity =
            Identity::builder(subject, AuthMethod::Jwt).issuer(Arc::clone(&entry.issuer));
        if !roles.is_empty() {
            identity = identity.roles(roles);
        }
        if !scopes.is_empty() {
            identity = identity.scopes(scopes);
        }
        if let Some(at) = claims.iat.and_then(|d| d.to_datetime()) {
            identity = identity.issued_at(at);
        }
        if let Some(at) = claims.exp.and_then(|d| d.to_datetime()) {
            identity = identity.expires_at(at);
        }
        if self.raw_claims {
            let raw = serde_json::from_slice(payload).map_err(|_| K::Malformed)?;
            identity = identity.claims(raw);
        }
        Ok(Verified {
            claims,
            identity: identity.build(),
            entry: index,
        })
    }

    /// The typed claims plus the roles and scopes, in one pass when `C` allows it.
    fn parse_claims<C: DeserializeOwned>(
        &self,
        entry: &Entry,
        payload: &[u8],
    ) -> Result<Parsed<C>, JwtRejectionKind> {
        use JwtRejectionKind as K;
        let names = entry.names(self.revocation.is_some());
        let kind = |e| match e {
            PayloadError::Claim("iss") => K::InvalidIssuer,
            PayloadError::Claim("aud") => K::InvalidAudience,
            _ => K::Malformed,
        };
        match parse::parse_payload::<C>(payload, &names) {
            Err(PayloadError::Unsupported) => {}
            other => return other.map_err(kind),
        }
        // A custom claims type of a shape the one-pass parser does not stream (an enum, a
        // tuple...): a first pass for the registered claims, roles and scopes (which also
        // refuses duplicate members), then serde's own `flatten`.
        let grants = parse::parse_payload::<IgnoredAny>(payload, &names).map_err(kind)?;
        let claims = Claims::<C>::from_json(payload).map_err(|e| match e.claim() {
            Some("iss") => K::InvalidIssuer,
            Some("aud") => K::InvalidAudience,
            _ => K::Malformed,
        })?;
        Ok(Parsed {
            claims,
            roles: grants.roles,
            scopes: grants.scopes,
            sid: None,
        })
    }

    /// The revocation check: local memory only, keyed on the entry's issuer and the claims.
    fn check_revocation<C>(
        revocation: &Revocation,
        entry: &Entry,
        claims: &Claims<C>,
        sid: Option<&str>,
    ) -> Result<(), JwtRejectionKind> {
        use JwtRejectionKind as K;
        let token = TokenRef {
            issuer: &entry.issuer,
            jti: claims.jti.as_deref(),
            subject: claims.sub.as_deref(),
            session_id: sid,
            issued_at: claims.iat.map(|d| d.unix()),
        };
        if token.jti.is_none() && revocation.jti_required {
            return Err(K::MissingTokenId);
        }
        match revocation.list.status(&token) {
            RevocationStatus::Active => Ok(()),
            RevocationStatus::Revoked(by) => {
                tracing::debug!(by = ?by, issuer = %entry.issuer, "bearer token revoked");
                Err(K::Revoked)
            }
            // `Unavailable`, and any future status this layer does not know: fail closed.
            _ => Err(K::RevocationUnavailable),
        }
    }
}
