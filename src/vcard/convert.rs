//! vCard 2.1 and 3.0 ⇄ 4.0 conversion for clients that ask for another version, and the decoding of legacy
//! encodings (quoted-printable, CHARSET) for readers of the same version.
//!
//! A property the versions write alike is copied from its original line. What differs is rewritten by these
//! rules (RFC 6350 §6 and Appendix A against RFC 2426):
//! - quoted-printable and CHARSET values are decoded; a decoded line break becomes `\n`, and a 2.1 value is
//!   escaped as 3.0/4.0 TEXT (commas, lone backslashes; semicolons where the value is not structured);
//! - inline binaries: `ENCODING=b;TYPE=JPEG` (2.1's `ENCODING=BASE64`, Apple's bare `BASE64`) ⇄ `data:` URIs, the
//!   media type sniffed from the data when no TYPE names it, the comma after `base64` left unescaped;
//! - Apple groups (`X-ADDRESSBOOKSERVER-KIND/MEMBER`) ⇄ `KIND/MEMBER`; `TYPE=pref` ⇄ `PREF=1`;
//! - `LABEL` ⇄ the `LABEL` parameter of the `ADR` it belongs to (same types; RFC 6868 carets in 4.0);
//! - `GEO:lat;lon` ⇄ `geo:lat,lon`, `TZ` offsets `-05:00` ⇄ `-0500`, dates ⇄ 4.0's basic form, Apple's
//!   year-less birthday (`X-APPLE-OMIT-YEAR=1604`) ⇄ `--MMDD`, `tel:` URIs → text numbers;
//! - a property one version lacks is kept under an `X-` name (3.0's AGENT, MAILER, CLASS, SORT-STRING; 4.0's
//!   ANNIVERSARY, GENDER, LANG, RELATED, …), never silently lost; only what means nothing in the other version is
//!   dropped (3.0's NAME and PROFILE, 4.0's CLIENTPIDMAP and the PID, ALTID, CALSCALE and SORT-AS parameters);
//! - FN (both) and N (3.0) are required: a card without them gets them, FN derived from N, ORG, EMAIL or TEL.

use super::{Param, Property, VCard, Version, escape_text, parse::parse, split_components, unescape_text};
use std::collections::{HashMap, VecDeque};

const BINARY_PROPS: [&str; 4] = ["PHOTO", "LOGO", "SOUND", "KEY"];
/// 2.1 and 3.0 properties with no 4.0 counterpart, kept as `X-` properties.
const ONLY_V3: [&str; 4] = ["AGENT", "MAILER", "CLASS", "SORT-STRING"];
/// 4.0 properties with no 3.0 counterpart, kept as `X-` properties.
const ONLY_V4: [&str; 8] = ["ANNIVERSARY", "GENDER", "LANG", "RELATED", "XML", "DEATHDATE", "BIRTHPLACE", "DEATHPLACE"];
/// 4.0 parameters that mean nothing in 3.0.
const PARAMS_ONLY_V4: [&str; 4] = ["PID", "ALTID", "CALSCALE", "SORT-AS"];

/// Converts `bytes` to `target` (2.1 is never written: a request for it gets 3.0). A card already in that
/// version with nothing to decode comes back unchanged, byte for byte.
pub fn convert(bytes: &[u8], target: Version) -> Result<Vec<u8>, super::VCardError> {
    let card = parse(bytes)?;
    let target = if target == Version::V21 { Version::V30 } else { target };
    if card.version == target && !card.props.iter().any(needs_decoding) {
        return Ok(bytes.to_vec());
    }
    Ok(render(&card, target).into_bytes())
}

/// Whether a property is written in a form only vCard 2.1 defines: a quoted-printable value, a charset named,
/// or a bare `BASE64` (which Apple writes in 3.0 too).
pub(super) fn needs_decoding(p: &Property) -> bool {
    p.param("CHARSET").is_some() || is_quoted_printable(p) || is_bare_base64(p)
}

fn is_quoted_printable(p: &Property) -> bool {
    p.params
        .iter()
        .filter(|x| x.name == "ENCODING" || x.name == "TYPE")
        .flat_map(|x| x.values.iter())
        .any(|v| v.eq_ignore_ascii_case("QUOTED-PRINTABLE"))
}

/// A property of a card in `from`, its value decoded to UTF-8 TEXT as 3.0 and 4.0 escape it, its 2.1 forms
/// (bare encodings, `VALUE=URL`) written as 3.0 does. `None` when nothing had to change.
pub(super) fn decoded(p: &Property, from: Version) -> Option<Property> {
    if from != Version::V21 && !needs_decoding(p) {
        return None;
    }
    let mut p = p.clone();
    if is_quoted_printable(&p) {
        let bytes = quoted_printable_bytes(&p.value);
        let charset = p.param("CHARSET").and_then(|c| c.values.first()).cloned();
        p.value = super::charset::decode(&bytes, charset.as_deref());
        p.value = if from == Version::V21 { escape_v21_text(&p.value, &p.name) } else { escape_line_breaks(&p.value) };
    } else if from == Version::V21 {
        p.value = escape_v21_text(&p.value, &p.name);
    }
    let base64 = is_bare_base64(&p)
        || p.param("ENCODING")
            .and_then(|e| e.values.first())
            .is_some_and(|v| v.eq_ignore_ascii_case("BASE64") || v.eq_ignore_ascii_case("B"));
    for param in p.params.iter_mut().filter(|x| x.name == "TYPE") {
        param.values.retain(|v| !is_encoding_word(v));
    }
    p.params.retain(|x| !(x.name == "CHARSET" || x.name == "ENCODING" || (x.name == "TYPE" && x.values.is_empty())));
    if base64 {
        p.params.insert(0, Param { name: "ENCODING".into(), values: vec!["b".into()] });
    }
    for param in p.params.iter_mut().filter(|x| x.name == "VALUE") {
        for v in &mut param.values {
            if v.eq_ignore_ascii_case("URL") {
                *v = "uri".into();
            }
        }
    }
    Some(p)
}

fn is_encoding_word(v: &str) -> bool {
    ["QUOTED-PRINTABLE", "BASE64", "B", "8BIT", "7BIT"].iter().any(|e| v.eq_ignore_ascii_case(e))
}

/// Apple's `PHOTO;BASE64:` and 2.1's `PHOTO;JPEG;BASE64:`: the encoding written as a bare parameter.
fn is_bare_base64(p: &Property) -> bool {
    p.params.iter().filter(|x| x.name == "TYPE").flat_map(|x| x.values.iter()).any(|v| {
        v.eq_ignore_ascii_case("BASE64") || (v.eq_ignore_ascii_case("B") && BINARY_PROPS.contains(&p.name.as_str()))
    })
}

fn quoted_printable_bytes(value: &str) -> Vec<u8> {
    let src = value.as_bytes();
    let mut bytes = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        if src[i] == b'='
            && i + 2 < src.len()
            && let (Some(h), Some(l)) = (hex(src[i + 1]), hex(src[i + 2]))
        {
            bytes.push(h * 16 + l);
            i += 3;
            continue;
        }
        bytes.push(src[i]);
        i += 1;
    }
    bytes
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// A decoded value's line breaks (CRLF, LF or CR) as the `\n` escape: a raw one would end the content line.
fn escape_line_breaks(v: &str) -> String {
    v.replace("\r\n", "\\n").replace(['\r', '\n'], "\\n")
}

/// vCard 2.1 escapes only `;` in compound values; 3.0 and 4.0 TEXT also escape `,` and `\` (RFC 6350 §3.4), and
/// `;` wherever the value is not structured. Escapes a 2.1 writer already used (`\n`, `\,`, `\\`) stay.
fn escape_v21_text(v: &str, name: &str) -> String {
    const TEXT: [&str; 8] = ["FN", "N", "ADR", "ORG", "TITLE", "ROLE", "NOTE", "LABEL"];
    if !TEXT.contains(&name) {
        return escape_line_breaks(v);
    }
    let structured = matches!(name, "N" | "ADR" | "ORG");
    let mut out = String::with_capacity(v.len() + 8);
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ (';' | ',' | '\\' | 'n' | 'N')) => {
                    out.push('\\');
                    out.push(n);
                    chars.next();
                }
                _ => out.push_str("\\\\"),
            },
            ',' => out.push_str("\\,"),
            ';' if !structured => out.push_str("\\;"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn render(card: &VCard, target: Version) -> String {
    let from = card.version;
    let props: Vec<(Property, bool)> = card
        .props
        .iter()
        .map(|p| match decoded(p, from) {
            Some(d) => (d, true),
            None => (p.clone(), false),
        })
        .collect();
    let mut out = String::with_capacity(card.props.iter().map(|p| p.raw.len() + 8).sum::<usize>() + 64);
    out.push_str("BEGIN:VCARD\r\nVERSION:");
    out.push_str(target.as_str());
    out.push_str("\r\n");
    if !props.iter().any(|(p, _)| p.name == "FN") {
        let all: Vec<&Property> = props.iter().map(|(p, _)| p).collect();
        fold_into(&mut out, &format!("FN:{}", escape_text(&derived_full_name(&all))));
    }
    let labels = if target == Version::V40 { pair_labels(&props) } else { LabelPairs::default() };
    for (i, (prop, changed)) in props.iter().enumerate() {
        let lines = match target {
            Version::V40 => to_v4(prop, *changed, labels.of_adr.get(&i).map(|l| &props[*l].0)),
            _ => to_v3(prop, *changed, from),
        };
        for line in lines {
            fold_into(&mut out, &line);
        }
    }
    if target == Version::V40 {
        // Delivery labels no address took: an address with only its label (RFC 6350 §6.3.1).
        for l in &labels.unpaired {
            let label = &props[*l].0;
            let mut adr = Property {
                group: label.group.clone(),
                name: "ADR".into(),
                params: label.params.clone(),
                value: ";;;;;;".into(),
                raw: String::new(),
            };
            set_label_param(&mut adr, label);
            fold_into(&mut out, &serialize(&v4_params(adr)));
        }
    }
    if target == Version::V30 && !props.iter().any(|(p, _)| p.name == "N") {
        // vCard 3.0 requires N (RFC 2426 §5); clients such as Thunderbird refuse a card without it.
        out.push_str("N:;;;;\r\n");
    }
    out.push_str("END:VCARD\r\n");
    out
}

/// A name to show for a card that has none (vCard 2.1 does not require FN): from N, else the organization, else
/// the first e-mail address or phone number.
pub(super) fn derived_full_name(props: &[&Property]) -> String {
    let first = |name: &str| props.iter().copied().find(|p| p.name == name);
    if let Some(n) = first("N") {
        let c = split_components(&n.value);
        let at = |i: usize| c.get(i).map(|s| s.trim()).unwrap_or("");
        let parts = [at(3), at(1), at(2), at(0), at(4)];
        let name = parts.iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" ");
        if !name.is_empty() {
            return name;
        }
    }
    if let Some(org) = first("ORG").map(|o| split_components(&o.value).join(" ").trim().to_string())
        && !org.is_empty()
    {
        return org;
    }
    for name in ["EMAIL", "TEL"] {
        if let Some(p) = first(name) {
            return unescape_text(p.value.trim().trim_start_matches("tel:"));
        }
    }
    String::new()
}

fn types_of(p: &Property) -> Vec<String> {
    let mut t: Vec<String> = p
        .params
        .iter()
        .filter(|x| x.name == "TYPE")
        .flat_map(|x| x.values.iter())
        .map(|v| v.to_ascii_lowercase())
        .filter(|v| v != "pref")
        .collect();
    t.sort();
    t
}

/// Which LABEL (by index) belongs to each ADR (by index): the first free address with the same types, or the
/// only address when the card has one of each; and the labels no address took. One pass over the card.
#[derive(Default)]
struct LabelPairs {
    of_adr: HashMap<usize, usize>,
    unpaired: Vec<usize>,
}

fn pair_labels(props: &[(Property, bool)]) -> LabelPairs {
    let mut free: HashMap<Vec<String>, VecDeque<usize>> = HashMap::new();
    let mut adrs = 0;
    let mut labels = Vec::new();
    for (i, (p, _)) in props.iter().enumerate() {
        match p.name.as_str() {
            "ADR" => {
                adrs += 1;
                if p.param("LABEL").is_none() {
                    free.entry(types_of(p)).or_default().push_back(i);
                }
            }
            "LABEL" => labels.push(i),
            _ => {}
        }
    }
    let mut pairs = LabelPairs::default();
    for &l in &labels {
        match free.get_mut(&types_of(&props[l].0)).and_then(VecDeque::pop_front) {
            Some(a) => {
                pairs.of_adr.insert(a, l);
            }
            None => pairs.unpaired.push(l),
        }
    }
    if adrs == 1
        && labels.len() == 1
        && pairs.unpaired.len() == 1
        && let Some(a) = free.values_mut().find_map(VecDeque::pop_front)
    {
        pairs.of_adr.insert(a, labels[0]);
        pairs.unpaired.clear();
    }
    pairs
}

/// RFC 6868 §3: a line break in a parameter value is `^n`, a caret `^^`, a double quote `^'`.
fn caret_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4);
    for c in v.chars() {
        match c {
            '^' => out.push_str("^^"),
            '\n' => out.push_str("^n"),
            '"' => out.push_str("^'"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The inverse of `caret_encode`; a `\n` as RFC 6350's own example writes it is a line break too.
fn caret_decode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('^', Some('n')) | ('\\', Some('n')) | ('\\', Some('N')) => {
                out.push('\n');
                chars.next();
            }
            ('^', Some('^')) => {
                out.push('^');
                chars.next();
            }
            ('^', Some('\'')) => {
                out.push('"');
                chars.next();
            }
            (c, _) => out.push(c),
        }
    }
    out
}

fn set_label_param(adr: &mut Property, label: &Property) {
    adr.params.retain(|x| x.name != "LABEL");
    adr.params.push(Param { name: "LABEL".into(), values: vec![caret_encode(&unescape_text(&label.value))] });
}

/// The parameters as 4.0 writes them: `TYPE=pref` as `PREF=1`, no `internet` type (every 4.0 EMAIL is one).
fn v4_params(mut p: Property) -> Property {
    let pref = p.has_type("pref");
    let email = p.name == "EMAIL";
    for param in p.params.iter_mut().filter(|x| x.name == "TYPE") {
        param.values.retain(|v| !(v.eq_ignore_ascii_case("pref") || email && v.eq_ignore_ascii_case("internet")));
    }
    p.params.retain(|x| !(x.name == "TYPE" && x.values.is_empty()));
    if pref && p.param("PREF").is_none() {
        p.params.push(Param { name: "PREF".into(), values: vec!["1".into()] });
    }
    p
}

fn to_v4(prop: &Property, decoded: bool, label: Option<&Property>) -> Vec<String> {
    let mut p = prop.clone();
    let mut changed = decoded;
    if let Some(card) = nested_card(&p.value, Version::V40) {
        p.value = card;
        changed = true;
    }
    match p.name.as_str() {
        "LABEL" => return Vec::new(),
        "NAME" | "PROFILE" => return Vec::new(),
        n if ONLY_V3.contains(&n) => {
            p.name = format!("X-{n}");
            changed = true;
        }
        "X-ADDRESSBOOKSERVER-KIND" => {
            p.name = "KIND".into();
            changed = true;
        }
        "X-ADDRESSBOOKSERVER-MEMBER" => {
            p.name = "MEMBER".into();
            changed = true;
        }
        "GEO" => {
            if let Some((lat, lon)) = p.value.split_once(';')
                && !p.value.trim_start().starts_with("geo:")
            {
                p.value = format!("geo:{},{}", lat.trim(), lon.trim());
                changed = true;
            }
        }
        "TZ" => {
            if let Some(offset) = utc_offset(&p.value) {
                p.value = format!("{}{}{}", offset.0, offset.1, offset.2);
                changed = true;
            }
        }
        "BDAY" | "X-ANNIVERSARY" if p.param("VALUE").is_none() => {
            changed |= date_to_v4(&mut p);
        }
        "ADR" => {
            if let Some(label) = label {
                set_label_param(&mut p, label);
                changed = true;
            }
        }
        _ => {}
    }
    if BINARY_PROPS.contains(&p.name.as_str()) {
        if let Some(uri) = inline_data_uri(&p) {
            p.value = uri;
            p.params.retain(|x| x.name != "ENCODING" && x.name != "TYPE" && x.name != "VALUE");
            changed = true;
        } else if p.param("VALUE").is_some() {
            p.params.retain(|x| x.name != "VALUE");
            changed = true;
        }
    }
    let before = p.params.clone();
    let p = v4_params(p);
    changed |= p.params != before;
    vec![if changed { serialize(&p) } else { p.raw }]
}

fn to_v3(prop: &Property, decoded: bool, from: Version) -> Vec<String> {
    let mut p = prop.clone();
    let mut changed = decoded;
    let mut extra = Vec::new();
    if let Some(card) = nested_card(&p.value, Version::V30) {
        p.value = card;
        changed = true;
    }
    if from == Version::V40 {
        match p.name.as_str() {
            "KIND" => {
                if p.value.trim().eq_ignore_ascii_case("individual") {
                    return Vec::new();
                }
                p.name = "X-ADDRESSBOOKSERVER-KIND".into();
                changed = true;
            }
            "MEMBER" => {
                p.name = "X-ADDRESSBOOKSERVER-MEMBER".into();
                changed = true;
            }
            "CLIENTPIDMAP" => return Vec::new(),
            n if ONLY_V4.contains(&n) => {
                let anniversary = n == "ANNIVERSARY";
                p.name = format!("X-{n}");
                changed = true;
                if anniversary {
                    date_to_v3(&mut p);
                }
            }
            "TEL" => {
                let uri = p.value.trim();
                if let Some(number) = uri.strip_prefix("tel:") {
                    // RFC 3966: `tel:+1-418-656-9254;ext=102`.
                    let mut parts = number.split(';');
                    let mut text = parts.next().unwrap_or("").to_string();
                    if let Some(ext) = parts.find_map(|x| x.strip_prefix("ext=")) {
                        text = format!("{text} ext. {ext}");
                    }
                    p.value = text;
                }
                p.params.retain(|x| x.name != "VALUE");
                changed = true;
            }
            "GEO" => {
                if let Some((lat, lon)) = p
                    .value
                    .trim()
                    .strip_prefix("geo:")
                    .and_then(|g| g.split(';').next())
                    .and_then(|g| g.split_once(','))
                {
                    p.value = format!("{lat};{lon}");
                    changed = true;
                }
            }
            "TZ" => {
                if let Some(offset) = utc_offset(&p.value) {
                    p.value = format!("{}{}:{}", offset.0, offset.1, offset.2);
                    changed = true;
                }
            }
            "BDAY" => {
                if p.param("VALUE").and_then(|v| v.values.first()).is_some_and(|v| v.eq_ignore_ascii_case("text")) {
                    p.name = "X-BDAY".into();
                } else {
                    date_to_v3(&mut p);
                }
                changed = true;
            }
            "ADR" => {
                if let Some(label) = p.param("LABEL").map(|l| caret_decode(&l.values.join(","))) {
                    p.params.retain(|x| x.name != "LABEL");
                    let mut line = Property {
                        group: p.group.clone(),
                        name: "LABEL".into(),
                        params: p.params.iter().filter(|x| x.name == "TYPE" || x.name == "PREF").cloned().collect(),
                        value: escape_text(&label),
                        raw: String::new(),
                    };
                    v3_params(&mut line);
                    extra.push(serialize(&line));
                    changed = true;
                }
            }
            _ => {}
        }
        let before = p.params.len();
        p.params.retain(|x| !PARAMS_ONLY_V4.contains(&x.name.as_str()));
        changed |= p.params.len() != before;
    }
    if BINARY_PROPS.contains(&p.name.as_str()) {
        if p.param("ENCODING").is_none() {
            if let Some((media, data)) = parse_data_uri(&p.value) {
                let subtype = media.split('/').nth(1).unwrap_or("").to_ascii_uppercase();
                p.value = data.to_string();
                p.params.retain(|x| x.name != "VALUE" && x.name != "MEDIATYPE");
                p.params.push(Param { name: "ENCODING".into(), values: vec!["b".into()] });
                if !subtype.is_empty() {
                    p.params.push(Param { name: "TYPE".into(), values: vec![subtype] });
                }
                changed = true;
            } else if p.param("VALUE").is_none() && from == Version::V40 {
                // RFC 2426 §3.7.1: a 3.0 KEY is binary or text, never a URI; the other three may be links.
                let kind = if p.name == "KEY" { "text" } else { "uri" };
                p.params.push(Param { name: "VALUE".into(), values: vec![kind.into()] });
                changed = true;
            } else if p.name == "KEY" && from == Version::V40 {
                for v in p.params.iter_mut().filter(|x| x.name == "VALUE").flat_map(|x| x.values.iter_mut()) {
                    *v = "text".into();
                }
                changed = true;
            }
        } else if p.param("TYPE").is_none()
            && let Some(media) = sniff_image(&p.value)
        {
            p.params.push(Param { name: "TYPE".into(), values: vec![media[6..].to_ascii_uppercase()] });
            changed = true;
        }
    }
    if p.param("PREF").is_some() {
        v3_params(&mut p);
        changed = true;
    }
    let mut lines = vec![if changed { serialize(&p) } else { p.raw }];
    lines.extend(extra);
    lines
}

/// An embedded card (an AGENT's value, RFC 2426 §3.5.4) converted with its card, escaped as TEXT again.
fn nested_card(value: &str, target: Version) -> Option<String> {
    if !value.get(..11).is_some_and(|b| b.eq_ignore_ascii_case("BEGIN:VCARD")) {
        return None;
    }
    let text = unescape_text(value);
    let converted = convert(text.as_bytes(), target).ok()?;
    let converted = String::from_utf8(converted).ok()?;
    Some(escape_text(&converted.replace("\r\n", "\n")))
}

/// `PREF=1` as 3.0's `TYPE=pref`; a lower preference has no 3.0 form.
fn v3_params(p: &mut Property) {
    let first = p.param("PREF").and_then(|x| x.values.first()).is_some_and(|v| v.trim() == "1");
    p.params.retain(|x| x.name != "PREF");
    if first && !p.has_type("pref") {
        p.params.push(Param { name: "TYPE".into(), values: vec!["pref".into()] });
    }
}

/// A UTC offset `+hh[:]mm` or `+hh` as (sign, hours, minutes).
fn utc_offset(v: &str) -> Option<(char, String, String)> {
    let v = v.trim();
    let sign = v.chars().next().filter(|c| *c == '+' || *c == '-')?;
    let digits: String = v[1..].chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) || v[1..].len() > 5 {
        return None;
    }
    let minutes = if digits.len() == 4 { digits[2..].to_string() } else { "00".to_string() };
    Some((sign, digits[..2].to_string(), minutes))
}

/// A date or date-time in any of the forms the versions write, as its parts.
pub(super) struct DateParts {
    pub(super) year: Option<String>,
    /// Two digits, 01 to 12.
    pub(super) month: String,
    /// Two digits, 01 to 31.
    pub(super) day: String,
    /// hh, mm, ss and the zone (`Z` or `±hh:mm`), when a time is given.
    pub(super) time: Option<(String, String, String, String)>,
}

/// `YYYY-MM-DD`, `YYYYMMDD`, `--MM-DD`, `--MMDD`, each with an optional `T` time; `None` for anything else,
/// a month or day out of range included.
pub(super) fn date_parts(v: &str) -> Option<DateParts> {
    let v = v.trim();
    if !v.is_ascii() {
        return None;
    }
    let (date, time) = match v.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (v, None),
    };
    let (year, md) = match date.strip_prefix("--") {
        Some(md) => (None, md.replace('-', "")),
        None => {
            let d = date.replace('-', "");
            if d.len() != 8 {
                return None;
            }
            (Some(d[..4].to_string()), d[4..].to_string())
        }
    };
    if md.len() != 4
        || !md.chars().all(|c| c.is_ascii_digit())
        || year.as_ref().is_some_and(|y| !y.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let time = match time {
        None => None,
        Some(t) => {
            let split = t.find(['Z', 'z', '+', '-']).unwrap_or(t.len());
            let (clock, zone) = t.split_at(split);
            let clock: String = clock.chars().filter(|c| *c != ':').collect();
            if clock.is_empty()
                || !clock.len().is_multiple_of(2)
                || clock.len() > 6
                || !clock.chars().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            let part = |i: usize| clock.get(i..i + 2).unwrap_or("00").to_string();
            let zone = if zone.is_empty() || zone.eq_ignore_ascii_case("z") {
                zone.to_ascii_uppercase()
            } else {
                let (sign, h, m) = utc_offset(zone)?;
                format!("{sign}{h}:{m}")
            };
            Some((part(0), part(2), part(4), zone))
        }
    };
    let (month, day) = (md[..2].parse::<u32>().ok()?, md[2..].parse::<u32>().ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(DateParts { year, month: md[..2].to_string(), day: md[2..].to_string(), time })
}

/// Apple writes a birthday without year as year 1604 with `X-APPLE-OMIT-YEAR=1604`.
const APPLE_NO_YEAR: &str = "1604";

/// A 2.1/3.0 date as 4.0 writes it (RFC 6350 §4.3: basic format, `--MMDD` without year). Whether it changed.
fn date_to_v4(p: &mut Property) -> bool {
    let omitted = p.param("X-APPLE-OMIT-YEAR").and_then(|x| x.values.first()).cloned();
    let Some(mut d) = date_parts(&p.value) else {
        // Not a date: 4.0 can say it as text.
        p.params.push(Param { name: "VALUE".into(), values: vec!["text".into()] });
        return true;
    };
    if omitted.is_some() && d.year == omitted {
        d.year = None;
        p.params.retain(|x| x.name != "X-APPLE-OMIT-YEAR");
    }
    let mut v = match &d.year {
        Some(y) => format!("{y}{}{}", d.month, d.day),
        None => format!("--{}{}", d.month, d.day),
    };
    if let Some((h, m, s, zone)) = &d.time {
        v.push_str(&format!("T{h}{m}{s}{}", zone.replace(':', "")));
    }
    let changed = v != p.value.trim();
    p.value = v;
    changed
}

/// A 4.0 date as 3.0 writes it (RFC 2425 §5.8.4: `YYYY-MM-DD`, times with seconds and `±hh:mm` zones).
fn date_to_v3(p: &mut Property) {
    let Some(d) = date_parts(&p.value) else {
        return;
    };
    let year = match d.year {
        Some(y) => y,
        None => {
            p.params.push(Param { name: "X-APPLE-OMIT-YEAR".into(), values: vec![APPLE_NO_YEAR.into()] });
            APPLE_NO_YEAR.to_string()
        }
    };
    let mut v = format!("{year}-{}-{}", d.month, d.day);
    if let Some((h, m, s, zone)) = d.time {
        v.push_str(&format!("T{h}:{m}:{s}{zone}"));
    }
    p.value = v;
}

/// The media type of base64 image data, from its first bytes (JPEG, PNG, GIF, WebP).
pub(super) fn sniff_image(data: &str) -> Option<&'static str> {
    let d = data.trim_start();
    [("/9j/", "image/jpeg"), ("iVBORw0KGgo", "image/png"), ("R0lGOD", "image/gif"), ("UklGR", "image/webp")]
        .into_iter()
        .find(|(magic, _)| d.starts_with(magic))
        .map(|(_, media)| media)
}

/// A 3.0 inline binary (`PHOTO;ENCODING=b;TYPE=JPEG:...`, 2.1's `ENCODING=BASE64`, Apple's bare `BASE64`) as the
/// `data:` URI vCard 4.0 writes instead; `None` when the property is not an inline binary.
pub(super) fn inline_data_uri(p: &Property) -> Option<String> {
    let encoding = p.param("ENCODING").and_then(|e| e.values.first()).map(|v| v.to_ascii_lowercase());
    if !matches!(encoding.as_deref(), Some("b") | Some("base64")) && !is_bare_base64(p) {
        return None;
    }
    let subtype = p
        .params
        .iter()
        .filter(|x| x.name == "TYPE")
        .flat_map(|x| x.values.iter())
        .find(|v| !is_encoding_word(v))
        .map(|v| v.to_ascii_lowercase());
    let data: String = p.value.chars().filter(|c| !c.is_whitespace()).collect();
    let media = match (subtype.as_deref(), sniff_image(&data)) {
        (None, Some(sniffed)) => sniffed.to_string(),
        _ => media_type(&p.name, subtype.as_deref()),
    };
    Some(format!("data:{media};base64,{data}"))
}

/// `data:image/png;base64,AAAA` → ("image/png", "AAAA"); only base64 data URIs convert to inline binaries.
pub(super) fn parse_data_uri(value: &str) -> Option<(&str, &str)> {
    let rest = value.trim().strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media = meta.strip_suffix(";base64")?;
    Some((media, data))
}

fn media_type(prop: &str, subtype: Option<&str>) -> String {
    let top = match prop {
        "SOUND" => "audio",
        "KEY" => "application",
        _ => "image",
    };
    match subtype {
        Some("pgp") if prop == "KEY" => "application/pgp-keys".to_string(),
        Some(s) if !s.is_empty() && !s.contains('/') => format!("{top}/{s}"),
        Some(s) if s.contains('/') => s.to_string(),
        _ => "application/octet-stream".to_string(),
    }
}

pub(super) fn serialize(p: &Property) -> String {
    let mut line = String::with_capacity(p.value.len() + 32);
    if let Some(g) = &p.group {
        line.push_str(g);
        line.push('.');
    }
    line.push_str(&p.name);
    for param in &p.params {
        line.push(';');
        line.push_str(&param.name);
        line.push('=');
        for (i, v) in param.values.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            if v.contains([':', ';', ',']) {
                line.push('"');
                line.push_str(v);
                line.push('"');
            } else {
                line.push_str(v);
            }
        }
    }
    line.push(':');
    line.push_str(&p.value);
    line
}

/// Folds at 75 octets (RFC 6350 §3.2) without splitting a UTF-8 sequence.
pub(super) fn fold_into(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}
