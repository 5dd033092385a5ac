//! The response when the session store fails, and the conflict report.

use http::{HeaderValue, Response, StatusCode, header};

/// Builds the response that replaces the handler's when the session store failed (load, save
/// or delete).
///
/// Implemented by [`DefaultUnavailable`] and every closure
/// `Fn() -> Response<B> + Clone + Send + Sync + 'static`.
pub trait UnavailableResponse<B>: Clone + Send + Sync + 'static {
    /// The response.
    fn response(&self) -> Response<B>;
}

impl<F, B> UnavailableResponse<B> for F
where
    F: Fn() -> Response<B> + Clone + Send + Sync + 'static,
{
    fn response(&self) -> Response<B> {
        self()
    }
}

/// 503 Service Unavailable, empty body, `Cache-Control: no-store`, `Retry-After: 1`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultUnavailable;

impl<B: Default> UnavailableResponse<B> for DefaultUnavailable {
    fn response(&self) -> Response<B> {
        let mut res = Response::new(B::default());
        *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        res
    }
}

/// Session keys whose concurrent change was resolved by the
/// [`ConflictPolicy`](crate::ConflictPolicy), inserted into the response extensions when it
/// happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConflict {
    /// The keys another request changed between this request's load and save.
    pub keys: Vec<String>,
}
