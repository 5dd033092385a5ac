//! The response future of `RequireAuth` (and of other layers that answer early).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

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

type Resolve = Pin<
    Box<
        dyn Future<Output = Result<Option<crate::Identity>, crate::IdentityUnavailable>>
            + Send
            + 'static,
    >,
>;

pin_project! {
    /// The response future of [`RequireAuth`](super::RequireAuth).
    ///
    /// Without I/O (the identity is already in the request, or absent) it is the inner future
    /// or an immediate rejection, with no allocation. With a
    /// [`LazyIdentity`](crate::LazyIdentity) it first awaits the resolver's (boxed) future,
    /// then decides.
    pub struct RequireAuthFuture<S, ReqBody, ResBody, P, R>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: AuthState<S, ReqBody, ResBody, P, R>,
    }
}

pin_project! {
    #[project = AuthStateProj]
    enum AuthState<S, ReqBody, ResBody, P, R>
    where
        S: Service<Request<ReqBody>>,
    {
        Decided { #[pin] future: ResponseFuture<S::Future, ResBody> },
        Resolving {
            resolve: Resolve,
            parts: Option<Pending<S, ReqBody, P, R>>,
        },
    }
}

/// What the resolving state needs to continue.
struct Pending<S, ReqBody, P, R> {
    req: Request<ReqBody>,
    inner: S,
    predicate: P,
    rejection: R,
}

impl<S, ReqBody, ResBody, P, R> RequireAuthFuture<S, ReqBody, ResBody, P, R>
where
    S: Service<Request<ReqBody>>,
{
    pub(super) fn future(future: S::Future) -> Self {
        Self {
            state: AuthState::Decided {
                future: ResponseFuture::future(future),
            },
        }
    }

    pub(super) fn rejected(response: Response<ResBody>) -> Self {
        Self {
            state: AuthState::Decided {
                future: ResponseFuture::rejected(response),
            },
        }
    }

    pub(super) fn resolving(
        resolve: Resolve,
        req: Request<ReqBody>,
        inner: S,
        predicate: P,
        rejection: R,
    ) -> Self {
        Self {
            state: AuthState::Resolving {
                resolve,
                parts: Some(Pending {
                    req,
                    inner,
                    predicate,
                    rejection,
                }),
            },
        }
    }
}

impl<S, ReqBody, ResBody, P, R> Future for RequireAuthFuture<S, ReqBody, ResBody, P, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    P: super::AuthPredicate,
    R: super::RejectionResponse<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                AuthStateProj::Decided { future } => return future.poll(cx),
                AuthStateProj::Resolving { resolve, parts } => {
                    let resolved = ready!(resolve.as_mut().poll(cx));
                    let Some(Pending {
                        mut req,
                        mut inner,
                        predicate,
                        rejection,
                    }) = parts.take()
                    else {
                        panic_polled_after_completion()
                    };
                    let decision = match resolved {
                        Err(error) => {
                            tracing_unavailable(&error);
                            Err(super::AuthRejection::unavailable())
                        }
                        Ok(identity) => super::service::authorize(&predicate, identity.as_ref())
                            .map(|()| identity),
                    };
                    match decision {
                        Ok(identity) => {
                            if let Some(identity) = identity {
                                req.extensions_mut().insert(identity);
                            }
                            ResponseFuture::future(inner.call(req))
                        }
                        Err(why) => {
                            ResponseFuture::rejected(super::service::reject(&rejection, why))
                        }
                    }
                }
            };
            this.state.set(AuthState::Decided { future: next });
        }
    }
}

impl<S, ReqBody, ResBody, P, R> std::fmt::Debug for RequireAuthFuture<S, ReqBody, ResBody, P, R>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireAuthFuture").finish_non_exhaustive()
    }
}

/// auth-core has no logging dependency: the cause travels in the rejection's absence of an
/// identity and in the error the resolver's own layer logs.
fn tracing_unavailable(_error: &crate::IdentityUnavailable) {}
