//! `labelbook history` and `labelbook activity`: who changed what.

use crate::cli::output::print_json;
use anyhow::{Result, bail};
use clap::Args;
use labelbook::app::App;
use labelbook::store::{Activity, HistoryEntry};

#[derive(Args)]
pub struct HistoryArgs {
    /// Whose view: the contact's owner, or a collaborator on a label it carries.
    #[arg(long = "as")]
    actor: String,
    /// The contact, by id (as `trash list` shows it).
    #[arg(long, conflicts_with_all = ["book", "href"], required_unless_present = "href")]
    contact: Option<i64>,
    /// Or by its name in a book of the user's home: `contacts` or a label id.
    #[arg(long, requires = "href")]
    book: Option<String>,
    #[arg(long, requires = "book")]
    href: Option<String>,
    /// Also print each earlier version's vCard.
    #[arg(long)]
    cards: bool,
}

#[derive(Args)]
pub struct ActivityArgs {
    label: String,
    #[arg(long = "as")]
    actor: String,
    /// At most this many entries, newest first.
    #[arg(long, default_value_t = 100)]
    limit: i64,
    /// Only entries older than this entry id (to page on).
    #[arg(long)]
    before: Option<i64>,
}

fn activity_json(a: &Activity) -> serde_json::Value {
    serde_json::json!({
        "id": a.id, "label": a.label_id, "contact": a.contact_id, "action": a.action, "actor": a.actor,
        "at": a.at, "modseq": a.modseq, "name": a.fn_,
    })
}

fn entry_json(e: &HistoryEntry) -> serde_json::Value {
    let mut v = activity_json(&e.activity);
    if let Some((bytes, etag)) = &e.previous {
        v["previous"] = serde_json::json!({"etag": etag, "vcard": String::from_utf8_lossy(bytes)});
    }
    v
}

pub async fn history(app: &App, args: HistoryArgs, json: bool) -> Result<()> {
    let user = app.user(&args.actor).await?;
    let contact_id = match (args.contact, &args.book, &args.href) {
        (Some(id), _, _) => id,
        (None, Some(book), Some(href)) => {
            let view = app.service.open_book_anywhere(&user, book).await?;
            app.service.contact_id_at(&view, href).await?
        }
        _ => bail!("name the contact with --contact ID, or --book and --href"),
    };
    let entries = app.service.contact_history(&user, contact_id).await?;
    if json {
        print_json(serde_json::Value::Array(entries.iter().map(entry_json).collect()));
        return Ok(());
    }
    for e in &entries {
        let a = &e.activity;
        println!("{}\t{}\t{}\t{}", a.at, a.action, if a.actor.is_empty() { "-" } else { &a.actor }, a.fn_);
        if args.cards
            && let Some((bytes, _)) = &e.previous
        {
            println!("{}", String::from_utf8_lossy(bytes).trim_end());
        }
    }
    Ok(())
}

pub async fn activity(app: &App, args: ActivityArgs, json: bool) -> Result<()> {
    let user = app.user(&args.actor).await?;
    let list = app.service.label_activity(&user, &args.label, args.before, args.limit).await?;
    if json {
        print_json(serde_json::Value::Array(list.iter().map(activity_json).collect()));
        return Ok(());
    }
    for a in &list {
        println!("{}\t{}\t{}\t{}\t{}", a.id, a.at, a.action, if a.actor.is_empty() { "-" } else { &a.actor }, a.fn_);
    }
    Ok(())
}
