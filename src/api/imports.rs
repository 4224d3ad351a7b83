//! Imports (vCard files, Google Contacts CSV, Outlook CSV) as jobs a page follows, and exports of a book (or of
//! contacts chosen in it) as .vcf or CSV, streamed page by page.

use super::{ApiResult, Items, Problem, Request, json_response, rfc3339};
use crate::response::channel;
use crate::service::import::{Format, decode_text, prepare};
use crate::service::{BookView, MY_CONTACTS, ServiceError};
use crate::store::{Card, ImportJob};
use crate::vcard::{csv, json};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct JobJson<'a> {
    id: i64,
    /// `contacts` or the label's id.
    book: &'a str,
    file_name: &'a str,
    format: &'a str,
    /// running, done or failed.
    status: &'a str,
    total: i64,
    done: i64,
    created: i64,
    updated: i64,
    failed: i64,
    /// The first failures, each saying where in the file and why.
    failures: &'a [String],
    /// CSV columns no contact field takes: their values were not imported.
    unread_columns: &'a [String],
    /// Why the whole import failed, when it did.
    error: &'a str,
    created_at: String,
    finished_at: Option<String>,
}

fn job_json(j: &ImportJob) -> JobJson<'_> {
    JobJson {
        id: j.id,
        book: &j.book,
        file_name: &j.file_name,
        format: &j.format,
        status: &j.status,
        total: j.total,
        done: j.done,
        created: j.created,
        updated: j.updated,
        failed: j.failed,
        failures: &j.failures,
        unread_columns: &j.unread_columns,
        error: &j.error,
        created_at: rfc3339(j.created_at),
        finished_at: j.finished_at.map(rfc3339),
    }
}

fn book_param(req: &Request<'_>) -> Result<String, Problem> {
    let book = req.param("book").unwrap_or(MY_CONTACTS);
    if book != MY_CONTACTS && uuid::Uuid::parse_str(book).is_err() {
        return Err(Problem::invalid("book", "contacts, or a label's id"));
    }
    Ok(book.to_string())
}

/// POST /imports?book=&format=&name=: the file is the body. Answers 202 with the job at once; the cards are
/// written in the background.
pub async fn start(req: &Request<'_>) -> ApiResult {
    req.params(&["book", "format", "name"])?;
    let book = book_param(req)?;
    let asked = match req.param("format").unwrap_or("auto") {
        "auto" => None,
        f => Some(Format::parse(f).ok_or_else(|| Problem::invalid("format", "auto, vcard or csv"))?),
    };
    let view = req.app.service.import_target(req.user, &book).await?;
    if req.body.is_empty() {
        return Err(Problem::unprocessable("file", "the file is empty"));
    }
    // Reading a file of up to max_import_size is CPU work: on the CPU pool, off the async workers.
    let body = req.body.clone();
    let read = crate::service::cpu::run(move || {
        let text = decode_text(&body);
        let format = asked.or_else(|| Format::detect(&text))?;
        Some((format, prepare(&text, format)))
    })
    .await?;
    let Some((format, prepared)) = read else {
        return Err(Problem::unprocessable(
            "file",
            "this is neither a vCard file nor a Google Contacts or Outlook CSV export",
        ));
    };
    let prepared = prepared.map_err(|e| Problem::unprocessable("file", e))?;
    let name = req.param("name").unwrap_or("");
    let job = req.app.service.create_import(req.user, &view, name, format, &prepared).await?;
    let (app, user, id) = (req.app.clone(), req.user.clone(), job.id);
    tokio::spawn(async move { app.service.run_import(&user, &view, id, prepared).await });
    let mut r = json_response(StatusCode::ACCEPTED, &job_json(&job))?;
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/imports/{id}")) {
        r.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(r)
}

pub async fn get(req: &Request<'_>, id: &str) -> ApiResult {
    req.params(&[])?;
    let id = id.parse::<i64>().map_err(|_| Problem::new(StatusCode::NOT_FOUND, "no such import"))?;
    let job = req.app.service.import_job(req.user, id).await?;
    json_response(StatusCode::OK, &job_json(&job))
}

pub async fn list(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let jobs = req.app.service.import_jobs(req.user).await?;
    json_response(StatusCode::OK, &Items { items: jobs.iter().map(job_json).collect() })
}

/// Cards read per page of an export.
const PAGE: i64 = 1000;

/// Where an export's cards come from: the whole book page by page, or chosen contacts a page of ids at a time.
enum Pages {
    Book { after: i64, done: bool },
    Ids(std::collections::VecDeque<Vec<i64>>),
}

impl Pages {
    /// The next page of cards as the caller reads them; `None` when there is no more.
    async fn next(&mut self, app: &crate::app::App, view: &BookView) -> Result<Option<Vec<Card>>, ServiceError> {
        match self {
            Pages::Book { done: true, .. } => Ok(None),
            Pages::Book { after, done } => {
                let page = app.service.list_cards_page(view, true, *after, PAGE).await?;
                *done = (page.len() as i64) < PAGE;
                *after = page.last().map_or(*after, |(pos, _)| *pos);
                Ok(Some(page.into_iter().map(|(_, c)| c).collect()))
            }
            Pages::Ids(chunks) => match chunks.pop_front() {
                None => Ok(None),
                Some(ids) => Ok(Some(app.service.contacts_by_ids(view, &ids).await?)),
            },
        }
    }
}

fn format_param(format: Option<&str>) -> Result<bool, Problem> {
    match format.unwrap_or("vcf") {
        "vcf" | "vcard" => Ok(false),
        "csv" => Ok(true),
        _ => Err(Problem::invalid("format", "vcf or csv")),
    }
}

/// GET /export?book=&format=vcf|csv: the whole book as a download, produced page by page. What is hidden from
/// the caller is not in it.
pub async fn export(req: &Request<'_>) -> ApiResult {
    req.params(&["book", "format"])?;
    let book = book_param(req)?;
    let csv_out = format_param(req.param("format"))?;
    let view = req.app.service.open_book_anywhere(req.user, &book).await?;
    download(req, view, csv_out, Pages::Book { after: 0, done: false }).await
}

/// Most contacts one export of chosen contacts names.
const MAX_CHOSEN: usize = 5_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Chosen {
    #[serde(default)]
    book: Option<String>,
    #[serde(default)]
    format: Option<String>,
    ids: Vec<i64>,
}

/// POST /export: chosen contacts of a book (`ids`, as the book's contact ids) as one file, in the order given;
/// ids not in the book are left out.
pub async fn export_chosen(req: &Request<'_>) -> ApiResult {
    req.params(&[])?;
    let form: Chosen = req.json()?;
    let book = form.book.unwrap_or_else(|| MY_CONTACTS.to_string());
    if book != MY_CONTACTS && uuid::Uuid::parse_str(&book).is_err() {
        return Err(Problem::invalid("book", "contacts, or a label's id"));
    }
    let csv_out = format_param(form.format.as_deref())?;
    if form.ids.is_empty() || form.ids.len() > MAX_CHOSEN {
        return Err(Problem::invalid("ids", format!("1 to {MAX_CHOSEN} contact ids")));
    }
    let view = req.app.service.open_book_anywhere(req.user, &book).await?;
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<i64> = form.ids.into_iter().filter(|id| seen.insert(*id)).collect();
    let chunks = ids.chunks(crate::service::MAX_PAGE as usize).map(<[i64]>::to_vec).collect();
    download(req, view, csv_out, Pages::Ids(chunks)).await
}

/// The export as a download: the first page is read before answering, so a refusal is an answer rather than a
/// broken download; the rest is streamed.
async fn download(req: &Request<'_>, view: BookView, csv_out: bool, mut pages: Pages) -> ApiResult {
    let first = pages.next(req.app, &view).await?.unwrap_or_default();
    let (ext, ctype) = if csv_out { ("csv", "text/csv; charset=utf-8") } else { ("vcf", "text/vcard; charset=utf-8") };
    let ascii: String =
        view.displayname.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let disposition = format!(
        "attachment; filename=\"{ascii}.{ext}\"; filename*=UTF-8''{}.{ext}",
        utf8_percent_encode(&view.displayname, NON_ALPHANUMERIC)
    );
    let (tx, body) = channel();
    let app = req.app.clone();
    let name = view.displayname.clone();
    tokio::spawn(async move {
        let mut page = Some(first);
        let mut head = if csv_out {
            let mut h = String::new();
            csv::write_row(&mut h, csv::EXPORT_HEADER);
            h
        } else {
            String::new()
        };
        while let Some(cards) = page {
            let mut chunk = std::mem::take(&mut head).into_bytes();
            for card in &cards {
                if csv_out {
                    match crate::service::read_for_edit(&card.vcard) {
                        Ok(parsed) => chunk.extend_from_slice(csv::export_row(&json::read(&parsed)).as_bytes()),
                        Err(e) => tracing::warn!(href = card.meta.href, error = %e, "a stored card did not parse"),
                    }
                } else {
                    chunk.extend_from_slice(&card.vcard);
                    if !card.vcard.ends_with(b"\n") {
                        chunk.extend_from_slice(b"\r\n");
                    }
                }
            }
            if !chunk.is_empty() && tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
            page = match pages.next(&app, &view).await {
                Ok(p) => p,
                Err(e) => {
                    // Abort the transfer: a truncated file must not look complete.
                    let _ = tx.send(Err(format!("export of {name} failed: {e}").into())).await;
                    return;
                }
            };
        }
    });
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}
