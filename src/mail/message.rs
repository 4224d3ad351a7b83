//! RFC 5322 messages with a UTF-8 text body (RFC 2045 quoted-printable, RFC 2047 encoded words in headers).
//! Pure: no IO.

use std::time::SystemTime;

/// What one message says.
#[derive(Debug, Clone)]
pub struct Message {
    /// The From header as configured, `Name <addr>` or a bare address.
    pub from: String,
    pub to: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: String,
}

/// The address inside a mailbox such as `Labelbook <contacts@example.com>`, checked to be one address (so a
/// configured sender can never smuggle in a second header or recipient).
pub fn address_of(mailbox: &str) -> Option<&str> {
    let m = mailbox.trim();
    let addr = match (m.rfind('<'), m.ends_with('>')) {
        (Some(i), true) => {
            let name = m[..i].trim();
            let quoted = name.len() >= 2 && name.starts_with('"') && name.ends_with('"');
            let inner = if quoted { &name[1..name.len() - 1] } else { name };
            let bad: &[char] = if quoted { &['"', '\\'] } else { &['<', '>', '@', ',', ';', '"', '\\'] };
            if inner.contains(bad) {
                return None;
            }
            &m[i + 1..m.len() - 1]
        }
        (None, false) => m,
        _ => return None,
    };
    let (local, domain) = addr.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && addr.len() <= 254
        && !addr.chars().any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c));
    ok.then_some(addr)
}

impl Message {
    /// The message as sent: CRLF line ends, headers folded or encoded, a quoted-printable body.
    pub fn render(&self, message_id_domain: &str, unique: &str, date: SystemTime) -> String {
        let mut out = String::new();
        let date = httpdate::fmt_http_date(date).replace(" GMT", " +0000");
        header(&mut out, "Date", &date);
        header(&mut out, "From", &mailbox(&self.from));
        header(&mut out, "To", &mailbox(&self.to));
        if let Some(r) = &self.reply_to {
            header(&mut out, "Reply-To", &mailbox(r));
        }
        header(&mut out, "Subject", &encode_words(&one_line(&self.subject)));
        header(&mut out, "Message-ID", &format!("<{unique}@{message_id_domain}>"));
        header(&mut out, "MIME-Version", "1.0");
        header(&mut out, "Content-Type", "text/plain; charset=utf-8");
        header(&mut out, "Content-Transfer-Encoding", "quoted-printable");
        // Machine-sent: no out-of-office replies back to the inviter's colleagues (RFC 3834).
        header(&mut out, "Auto-Submitted", "auto-generated");
        out.push_str("\r\n");
        out.push_str(&quoted_printable(&self.text));
        out
    }
}

fn header(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
}

/// Control characters (a CR or LF in a label name, say) never reach a header: they would start a new one.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// `Display Name <addr>` with the display name encoded when it is not plain ASCII.
fn mailbox(m: &str) -> String {
    let m = one_line(m);
    let Some(addr) = address_of(&m) else { return m };
    let name = m.trim().strip_suffix(&format!("<{addr}>")).unwrap_or("").trim().trim_matches('"').trim();
    if name.is_empty() {
        return addr.to_string();
    }
    if name.is_ascii() && !name.contains(['"', '\\']) {
        format!("\"{name}\" <{addr}>")
    } else {
        format!("{} <{addr}>", encode_words(name))
    }
}

/// RFC 2047 B-encoded words for non-ASCII text, each at most 75 characters and never splitting a character;
/// ASCII text stays as it is.
pub fn encode_words(s: &str) -> String {
    use base64::Engine;
    if s.is_ascii() {
        return s.to_string();
    }
    // 75 - len("=?utf-8?B?") - len("?=") = 63 base64 characters, which carry 45 bytes (a multiple of 3).
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| format!("=?utf-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(w)))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// RFC 2045 §6.7 quoted-printable: lines of at most 76 characters with soft breaks, `=` and non-ASCII bytes
/// escaped, trailing whitespace escaped, and CRLF line ends.
pub fn quoted_printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let normalized = text.replace("\r\n", "\n");
    for line in normalized.split('\n') {
        let mut width = 0;
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let plain = (b == b'\t' || b == b' ') && !last || (33..=126).contains(&b) && b != b'=';
            let piece = if plain { (b as char).to_string() } else { format!("={b:02X}") };
            // Keep room for the soft break's '=' unless this is the line's last piece.
            let room = if last { 76 } else { 75 };
            if width + piece.len() > room {
                out.push_str("=\r\n");
                width = 0;
            }
            width += piece.len();
            out.push_str(&piece);
        }
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_escapes_and_wraps() {
        // RFC 2045 §6.7 rules (1)–(5).
        let qp = quoted_printable("a=b café \nx");
        assert_eq!(qp, "a=3Db caf=C3=A9=20\r\nx\r\n");
        let long = "x".repeat(200);
        let qp = quoted_printable(&long);
        assert!(qp.lines().all(|l| l.len() <= 76), "{qp}");
        assert_eq!(qp.replace("=\r\n", "").trim_end(), long);
    }

    #[test]
    fn headers_never_break_lines_and_encode_utf8() {
        let m = Message {
            from: "Labelbook <contacts@example.com>".into(),
            to: "bob@example.com".into(),
            reply_to: Some("Zoë <zoe@example.com>".into()),
            subject: "Ann shared “Clients”\r\nBcc: evil@example.com with you".into(),
            text: "Hello".into(),
        };
        let r = m.render("example.com", "abc", SystemTime::UNIX_EPOCH);
        let head = r.split("\r\n\r\n").next().unwrap();
        assert!(!head.lines().any(|l| l.starts_with("Bcc")), "{head}");
        assert!(head.contains("Subject: =?utf-8?B?"), "{head}");
        assert!(head.contains("From: \"Labelbook\" <contacts@example.com>"), "{head}");
        assert!(head.contains("Reply-To: =?utf-8?B?"), "{head}");
        assert!(head.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000"), "{head}");
        assert!(head.contains("Message-ID: <abc@example.com>"));
    }

    #[test]
    fn encoded_words_stay_short_and_whole() {
        let s = "é".repeat(100);
        let w = encode_words(&s);
        assert!(w.split("\r\n ").all(|x| x.len() <= 75), "{w}");
    }

    #[test]
    fn addresses_of_mailboxes() {
        assert_eq!(address_of("Labelbook <a@b.c>"), Some("a@b.c"));
        assert_eq!(address_of("a@b.c"), Some("a@b.c"));
        assert_eq!(address_of("a@b.c>"), None);
        assert_eq!(address_of("x <a@b.c>, y <d@e.f>"), None);
        assert_eq!(address_of("nobody"), None);
        assert_eq!(address_of("\"Doe, John\" <a@b.c>"), Some("a@b.c"));
    }
}
