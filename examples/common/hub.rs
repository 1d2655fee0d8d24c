//! Shared by the examples: the in-memory hub, or the Redis backend when
//! `REDIS_URL` is set.

use tower_sse::{ErrorKind, Hub, HubConfig};

/// The in-memory hub, or, when `REDIS_URL` is set, the Redis backend with its
/// streams under `key_prefix`: then every instance of the app on that Redis
/// shares the same topics, and the history survives restarts.
pub(crate) fn hub_from_env(
    key_prefix: &str,
) -> Result<Hub, Box<dyn std::error::Error + Send + Sync>> {
    let config = HubConfig::new();
    match std::env::var("REDIS_URL") {
        Ok(url) => Ok(with_redis(config, &url, key_prefix)?.build()),
        Err(_) => {
            tracing::info!("in-memory hub (set REDIS_URL to share it through Redis)");
            Ok(config.build())
        }
    }
}

#[cfg(feature = "redis")]
fn with_redis(
    config: HubConfig,
    url: &str,
    key_prefix: &str,
) -> Result<HubConfig, Box<dyn std::error::Error + Send + Sync>> {
    // The URL is not logged: it may hold a password.
    tracing::info!("Redis hub (REDIS_URL)");
    let redis = tower_sse::redis::RedisConfig::new(url)?.key_prefix(key_prefix);
    Ok(config.redis(redis))
}

#[cfg(not(feature = "redis"))]
fn with_redis(
    _config: HubConfig,
    _url: &str,
    _key_prefix: &str,
) -> Result<HubConfig, Box<dyn std::error::Error + Send + Sync>> {
    Err("REDIS_URL is set, but this build has no Redis backend: \
         run with `--features axum,redis`"
        .into())
}

/// The status an example answers a hub error with: a full hub is an
/// over-capacity condition (429, retry later), an unreachable backend or a
/// closed hub the server's trouble (503); neither blames the client (400).
#[allow(dead_code)] // not every example publishes or subscribes on demand
pub(crate) fn refusal_status(err: &tower_sse::Error) -> http::StatusCode {
    match err.kind() {
        ErrorKind::TooManyTopics => http::StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Serialize | ErrorKind::InvalidIdempotencyKey => http::StatusCode::BAD_REQUEST,
        _ => http::StatusCode::SERVICE_UNAVAILABLE,
    }
}
