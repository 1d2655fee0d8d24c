//! Authorization of multi-topic subscriptions: the [`Authorize`] hook, asked
//! per topic before any stream opens, and [`Subscriber`], who is asking.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use http::request::Parts;

use super::refusal::Refusal;

/// Decides, per topic, whether a request may subscribe to it.
///
/// [`Multiplexer::subscribe_parts`](super::Multiplexer::subscribe_parts) asks
/// it for every requested topic before it opens anything; the first refusal
/// is the answer. Read what your auth layer put into the request extensions
/// (a [`Subscriber`], your own claims type, tower-http's validated token...).
/// Closures `Fn(&Parts, &str) -> Result<(), Refusal>` implement it.
///
/// ```
/// use http::request::Parts;
/// use tower_sse::multi::{Authorize, Refusal, Subscriber};
///
/// // Anyone may read `rooms/...`; `users/<id>/...` only its own user.
/// fn authorize(request: &Parts, topic: &str) -> Result<(), Refusal> {
///     if topic.starts_with("rooms/") {
///         return Ok(());
///     }
///     let who = request.extensions.get::<Subscriber>().and_then(Subscriber::principal);
///     match (topic.strip_prefix("users/"), who) {
///         (Some(rest), Some(me)) if rest.split('/').next() == Some(me) => Ok(()),
///         (_, None) => Err(Refusal::unauthenticated()),
///         _ => Err(Refusal::forbidden(topic)),
///     }
/// }
///
/// let (mut parts, ()) = http::Request::get("/events").body(()).unwrap().into_parts();
/// assert!(authorize.authorize(&parts, "rooms/1").is_ok());
/// assert_eq!(authorize.authorize(&parts, "users/ann/inbox").unwrap_err().status(), 401);
/// parts.extensions.insert(Subscriber::new("ann"));
/// assert!(authorize.authorize(&parts, "users/ann/inbox").is_ok());
/// assert_eq!(authorize.authorize(&parts, "users/bob/inbox").unwrap_err().status(), 403);
/// ```
pub trait Authorize: Send + Sync + 'static {
    /// `Ok` when `request` may read `topic`.
    ///
    /// # Errors
    ///
    /// The [`Refusal`] to answer with.
    fn authorize(&self, request: &Parts, topic: &str) -> Result<(), Refusal>;
}

impl<F> Authorize for F
where
    F: Fn(&Parts, &str) -> Result<(), Refusal> + Send + Sync + 'static,
{
    fn authorize(&self, request: &Parts, topic: &str) -> Result<(), Refusal> {
        self(request, topic)
    }
}

/// The default [`Authorize`]: every topic is allowed.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorize for AllowAll {
    fn authorize(&self, _request: &Parts, _topic: &str) -> Result<(), Refusal> {
        Ok(())
    }
}

/// Who subscribes, and until when: put it into the request extensions from
/// your auth layer (or pass it to [`MultiRequest::subscriber`](super::MultiRequest::subscriber)).
///
/// The principal decides which [private](super::Multiplexer::private) events
/// the subscription receives, and binds its cursors (another subscriber's
/// cursor does not verify: gaps, never its positions). The expiry (a token's
/// `exp`) ends the stream cleanly with an `sse-expired` event and a `retry:`
/// hint, so the page refreshes its credentials before the browser reconnects.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_sse::multi::Subscriber;
///
/// let exp = SystemTime::now() + Duration::from_secs(900);
/// let who = Subscriber::new("ann").expires_at(exp);
/// assert_eq!(who.principal(), Some("ann"));
/// assert_eq!(who.expiry(), Some(exp));
/// assert_eq!(Subscriber::anonymous().principal(), None);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Subscriber {
    principal: Option<Arc<str>>,
    expires_at: Option<SystemTime>,
}

impl Subscriber {
    /// A subscriber without a principal: it receives no private event.
    #[must_use]
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// A subscriber known as `principal` (a user id, a session id...).
    #[must_use]
    pub fn new(principal: impl Into<Arc<str>>) -> Self {
        Self {
            principal: Some(principal.into()),
            expires_at: None,
        }
    }

    /// Ends the subscription at `at`.
    #[must_use]
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// The principal, if any.
    #[must_use]
    pub fn principal(&self) -> Option<&str> {
        self.principal.as_deref()
    }

    /// When the subscription ends, if it does.
    #[must_use]
    pub fn expiry(&self) -> Option<SystemTime> {
        self.expires_at
    }
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("principal", &self.principal)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}
