use super::*;

const IOS_V3: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.0//EN\r\nN:Appleseed;Johnny;;;\r\nFN:Johnny Appleseed\r\nORG:Apple Inc.;\r\nitem1.TEL;type=pref:+1 555 0100\r\nitem1.X-ABLabel:_$!<Mobile>!$_\r\nEMAIL;type=INTERNET;type=WORK;type=pref:johnny@example.com\r\nPHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQ==\r\nX-CUSTOM;X-PARAM=\"a:b\":value\r\nUID:ios-1\r\nEND:VCARD\r\n";

#[test]
fn parses_ios_card_and_extracts_fields() {
    let (card, ix) = validate(IOS_V3.as_bytes(), 100).unwrap();
    assert_eq!(card.version, Version::V30);
    assert_eq!(ix.uid, "ios-1");
    assert_eq!(ix.fn_, "Johnny Appleseed");
    assert_eq!(ix.sort_key, "appleseed johnny");
    assert_eq!(ix.emails, vec!["johnny@example.com"]);
    assert_eq!(ix.tels, vec!["+1 555 0100"]);
    assert_eq!(ix.org, "Apple Inc.");
    let tel = card.props.iter().find(|p| p.name == "TEL").unwrap();
    assert_eq!(tel.group.as_deref(), Some("item1"));
    assert!(tel.has_type("PREF"));
    let custom = card.props.iter().find(|p| p.name == "X-CUSTOM").unwrap();
    assert_eq!(custom.value, "value");
    assert_eq!(custom.params[0].values, vec!["a:b"]);
}

#[test]
fn unfolds_crlf_and_lf_continuations() {
    let card = "BEGIN:VCARD\nVERSION:4.0\nUID:x\nNOTE:one\n  two\r\n\tthree\nEND:VCARD\n";
    let parsed = parse(card.as_bytes()).unwrap();
    let note = parsed.props.iter().find(|p| p.name == "NOTE").unwrap();
    // RFC 6350 §3.2: the line break and exactly one following space or tab go.
    assert_eq!(note.value, "one twothree");
}

#[test]
fn rejects_structural_errors() {
    assert_eq!(parse(b"hello"), Err(VCardError::NoBegin));
    assert_eq!(parse(b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\n"), Err(VCardError::NoEnd));
    assert_eq!(parse(b"BEGIN:VCARD\r\nUID:a\r\nEND:VCARD\r\n"), Err(VCardError::MissingVersion));
    assert_eq!(
        parse(b"BEGIN:VCARD\r\nVERSION:5.0\r\nEND:VCARD\r\n"),
        Err(VCardError::UnsupportedVersion("5.0".into()))
    );
    let two =
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nUID:b\r\nEND:VCARD\r\n";
    assert_eq!(parse(two.as_bytes()), Err(VCardError::SeveralCards));
    assert_eq!(parse(b"BEGIN:VCARD\r\nVERSION:3.0\r\nno colon here\r\nEND:VCARD\r\n"), Err(VCardError::BadLine(3)));
    assert_eq!(
        validate(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nEND:VCARD\r\n", 10).map(|_| ()),
        Err(VCardError::MissingUid)
    );
    assert_eq!(validate(IOS_V3.as_bytes(), 3).map(|_| ()), Err(VCardError::TooManyProperties(3)));
    assert_eq!(parse(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:\xff\r\nEND:VCARD\r\n"), Err(VCardError::NotUtf8));
}

#[test]
fn reads_vcard_21_with_bare_params_and_quoted_printable() {
    let card = b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:M\xfcller;Hans\r\nTEL;CELL;VOICE:+49 1\r\nNOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Gr=C3=BC=\r\n=C3=9Fe\r\nUID:v21\r\nEND:VCARD\r\n";
    let parsed = parse(card).unwrap();
    assert_eq!(parsed.version, Version::V21);
    let tel = parsed.props.iter().find(|p| p.name == "TEL").unwrap();
    assert!(tel.has_type("CELL") && tel.has_type("VOICE"));
    let v4 = String::from_utf8(convert(card, Version::V40).unwrap()).unwrap();
    assert!(v4.contains("NOTE:Grüße\r\n"), "{v4}");
    assert!(v4.contains("TEL;TYPE=CELL;TYPE=VOICE:+49 1\r\n"), "{v4}");
}

#[test]
fn same_version_is_byte_identical() {
    assert_eq!(convert(IOS_V3.as_bytes(), Version::V30).unwrap(), IOS_V3.as_bytes());
}

#[test]
fn v3_to_v4_photo_groups_and_pref() {
    let v4 = String::from_utf8(convert(IOS_V3.as_bytes(), Version::V40).unwrap()).unwrap();
    assert!(v4.starts_with("BEGIN:VCARD\r\nVERSION:4.0\r\n"), "{v4}");
    // The comma after base64 must stay unescaped (sabre-io/vobject#382).
    assert!(v4.contains("PHOTO:data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ==\r\n"), "{v4}");
    assert!(v4.contains("item1.TEL;PREF=1:+1 555 0100\r\n"), "{v4}");
    assert!(v4.contains("item1.X-ABLabel:_$!<Mobile>!$_\r\n"), "{v4}");
    assert!(v4.contains("X-CUSTOM;X-PARAM=\"a:b\":value\r\n"), "{v4}");
    let group = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:g\r\nFN:Team\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:a\r\nEND:VCARD\r\n";
    let v4 = String::from_utf8(convert(group.as_bytes(), Version::V40).unwrap()).unwrap();
    assert!(v4.contains("KIND:group\r\nMEMBER:urn:uuid:a\r\n"), "{v4}");
}

#[test]
fn v4_to_v3_and_back() {
    let v4 = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:g\r\nFN:Team\r\nKIND:group\r\nMEMBER:urn:uuid:a\r\nPHOTO:data:image/png;base64,iVBORw0KGgo=\r\nLOGO:https://example.com/l.png\r\nEMAIL;PREF=1:a@example.com\r\nEND:VCARD\r\n";
    let v3 = String::from_utf8(convert(v4.as_bytes(), Version::V30).unwrap()).unwrap();
    assert!(v3.contains("X-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:a\r\n"), "{v3}");
    assert!(v3.contains("PHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgo=\r\n"), "{v3}");
    assert!(v3.contains("LOGO;VALUE=uri:https://example.com/l.png\r\n"), "{v3}");
    assert!(v3.contains("EMAIL;TYPE=pref:a@example.com\r\n"), "{v3}");
    assert!(v3.contains("N:;;;;\r\n"), "{v3}");
    let back = String::from_utf8(convert(v3.as_bytes(), Version::V40).unwrap()).unwrap();
    assert!(back.contains("PHOTO:data:image/png;base64,iVBORw0KGgo=\r\n"), "{back}");
    assert!(back.contains("KIND:group\r\n"), "{back}");
}

#[test]
fn long_converted_lines_fold_at_75_octets_on_char_boundaries() {
    let long = "é".repeat(100);
    let card = format!("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:f\r\nKIND:group\r\nMEMBER:urn:uuid:{long}\r\nEND:VCARD\r\n");
    let v3 = convert(card.as_bytes(), Version::V30).unwrap();
    let text = String::from_utf8(v3).unwrap();
    assert!(text.split("\r\n").all(|l| l.len() <= 75), "{text}");
    let reparsed = parse(text.as_bytes()).unwrap();
    let member = reparsed.props.iter().find(|p| p.name == "X-ADDRESSBOOKSERVER-MEMBER").unwrap();
    assert_eq!(member.value, format!("urn:uuid:{long}"));
}

#[test]
fn text_unescaping_and_components() {
    assert_eq!(unescape_text("a\\,b\\;c\\nd\\\\"), "a,b;c\nd\\");
    assert_eq!(split_components("Doe\\;x;John;;"), vec!["Doe;x", "John", "", ""]);
}

#[test]
fn a_search_matches_name_email_org_and_phone_digits_like_the_store() {
    let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:s\r\nFN:Zoë Quist\r\nEMAIL:zq@Example.org\r\nORG:Acme Ltd;Sales\r\nTEL:+1 (555) 010-0199\r\nEND:VCARD\r\n";
    let ix = parse(card.as_bytes()).unwrap().indexed();
    for needle in ["", "zoë", "example.org", "acme", "(555)", "5550100", "0100199"] {
        assert!(ix.matches(needle), "{needle:?}");
    }
    // A department is not the organization's name; no match across fields.
    for needle in ["sales", "quist zq", "999", "5550199"] {
        assert!(!ix.matches(needle), "{needle:?}");
    }
}

#[test]
fn quoted_printable_soft_breaks_join_however_the_head_is_split() {
    // The marker folded across two physical lines, and soft breaks after it.
    let card = "BEGIN:VCARD\r\nVERSION:2.1\r\nUID:q\r\nFN:x\r\nNOTE;ENCODING=QUOTED-PRI\r\n NTABLE:one=\r\ntwo=\r\nthree\r\nEND:VCARD\r\n";
    let note = parse(card.as_bytes()).unwrap().props.into_iter().find(|p| p.name == "NOTE").unwrap();
    assert_eq!(note.value, "onetwothree");
    // Without the marker a trailing '=' is just text, and the next line is a line of its own.
    let card = "BEGIN:VCARD\r\nVERSION:2.1\r\nUID:q\r\nFN:x\r\nNOTE:a=\r\nTEL:1\r\nEND:VCARD\r\n";
    let v = parse(card.as_bytes()).unwrap();
    assert_eq!(v.props.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["UID", "FN", "NOTE", "TEL"]);
    // A marker in the value, after the colon, does not make soft breaks.
    let card = "BEGIN:VCARD\r\nVERSION:2.1\r\nUID:q\r\nFN:x\r\nNOTE:QUOTED-PRINTABLE=\r\nTEL:1\r\nEND:VCARD\r\n";
    assert_eq!(parse(card.as_bytes()).unwrap().props.len(), 4);
}

#[test]
fn a_uid_is_added_before_end_with_the_cards_own_line_ending() {
    let crlf = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Kim\r\nEND:VCARD\r\n";
    assert_eq!(with_uid(crlf, "u-1"), b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Kim\r\nUID:u-1\r\nEND:VCARD\r\n");
    let lf = b"BEGIN:VCARD\nVERSION:4.0\nFN:Kim\nEND:VCARD";
    assert_eq!(with_uid(lf, "u;2"), b"BEGIN:VCARD\nVERSION:4.0\nFN:Kim\nUID:u\\;2\nEND:VCARD");
    // A value that merely contains the words is not the end.
    let note = b"BEGIN:VCARD\r\nVERSION:3.0\r\nNOTE:END:VCARD here\r\nFN:Kim\r\nend:vcard\r\n";
    let out = with_uid(note, "u");
    assert!(out.ends_with(b"FN:Kim\r\nUID:u\r\nend:vcard\r\n"), "{}", String::from_utf8_lossy(&out));
    assert_eq!(validate(&out, 100).unwrap().1.uid, "u");
}
