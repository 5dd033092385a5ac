use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::jar::RequestJar;

pin_project! {
    /// The response future of [`CookieManager`](super::CookieManager): the inner future, then
    /// the jar's changes appended as `Set-Cookie` (an atomic load when nothing changed). No
    /// allocation.
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        jar: Option<RequestJar>,
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(super) fn new(future: F, jar: Option<RequestJar>) -> Self {
        Self { future, jar }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.future.poll(cx))?;
        if let Some(jar) = this.jar.take() {
            jar.write_changes(res.headers_mut());
        }
        Poll::Ready(Ok(res))
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
