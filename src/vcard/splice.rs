//! An edited card written so that every line the edit did not change keeps the bytes it was received with
//! (folds, line endings, order): a device that compares cards, or a person reading a diff, sees only the edit.

use super::convert::fold_into;
use super::hide::lines;
use super::parse::parse;
use std::collections::{HashMap, VecDeque};

/// `edited` (a card made from `original`'s parsed lines) with the original text of each line it kept. A card of
/// another version, or one the original's lines cannot be matched to, is `edited` as it is.
pub fn splice(original: &[u8], edited: &[u8]) -> Vec<u8> {
    let (Ok(before), Ok(after), Ok(text)) = (parse(original), parse(edited), std::str::from_utf8(original)) else {
        return edited.to_vec();
    };
    if before.version != after.version {
        return edited.to_vec();
    }
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let old = lines(text);
    let is = |l: &super::hide::Line<'_>, name: &str| l.text.trim_end().eq_ignore_ascii_case(name);
    let structural = |l: &super::hide::Line<'_>| {
        is(l, "BEGIN:VCARD")
            || is(l, "END:VCARD")
            || l.prop.as_ref().is_some_and(|p| p.name == "VERSION" && p.group.is_none())
    };
    let mut out = String::with_capacity(edited.len() + 64);
    let push_line = |out: &mut String, t: &str| {
        out.push_str(t);
        if !t.ends_with('\n') {
            out.push_str(eol);
        }
    };
    // BEGIN and VERSION as they were, then the edited card's properties, then END.
    for l in old.iter().filter(|l| structural(l) && !is(l, "END:VCARD")) {
        push_line(&mut out, l.text);
    }
    // Each unchanged property takes the first unused original line of the same content: one pass, not a search
    // per property.
    let mut unused: HashMap<&str, VecDeque<usize>> = HashMap::new();
    for (i, l) in old.iter().enumerate().filter(|(_, l)| !structural(l)) {
        if let Some(p) = &l.prop {
            unused.entry(p.raw.as_str()).or_default().push_back(i);
        }
    }
    for p in &after.props {
        match unused.get_mut(p.raw.as_str()).and_then(VecDeque::pop_front) {
            Some(i) => push_line(&mut out, old[i].text),
            None => {
                let mut folded = String::new();
                fold_into(&mut folded, &p.raw);
                out.push_str(&folded.replace("\r\n", eol));
            }
        }
    }
    match old.iter().rposition(|l| is(l, "END:VCARD")) {
        Some(i) => out.push_str(old[i].text),
        None => out.push_str("END:VCARD\r\n"),
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcard::json::{Patch, apply};

    fn edit(card: &str, patch: &str) -> String {
        let parsed = parse(card.as_bytes()).unwrap();
        let patch: Patch = serde_json::from_str(patch).unwrap();
        let edited = apply(Some(&parsed), "", &patch).unwrap();
        String::from_utf8(splice(card.as_bytes(), &edited)).unwrap()
    }

    // A card as a client wrote it: LF line endings, a fold at 40 columns, Apple's lower-case parameters.
    const CARD: &str = "BEGIN:VCARD\nVERSION:3.0\nPRODID:-//Apple Inc.//iPhone OS 17.0//EN\nN:Doe;Jane;;;\nFN:Jane Doe\nNOTE:a long note folded by its client at\n  forty columns\nitem1.TEL;type=pref:+1 555 0100\nitem1.X-ABLabel:_$!<Mobile>!$_\nUID:jane\nEND:VCARD\n";

    #[test]
    fn an_empty_patch_changes_no_byte() {
        assert_eq!(edit(CARD, "{}"), CARD);
    }

    #[test]
    fn an_edit_changes_only_its_lines() {
        let out = edit(CARD, r#"{"title": "CTO"}"#);
        assert_eq!(out, CARD.replace("UID:jane\n", "UID:jane\nTITLE:CTO\n"), "{out}");
        let out = edit(CARD, r#"{"note": "short"}"#);
        assert!(out.contains("PRODID:-//Apple Inc.//iPhone OS 17.0//EN\nN:Doe;Jane;;;\nFN:Jane Doe\nNOTE:short\nitem1.TEL;type=pref:+1 555 0100\n"), "{out}");
    }
}
