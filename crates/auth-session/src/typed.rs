//! `TypedSession<T>`: one typed value per session, under a fixed key.

use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Session, SessionError};

/// Names the session key a type is stored under, for [`TypedSession`].
pub trait SessionKey {
    /// The key.
    const KEY: &'static str;
}

/// A [`Session`] seen through one type: the value of type `T` stored under `T::KEY`.
///
/// The pattern keeps keys and types together in one place instead of strings scattered over
/// handlers. With the `axum` feature it is an extractor.
///
/// # Example
///
/// ```
/// use auth_session::{Session, SessionKey, TypedSession};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Default, Serialize, Deserialize)]
/// struct Cart {
///     items: Vec<u32>,
/// }
///
/// impl SessionKey for Cart {
///     const KEY: &'static str = "cart";
/// }
///
/// async fn add(session: Session, item: u32) -> Result<usize, auth_session::SessionError> {
///     let cart = TypedSession::<Cart>::new(session);
///     let mut value = cart.get().await?.unwrap_or_default();
///     value.items.push(item);
///     cart.set(&value).await?;
///     Ok(value.items.len())
/// }
/// ```
pub struct TypedSession<T> {
    session: Session,
    kind: PhantomData<fn() -> T>,
}

impl<T> TypedSession<T>
where
    T: SessionKey + Serialize + DeserializeOwned,
{
    /// A typed view of `session`.
    pub fn new(session: Session) -> Self {
        Self {
            session,
            kind: PhantomData,
        }
    }

    /// The stored value, if any.
    ///
    /// # Errors
    ///
    /// As [`Session::get`].
    pub async fn get(&self) -> Result<Option<T>, SessionError> {
        self.session.get(T::KEY).await
    }

    /// Stores `value`.
    ///
    /// # Errors
    ///
    /// As [`Session::insert`].
    pub async fn set(&self, value: &T) -> Result<(), SessionError> {
        self.session.insert(T::KEY, value).await
    }

    /// Removes and returns the value.
    ///
    /// # Errors
    ///
    /// As [`Session::remove`].
    pub async fn take(&self) -> Result<Option<T>, SessionError> {
        self.session.remove(T::KEY).await
    }

    /// The underlying session.
    pub fn session(&self) -> &Session {
        &self.session
    }
}

impl<T> Clone for TypedSession<T> {
    fn clone(&self) -> Self {
        Self {
            session: self.session.clone(),
            kind: PhantomData,
        }
    }
}

impl<T> fmt::Debug for TypedSession<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedSession")
            .field("type", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}
