//! The `JwtAuth` response future.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use tower_service::Service;

use super::RejectionResponse;
use super::config::Config;
use super::service::{Step, authenticate, reject};
use crate::keyset::KeyWait;

pin_project! {
    /// The response future of [`JwtAuth`](crate::JwtAuth).
    ///
    /// Almost always the inner service's future or a rejection that is ready at once, with no
    /// allocation. Only when a token names a key that a remote JWKS source does not know yet
    /// does it first wait (on a boxed future) for the single-flight refetch, then verify again.
    pub struct ResponseFuture<S, ReqBody, C, R>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S::Future, S::Response, Pending<S, ReqBody, C, R>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, Res, P> {
        Future { #[pin] future: F },
        Rejected { response: Option<Res> },
        Waiting { wait: KeyWait, pending: Option<P> },
    }
}

/// A request parked while keys are refetched.
pub(super) struct Pending<S, B, C, R> {
    pub(super) service: S,
    pub(super) request: Request<B>,
    pub(super) config: Arc<Config>,
    pub(super) rejection: R,
    pub(super) claims: PhantomData<fn() -> C>,
}

impl<S, B, C, R> ResponseFuture<S, B, C, R>
where
    S: Service<Request<B>>,
{
    pub(super) fn future(future: S::Future) -> Self {
        Self {
            state: State::Future { future },
        }
    }

    pub(super) fn rejected(response: S::Response) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }

    pub(super) fn waiting(wait: KeyWait, pending: Pending<S, B, C, R>) -> Self {
        Self {
            state: State::Waiting {
                wait,
                pending: Some(pending),
            },
        }
    }
}

impl<S, B, RB, C, R> Future for ResponseFuture<S, B, C, R>
where
    S: Service<Request<B>, Response = Response<RB>>,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    R: RejectionResponse<RB>,
{
    type Output = Result<Response<RB>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Future { future } => return Poll::Ready(ready!(future.poll(cx))),
                StateProj::Rejected { response } => {
                    return match response.take() {
                        Some(response) => Poll::Ready(Ok(response)),
                        None => panic_polled_after_completion(),
                    };
                }
                StateProj::Waiting { wait, pending } => {
                    ready!(wait.poll(cx));
                    let Some(Pending {
                        mut service,
                        mut request,
                        config,
                        rejection,
                        ..
                    }) = pending.take()
                    else {
                        panic_polled_after_completion()
                    };
                    // Second look after the refetch: an unknown key is now final.
                    let next = match authenticate::<C, B>(&config, &mut request, false) {
                        Step::Call => State::Future {
                            future: service.call(request),
                        },
                        Step::Reject(kind) => State::Rejected {
                            response: Some(reject(&config, &rejection, kind)),
                        },
                        Step::Wait(_) => State::Rejected {
                            response: Some(reject(
                                &config,
                                &rejection,
                                super::JwtRejectionKind::UnknownKey,
                            )),
                        },
                    };
                    this.state.set(next);
                }
            }
        }
    }
}

#[allow(clippy::panic)]
#[cold]
fn panic_polled_after_completion() -> ! {
    panic!("ResponseFuture polled after completion")
}

impl<S, B, C, R> fmt::Debug for ResponseFuture<S, B, C, R>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
