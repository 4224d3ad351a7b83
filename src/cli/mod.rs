//! Subcommands of the `labelbook` command, one file per family (the older ones still live in main.rs).

pub mod google;
pub mod history;
