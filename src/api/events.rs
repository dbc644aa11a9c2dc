//! HTTP door: the events websocket of container runs (`ACTOR_EVENTS_WEBSOCKET_URL`):
//! the run's system events as JSON frames `{name, data, createdAt}`, from
//! the same event source the WIT `events` interface reads for components.
//! The URL names the run and carries a secret derived from the server's
//! token and the run ID, so it authorises exactly that run.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::platform::Platform;

pub async fn events(State(p): State<Arc<Platform>>, Path((run_id, secret)): Path<(String, String)>, ws: WebSocketUpgrade) -> Response {
    if !crate::platform::auth::same_secret(&secret, &p.run_events_secret(&run_id)) {
        return ApiError::new(axum::http::StatusCode::UNAUTHORIZED, "token-not-valid", "This events URL is not valid").into_response();
    }
    let Some((queue, status)) = p.run_event_source(&run_id) else {
        return ApiError::not_found(format!("Actor run {run_id} is not running")).into_response();
    };
    ws.on_upgrade(move |socket| pump(socket, queue, status))
}

async fn pump(
    mut socket: WebSocket,
    queue: crate::platform::events::EventQueue,
    mut status: tokio::sync::watch::Receiver<crate::platform::runs::RunStatus>,
) {
    loop {
        tokio::select! {
            _ = queue.ready() => {
                while let Some(event) = queue.pop() {
                    if socket.send(Message::Text(event.to_frame().to_string().into())).await.is_err() {
                        return;
                    }
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = async { let _ = status.wait_for(|s| s.is_terminal()).await; } => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
    }
}
