//! `labelbook serve`: the banner, then the server until SIGTERM or Ctrl-C.

use anyhow::{Context, Result, bail};
use labelbook::app::App;
use std::io::Write;
use std::sync::Arc;

pub async fn serve(app: App) -> Result<()> {
    let admin_email = std::env::var("LABELBOOK_ADMIN_EMAIL").unwrap_or_else(|_| "admin@localhost".into());
    let admin_password = std::env::var("LABELBOOK_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty());
    let created = app.bootstrap_admin(&admin_email, admin_password).await?;
    let listener = tokio::net::TcpListener::bind(&app.config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", app.config.listen))?;
    let addr = listener.local_addr()?;
    let tls = match (&app.config.tls_cert, &app.config.tls_key) {
        (Some(c), Some(k)) => Some(labelbook::http::load_tls(c, k)?),
        (None, None) => None,
        _ => bail!("tls_cert and tls_key go together"),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("Labelbook listening on {scheme}://{addr}/ ({} database)", app.store.backend_name());
    if let Some((user, password)) = created {
        match password {
            Some(p) => println!(
                "Created administrator {} with password: {p}\n(shown once; change it with `labelbook user passwd {}`)",
                user.email, user.email
            ),
            None => println!("Created administrator {} with the password from LABELBOOK_ADMIN_PASSWORD", user.email),
        }
    }
    println!("Dashboard: open {scheme}://{addr}/ in a browser and sign in with your e-mail and password");
    println!("CardDAV clients: server {scheme}://{addr}/ — they find /dav/ through /.well-known/carddav");
    let settings = app.service.settings().await?;
    match &settings.smtp {
        Some(smtp) => {
            println!(
                "Mail: invitations are e-mailed through {}:{} ({})",
                smtp.host,
                smtp.port(),
                smtp.security.as_str()
            );
            if settings.public_url.is_none() {
                println!(
                    "Mail: no public_url is set, so links in mail use the address each inviter's browser used \
                     (set public_url, or Settings in the dashboard)"
                );
            }
        }
        None => println!("Mail: no mail server is set up; inviters copy invitation links (Settings in the dashboard)"),
    }
    let _ = std::io::stdout().flush();
    let app = Arc::new(app);
    labelbook::http::serve(app.clone(), listener, tls, shutdown_signal()).await;
    app.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: finishing requests in flight");
}
