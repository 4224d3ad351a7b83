//! The `labelbook` command, one file per command family: `args` defines them, `output` prints, the rest run.

pub mod accounts;
pub mod args;
pub mod directory;
pub mod files;
pub mod google;
pub mod history;
pub mod labels;
pub mod output;
pub mod serve;

use accounts::*;
use anyhow::Result;
use args::*;
use directory::*;
use files::*;
use labelbook::app::App;
use labelbook::config::Config;
use labels::*;
use output::*;
use serve::*;
use std::io::IsTerminal;

pub async fn run(cli: Cli) -> Result<()> {
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
    if let Command::Serve { .. } = cli.command {
        return serve(app).await;
    }
    let done = run_command(&app, cli.command, json).await;
    // A server on the same SQLite file cannot hear this process's changes: tell it to re-read.
    if let Err(e) = app.store.announce_outside_writes().await {
        tracing::warn!(error = %e, "could not tell a running server about these changes");
    }
    done
}

async fn run_command(app: &App, command: Command, json: bool) -> Result<()> {
    match command {
        Command::Serve { .. } => Err(anyhow::anyhow!("serve is not a one-off command")),
        Command::Migrate => {
            if json {
                print_json(serde_json::json!({"migrated": true, "backend": app.store.backend_name()}));
            } else {
                println!("database is up to date ({})", app.store.backend_name());
            }
            Ok(())
        }
        Command::User(cmd) => user(app, cmd, json).await,
        Command::AppPassword(cmd) => app_password(app, cmd, json).await,
        Command::Label(cmd) => label(app, cmd, json).await,
        Command::Share { label, actor, with, level, no_devices } => {
            let actor = app.user(&actor).await?;
            let level = parse_level(&level)?;
            let with = labelbook::service::Grantee::parse(&with);
            let g = app.service.share(&actor, &label, &with, level, !no_devices).await?;
            print_grant(&g, json);
            Ok(())
        }
        Command::Invitation(cmd) => invitation(app, cmd, json).await,
        Command::Trash(cmd) => trash(app, cmd, json).await,
        Command::History(args) => history::history(app, args, json).await,
        Command::Activity(args) => history::activity(app, args, json).await,
        Command::Domain(cmd) => domain(app, cmd, json).await,
        Command::Group(cmd) => group(app, cmd, json).await,
        Command::Grant(cmd) => grant(app, cmd, json).await,
        Command::Import { file, user, label } => import(app, &file, &user, label.as_deref(), json).await,
        Command::Export { user, label, out } => export(app, &user, label.as_deref(), out).await,
        Command::Google(cmd) => google::google(app, cmd, json).await,
    }
}
