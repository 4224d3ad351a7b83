//! vCard handling: a faithful line-level parser (2.1 read tolerance, 3.0, 4.0), validation, extraction of the
//! indexed fields, and 3.0 ⇄ 4.0 conversion.
//!
//! The stored card is always the client's bytes. This module only reads them; conversion writes a new card in
//! which every property it does not need to change is copied from its original (unfolded) line.

mod charset;
mod convert;
pub mod csv;
mod extra;
pub mod group;
pub mod hide;
pub mod json;
pub mod merge;
mod parse;
mod splice;

pub use charset::card_text;
pub use convert::convert;
pub use parse::{Param, Property, VCard, parse};
pub use splice::splice;

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V21,
    V30,
    V40,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V21 => "2.1",
            Version::V30 => "3.0",
            Version::V40 => "4.0",
        }
    }

    pub fn from_value(v: &str) -> Option<Version> {
        match v.trim() {
            "2.1" => Some(Version::V21),
            "3.0" => Some(Version::V30),
            "4.0" => Some(Version::V40),
            _ => None,
        }
    }
}

/// Why a body is not an acceptable vCard; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VCardError {
    NotUtf8,
    NoBegin,
    NoEnd,
    SeveralCards,
    MissingVersion,
    UnsupportedVersion(String),
    MissingUid,
    /// A vCard 4.0 with more than one UID (RFC 6350 §6.7.6: cardinality *1).
    SeveralUids,
    BadLine(usize),
    TooManyProperties(usize),
    /// A content line of this property holds a control character other than a tab.
    ControlCharacter(String),
}

impl fmt::Display for VCardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VCardError::NotUtf8 => write!(f, "vCard 3.0 and 4.0 must be UTF-8"),
            VCardError::NoBegin => write!(f, "the body does not start with BEGIN:VCARD"),
            VCardError::NoEnd => write!(f, "the vCard has no END:VCARD"),
            VCardError::SeveralCards => {
                write!(f, "a resource holds exactly one vCard (RFC 6352 §5.1)")
            }
            VCardError::MissingVersion => write!(f, "the vCard has no VERSION property"),
            VCardError::UnsupportedVersion(v) => {
                write!(f, "vCard VERSION {v} is not supported (2.1, 3.0, 4.0)")
            }
            VCardError::MissingUid => {
                write!(f, "the vCard has no UID property (RFC 6352 §6.3.2.3)")
            }
            VCardError::SeveralUids => write!(f, "a vCard 4.0 has at most one UID (RFC 6350 §6.7.6)"),
            VCardError::BadLine(n) => {
                write!(f, "line {n} of the vCard is not a valid content line")
            }
            VCardError::ControlCharacter(name) => {
                write!(f, "the {name} property holds a control character, which no vCard value may (RFC 6350 §3.3)")
            }
            VCardError::TooManyProperties(n) => write!(f, "the vCard has more than {n} properties"),
        }
    }
}

impl std::error::Error for VCardError {}

/// The fields the store indexes for queries, sorting and search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Indexed {
    pub uid: String,
    pub fn_: String,
    /// "Family Given" for sorting; falls back to FN.
    pub sort_key: String,
    pub emails: Vec<String>,
    pub tels: Vec<String>,
    pub org: String,
    pub kind: String,
    /// What a search compares: name, organization, e-mail addresses and phone numbers, each `fold`ed, apart.
    pub search: String,
}

/// Separates the fields of `Indexed::search`, so that no needle matches across two of them.
const FIELD_SEPARATOR: char = '\u{1f}';

/// Text as RFC 4790's i;unicode-casemap compares it (RFC 5051 §2: case mapped, then NFKD), so that "müller" finds
/// "MÜLLER" and a decomposed "Mu\u{308}ller" alike. Mapping to upper then lower case gives the classes RFC 5051's
/// titlecase does (ß is "ss", final and medial sigma agree).
pub fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.chars().flat_map(char::to_uppercase).flat_map(char::to_lowercase).nfkd().collect()
}

/// A search as typed, folded as `Indexed::search` is, without control characters (which no field holds).
pub fn search_needle(needle: &str) -> String {
    fold(needle.trim()).chars().filter(|c| !c.is_control()).collect()
}

impl Indexed {
    /// Whether a search for `needle` (as typed) finds this contact: the rule the store's search
    /// applies in SQL (`store::search`), over name, e-mails, organization and phone numbers, and over a phone
    /// number's digits without its separators when the needle has three digits or more.
    pub fn matches(&self, needle: &str) -> bool {
        let needle = search_needle(needle);
        if needle.is_empty() || self.search.contains(&needle) {
            return true;
        }
        let digits: String = needle.chars().filter(char::is_ascii_digit).collect();
        digits.len() >= 3
            && self.tels.iter().any(|t| {
                let bare: String = t.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
                bare.contains(&digits)
            })
    }
}

/// Parses, validates and extracts in one pass: what a PUT needs.
pub fn validate(bytes: &[u8], max_properties: usize) -> Result<(VCard, Indexed), VCardError> {
    let card = parse(bytes)?;
    if card.props.len() > max_properties {
        return Err(VCardError::TooManyProperties(max_properties));
    }
    // RFC 6350 §3.3: a value is VALUE-CHAR (WSP and printable characters); line breaks inside a value are written
    // escaped. A NUL or an escape sequence in a stored card would also reach every client's parser (and XML).
    if let Some(p) = card.props.iter().find(|p| p.raw.chars().any(|c| c.is_control() && c != '\t')) {
        return Err(VCardError::ControlCharacter(p.name.clone()));
    }
    if card.version == Version::V40 && card.props.iter().filter(|p| p.name.eq_ignore_ascii_case("UID")).count() > 1 {
        return Err(VCardError::SeveralUids);
    }
    let indexed = card.indexed();
    if indexed.uid.trim().is_empty() {
        return Err(VCardError::MissingUid);
    }
    Ok((card, indexed))
}

/// The card parsed with its values decoded: quoted-printable and legacy charsets (which 3.0 cards from old
/// phones carry too) by rewriting the card, a 2.1 card as 3.0.
pub fn decoded(bytes: &[u8]) -> Result<VCard, VCardError> {
    let card = parse(bytes)?;
    if card.version != Version::V21 && !card.needs_decoding() {
        return Ok(card);
    }
    let target = if card.version == Version::V21 { Version::V30 } else { card.version };
    parse(&convert(bytes, target)?)
}

/// The card with `UID:{uid}` added as its last property, written with the card's own line ending (most real
/// exports carry no UID; RFC 6352 §6.3.2.3 lets the server store a card other than the one sent).
pub fn with_uid(bytes: &[u8], uid: &str) -> Vec<u8> {
    let crlf = bytes.windows(2).any(|w| w == b"\r\n");
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    // The last END:VCARD that starts a line (a folded line never starts with it: continuations begin with a blank).
    let at = (0..bytes.len())
        .rev()
        .find(|&i| {
            (i == 0 || bytes[i - 1] == b'\n')
                && bytes[i..].len() >= 9
                && bytes[i..i + 9].eq_ignore_ascii_case(b"END:VCARD")
        })
        .unwrap_or(bytes.len());
    let mut out = Vec::with_capacity(bytes.len() + uid.len() + 8);
    out.extend_from_slice(&bytes[..at]);
    if at > 0 && bytes[at - 1] != b'\n' {
        out.extend_from_slice(eol);
    }
    out.extend_from_slice(b"UID:");
    out.extend_from_slice(escape_text(uid).as_bytes());
    out.extend_from_slice(eol);
    out.extend_from_slice(&bytes[at..]);
    out
}

/// Escapes a TEXT value or component (RFC 6350 §3.4); a line break becomes `\n`, so the value stays on its line.
pub fn escape_text(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4);
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Unescapes a TEXT value (RFC 6350 §3.4): `\n`, `\,`, `\;`, `\\`.
pub fn unescape_text(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') | Some('N') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits a structured value (N, ADR, ORG) on unescaped `;`.
pub fn split_components(v: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in v.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ';' {
            parts.push(unescape_text(&cur));
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    if escaped {
        cur.push('\\');
    }
    parts.push(unescape_text(&cur));
    parts
}

impl VCard {
    /// Whether a value is quoted-printable or in a named charset: readers of its fields want it converted first.
    pub fn needs_decoding(&self) -> bool {
        self.props.iter().any(convert::needs_decoding)
    }

    pub fn indexed(&self) -> Indexed {
        let mut ix = Indexed::default();
        let mut n_sort = String::new();
        for p in &self.props {
            // Search and sorting see the text, not its quoted-printable transfer form.
            let decoded = if convert::needs_decoding(p) { convert::decoded(p, self.version) } else { None };
            let p = decoded.as_ref().unwrap_or(p);
            match p.name.as_str() {
                "UID" if ix.uid.is_empty() => ix.uid = p.value.trim().to_string(),
                "FN" if ix.fn_.is_empty() => ix.fn_ = unescape_text(&p.value),
                "N" if n_sort.is_empty() => {
                    let c = split_components(&p.value);
                    let family = c.first().map(String::as_str).unwrap_or("");
                    let given = c.get(1).map(String::as_str).unwrap_or("");
                    n_sort = format!("{family} {given}").trim().to_string();
                }
                "EMAIL" => ix.emails.push(unescape_text(&p.value)),
                "TEL" => ix.tels.push(p.value.trim().trim_start_matches("tel:").to_string()),
                "ORG" if ix.org.is_empty() => {
                    ix.org = split_components(&p.value).into_iter().next().unwrap_or_default()
                }
                "KIND" | "X-ADDRESSBOOKSERVER-KIND" if ix.kind.is_empty() => {
                    ix.kind = p.value.trim().to_ascii_lowercase()
                }
                _ => {}
            }
        }
        if ix.fn_.is_empty() && !self.props.iter().any(|p| p.name == "FN") {
            // vCard 2.1 does not require FN: the name clients show is the one conversion derives.
            let decoded: Vec<Property> =
                self.props.iter().map(|p| convert::decoded(p, self.version).unwrap_or_else(|| p.clone())).collect();
            ix.fn_ = convert::derived_full_name(&decoded.iter().collect::<Vec<_>>());
        }
        let fields = [&ix.fn_, &ix.org].into_iter().chain(&ix.emails).chain(&ix.tels);
        ix.search = fields.map(|f| fold(f)).collect::<Vec<_>>().join(&FIELD_SEPARATOR.to_string());
        ix.sort_key = if n_sort.is_empty() { ix.fn_.to_lowercase() } else { n_sort.to_lowercase() };
        ix
    }
}

#[cfg(test)]
mod tests;
