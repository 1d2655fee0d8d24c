//! [`LiveStream`]: an event-stream body with a prelude, keep-alives, a
//! maximum lifetime and shutdown.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame};
use pin_project_lite::pin_project;

use super::boundary::Framing;
use super::guard::{EndReason, StreamGuard};
use super::jitter;
use super::keep_alive::{Due, KeepAlive};
use super::layer::Config;
use crate::end_hint::{self, EndHint};

type ShutdownFuture = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

pin_project! {
    /// The wrapped event stream.
    #[project = LiveStreamProj]
    pub(crate) struct LiveStream<B> {
        #[pin]
        inner: B,
        #[pin]
        timer: KeepAlive,
        shutdown: Option<ShutdownFuture>,
        config: Arc<Config>,
        // Bytes of our own to send before anything else (the prelude).
        pending: Option<Bytes>,
        framing: Framing,
        guard: StreamGuard,
        // Why the inner stream said it will end (see `end_hint`).
        hint: Option<EndHint>,
        done: bool,
    }
}

impl<B> LiveStream<B> {
    pub(crate) fn new(inner: B, config: Arc<Config>, guard: StreamGuard, framing: Framing) -> Self {
        let lifetime = config.max_duration.map(|max| {
            let jitter = config.jitter.unwrap_or(max / 10);
            jitter::shorten(max, jitter)
        });
        let shutdown = config.shutdown.clone().map(|s| {
            let wait: ShutdownFuture = Box::pin(async move { s.triggered().await });
            wait
        });
        Self {
            inner,
            timer: KeepAlive::new(config.keep_alive, lifetime),
            shutdown,
            pending: config.prelude.clone(),
            config,
            framing,
            guard,
            hint: None,
            done: false,
        }
    }
}

impl<B> Body for LiveStream<B>
where
    B: Body,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        if let Some(own) = this.pending.take() {
            this.guard.sent(own.len(), 0);
            this.timer.as_mut().frame_sent();
            return Poll::Ready(Some(Ok(Frame::data(own))));
        }
        if *this.done {
            return Poll::Ready(None);
        }
        if this
            .config
            .shutdown
            .as_ref()
            .is_some_and(|s| s.is_triggered())
        {
            return this.end(EndReason::Shutdown);
        }
        loop {
            let (polled, hint) = end_hint::observe(|| this.inner.as_mut().poll_frame(cx));
            if hint.is_some() {
                *this.hint = hint;
            }
            match polled {
                Poll::Ready(Some(Ok(frame))) => {
                    let frame = frame.map_data(|mut d| d.copy_to_bytes(d.remaining()));
                    if let Some(data) = frame.data_ref() {
                        if data.is_empty() {
                            continue;
                        }
                        let events = this.framing.observe(data);
                        this.guard.sent(data.len(), events);
                        this.timer.as_mut().frame_sent();
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Poll::Ready(Some(Err(e))) => {
                    this.guard.end(EndReason::Error);
                    *this.done = true;
                    this.timer.as_mut().stop();
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.guard.end(match this.hint {
                        Some(EndHint::SlowConsumer) => EndReason::SlowConsumer,
                        None => EndReason::Ended,
                    });
                    *this.done = true;
                    this.timer.as_mut().stop();
                    return Poll::Ready(None);
                }
                Poll::Pending => break,
            }
        }
        if let Some(shutdown) = this.shutdown.as_mut() {
            if shutdown.as_mut().poll(cx).is_ready() {
                return this.end(EndReason::Shutdown);
            }
        }
        match this.timer.as_mut().poll_due(cx, this.framing.at_line()) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Due::Deadline) => this.end(EndReason::MaxDuration),
            Poll::Ready(Due::KeepAlive) => {
                let line = this.config.keep_alive_line.clone();
                this.guard.keep_alive(line.len());
                Poll::Ready(Some(Ok(Frame::data(line))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.pending.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::default()
    }
}

impl<B> LiveStreamProj<'_, B> {
    /// Ends the stream cleanly: with the final event on shutdown when the body
    /// is at an event boundary, else at once.
    fn end<E>(&mut self, reason: EndReason) -> Poll<Option<Result<Frame<Bytes>, E>>> {
        self.guard.end(reason);
        *self.done = true;
        self.timer.as_mut().stop();
        *self.shutdown = None;
        if reason == EndReason::Shutdown && self.framing.at_event() {
            if let Some(event) = self.config.final_event.clone() {
                self.guard.sent(event.len(), 1);
                return Poll::Ready(Some(Ok(Frame::data(event))));
            }
        }
        Poll::Ready(None)
    }
}

impl<B> fmt::Debug for LiveStream<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveStream")
            .field("framing", &self.framing)
            .field("timer", &self.timer)
            .field("guard", &self.guard)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use futures_util::FutureExt;
    use http_body_util::{BodyExt, StreamBody};
    use tokio::sync::mpsc;
    use tokio::time::advance;
    use tokio_stream::wrappers::UnboundedReceiverStream;

    use super::*;
    use crate::metrics::SseMetrics;
    use crate::{Event, Shutdown, SseLayer};

    type Inner = StreamBody<UnboundedReceiverStream<Result<Frame<Bytes>, Infallible>>>;
    type Tx = mpsc::UnboundedSender<Result<Frame<Bytes>, Infallible>>;

    fn open(config: Config) -> (Tx, Pin<Box<LiveStream<Inner>>>, SseMetrics) {
        let (tx, rx) = mpsc::unbounded_channel();
        let metrics = config.metrics.clone();
        assert!(metrics.try_open(None));
        let guard = StreamGuard::new(metrics.clone(), http::Version::HTTP_11);
        let body = StreamBody::new(UnboundedReceiverStream::new(rx));
        (
            tx,
            Box::pin(LiveStream::new(
                body,
                Arc::new(config),
                guard,
                Framing::scanned(),
            )),
            metrics,
        )
    }

    fn config(layer: &SseLayer) -> Config {
        (*layer.config).clone()
    }

    fn send(tx: &Tx, bytes: &'static [u8]) {
        tx.send(Ok(Frame::data(Bytes::from_static(bytes)))).unwrap();
    }

    /// The next frame if one is ready now, without waiting.
    fn next_now(body: &mut Pin<Box<LiveStream<Inner>>>) -> Option<Option<Bytes>> {
        body.frame()
            .now_or_never()
            .map(|f| f.map(|f| f.unwrap().into_data().unwrap()))
    }

    #[tokio::test(start_paused = true)]
    async fn the_prelude_comes_first_without_waiting_for_the_body() {
        let layer = SseLayer::new()
            .retry(Duration::from_secs(3))
            .try_initial_comment("open")
            .unwrap();
        let (_tx, mut body, _) = open(config(&layer));
        assert_eq!(
            next_now(&mut body).unwrap().unwrap(),
            "retry: 3000\n\n: open\n"
        );
        assert_eq!(next_now(&mut body), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_keep_alive_follows_each_idle_interval_and_frames_restart_the_timer() {
        let layer = SseLayer::new().keep_alive_interval(Duration::from_secs(10));
        let (tx, mut body, metrics) = open(config(&layer));
        assert_eq!(next_now(&mut body), None);
        advance(Duration::from_secs(9)).await;
        assert_eq!(next_now(&mut body), None);
        send(&tx, b"data: x\n\n");
        assert_eq!(next_now(&mut body).unwrap().unwrap(), "data: x\n\n");
        advance(Duration::from_secs(9)).await;
        assert_eq!(next_now(&mut body), None, "timer restarted by the frame");
        advance(Duration::from_secs(1)).await;
        assert_eq!(next_now(&mut body).unwrap().unwrap(), ":\n");
        advance(Duration::from_secs(10)).await;
        assert_eq!(next_now(&mut body).unwrap().unwrap(), ":\n");
        assert_eq!((metrics.keep_alives(), metrics.events()), (2, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_keep_alive_never_splits_a_line_or_a_crlf() {
        let (tx, mut body, _) = open(Config::default());
        send(&tx, b"data: a");
        assert_eq!(next_now(&mut body).unwrap().unwrap(), "data: a");
        advance(Duration::from_secs(31)).await;
        assert_eq!(next_now(&mut body), None);
        send(&tx, b"\r");
        assert_eq!(next_now(&mut body).unwrap().unwrap(), "\r");
        advance(Duration::from_secs(31)).await;
        assert_eq!(next_now(&mut body), None);
        send(&tx, b"\n");
        assert_eq!(next_now(&mut body).unwrap().unwrap(), "\n");
        advance(Duration::from_secs(15)).await;
        assert_eq!(next_now(&mut body).unwrap().unwrap(), ":\n");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_mid_event_gets_a_comment_line_that_keeps_the_event_whole() {
        let layer = SseLayer::new().try_keep_alive_text("ka").unwrap();
        let (tx, mut body, metrics) = open(config(&layer));
        send(&tx, b"data: a\n");
        let mut wire = next_now(&mut body).unwrap().unwrap().to_vec();
        advance(Duration::from_secs(15)).await;
        wire.extend_from_slice(&next_now(&mut body).unwrap().unwrap());
        send(&tx, b"data: b\n\n");
        wire.extend_from_slice(&next_now(&mut body).unwrap().unwrap());
        assert_eq!(wire, b"data: a\n: ka\ndata: b\n\n");
        assert_eq!(metrics.events(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_stops_when_the_body_ends() {
        let (tx, mut body, _) = open(Config::default());
        drop(tx);
        assert_eq!(next_now(&mut body), Some(None));
        assert!(body.is_end_stream());
        assert!(format!("{body:?}").contains("sleep: None"));
        advance(Duration::from_secs(60)).await;
        assert_eq!(next_now(&mut body), Some(None));
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_sends_the_final_event_at_an_event_boundary_then_ends() {
        let shutdown = Shutdown::new();
        let layer = SseLayer::new()
            .shutdown(shutdown.clone())
            .final_event(&Event::new().data("bye"));
        let (tx, mut body, metrics) = open(config(&layer));
        send(&tx, b"data: 1\n\n");
        assert_eq!(next_now(&mut body).unwrap().unwrap(), "data: 1\n\n");
        let pending = tokio::spawn(async move {
            let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
            (frame, body.frame().await.is_none())
        });
        tokio::task::yield_now().await;
        shutdown.trigger();
        let (frame, ended) = pending.await.unwrap();
        assert_eq!(frame, "data: bye\n\n");
        assert!(ended);
        assert_eq!(metrics.events(), 2);
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_mid_event_ends_at_once_without_the_final_event() {
        let shutdown = Shutdown::new();
        let layer = SseLayer::new()
            .shutdown(shutdown.clone())
            .final_event(&Event::new().data("bye"));
        let (tx, mut body, _) = open(config(&layer));
        send(&tx, b"data: half\n");
        assert_eq!(next_now(&mut body).unwrap().unwrap(), "data: half\n");
        shutdown.trigger();
        send(&tx, b"data: more\n\n");
        assert_eq!(next_now(&mut body), Some(None));
    }

    #[tokio::test(start_paused = true)]
    async fn max_duration_ends_the_stream_within_the_jitter_window() {
        let layer = SseLayer::new()
            .keep_alive_interval(Duration::from_secs(7))
            .max_duration(Duration::from_secs(100))
            .max_duration_jitter(Duration::from_secs(20));
        let (_tx, mut body, _) = open(config(&layer));
        let mut elapsed = 0;
        let mut keep_alives_at = Vec::new();
        loop {
            match next_now(&mut body) {
                Some(Some(ka)) => {
                    assert_eq!(ka, ":\n");
                    keep_alives_at.push(elapsed);
                }
                Some(None) => break,
                None => {
                    advance(Duration::from_secs(1)).await;
                    elapsed += 1;
                }
            }
        }
        assert!((80..=100).contains(&elapsed), "ended after {elapsed} s");
        // The deadline fell inside the last second stepped over, so keep-alives
        // came on every multiple of 7 s before that second, and none after.
        let expected: Vec<_> = (1..).map(|k| 7 * k).take_while(|t| *t < elapsed).collect();
        assert!(
            keep_alives_at == expected,
            "keep-alives at {keep_alives_at:?}, ended after {elapsed} s"
        );
    }
}
