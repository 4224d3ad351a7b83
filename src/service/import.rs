//! Importing files of contacts into a book: vCard files with many cards, Google Contacts CSV and Outlook CSV.
//! A file is first read into cards (pure: `prepare`), then written in group commits of `CHUNK` cards through
//! the same `put_cards` as every other write, so access checks, hidden fields and propagation are the same.
//! Importing a file again updates what the first import made instead of duplicating it: vCards keep their
//! UID, and a CSV row's UID is derived from the row.

use super::access::Action;
use super::{BookView, Result, Service, ServiceError};
use crate::store::{Precondition, User};
use crate::vcard::{csv, json};
use sha2::{Digest, Sha256};

/// Cards per group commit (and per progress report).
pub const CHUNK: usize = 500;
/// Failures kept per import, to show; beyond that they are only counted.
const MAX_FAILURES: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    VCard,
    /// Google Contacts' or Outlook's CSV (the columns tell which).
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "vcard" | "vcf" => Some(Format::VCard),
            "csv" | "google_csv" | "outlook_csv" => Some(Format::Csv),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::VCard => "vcard",
            Format::Csv => "csv",
        }
    }

    /// What a file is, from its first bytes.
    pub fn detect(text: &str) -> Option<Format> {
        let start = text.trim_start();
        if start.get(..11).is_some_and(|s| s.eq_ignore_ascii_case("BEGIN:VCARD")) {
            return Some(Format::VCard);
        }
        let header = csv::parse(start.lines().next().unwrap_or("")).ok()?.into_iter().next()?;
        csv::looks_like_contacts(&header).then_some(Format::Csv)
    }
}

/// A file's text: UTF-8 (a BOM is dropped), or else, for a vCard file, each line in the charset its CHARSET
/// parameter names, and otherwise Windows-1252, which older Outlook versions write.
pub fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    if bytes[start..].get(..11).is_some_and(|b| b.eq_ignore_ascii_case(b"BEGIN:VCARD")) {
        return crate::vcard::card_text(bytes).into_owned();
    }
    encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned()
}

/// A card of a vCard file: where it starts, and its text or why it cannot be one.
pub type FileCard = (usize, std::result::Result<String, String>);

/// The cards of a vCard file, each as written, with the line it starts on. A card embedded in another (vCard
/// 2.1's AGENT) stays inside it; a card that never ends is reported, never dropped.
pub fn split_cards(text: &str) -> Vec<FileCard> {
    let mut cards = Vec::new();
    // The card being read: its first line, its text, how deep in embedded cards the reader is.
    let mut cur: Option<(usize, String, usize)> = None;
    let mut after_agent = false;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let t = line.trim_end();
        let begins = t.eq_ignore_ascii_case("BEGIN:VCARD");
        if begins && !after_agent {
            if let Some((at, _, _)) = cur.take() {
                cards.push((at, Err("the card has no END:VCARD before the next BEGIN:VCARD".to_string())));
            }
            cur = Some((i + 1, String::new(), 0));
        }
        if let Some((_, c, depth)) = cur.as_mut() {
            c.push_str(line);
            if !line.ends_with('\n') {
                c.push_str("\r\n");
            }
            if begins {
                *depth += 1;
            } else if t.eq_ignore_ascii_case("END:VCARD") {
                *depth -= 1;
            }
        }
        if cur.as_ref().is_some_and(|(_, _, depth)| *depth == 0)
            && let Some((at, c, _)) = cur.take()
        {
            cards.push((at, Ok(c)));
        }
        // vCard 2.1 §2.4.2: "AGENT:" with nothing after it is followed by the agent's card.
        let head = t.split(':').next().unwrap_or("");
        after_agent = cur.is_some()
            && t.ends_with(':')
            && head.rsplit('.').next().unwrap_or("").split(';').next().is_some_and(|n| n.eq_ignore_ascii_case("AGENT"));
    }
    if let Some((at, _, _)) = cur {
        cards.push((at, Err("the file ends inside this card (no END:VCARD)".to_string())));
    }
    cards
}

/// Gives a card without UID one (after VERSION), since a CardDAV resource needs it; nothing else changes.
pub fn ensure_uid(card: String) -> (String, String) {
    if let Ok(parsed) = crate::vcard::parse(card.as_bytes()) {
        let uid = parsed.indexed().uid;
        if !uid.is_empty() {
            return (card, uid);
        }
    }
    let uid = uuid::Uuid::new_v4().to_string();
    let mut out = String::with_capacity(card.len() + 50);
    let mut done = false;
    for line in card.split_inclusive('\n') {
        out.push_str(line);
        if !done && line.trim_end().to_ascii_uppercase().starts_with("VERSION:") {
            out.push_str(&format!("UID:{uid}\r\n"));
            done = true;
        }
    }
    (out, uid)
}

fn href_for(uid: &str) -> String {
    let safe: String = uid.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("{safe}.vcf")
}

/// A file read into cards: `(where in the file, name, bytes)`, what could not be read, and CSV columns no
/// contact field takes (reported, so nothing goes missing unnoticed).
#[derive(Debug, Default)]
pub struct Prepared {
    pub cards: Vec<(String, String, Vec<u8>)>,
    pub failed: Vec<String>,
    pub unread_columns: Vec<String>,
}

pub fn prepare(text: &str, format: Format) -> std::result::Result<Prepared, String> {
    let mut out = Prepared::default();
    match format {
        Format::VCard => {
            for (i, (line, card)) in split_cards(text).into_iter().enumerate() {
                let at = format!("card {} (line {line})", i + 1);
                match card {
                    Ok(card) => {
                        let (card, uid) = ensure_uid(card);
                        out.cards.push((at, href_for(&uid), card.into_bytes()));
                    }
                    Err(why) => out.failed.push(format!("{at}: {why}")),
                }
            }
            if out.cards.is_empty() && out.failed.is_empty() {
                return Err("the file holds no vCard (BEGIN:VCARD … END:VCARD)".into());
            }
        }
        Format::Csv => {
            let mut rows = csv::parse(text)?.into_iter();
            let header = rows.next().ok_or("the file is empty")?;
            if !csv::looks_like_contacts(&header) {
                return Err("the first line is not a Google Contacts or Outlook CSV header".into());
            }
            let rows: Vec<Vec<String>> = rows.collect();
            let read = csv::read_rows(&header, &rows);
            out.unread_columns = csv::unread_columns(&read);
            for (i, (row, raw)) in read.iter().zip(&rows).enumerate() {
                // The same row imported again names the same contact.
                let digest = Sha256::digest(raw.join("\u{1f}").as_bytes());
                let uid = uuid::Builder::from_random_bytes(digest[..16].try_into().unwrap_or([0; 16]))
                    .into_uuid()
                    .to_string();
                match json::apply(None, &uid, &row.patch) {
                    Ok(bytes) => out.cards.push((format!("line {}", i + 2), href_for(&uid), bytes)),
                    Err(e) => out.failed.push(format!("line {}: {}: {}", i + 2, e.field, e.message)),
                }
            }
        }
    }
    Ok(out)
}

/// How an import went so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub total: usize,
    pub done: usize,
    pub created: usize,
    pub updated: usize,
    pub failed: usize,
    /// The first failures, each with where in the file.
    pub failures: Vec<String>,
}

impl Service {
    /// The book an import writes to, checked before anything is read: importing adds and changes contacts.
    pub async fn import_target(&self, user: &User, segment: &str) -> Result<BookView> {
        let view = self.open_book_anywhere(user, segment).await?;
        view.require(Action::AddCard)?;
        view.require(Action::EditCard)?;
        Ok(view)
    }

    /// Writes prepared cards into the book, `CHUNK` per group commit, recording the progress in `job` (when it
    /// runs as one) after each. A card whose UID the user already has elsewhere in My contacts updates that
    /// contact. Returns how far it got, and why it stopped when it did not finish.
    pub async fn import_cards(
        &self,
        user: &User,
        view: &BookView,
        prepared: Prepared,
        job: Option<i64>,
    ) -> (Progress, Result<()>) {
        let mut p = Progress::default();
        let r = self.import_into(user, view, prepared, job, &mut p).await;
        (p, r)
    }

    async fn import_into(
        &self,
        user: &User,
        view: &BookView,
        prepared: Prepared,
        job: Option<i64>,
        p: &mut Progress,
    ) -> Result<()> {
        *p = Progress { total: prepared.cards.len() + prepared.failed.len(), ..Progress::default() };
        for f in prepared.failed {
            p.failed += 1;
            p.done += 1;
            if p.failures.len() < MAX_FAILURES {
                p.failures.push(f);
            }
        }
        let my_contacts = self.open_book(user, super::MY_CONTACTS).await?;
        for (n, chunk) in prepared.cards.chunks(CHUNK).enumerate() {
            // A long import rechecks the level before each commit: a share revoked or lowered meanwhile stops it.
            let fresh;
            let view = if n == 0 {
                view
            } else {
                fresh = self.import_target(user, &view.segment).await?;
                &fresh
            };
            let cards: Vec<(String, Vec<u8>)> = chunk.iter().map(|(_, h, b)| (h.clone(), b.clone())).collect();
            let answers = self.put_cards(view, &cards, &Precondition::default()).await?;
            for ((at, href, body), answer) in chunk.iter().zip(answers) {
                let answer = match answer {
                    // Imported before, under the name it has in My contacts: update it there.
                    Err(ServiceError::UidConflict(existing)) if !existing.is_empty() => {
                        self.put_card(&my_contacts, &existing, body, &Precondition::default()).await
                    }
                    a => a,
                };
                p.done += 1;
                match answer {
                    Ok(o) if o.created => p.created += 1,
                    Ok(_) => p.updated += 1,
                    Err(e) => {
                        p.failed += 1;
                        if p.failures.len() < MAX_FAILURES {
                            p.failures.push(format!("{at} ({href}): {e}"));
                        }
                    }
                }
            }
            if let Some(id) = job {
                self.save_progress(id, p, None).await;
            }
        }
        Ok(())
    }
}

impl Service {
    /// Records a new import of `prepared` into `view` (already checked by `import_target`).
    pub async fn create_import(
        &self,
        user: &User,
        view: &BookView,
        file_name: &str,
        format: Format,
        prepared: &Prepared,
    ) -> Result<crate::store::ImportJob> {
        let total = (prepared.cards.len() + prepared.failed.len()) as i64;
        let name: String = file_name.chars().filter(|c| !c.is_control()).take(200).collect();
        Ok(self
            .store
            .create_import_job(user.id, &view.segment, &name, format.as_str(), total, &prepared.unread_columns)
            .await?)
    }

    /// Runs a recorded import to its end, saving the progress after every group commit.
    pub async fn run_import(&self, user: &User, view: &BookView, job_id: i64, prepared: Prepared) {
        match self.import_cards(user, view, prepared, Some(job_id)).await {
            (p, Ok(())) => self.save_progress(job_id, &p, Some(("done", ""))).await,
            (p, Err(e)) => self.save_progress(job_id, &p, Some(("failed", &e.to_string()))).await,
        }
    }

    async fn save_progress(&self, job_id: i64, p: &Progress, finished: Option<(&str, &str)>) {
        let counts = crate::store::JobCounts {
            total: p.total as i64,
            done: p.done as i64,
            created: p.created as i64,
            updated: p.updated as i64,
            failed: p.failed as i64,
            failures: &p.failures,
        };
        if let Err(e) = self.store.update_import_job(job_id, &counts, finished).await {
            tracing::warn!(job = job_id, error = %e, "could not record an import's progress");
        }
    }

    pub async fn import_job(&self, user: &User, id: i64) -> Result<crate::store::ImportJob> {
        self.store.import_job(user.id, id).await?.ok_or(ServiceError::NotFound)
    }

    pub async fn import_jobs(&self, user: &User) -> Result<Vec<crate::store::ImportJob>> {
        Ok(self.store.import_jobs(user.id, 20).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_text_is_detected_or_refused_without_a_panic() {
        // Found by schemathesis: a multi-byte character across byte 11.
        let odd = "\u{f4107}\u{a8}\u{b2c3d}R\u{8b}\u{f8}\u{ad}";
        assert_eq!(Format::detect(odd), None);
        for text in
            [odd, "", "İİİİİİ,Phone 1 - Value\nx", "Name,İ-mail 1 - Value,E-mail 1 - Value\nA,b,c@d\n", "\u{0}\u{1}"]
        {
            let _ = Format::detect(text);
            let _ = prepare(text, Format::Csv);
            let _ = prepare(text, Format::VCard);
        }
        assert_eq!(Format::detect("begin:vcard\r\n"), Some(Format::VCard));
        assert_eq!(decode_text(b"\xef\xbb\xbfok"), "ok");
        assert_eq!(decode_text(b"M\xfcller \x80"), "Müller €");
        // A vCard file's lines are read in the charset each names.
        let file = b"BEGIN:VCARD\r\nVERSION:2.1\r\nFN;CHARSET=KOI8-R:\xe9\xd7\xc1\xce\r\nNOTE:caf\xe9\r\nEND:VCARD\r\n";
        assert!(decode_text(file).contains("FN;CHARSET=KOI8-R:Иван\r\nNOTE:café\r\n"));
    }

    #[test]
    fn no_card_of_a_file_is_dropped_silently() {
        let ok = |uid: &str| format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{uid}\r\nEND:VCARD\r\n");
        // vCard 2.1 §2.4.2: an agent's card inside its card stays there.
        let agent = "BEGIN:VCARD\r\nVERSION:2.1\r\nN:Okafor;Chidi\r\nAGENT:\r\nBEGIN:VCARD\r\nVERSION:2.1\r\nN:Bello;Ada\r\nEND:VCARD\r\nNOTE:x\r\nEND:VCARD\r\n";
        let unterminated = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:cut\r\nFN:Cut\r\n";
        let file = format!("{}{agent}{unterminated}{}{unterminated}", ok("a"), ok("b"));
        let cards = split_cards(&file);
        let starts: Vec<usize> = cards.iter().map(|(line, _)| *line).collect();
        assert_eq!(starts, [1, 6, 16, 20, 25]);
        assert!(
            cards[1]
                .1
                .as_ref()
                .unwrap()
                .contains("AGENT:\r\nBEGIN:VCARD\r\nVERSION:2.1\r\nN:Bello;Ada\r\nEND:VCARD\r\nNOTE:x")
        );
        assert!(cards[2].1.as_ref().unwrap_err().contains("no END:VCARD before the next BEGIN:VCARD"));
        assert!(cards[4].1.as_ref().unwrap_err().contains("the file ends inside this card"));
        let prepared = prepare(&file, Format::VCard).unwrap();
        assert_eq!((prepared.cards.len(), prepared.failed.len()), (3, 2));
        assert!(prepared.failed[0].starts_with("card 3 (line 16): "), "{:?}", prepared.failed);
    }
}
