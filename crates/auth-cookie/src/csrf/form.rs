//! Form mode: the CSRF token may come in an `application/x-www-form-urlencoded` field.
//!
//! Reading a field means reading the body, so this mode buffers the body of the requests that
//! need it (unsafe method, token mode, neither `Sec-Fetch-Site` nor `Origin` nor a token
//! header, a form content type), up to [`FORM_LIMIT`] bytes, and hands the inner service a body
//! rebuilt from those bytes. Every other request passes without touching its body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::decision::Policy;
use super::{Csrf, CsrfBinding, CsrfRejection, CsrfRejectionKind, CsrfRejectionResponse};

/// The largest form body read for a token: 64 KiB. A larger form without a token header is
/// refused (403, `MissingToken`).
pub const FORM_LIMIT: usize = 64 * 1024;

/// Marker: the CSRF check reads tokens from headers only (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct HeaderOnly;

/// Marker: the CSRF check also reads tokens from a form field; see
/// [`CsrfLayer::with_form_field`](super::CsrfLayer::with_form_field).
#[derive(Debug, Clone, Copy, Default)]
pub struct FormField;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

pin_project! {
    /// The response future of [`Csrf`] in form mode: the usual future, or, for a request whose
    /// token must be read from its form body, a boxed future that reads the body and then
    /// calls the inner service (the only path that allocates).
    pub struct FormResponseFuture<F, B, E> {
        #[pin]
        state: FormState<F, B, E>,
    }
}

pin_project! {
    #[project = FormStateProj]
    enum FormState<F, B, E> {
        Direct { #[pin] future: super::ResponseFuture<F, B> },
        Form { future: BoxFuture<Result<Response<B>, E>> },
    }
}

impl<F, B, E> Future for FormResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            FormStateProj::Direct { future } => future.poll(cx),
            FormStateProj::Form { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> std::fmt::Debug for FormResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormResponseFuture").finish_non_exhaustive()
    }
}

fn is_form<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for Csrf<S, R, FormField>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: CsrfRejectionResponse<ResBody>,
    ReqBody: Body + From<Bytes> + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<auth_core::BoxError>,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = FormResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let binding = req.extensions().get::<CsrfBinding>().map(|b| b.0.clone());
        let decision =
            self.policy
                .decide(req.method(), req.uri(), req.headers(), binding.as_deref());
        match decision {
            Err(CsrfRejectionKind::MissingToken) if is_form(&req) => {
                // Work before the inner call (reading the body) needs the inner service in
                // the future: take the ready one, leave a clone.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                let policy = self.policy.clone();
                let rejection = self.rejection.clone();
                FormResponseFuture {
                    state: FormState::Form {
                        future: Box::pin(check_form(req, binding, policy, inner, rejection)),
                    },
                }
            }
            decision => FormResponseFuture {
                state: FormState::Direct {
                    future: self.decided(req, decision),
                },
            },
        }
    }
}

async fn check_form<S, R, ReqBody, ResBody>(
    req: Request<ReqBody>,
    binding: Option<String>,
    policy: std::sync::Arc<Policy>,
    mut inner: S,
    rejection: R,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: CsrfRejectionResponse<ResBody>,
    ReqBody: Body + From<Bytes>,
    ReqBody::Error: Into<auth_core::BoxError>,
{
    let refuse = |kind| {
        let why = CsrfRejection::new(kind);
        tracing::info!(reason = %why, "CSRF check refused a form request");
        let mut res = rejection.response(&why);
        res.extensions_mut().insert(why);
        Ok(res)
    };
    let (parts, body) = req.into_parts();
    let Ok(collected) = Limited::new(body, FORM_LIMIT).collect().await else {
        return refuse(CsrfRejectionKind::MissingToken);
    };
    let bytes = collected.to_bytes();
    let (Some(tokens), Some(field)) = (&policy.tokens, &policy.form_field) else {
        return refuse(CsrfRejectionKind::MissingToken);
    };
    let token = form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == &**field)
        .map(|(_, value)| value.into_owned());
    let Some(token) = token else {
        return refuse(CsrfRejectionKind::MissingToken);
    };
    match binding {
        Some(binding) if tokens.verify(&binding, &token) => {
            inner
                .call(Request::from_parts(parts, ReqBody::from(bytes)))
                .await
        }
        _ => refuse(CsrfRejectionKind::InvalidToken),
    }
}
