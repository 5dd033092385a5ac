//! What both payload paths (the fast scanner and serde) tell apart: the seven registered
//! claims ([`Registered`]) and the members configured as roles or scopes ([`Grant`]), plus
//! [`with_custom`], which joins the registered claims read with `()` to the custom claims.

use auth_core::Claims;

pub(super) fn with_custom<C>(registered: Claims<()>, custom: C) -> Claims<C> {
    let Claims {
        iss,
        sub,
        aud,
        exp,
        nbf,
        iat,
        jti,
        custom: (),
    } = registered;
    let mut claims = Claims::new(custom);
    claims.iss = iss;
    claims.sub = sub;
    claims.aud = aud;
    claims.exp = exp;
    claims.nbf = nbf;
    claims.iat = iat;
    claims.jti = jti;
    claims
}

#[derive(Clone, Copy)]
pub(super) enum Registered {
    Iss,
    Sub,
    Aud,
    Exp,
    Nbf,
    Iat,
    Jti,
}

impl Registered {
    #[inline]
    pub(super) fn from_name(name: &str) -> Option<Self> {
        // All seven are three bytes: compare them as one array, not string by string.
        let &[a, b, c] = name.as_bytes() else {
            return None;
        };
        Some(match [a, b, c] {
            [b'i', b's', b's'] => Self::Iss,
            [b's', b'u', b'b'] => Self::Sub,
            [b'a', b'u', b'd'] => Self::Aud,
            [b'e', b'x', b'p'] => Self::Exp,
            [b'n', b'b', b'f'] => Self::Nbf,
            [b'i', b'a', b't'] => Self::Iat,
            [b'j', b't', b'i'] => Self::Jti,
            _ => return None,
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Iss => "iss",
            Self::Sub => "sub",
            Self::Aud => "aud",
            Self::Exp => "exp",
            Self::Nbf => "nbf",
            Self::Iat => "iat",
            Self::Jti => "jti",
        }
    }
}

#[derive(Clone, Copy)]
pub(super) enum Grant {
    Roles,
    Scopes,
}
