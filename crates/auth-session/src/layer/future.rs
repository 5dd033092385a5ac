use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use auth_cookie::Cookies;
use http::{HeaderMap, HeaderValue, Response, header};
use pin_project_lite::pin_project;

use crate::config::Config;
use crate::id::IdText;
use crate::session::{CookieChange, Settle, Settled};
use crate::{Session, SessionConflict, UnavailableResponse};

/// The rest of a settling that waits for the store.
type Later = Pin<Box<dyn Future<Output = Settled> + Send>>;

pin_project! {
    /// The response future of [`SessionManager`](super::SessionManager).
    ///
    /// While the inner service runs it is that service's future. If the session was not used,
    /// the response passes straight through. Otherwise the session is settled: directly when
    /// the store answers at once (or there is nothing to write), else in a boxed future, the
    /// only allocation, made only when the store answers later.
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
        Settling { settle: Later, response: Option<Response<B>>, config: Arc<Config> },
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
                    match session.inner.settle_now() {
                        Settle::Now(settled) => {
                            let response = apply(
                                settled,
                                response,
                                this.jar.take(),
                                session.inner.config(),
                                this.unavailable,
                            );
                            return Poll::Ready(Ok(response));
                        }
                        Settle::Later(settling) => {
                            let config = session.inner.config_arc();
                            this.state.set(State::Settling {
                                settle: Box::pin(settling.run()),
                                response: Some(response),
                                config,
                            });
                        }
                    }
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
    let cookie = config.cookie();
    match settled.cookie {
        CookieChange::None => return response,
        CookieChange::Set { id, max_age } => {
            let text = IdText::new(&id);
            // Without a CookieLayer the header is written here, straight from the rendered
            // attributes (`None`: left to a jar, which reports the error).
            let direct = match &jar {
                None if config.signed => {
                    let sealed = config.keys.seal_signed(cookie.name(), text.as_str());
                    config
                        .set_cookie
                        .header(cookie.name(), sealed.as_bytes(), max_age)
                }
                None => config
                    .set_cookie
                    .header(cookie.name(), text.as_bytes(), max_age),
                Some(_) => None,
            };
            if let Some(header) = direct {
                response.headers_mut().append(header::SET_COOKIE, header);
            } else {
                let (jar, write_here) = jar_or_own(jar);
                let value = text.as_str();
                let written = if config.signed {
                    jar.signed(&config.keys)
                        .add_with_max_age(cookie, value, max_age)
                } else {
                    jar.add_with_max_age(cookie, value, max_age)
                };
                if let Err(error) = written {
                    // A signed 22-character ID is far below the size limit; only a
                    // pathological cookie name could get here.
                    tracing::error!(%error, "the session cookie could not be written");
                    return unavailable.response();
                }
                if write_here {
                    jar.write_changes(response.headers_mut());
                }
            }
        }
        CookieChange::Remove => {
            let (jar, write_here) = jar_or_own(jar);
            jar.remove(cookie);
            if write_here {
                jar.write_changes(response.headers_mut());
            }
        }
    }
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    response
}

/// The CookieLayer's jar when one is installed (it writes after this future completes);
/// otherwise a jar of our own, to be written here.
fn jar_or_own(jar: Option<Cookies>) -> (Cookies, bool) {
    match jar {
        Some(jar) => (jar, false),
        None => (Cookies::from_headers(&HeaderMap::new()), true),
    }
}

#[allow(clippy::panic)]
#[cold]
fn polled_after_completion() -> ! {
    panic!("session ResponseFuture polled after completion")
}
