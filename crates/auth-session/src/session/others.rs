//! The logged-in principal's other sessions: [`Session::other_sessions`] and
//! [`Session::logout_other_sessions`], through the store's per-principal index
//! ([`SessionStore::sessions_of`](auth_core::SessionStore::sessions_of),
//! [`SessionStore::delete_sessions_of`](auth_core::SessionStore::delete_sessions_of)). Unlike
//! the rest of the handle they call the store at once, not after the response.

use std::sync::Arc;

use auth_core::{SessionId, SessionRecord, StoreError, StoreResult};

use super::Session;
use crate::SessionError;

impl Session {
    /// The logged-in principal's *other* live sessions ("you are also signed in on..."):
    /// every session of this [issuer](auth_core::Identity::issuer) and subject in the store
    /// but this one, oldest first. An anonymous session (and one logged out in this request)
    /// has none.
    ///
    /// The records carry their data, times and roles, but **no ID**: every `id` is all zeros.
    /// A session ID is the bearer credential of that session, and a page listing devices must
    /// never carry one; with hashed IDs at rest the store does not know them anyway. To end
    /// them, use [`logout_other_sessions`](Self::logout_other_sessions). Store what a "your
    /// devices" page shows (a device name, where it logged in) in the session data at login.
    ///
    /// The principal is the one logged in now, in this request too: after a
    /// [`login`](Self::login) as someone else, the new principal's sessions. The listing is
    /// the store's [`sessions_of`](auth_core::SessionStore::sessions_of) (a walk of every
    /// shard for a [`MemoryStore`](crate::MemoryStore), an index elsewhere).
    ///
    /// ```
    /// use auth_cookie::CookieKeys;
    /// use auth_core::{AuthMethod, Identity};
    /// use auth_session::{MemoryStore, Session, SessionError, SessionLayer};
    /// use http::{Request, Response, header};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// async fn handle(req: Request<()>) -> Result<Response<String>, SessionError> {
    ///     let session = Session::from_request(&req).expect("SessionLayer");
    ///     let body = if req.uri().path() == "/login" {
    ///         let device = req.headers()[header::USER_AGENT].to_str().unwrap_or("?");
    ///         session.login(&Identity::builder("bob", AuthMethod::Session).build()).await?;
    ///         session.insert("device", device).await?;
    ///         "welcome".to_owned()
    ///     } else {
    ///         // "/devices": where else bob is signed in.
    ///         let others = session.other_sessions().await?;
    ///         let devices: Vec<String> = others
    ///             .iter()
    ///             .filter_map(|other| other.data.get("device")?.as_str().map(str::to_owned))
    ///             .collect();
    ///         devices.join(", ")
    ///     };
    ///     Ok(Response::new(body))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let layer = SessionLayer::new(MemoryStore::new(), CookieKeys::generate()?);
    /// let app = ServiceBuilder::new().layer(layer).service_fn(handle);
    /// let mut cookies = Vec::new();
    /// for device in ["laptop", "phone"] {
    ///     let req = Request::builder().uri("/login").header(header::USER_AGENT, device);
    ///     let res = app.clone().oneshot(req.body(())?).await?;
    ///     let cookie = res.headers()[header::SET_COOKIE].to_str()?;
    ///     cookies.push(cookie.split(';').next().unwrap_or_default().to_owned());
    /// }
    ///
    /// let req = Request::builder().uri("/devices").header(header::COOKIE, &cookies[0]);
    /// let res = app.oneshot(req.body(())?).await?;
    /// assert_eq!(res.body(), "phone", "the laptop sees the phone, not itself");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Security
    ///
    /// Only the logged-in principal's sessions are listed: `bob` of another issuer, and a
    /// local `bob`, are other users (see [`login`](Self::login)). The records hold those
    /// sessions' data: show a handler's visitor only what is theirs to see.
    ///
    /// # Errors
    ///
    /// [`SessionError::Unsupported`] when the store has no per-principal index (its
    /// `sessions_of` answers [`StoreError::Unsupported`]; every store of this crate has one);
    /// the session itself is unaffected. [`SessionError::Unavailable`] when the store fails:
    /// as for any store failure, the layer then also answers 503.
    pub async fn other_sessions(&self) -> Result<Vec<SessionRecord>, SessionError> {
        let Some((issuer, subject, this)) = self.principal().await? else {
            return Ok(Vec::new());
        };
        let store = &self.inner.config().store;
        let listed = store
            .sessions_of(issuer.as_deref(), &subject, Some(&this))
            .await;
        let mut others = self.per_principal(listed)?;
        for other in &mut others {
            other.id = SessionId::from_bytes([0; SessionId::LEN]);
        }
        others.sort_by_key(|other| (other.created_at, other.expires_at));
        Ok(others)
    }

    /// Logs the principal out everywhere else: deletes every session of this
    /// [issuer](auth_core::Identity::issuer) and subject in the store but this one, now (not
    /// after the response), and returns how many ended. This session stays logged in; an
    /// anonymous one (or one logged out in this request) has no other sessions: 0.
    ///
    /// Those sessions end on every instance that shares the store: their next request is
    /// anonymous, and a request of theirs still running cannot save them back (a save after a
    /// deletion is refused). Behind a [`CachingStore`](crate::CachingStore), other instances
    /// may still read them for up to its staleness bound. To log out everywhere, this session
    /// included, call this and then [`logout`](Self::logout).
    ///
    /// ```
    /// use auth_cookie::CookieKeys;
    /// use auth_core::{AuthMethod, Identity};
    /// use auth_session::{MemoryStore, Session, SessionError, SessionLayer};
    /// use http::{Request, Response, header};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// async fn handle(req: Request<()>) -> Result<Response<String>, SessionError> {
    ///     let session = Session::from_request(&req).expect("SessionLayer");
    ///     let body = match req.uri().path() {
    ///         "/login" => {
    ///             let bob = Identity::builder("bob", AuthMethod::Session)
    ///                 .issuer("https://idp.example")
    ///                 .build();
    ///             session.login(&bob).await?;
    ///             "welcome".to_owned()
    ///         }
    ///         "/logout-others" => session.logout_other_sessions().await?.to_string(),
    ///         _ => match session.identity().await? {
    ///             Some(identity) => identity.subject().to_owned(),
    ///             None => "anonymous".to_owned(),
    ///         },
    ///     };
    ///     Ok(Response::new(body))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let layer = SessionLayer::new(MemoryStore::new(), CookieKeys::generate()?);
    /// let app = ServiceBuilder::new().layer(layer).service_fn(handle);
    /// // One request: its body, and the session cookie from then on.
    /// let send = async |path: &str, cookie: &str| {
    ///     let req = Request::builder().uri(path).header(header::COOKIE, cookie).body(())?;
    ///     let res = app.clone().oneshot(req).await?;
    ///     let cookie = match res.headers().get(header::SET_COOKIE) {
    ///         Some(set) => set.to_str()?.split(';').next().unwrap_or_default().to_owned(),
    ///         None => cookie.to_owned(),
    ///     };
    ///     Ok::<_, Box<dyn std::error::Error>>((res.into_body(), cookie))
    /// };
    /// let (_, laptop) = send("/login", "").await?;
    /// let (_, phone) = send("/login", "").await?;
    /// assert_eq!(send("/me", &phone).await?.0, "bob");
    ///
    /// assert_eq!(send("/logout-others", &laptop).await?.0, "1");
    /// assert_eq!(send("/me", &phone).await?.0, "anonymous");
    /// assert_eq!(send("/me", &laptop).await?.0, "bob", "this session stays");
    /// assert_eq!(send("/logout-others", &laptop).await?.0, "0");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Security
    ///
    /// The sessions of the logged-in principal end, an issuer and a subject: never those of
    /// `bob` of another issuer, or of a local `bob` (see [`login`](Self::login)). Offer it
    /// after a password change, and whenever a user suspects another device. The revocation
    /// is the store's [`delete_sessions_of`](auth_core::SessionStore::delete_sessions_of), with
    /// its atomicity: a login completing elsewhere while it runs may survive it (one step in
    /// the SQL stores and on a standalone Redis).
    ///
    /// # Errors
    ///
    /// [`SessionError::Unsupported`] when the store has no per-principal index (nothing was
    /// deleted; the session itself is unaffected). [`SessionError::Unavailable`] when the
    /// store fails (some of the sessions may have ended): as for any store failure, the layer
    /// then also answers 503, so a failed revocation never looks like a success.
    pub async fn logout_other_sessions(&self) -> Result<u64, SessionError> {
        let Some((issuer, subject, this)) = self.principal().await? else {
            return Ok(0);
        };
        let store = &self.inner.config().store;
        let deleted = store
            .delete_sessions_of(issuer.as_deref(), &subject, Some(&this))
            .await;
        self.per_principal(deleted)
    }

    /// Who is logged in now (issuer, subject), and the ID this session has in the store (its
    /// loaded ID; a session created or cycled by this request is stored after the response);
    /// `None` when anonymous.
    async fn principal(&self) -> Result<Option<(Option<String>, String, SessionId)>, SessionError> {
        let state = self.state().await?;
        let Some(record) = state.record.as_ref() else {
            return Ok(None);
        };
        let Some(subject) = record.subject.clone() else {
            return Ok(None);
        };
        let this = state
            .original
            .as_ref()
            .map_or(record.id, |original| original.id);
        Ok(Some((record.issuer.clone(), subject, this)))
    }

    /// A per-principal store answer: a store failure is logged and, like a failed load,
    /// turns the response into a 503; a store without the capability is
    /// [`SessionError::Unsupported`] and leaves the session alone.
    fn per_principal<T>(&self, answer: StoreResult<T>) -> Result<T, SessionError> {
        match answer {
            Ok(value) => Ok(value),
            Err(StoreError::Unsupported(what)) => Err(SessionError::Unsupported(what)),
            Err(error) => {
                tracing::error!(%error, "session store failed on a user's sessions");
                let error = Arc::new(error);
                self.inner
                    .lock()
                    .error
                    .get_or_insert_with(|| Arc::clone(&error));
                Err(SessionError::Unavailable(error))
            }
        }
    }
}
