//! The API's JSON form of a contact: a plain documented shape (schema/openapi.yaml, `ContactFields`) rather than
//! jCard, because the dashboard and scripts want `emails[0].value`, not positional arrays of
//! `["email", {"type": ...}, "text", ...]`.
//!
//! Reading maps the modelled properties (FN, N, NICKNAME, ORG, TITLE, EMAIL, TEL, ADR, URL, BDAY, NOTE, PHOTO) to
//! fields. Writing starts from the stored card and changes only what a patch names: a property whose value the
//! patch leaves as it was keeps its original line, a changed one keeps its group and the parameters the API does
//! not model, and every property the API does not model (X-ABLabel, IMPP, RELATED, CATEGORIES, X-*) stays.

use super::convert::{fold_into, inline_data_uri, parse_data_uri, serialize};
use super::{Param, Property, VCard, Version, split_components, unescape_text};
use base64::Engine;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Name {
    pub prefix: String,
    pub given: String,
    pub additional: String,
    pub family: String,
    pub suffix: String,
}

/// An e-mail address, phone number or URL with its types (`work`, `home`, `cell`, …) and preference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub value: String,
    #[serde(default)]
    pub types: Vec<String>,
    #[serde(default)]
    pub pref: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Address {
    pub types: Vec<String>,
    pub pref: bool,
    pub po_box: String,
    pub extended: String,
    pub street: String,
    pub locality: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
}

/// A dated event other than the birthday: `date` as BDAY writes it; `label` is `anniversary`, `other` or one's
/// own words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Event {
    pub date: String,
    pub label: String,
}

/// A related person by name; `label` says what they are to the contact (`spouse`, `manager`, ... or one's own
/// words).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Relation {
    pub name: String,
    pub label: String,
}

/// An instant-messaging address: the service (`jabber`, `skype`, ... or its own name) and the username there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Im {
    pub username: String,
    pub protocol: String,
    pub types: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Organization {
    pub name: String,
    pub department: String,
    pub title: String,
}

/// Everything the API models of a contact, as read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Fields {
    pub full_name: String,
    pub name: Name,
    pub nickname: String,
    pub organization: String,
    pub department: String,
    pub title: String,
    pub emails: Vec<Item>,
    pub phones: Vec<Item>,
    pub addresses: Vec<Address>,
    pub urls: Vec<Item>,
    /// As the card has it: `1990-05-17`, or `--05-17` without a year.
    pub birthday: String,
    pub note: String,
    /// A `data:image/…;base64,` URL or an http(s) URL; absent when the contact has no photo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo: Option<String>,
    // Read and written by the Google bridge (`super::extra`); not part of the API's documented shape yet.
    #[serde(skip)]
    pub events: Vec<Event>,
    #[serde(skip)]
    pub relations: Vec<Relation>,
    #[serde(skip)]
    pub ims: Vec<Im>,
    /// The organizations after the first (`organization`, `department`, `title`).
    #[serde(skip)]
    pub more_organizations: Vec<Organization>,
}

/// A change to a contact: each field present replaces that field, absent fields stay as they are. An empty
/// string or list clears a field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    pub full_name: Option<String>,
    pub name: Option<Name>,
    pub nickname: Option<String>,
    pub organization: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub emails: Option<Vec<Item>>,
    pub phones: Option<Vec<Item>>,
    pub addresses: Option<Vec<Address>>,
    pub urls: Option<Vec<Item>>,
    pub birthday: Option<String>,
    pub note: Option<String>,
    pub photo: Option<String>,
    #[serde(skip)]
    pub events: Option<Vec<Event>>,
    #[serde(skip)]
    pub relations: Option<Vec<Relation>>,
    #[serde(skip)]
    pub ims: Option<Vec<Im>>,
    #[serde(skip)]
    pub more_organizations: Option<Vec<Organization>>,
}

/// A patch that cannot be applied, naming the field (`emails[2].value`) for the problem document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

const MAX_TEXT: usize = 4000;
const MAX_ITEMS: usize = 100;
const MAX_PHOTO: usize = 1024 * 1024;

fn types_of(p: &Property) -> (Vec<String>, bool) {
    let mut pref = p.param("PREF").is_some();
    let mut types = Vec::new();
    for v in p.params.iter().filter(|x| x.name == "TYPE").flat_map(|x| x.values.iter()) {
        let v = v.trim().to_ascii_lowercase();
        match v.as_str() {
            "pref" => pref = true,
            // Noise older clients add to every address or number; it carries nothing a person chooses.
            "internet" | "x400" | "voice" | "" => {}
            _ if !types.contains(&v) => types.push(v),
            _ => {}
        }
    }
    (types, pref)
}

fn item_of(p: &Property) -> Item {
    let (types, pref) = types_of(p);
    let value = match p.name.as_str() {
        "TEL" => p.value.trim().strip_prefix("tel:").unwrap_or(p.value.trim()).to_string(),
        "URL" => p.value.trim().to_string(),
        _ => unescape_text(&p.value),
    };
    Item { value, types, pref }
}

fn address_of(p: &Property) -> Address {
    let (types, pref) = types_of(p);
    let c = split_components(&p.value);
    let at = |i: usize| c.get(i).cloned().unwrap_or_default();
    Address {
        types,
        pref,
        po_box: at(0),
        extended: at(1),
        street: at(2),
        locality: at(3),
        region: at(4),
        postal_code: at(5),
        country: at(6),
    }
}

fn name_of(p: &Property) -> Name {
    let c = split_components(&p.value);
    let at = |i: usize| c.get(i).cloned().unwrap_or_default();
    Name { family: at(0), given: at(1), additional: at(2), prefix: at(3), suffix: at(4) }
}

fn photo_of(p: &Property) -> Option<String> {
    if let Some(uri) = inline_data_uri(p) {
        return Some(uri);
    }
    let value = p.value.trim();
    if value.is_empty() { None } else { Some(value.to_string()) }
}

/// The fields of a card (vCard 2.1 cards should be converted to 3.0 first, for their quoted-printable values).
/// The contact's photo as bytes and media type, when the card carries it inline (not as a link).
pub fn photo_bytes(card: &VCard) -> Option<(String, Vec<u8>)> {
    use base64::Engine;
    let uri = read(card).photo?;
    let (media, data) = parse_data_uri(&uri)?;
    if !media.starts_with("image/") {
        return None;
    }
    let clean: String = data.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(clean).ok()?;
    Some((media.to_string(), bytes))
}

pub fn read(card: &VCard) -> Fields {
    let mut f = Fields::default();
    let mut seen_org = false;
    for p in &card.props {
        match p.name.as_str() {
            "FN" if f.full_name.is_empty() => f.full_name = unescape_text(&p.value),
            "N" if f.name == Name::default() => f.name = name_of(p),
            "NICKNAME" if f.nickname.is_empty() => f.nickname = unescape_text(&p.value),
            "ORG" if !seen_org => {
                seen_org = true;
                let c = split_components(&p.value);
                f.organization = c.first().cloned().unwrap_or_default();
                f.department = c.get(1).cloned().unwrap_or_default();
            }
            "TITLE" if f.title.is_empty() => f.title = unescape_text(&p.value),
            "EMAIL" => f.emails.push(item_of(p)),
            "TEL" => f.phones.push(item_of(p)),
            "URL" => f.urls.push(item_of(p)),
            "ADR" => f.addresses.push(address_of(p)),
            "BDAY" if f.birthday.is_empty() => f.birthday = p.value.trim().to_string(),
            "NOTE" if f.note.is_empty() => f.note = unescape_text(&p.value),
            "PHOTO" if f.photo.is_none() => f.photo = photo_of(p),
            _ => {}
        }
    }
    let extra = super::extra::read(&card.props);
    f.events = extra.events;
    f.relations = extra.relations;
    f.ims = extra.ims;
    f.more_organizations = extra.more_organizations;
    f
}

fn check_text(field: &str, v: &str, multiline: bool) -> Result<(), FieldError> {
    if v.chars().count() > MAX_TEXT {
        return Err(field_error(field, format!("at most {MAX_TEXT} characters")));
    }
    if v.chars().any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t'))) {
        return Err(field_error(field, "control characters are not allowed here"));
    }
    Ok(())
}

fn check_types(field: &str, types: &[String]) -> Result<(), FieldError> {
    if types.len() > 10 {
        return Err(field_error(field, "at most 10 types"));
    }
    for t in types {
        if t.is_empty() || t.len() > 40 || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(field_error(field, format!("'{t}' is not a type (letters, digits and '-', e.g. work, cell)")));
        }
    }
    Ok(())
}

fn check_items(field: &str, items: &[Item]) -> Result<(), FieldError> {
    if items.len() > MAX_ITEMS {
        return Err(field_error(field, format!("at most {MAX_ITEMS} entries")));
    }
    for (i, it) in items.iter().enumerate() {
        let f = format!("{field}[{i}].value");
        check_text(&f, &it.value, false)?;
        let v = it.value.trim();
        if v.is_empty() {
            return Err(field_error(f, "must not be empty"));
        }
        match field {
            "emails" if !valid_email(v) => return Err(field_error(f, format!("'{v}' is not an e-mail address"))),
            "phones" if !v.chars().any(|c| c.is_ascii_digit()) => {
                return Err(field_error(f, format!("'{v}' is not a phone number")));
            }
            "urls" if v.contains(char::is_whitespace) => return Err(field_error(f, "a URL has no spaces")),
            _ => {}
        }
        check_types(&format!("{field}[{i}].types"), &it.types)?;
    }
    Ok(())
}

fn valid_email(v: &str) -> bool {
    match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !v.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// `YYYY-MM-DD`, `YYYYMMDD`, `--MM-DD` or `--MMDD` (RFC 6350 §4.3.1 date forms people use).
fn valid_birthday(v: &str) -> bool {
    if !v.is_ascii() {
        return false;
    }
    let digits_ok = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let (year, rest) = if let Some(r) = v.strip_prefix("--") {
        (None, r.to_string())
    } else if v.len() >= 8 {
        (Some(&v[..4]), v[4..].trim_start_matches('-').to_string())
    } else {
        return false;
    };
    if year.is_some_and(|y| !digits_ok(y)) {
        return false;
    }
    let md = rest.replace('-', "");
    if md.len() != 4 || !digits_ok(&md) || rest.len() > 5 {
        return false;
    }
    let (m, d) = (md[..2].parse::<u32>().unwrap_or(0), md[2..].parse::<u32>().unwrap_or(0));
    (1..=12).contains(&m) && (1..=31).contains(&d)
}

/// A photo as given: a base64 `data:image/…` URL (decoded to check it) or an http(s) URL.
fn check_photo(v: &str) -> Result<(), FieldError> {
    if v.is_empty() || v.starts_with("https://") || v.starts_with("http://") {
        if v.contains(char::is_whitespace) {
            return Err(field_error("photo", "a URL has no spaces"));
        }
        return Ok(());
    }
    let Some((media, data)) = parse_data_uri(v) else {
        return Err(field_error("photo", "a photo is a data:image/...;base64, URL or an http(s) URL"));
    };
    if !matches!(media, "image/jpeg" | "image/png" | "image/gif" | "image/webp") {
        return Err(field_error("photo", format!("{media} is not a supported image type (JPEG, PNG, GIF, WebP)")));
    }
    if data.len() > MAX_PHOTO * 4 / 3 + 4 {
        return Err(field_error("photo", format!("a photo is at most {} KiB", MAX_PHOTO / 1024)));
    }
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| field_error("photo", "the photo's base64 data does not decode"))?;
    Ok(())
}

/// Checks a patch before it touches anything, naming the first field at fault.
fn check(patch: &Patch) -> Result<(), FieldError> {
    for (field, v, multiline) in [
        ("full_name", &patch.full_name, false),
        ("nickname", &patch.nickname, false),
        ("organization", &patch.organization, false),
        ("department", &patch.department, false),
        ("title", &patch.title, false),
        ("note", &patch.note, true),
    ] {
        if let Some(v) = v {
            check_text(field, v, multiline)?;
        }
    }
    if let Some(n) = &patch.name {
        for (field, v) in [
            ("name.prefix", &n.prefix),
            ("name.given", &n.given),
            ("name.additional", &n.additional),
            ("name.family", &n.family),
            ("name.suffix", &n.suffix),
        ] {
            check_text(field, v, false)?;
        }
    }
    for (field, items) in [("emails", &patch.emails), ("phones", &patch.phones), ("urls", &patch.urls)] {
        if let Some(items) = items {
            check_items(field, items)?;
        }
    }
    if let Some(addrs) = &patch.addresses {
        if addrs.len() > MAX_ITEMS {
            return Err(field_error("addresses", format!("at most {MAX_ITEMS} entries")));
        }
        for (i, a) in addrs.iter().enumerate() {
            for (name, v) in [
                ("po_box", &a.po_box),
                ("extended", &a.extended),
                ("street", &a.street),
                ("locality", &a.locality),
                ("region", &a.region),
                ("postal_code", &a.postal_code),
                ("country", &a.country),
            ] {
                check_text(&format!("addresses[{i}].{name}"), v, name == "street")?;
            }
            check_types(&format!("addresses[{i}].types"), &a.types)?;
        }
    }
    if let Some(b) = &patch.birthday
        && !b.trim().is_empty()
        && !valid_birthday(b.trim())
    {
        return Err(field_error("birthday", "a birthday is YYYY-MM-DD, or --MM-DD without a year"));
    }
    if let Some(p) = &patch.photo {
        check_photo(p.trim())?;
    }
    if let Some(e) = &patch.events {
        super::extra::check_events(e)?;
    }
    if let Some(r) = &patch.relations {
        super::extra::check_relations(r)?;
    }
    if let Some(m) = &patch.ims {
        super::extra::check_ims(m)?;
    }
    if let Some(o) = &patch.more_organizations {
        super::extra::check_organizations(o)?;
    }
    Ok(())
}

/// One property as the patch wants it: its value (already escaped) and the parameters the API models.
struct Wanted {
    value: String,
    types: Vec<String>,
    pref: bool,
    /// Parameters that say how the value is written (a photo's ENCODING and TYPE, VALUE=uri).
    form: Vec<Param>,
}

/// Parameters whose meaning the API owns on the properties it models; everything else on a line is kept.
const MODELLED_PARAMS: [&str; 5] = ["TYPE", "PREF", "ENCODING", "VALUE", "MEDIATYPE"];

fn build(name: &str, group: Option<String>, kept: Vec<Param>, w: &Wanted, version: Version) -> Property {
    let mut params = kept;
    params.extend(w.form.iter().cloned());
    let mut types = w.types.clone();
    if w.pref && version != Version::V40 {
        types.push("pref".into());
    }
    if !types.is_empty() {
        params.push(Param { name: "TYPE".into(), values: types });
    }
    if w.pref && version == Version::V40 {
        params.push(Param { name: "PREF".into(), values: vec!["1".into()] });
    }
    let mut p = Property { group, name: name.into(), params, value: w.value.clone(), raw: String::new() };
    p.raw = serialize(&p);
    p
}

/// Replaces every `name` property of `props` with `wanted`, in place: the i-th existing property becomes the i-th
/// wanted one (untouched when `same` says it already is), extra wanted ones follow the last existing one, and
/// existing ones beyond the wanted are dropped together with their Apple item labels (`itemN.X-ABLabel`).
fn replace(
    props: &mut Vec<Property>,
    name: &str,
    wanted: &[Wanted],
    version: Version,
    same: &dyn Fn(&Property, usize) -> bool,
) {
    let positions: Vec<usize> = props.iter().enumerate().filter(|(_, p)| p.name == name).map(|(i, _)| i).collect();
    let mut remove = Vec::new();
    for (k, &at) in positions.iter().enumerate() {
        match wanted.get(k) {
            Some(w) if !same(&props[at], k) => {
                let old = &props[at];
                let kept: Vec<Param> =
                    old.params.iter().filter(|x| !MODELLED_PARAMS.contains(&x.name.as_str())).cloned().collect();
                props[at] = build(name, old.group.clone(), kept, w, version);
            }
            Some(_) => {}
            None => remove.push(at),
        }
    }
    let insert_at = positions.last().map_or(props.len(), |&i| i + 1);
    let extra: Vec<Property> =
        wanted.iter().skip(positions.len()).map(|w| build(name, None, Vec::new(), w, version)).collect();
    props.splice(insert_at..insert_at, extra);
    remove_with_labels(props, &remove);
}

/// Removes the properties at `at`, and the Apple annotations of their groups (`itemN.X-ABLabel`) when nothing
/// else is left in the group: a label whose property is gone would label nothing (Apple shows an empty field).
pub(super) fn remove_with_labels(props: &mut Vec<Property>, at: &[usize]) {
    let groups: Vec<String> = at.iter().filter_map(|&i| props[i].group.clone()).collect();
    let mut i = 0;
    props.retain(|_| {
        let keep = !at.contains(&i);
        i += 1;
        keep
    });
    for g in groups {
        let same = |p: &Property| p.group.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(&g));
        if !props.iter().any(|p| same(p) && !p.name.starts_with("X-AB")) {
            props.retain(|p| !same(p));
        }
    }
}

fn text_wanted(v: &str) -> Vec<Wanted> {
    let v = v.trim();
    if v.is_empty() {
        Vec::new()
    } else {
        vec![Wanted { value: super::escape_text(v), types: Vec::new(), pref: false, form: Vec::new() }]
    }
}

fn set_text(props: &mut Vec<Property>, name: &str, v: &str, version: Version) {
    let want = v.trim().to_string();
    replace(props, name, &text_wanted(v), version, &|p, _| unescape_text(&p.value) == want);
}

fn item_wanted(name: &str, it: &Item) -> Wanted {
    let value = it.value.trim();
    let types: Vec<String> = it.types.iter().map(|t| t.to_ascii_lowercase()).collect();
    let value = match name {
        "TEL" | "URL" => value.to_string(),
        _ => super::escape_text(value),
    };
    Wanted { value, types, pref: it.pref, form: Vec::new() }
}

fn normalized(it: &Item) -> Item {
    Item {
        value: it.value.trim().to_string(),
        types: it.types.iter().map(|t| t.to_ascii_lowercase()).collect(),
        pref: it.pref,
    }
}

fn set_items(props: &mut Vec<Property>, name: &str, items: &[Item], version: Version) {
    let wanted: Vec<Wanted> = items.iter().map(|it| item_wanted(name, it)).collect();
    replace(props, name, &wanted, version, &|p, k| items.get(k).is_some_and(|it| item_of(p) == normalized(it)));
}

fn components(parts: &[&str]) -> String {
    parts.iter().map(|p| super::escape_text(p.trim())).collect::<Vec<_>>().join(";")
}

fn set_addresses(props: &mut Vec<Property>, addrs: &[Address], version: Version) {
    let normal: Vec<Address> = addrs
        .iter()
        .map(|a| Address {
            types: a.types.iter().map(|t| t.to_ascii_lowercase()).collect(),
            pref: a.pref,
            po_box: a.po_box.trim().into(),
            extended: a.extended.trim().into(),
            street: a.street.trim().into(),
            locality: a.locality.trim().into(),
            region: a.region.trim().into(),
            postal_code: a.postal_code.trim().into(),
            country: a.country.trim().into(),
        })
        .collect();
    let wanted: Vec<Wanted> = normal
        .iter()
        .map(|a| Wanted {
            value: components(&[&a.po_box, &a.extended, &a.street, &a.locality, &a.region, &a.postal_code, &a.country]),
            types: a.types.clone(),
            pref: a.pref,
            form: Vec::new(),
        })
        .collect();
    replace(props, "ADR", &wanted, version, &|p, k| normal.get(k).is_some_and(|a| &address_of(p) == a));
}

fn photo_wanted(v: &str, version: Version) -> Vec<Wanted> {
    let v = v.trim();
    if v.is_empty() {
        return Vec::new();
    }
    let form = |name: &str, value: &str| Param { name: name.into(), values: vec![value.into()] };
    let wanted = match (parse_data_uri(v), version) {
        (Some((media, data)), Version::V30 | Version::V21) => {
            let subtype = media.split('/').nth(1).unwrap_or("jpeg").to_ascii_uppercase();
            Wanted {
                value: data.to_string(),
                types: Vec::new(),
                pref: false,
                form: vec![form("ENCODING", "b"), form("TYPE", &subtype)],
            }
        }
        (Some(_), Version::V40) => Wanted { value: v.to_string(), types: Vec::new(), pref: false, form: Vec::new() },
        (None, _) => Wanted { value: v.to_string(), types: Vec::new(), pref: false, form: vec![form("VALUE", "uri")] },
    };
    vec![wanted]
}

/// The full name a card must carry (FN is required by RFC 6350 §6.2.1 and RFC 2426) when the patch leaves it
/// empty: from the name, else the organization, else the first e-mail address.
fn derived_full_name(f: &Fields) -> String {
    let n = &f.name;
    let joined = [&n.prefix, &n.given, &n.additional, &n.family, &n.suffix]
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if !joined.is_empty() {
        return joined;
    }
    if !f.organization.trim().is_empty() {
        return f.organization.trim().to_string();
    }
    f.emails.first().map(|e| e.value.trim().to_string()).unwrap_or_default()
}

/// Applies a checked patch to `base` (the card as the caller reads it) or, for a new contact, to an empty card
/// with `new_uid`. Returns the new card's bytes.
pub fn apply(base: Option<&VCard>, new_uid: &str, patch: &Patch) -> Result<Vec<u8>, FieldError> {
    check(patch)?;
    let (version, mut props) = match base {
        Some(card) => (card.version, card.props.clone()),
        None => (
            // 3.0 is what every client reads natively (iOS and macOS write it); 4.0 clients get it converted.
            Version::V30,
            vec![build_plain("PRODID", "-//Labelbook//API//EN"), build_plain("UID", new_uid)],
        ),
    };
    // Replacing the first ORG or TITLE drops the others; they are written back after.
    let more_organizations = super::extra::read(&props).more_organizations;
    if let Some(n) = &patch.name {
        let value = components(&[&n.family, &n.given, &n.additional, &n.prefix, &n.suffix]);
        let empty = value.chars().all(|c| c == ';');
        let wanted = if empty && version == Version::V40 {
            Vec::new()
        } else {
            vec![Wanted { value, types: Vec::new(), pref: false, form: Vec::new() }]
        };
        let want = Name {
            prefix: n.prefix.trim().into(),
            given: n.given.trim().into(),
            additional: n.additional.trim().into(),
            family: n.family.trim().into(),
            suffix: n.suffix.trim().into(),
        };
        replace(&mut props, "N", &wanted, version, &|p, _| name_of(p) == want);
    }
    for (name, v) in [("NICKNAME", &patch.nickname), ("TITLE", &patch.title), ("NOTE", &patch.note)] {
        if let Some(v) = v {
            set_text(&mut props, name, v, version);
        }
    }
    if patch.organization.is_some() || patch.department.is_some() {
        let current = read(&VCard { version, props: props.clone() });
        let org = patch.organization.as_deref().unwrap_or(&current.organization).trim().to_string();
        let dept = patch.department.as_deref().unwrap_or(&current.department).trim().to_string();
        let wanted = match (org.is_empty(), dept.is_empty()) {
            (true, true) => Vec::new(),
            (_, true) => vec![Wanted { value: components(&[&org]), types: Vec::new(), pref: false, form: Vec::new() }],
            _ => vec![Wanted { value: components(&[&org, &dept]), types: Vec::new(), pref: false, form: Vec::new() }],
        };
        replace(&mut props, "ORG", &wanted, version, &|p, _| {
            let c = split_components(&p.value);
            c.first().map(String::as_str).unwrap_or("") == org && c.get(1).map(String::as_str).unwrap_or("") == dept
        });
    }
    for (name, items) in [("EMAIL", &patch.emails), ("TEL", &patch.phones), ("URL", &patch.urls)] {
        if let Some(items) = items {
            set_items(&mut props, name, items, version);
        }
    }
    if let Some(addrs) = &patch.addresses {
        set_addresses(&mut props, addrs, version);
    }
    if let Some(b) = &patch.birthday {
        let b = b.trim().to_string();
        let wanted = if b.is_empty() {
            Vec::new()
        } else {
            vec![Wanted { value: b.clone(), types: Vec::new(), pref: false, form: Vec::new() }]
        };
        replace(&mut props, "BDAY", &wanted, version, &|p, _| p.value.trim() == b);
    }
    super::extra::set_more_organizations(
        &mut props,
        patch.more_organizations.as_deref().unwrap_or(&more_organizations),
    );
    if let Some(e) = &patch.events {
        super::extra::set_events(&mut props, e, version);
    }
    if let Some(r) = &patch.relations {
        super::extra::set_relations(&mut props, r, version);
    }
    if let Some(m) = &patch.ims {
        super::extra::set_ims(&mut props, m);
    }
    if let Some(photo) = &patch.photo {
        let want = photo.trim().to_string();
        replace(&mut props, "PHOTO", &photo_wanted(photo, version), version, &|p, _| {
            photo_of(p).as_deref() == Some(want.as_str())
        });
    }
    let current = read(&VCard { version, props: props.clone() });
    if let Some(v) = &patch.full_name {
        set_text(&mut props, "FN", v, version);
    }
    if !props.iter().any(|p| p.name == "FN" && !p.value.trim().is_empty()) {
        let derived = derived_full_name(&current);
        if derived.is_empty() {
            return Err(field_error("full_name", "a contact needs a name, an organization or an e-mail address"));
        }
        set_text(&mut props, "FN", &derived, version);
    }
    if version != Version::V40 && !props.iter().any(|p| p.name == "N") {
        // vCard 3.0 requires N (RFC 2426 §5); Thunderbird refuses a card without it.
        props.push(build_plain("N", ";;;;"));
    }
    Ok(render(version, &props).into_bytes())
}

fn build_plain(name: &str, value: &str) -> Property {
    let mut p =
        Property { group: None, name: name.into(), params: Vec::new(), value: value.into(), raw: String::new() };
    p.raw = serialize(&p);
    p
}

fn render(version: Version, props: &[Property]) -> String {
    let mut out = String::with_capacity(props.iter().map(|p| p.raw.len() + 8).sum::<usize>() + 48);
    out.push_str("BEGIN:VCARD\r\nVERSION:");
    out.push_str(version.as_str());
    out.push_str("\r\n");
    for p in props {
        fold_into(&mut out, &p.raw);
    }
    out.push_str("END:VCARD\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcard::parse;

    const IOS: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.0//EN\r\nN:Doe;Jane;;Dr.;\r\nFN:Dr. Jane Doe\r\nORG:Acme;R&D\r\nitem1.EMAIL;type=INTERNET;type=pref:jane@acme.test\r\nitem1.X-ABLabel:_$!<Other>!$_\r\nTEL;type=CELL;type=VOICE:+1 555 0100\r\nitem2.TEL:+1 555 0199\r\nitem2.X-ABLabel:boat\r\nADR;type=HOME:;;1 Main St\\, Apt 2;Springfield;;12345;USA\r\nIMPP;X-SERVICE-TYPE=Skype:skype:jane\r\nX-CUSTOM;X-KEEP=1:keep me\r\nUID:ios-1\r\nEND:VCARD\r\n";

    fn apply_str(base: &str, patch: &str) -> String {
        let card = parse(base.as_bytes()).unwrap();
        let patch: Patch = serde_json::from_str(patch).unwrap();
        String::from_utf8(apply(Some(&card), "", &patch).unwrap()).unwrap()
    }

    #[test]
    fn reads_an_ios_card() {
        let f = read(&parse(IOS.as_bytes()).unwrap());
        assert_eq!(f.full_name, "Dr. Jane Doe");
        assert_eq!(f.name.family, "Doe");
        assert_eq!(f.name.prefix, "Dr.");
        assert_eq!((f.organization.as_str(), f.department.as_str()), ("Acme", "R&D"));
        assert_eq!(f.emails, vec![Item { value: "jane@acme.test".into(), types: vec![], pref: true }]);
        assert_eq!(f.phones[0], Item { value: "+1 555 0100".into(), types: vec!["cell".into()], pref: false });
        assert_eq!(f.addresses[0].street, "1 Main St, Apt 2");
        assert_eq!(f.addresses[0].postal_code, "12345");
    }

    #[test]
    fn an_empty_patch_changes_nothing() {
        assert_eq!(apply_str(IOS, "{}"), IOS);
    }

    #[test]
    fn a_patch_keeps_every_property_the_api_does_not_model() {
        let out = apply_str(
            IOS,
            r#"{"phones":[{"value":"+1 555 0100","types":["cell"]},{"value":"+44 20 7946 0000","types":["work"]}],"note":"met at the fair; again"}"#,
        );
        // The first number is unchanged (same value and types as read), so its line is untouched.
        assert!(out.contains("TEL;type=CELL;type=VOICE:+1 555 0100\r\n"), "{out}");
        // The second takes the place of item2.TEL, keeping its group; its label stays with it.
        assert!(out.contains("item2.TEL;TYPE=work:+44 20 7946 0000\r\n"), "{out}");
        assert!(out.contains("item2.X-ABLabel:boat\r\n"));
        assert!(out.contains("IMPP;X-SERVICE-TYPE=Skype:skype:jane\r\n"));
        assert!(out.contains("X-CUSTOM;X-KEEP=1:keep me\r\n"));
        assert!(out.contains("NOTE:met at the fair\\; again\r\n"));
        assert!(out.contains("item1.EMAIL;type=INTERNET;type=pref:jane@acme.test\r\n"));
    }

    #[test]
    fn removing_an_item_drops_its_apple_label() {
        let out = apply_str(IOS, r#"{"phones":[{"value":"+1 555 0100","types":["cell"]}],"emails":[]}"#);
        assert!(!out.contains("item2."), "{out}");
        assert!(!out.contains("item1."), "{out}");
        assert!(!out.contains("EMAIL"));
        let f = read(&parse(out.as_bytes()).unwrap());
        assert_eq!(f.phones.len(), 1);
    }

    #[test]
    fn a_new_contact_is_a_valid_vcard_3_with_a_derived_full_name() {
        let patch: Patch = serde_json::from_str(
            r#"{"name":{"given":"Ann","family":"Lee"},"emails":[{"value":"ann@x.test","types":["work"],"pref":true}],"birthday":"1990-05-17","photo":"data:image/png;base64,iVBORw0KGgo="}"#,
        )
        .unwrap();
        let out = apply(None, "uid-1", &patch).unwrap();
        let (card, ix) = crate::vcard::validate(&out, 100).unwrap();
        assert_eq!(card.version, Version::V30);
        assert_eq!(ix.uid, "uid-1");
        assert_eq!(ix.fn_, "Ann Lee");
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("EMAIL;TYPE=work,pref:ann@x.test\r\n"), "{text}");
        assert!(text.contains("PHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgo=\r\n"), "{text}");
        let f = read(&card);
        assert_eq!(f.photo.as_deref(), Some("data:image/png;base64,iVBORw0KGgo="));
        assert!(f.emails[0].pref);
        assert_eq!(f.birthday, "1990-05-17");
    }

    #[test]
    fn vcard_4_writes_pref_and_data_uris_its_own_way() {
        let base = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u4\r\nFN:X\r\nEND:VCARD\r\n";
        let out =
            apply_str(base, r#"{"emails":[{"value":"x@y.test","pref":true}],"photo":"data:image/jpeg;base64,/9j/"}"#);
        assert!(out.contains("EMAIL;PREF=1:x@y.test\r\n"), "{out}");
        assert!(out.contains("PHOTO:data:image/jpeg;base64,/9j/\r\n"), "{out}");
    }

    #[test]
    fn bad_fields_are_named() {
        let bad = |json: &str| {
            let p: Patch = serde_json::from_str(json).unwrap();
            apply(None, "u", &p).unwrap_err().field
        };
        assert_eq!(bad(r#"{"emails":[{"value":"a@b.test"},{"value":"nope"}]}"#), "emails[1].value");
        assert_eq!(bad(r#"{"full_name":"A","phones":[{"value":"call me"}]}"#), "phones[0].value");
        assert_eq!(bad(r#"{"full_name":"A","birthday":"1990-13-01"}"#), "birthday");
        // Found by schemathesis: a non-ASCII birthday once panicked on a char boundary.
        assert_eq!(bad(r#"{"full_name":"A","birthday":"±𡾻񎕜íØ"}"#), "birthday");
        assert_eq!(bad(r#"{"full_name":"A","photo":"data:text/html;base64,PGI+"}"#), "photo");
        assert_eq!(bad(r#"{"full_name":"A","emails":[{"value":"a@b.test","types":["wo rk"]}]}"#), "emails[0].types");
        assert_eq!(bad(r#"{"note":"only a note"}"#), "full_name");
        assert_eq!(bad(r#"{"full_name":"line\nbreak"}"#), "full_name");
        assert!(serde_json::from_str::<Patch>(r#"{"unknown":1}"#).is_err());
    }

    #[test]
    fn clearing_the_full_name_derives_it_again() {
        let out = apply_str(IOS, r#"{"full_name":""}"#);
        assert!(out.contains("FN:Dr. Jane Doe\r\n"), "{out}");
    }

    #[test]
    fn long_values_are_folded() {
        let note = "x".repeat(200);
        let out = apply_str(IOS, &format!(r#"{{"note":"{note}"}}"#));
        assert!(out.lines().all(|l| l.len() <= 76));
        assert_eq!(read(&parse(out.as_bytes()).unwrap()).note, note);
    }
}
