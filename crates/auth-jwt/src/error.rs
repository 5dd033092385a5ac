//! Configuration and minting errors.

use crate::Algorithm;

/// A setting that cannot work safely, refused when the key, key set, layer or issuer is built
/// rather than at the first request.
///
/// Every variant names the input at fault. Key material never appears in the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key id, key ring or secret key refused by `auth-core` (bad key id, duplicate id, key
    /// too short, ...).
    #[error(transparent)]
    Core(#[from] auth_core::ConfigError),
    /// A trusted issuer has no audience: `aud` is required and must match one of the
    /// entry's.
    #[error("trusted issuer {issuer:?} has no audience: call `add_audience(..)` at least once")]
    MissingAudience {
        /// The entry's issuer.
        issuer: String,
    },
    /// Two trust entries name the same issuer.
    #[error("issuer {issuer:?} is trusted twice: one entry per issuer")]
    DuplicateIssuer {
        /// The repeated issuer.
        issuer: String,
    },
    /// An issuer or audience is empty.
    #[error("the {field} must not be empty")]
    EmptyValue {
        /// Which setting (`"issuer"`, `"audience"`, `"claim name"`, ...).
        field: &'static str,
    },
    /// The key set holds no key and no remote JWKS source.
    #[error("the key set is empty: add at least one key or JWKS source")]
    NoKeys,
    /// The leeway is negative or longer than five minutes.
    #[error("leeway of {seconds} s is out of range (0 to 300 s)")]
    LeewayOutOfRange {
        /// The refused leeway in seconds.
        seconds: i64,
    },
    /// The maximum token age is not positive.
    #[error("maximum token age of {seconds} s must be positive")]
    MaxAgeOutOfRange {
        /// The refused age in seconds.
        seconds: i64,
    },
    /// The token length cap is below 64 bytes or above 64 KiB.
    #[error("token length cap of {len} bytes is out of range (64 to 65536)")]
    MaxTokenLengthOutOfRange {
        /// The refused cap.
        len: usize,
    },
    /// The realm cannot be sent in a quoted string (it must be visible ASCII without `"` or
    /// `\`).
    #[error("realm {realm:?} cannot be sent in a WWW-Authenticate header")]
    InvalidRealm {
        /// The refused realm.
        realm: String,
    },
    /// A header name for a token source is not a valid HTTP header name.
    #[error("invalid header name {name:?}")]
    InvalidHeaderName {
        /// The refused name.
        name: String,
    },
    /// A cookie name for a token source is empty or holds a separator or control character.
    #[error("invalid cookie name {name:?}")]
    InvalidCookieName {
        /// The refused name.
        name: String,
    },
    /// The key does not fit the algorithm it is bound to (wrong key type, wrong curve,
    /// unparsable material, RSA modulus under 2048 bits, ...).
    #[error("key {kid:?} is not a valid {alg} key: {reason}")]
    InvalidKey {
        /// The key's id.
        kid: String,
        /// The algorithm the key was bound to.
        alg: Algorithm,
        /// What is wrong, without any key material.
        reason: &'static str,
    },
    /// A JWK names another algorithm than the one it is bound to.
    #[error("key {kid:?}: JWK says alg {found:?} but the key is bound to {expected}")]
    AlgorithmMismatch {
        /// The key's id.
        kid: String,
        /// The configured algorithm.
        expected: Algorithm,
        /// The JWK's `alg`.
        found: String,
    },
    /// A JWK is not for signature verification (`use` other than `sig`, or `key_ops` without
    /// `verify`).
    #[error("key {kid:?} is not for verifying signatures (use/key_ops)")]
    NotASignatureKey {
        /// The key's id.
        kid: String,
    },
    /// A JWK or JWK set could not be parsed.
    #[error("invalid JWK: {reason}")]
    InvalidJwk {
        /// What is wrong, without key material.
        reason: &'static str,
    },
    /// An HMAC secret that is really a PEM or JWK public key: verifying HMAC with public key
    /// bytes is the classic algorithm-confusion attack.
    #[error("key {kid:?}: HMAC secret looks like a public key; use a random secret")]
    SecretLooksLikePublicKey {
        /// The key's id.
        kid: String,
    },
    /// Two keys of a key set share an id.
    #[error("duplicate key id {kid:?} in the key set")]
    DuplicateKey {
        /// The repeated id.
        kid: String,
    },
    /// The algorithm cannot be used for this purpose (for example signing with ES512).
    #[error("algorithm {alg} is not supported for {purpose}")]
    UnsupportedAlgorithm {
        /// The algorithm.
        alg: Algorithm,
        /// `"signing"` or `"verification"`.
        purpose: &'static str,
    },
    /// A JWKS or discovery URL is not an absolute `https` URL (or `http` on a loopback
    /// address).
    #[error("JWKS URL {url:?} must be https (http only for loopback)")]
    InvalidUrl {
        /// The refused URL.
        url: String,
    },
    /// The HTTP client for JWKS could not be built.
    #[error("the HTTP client for JWKS could not be built")]
    HttpClient,
}

/// Minting a token failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The custom claims could not be serialized into a JSON object, or they set a
    /// registered claim that the issuer owns.
    #[error("claims cannot be serialized: {0}")]
    Claims(&'static str),
    /// The signature could not be made (a key the crypto backend refuses).
    #[error("signing failed")]
    Signing,
    /// The operating system's random number generator failed (for `jti`).
    #[error("the operating system's random number generator failed")]
    Random,
}
