//! A dashboard of 64 tiles, each its own topic, over one `EventSource`, and a
//! private topic per user (their notifications) guarded by the authorizer.
//!
//! ```sh
//! cargo run --example dashboard --features axum
//! ```
//!
//! Open <http://127.0.0.1:3001/>: the tiles change as a ticker publishes to
//! random tiles. All 64 topics share one connection
//! ([`tower_sse::multi::Multiplexer`]), and a reconnect (stop the network in
//! the dev tools, or wait for the one-minute stream limit) resumes every tile
//! exactly: the id of each event is a cursor for all of them. Log in with
//! <http://127.0.0.1:3001/login?user=ann> and the page also follows
//! `users/ann/notifications`; any page may send ann a notification, only
//! ann's page may read them (another user's topic is refused with 403):
//!
//! ```sh
//! curl -d 'hello ann' http://127.0.0.1:3001/users/ann/notify
//! curl -i -H 'cookie: user=bob' 'http://127.0.0.1:3001/events?topics=users/ann/notifications'
//! ```
//!
//! `PORT=8080` picks another port.

mod app;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tower_sse::{Hub, SseLayer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let port: u16 = std::env::var("PORT").map_or(Ok(3001), |p| p.parse())?;
    let hub = Hub::new();
    let multi = app::multiplexer(hub.clone());
    tokio::spawn(ticker(hub));
    let sse = SseLayer::new()
        .retry(Duration::from_secs(1))
        .keep_alive_interval(Duration::from_secs(15))
        .max_duration(Duration::from_secs(60));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("dashboard: http://127.0.0.1:{port}/");
    axum::serve(listener, app::router(multi, sse)).await?;
    Ok(())
}

/// Publishes a new value to a pseudo-random tile ten times a second.
async fn ticker(hub: Hub) {
    let mut state = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64 | 1);
    let mut interval = tokio::time::interval(Duration::from_millis(100));
    loop {
        interval.tick().await;
        // xorshift: good enough to pick tiles.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let tile = (state % app::TILES as u64) as usize;
        let value = (state >> 32) % 100;
        if hub
            .publish(&app::tile(tile), value.to_string())
            .await
            .is_err()
        {
            return;
        }
    }
}
