use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use auth_cookie::Cookies;
use http::{HeaderMap, HeaderValue, Response, header};
use pin_project_lite::pin_project;

use crate::config::Config;
use crate::session::{CookieChange, Settled};
use crate::{Session, SessionConflict, UnavailableResponse};

type Settle = Pin<Box<dyn Future<Output = Settled> + Send>>;

pin_project! {
    /// The response future of [`SessionManager`](super::SessionManager).
    ///
    /// While the inner service runs it is that service's future. If the session was not used,
    /// the response passes straight through. Otherwise the session is settled (store calls)
    /// in a boxed future, the only allocation, which happens only when there is I/O to do.
    pub struct ResponseFuture<F, B, R> {
        #[pin]
        state: State<F, B>,
        session: Option<Session>,
        jar: Option<Cookies>,
        unavailable: R,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner { #[pin] future: F },
        Settling { settle: Settle, response: Option<Response<B>>, config: Arc<Config> },
    }
}

impl<F, B, R> ResponseFuture<F, B, R> {
    pub(super) fn new(future: F, session: Session, jar: Option<Cookies>, unavailable: R) -> Self {
        Self {
            state: State::Inner { future },
            session: Some(session),
            jar,
            unavailable,
        }
    }
}

impl<F, B, E, R> Future for ResponseFuture<F, B, R>
where
    F: Future<Output = Result<Response<B>, E>>,
    R: UnavailableResponse<B>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future } => {
                    let response = ready!(future.poll(cx))?;
                    let Some(session) = this.session.take() else {
                        return Poll::Ready(Ok(response));
                    };
                    if !session.inner.used.load(Ordering::Acquire) {
                        return Poll::Ready(Ok(response));
                    }
                    if let Some(settled) = session.inner.settle_without_io() {
                        return Poll::Ready(Ok(apply(
                            settled,
                            response,
                            this.jar.take(),
                            &session.inner.config,
                            this.unavailable,
                        )));
                    }
                    let inner = session.inner;
                    let config = inner.config.clone();
                    this.state.set(State::Settling {
                        settle: Box::pin(async move { inner.settle().await }),
                        response: Some(response),
                        config,
                    });
                }
                StateProj::Settling {
                    settle,
                    response,
                    config,
                } => {
                    let settled = ready!(settle.as_mut().poll(cx));
                    let Some(response) = response.take() else {
                        polled_after_completion()
                    };
                    return Poll::Ready(Ok(apply(
                        settled,
                        response,
                        this.jar.take(),
                        config,
                        this.unavailable,
                    )));
                }
            }
        }
    }
}

fn apply<B, R: UnavailableResponse<B>>(
    settled: Settled,
    mut response: Response<B>,
    jar: Option<Cookies>,
    config: &Config,
    unavailable: &R,
) -> Response<B> {
    if settled.unavailable {
        return unavailable.response();
    }
    if !settled.conflicts.is_empty() {
        response.extensions_mut().insert(SessionConflict {
            keys: settled.conflicts,
        });
    }
    // The CookieLayer's jar when one is installed (it writes after this future completes);
    // otherwise a jar of our own, written here.
    let (jar, write_here) = match jar {
        Some(jar) => (jar, false),
        None => (Cookies::from_headers(&HeaderMap::new()), true),
    };
    match settled.cookie {
        CookieChange::None => return response,
        CookieChange::Set { id, max_age } => {
            let value = id.encode();
            let written = if config.signed {
                jar.signed(&config.keys)
                    .add_with_max_age(&config.cookie, &value, max_age)
            } else {
                jar.add_with_max_age(&config.cookie, &value, max_age)
            };
            if let Err(error) = written {
                // A signed 22-character ID is far below the size limit; only a pathological
                // cookie name could get here.
                tracing::error!(%error, "the session cookie could not be written");
                return unavailable.response();
            }
        }
        CookieChange::Remove => jar.remove(&config.cookie),
    }
    let headers = response.headers_mut();
    if write_here {
        jar.write_changes(headers);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    response
}

#[allow(clippy::panic)]
#[cold]
fn polled_after_completion() -> ! {
    panic!("session ResponseFuture polled after completion")
}
