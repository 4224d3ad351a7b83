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

fn prop<'a>(card: &'a VCard, name: &str) -> &'a Property {
    card.props.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no {name}"))
}

fn converted(card: &[u8], to: Version) -> String {
    let out = String::from_utf8(convert(card, to).unwrap()).unwrap();
    parse(out.as_bytes()).unwrap_or_else(|e| panic!("{e}:\n{out}"));
    assert!(!out.replace("\r\n", "").chars().any(|c| c.is_control()), "{out}");
    out
}

#[test]
fn decoded_quoted_printable_is_escaped_again_as_text() {
    // RFC 6350 §3.4 / RFC 2426 §5.8.4: a line break inside a TEXT value is written `\n`; a raw one would end the
    // content line, and the converted card would not parse (nor would the API list it).
    let card = b"BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Kim\r\nNOTE;ENCODING=QUOTED-PRINTABLE:a=0D=0Ab, c;d \\ e\r\nADR;ENCODING=QUOTED-PRINTABLE:;;1 Main St=0D=0AFlat 2, rear;Town;;;\r\nEND:VCARD\r\n";
    let v3 = converted(card, Version::V30);
    assert!(v3.contains("NOTE:a\\nb\\, c\\;d \\\\ e\r\n"), "{v3}");
    // A structured value keeps its separators; its commas are text.
    assert!(v3.contains("ADR:;;1 Main St\\nFlat 2\\, rear;Town;;;\r\n"), "{v3}");
    let v3 = parse(v3.as_bytes()).unwrap();
    assert_eq!(unescape_text(&prop(&v3, "NOTE").value), "a\nb, c;d \\ e");
}

#[test]
fn a_blank_after_a_soft_line_break_is_value_and_the_next_lines_stay_lines() {
    // RFC 2045 §6.7 (5): "=" CRLF is a soft line break; what follows is the encoded text, a leading blank included.
    let card = "BEGIN:VCARD\r\nVERSION:2.1\r\nADR;HOME;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:;;Drottninggatan=\r\n 12;Stockholm;;111 51;Sver=\r\nige\r\nTEL;CELL:+46 70 555 0199\r\nN;ENCODING=QUOTED-PRINTABLE:=C3=85kesson;Bj=C3=B6rn\r\nEND:VCARD\r\n";
    let parsed = parse(card.as_bytes()).unwrap();
    assert_eq!(parsed.props.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["ADR", "TEL", "N"]);
    let v4 = converted(card.as_bytes(), Version::V40);
    assert!(v4.contains("ADR;TYPE=HOME:;;Drottninggatan 12;Stockholm;;111 51;Sverige\r\n"), "{v4}");
    assert!(v4.contains("TEL;TYPE=CELL:+46 70 555 0199\r\nN:Åkesson;Björn\r\n"), "{v4}");
}

#[test]
fn quoted_printable_in_a_3_0_card_is_decoded_for_every_reader() {
    let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:n\r\nFN;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:J=C3=BCrgen\r\nN:;J=C3=BCrgen;;;\r\nEND:VCARD\r\n";
    let v4 = converted(card.as_bytes(), Version::V40);
    assert!(v4.contains("FN:Jürgen\r\n"), "{v4}");
    // The same version is rewritten too when something in it is only 2.1's.
    let v3 = converted(card.as_bytes(), Version::V30);
    assert!(v3.contains("FN:Jürgen\r\n") && !v3.contains("CHARSET"), "{v3}");
    // Search sees the text.
    assert_eq!(parse(card.as_bytes()).unwrap().indexed().fn_, "Jürgen");
    assert!(!parse(IOS_V3.as_bytes()).unwrap().needs_decoding());
}

#[test]
fn charset_parameters_are_honoured() {
    // vCard 2.1 §2.1.5: CHARSET names the character set of the value; here Windows-1252 in quoted-printable,
    // and a raw ISO-8859-5 line in a card that is not UTF-8.
    let mut card = b"BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Ivan\r\nNOTE;CHARSET=Windows-1252;ENCODING=QUOTED-PRINTABLE:=93quoted=94 =80 5\r\n".to_vec();
    card.extend_from_slice(b"N;CHARSET=ISO-8859-5:\xb8\xd2\xd0\xdd\xde\xd2;\xb8\xd2\xd0\xdd\r\nEND:VCARD\r\n");
    let v3 = converted(&card, Version::V30);
    assert!(v3.contains("NOTE:“quoted” € 5\r\n"), "{v3}");
    assert!(v3.contains("N:Иванов;Иван\r\n"), "{v3}");
}

#[test]
fn photos_in_every_shape_clients_send() {
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
    // Apple's bare BASE64 without TYPE: the type is sniffed (RFC 6350 §6.2.4 wants a media type).
    let apple =
        format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:p\r\nFN:P\r\nN:P;;;;\r\nPHOTO;BASE64:{png}\r\nEND:VCARD\r\n");
    let v4 = converted(apple.as_bytes(), Version::V40);
    assert!(v4.contains(&format!("PHOTO:data:image/png;base64,{}", &png[..40])), "{v4}");
    let v3 = converted(apple.as_bytes(), Version::V30);
    assert!(v3.contains("PHOTO;ENCODING=b;TYPE=PNG:iVBOR"), "{v3}");
    // vCard 2.1's ENCODING=BASE64 is 3.0's ENCODING=b (RFC 2426 §5.8.3 allows only "b").
    let v21 = format!(
        "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:P\r\nPHOTO;ENCODING=BASE64:\r\n {}\r\n {}\r\n\r\nEND:VCARD\r\n",
        &png[..40],
        &png[40..]
    );
    let v3 = converted(v21.as_bytes(), Version::V30);
    assert!(v3.contains("PHOTO;ENCODING=b;TYPE=PNG:iVBOR"), "{v3}");
    // Every shape gives the API the image's bytes.
    for card in [apple.as_bytes(), v21.as_bytes(), v4.as_bytes()] {
        let parsed = decoded(card).unwrap();
        let (media, bytes) = json::photo_bytes(&parsed).expect("a photo");
        assert_eq!((media.as_str(), &bytes[..4]), ("image/png", &b"\x89PNG"[..]));
    }
}

#[test]
fn conversion_maps_what_has_a_mapping() {
    // RFC 6350 §6.3.1 LABEL parameter (RFC 6868 carets) ⇄ RFC 2426 §3.2.2 LABEL; §6.5.2 GEO; §6.2.5 BDAY;
    // §6.4.1 TEL as a tel: URI; §6.2.1 FN, which a 2.1 card may lack.
    let v21 = "BEGIN:VCARD\r\nVERSION:2.1\r\nN:Okafor;Chidi;;Dr.;\r\nADR;WORK:;;12 Marina Road;Lagos;;;\r\nLABEL;WORK;ENCODING=QUOTED-PRINTABLE:12 Marina Road=0D=0ALagos\r\nGEO:6.45;3.39\r\nBDAY:1980-05-17\r\nTZ:+01:00\r\nEND:VCARD\r\n";
    let v4 = converted(v21.as_bytes(), Version::V40);
    assert!(v4.contains("FN:Dr. Chidi Okafor\r\n"), "{v4}");
    assert!(v4.contains("ADR;TYPE=WORK;LABEL=12 Marina Road^nLagos:;;12 Marina Road;Lagos;;;\r\n"), "{v4}");
    assert!(!v4.contains("\r\nLABEL"), "{v4}");
    assert!(
        v4.contains("GEO:geo:6.45,3.39\r\n") && v4.contains("BDAY:19800517\r\n") && v4.contains("TZ:+0100\r\n"),
        "{v4}"
    );
    let v3 = converted(v4.as_bytes(), Version::V30);
    assert!(
        v3.contains("ADR;TYPE=WORK:;;12 Marina Road;Lagos;;;\r\nLABEL;TYPE=WORK:12 Marina Road\\nLagos\r\n"),
        "{v3}"
    );
    assert!(
        v3.contains("GEO:6.45;3.39\r\n") && v3.contains("BDAY:1980-05-17\r\n") && v3.contains("TZ:+01:00\r\n"),
        "{v3}"
    );
    let v4 = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:t\r\nFN:T\r\nTEL;VALUE=uri;TYPE=\"work,voice\";PREF=1:tel:+1-418-656-9254;ext=102\r\nBDAY:--0203\r\nANNIVERSARY:20090808T1430-0500\r\nGENDER:M\r\nCLIENTPIDMAP:1;urn:uuid:x\r\nEND:VCARD\r\n";
    let v3 = converted(v4.as_bytes(), Version::V30);
    assert!(v3.contains("TEL;TYPE=work,voice;TYPE=pref:+1-418-656-9254 ext. 102\r\n"), "{v3}");
    // Apple's year-less birthday; what 3.0 lacks is kept as an x-name, never lost.
    assert!(v3.contains("BDAY;X-APPLE-OMIT-YEAR=1604:1604-02-03\r\n"), "{v3}");
    assert!(v3.contains("X-ANNIVERSARY:2009-08-08T14:30:00-05:00\r\nX-GENDER:M\r\n"), "{v3}");
    assert!(!v3.contains("CLIENTPIDMAP"), "{v3}");
    assert!(converted(v3.as_bytes(), Version::V40).contains("BDAY:--0203\r\n"));
}

#[test]
fn an_agent_keeps_its_embedded_card() {
    // vCard 2.1 §2.4.2: the agent's card follows AGENT on lines of its own; 3.0 writes it as one TEXT value
    // (RFC 2426 §3.5.4), itself a valid 3.0 card.
    let card = "BEGIN:VCARD\r\nVERSION:2.1\r\nN:Okafor;Chidi\r\nAGENT:\r\nBEGIN:VCARD\r\nVERSION:2.1\r\nN:Bello;Ada\r\nTEL;WORK:+234 1\r\nEND:VCARD\r\nNOTE:after\r\nEND:VCARD\r\n";
    let parsed = parse(card.as_bytes()).unwrap();
    assert_eq!(parsed.props.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["N", "AGENT", "NOTE"]);
    let v3 = converted(card.as_bytes(), Version::V30);
    let v3 = v3.replace("\r\n ", "");
    assert!(
        v3.contains(
            "AGENT:BEGIN:VCARD\\nVERSION:3.0\\nFN:Ada Bello\\nN:Bello\\;Ada\\nTEL\\;TYPE=WORK:+234 1\\nEND:VCARD\\n"
        ),
        "{v3}"
    );
    // Nesting is bounded: deeper agents only make conversion recurse.
    let deep = "BEGIN:VCARD\r\nVERSION:2.1\r\nAGENT:\r\n".repeat(6) + &"END:VCARD\r\n".repeat(6);
    assert!(matches!(parse(deep.as_bytes()), Err(VCardError::BadLine(_))));
}

#[test]
fn a_quoted_list_of_types_is_each_type() {
    // RFC 6350 §5.6 writes `TYPE="work,voice"`.
    let card = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:t\r\nFN:T\r\nTEL;TYPE=\"voice,home\":1\r\nEND:VCARD\r\n";
    let tel = prop(&parse(card.as_bytes()).unwrap(), "TEL").clone();
    assert!(tel.has_type("voice") && tel.has_type("home"));
}

#[test]
fn folding_is_case_mapping_then_nfkd() {
    // RFC 5051 §2.
    assert_eq!(fold("MÜLLER"), fold("müller"));
    assert_eq!(fold("Mu\u{308}ller"), fold("Müller"));
    assert_eq!(fold("STRASSE"), fold("straße"));
    assert_eq!(fold("ﬁle"), "file");
    assert_ne!(fold("muller"), fold("müller"));
    let ix = parse("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:m\r\nFN:Jürgen\r\nORG:ACME\r\nEND:VCARD\r\n".as_bytes())
        .unwrap()
        .indexed();
    assert!(ix.matches("JÜRGEN") && ix.matches("acme") && !ix.matches("jürgen\u{1f}acme"));
}

#[test]
fn many_delivery_labels_pair_with_their_addresses_in_one_pass() {
    // A card at the property limit (two thousand lines), each LABEL after all the ADRs, in reverse order:
    // pairing by type must not search the card per label (it was cubic).
    let mut card = String::from("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:l\r\nFN:L\r\nN:L;;;;\r\n");
    for i in 0..990 {
        card.push_str(&format!("ADR;TYPE=x{i}:;;{i} Main St;;;;\r\n"));
    }
    for i in (0..990).rev() {
        card.push_str(&format!("LABEL;TYPE=x{i}:{i} Main St\r\n"));
    }
    card.push_str("END:VCARD\r\n");
    let started = std::time::Instant::now();
    let v4 = converted(card.as_bytes(), Version::V40);
    assert!(started.elapsed() < std::time::Duration::from_millis(400), "{:?}", started.elapsed());
    assert!(v4.replace("\r\n ", "").contains("ADR;TYPE=x7;LABEL=7 Main St:;;7 Main St;;;;\r\n"));
    assert!(!v4.contains("\r\nLABEL"));
}
