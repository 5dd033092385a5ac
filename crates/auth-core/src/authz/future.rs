//! The response future of `RequireAuth` (and of other layers that answer early).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

pin_project! {
    /// The response future of a layer that either calls its inner service or answers at once:
    /// [`RequireAuth`](super::RequireAuth)'s, and reusable by any such layer. No allocation
    /// either way.
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Future { #[pin] future: F },
        Rejected { response: Option<Response<B>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    /// The inner service's future: its response passes through.
    pub fn future(future: F) -> Self {
        Self {
            state: State::Future { future },
        }
    }

    /// A response that is ready at once (a rejection); the inner service is not called.
    pub fn rejected(response: Response<B>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Future { future } => Poll::Ready(ready!(future.poll(cx))),
            StateProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic_polled_after_completion(),
            },
        }
    }
}

#[allow(clippy::panic)]
#[cold]
fn panic_polled_after_completion() -> ! {
    panic!("ResponseFuture polled after completion")
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
