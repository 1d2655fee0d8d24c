//! The tools the conformance scenarios call, and the server-side close of
//! `test_reconnection`'s POST stream.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ResourceContents, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

const TEST_AUDIO_DATA: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=";
const TEST_IMAGE_DATA: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==";

/// The largest request body the stream-closing middleware reads.
const MAX_BODY: usize = 1 << 20;

#[derive(Clone, Debug)]
pub(crate) struct ConformanceServer;

fn tool(name: &'static str, description: &'static str) -> Tool {
    let schema = serde_json::json!({ "type": "object", "properties": {} });
    let serde_json::Value::Object(schema) = schema else {
        unreachable!("a literal object")
    };
    Tool::new(name, description, Arc::new(schema))
}

impl ServerHandler for ConformanceServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![
            tool("test_simple_text", "Returns a simple text"),
            tool("test_image_content", "Returns an image"),
            tool("test_audio_content", "Returns audio"),
            tool("test_embedded_resource", "Returns an embedded resource"),
            tool(
                "test_multiple_content_types",
                "Returns text, image and resource",
            ),
            tool("test_error_handling", "Always fails"),
            tool(
                "test_reconnection",
                "Answers after the server closed its stream and the client resumed",
            ),
            tool(
                "test_tool_with_progress",
                "Sends three progress notifications, then answers",
            ),
            tool(
                "stream_progress",
                "Sends `count` progress notifications (default 10, at most 100), \
                 one every `interval_ms` (default 50, at most 1000), then answers",
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let result = match request.name.as_ref() {
            "stream_progress" => stream_progress(&request, &context, 10).await?,
            "test_tool_with_progress" => stream_progress(&request, &context, 3).await?,
            "test_simple_text" => CallToolResult::success(vec![ContentBlock::text(
                "This is a simple text response for testing.",
            )]),
            "test_image_content" => {
                CallToolResult::success(vec![ContentBlock::image(TEST_IMAGE_DATA, "image/png")])
            }
            "test_audio_content" => {
                CallToolResult::success(vec![ContentBlock::audio(TEST_AUDIO_DATA, "audio/wav")])
            }
            "test_embedded_resource" => CallToolResult::success(vec![ContentBlock::resource(
                ResourceContents::TextResourceContents {
                    uri: "test://embedded-resource".into(),
                    mime_type: Some("text/plain".into()),
                    text: "This is an embedded resource content.".into(),
                    meta: None,
                },
            )]),
            "test_multiple_content_types" => CallToolResult::success(vec![
                ContentBlock::text("Multiple content types test:"),
                ContentBlock::image(TEST_IMAGE_DATA, "image/png"),
                ContentBlock::resource(ResourceContents::TextResourceContents {
                    uri: "test://mixed-content-resource".into(),
                    mime_type: Some("application/json".into()),
                    text: r#"{"test":"data","value":123}"#.into(),
                    meta: None,
                }),
            ]),
            "test_error_handling" => CallToolResult::error(vec![ContentBlock::text(
                "This tool intentionally returns an error for testing",
            )]),
            "test_reconnection" => {
                // Long enough for the POST stream to be closed first.
                tokio::time::sleep(Duration::from_millis(300)).await;
                CallToolResult::success(vec![ContentBlock::text("Reconnection test completed")])
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {other}"),
                    None,
                ));
            }
        };
        Ok(result.into())
    }
}

/// A tool call that streams: progress notifications on the call's SSE
/// stream (each stored in the hub before it is written), then the result.
/// The notifications go on even when the client dropped the stream; it
/// resumes them with `Last-Event-ID`, on this node or another.
async fn stream_progress(
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
    default_count: u64,
) -> Result<CallToolResult, ErrorData> {
    let argument = |name: &str, default: u64, max: u64| {
        request
            .arguments
            .as_ref()
            .and_then(|args| args.get(name))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(default)
            .min(max)
    };
    let count = argument("count", default_count, 100);
    let interval = Duration::from_millis(argument("interval_ms", 50, 1000));
    let Some(progress_token) = context.meta.get_progress_token() else {
        return Err(ErrorData::invalid_params(
            "stream_progress needs a progressToken in _meta",
            None,
        ));
    };
    for step in 1..=count {
        tokio::time::sleep(interval).await;
        let progress = ProgressNotificationParam::new(progress_token.clone(), step as f64)
            .with_total(count as f64)
            .with_message(format!("step {step}"));
        if context.peer.notify_progress(progress).await.is_err() {
            break; // the session is gone
        }
    }
    Ok(CallToolResult::success(vec![ContentBlock::text(format!(
        "streamed {count} steps"
    ))]))
}

/// Ends the SSE response of a `test_reconnection` call after its first
/// event (the priming event with its id): the server closing a stream
/// mid-call, as SEP-1699 allows. The tool's result is stored in the hub
/// all the same and reaches the client on its `GET` with `Last-Event-ID`.
pub(crate) async fn close_reconnection_streams(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return Response::builder()
            .status(413)
            .body(Body::from("request body too large"))
            .unwrap_or_default();
    };
    let cut = memchr_find(&bytes, b"\"test_reconnection\"");
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let is_stream = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !cut || !is_stream {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Forward chunks up to the end of the first event, then end the body at
    // once (without waiting for the next chunk).
    let first_event = futures_util::stream::unfold(
        (body.into_data_stream(), Vec::new(), false),
        |(mut inner, mut seen, done)| async move {
            if done {
                return None;
            }
            let chunk = inner.next().await?.ok()?;
            let before = seen.len();
            seen.extend_from_slice(&chunk);
            let (out, done): (Bytes, bool) = match memchr_position(&seen, b"\n\n") {
                Some(end) => (
                    chunk.slice(..(end + 2).saturating_sub(before).min(chunk.len())),
                    true,
                ),
                None => (chunk, false),
            };
            Some((Ok::<_, std::io::Error>(out), (inner, seen, done)))
        },
    );
    Response::from_parts(parts, Body::from_stream(first_event))
}

fn memchr_position(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn memchr_find(haystack: &[u8], needle: &[u8]) -> bool {
    memchr_position(haystack, needle).is_some()
}
