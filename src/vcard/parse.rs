//! Content-line parser. Keeps every property, with its original unfolded text, in order.

use super::{VCardError, Version};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Upper-cased name; a vCard 2.1 bare parameter (`TEL;CELL:`) is reported as TYPE.
    pub name: String,
    /// Values with surrounding quotes removed, split on unquoted commas.
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub group: Option<String>,
    /// Upper-cased property name.
    pub name: String,
    pub params: Vec<Param>,
    /// The raw value text after the first unquoted colon, still escaped.
    pub value: String,
    /// The whole unfolded content line as received.
    pub raw: String,
}

impl Property {
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    pub fn has_type(&self, ty: &str) -> bool {
        self.params
            .iter()
            .filter(|p| p.name == "TYPE")
            .flat_map(|p| p.values.iter())
            .any(|v| v.eq_ignore_ascii_case(ty))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VCard {
    pub version: Version,
    /// Every property between BEGIN and END except VERSION, in order.
    pub props: Vec<Property>,
}

/// What is known of the head (name and parameters, up to the first colon) of the logical line being built, fed
/// piece by piece as the line grows: each piece is looked at once, so unfolding stays linear however many
/// pieces a line has (a head with no colon used to be scanned again for every soft line break).
#[derive(Default)]
struct Head {
    /// The colon was seen: later pieces are value.
    closed: bool,
    quoted_printable: bool,
    /// The last bytes of the head so far, upper-cased, so a marker split between two pieces is still found.
    tail: Vec<u8>,
}

const QP_MARKER: &[u8] = b"QUOTED-PRINTABLE";

impl Head {
    fn feed(&mut self, piece: &str) {
        if self.closed {
            return;
        }
        let head = match piece.find(':') {
            Some(i) => {
                self.closed = true;
                &piece[..i]
            }
            None => piece,
        };
        if self.quoted_printable {
            return;
        }
        let mut window = std::mem::take(&mut self.tail);
        window.extend(head.bytes().map(|b| b.to_ascii_uppercase()));
        self.quoted_printable = window.windows(QP_MARKER.len()).any(|w| w == QP_MARKER);
        let keep = window.len().saturating_sub(QP_MARKER.len() - 1);
        self.tail = window.split_off(keep);
    }
}

/// Unfolds lines (CRLF or bare LF, continuation lines start with space or tab) and, for vCard 2.1
/// quoted-printable values, joins soft line breaks.
fn unfold(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut head = Head::default();
    let mut qp_continues = false;
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if qp_continues && let Some(last) = out.last_mut() {
            // What follows a soft line break is value, a leading blank included (RFC 2045 §6.7 rule 5).
            last.1.push_str(line);
            head.feed(line);
        } else if let Some(rest) = line.strip_prefix([' ', '\t'])
            && let Some(last) = out.last_mut()
        {
            last.1.push_str(rest);
            head.feed(rest);
        } else {
            if line.is_empty() {
                continue;
            }
            out.push((i + 1, line.to_string()));
            head = Head::default();
            head.feed(line);
        }
        qp_continues = head.quoted_printable && out.last().is_some_and(|(_, l)| l.ends_with('='));
        if qp_continues && let Some(last) = out.last_mut() {
            last.1.pop();
        }
    }
    out
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Parses one unfolded content line: `[group "."] name *(";" param) ":" value`.
pub(super) fn parse_line(line: &str) -> Option<Property> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() && (is_name_char(bytes[i] as char) || bytes[i] == b'.') {
        i += 1;
    }
    let head = &line[..i];
    if head.is_empty() {
        return None;
    }
    let (group, name) = match head.rfind('.') {
        Some(dot) => (Some(head[..dot].to_string()), &head[dot + 1..]),
        None => (None, head),
    };
    if name.is_empty() || group.as_deref() == Some("") {
        return None;
    }
    let mut params = Vec::new();
    let rest = &line[i..];
    let mut chars = rest.char_indices().peekable();
    let value_start;
    loop {
        match chars.next() {
            Some((pos, ':')) => {
                value_start = i + pos + 1;
                break;
            }
            Some((_, ';')) => {
                // One parameter up to the next unquoted ';' or ':'.
                let mut pname = String::new();
                let mut pvalue = String::new();
                let mut has_value = false;
                let mut in_quotes = false;
                while let Some(&(_, c)) = chars.peek() {
                    if !in_quotes && (c == ';' || c == ':') {
                        break;
                    }
                    chars.next();
                    if !has_value {
                        if c == '=' {
                            has_value = true;
                        } else {
                            pname.push(c);
                        }
                    } else {
                        if c == '"' {
                            in_quotes = !in_quotes;
                        }
                        pvalue.push(c);
                    }
                }
                if in_quotes || pname.is_empty() {
                    return None;
                }
                let param = if has_value {
                    let name = pname.trim().to_ascii_uppercase();
                    let mut values = split_param_values(&pvalue);
                    if name == "TYPE" {
                        // RFC 6350 §5.6 writes a list of types quoted (`TYPE="work,voice"`): still two types.
                        values = values.iter().flat_map(|v| v.split(',')).map(str::to_string).collect();
                    }
                    Param { name, values }
                } else {
                    Param { name: "TYPE".to_string(), values: vec![pname.trim().to_string()] }
                };
                params.push(param);
            }
            _ => return None,
        }
    }
    Some(Property {
        group,
        name: name.to_ascii_uppercase(),
        params,
        value: line[value_start..].to_string(),
        raw: line.to_string(),
    })
}

fn split_param_values(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    for c in v.chars() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// How deep embedded cards (AGENT) may nest.
const MAX_NESTED_CARDS: usize = 3;

/// Parses exactly one vCard. vCard 2.1 may arrive in a legacy charset: each line is decoded in the charset it
/// names (the stored bytes stay as received).
pub fn parse(bytes: &[u8]) -> Result<VCard, VCardError> {
    let text = super::charset::card_text(bytes);
    if matches!(text, std::borrow::Cow::Owned(_)) && !text.to_ascii_uppercase().contains("VERSION:2.1") {
        return Err(VCardError::NotUtf8);
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let lines = unfold(text);
    let mut iter = lines.into_iter();
    match iter.next() {
        Some((_, l)) if l.trim_end().eq_ignore_ascii_case("BEGIN:VCARD") => {}
        _ => return Err(VCardError::NoBegin),
    }
    let mut version = None;
    let mut props: Vec<Property> = Vec::new();
    let mut ended = false;
    while let Some((n, line)) = iter.next() {
        if line.trim().is_empty() {
            continue;
        }
        if line.trim_end().eq_ignore_ascii_case("END:VCARD") {
            ended = true;
            break;
        }
        if line.trim_end().eq_ignore_ascii_case("BEGIN:VCARD") {
            // vCard 2.1 §2.4.2: an AGENT's card follows it on lines of its own. It becomes the AGENT's value as
            // 3.0 writes it (RFC 2426 §3.5.4: the card as one escaped TEXT value), so it stays inside its card.
            let Some(agent) = props.last_mut().filter(|p| p.name == "AGENT" && p.value.trim().is_empty()) else {
                return Err(VCardError::BadLine(n));
            };
            let mut nested = vec![line];
            let mut depth = 1;
            for (_, l) in iter.by_ref() {
                let t = l.trim_end();
                if t.eq_ignore_ascii_case("BEGIN:VCARD") {
                    depth += 1;
                    // Agents of agents exist; deeper nesting is only a way to make conversion recurse.
                    if depth > MAX_NESTED_CARDS {
                        return Err(VCardError::BadLine(n));
                    }
                } else if t.eq_ignore_ascii_case("END:VCARD") {
                    depth -= 1;
                }
                nested.push(l);
                if depth == 0 {
                    break;
                }
            }
            if depth > 0 {
                return Err(VCardError::NoEnd);
            }
            let value = super::escape_text(&(nested.join("\n") + "\n"));
            agent.raw = format!("{}{value}", &agent.raw[..agent.raw.len() - agent.value.len()]);
            agent.value = value;
            continue;
        }
        let prop = parse_line(&line).ok_or(VCardError::BadLine(n))?;
        if prop.name == "VERSION" && prop.group.is_none() {
            let v = prop.value.trim();
            version = Some(Version::from_value(v).ok_or_else(|| VCardError::UnsupportedVersion(v.to_string()))?);
            continue;
        }
        props.push(prop);
    }
    if !ended {
        return Err(VCardError::NoEnd);
    }
    if iter.any(|(_, l)| !l.trim().is_empty()) {
        return Err(VCardError::SeveralCards);
    }
    let version = version.ok_or(VCardError::MissingVersion)?;
    Ok(VCard { version, props })
}
