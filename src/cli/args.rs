//! The command line: every subcommand and its arguments (clap).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "labelbook",
    version,
    about = "Shared contacts server: labels shared at permission levels, synced over CardDAV"
)]
pub struct Cli {
    /// TOML configuration file (see config/labelbook.example.toml).
    #[arg(long, global = true, env = "LABELBOOK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory for the embedded SQLite database.
    #[arg(long, global = true)]
    pub data: Option<PathBuf>,
    /// PostgreSQL URL; overrides database_url.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Machine-readable output: one JSON value on standard output.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    History(super::history::HistoryArgs),
    /// A label's activity log: who added, edited and removed which contacts.
    Activity(super::history::ActivityArgs),
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
    Google(super::google::GoogleCmd),
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
pub struct PasswordArgs {
    /// Read the password from standard input (one line) instead of generating one.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Subcommand)]
pub enum UserCmd {
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
pub enum AppPasswordCmd {
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
pub enum InvitationCmd {
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
pub enum TrashCmd {
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
pub enum GrantCmd {
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
pub enum DomainCmd {
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
pub enum GroupCmd {
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
pub enum LabelCmd {
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
