//! The legacy charsets of vCard 2.1 (its §2.1.5 CHARSET parameter; 3.0 and 4.0 are UTF-8 only). Text is decoded
//! once, here, so everything after the parser sees UTF-8.

use encoding_rs::{Encoding, WINDOWS_1252};
use std::borrow::Cow;

/// Bytes in the charset a CHARSET parameter names (any WHATWG label: `Shift_JIS`, `KOI8-R`, `ISO-8859-2`, …).
/// Without one, or with a name nobody knows: UTF-8 when the bytes are UTF-8, else Windows-1252, which is what
/// the old Outlook and Windows address books that leave it out write.
pub fn decode(bytes: &[u8], charset: Option<&str>) -> String {
    let named = charset.and_then(|c| Encoding::for_label(c.trim().as_bytes()));
    let encoding = match named {
        Some(e) => e,
        None => match std::str::from_utf8(bytes) {
            Ok(text) => return text.to_string(),
            Err(_) => WINDOWS_1252,
        },
    };
    encoding.decode_without_bom_handling(bytes).0.into_owned()
}

/// A whole card's text. A card that is not UTF-8 is decoded a logical line at a time, each in the charset its
/// CHARSET parameter names (a 2.1 card may mix them), its continuation lines with it.
pub fn card_text(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 4);
    let mut encoding = WINDOWS_1252;
    let mut quoted_printable = false;
    let mut soft_break = false;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let continues = soft_break || line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if !continues {
            let head = head_upper(line);
            encoding = charset_in(&head).and_then(|c| Encoding::for_label(c.as_bytes())).unwrap_or(WINDOWS_1252);
            quoted_printable = head.contains("QUOTED-PRINTABLE");
        }
        out.push_str(&encoding.decode_without_bom_handling(line).0);
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        soft_break = quoted_printable && content.ends_with(b"=");
    }
    Cow::Owned(out)
}

/// The name and parameters of a content line (up to its first colon), upper-cased.
fn head_upper(line: &[u8]) -> String {
    let end = line.iter().position(|&b| b == b':').unwrap_or(line.len());
    String::from_utf8_lossy(&line[..end]).to_ascii_uppercase()
}

fn charset_in(head: &str) -> Option<String> {
    let at = head.find("CHARSET=")? + "CHARSET=".len();
    let value = head[at..].split([';', ':']).next()?.trim_matches('"');
    Some(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_is_read_in_its_own_charset() {
        // Shift_JIS "山田" and KOI8-R "Иван" in one card, and an unnamed Windows-1252 line.
        let mut card =
            b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=SHIFT_JIS:\x8eR\x93c;\r\nFN;CHARSET=KOI8-R:\xe9\xd7\xc1\xce\r\n"
                .to_vec();
        card.extend_from_slice(b"NOTE:\x93caf\xe9\x94\r\nEND:VCARD\r\n");
        let text = card_text(&card);
        assert!(text.contains("N;CHARSET=SHIFT_JIS:山田;\r\n"), "{text}");
        assert!(text.contains("FN;CHARSET=KOI8-R:Иван\r\n"), "{text}");
        assert!(text.contains("NOTE:“café”\r\n"), "{text}");
    }

    #[test]
    fn named_charsets_win_and_unknown_ones_fall_back() {
        assert_eq!(decode(b"\xc4\xe5\xed\xfc", Some("windows-1251")), "День");
        assert_eq!(decode("Grüße".as_bytes(), None), "Grüße");
        assert_eq!(decode(b"Gr\xfc\xdfe", None), "Grüße");
        assert_eq!(decode(b"Gr\xfc\xdfe", Some("x-unheard-of")), "Grüße");
    }
}
