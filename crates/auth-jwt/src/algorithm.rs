//! The JWS algorithms this crate verifies and signs.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::{hmac, signature};

/// A JWS signature algorithm (RFC 7518, section 3; RFC 8037 for `EdDSA`).
///
/// Every key is bound to exactly one algorithm when it is configured: a token's `alg` header
/// only has to *match* that binding, it never chooses how the signature is checked. `none` is
/// not an algorithm here and never verifies.
///
/// `#[non_exhaustive]`: algorithms may be added without a breaking change.
///
/// ```
/// use auth_jwt::Algorithm;
///
/// assert_eq!("ES256".parse::<Algorithm>()?, Algorithm::ES256);
/// assert!("none".parse::<Algorithm>().is_err());
/// assert!("hs256".parse::<Algorithm>().is_err()); // names are case-sensitive
/// assert_eq!(Algorithm::EdDSA.as_str(), "EdDSA");
/// # Ok::<(), auth_jwt::UnsupportedAlgorithm>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// HMAC with SHA-256 (key at least 32 bytes).
    HS256,
    /// HMAC with SHA-384 (key at least 48 bytes).
    HS384,
    /// HMAC with SHA-512 (key at least 64 bytes).
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (modulus at least 2048 bits).
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512 (verification only: [`Issuer`](crate::Issuer) cannot sign
    /// with it).
    ES512,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

/// The key type an algorithm needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Hmac,
    Rsa,
    Ec,
    Ed,
}

/// A name that is not one of the supported [`Algorithm`]s (for example `none`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported JWS algorithm {name:?}")]
pub struct UnsupportedAlgorithm {
    name: String,
}

impl UnsupportedAlgorithm {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.chars().take(32).collect(),
        }
    }

    /// The refused name (at most 32 characters of it).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Self; 13] = [
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::ES512,
        Self::EdDSA,
    ];

    /// The `alg` header value (RFC 7518 name), for example `"RS256"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Whether this is an HMAC (symmetric) algorithm.
    pub const fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    pub(crate) const fn family(self) -> Family {
        match self {
            Self::HS256 | Self::HS384 | Self::HS512 => Family::Hmac,
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                Family::Rsa
            }
            Self::ES256 | Self::ES384 | Self::ES512 => Family::Ec,
            Self::EdDSA => Family::Ed,
        }
    }

    /// The shortest HMAC key accepted: the hash output size (RFC 7518, section 3.2).
    pub(crate) const fn min_hmac_key_len(self) -> usize {
        match self {
            Self::HS384 => 48,
            Self::HS512 => 64,
            _ => 32,
        }
    }

    pub(crate) fn hmac_algorithm(self) -> Option<hmac::Algorithm> {
        match self {
            Self::HS256 => Some(hmac::HMAC_SHA256),
            Self::HS384 => Some(hmac::HMAC_SHA384),
            Self::HS512 => Some(hmac::HMAC_SHA512),
            _ => None,
        }
    }

    pub(crate) fn verification_algorithm(
        self,
    ) -> Option<&'static dyn signature::VerificationAlgorithm> {
        Some(match self {
            Self::HS256 | Self::HS384 | Self::HS512 => return None,
            Self::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Self::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Self::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            Self::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Self::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Self::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
            Self::EdDSA => &signature::ED25519,
        })
    }

    /// The JWK `crv` an EC or OKP key for this algorithm must have.
    pub(crate) const fn curve(self) -> Option<&'static str> {
        match self {
            Self::ES256 => Some("P-256"),
            Self::ES384 => Some("P-384"),
            Self::ES512 => Some("P-521"),
            Self::EdDSA => Some("Ed25519"),
            _ => None,
        }
    }

    pub(crate) fn to_jsonwebtoken(self) -> Option<jsonwebtoken::Algorithm> {
        use jsonwebtoken::Algorithm as J;
        Some(match self {
            Self::HS256 => J::HS256,
            Self::HS384 => J::HS384,
            Self::HS512 => J::HS512,
            Self::RS256 => J::RS256,
            Self::RS384 => J::RS384,
            Self::RS512 => J::RS512,
            Self::PS256 => J::PS256,
            Self::PS384 => J::PS384,
            Self::PS512 => J::PS512,
            Self::ES256 => J::ES256,
            Self::ES384 => J::ES384,
            Self::ES512 => return None,
            Self::EdDSA => J::EdDSA,
        })
    }
}

impl FromStr for Algorithm {
    type Err = UnsupportedAlgorithm;

    /// Parses an RFC 7518 name, case-sensitively. `none` is refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str() == s)
            .ok_or_else(|| UnsupportedAlgorithm::new(s))
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_round_trips_through_its_name() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>().unwrap(), alg);
        }
    }

    #[test]
    fn none_in_any_case_is_not_an_algorithm() {
        for name in ["none", "None", "NONE", "nOnE", ""] {
            assert!(name.parse::<Algorithm>().is_err(), "{name}");
        }
    }
}
