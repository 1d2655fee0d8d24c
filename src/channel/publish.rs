//! [`PublishOptions`]: how [`Hub::publish_with`](crate::Hub::publish_with)
//! stores an event.

use crate::engine::{Append, IdempotencyKey};
use crate::error::Error;
use crate::event::Event;

/// Options of one publish, for [`Hub::publish_with`](crate::Hub::publish_with).
///
/// With an idempotency key, a retry of the same publish (same topic, same
/// key, within the engine's window: [`HubConfig::idempotency_window`](crate::HubConfig::idempotency_window),
/// five minutes by default) returns the first publish's id and stores
/// nothing new, so a publish whose answer was lost can be retried safely.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
/// use tower_sse::{Hub, PublishOptions};
///
/// let hub = Hub::new();
/// let options = PublishOptions::new().try_idempotency_key("order-42")?;
/// let first = hub.publish_with("orders", "created", options.clone()).await?;
/// let retry = hub.publish_with("orders", "created", options).await?;
/// assert_eq!(retry.id(), first.id());
/// assert!(retry.is_duplicate());
/// assert!(PublishOptions::new().try_idempotency_key("has space").is_err());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct PublishOptions {
    key: Option<IdempotencyKey>,
}

impl PublishOptions {
    /// No options: a plain publish.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the publish idempotent under `key`.
    pub fn idempotency_key(mut self, key: IdempotencyKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Validates `key` and makes the publish idempotent under it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidIdempotencyKey`](crate::ErrorKind::InvalidIdempotencyKey)
    /// when `key` is not 1 to 128 bytes of visible ASCII.
    pub fn try_idempotency_key(self, key: impl Into<String>) -> Result<Self, Error> {
        Ok(self.idempotency_key(IdempotencyKey::new(key)?))
    }

    /// The idempotency key, if any.
    #[must_use]
    pub fn key(&self) -> Option<&IdempotencyKey> {
        self.key.as_ref()
    }

    pub(crate) fn append(self, event: Event) -> Append {
        match self.key {
            Some(key) => Append::new(event).idempotency_key(key),
            None => Append::new(event),
        }
    }
}
