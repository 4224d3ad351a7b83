//! `labelbook import` and `labelbook export`: vCard files in and out.

use super::output::*;
use anyhow::{Context, Result, anyhow, bail};
use labelbook::app::App;
use std::io::Write;
use std::path::PathBuf;

pub async fn import(app: &App, file: &PathBuf, email: &str, label: Option<&str>, json: bool) -> Result<()> {
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

pub async fn export(app: &App, email: &str, label: Option<&str>, out: Option<PathBuf>) -> Result<()> {
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
