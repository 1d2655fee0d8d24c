//! [`Shutdown`]: a cheap, clonable shutdown signal shared by every stream.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// A shutdown signal: trigger it once, and everything waiting on it wakes up.
///
/// Clones share the same signal, so one handle can be given to
/// [`SseLayer::shutdown`](crate::SseLayer::shutdown), to fan-out channels and to
/// your server's graceful-shutdown future. Triggering is idempotent and
/// permanent; a clone made after the trigger is already triggered.
///
/// ```
/// use tower_sse::Shutdown;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let shutdown = Shutdown::new();
/// let waiter = shutdown.clone();
/// let task = tokio::spawn(async move { waiter.triggered().await });
/// shutdown.trigger();
/// task.await.unwrap();
/// assert!(shutdown.is_triggered());
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    triggered: AtomicBool,
    notify: Notify,
}

impl Shutdown {
    /// A new signal that is not triggered yet.
    ///
    /// ```
    /// let shutdown = tower_sse::Shutdown::new();
    /// assert!(!shutdown.is_triggered());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A signal that triggers when `signal` completes, for example
    /// `tokio::signal::ctrl_c()` mapped to `()`.
    ///
    /// This spawns one small task on the current tokio runtime that awaits
    /// `signal` and then calls [`Shutdown::trigger`]; the handle can also be
    /// triggered by hand before that. The task ends with the future.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime, like `tokio::spawn`.
    ///
    /// ```
    /// use tower_sse::Shutdown;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    /// let shutdown = Shutdown::from_future(async move { let _ = rx.await; });
    /// assert!(!shutdown.is_triggered());
    /// tx.send(()).unwrap();
    /// shutdown.triggered().await;
    /// assert!(shutdown.is_triggered());
    /// # }
    /// ```
    #[must_use]
    pub fn from_future<F>(signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let shutdown = Self::new();
        let handle = shutdown.clone();
        tokio::spawn(async move {
            signal.await;
            handle.trigger();
        });
        shutdown
    }

    /// Triggers the signal and wakes every waiter. Calling it again does nothing.
    ///
    /// ```
    /// let shutdown = tower_sse::Shutdown::new();
    /// shutdown.trigger();
    /// shutdown.trigger();
    /// assert!(shutdown.is_triggered());
    /// ```
    pub fn trigger(&self) {
        if !self.inner.triggered.swap(true, Ordering::AcqRel) {
            self.inner.notify.notify_waiters();
        }
    }

    /// Whether [`Shutdown::trigger`] has been called. A single atomic load.
    ///
    /// ```
    /// let shutdown = tower_sse::Shutdown::new();
    /// let clone = shutdown.clone();
    /// shutdown.trigger();
    /// assert!(clone.is_triggered());
    /// ```
    #[must_use]
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::Acquire)
    }

    /// Completes once the signal is triggered (at once if it already was).
    /// Usable as the future of `with_graceful_shutdown`.
    ///
    /// ```
    /// use tower_sse::Shutdown;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let shutdown = Shutdown::new();
    /// shutdown.trigger();
    /// shutdown.triggered().await; // does not wait
    /// # }
    /// ```
    pub async fn triggered(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Register before checking the flag so a trigger in between is not lost.
            notified.as_mut().enable();
            if self.is_triggered() {
                return;
            }
            notified.await;
        }
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn every_waiter_wakes_on_trigger() {
        let shutdown = Shutdown::new();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let s = shutdown.clone();
                tokio::spawn(async move { s.triggered().await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(waiters.iter().all(|w| !w.is_finished()));
        shutdown.trigger();
        for w in waiters {
            tokio::time::timeout(Duration::from_secs(1), w)
                .await
                .expect("waiter woke")
                .unwrap();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_future_signal_triggers_the_handle() {
        let shutdown = Shutdown::from_future(tokio::time::sleep(Duration::from_secs(5)));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(!shutdown.is_triggered());
        tokio::time::timeout(Duration::from_secs(2), shutdown.triggered())
            .await
            .expect("triggered after the future completed");
    }

    #[test]
    fn shutdown_is_send_sync_and_debug_shows_state() {
        fn assert<T: Send + Sync + Clone + 'static>() {}
        assert::<Shutdown>();
        assert_eq!(
            format!("{:?}", Shutdown::new()),
            "Shutdown { triggered: false }"
        );
    }
}
