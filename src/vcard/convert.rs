//! vCard 3.0 (and 2.1) ⇄ 4.0 conversion for clients that ask for the other version.
//!
//! Only what differs between the versions is rewritten: inline binaries (`ENCODING=b;TYPE=JPEG` ⇄ `data:` URIs,
//! with the comma after `base64` left unescaped, which many clients require), Apple groups
//! (`X-ADDRESSBOOKSERVER-KIND/MEMBER` ⇄ `KIND/MEMBER`), the preference marker (`TYPE=pref` ⇄ `PREF=1`) and vCard 2.1's
//! quoted-printable values. Every other line is copied as received.

use super::{Param, Property, VCard, Version, parse::parse};

const BINARY_PROPS: [&str; 4] = ["PHOTO", "LOGO", "SOUND", "KEY"];

/// Converts `bytes` to `target`. A card already in that version comes back unchanged, byte for byte.
pub fn convert(bytes: &[u8], target: Version) -> Result<Vec<u8>, super::VCardError> {
    let card = parse(bytes)?;
    if card.version == target {
        return Ok(bytes.to_vec());
    }
    Ok(render(&card, target).into_bytes())
}

fn render(card: &VCard, target: Version) -> String {
    let mut out = String::with_capacity(card.props.iter().map(|p| p.raw.len() + 8).sum::<usize>() + 64);
    out.push_str("BEGIN:VCARD\r\nVERSION:");
    out.push_str(target.as_str());
    out.push_str("\r\n");
    let mut has_n = false;
    for prop in &card.props {
        has_n |= prop.name == "N";
        let line = match target {
            Version::V40 => to_v4(prop, card.version),
            _ => to_v3(prop, card.version),
        };
        if let Some(line) = line {
            fold_into(&mut out, &line);
        }
    }
    if target == Version::V30 && !has_n {
        // vCard 3.0 requires N (RFC 2426 §5); clients such as Thunderbird refuse a card without it.
        out.push_str("N:;;;;\r\n");
    }
    out.push_str("END:VCARD\r\n");
    out
}

fn to_v4(prop: &Property, from: Version) -> Option<String> {
    let mut p = prop.clone();
    let mut changed = false;
    if from == Version::V21 {
        // 2.1 bare parameters (`TEL;CELL:`) are invalid later: always re-serialise as TYPE=.
        decode_quoted_printable(&mut p);
        changed = true;
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
    match p.name.as_str() {
        "X-ADDRESSBOOKSERVER-KIND" => {
            p.name = "KIND".into();
            changed = true;
        }
        "X-ADDRESSBOOKSERVER-MEMBER" => {
            p.name = "MEMBER".into();
            changed = true;
        }
        _ => {}
    }
    if p.has_type("pref") {
        for param in p.params.iter_mut().filter(|x| x.name == "TYPE") {
            param.values.retain(|v| !v.eq_ignore_ascii_case("pref"));
        }
        p.params.retain(|x| !(x.name == "TYPE" && x.values.is_empty()));
        p.params.push(Param { name: "PREF".into(), values: vec!["1".into()] });
        changed = true;
    }
    Some(if changed { serialize(&p) } else { p.raw })
}

fn to_v3(prop: &Property, from: Version) -> Option<String> {
    let mut p = prop.clone();
    let mut changed = false;
    if from == Version::V21 {
        // 2.1 bare parameters (`TEL;CELL:`) are invalid later: always re-serialise as TYPE=.
        decode_quoted_printable(&mut p);
        changed = true;
    }
    if BINARY_PROPS.contains(&p.name.as_str()) && p.param("ENCODING").is_none() {
        if let Some((media, data)) = parse_data_uri(&p.value) {
            let subtype = media.split('/').nth(1).unwrap_or("").to_ascii_uppercase();
            p.value = data.to_string();
            p.params.retain(|x| x.name != "VALUE" && x.name != "MEDIATYPE");
            p.params.push(Param { name: "ENCODING".into(), values: vec!["b".into()] });
            if !subtype.is_empty() {
                p.params.push(Param { name: "TYPE".into(), values: vec![subtype] });
            }
            changed = true;
        } else if p.param("VALUE").is_none() {
            p.params.push(Param { name: "VALUE".into(), values: vec!["uri".into()] });
            changed = true;
        }
    }
    match p.name.as_str() {
        "KIND" => {
            if p.value.trim().eq_ignore_ascii_case("individual") {
                return None;
            }
            p.name = "X-ADDRESSBOOKSERVER-KIND".into();
            changed = true;
        }
        "MEMBER" => {
            p.name = "X-ADDRESSBOOKSERVER-MEMBER".into();
            changed = true;
        }
        _ => {}
    }
    if p.param("PREF").is_some() {
        p.params.retain(|x| x.name != "PREF");
        p.params.push(Param { name: "TYPE".into(), values: vec!["pref".into()] });
        changed = true;
    }
    Some(if changed { serialize(&p) } else { p.raw })
}

/// A vCard 3.0 inline binary (`PHOTO;ENCODING=b;TYPE=JPEG:...`) as the `data:` URI vCard 4.0 writes instead;
/// `None` when the property is not an inline binary.
pub(super) fn inline_data_uri(p: &Property) -> Option<String> {
    let encoding = p.param("ENCODING").and_then(|e| e.values.first()).map(|v| v.to_ascii_lowercase());
    if !matches!(encoding.as_deref(), Some("b") | Some("base64")) {
        return None;
    }
    let subtype = p
        .params
        .iter()
        .filter(|x| x.name == "TYPE")
        .flat_map(|x| x.values.iter())
        .next()
        .map(|v| v.to_ascii_lowercase());
    let media = media_type(&p.name, subtype.as_deref());
    Some(format!("data:{media};base64,{}", p.value.trim()))
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

/// vCard 2.1 `ENCODING=QUOTED-PRINTABLE[;CHARSET=...]` → a plain value.
fn decode_quoted_printable(p: &mut Property) {
    let qp =
        p.param("ENCODING").and_then(|e| e.values.first()).is_some_and(|v| v.eq_ignore_ascii_case("QUOTED-PRINTABLE"));
    let charset = p.param("CHARSET").and_then(|c| c.values.first()).map(|c| c.to_ascii_lowercase());
    if !qp && charset.is_none() {
        return;
    }
    if qp {
        let mut bytes = Vec::with_capacity(p.value.len());
        let src = p.value.as_bytes();
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
        p.value = match charset.as_deref() {
            Some("utf-8") | Some("utf8") | None => String::from_utf8_lossy(&bytes).into_owned(),
            _ => bytes.iter().map(|&b| b as char).collect(),
        };
    }
    p.params.retain(|x| x.name != "ENCODING" && x.name != "CHARSET");
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
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
