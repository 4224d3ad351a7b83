//! The `labelbook` command: the server and every administrative task, scriptable (no prompts, `--json`).

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use labelbook::app::App;
use labelbook::config::Config;
use labelbook::service::accounts;
use labelbook::service::admin::Admin;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

mod cli;

#[derive(Parser)]
#[command(
    name = "labelbook",
    version,
    about = "Shared contacts server: labels shared at permission levels, synced over CardDAV"
)]
struct Cli {
    /// TOML configuration file (see config/labelbook.example.toml).
    #[arg(long, global = true, env = "LABELBOOK_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory for the embedded SQLite database.
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// PostgreSQL URL; overrides database_url.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Machine-readable output: one JSON value on standard output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (creates the database and an administrator on first start).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage per-device app passwords.
    #[command(subcommand, name = "app-password")]
    AppPassword(AppPasswordCmd),
    /// Manage labels.
    #[command(subcommand)]
    Label(LabelCmd),
    /// Share a label with a user (they get an invitation to accept), a group or a whole domain, at a level.
    Share {
        label: String,
        /// Who shares: the owner or a share-level collaborator.
        #[arg(long = "as")]
        actor: String,
        /// The collaborator: an e-mail, group:NAME or domain:NAME.
        #[arg(long)]
        with: String,
        /// view, edit, delete or share.
        #[arg(long)]
        level: String,
        /// Do not sync this label to the collaborator's devices (they can turn it on later).
        #[arg(long)]
        no_devices: bool,
    },
    /// A user's invitations.
    #[command(subcommand)]
    Invitation(InvitationCmd),
    /// Collaborators of a label.
    #[command(subcommand)]
    Grant(GrantCmd),
    /// The server's domains (accounts live in them; with none listed, any address is taken).
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Groups of users, to share a label with all of them at once.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Deleted contacts and contacts taken off labels, and putting them back.
    #[command(subcommand)]
    Trash(TrashCmd),
    /// A contact's history: every change, who made it and when, and the version it replaced.
    History(cli::history::HistoryArgs),
    /// A label's activity log: who added, edited and removed which contacts.
    Activity(cli::history::ActivityArgs),
    /// Import a .vcf file (one or many cards) into a user's contacts, optionally labelling them.
    Import {
        file: PathBuf,
        #[arg(long)]
        user: String,
        #[arg(long)]
        label: Option<String>,
    },
    /// The Google Contacts bridge: mirror users' labels into their Google Contacts.
    #[command(subcommand)]
    Google(cli::google::GoogleCmd),
    /// Export a user's contacts, or one label, as one .vcf.
    Export {
        #[arg(long)]
        user: String,
        #[arg(long)]
        label: Option<String>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args)]
struct PasswordArgs {
    /// Read the password from standard input (one line) instead of generating one.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Subcommand)]
enum UserCmd {
    Add {
        email: String,
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        password: PasswordArgs,
    },
    List,
    /// A new password for an account; its sessions, app passwords and API tokens end with the old one.
    Passwd {
        email: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Keep the account's app passwords and API tokens (by default a new password ends them with the
        /// sessions, as for a compromised account).
        #[arg(long)]
        keep_devices: bool,
    },
    /// Disable (or with --enable, re-enable) an account; its devices stop syncing at once.
    Disable {
        email: String,
        #[arg(long)]
        enable: bool,
    },
    /// Delete an account and its contacts (refused while it owns labels: transfer or delete them first).
    Delete {
        email: String,
    },
}

#[derive(Subcommand)]
enum AppPasswordCmd {
    Add {
        name: String,
        #[arg(long)]
        user: String,
        /// books: My contacts and each label; single: one combined book, labels as groups (for macOS).
        #[arg(long, default_value = "books")]
        layout: String,
    },
    List {
        #[arg(long)]
        user: String,
    },
    Revoke {
        name: String,
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
enum InvitationCmd {
    List {
        #[arg(long)]
        user: String,
    },
    Accept {
        id: i64,
        #[arg(long)]
        user: String,
    },
    Decline {
        id: i64,
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
enum TrashCmd {
    List {
        #[arg(long)]
        user: String,
    },
    /// Restore a deleted contact (--contact) or put a contact back on a label (--label and --membership).
    Restore {
        #[arg(long)]
        user: String,
        #[arg(long, conflicts_with_all = ["label", "membership"], required_unless_present = "membership")]
        contact: Option<i64>,
        #[arg(long, requires = "membership")]
        label: Option<String>,
        #[arg(long, requires = "label")]
        membership: Option<i64>,
    },
}

#[derive(Subcommand)]
enum GrantCmd {
    List {
        label: String,
        #[arg(long = "as")]
        actor: String,
    },
    /// Change a collaborator's level.
    Set {
        id: i64,
        #[arg(long = "as")]
        actor: String,
        #[arg(long)]
        level: String,
    },
    Revoke {
        id: i64,
        #[arg(long = "as")]
        actor: String,
    },
    /// Hide properties from a collaborator (owner only): TEL, TEL;TYPE=CELL, ADR, EMAIL, NOTE …; an empty
    /// list shows everything again.
    Hide {
        id: i64,
        #[arg(long = "as")]
        actor: String,
        /// Comma-separated, e.g. "TEL;TYPE=CELL,NOTE".
        #[arg(long, allow_hyphen_values = true)]
        fields: String,
    },
    /// The collaborator's own "sync to my devices" switch.
    Devices {
        id: i64,
        #[arg(long)]
        user: String,
        #[arg(long, conflicts_with = "off", required_unless_present = "off")]
        on: bool,
        #[arg(long)]
        off: bool,
    },
}

#[derive(Subcommand)]
enum DomainCmd {
    /// Add a domain (the first one added is the primary domain).
    Add {
        name: String,
        #[arg(long)]
        primary: bool,
        /// Invitations to users of this domain are accepted at once.
        #[arg(long)]
        auto_accept: bool,
    },
    List,
    /// Make a domain primary, or switch its auto-accept on or off.
    Set {
        name: String,
        #[arg(long)]
        primary: bool,
        #[arg(long, value_parser = ["on", "off"])]
        auto_accept: Option<String>,
    },
    /// Remove a domain no account uses any more (its domain-wide shares are revoked).
    Remove {
        name: String,
    },
}

#[derive(Subcommand)]
enum GroupCmd {
    Add {
        name: String,
    },
    List,
    /// Remove a group (labels shared with it stop reaching its members).
    Remove {
        name: String,
    },
    #[command(name = "member-add")]
    MemberAdd {
        group: String,
        email: String,
    },
    #[command(name = "member-remove")]
    MemberRemove {
        group: String,
        email: String,
    },
}

#[derive(Subcommand)]
enum LabelCmd {
    Add {
        name: String,
        #[arg(long)]
        user: String,
    },
    List {
        #[arg(long)]
        user: String,
    },
    Rename {
        id: String,
        name: String,
        #[arg(long)]
        user: String,
    },
    Delete {
        id: String,
        #[arg(long)]
        user: String,
    },
    /// Hand a label to one of its collaborators; its contacts become theirs.
    Transfer {
        id: String,
        /// The current owner.
        #[arg(long = "as")]
        owner: String,
        /// The new owner: a collaborator who accepted the label.
        #[arg(long)]
        to: String,
        /// The previous owner does not stay on as a share-level collaborator.
        #[arg(long)]
        drop_access: bool,
    },
}

fn read_password(args: &PasswordArgs) -> Result<(String, bool)> {
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

fn print_json(v: serde_json::Value) {
    println!("{v}");
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("labelbook: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let mut config = Config::load(cli.config.as_deref()).map_err(anyhow::Error::msg)?;
    if let Some(d) = cli.data {
        config.data_dir = d;
    }
    if let Some(u) = cli.database_url {
        config.database_url = Some(u);
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    if let Command::Serve { listen } = &cli.command
        && let Some(l) = listen
    {
        config.listen = l.clone();
    }
    let app = App::open(config).await?;
    let json = cli.json;
    match cli.command {
        Command::Serve { .. } => serve(app).await,
        Command::Migrate => {
            if json {
                print_json(serde_json::json!({"migrated": true, "backend": app.store.backend_name()}));
            } else {
                println!("database is up to date ({})", app.store.backend_name());
            }
            Ok(())
        }
        Command::User(cmd) => user(&app, cmd, json).await,
        Command::AppPassword(cmd) => app_password(&app, cmd, json).await,
        Command::Label(cmd) => label(&app, cmd, json).await,
        Command::Share { label, actor, with, level, no_devices } => {
            let actor = app.user(&actor).await?;
            let level = parse_level(&level)?;
            let with = labelbook::service::Grantee::parse(&with);
            let g = app.service.share(&actor, &label, &with, level, !no_devices).await?;
            print_grant(&g, json);
            Ok(())
        }
        Command::Invitation(cmd) => invitation(&app, cmd, json).await,
        Command::Trash(cmd) => trash(&app, cmd, json).await,
        Command::History(args) => cli::history::history(&app, args, json).await,
        Command::Activity(args) => cli::history::activity(&app, args, json).await,
        Command::Domain(cmd) => domain(&app, cmd, json).await,
        Command::Group(cmd) => group(&app, cmd, json).await,
        Command::Grant(cmd) => grant(&app, cmd, json).await,
        Command::Import { file, user, label } => import(&app, &file, &user, label.as_deref(), json).await,
        Command::Export { user, label, out } => export(&app, &user, label.as_deref(), out).await,
        Command::Google(cmd) => cli::google::google(&app, cmd, json).await,
    }
}

async fn serve(app: App) -> Result<()> {
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
    // An import a stopped server left running will not finish: say so. On PostgreSQL another server may still
    // be running a young one.
    let abandoned_after = if app.config.database_url.is_some() { 3600 } else { 0 };
    if let Err(e) = app.store.fail_abandoned_jobs(abandoned_after).await {
        tracing::warn!(error = %e, "could not mark abandoned imports");
    }
    // The trash keeps deleted contacts for `trash_days` and history lasts `history_days`; purge what is older now
    // and every six hours.
    let purger = app.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(6 * 3600));
        loop {
            every.tick().await;
            match purger.store.purge_trash(purger.config.trash_days).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, days = purger.config.trash_days, "purged old trash"),
                Err(e) => tracing::warn!(error = %e, "purging the trash failed"),
            }
            match purger.store.purge_history(purger.config.history_days).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, days = purger.config.history_days, "purged old history"),
                Err(e) => tracing::warn!(error = %e, "purging old history failed"),
            }
        }
    });
    labelbook::http::serve(app.clone(), listener, tls, shutdown_signal()).await;
    app.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
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

async fn user(app: &App, cmd: UserCmd, json: bool) -> Result<()> {
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

async fn app_password(app: &App, cmd: AppPasswordCmd, json: bool) -> Result<()> {
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

async fn label(app: &App, cmd: LabelCmd, json: bool) -> Result<()> {
    match cmd {
        LabelCmd::Add { name, user } => {
            let user = app.user(&user).await?;
            let l = app.service.create_label(&user, None, &name, "").await?;
            if json {
                print_json(serde_json::json!({"id": l.id, "name": l.name}));
            } else {
                println!("{}", l.id);
            }
        }
        LabelCmd::List { user } => {
            let user = app.user(&user).await?;
            let labels = app.store.labels_owned(user.id).await?;
            if json {
                print_json(serde_json::Value::Array(
                    labels.iter().map(|l| serde_json::json!({"id": l.id, "name": l.name})).collect(),
                ));
            } else {
                for l in labels {
                    println!("{}\t{}", l.id, l.name);
                }
            }
        }
        LabelCmd::Rename { id, name, user } => {
            let user = app.user(&user).await?;
            app.service.rename_label(&user, &id, &name).await?;
            if json {
                print_json(serde_json::json!({"id": id, "name": name.trim()}));
            } else {
                println!("renamed {id}");
            }
        }
        LabelCmd::Delete { id, user } => {
            let user = app.user(&user).await?;
            app.service.delete_label(&user, &id).await?;
            if json {
                print_json(serde_json::json!({"id": id, "deleted": true}));
            } else {
                println!("deleted {id}");
            }
        }
        LabelCmd::Transfer { id, owner, to, drop_access } => {
            let owner = app.user(&owner).await?;
            app.service.transfer_label(&owner, &id, &to, !drop_access).await?;
            if json {
                print_json(serde_json::json!({"id": id, "owner": to.trim().to_lowercase()}));
            } else {
                println!("{id} now belongs to {}", to.trim().to_lowercase());
            }
        }
    }
    Ok(())
}

fn parse_level(level: &str) -> Result<labelbook::service::access::Level> {
    match labelbook::service::access::Level::parse(level) {
        Some(labelbook::service::access::Level::Owner) | None => bail!("--level is view, edit, delete or share"),
        Some(l) => Ok(l),
    }
}

fn grant_json(g: &labelbook::store::Grant) -> serde_json::Value {
    serde_json::json!({"id": g.id, "label": g.label_id, "kind": g.grantee_kind, "grantee": g.grantee, "level": g.level, "status": g.status, "sync_devices": g.sync_devices, "hidden_fields": serde_json::from_str::<serde_json::Value>(&g.hidden_fields).unwrap_or_default()})
}

/// A grantee as `share --with` takes it: an e-mail, group:NAME, domain:NAME.
fn grantee_label(g: &labelbook::store::Grant) -> String {
    match g.grantee_kind.as_str() {
        "user" => g.grantee.clone(),
        kind => format!("{kind}:{}", g.grantee),
    }
}

fn print_grant(g: &labelbook::store::Grant, json: bool) {
    if json {
        print_json(grant_json(g));
    } else {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            g.id,
            g.label_id,
            grantee_label(g),
            g.level,
            g.status,
            if g.sync_devices { "devices" } else { "no-devices" }
        );
    }
}

fn print_grants(list: &[labelbook::store::Grant], json: bool) {
    if json {
        print_json(serde_json::Value::Array(list.iter().map(grant_json).collect()));
    } else {
        for g in list {
            print_grant(g, false);
        }
    }
}

async fn trash(app: &App, cmd: TrashCmd, json: bool) -> Result<()> {
    match cmd {
        TrashCmd::List { user } => {
            let user = app.user(&user).await?;
            let t = app.service.trash(&user).await?;
            if json {
                print_json(serde_json::json!({
                    "contacts": t.contacts.iter().map(|c| serde_json::json!({"id": c.contact_id, "name": c.fn_, "href": c.href, "deleted_at": c.deleted_at})).collect::<Vec<_>>(),
                    "memberships": t.memberships.iter().map(|m| serde_json::json!({"id": m.membership_id, "label": m.label_id, "contact": m.contact_id, "name": m.fn_, "removed_at": m.removed_at})).collect::<Vec<_>>(),
                }));
            } else {
                for c in &t.contacts {
                    println!("contact\t{}\t{}", c.contact_id, c.fn_);
                }
                for m in &t.memberships {
                    println!("membership\t{}\t{}\t{}", m.membership_id, m.label_id, m.fn_);
                }
            }
        }
        TrashCmd::Restore { user, contact, label, membership } => {
            let user = app.user(&user).await?;
            match (contact, label, membership) {
                (Some(id), _, _) => app.service.restore_contact(&user, id).await?,
                (None, Some(label), Some(id)) => app.service.restore_membership(&user, &label, id).await?,
                _ => bail!("restore either --contact ID, or --label ID with --membership ID"),
            }
            if json {
                print_json(serde_json::json!({"restored": true}));
            } else {
                println!("restored");
            }
        }
    }
    Ok(())
}

async fn domain(app: &App, cmd: DomainCmd, json: bool) -> Result<()> {
    let show = |d: &labelbook::store::Domain| {
        if json {
            print_json(serde_json::json!({"name": d.name, "primary": d.is_primary, "auto_accept": d.auto_accept}));
        } else {
            println!(
                "{}{}{}",
                d.name,
                if d.is_primary { "\tprimary" } else { "" },
                if d.auto_accept { "\tauto-accept" } else { "" }
            );
        }
    };
    match cmd {
        DomainCmd::Add { name, primary, auto_accept } => {
            show(&app.service.add_domain(&Admin::console(), &name, primary, auto_accept).await?)
        }
        DomainCmd::Set { name, primary, auto_accept } => {
            if !primary && auto_accept.is_none() {
                bail!("nothing to set: give --primary and/or --auto-accept on|off");
            }
            show(&app.service.set_domain(&Admin::console(), &name, primary, auto_accept.map(|a| a == "on")).await?)
        }
        DomainCmd::List => {
            let list = app.service.domains(&Admin::console()).await?;
            if json {
                print_json(serde_json::Value::Array(
                    list.iter()
                        .map(|d| serde_json::json!({"name": d.name, "primary": d.is_primary, "auto_accept": d.auto_accept}))
                        .collect(),
                ));
            } else {
                list.iter().for_each(show);
            }
        }
        DomainCmd::Remove { name } => {
            app.service.remove_domain(&Admin::console(), &name).await?;
            if json {
                print_json(serde_json::json!({"name": name, "removed": true}));
            } else {
                println!("removed {name}");
            }
        }
    }
    Ok(())
}

async fn group(app: &App, cmd: GroupCmd, json: bool) -> Result<()> {
    let group_json = |g: &labelbook::store::Group| serde_json::json!({"name": g.name, "members": g.members});
    let done = |what: serde_json::Value, text: String| {
        if json {
            print_json(what);
        } else {
            println!("{text}");
        }
    };
    match cmd {
        GroupCmd::Add { name } => {
            let g = app.service.add_group(&Admin::console(), &name).await?;
            done(group_json(&g), format!("created group {}", g.name));
        }
        GroupCmd::List => {
            let list = app.service.groups(&Admin::console()).await?;
            if json {
                print_json(serde_json::Value::Array(list.iter().map(group_json).collect()));
            } else {
                for g in list {
                    println!("{}\t{}", g.name, g.members.join(","));
                }
            }
        }
        GroupCmd::Remove { name } => {
            app.service.remove_group(&Admin::console(), &name).await?;
            done(serde_json::json!({"name": name, "removed": true}), format!("removed group {name}"));
        }
        GroupCmd::MemberAdd { group, email } => {
            app.service.set_group_member(&Admin::console(), &group, &email, true).await?;
            done(
                serde_json::json!({"group": group, "member": email, "added": true}),
                format!("added {email} to {group}"),
            );
        }
        GroupCmd::MemberRemove { group, email } => {
            app.service.set_group_member(&Admin::console(), &group, &email, false).await?;
            done(
                serde_json::json!({"group": group, "member": email, "removed": true}),
                format!("removed {email} from {group}"),
            );
        }
    }
    Ok(())
}

async fn invitation(app: &App, cmd: InvitationCmd, json: bool) -> Result<()> {
    match cmd {
        InvitationCmd::List { user } => {
            let user = app.user(&user).await?;
            print_grants(&app.service.invitations(&user).await?, json);
        }
        InvitationCmd::Accept { id, user } => {
            let user = app.user(&user).await?;
            print_grant(&app.service.respond(&user, id, true).await?, json);
        }
        InvitationCmd::Decline { id, user } => {
            let user = app.user(&user).await?;
            print_grant(&app.service.respond(&user, id, false).await?, json);
        }
    }
    Ok(())
}

async fn grant(app: &App, cmd: GrantCmd, json: bool) -> Result<()> {
    match cmd {
        GrantCmd::List { label, actor } => {
            let actor = app.user(&actor).await?;
            print_grants(&app.service.grants(&actor, &label).await?, json);
        }
        GrantCmd::Set { id, actor, level } => {
            let actor = app.user(&actor).await?;
            print_grant(&app.service.set_grant_level(&actor, id, parse_level(&level)?).await?, json);
        }
        GrantCmd::Revoke { id, actor } => {
            let actor = app.user(&actor).await?;
            print_grant(&app.service.revoke(&actor, id).await?, json);
        }
        GrantCmd::Hide { id, actor, fields } => {
            let actor = app.user(&actor).await?;
            let items: Vec<&str> = fields.split(',').map(str::trim).filter(|f| !f.is_empty()).collect();
            print_grant(&app.service.set_hidden_fields(&actor, id, &items).await?, json);
        }
        GrantCmd::Devices { id, user, on, off } => {
            let user = app.user(&user).await?;
            print_grant(&app.service.set_devices(&user, id, on && !off).await?, json);
        }
    }
    Ok(())
}

async fn import(app: &App, file: &PathBuf, email: &str, label: Option<&str>, json: bool) -> Result<()> {
    use labelbook::service::import::{Format, decode_text, prepare};
    let user = app.user(email).await?;
    let raw = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = decode_text(&raw);
    let format = Format::detect(&text)
        .ok_or_else(|| anyhow!("{} is neither a vCard file nor a Google or Outlook CSV", file.display()))?;
    let view = app
        .service
        .import_target(&user, label.unwrap_or(labelbook::service::MY_CONTACTS))
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let prepared = prepare(&text, format).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let unread = prepared.unread_columns.clone();
    let (p, stopped) = app.service.import_cards(&user, &view, prepared, None).await;
    if let Err(e) = stopped {
        bail!("import stopped after {} of {} ({} new, {} updated): {e}", p.done, p.total, p.created, p.updated);
    }
    if json {
        print_json(
            serde_json::json!({"created": p.created, "updated": p.updated, "failed": p.failures, "unread_columns": unread}),
        );
    } else {
        println!("imported {} new, {} updated, {} failed", p.created, p.updated, p.failed);
        for f in &p.failures {
            eprintln!("  {f}");
        }
        if !unread.is_empty() {
            eprintln!("  columns no contact field takes (not imported): {}", unread.join(", "));
        }
    }
    if p.failed > 0 && p.created + p.updated == 0 {
        bail!("nothing imported");
    }
    Ok(())
}

async fn export(app: &App, email: &str, label: Option<&str>, out: Option<PathBuf>) -> Result<()> {
    let user = app.user(email).await?;
    let view = app
        .service
        .open_book(&user, label.unwrap_or(labelbook::service::MY_CONTACTS))
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let mut sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    // Page by page, so exporting a large book does not hold it in memory.
    let mut after = 0;
    loop {
        let page = app.service.list_cards_page(&view, true, after, 1000).await?;
        for (pos, card) in &page {
            after = *pos;
            sink.write_all(&card.vcard)?;
            if !card.vcard.ends_with(b"\n") {
                sink.write_all(b"\r\n")?;
            }
        }
        if page.len() < 1000 {
            break;
        }
    }
    sink.flush()?;
    Ok(())
}
