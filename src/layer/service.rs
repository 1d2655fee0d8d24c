//! [`SseService`]: the service produced by [`SseLayer`](super::SseLayer).

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::future::ResponseFuture;
use super::layer::Config;
use crate::last_event_id::{Checked, LastEventId, LAST_EVENT_ID, QUERY_PARAM};

/// Middleware that makes event-stream responses production-ready; built by
/// [`SseLayer`](super::SseLayer), see there for what it does.
///
/// ```
/// use tower::ServiceBuilder;
/// use tower_sse::{layer::SseService, SseLayer};
///
/// let svc: SseService<_> = ServiceBuilder::new().layer(SseLayer::new()).service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// });
/// assert!(format!("{svc:?}").starts_with("SseService"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct SseService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> SseService<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }

    /// The wrapped service.
    ///
    /// ```
    /// use tower::Layer;
    /// let svc = tower_sse::SseLayer::new().layer(7);
    /// assert_eq!(*svc.get_ref(), 7);
    /// ```
    #[must_use]
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    ///
    /// ```
    /// use tower::Layer;
    /// let mut svc = tower_sse::SseLayer::new().layer(7);
    /// *svc.get_mut() = 8;
    /// assert_eq!(svc.into_inner(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Returns the wrapped service.
    ///
    /// ```
    /// use tower::Layer;
    /// assert_eq!(tower_sse::SseLayer::new().layer(7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Validates the request's last event id and stores it for the handler. An
/// invalid value is logged, its header removed, and the request marked so that
/// [`LastEventId::from_parts`] does not parse it again.
fn set_last_event_id<B>(req: &mut Request<B>, config: &Config) {
    match LastEventId::parse(req.headers(), req.uri(), config.max_id_len, config.id_query) {
        Ok(None) => {
            // The layer is authoritative: with the query off, the extractor
            // must not read the parameter on its own.
            if !config.id_query && req.uri().query().is_some_and(|q| q.contains(QUERY_PARAM)) {
                req.extensions_mut().insert(Checked);
            }
        }
        Ok(Some(id)) => {
            req.extensions_mut().insert(id);
        }
        Err(error) => {
            tracing::debug!(%error, "ignoring invalid last-event-id");
            let rejected = LastEventId::rejection(
                req.headers(),
                req.uri(),
                config.max_id_len,
                config.id_query,
            );
            req.headers_mut().remove(LAST_EVENT_ID);
            req.extensions_mut().insert(Checked);
            req.extensions_mut().insert(rejected);
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SseService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Response = Response<super::SseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        set_last_event_id(&mut req, &self.config);
        let version = req.version();
        ResponseFuture::new(self.inner.call(req), self.config.clone(), version)
    }
}

impl<S> std::fmt::Debug for SseService<S>
where
    S: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(req: Request<()>, config: &Config) -> Request<()> {
        let mut req = req;
        set_last_event_id(&mut req, config);
        req
    }

    #[test]
    fn an_oversized_header_is_removed_and_never_reaches_the_handler() {
        let config = Config {
            max_id_len: 4,
            ..Config::default()
        };
        let req = run(
            Request::get("/")
                .header("last-event-id", "12345")
                .body(())
                .unwrap(),
            &config,
        );
        assert!(req.headers().get("last-event-id").is_none());
        assert_eq!(LastEventId::from_request(&req), None);
        let req = run(
            Request::get("/")
                .header("last-event-id", "1234")
                .body(())
                .unwrap(),
            &config,
        );
        assert_eq!(
            LastEventId::from_extensions(req.extensions())
                .unwrap()
                .as_str(),
            "1234"
        );
    }

    #[test]
    fn the_query_is_read_only_when_enabled() {
        let uri = "/?lastEventId=9";
        let off = run(Request::get(uri).body(()).unwrap(), &Config::default());
        assert!(LastEventId::from_extensions(off.extensions()).is_none());
        assert_eq!(LastEventId::from_request(&off), None);
        let config = Config {
            id_query: true,
            ..Config::default()
        };
        let on = run(Request::get(uri).body(()).unwrap(), &config);
        assert_eq!(
            LastEventId::from_extensions(on.extensions())
                .unwrap()
                .as_str(),
            "9"
        );
        let bad = run(Request::get("/?lastEventId=%0A").body(()).unwrap(), &config);
        assert_eq!(LastEventId::from_request(&bad), None);
    }
}
