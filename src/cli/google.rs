//! `labelbook google`: mirror users' labels into their Google Contacts, and see how that goes. These work from
//! the configuration alone, with or without a running server; a user a server is syncing is left to it (the
//! lease), and `sync` then waits for that server to finish a fresh sync.

use crate::cli::output::print_json;
use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use labelbook::app::App;
use labelbook::bridge::{self, Bridge};
use labelbook::store::google::GoogleAccount;
use std::time::Duration;

#[derive(Subcommand)]
pub enum GoogleCmd {
    /// Mirror a user's labels (those syncing to their devices) into their Google Contacts, both ways.
    Enable {
        #[arg(long)]
        user: String,
        /// Mirror their own contacts (My contacts) too, not only their labels.
        #[arg(long)]
        my_contacts: bool,
    },
    /// Stop mirroring a user: what the bridge made in their Google Contacts is removed.
    Disable {
        #[arg(long)]
        user: String,
    },
    /// Sync a user both ways now and wait until it is done; exits 0 when in sync.
    Sync {
        #[arg(long)]
        user: String,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// The bridge's state per user: last sync each way, pending changes, last error.
    Status {
        #[arg(long)]
        user: Option<String>,
    },
}

fn bridge_of(app: &App) -> Result<&Bridge> {
    Some(&*app.bridge).filter(|b| b.available()).ok_or_else(|| {
        anyhow!(
            "the Google bridge is off: upload a service-account key (dashboard, People and domains) or set \
             google.service_account_key (env LABELBOOK_GOOGLE_SERVICE_ACCOUNT_KEY)"
        )
    })
}

fn account_json(a: &GoogleAccount, now: i64) -> serde_json::Value {
    serde_json::json!({
        "user": a.email,
        "status": a.status,
        "my_contacts": a.my_contacts,
        "last_error": a.last_error,
        "last_push": a.pushed_at,
        "last_pull": a.pulled_at,
        "sync_requested": a.wanted_at > a.done_at,
        "syncing": a.lease_until > now,
    })
}

pub async fn google(app: &App, cmd: GoogleCmd, json: bool) -> Result<()> {
    match cmd {
        GoogleCmd::Enable { user, my_contacts } => {
            bridge_of(app)?;
            let u = app.user(&user).await?;
            app.store.google_enable(u.id, my_contacts).await?;
            if json {
                print_json(serde_json::json!({"user": u.email, "enabled": true, "my_contacts": my_contacts}));
            } else {
                println!("{} is mirrored into their Google Contacts from the next sync", u.email);
            }
            Ok(())
        }
        GoogleCmd::Disable { user } => {
            let u = app.user(&user).await?;
            bridge::disable(&app.bridge, &app.service, u.id).await?;
            if json {
                print_json(serde_json::json!({"user": u.email, "enabled": false}));
            } else {
                println!("{} is no longer mirrored; what the bridge made in their Google Contacts is removed", u.email);
            }
            Ok(())
        }
        GoogleCmd::Sync { user, timeout } => {
            let b = bridge_of(app)?;
            let u = app.user(&user).await?;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
            let asked = app.store.clock.now_ms();
            let account = loop {
                let a = app.store.google_account(u.id).await?.ok_or_else(|| anyhow!("{} is not mirrored", u.email))?;
                if a.done_at >= asked {
                    break a;
                }
                match b.sync_user(&app.service, &a).await? {
                    Some(_) => {}
                    // A server is syncing this user: ask it for a fresh sync and wait for that.
                    None => {
                        app.store.google_want_sync(u.id).await?;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                if tokio::time::Instant::now() > deadline {
                    bail!("{} was not synced within {timeout} s", u.email);
                }
            };
            if json {
                print_json(account_json(&account, app.store.clock.now()));
            } else {
                println!("{}: {}", account.email, account.status);
            }
            match account.status.as_str() {
                "ok" => Ok(()),
                s => bail!("{}: {s}: {}", account.email, account.last_error.unwrap_or_default()),
            }
        }
        GoogleCmd::Status { user } => {
            let accounts = match user {
                Some(e) => {
                    let u = app.user(&e).await?;
                    vec![app.store.google_account(u.id).await?.ok_or_else(|| anyhow!("{} is not mirrored", u.email))?]
                }
                None => app.store.google_accounts().await?,
            };
            if json {
                print_json(serde_json::Value::Array(
                    accounts.iter().map(|a| account_json(a, app.store.clock.now())).collect(),
                ));
            } else {
                for a in &accounts {
                    println!("{}\t{}\t{}", a.email, a.status, a.last_error.as_deref().unwrap_or(""));
                }
            }
            Ok(())
        }
    }
}
