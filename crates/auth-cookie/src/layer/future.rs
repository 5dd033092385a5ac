use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::Cookies;

pin_project! {
    /// The response future of [`CookieManager`](super::CookieManager): the inner future, then
    /// the jar's changes appended as `Set-Cookie`, then the jar
    /// goes back to the thread's pool when nothing else holds it. No allocation.
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        cookies: Option<Cookies>,
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(super) fn new(future: F, cookies: Option<Cookies>) -> Self {
        Self { future, cookies }
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
        if let Some(cookies) = this.cookies.take() {
            cookies.write_changes(res.headers_mut());
            cookies.recycle();
        }
        Poll::Ready(Ok(res))
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
