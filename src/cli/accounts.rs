//! `labelbook user` and `labelbook app-password`.

use super::args::*;
use super::output::*;
use anyhow::{Result, bail};
use labelbook::app::App;
use labelbook::service::accounts;
use std::io::Read;

pub fn read_password(args: &PasswordArgs) -> Result<(String, bool)> {
    if args.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        let p = s.lines().next().unwrap_or("").to_string();
        if p.is_empty() {
            bail!("--password-stdin: standard input was empty");
        }
        return Ok((p, false));
    }
    Ok((accounts::generate_password().map_err(anyhow::Error::msg)?, true))
}

pub async fn user(app: &App, cmd: UserCmd, json: bool) -> Result<()> {
    match cmd {
        UserCmd::Add { email, admin, password } => {
            let (pw, generated) = read_password(&password)?;
            let user = app.accounts.create_user(&email, &pw, admin).await.map_err(anyhow::Error::msg)?;
            if json {
                print_json(
                    serde_json::json!({"email": user.email, "admin": user.is_admin, "password": generated.then_some(&pw)}),
                );
            } else if generated {
                println!("created {} with password: {pw}", user.email);
            } else {
                println!("created {}", user.email);
            }
        }
        UserCmd::List => {
            let users = app.store.list_users().await?;
            if json {
                print_json(serde_json::Value::Array(
                    users
                        .iter()
                        .map(|u| serde_json::json!({"email": u.email, "admin": u.is_admin, "disabled": u.disabled}))
                        .collect(),
                ));
            } else {
                for u in users {
                    println!(
                        "{}{}{}",
                        u.email,
                        if u.is_admin { " (admin)" } else { "" },
                        if u.disabled { " (disabled)" } else { "" }
                    );
                }
            }
        }
        UserCmd::Passwd { email, password, keep_devices } => {
            let user = app.user(&email).await?;
            let (pw, generated) = read_password(&password)?;
            app.accounts.set_password(&user, &pw, keep_devices).await.map_err(anyhow::Error::msg)?;
            if json {
                print_json(serde_json::json!({"email": user.email, "password": generated.then_some(&pw)}));
            } else if generated {
                println!("new password for {}: {pw}", user.email);
            } else {
                println!("password changed for {}", user.email);
            }
        }
        UserCmd::Disable { email, enable } => {
            let user = app.user(&email).await?;
            app.accounts.set_disabled(&user, !enable).await.map_err(anyhow::Error::msg)?;
            if json {
                print_json(serde_json::json!({"email": user.email, "disabled": !enable}));
            } else {
                println!("{} {}", user.email, if enable { "enabled" } else { "disabled" });
            }
        }
        UserCmd::Delete { email } => {
            let user = app.user(&email).await?;
            app.service.delete_user(&user).await?;
            if json {
                print_json(serde_json::json!({"email": user.email, "deleted": true}));
            } else {
                println!("deleted {}", user.email);
            }
        }
    }
    Ok(())
}

pub async fn app_password(app: &App, cmd: AppPasswordCmd, json: bool) -> Result<()> {
    match cmd {
        AppPasswordCmd::Add { name, user, layout } => {
            let user = app.user(&user).await?;
            let (ap, secret) =
                app.accounts.add_app_password(&user, &name, &layout).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                print_json(
                    serde_json::json!({"user": user.email, "name": ap.name, "layout": ap.layout, "password": secret}),
                );
            } else {
                println!("app password '{}' for {}: {secret}\n(shown once)", ap.name, user.email);
            }
        }
        AppPasswordCmd::List { user } => {
            let user = app.user(&user).await?;
            let list = app.store.app_passwords(user.id).await?;
            if json {
                print_json(serde_json::Value::Array(
                    list.iter()
                        .map(|a| serde_json::json!({"name": a.name, "layout": a.layout, "created_at": a.created_at, "last_used_at": a.last_used_at}))
                        .collect(),
                ));
            } else {
                for a in list {
                    println!("{}\t{}", a.name, a.layout);
                }
            }
        }
        AppPasswordCmd::Revoke { name, user } => {
            let user = app.user(&user).await?;
            app.accounts.revoke_app_password(&user, &name).await.map_err(anyhow::Error::msg)?;
            if json {
                print_json(serde_json::json!({"user": user.email, "name": name, "revoked": true}));
            } else {
                println!("revoked '{name}'");
            }
        }
    }
    Ok(())
}
