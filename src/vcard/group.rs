//! Group cards for Apple's combined book: a label shown as an `X-ADDRESSBOOKSERVER-KIND:group`
//! vCard whose `X-ADDRESSBOOKSERVER-MEMBER` lines name its contacts by UID, and reading one back when Apple
//! Contacts edits a group. Pure.

use super::convert::fold_into;
use super::{VCard, escape_text as escape};

const MEMBER: &str = "X-ADDRESSBOOKSERVER-MEMBER";
const KIND: &str = "X-ADDRESSBOOKSERVER-KIND";

/// The group card of a label: UID is the label's id, the name its name, members by `urn:uuid:` UID.
pub fn group_card(label_id: &str, name: &str, member_uids: &[String]) -> Vec<u8> {
    let mut out = String::from("BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Labelbook//Labels as groups//EN\r\n");
    let mut line = |l: String| {
        fold_into(&mut out, &l);
        out.push_str("\r\n");
    };
    line(format!("UID:{label_id}"));
    line(format!("N:{};;;;", escape(name)));
    line(format!("FN:{}", escape(name)));
    line(format!("{KIND}:group"));
    for uid in member_uids {
        line(format!("{MEMBER}:urn:uuid:{uid}"));
    }
    out.push_str("END:VCARD\r\n");
    out.into_bytes()
}

/// Whether a card is a group card.
pub fn is_group(card: &VCard) -> bool {
    card.props.iter().any(|p| p.name == KIND && p.value.trim().eq_ignore_ascii_case("group"))
        || card.props.iter().any(|p| p.name == "KIND" && p.value.trim().eq_ignore_ascii_case("group"))
}

/// A group card's name and member UIDs (`urn:uuid:` taken off; vCard 4 `MEMBER` read too).
pub fn read_group(card: &VCard) -> (String, Vec<String>) {
    let name = card.props.iter().find(|p| p.name == "FN").map(|p| super::unescape_text(&p.value)).unwrap_or_default();
    let members = card
        .props
        .iter()
        .filter(|p| p.name == MEMBER || p.name == "MEMBER")
        .map(|p| {
            let v = p.value.trim();
            v.strip_prefix("urn:uuid:").or_else(|| v.strip_prefix("URN:UUID:")).unwrap_or(v).to_string()
        })
        .filter(|u| !u.is_empty())
        .collect();
    (name, members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_card_reads_back_as_it_was_made() {
        let uids: Vec<String> = vec!["a-1".into(), "x".repeat(90)];
        let bytes = group_card("6f1c", "Clients, North; \\ East", &uids);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.lines().all(|l| l.len() <= 75), "{text}");
        assert!(text.contains("FN:Clients\\, North\\; \\\\ East\r\n"));
        let (card, _) = crate::vcard::validate(&bytes, 100).expect("a valid vCard 3.0");
        assert!(is_group(&card));
        assert_eq!(read_group(&card), ("Clients, North; \\ East".to_string(), uids));
    }
}
