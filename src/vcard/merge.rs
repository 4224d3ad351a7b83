//! Two cards of one person made one: the survivor keeps its own lines as they are and gains every line of the
//! other that it does not already say. Works on content lines as received (like `hide::merge`), so nothing the
//! survivor held changes its bytes, and the added lines keep theirs (after conversion to the survivor's version
//! when the two differ).

use super::hide::{Line, lines};
use super::parse::{Property, parse};
use super::{VCardError, Version, convert, fold, unescape_text};
use std::collections::HashSet;

/// Properties a card holds at most once (RFC 6350 §6: cardinality 1 or *1; FN is 1 in vCard 3.0) or that
/// clients show only one of (PHOTO): the survivor's stands, the other's is taken only where the survivor has none.
const SINGULAR: [&str; 14] = [
    "VERSION",
    "UID",
    "REV",
    "PRODID",
    "KIND",
    "X-ADDRESSBOOKSERVER-KIND",
    "N",
    "FN",
    "BDAY",
    "ANNIVERSARY",
    "GENDER",
    "PHOTO",
    "SORT-STRING",
    "LOGO",
];

/// Properties that only annotate the item group they are in (Apple's labels).
const ANNOTATIONS: [&str; 2] = ["X-ABLABEL", "X-ABADR"];

/// Bookkeeping a card carries about itself: never worth keeping from the merged-away card.
const BOOKKEEPING: [&str; 4] = ["UID", "REV", "PRODID", "VERSION"];

/// The merged card and what became of the other card's lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub bytes: Vec<u8>,
    /// Lines of the other card the survivor gained (unfolded, as they now read).
    pub added: Vec<String>,
    /// Lines of the other card the survivor could not take because it holds its own value and only one is
    /// allowed (a different birthday, photo, name). Its other name is added as a NICKNAME.
    pub not_kept: Vec<String>,
}

/// A phone number as duplicates are matched: its digits, and of a number of 9 digits or more only the last 9,
/// so that "+1 415 555 0100", "001 415 555 0100" and "(415) 555-0100" are one number whatever country code or
/// trunk prefix is written. Numbers of fewer than 5 digits (extensions, short codes) match nothing.
pub fn phone_key(number: &str) -> Option<String> {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    match digits.len() {
        0..=4 => None,
        n if n >= 9 => Some(digits[n - 9..].to_string()),
        _ => Some(digits),
    }
}

/// An e-mail address as duplicates are matched: trimmed, lower-cased, without a `mailto:`.
pub fn email_key(address: &str) -> Option<String> {
    let a = address.trim();
    let a = a.strip_prefix("mailto:").unwrap_or(a).trim().to_lowercase();
    a.contains('@').then_some(a)
}

/// What a property says, for "does the survivor already say this": its name and its value, compared as a
/// person reads it (e-mail without case, phone numbers by `phone_key`, text folded).
fn meaning(p: &Property) -> (String, String) {
    let text = unescape_text(p.value.trim());
    let value = match p.name.as_str() {
        "EMAIL" => email_key(&text).unwrap_or_else(|| fold(&text)),
        "TEL" => phone_key(text.trim_start_matches("tel:")).unwrap_or_else(|| fold(&text)),
        _ => fold(&text).split_whitespace().collect::<Vec<_>>().join(" "),
    };
    (p.name.clone(), value)
}

/// `keep` with every line of `other` it does not already say (see `Merged`). A 2.1 survivor is written as 3.0,
/// as any edit of a 2.1 card is.
pub fn merge(keep: &[u8], other: &[u8]) -> Result<Merged, VCardError> {
    let keep_card = parse(keep)?;
    let keep = match keep_card.version {
        Version::V21 => convert(keep, Version::V30)?,
        _ => keep.to_vec(),
    };
    let keep_card = parse(&keep)?;
    let other = convert(other, keep_card.version)?;
    let other_text = String::from_utf8_lossy(&other).into_owned();
    let other_lines: Vec<Line<'_>> = lines(&other_text);

    let said: HashSet<(String, String)> = keep_card.props.iter().map(meaning).collect();
    let has = |name: &str| keep_card.props.iter().any(|p| p.name == name);
    let nicknames: HashSet<String> = keep_card
        .props
        .iter()
        .filter(|p| p.name == "NICKNAME")
        .flat_map(|p| super::split_components(&p.value))
        .map(|n| fold(n.trim()))
        .collect();

    // Which of the other card's lines the survivor gains, decided per line, then per item group: a group's
    // annotations go along with its property, or not at all.
    let mut takes = vec![false; other_lines.len()];
    let mut not_kept = Vec::new();
    let mut extra = Vec::new();
    for (i, l) in other_lines.iter().enumerate() {
        let Some(p) = &l.prop else { continue };
        if matches!(p.name.as_str(), "BEGIN" | "END") || BOOKKEEPING.contains(&p.name.as_str()) {
            continue;
        }
        if ANNOTATIONS.contains(&p.name.as_str()) && p.group.is_some() {
            continue;
        }
        if said.contains(&meaning(p)) {
            continue;
        }
        if SINGULAR.contains(&p.name.as_str()) && has(&p.name) {
            not_kept.push(p.raw.clone());
            if p.name == "FN" {
                let name = unescape_text(p.value.trim());
                if !name.is_empty() && !nicknames.contains(&fold(&name)) {
                    extra.push(format!("NICKNAME:{}", super::escape_text(&name)));
                }
            }
            continue;
        }
        takes[i] = true;
    }
    let group_of = |l: &Line<'_>| l.prop.as_ref().and_then(|p| p.group.as_ref()).map(|g| g.to_ascii_lowercase());
    let taken_groups: HashSet<String> =
        other_lines.iter().zip(&takes).filter(|(_, t)| **t).filter_map(|(l, _)| group_of(l)).collect();
    for (l, t) in other_lines.iter().zip(takes.iter_mut()) {
        if let Some(p) = &l.prop
            && ANNOTATIONS.contains(&p.name.as_str())
            && group_of(l).is_some_and(|g| taken_groups.contains(&g))
        {
            *t = true;
        }
    }

    // Item groups the other card shares names with are renamed to names neither uses.
    let mut in_use: HashSet<String> =
        keep_card.props.iter().filter_map(|p| p.group.as_ref()).map(|g| g.to_ascii_lowercase()).collect();
    let keep_groups = in_use.clone();
    in_use.extend(other_lines.iter().filter_map(group_of));
    let mut renamed: Vec<(String, String)> = Vec::new();
    let mut added_text = String::new();
    let mut added = Vec::new();
    for (l, _) in other_lines.iter().zip(&takes).filter(|(_, t)| **t) {
        let Some(p) = &l.prop else { continue };
        let line = match group_of(l) {
            Some(g) if keep_groups.contains(&g) => {
                let to = match renamed.iter().find(|(from, _)| *from == g) {
                    Some((_, to)) => to.clone(),
                    None => {
                        let to = (1..).map(|n| format!("item{n}")).find(|c| !in_use.contains(c)).unwrap_or_default();
                        in_use.insert(to.clone());
                        renamed.push((g.clone(), to.clone()));
                        to
                    }
                };
                let rest = &l.text[p.group.as_ref().map_or(0, String::len)..];
                added.push(format!("{to}{}", &p.raw[p.group.as_ref().map_or(0, String::len)..]));
                format!("{to}{rest}")
            }
            _ => {
                added.push(p.raw.clone());
                l.text.to_string()
            }
        };
        added_text.push_str(&line);
        if !added_text.ends_with('\n') {
            added_text.push_str("\r\n");
        }
    }
    for line in extra {
        added_text.push_str(&line);
        added_text.push_str("\r\n");
        added.push(line);
    }

    let keep_text = String::from_utf8_lossy(&keep);
    let end_at = {
        let mut offset = 0;
        let mut end_at = keep_text.len();
        for l in lines(&keep_text) {
            if l.text.trim_end().eq_ignore_ascii_case("END:VCARD") {
                end_at = offset;
            }
            offset += l.text.len();
        }
        end_at
    };
    let mut out = String::with_capacity(keep_text.len() + added_text.len());
    out.push_str(&keep_text[..end_at]);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str("\r\n");
    }
    out.push_str(&added_text);
    out.push_str(&keep_text[end_at..]);
    Ok(Merged { bytes: out.into_bytes(), added, not_kept })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANN: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ann-1\r\nFN:Ann Lee\r\nN:Lee;Ann;;;\r\n\
        item1.EMAIL;TYPE=INTERNET:Ann.Lee@Example.com\r\nitem1.X-ABLabel:_$!<Work>!$_\r\n\
        TEL;TYPE=CELL:+1 415 555 0100\r\nBDAY:1980-01-02\r\nEND:VCARD\r\n";
    const ANN_TOO: &str = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:other\r\nFN:Annie Lee\r\nN:Lee;Annie;;;\r\n\
        EMAIL:ann.lee@example.com\r\nitem1.EMAIL:ann@home.example\r\nitem1.X-ABLabel:home\r\n\
        TEL;VALUE=uri;TYPE=work:tel:(415) 555-0100\r\nTEL:+44 20 7946 0018\r\nBDAY:19810203\r\nORG:Lee & Co\r\n\
        NOTE:met at the fair\\, 2019\r\nX-CUSTOM;X-P=1:kept\r\nEND:VCARD\r\n";

    fn merged() -> (Merged, String) {
        let m = merge(ANN.as_bytes(), ANN_TOO.as_bytes()).unwrap();
        let text = String::from_utf8(m.bytes.clone()).unwrap();
        (m, text)
    }

    #[test]
    fn the_survivor_keeps_its_bytes_and_gains_what_it_did_not_say() {
        let (m, text) = merged();
        assert!(text.starts_with(ANN.trim_end_matches("END:VCARD\r\n")), "the survivor's lines stand: {text}");
        assert!(text.ends_with("END:VCARD\r\n"));
        for line in ["ORG:Lee & Co", "NOTE:met at the fair\\, 2019", "X-CUSTOM;X-P=1:kept", "TEL:+44 20 7946 0018"] {
            assert!(text.contains(line), "{line} missing from {text}");
        }
        // The same address in another case and the same number written otherwise are not said twice.
        assert_eq!(text.matches("EMAIL").count(), 2, "{text}");
        assert_eq!(text.to_lowercase().matches("415").count(), 1, "{text}");
        let card = parse(&m.bytes).unwrap();
        assert_eq!(card.version, Version::V30);
        assert_eq!(card.props.iter().filter(|p| p.name == "UID").count(), 1);
        assert_eq!(card.props.iter().find(|p| p.name == "UID").unwrap().value, "ann-1");
    }

    #[test]
    fn an_item_group_moves_whole_and_renamed_where_the_survivor_uses_its_name() {
        let (_, text) = merged();
        assert!(text.contains("item2.EMAIL:ann@home.example\r\nitem2.X-ABLabel:home\r\n"), "{text}");
        assert!(text.contains("item1.EMAIL;TYPE=INTERNET:Ann.Lee@Example.com\r\nitem1.X-ABLabel:_$!<Work>!$_"));
    }

    #[test]
    fn single_valued_properties_keep_the_survivors_and_say_what_was_not_kept() {
        let (m, text) = merged();
        assert_eq!(text.matches("\r\nFN:").count(), 1);
        assert_eq!(text.matches("\r\nBDAY:").count(), 1);
        assert!(text.contains("BDAY:1980-01-02"));
        assert!(m.not_kept.iter().any(|l| l.starts_with("BDAY")), "{:?}", m.not_kept);
        assert!(m.not_kept.iter().any(|l| l == "FN:Annie Lee"));
        // The other name stays findable.
        assert!(text.contains("NICKNAME:Annie Lee\r\n"), "{text}");
    }

    #[test]
    fn merging_a_card_with_itself_changes_nothing() {
        let m = merge(ANN.as_bytes(), ANN.as_bytes()).unwrap();
        assert_eq!(m.bytes, ANN.as_bytes());
        assert!(m.added.is_empty() && m.not_kept.is_empty());
    }

    #[test]
    fn a_missing_single_valued_property_is_taken() {
        let keep = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:A\r\nEND:VCARD\r\n";
        let other = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:b\r\nFN:A\r\nBDAY:1990-05-06\r\nEND:VCARD\r\n";
        let m = merge(keep.as_bytes(), other.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(m.bytes).unwrap(),
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:A\r\nBDAY:1990-05-06\r\nEND:VCARD\r\n"
        );
    }

    #[test]
    fn phone_and_email_keys() {
        assert_eq!(phone_key("+1 (415) 555-0100"), phone_key("415.555.0100"));
        assert_eq!(phone_key("0044 20 7946 0018"), phone_key("020 7946 0018"));
        assert_ne!(phone_key("+1 555 0100"), phone_key("+1 555 0101"));
        assert_eq!(phone_key("x123"), None);
        assert_eq!(email_key(" mailto:Bo@Example.COM "), Some("bo@example.com".into()));
        assert_eq!(email_key("not an address"), None);
    }
}
