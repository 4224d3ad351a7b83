//! Hidden fields: a label's owner hides properties (`TEL`, or `TEL;TYPE=CELL`, `ADR`, `NOTE` …)
//! from a collaborator. What that collaborator reads is the card without those lines; what they write back is
//! merged with the hidden lines they could not see, so their edit never erases them.
//!
//! Both work on content lines as received (folds and line endings kept), so filtering a merged card gives back
//! exactly the bytes the collaborator sent, and the ETag they hold stays right.

use super::parse::{Property, parse, parse_line};
use super::{VCardError, convert};

/// Properties a card cannot be without (structure, identity, RFC 6350 §6.2.1 FN and RFC 2426 N).
const NEVER_HIDDEN: [&str; 6] = ["BEGIN", "END", "VERSION", "UID", "FN", "N"];

/// Apple's per-item annotations: hidden along with the property of their item group (`item1.TEL` with
/// `item1.X-ABLabel`), or the label would be left dangling.
const ANNOTATIONS: [&str; 2] = ["X-ABLABEL", "X-ABADR"];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    name: String,
    ty: Option<String>,
}

/// One grant's hidden properties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HiddenFields {
    rules: Vec<Rule>,
}

impl HiddenFields {
    /// Reads `NAME` or `NAME;TYPE=VALUE` entries (case-insensitive), refusing what a card cannot lose.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<HiddenFields, String> {
        let mut rules: Vec<Rule> = Vec::new();
        for item in items {
            let item = item.as_ref().trim();
            let (name, ty) = match item.split_once(';') {
                None => (item, None),
                Some((n, param)) => {
                    let (k, v) = param.split_once('=').ok_or_else(|| format!("'{item}': write NAME;TYPE=VALUE"))?;
                    if !k.trim().eq_ignore_ascii_case("TYPE") || v.trim().is_empty() {
                        return Err(format!("'{item}': only a TYPE can narrow a hidden property"));
                    }
                    (n, Some(v.trim().to_ascii_uppercase()))
                }
            };
            let name = name.trim().to_ascii_uppercase();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(format!("'{item}' is not a vCard property name"));
            }
            if NEVER_HIDDEN.contains(&name.as_str()) {
                return Err(format!("{name} cannot be hidden: every card needs it"));
            }
            if ty.as_deref().is_some_and(|t| !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')) {
                return Err(format!("'{item}': a TYPE is letters, digits and '-'"));
            }
            let rule = Rule { name, ty };
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
        Ok(HiddenFields { rules })
    }

    /// The entries, in canonical form (`TEL`, `TEL;TYPE=CELL`).
    pub fn items(&self) -> Vec<String> {
        self.rules
            .iter()
            .map(|r| match &r.ty {
                Some(t) => format!("{};TYPE={t}", r.name),
                None => r.name.clone(),
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn hides(&self, p: &Property) -> bool {
        self.rules.iter().any(|r| {
            r.name == p.name
                && r.ty.as_deref().is_none_or(|t| {
                    // TYPE=cell,voice and TYPE="cell,voice" both name two types.
                    p.params
                        .iter()
                        .filter(|x| x.name == "TYPE")
                        .flat_map(|x| x.values.iter())
                        .flat_map(|v| v.split(','))
                        .any(|v| v.trim().eq_ignore_ascii_case(t))
                })
        })
    }
}

/// A content line as received: its text (folds and line ending included) and its parsed property.
pub(super) struct Line<'a> {
    pub(super) text: &'a str,
    pub(super) prop: Option<Property>,
}

/// Splits a card into content lines, following the parser's unfolding (RFC 6350 §3.2 folds; vCard 2.1
/// quoted-printable soft line breaks).
pub(super) fn lines(text: &str) -> Vec<Line<'_>> {
    let mut spans: Vec<(usize, usize, String)> = Vec::new();
    let mut at = 0;
    for phys in text.split_inclusive('\n') {
        let start = at;
        at += phys.len();
        let content = phys.trim_end_matches(['\r', '\n']);
        if let Some(last) = spans.last_mut() {
            let folded = content.starts_with([' ', '\t']);
            let qp_soft = {
                let head = last.2.split(':').next().unwrap_or("").to_ascii_uppercase();
                head.contains("QUOTED-PRINTABLE") && last.2.ends_with('=')
            };
            if folded || qp_soft {
                // As the parser does: after a soft line break the whole next line is value (RFC 2045 §6.7).
                if qp_soft {
                    last.2.pop();
                    last.2.push_str(content);
                } else {
                    last.2.push_str(&content[1..]);
                }
                last.1 = at;
                continue;
            }
        }
        spans.push((start, at, content.to_string()));
    }
    spans.into_iter().map(|(s, e, unfolded)| Line { text: &text[s..e], prop: parse_line(&unfolded) }).collect()
}

/// Which lines `hides` takes away: the hidden properties and their items' annotations.
fn hidden_mask(lines: &[Line<'_>], hides: &dyn Fn(&Property) -> bool) -> Vec<bool> {
    let mut mask: Vec<bool> = lines
        .iter()
        .map(|l| l.prop.as_ref().is_some_and(|p| !NEVER_HIDDEN.contains(&p.name.as_str()) && hides(p)))
        .collect();
    let groups: Vec<String> = lines
        .iter()
        .zip(&mask)
        .filter(|(_, hidden)| **hidden)
        .filter_map(|(l, _)| l.prop.as_ref()?.group.as_ref().map(|g| g.to_ascii_lowercase()))
        .collect();
    if !groups.is_empty() {
        for (l, m) in lines.iter().zip(mask.iter_mut()) {
            if let Some(p) = &l.prop
                && ANNOTATIONS.contains(&p.name.as_str())
                && p.group.as_ref().is_some_and(|g| groups.contains(&g.to_ascii_lowercase()))
            {
                *m = true;
            }
        }
    }
    mask
}

/// The card without what `hides` hides, or `None` when nothing in it is hidden (the stored bytes stand).
pub fn filter(bytes: &[u8], hides: &dyn Fn(&Property) -> bool) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(bytes);
    let lines = lines(&text);
    let mask = hidden_mask(&lines, hides);
    if !mask.contains(&true) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    for (l, hidden) in lines.iter().zip(mask) {
        if !hidden {
            out.push_str(l.text);
        }
    }
    Some(out.into_bytes())
}

/// The card to store when a collaborator who cannot see what `hides` hides writes `sent` over `stored`: their
/// card, plus the hidden lines of the stored one (in the sent card's version, with item groups renamed where
/// they collide). `filter` of the result is `sent` again, byte for byte, unless `sent` itself holds lines that
/// are hidden from its writer (those are kept: nothing a client sends is dropped).
pub fn merge(sent: &[u8], stored: &[u8], hides: &dyn Fn(&Property) -> bool) -> Result<Vec<u8>, VCardError> {
    let sent_card = parse(sent)?;
    let stored = match parse(stored)?.version == sent_card.version {
        true => stored.to_vec(),
        false => convert(stored, sent_card.version)?,
    };
    let stored_text = String::from_utf8_lossy(&stored);
    let stored_lines = lines(&stored_text);
    let mask = hidden_mask(&stored_lines, hides);
    if !mask.contains(&true) {
        return Ok(sent.to_vec());
    }
    let sent_groups: Vec<String> =
        sent_card.props.iter().filter_map(|p| p.group.as_ref()).map(|g| g.to_ascii_lowercase()).collect();
    // Group names in use on either side: a renamed hidden item must collide with neither.
    let mut taken = sent_groups.clone();
    taken.extend(stored_lines.iter().filter_map(|l| l.prop.as_ref()?.group.as_ref()).map(|g| g.to_ascii_lowercase()));
    let mut renamed: Vec<(String, String)> = Vec::new();
    let mut kept = String::new();
    for (l, hidden) in stored_lines.iter().zip(mask) {
        if !hidden {
            continue;
        }
        let group = l.prop.as_ref().and_then(|p| p.group.clone());
        match group {
            Some(g) if sent_groups.contains(&g.to_ascii_lowercase()) => {
                let key = g.to_ascii_lowercase();
                let fresh = match renamed.iter().find(|(from, _)| *from == key) {
                    Some((_, to)) => to.clone(),
                    None => {
                        let to = (1..)
                            .map(|n| format!("item{n}"))
                            .find(|c| !taken.contains(c))
                            .unwrap_or_else(|| format!("hidden{}", renamed.len()));
                        taken.push(to.clone());
                        renamed.push((key, to.clone()));
                        to
                    }
                };
                kept.push_str(&fresh);
                kept.push_str(&l.text[g.len()..]);
            }
            _ => kept.push_str(l.text),
        }
        if !kept.ends_with('\n') {
            kept.push_str("\r\n");
        }
    }
    let sent_text = String::from_utf8_lossy(sent);
    let sent_lines = lines(&sent_text);
    let mut end_at = sent_text.len();
    let mut offset = 0;
    for l in &sent_lines {
        if l.text.trim_end().eq_ignore_ascii_case("END:VCARD") {
            end_at = offset;
        }
        offset += l.text.len();
    }
    let mut out = String::with_capacity(sent_text.len() + kept.len());
    out.push_str(&sent_text[..end_at]);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str("\r\n");
    }
    out.push_str(&kept);
    out.push_str(&sent_text[end_at..]);
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(items: &[&str]) -> HiddenFields {
        HiddenFields::parse(items).unwrap()
    }

    fn filtered(card: &str, h: &HiddenFields) -> String {
        let out = filter(card.as_bytes(), &|p| h.hides(p)).unwrap_or_else(|| card.as_bytes().to_vec());
        String::from_utf8(out).unwrap()
    }

    const IOS: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.0//EN\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nitem1.TEL;type=pref:+1 555 0100\r\nitem1.X-ABLabel:_$!<Mobile>!$_\r\nTEL;type=WORK;type=VOICE:+1 555 0199\r\nitem2.EMAIL;type=INTERNET:jane@example.com\r\nitem2.X-ABLabel:private\r\nNOTE:likes to be called\r\n  before noon\r\nUID:jane\r\nEND:VCARD\r\n";

    #[test]
    fn entries_are_checked_and_canonical() {
        assert_eq!(rules(&["tel; type = cell", "NOTE", "NOTE"]).items(), vec!["TEL;TYPE=CELL", "NOTE"]);
        for bad in ["UID", "fn", "N", "TEL;LABEL=x", "TEL;TYPE=", "", "TE L", "TEL;TYPE=a b"] {
            assert!(HiddenFields::parse(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn filtering_drops_hidden_lines_with_their_item_labels_and_folds() {
        let h = rules(&["TEL", "NOTE"]);
        let out = filtered(IOS, &h);
        assert!(!out.contains("555"), "{out}");
        assert!(!out.contains("Mobile"), "the item's label goes with it");
        assert!(!out.contains("before noon"), "a folded line goes whole");
        assert!(out.contains("item2.X-ABLabel:private\r\n") && out.contains("UID:jane\r\n"));
        assert!(filter(IOS.as_bytes(), &|p| rules(&["ADR"]).hides(p)).is_none(), "nothing hidden: None");
        let cell = rules(&["TEL;TYPE=WORK"]);
        let out = filtered(IOS, &cell);
        assert!(out.contains("+1 555 0100") && !out.contains("0199"), "{out}");
        let v4 = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:X\r\nUID:x\r\nTEL;TYPE=\"cell,voice\":1\r\nTEL;TYPE=home:2\r\nEND:VCARD\r\n";
        assert!(!filtered(v4, &rules(&["TEL;TYPE=CELL"])).contains(":1\r\n"));
    }

    #[test]
    fn a_collaborators_edit_keeps_what_they_could_not_see() {
        let h = rules(&["TEL", "NOTE"]);
        let hides = |p: &Property| h.hides(p);
        // What the collaborator saw, edited the way iOS does: items renumbered, a new item1 of its own.
        let seen = filtered(IOS, &h);
        assert!(seen.contains("item2.EMAIL"));
        let sent = seen.replace("item2.", "item1.").replace("FN:Jane Doe", "FN:Jane Q. Doe");
        let merged = merge(sent.as_bytes(), IOS.as_bytes(), &hides).unwrap();
        let merged_text = String::from_utf8(merged.clone()).unwrap();
        assert!(merged_text.contains("FN:Jane Q. Doe"));
        assert!(merged_text.contains(":+1 555 0100") && merged_text.contains("+1 555 0199"));
        assert!(merged_text.contains("NOTE:likes to be called\r\n  before noon\r\n"), "{merged_text}");
        // The hidden item1 collided with the sender's item1: it moved to a free group, with its label.
        let tel_group = merged_text.lines().find(|l| l.ends_with("+1 555 0100")).unwrap().split('.').next().unwrap();
        assert_ne!(tel_group, "item1");
        assert!(merged_text.contains(&format!("{tel_group}.X-ABLabel:_$!<Mobile>!$_")));
        assert!(merged_text.ends_with("END:VCARD\r\n"));
        // What the collaborator reads back is exactly what they sent.
        assert_eq!(filter(&merged, &hides).unwrap(), sent.as_bytes());
        assert!(parse(&merged).is_ok());
    }

    #[test]
    fn merging_across_versions_converts_the_hidden_lines() {
        let h = rules(&["PHOTO"]);
        let stored = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:P\r\nN:P;;;;\r\nUID:p\r\nPHOTO;ENCODING=b;TYPE=JPEG:AAAA\r\nEND:VCARD\r\n";
        let sent = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:P2\r\nUID:p\r\nEND:VCARD\r\n";
        let merged = String::from_utf8(merge(sent.as_bytes(), stored.as_bytes(), &|p| h.hides(p)).unwrap()).unwrap();
        assert!(merged.contains("PHOTO:data:image/jpeg;base64,AAAA"), "{merged}");
        assert!(merged.starts_with("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:P2\r\n"));
        // Nothing hidden in the stored card: the sent card stands as is.
        let plain = merge(sent.as_bytes(), sent.as_bytes(), &|p| h.hides(p)).unwrap();
        assert_eq!(plain, sent.as_bytes());
    }
}
