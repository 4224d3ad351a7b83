//! `GET /api/v1/events`: server-sent events (HTML Living Standard §9.2) of every change the user may see, from
//! the change bus, so the dashboard updates without reloading. Each event has an id; a client that reconnects
//! with `Last-Event-ID` is sent what it missed when this server still holds it, else a `resync` first (re-read
//! everything). A stream lasts at most `MAX_STREAM`, and ends when the user's account changes or the session
//! ends: the browser reconnects on its own and is authenticated again, so a revoked credential stops hearing.

use super::{ApiResult, Request};
use crate::app::App;
use crate::response::{BoxError, channel};
use crate::service::watch::{Notice, Watch};
use crate::store::events::Numbered;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc::Sender;

/// A comment line this often keeps proxies from closing an idle stream and tells us when the client left.
const HEARTBEAT: Duration = Duration::from_secs(25);
const MAX_STREAM: Duration = Duration::from_secs(600);
/// Waiting this long before a reconnect spares a server that just restarted a stampede.
const RETRY_MS: u32 = 2000;
/// Streams one account may hold open on one server (a tab each; a runaway script cannot hold more).
pub const MAX_STREAMS_PER_USER: usize = 20;

/// One open stream of a user, counted while it lives.
struct Counted {
    app: Arc<App>,
    user_id: i64,
}

impl Counted {
    fn open(app: &Arc<App>, user_id: i64) -> Option<Counted> {
        let mut open = app.streams.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(user_id).or_insert(0);
        if *n >= MAX_STREAMS_PER_USER {
            return None;
        }
        *n += 1;
        Some(Counted { app: app.clone(), user_id })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.app.streams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.user_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

type Tx = Sender<Result<Bytes, BoxError>>;

fn frame(id: &str, notice: &Notice) -> String {
    let (event, data) = match notice {
        Notice::Contacts { my_contacts, labels } => {
            ("contacts", serde_json::json!({"my_contacts": my_contacts, "labels": labels}))
        }
        Notice::Labels => ("labels", serde_json::json!({})),
        Notice::Invitations(n) => ("invitations", serde_json::json!({"count": n})),
        Notice::Account => ("account", serde_json::json!({})),
        Notice::Google => ("google", serde_json::json!({})),
        Notice::Resync => ("resync", serde_json::json!({})),
    };
    format!("id: {id}\nevent: {event}\ndata: {data}\n\n")
}

pub async fn stream(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let Some(counted) = Counted::open(req.app, req.user.id) else {
        let mut p = super::Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{MAX_STREAMS_PER_USER} event streams are open for this account already; close some tabs"),
        );
        p.retry_after = Some(30);
        return Err(p);
    };
    let last_id = req.parts.headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (sub, watch) = req.app.service.watch(req.user, last_id.as_deref()).await?;
    let (tx, body) = channel();
    let app = req.app.clone();
    let session = req.session.map(|s| s.id);
    tokio::spawn(async move {
        let _counted = counted;
        if let Err(why) = run(app, sub, watch, session, last_id.is_some(), &tx).await {
            tracing::debug!(why, "event stream ended");
        }
    });
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Tells nginx not to buffer the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(r)
}

async fn send(tx: &Tx, text: String) -> Result<(), &'static str> {
    tx.send(Ok(Bytes::from(text))).await.map_err(|_| "the client went away")
}

async fn run(
    app: Arc<App>,
    mut sub: Numbered,
    mut watch: Watch,
    session: Option<i64>,
    resumed: bool,
    tx: &Tx,
) -> Result<(), &'static str> {
    let mut seen = sub.last;
    let mut stopping = app.stopping.subscribe();
    let mut head = format!("retry: {RETRY_MS}\n");
    match sub.missed.take() {
        Some(missed) => {
            for (n, event) in missed {
                for notice in app.service.notices(&mut watch, &event).await.map_err(|_| "the database failed")? {
                    head.push_str(&frame(&sub.id(n), &notice));
                }
            }
        }
        // Asked to resume from an event this server no longer holds (or never numbered): re-read everything.
        None if resumed => head.push_str(&frame(&sub.id(seen), &Notice::Resync)),
        None => {}
    }
    // An id with no data sets the client's Last-Event-ID without firing an event (§9.2.6), so a reconnect
    // resumes from here even if nothing for this user came meanwhile.
    head.push_str(&format!("id: {}\n\n", sub.id(seen)));
    send(tx, head).await?;
    let deadline = tokio::time::Instant::now() + MAX_STREAM;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    loop {
        tokio::select! {
            got = sub.rx.recv() => match got {
                Ok((n, _)) if n <= seen => {}
                Ok((n, event)) => {
                    seen = n;
                    let notices = app.service.notices(&mut watch, &event).await.map_err(|_| "the database failed")?;
                    let mut text = String::new();
                    for notice in &notices {
                        text.push_str(&frame(&sub.id(n), notice));
                    }
                    if !text.is_empty() {
                        send(tx, text).await?;
                    }
                    if notices.contains(&Notice::Account) {
                        // The password, app passwords or the account changed: authenticate again.
                        return Err("the account changed");
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    send(tx, frame(&sub.id(seen), &Notice::Resync)).await?;
                }
                Err(RecvError::Closed) => return Err("the server is stopping"),
            },
            _ = heartbeat.tick() => {
                if let Some(id) = session
                    && !app.accounts.session_alive(id).await.map_err(|_| "the database failed")?
                {
                    return Err("the session ended");
                }
                send(tx, format!(": heartbeat\nid: {}\n\n", sub.id(seen))).await?;
            }
            _ = tokio::time::sleep_until(deadline) => return Err("the stream's time is up; the client reconnects"),
            // A stream would hold a graceful shutdown for its whole life: end it, the client reconnects elsewhere.
            _ = stopping.changed() => return Err("the server is stopping"),
        }
    }
}
