//! The `labelbook` command: the server and every administrative task, scriptable (no prompts, `--json`).
//! Its subcommands live in `cli/`.

use clap::Parser;

mod cli;

#[tokio::main]
async fn main() {
    let cli = cli::args::Cli::parse();
    if let Err(e) = cli::run(cli).await {
        eprintln!("labelbook: {e:#}");
        std::process::exit(1);
    }
}
