//! The People API stand-in as a process, for the dashboard flow and trying the bridge by hand:
//!
//!   cargo run --example google-emulator -- KEY.json
//!
//! Prints `listening on http://127.0.0.1:PORT` and writes KEY.json's copy with `token_uri` pointing here to
//! `KEY.local.json` (point `google.service_account_key` at that one). Besides Google's endpoints it answers
//! `GET /_emulator/{user}/people` and `GET /_emulator/{user}/groups` with what that user's Google Contacts hold.

#[path = "emulator.rs"]
mod emulator;

use std::time::Duration;

#[tokio::main]
async fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: google-emulator KEY.json");
        std::process::exit(2);
    };
    let key_json = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let google = emulator::Emulator::start(emulator::Options {
        key_json: key_json.clone(),
        sync_token_ttl: Duration::from_secs(7 * 86_400),
        propagation_delay: Duration::ZERO,
        quota: None,
        oauth_client: Some(("labelbook-dev-client".into(), "labelbook-dev-secret".into())),
    })
    .await;
    let mut key: serde_json::Value = serde_json::from_slice(&key_json).expect("a JSON key");
    key["token_uri"] = serde_json::json!(format!("{}/token", google.base()));
    let local = path.trim_end_matches(".json").to_string() + ".local.json";
    std::fs::write(&local, key.to_string()).unwrap_or_else(|e| panic!("cannot write {local}: {e}"));
    println!("listening on {} (key for the server: {local})", google.base());
    let _ = tokio::signal::ctrl_c().await;
}
