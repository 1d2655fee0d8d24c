//! axum extractors for [`LastEventId`] (feature `axum`).

use std::convert::Infallible;
use std::fmt;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use super::LastEventId;

/// Rejection of the `LastEventId` extractor when the request carries no valid
/// id: `400 Bad Request` with a short lowercase message. Use
/// `Option<LastEventId>` to accept first connections too.
///
/// ```
/// use axum::response::IntoResponse;
/// use tower_sse::MissingLastEventId;
///
/// let res = MissingLastEventId::default().into_response();
/// assert_eq!(res.status(), 400);
/// assert_eq!(MissingLastEventId::default().to_string(), "missing or invalid last-event-id");
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MissingLastEventId;

impl fmt::Display for MissingLastEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("missing or invalid last-event-id")
    }
}

impl std::error::Error for MissingLastEventId {}

impl IntoResponse for MissingLastEventId {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, self.to_string()).into_response()
    }
}

impl<S> FromRequestParts<S> for LastEventId
where
    S: Send + Sync,
{
    type Rejection = MissingLastEventId;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_parts(parts).ok_or(MissingLastEventId)
    }
}

impl<S> OptionalFromRequestParts<S> for LastEventId
where
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_required_extractor_rejects_with_400_and_the_optional_one_never() {
        let (mut parts, ()) = http::Request::get("/").body(()).unwrap().into_parts();
        let err = <LastEventId as FromRequestParts<()>>::from_request_parts(&mut parts, &())
            .await
            .unwrap_err();
        assert_eq!(err.into_response().status(), StatusCode::BAD_REQUEST);
        let none =
            <LastEventId as OptionalFromRequestParts<()>>::from_request_parts(&mut parts, &())
                .await
                .unwrap();
        assert_eq!(none, None);
        parts.headers.insert("last-event-id", "5".parse().unwrap());
        let id = <LastEventId as FromRequestParts<()>>::from_request_parts(&mut parts, &())
            .await
            .unwrap();
        assert_eq!(id.as_str(), "5");
    }
}
