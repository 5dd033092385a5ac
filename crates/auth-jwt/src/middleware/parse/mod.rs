//! The request-path parsers: base64url, the protected header, and the claims in one pass.
//!
//! Profiling the layer (callgrind, HS256) showed the non-crypto work dominated by the generic
//! base64 engine, a derived header deserializer, and two passes over the payload (typed
//! claims through `#[serde(flatten)]`, which buffers every unknown claim, then roles and
//! scopes). These parsers do the same checks with less work; anything unusual falls back to
//! the general serde path, so the accepted language never grows.
//!
//! One module per concept:
//!
//! - [`base64url`]: decoding the three parts;
//! - [`cursor`]: the byte cursor the fast scanners share, with its string (word at a time),
//!   number and value primitives;
//! - [`names`]: member names on the serde paths, borrowed when they can be and refused when
//!   used twice (the header parser and the issuer read use both, the payload path the
//!   duplicate check);
//! - [`header`]: the protected header, a fast scanner and the general serde parser;
//! - [`registered`]: what both payload paths tell apart, registered claims and grants;
//! - [`claims_scanner`]: the fast payload scanner and the unverified `iss` read;
//! - [`claims_serde`]: the general one-pass serde payload path.
//!
//! This file holds the payload's entry point, [`parse_payload`], and the types it shares with
//! the layer.

use auth_core::Claims;
use serde::de::DeserializeOwned;

mod base64url;
mod claims_scanner;
mod claims_serde;
mod cursor;
mod header;
mod names;
mod registered;

pub(super) use base64url::{b64url_decode, decoded_len};
pub(super) use claims_scanner::issuer_of;
pub(super) use header::parse_header;

use claims_scanner::scan_claims;
use claims_serde::{serde_payload, unit_like};
use registered::with_custom;

/// Where roles and scopes come from.
pub(super) struct GrantNames<'c> {
    pub(super) roles: Option<&'c str>,
    pub(super) scopes: &'c [Box<str>],
    /// Whether the fast scanner should also capture the `sid` claim (for revocation).
    pub(super) sid: bool,
}

/// What one pass over the payload produced.
pub(super) struct Parsed<C> {
    pub(super) claims: Claims<C>,
    pub(super) roles: Vec<String>,
    pub(super) scopes: Vec<String>,
    /// The `sid` claim when the fast scanner read it (`Some(None)`: no `sid`); `None` when
    /// the scanner did not run or `sid` was not asked for (read it separately then).
    pub(super) sid: Option<Option<String>>,
}

/// Why the payload was refused.
pub(super) enum PayloadError {
    /// The registered claim named (`"iss"`, `"aud"`, ...) has the wrong type or appears twice.
    Claim(&'static str),
    /// Anything else: not JSON, not an object, the custom claims refused it.
    Malformed,
    /// The custom claims type asked for a shape this parser does not stream; use the general
    /// (two-pass) path.
    Unsupported,
}

/// Parses `payload` into typed claims and the roles and scopes, in one pass over the JSON.
///
/// Same language and results as `Claims::<C>::from_json` followed by a separate roles and
/// scopes pass: registered claims strictly typed and never duplicated, the other members
/// handed to `C` as `#[serde(flatten)]` would (a struct sees only its own fields).
pub(super) fn parse_payload<C: DeserializeOwned>(
    payload: &[u8],
    names: &GrantNames<'_>,
) -> Result<Parsed<C>, PayloadError> {
    let Ok(text) = std::str::from_utf8(payload) else {
        return Err(PayloadError::Malformed);
    };
    if let Some(custom) = unit_like::<C>()
        && let Some((registered, roles, scopes, sid)) = scan_claims(text, names)
    {
        return Ok(Parsed {
            claims: with_custom(registered, custom),
            roles,
            scopes,
            sid: names.sid.then_some(sid),
        });
    }
    serde_payload(payload, names)
}
