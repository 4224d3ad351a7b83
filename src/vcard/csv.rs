//! Contacts as CSV, the way Google Contacts and Outlook export and import them: RFC 4180 parsing, the columns of
//! both (Google's older "Given Name … E-mail 1 - Value" and newer "First Name … Organization Name" headers, and
//! Outlook's "E-mail Address … Business Phone"), read into contact fields; and our export in Google's newer
//! form, which both Google and Outlook import.

use super::json::{Address, Fields, Item, Name, Patch};
use std::collections::BTreeSet;

/// Splits CSV text into rows of fields (RFC 4180: quoted fields may hold commas, quotes doubled, line breaks).
pub fn parse(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut at_start = true;
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            ',' => {
                row.push(std::mem::take(&mut field));
                at_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                line += 1;
                row.push(std::mem::take(&mut field));
                if !(row.len() == 1 && row[0].is_empty()) {
                    rows.push(std::mem::take(&mut row));
                } else {
                    row.clear();
                }
                at_start = true;
            }
            c => {
                field.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err(format!("a quoted field is not closed (from before line {line})"));
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// Whether a header row is one of ours to read: Google's or Outlook's.
pub fn looks_like_contacts(header: &[String]) -> bool {
    let h: Vec<String> = header.iter().map(|c| c.trim().to_lowercase()).collect();
    let has = |n: &str| h.iter().any(|c| c == n);
    (has("given name") || has("first name") || has("name") || has("last name"))
        && (h.iter().any(|c| c.starts_with("e-mail")) || h.iter().any(|c| c.contains("phone")))
}

/// One row read: the contact's fields and which columns held something no field takes.
pub struct Row {
    pub patch: Patch,
    pub unread: Vec<String>,
}

/// Google's type labels ("* Work", "Mobile ::: Work") and Outlook's column words, as vCard TYPE values.
fn types_of(label: &str) -> Vec<String> {
    let l = label.trim().trim_start_matches('*').trim().to_lowercase();
    let t = match l.as_str() {
        "" => return Vec::new(),
        "mobile" | "cell" => "cell",
        "work" | "business" => "work",
        "home" | "personal" => "home",
        "main" | "primary" => "main",
        "work fax" | "home fax" | "fax" => "fax",
        "pager" => "pager",
        "other" => "other",
        other => return vec![other.replace(' ', "-")],
    };
    vec![t.to_string()]
}

/// Values Google puts in one cell, separated by " ::: ".
fn values(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(":::").map(str::trim).filter(|v| !v.is_empty())
}

/// An Outlook birthday (`5/17/1990`, `0/0/00` for none) or Google's (`1990-05-17`, `--05-17`), as the card has it.
fn birthday(s: &str) -> String {
    let s = s.trim();
    if let [m, d, y] = s.split('/').collect::<Vec<_>>()[..] {
        let (m, d, y): (u32, u32, u32) = match (m.parse(), d.parse(), y.parse()) {
            (Ok(m), Ok(d), Ok(y)) => (m, d, y),
            _ => return String::new(),
        };
        if m == 0 || d == 0 || m > 12 || d > 31 {
            return String::new();
        }
        return if y < 1000 { format!("--{m:02}-{d:02}") } else { format!("{y:04}-{m:02}-{d:02}") };
    }
    s.to_string()
}

/// Reads the rows after `header` into contact fields.
pub fn read_rows(header: &[String], rows: &[Vec<String>]) -> Vec<Row> {
    let cols: Vec<String> = header.iter().map(|c| c.trim().to_string()).collect();
    rows.iter().map(|r| read_row(&cols, r)).collect()
}

fn read_row(cols: &[String], row: &[String]) -> Row {
    let mut p = Patch::default();
    let mut name = Name::default();
    let (mut emails, mut phones, mut urls): (Vec<Item>, Vec<Item>, Vec<Item>) = (vec![], vec![], vec![]);
    let mut addresses: Vec<(String, Address)> = Vec::new();
    let mut unread = Vec::new();
    let get = |i: usize| row.get(i).map(|v| v.trim()).unwrap_or("");
    // Google's numbered groups ("E-mail 2 - Value" with "E-mail 2 - Type" or "- Label") come in pairs;
    // `prefix` is lower-case, like every column name compared here.
    let lower: Vec<String> = cols.iter().map(|c| c.to_lowercase()).collect();
    let label_of = |prefix: &str| -> Vec<String> {
        for suffix in [" - type", " - label"] {
            let want = format!("{prefix}{suffix}");
            if let Some(i) = lower.iter().position(|c| *c == want) {
                return types_of(get(i));
            }
        }
        Vec::new()
    };
    let mut address = |key: &str, types: Vec<String>, part: &str, value: &str| {
        let i = match addresses.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                addresses.push((key.to_string(), Address { types, ..Address::default() }));
                addresses.len() - 1
            }
        };
        let a = &mut addresses[i].1;
        let slot = match part {
            "street" => &mut a.street,
            "city" => &mut a.locality,
            "region" | "state" => &mut a.region,
            "postal code" => &mut a.postal_code,
            "country" | "country/region" => &mut a.country,
            "po box" => &mut a.po_box,
            "extended address" => &mut a.extended,
            _ => return false,
        };
        if slot.is_empty() {
            *slot = value.to_string();
        } else {
            slot.push('\n');
            slot.push_str(value);
        }
        true
    };
    for (i, col) in cols.iter().enumerate() {
        let v = get(i);
        let c = col.to_lowercase();
        let mut took = true;
        match c.as_str() {
            _ if v.is_empty() => took = true,
            "name" | "display name" => p.full_name = Some(v.into()),
            "given name" | "first name" => name.given = v.into(),
            "additional name" | "middle name" => name.additional = v.into(),
            "family name" | "last name" => name.family = v.into(),
            "name prefix" | "title" => name.prefix = v.into(),
            "name suffix" | "suffix" => name.suffix = v.into(),
            "nickname" => p.nickname = Some(v.into()),
            "organization 1 - name" | "organization name" | "company" => p.organization = Some(v.into()),
            "organization 1 - department" | "organization department" | "department" => p.department = Some(v.into()),
            "organization 1 - title" | "organization title" | "job title" => p.title = Some(v.into()),
            "birthday" => {
                let b = birthday(v);
                took = !b.is_empty() || v == "0/0/00";
                if !b.is_empty() {
                    p.birthday = Some(b);
                }
            }
            "notes" => p.note = Some(v.into()),
            "web page" | "personal web page" => urls.push(Item { value: v.into(), types: vec![], pref: false }),
            "e-mail address" | "e-mail 2 address" | "e-mail 3 address" => {
                emails.push(Item { value: v.into(), types: vec![], pref: false })
            }
            _ => took = false,
        }
        if !took && let Some((prefix, kind)) = numbered(&c) {
            let original_prefix = prefix.as_str();
            match kind {
                "value" if prefix.starts_with("e-mail ") => {
                    let types = label_of(original_prefix);
                    emails.extend(values(v).map(|e| Item { value: e.into(), types: types.clone(), pref: false }));
                    took = true;
                }
                "value" if prefix.starts_with("phone ") => {
                    let types = label_of(original_prefix);
                    phones.extend(values(v).map(|t| Item { value: t.into(), types: types.clone(), pref: false }));
                    took = true;
                }
                "value" if prefix.starts_with("website ") => {
                    let types = label_of(original_prefix);
                    urls.extend(values(v).map(|u| Item { value: u.into(), types: types.clone(), pref: false }));
                    took = true;
                }
                "type" | "label" => took = true,
                // The formatted address repeats the parts.
                "formatted" if prefix.starts_with("address ") => took = true,
                part if prefix.starts_with("address ") => took = address(&prefix, label_of(original_prefix), part, v),
                _ => {}
            }
        }
        if !took {
            // Outlook: "Business Phone 2", "Home Street", "Other Postal Code", …
            took = outlook(&c, v, &mut phones, &mut address);
        }
        if !took && !v.is_empty() {
            unread.push(col.clone());
        }
    }
    if name != Name::default() {
        p.name = Some(name);
    }
    p.emails = (!emails.is_empty()).then_some(emails);
    p.phones = (!phones.is_empty()).then_some(phones);
    p.urls = (!urls.is_empty()).then_some(urls);
    let addresses: Vec<Address> = addresses.into_iter().map(|(_, a)| a).collect();
    p.addresses = (!addresses.is_empty()).then_some(addresses);
    Row { patch: p, unread }
}

/// "e-mail 2 - value" → ("e-mail 2", "value").
fn numbered(c: &str) -> Option<(String, &str)> {
    let (prefix, kind) = c.split_once(" - ")?;
    let (word, n) = prefix.rsplit_once(' ')?;
    n.parse::<u32>().ok()?;
    matches!(word, "e-mail" | "phone" | "website" | "address").then(|| (prefix.to_string(), kind))
}

fn outlook(
    c: &str,
    v: &str,
    phones: &mut Vec<Item>,
    address: &mut impl FnMut(&str, Vec<String>, &str, &str) -> bool,
) -> bool {
    let phone = |t: &str| Item { value: v.to_string(), types: vec![t.to_string()], pref: false };
    let t = match c {
        "business phone" | "business phone 2" | "company main phone" => Some("work"),
        "home phone" | "home phone 2" => Some("home"),
        "mobile phone" | "car phone" => Some("cell"),
        "primary phone" => Some("main"),
        "business fax" | "home fax" | "other fax" => Some("fax"),
        "pager" => Some("pager"),
        "other phone" | "assistant's phone" | "callback" | "radio phone" | "isdn" | "telex" | "tty/tdd phone" => {
            Some("other")
        }
        _ => None,
    };
    if let Some(t) = t {
        phones.push(phone(t));
        return true;
    }
    for (place, ty) in [("business ", "work"), ("home ", "home"), ("other ", "other")] {
        if let Some(part) = c.strip_prefix(place) {
            let part = match part {
                "street 2" | "street 3" => "street",
                p => p,
            };
            return address(place, vec![ty.to_string()], part, v);
        }
    }
    false
}

/// Our export's columns: Google Contacts' current CSV form (which Outlook imports too).
pub const EXPORT_HEADER: &[&str] = &[
    "First Name",
    "Middle Name",
    "Last Name",
    "Name Prefix",
    "Name Suffix",
    "Nickname",
    "Organization Name",
    "Organization Department",
    "Organization Title",
    "Birthday",
    "Notes",
    "E-mail 1 - Label",
    "E-mail 1 - Value",
    "E-mail 2 - Label",
    "E-mail 2 - Value",
    "E-mail 3 - Label",
    "E-mail 3 - Value",
    "Phone 1 - Label",
    "Phone 1 - Value",
    "Phone 2 - Label",
    "Phone 2 - Value",
    "Phone 3 - Label",
    "Phone 3 - Value",
    "Address 1 - Label",
    "Address 1 - Street",
    "Address 1 - City",
    "Address 1 - PO Box",
    "Address 1 - Region",
    "Address 1 - Postal Code",
    "Address 1 - Country",
    "Address 1 - Extended Address",
    "Website 1 - Label",
    "Website 1 - Value",
];

fn quote(out: &mut String, v: &str) {
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

pub fn write_row(out: &mut String, cells: &[&str]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        quote(out, c);
    }
    out.push_str("\r\n");
}

fn label(types: &[String]) -> String {
    let t = types.iter().find(|t| !t.eq_ignore_ascii_case("pref") && !t.eq_ignore_ascii_case("internet"));
    match t.map(|t| t.to_lowercase()).as_deref() {
        Some("cell") => "Mobile".into(),
        Some(t) => {
            let mut c = t.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
        }
        None => String::new(),
    }
}

/// One contact as a row of `EXPORT_HEADER`. Values beyond the columns (a fourth e-mail) are joined with
/// " ::: " into the last column of their kind, as Google does, so nothing is left out.
pub fn export_row(f: &Fields) -> String {
    let join = |items: &[Item], from: usize| -> String {
        items.iter().skip(from).map(|i| i.value.as_str()).collect::<Vec<_>>().join(" ::: ")
    };
    let nth = |items: &[Item], n: usize, last: bool| -> (String, String) {
        match items.get(n) {
            Some(i) if last => (label(&i.types), join(items, n)),
            Some(i) => (label(&i.types), i.value.clone()),
            None => (String::new(), String::new()),
        }
    };
    let (e1, e2, e3) = (nth(&f.emails, 0, false), nth(&f.emails, 1, false), nth(&f.emails, 2, true));
    let (p1, p2, p3) = (nth(&f.phones, 0, false), nth(&f.phones, 1, false), nth(&f.phones, 2, true));
    let w1 = nth(&f.urls, 0, true);
    let a = f.addresses.first().cloned().unwrap_or_default();
    // Further addresses go, whole, into the notes' end rather than nowhere.
    let mut note = f.note.clone();
    for extra in f.addresses.iter().skip(1) {
        let parts = [&extra.street, &extra.locality, &extra.region, &extra.postal_code, &extra.country];
        let text: Vec<&str> = parts.iter().map(|s| s.as_str()).filter(|s| !s.is_empty()).collect();
        if !text.is_empty() {
            if !note.is_empty() {
                note.push('\n');
            }
            note.push_str(&format!("Address ({}): {}", label(&extra.types), text.join(", ")));
        }
    }
    let al = label(&a.types);
    let cells: Vec<&str> = vec![
        &f.name.given,
        &f.name.additional,
        &f.name.family,
        &f.name.prefix,
        &f.name.suffix,
        &f.nickname,
        &f.organization,
        &f.department,
        &f.title,
        &f.birthday,
        &note,
        &e1.0,
        &e1.1,
        &e2.0,
        &e2.1,
        &e3.0,
        &e3.1,
        &p1.0,
        &p1.1,
        &p2.0,
        &p2.1,
        &p3.0,
        &p3.1,
        &al,
        &a.street,
        &a.locality,
        &a.po_box,
        &a.region,
        &a.postal_code,
        &a.country,
        &a.extended,
        &w1.0,
        &w1.1,
    ];
    let mut out = String::new();
    write_row(&mut out, &cells);
    out
}

/// The columns no field takes, across all rows, for telling the person what was not imported.
pub fn unread_columns(rows: &[Row]) -> Vec<String> {
    rows.iter().flat_map(|r| r.unread.iter().cloned()).collect::<BTreeSet<_>>().into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4180_quotes_commas_and_line_breaks() {
        let rows = parse("a,\"b, c\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",,x\r\n\r\n").unwrap();
        assert_eq!(rows, vec![vec!["a", "b, c", "say \"hi\""], vec!["two\nlines", "", "x"]]);
        assert!(parse("a,\"open").is_err());
        let out = export_row(&Fields { note: "a, \"b\"".into(), ..Fields::default() });
        assert!(out.contains("\"a, \"\"b\"\"\""), "{out}");
    }

    #[test]
    fn google_rows_become_fields() {
        let header: Vec<String> = "Name,Given Name,Family Name,E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value,Organization 1 - Name,Organization 1 - Title,Address 1 - Type,Address 1 - Street,Address 1 - City,Birthday,Notes,Custom Field 1 - Value"
            .split(',')
            .map(String::from)
            .collect();
        let rows = parse("Ann Lee,Ann,Lee,* Work,ann@w.com ::: ann@h.com,Mobile,+1 555 0100,Acme,CTO,Home,1 Main St,Springfield,1990-05-17,likes tea,x\n").unwrap();
        assert!(looks_like_contacts(&header));
        let r = &read_rows(&header, &rows)[0];
        let p = &r.patch;
        assert_eq!(p.full_name.as_deref(), Some("Ann Lee"));
        assert_eq!(p.name.as_ref().unwrap().family, "Lee");
        let emails = p.emails.as_ref().unwrap();
        assert_eq!(emails.len(), 2);
        assert_eq!(emails[0].types, vec!["work"]);
        assert_eq!(p.phones.as_ref().unwrap()[0].types, vec!["cell"]);
        assert_eq!(p.organization.as_deref(), Some("Acme"));
        assert_eq!(p.title.as_deref(), Some("CTO"));
        let a = &p.addresses.as_ref().unwrap()[0];
        assert_eq!(
            (a.street.as_str(), a.locality.as_str(), a.types.as_slice()),
            ("1 Main St", "Springfield", &["home".to_string()][..])
        );
        assert_eq!(p.birthday.as_deref(), Some("1990-05-17"));
        assert_eq!(r.unread, vec!["Custom Field 1 - Value"], "what no field takes is reported, not dropped silently");
    }

    #[test]
    fn outlook_rows_become_fields() {
        let header: Vec<String> = "First Name,Last Name,Title,Company,Job Title,E-mail Address,E-mail 2 Address,Business Phone,Mobile Phone,Business Street,Business City,Business Postal Code,Home Street,Birthday,Notes"
            .split(',')
            .map(String::from)
            .collect();
        let rows = parse("Bo,Chen,Dr.,Chen Labs,CEO,bo@c.com,bo@home.com,+1 555 0101,+1 555 0102,2 Side St,Boston,02101,9 Home Rd,5/17/1990,\"a, b\"\n").unwrap();
        let p = &read_rows(&header, &rows)[0].patch;
        let n = p.name.as_ref().unwrap();
        assert_eq!((n.given.as_str(), n.family.as_str(), n.prefix.as_str()), ("Bo", "Chen", "Dr."));
        assert_eq!(p.title.as_deref(), Some("CEO"));
        assert_eq!(p.emails.as_ref().unwrap().len(), 2);
        let phones = p.phones.as_ref().unwrap();
        assert_eq!(phones.iter().map(|t| t.types[0].as_str()).collect::<Vec<_>>(), ["work", "cell"]);
        let adr = p.addresses.as_ref().unwrap();
        assert_eq!(adr.len(), 2);
        assert_eq!(adr[0].postal_code, "02101");
        assert_eq!(adr[1].types, vec!["home"]);
        assert_eq!(p.birthday.as_deref(), Some("1990-05-17"));
        assert_eq!(birthday("0/0/00"), "");
        assert_eq!(birthday("5/17/00"), "--05-17");
        assert_eq!(p.note.as_deref(), Some("a, b"));
    }

    #[test]
    fn an_exported_row_reads_back_the_same() {
        let f = Fields {
            name: Name { given: "Ann".into(), family: "Lee".into(), ..Name::default() },
            organization: "Acme".into(),
            emails: vec![Item { value: "a@x.com".into(), types: vec!["work".into()], pref: false }],
            phones: vec![Item { value: "+1 555".into(), types: vec!["cell".into()], pref: false }],
            birthday: "--05-17".into(),
            ..Fields::default()
        };
        let header: Vec<String> = EXPORT_HEADER.iter().map(|s| s.to_string()).collect();
        let rows = parse(&export_row(&f)).unwrap();
        let r = &read_rows(&header, &rows)[0];
        assert!(r.unread.is_empty(), "{:?}", r.unread);
        let p = &r.patch;
        assert_eq!(p.name.as_ref().unwrap().given, "Ann");
        assert_eq!(p.emails.as_ref().unwrap()[0].types, vec!["work"]);
        assert_eq!(p.phones.as_ref().unwrap()[0].types, vec!["cell"]);
        assert_eq!(p.birthday.as_deref(), Some("--05-17"));
    }
}
