//! vCard fields ⇄ the People API's Person, for the fields Google holds. Pure: no IO.
//!
//! A Person is kept as JSON so the fields we do not map (and Google's output-only ones) pass through untouched.
//! What we compare and remember is the *projection*: each mapped field with only the keys we write, so
//! Google's additions (`metadata`, `formattedType`, `displayName`, ...) never look like an edit.

use crate::vcard::json::{Address, Event, Fields, Im, Item, Name, Organization, Patch, Relation};
use serde_json::{Map, Value, json};

/// The Person fields the bridge writes, in the order of the update mask. Google replaces each masked field
/// whole, so the mask names exactly these: a field we do not map is never cleared by our update.
pub const MAPPED: &[&str] = &[
    "names",
    "nicknames",
    "emailAddresses",
    "phoneNumbers",
    "addresses",
    "organizations",
    "birthdays",
    "events",
    "relations",
    "imClients",
    "urls",
    "biographies",
];

/// Fields mapped since a later release: a record of what was sent from before then does not hold them, so what
/// Google has there is unknown, not "nothing" (see `changed_fields`).
const MAPPED_LATER: &[&str] = &["events", "relations", "imClients"];

/// `updatePersonFields` of our updates: the mapped fields, the memberships (labels) and our tags.
pub fn update_mask() -> String {
    let mut m: Vec<&str> = MAPPED.to_vec();
    m.extend(["memberships", "clientData"]);
    m.join(",")
}

/// `personFields` of our reads.
pub fn read_mask() -> String {
    format!("{},metadata", update_mask())
}

/// The clientData key tagging a Google contact with our contact id, and a group with our label id.
pub const CONTACT_KEY: &str = "labelbook.contact";
pub const LABEL_KEY: &str = "labelbook.label";

fn s(v: &str) -> Value {
    Value::String(v.trim().to_string())
}

fn nonempty(entry: Map<String, Value>) -> Option<Value> {
    entry.values().any(|v| v.as_str().is_none_or(|s| !s.is_empty())).then_some(Value::Object(entry))
}

fn obj(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().filter(|(_, v)| !v.trim().is_empty()).map(|(k, v)| (k.to_string(), s(v))).collect()
}

fn has(types: &[String], t: &str) -> bool {
    types.iter().any(|x| x.eq_ignore_ascii_case(t))
}

/// Google's type of a phone: vCard TYPE values (RFC 6350 §6.4.1) to the People API's fixed words.
fn phone_type(types: &[String]) -> &'static str {
    let fax = has(types, "fax");
    match () {
        _ if fax && has(types, "home") => "homeFax",
        _ if fax && has(types, "work") => "workFax",
        _ if fax => "otherFax",
        _ if has(types, "pager") && has(types, "work") => "workPager",
        _ if has(types, "pager") => "pager",
        _ if has(types, "cell") && has(types, "work") => "workMobile",
        _ if has(types, "cell") => "mobile",
        _ if has(types, "main") || has(types, "x-main") => "main",
        _ if has(types, "home") => "home",
        _ if has(types, "work") => "work",
        _ => "other",
    }
}

fn phone_types(google: &str) -> Vec<String> {
    let t: &[&str] = match google {
        "homeFax" => &["home", "fax"],
        "workFax" => &["work", "fax"],
        "otherFax" => &["fax"],
        "workPager" => &["work", "pager"],
        "pager" => &["pager"],
        "workMobile" => &["work", "cell"],
        "mobile" => &["cell"],
        "main" => &["main"],
        "home" => &["home"],
        "work" => &["work"],
        _ => &[],
    };
    t.iter().map(|s| s.to_string()).collect()
}

/// Home, work or other: e-mail addresses, postal addresses and URLs.
fn place_type(types: &[String]) -> &'static str {
    if has(types, "home") {
        "home"
    } else if has(types, "work") {
        "work"
    } else {
        "other"
    }
}

fn place_types(google: &str) -> Vec<String> {
    match google {
        "home" | "work" => vec![google.to_string()],
        _ => Vec::new(),
    }
}

/// A vCard date (`1980-05-17`, `19800517`, `--05-17`, `--0517`) as a Google date; `None` for anything else
/// (a text birthday, a time), which Google then does not hold.
fn google_date(v: &str) -> Option<Value> {
    let v = v.trim();
    let digits: String = v.chars().filter(|c| *c != '-').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = if v.starts_with("--") {
        (None, digits.as_str())
    } else if digits.len() == 8 {
        (digits[..4].parse::<u32>().ok(), &digits[4..])
    } else {
        return None;
    };
    if rest.len() != 4 {
        return None;
    }
    let month: u32 = rest[..2].parse().ok()?;
    let day: u32 = rest[2..].parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut d = json!({ "month": month, "day": day });
    if let Some(y) = year {
        d["year"] = json!(y);
    }
    Some(d)
}

fn vcard_date(d: &Value) -> Option<String> {
    let month = d.get("month")?.as_u64()?;
    let day = d.get("day")?.as_u64()?;
    Some(match d.get("year").and_then(Value::as_u64).filter(|y| *y > 0) {
        Some(y) => format!("{y:04}-{month:02}-{day:02}"),
        None => format!("--{month:02}-{day:02}"),
    })
}

/// The mapped fields of a card as Google holds them (each always present, empty when the card has none), in
/// the projected form: only the keys we write.
pub fn to_google(f: &Fields) -> Map<String, Value> {
    let mut out = Map::new();
    let n = &f.name;
    let name = obj(&[
        ("familyName", &n.family),
        ("givenName", &n.given),
        ("middleName", &n.additional),
        ("honorificPrefix", &n.prefix),
        ("honorificSuffix", &n.suffix),
        ("unstructuredName", &f.full_name),
    ]);
    out.insert("names".into(), Value::Array(nonempty(name).into_iter().collect()));
    let nick = obj(&[("value", &f.nickname)]);
    out.insert("nicknames".into(), Value::Array(nonempty(nick).into_iter().collect()));
    let items = |list: &[Item], ty: &dyn Fn(&[String]) -> &'static str| -> Value {
        Value::Array(
            list.iter()
                .filter(|i| !i.value.trim().is_empty())
                .map(|i| json!({"value": i.value.trim(), "type": ty(&i.types)}))
                .collect(),
        )
    };
    out.insert("emailAddresses".into(), items(&f.emails, &place_type));
    out.insert("phoneNumbers".into(), items(&f.phones, &phone_type));
    out.insert(
        "addresses".into(),
        Value::Array(
            f.addresses
                .iter()
                .filter_map(|a| {
                    let mut m = obj(&[
                        ("poBox", &a.po_box),
                        ("extendedAddress", &a.extended),
                        ("streetAddress", &a.street),
                        ("city", &a.locality),
                        ("region", &a.region),
                        ("postalCode", &a.postal_code),
                        ("country", &a.country),
                    ]);
                    if m.is_empty() {
                        return None;
                    }
                    m.insert("type".into(), s(place_type(&a.types)));
                    Some(Value::Object(m))
                })
                .collect(),
        ),
    );
    let first = Organization { name: f.organization.clone(), department: f.department.clone(), title: f.title.clone() };
    out.insert(
        "organizations".into(),
        Value::Array(
            std::iter::once(&first)
                .chain(&f.more_organizations)
                .filter_map(|o| nonempty(obj(&[("name", &o.name), ("department", &o.department), ("title", &o.title)])))
                .collect(),
        ),
    );
    let bday = google_date(&f.birthday).map(|d| json!({ "date": d }));
    out.insert("birthdays".into(), Value::Array(bday.into_iter().collect()));
    out.insert(
        "events".into(),
        Value::Array(
            f.events
                .iter()
                .filter_map(|e| {
                    let label = if e.label.trim().is_empty() { "other" } else { e.label.trim() };
                    Some(json!({ "date": google_date(&e.date)?, "type": label }))
                })
                .collect(),
        ),
    );
    out.insert(
        "relations".into(),
        Value::Array(
            f.relations.iter().filter_map(|r| nonempty(obj(&[("person", &r.name), ("type", &r.label)]))).collect(),
        ),
    );
    out.insert(
        "imClients".into(),
        Value::Array(
            f.ims
                .iter()
                .filter_map(|m| {
                    let ty = place_type(&m.types);
                    nonempty(obj(&[("username", &m.username), ("protocol", &m.protocol), ("type", ty)]))
                })
                .collect(),
        ),
    );
    out.insert("urls".into(), items(&f.urls, &place_type));
    let bio = (!f.note.trim().is_empty()).then(|| json!({"value": f.note, "contentType": "TEXT_PLAIN"}));
    out.insert("biographies".into(), Value::Array(bio.into_iter().collect()));
    out
}

/// The keys we write, per mapped field: everything else in an entry is Google's.
fn written_keys(field: &str) -> &'static [&'static str] {
    match field {
        "names" => &["familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix", "unstructuredName"],
        "addresses" => {
            &["poBox", "extendedAddress", "streetAddress", "city", "region", "postalCode", "country", "type"]
        }
        "organizations" => &["name", "department", "title"],
        "birthdays" => &["date"],
        "events" => &["date", "type"],
        "relations" => &["person", "type"],
        "imClients" => &["username", "protocol", "type"],
        "biographies" => &["value", "contentType"],
        "nicknames" => &["value"],
        _ => &["value", "type"],
    }
}

/// The mapped fields of a Google Person, projected to the keys we write (so it compares with `to_google`).
/// Google fills a missing unstructured name from the parts; a name without it is read as ours would be.
pub fn project(person: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for field in MAPPED {
        let keys = written_keys(field);
        let entries: Vec<Value> = person
            .get(*field)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|e| {
                        let m: Map<String, Value> = keys
                            .iter()
                            .filter_map(|k| {
                                let v = e.get(*k)?;
                                let keep = v.as_str().map_or(!v.is_null(), |s| !s.trim().is_empty());
                                keep.then(|| (k.to_string(), if let Some(t) = v.as_str() { s(t) } else { v.clone() }))
                            })
                            .collect();
                        (!m.is_empty()).then_some(Value::Object(m))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.insert(field.to_string(), Value::Array(entries));
    }
    out
}

/// Which mapped fields Google changed since `before` (what we last agreed). A field `before` does not hold was
/// mapped after it was recorded: Google's value there counts as changed when it has one, and is merged with
/// ours rather than written over it (`patch_from`).
pub fn changed_fields(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<&'static str> {
    MAPPED
        .iter()
        .copied()
        .filter(|f| match before.get(*f) {
            Some(b) => Some(b) != after.get(*f),
            None => MAPPED_LATER.contains(f) && !entries(after, f).is_empty(),
        })
        .collect()
}

fn entries<'a>(p: &'a Map<String, Value>, field: &str) -> &'a [Value] {
    p.get(field).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn text(e: &Value, key: &str) -> String {
    e.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Google's items as vCard items; an item whose value and Google type match one of ours keeps our TYPE and
/// PREF parameters (Google knows fewer types than vCard, so a round trip must not flatten them).
fn items_from(
    google: &[Value],
    ours: &[Item],
    ty: &dyn Fn(&[String]) -> &'static str,
    back: &dyn Fn(&str) -> Vec<String>,
) -> Vec<Item> {
    google
        .iter()
        .map(|e| {
            let value = text(e, "value");
            let t = text(e, "type");
            ours.iter().find(|o| o.value.trim() == value && ty(&o.types) == t).cloned().unwrap_or(Item {
                value,
                types: back(&t),
                pref: false,
            })
        })
        .collect()
}

fn events_from(google: &[Value]) -> Vec<Event> {
    google
        .iter()
        .filter_map(|e| {
            let date = vcard_date(e.get("date")?)?;
            Some(Event { date, label: text(e, "type") })
        })
        .collect()
}

fn relations_from(google: &[Value]) -> Vec<Relation> {
    google.iter().map(|e| Relation { name: text(e, "person"), label: text(e, "type") }).collect()
}

fn ims_from(google: &[Value], ours: &[Im]) -> Vec<Im> {
    google
        .iter()
        .map(|e| {
            let (username, protocol, ty) = (text(e, "username"), text(e, "protocol"), text(e, "type"));
            ours.iter()
                .find(|o| o.username == username && o.protocol == protocol && place_type(&o.types) == ty)
                .cloned()
                .unwrap_or(Im { username, protocol, types: place_types(&ty) })
        })
        .collect()
}

/// Ours, then theirs that ours does not hold: for a field we never agreed on, nothing either side has is lost.
fn union<T: PartialEq + Clone>(ours: &[T], theirs: Vec<T>) -> Vec<T> {
    let mut out = ours.to_vec();
    out.extend(theirs.into_iter().filter(|t| !ours.contains(t)));
    out
}

/// A patch carrying Google's value of each field in `changed` (nothing else), applied over `ours`. A field
/// `base` (what we last agreed) does not hold is merged: ours and theirs.
pub fn patch_from(google: &Map<String, Value>, changed: &[&str], ours: &Fields, base: &Map<String, Value>) -> Patch {
    let mut p = Patch::default();
    let merge = |f: &str| !base.contains_key(f);
    for field in changed {
        match *field {
            "names" => {
                let e = entries(google, "names").first().cloned().unwrap_or(Value::Null);
                p.name = Some(Name {
                    family: text(&e, "familyName"),
                    given: text(&e, "givenName"),
                    additional: text(&e, "middleName"),
                    prefix: text(&e, "honorificPrefix"),
                    suffix: text(&e, "honorificSuffix"),
                });
                let full = text(&e, "unstructuredName");
                p.full_name = Some(full);
            }
            "nicknames" => {
                p.nickname = Some(entries(google, field).first().map(|e| text(e, "value")).unwrap_or_default())
            }
            "emailAddresses" => {
                p.emails = Some(items_from(entries(google, field), &ours.emails, &place_type, &place_types))
            }
            "phoneNumbers" => {
                p.phones = Some(items_from(entries(google, field), &ours.phones, &phone_type, &phone_types))
            }
            "urls" => p.urls = Some(items_from(entries(google, field), &ours.urls, &place_type, &place_types)),
            "addresses" => {
                p.addresses = Some(
                    entries(google, field)
                        .iter()
                        .map(|e| {
                            let a = Address {
                                types: place_types(&text(e, "type")),
                                pref: false,
                                po_box: text(e, "poBox"),
                                extended: text(e, "extendedAddress"),
                                street: text(e, "streetAddress"),
                                locality: text(e, "city"),
                                region: text(e, "region"),
                                postal_code: text(e, "postalCode"),
                                country: text(e, "country"),
                            };
                            // Ours, when only the types Google cannot tell apart differ.
                            ours.addresses
                                .iter()
                                .find(|o| {
                                    Address { types: a.types.clone(), pref: false, ..(*o).clone() } == a
                                        && place_type(&o.types) == text(e, "type")
                                })
                                .cloned()
                                .unwrap_or(a)
                        })
                        .collect(),
                )
            }
            "organizations" => {
                let mut orgs = entries(google, field).iter().map(|e| Organization {
                    name: text(e, "name"),
                    department: text(e, "department"),
                    title: text(e, "title"),
                });
                let first = orgs.next().unwrap_or_default();
                p.organization = Some(first.name);
                p.department = Some(first.department);
                p.title = Some(first.title);
                p.more_organizations = Some(orgs.collect());
            }
            "events" => {
                let theirs = events_from(entries(google, field));
                p.events = Some(if merge(field) { union(&ours.events, theirs) } else { theirs });
            }
            "relations" => {
                let theirs = relations_from(entries(google, field));
                p.relations = Some(if merge(field) { union(&ours.relations, theirs) } else { theirs });
            }
            "imClients" => {
                let theirs = ims_from(entries(google, field), &ours.ims);
                p.ims = Some(if merge(field) { union(&ours.ims, theirs) } else { theirs });
            }
            "birthdays" => {
                let d = entries(google, field).first().and_then(|e| e.get("date")).and_then(vcard_date);
                // A birthday Google cannot express (text) stays ours unless Google's changed to a date or none.
                p.birthday = Some(d.unwrap_or_default());
            }
            "biographies" => {
                p.note = Some(entries(google, field).first().map(|e| text(e, "value")).unwrap_or_default())
            }
            _ => {}
        }
    }
    p
}

/// The full Person we send: the mapped fields, the memberships (`contactGroups/...` names) and our tag.
pub fn person_body(mapped: &Map<String, Value>, groups: &[String], contact_id: i64) -> Value {
    // Empty fields are left out: on a creation they mean nothing, on an update the mask clears them.
    let mut body: Map<String, Value> = mapped
        .iter()
        .filter(|(_, v)| !v.as_array().is_some_and(Vec::is_empty))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let memberships: Vec<Value> =
        groups.iter().map(|g| json!({ "contactGroupMembership": { "contactGroupResourceName": g } })).collect();
    body.insert("memberships".into(), Value::Array(memberships));
    body.insert("clientData".into(), json!([{ "key": CONTACT_KEY, "value": contact_id.to_string() }]));
    Value::Object(body)
}

/// What we remember as sent: the projection plus the memberships (a change of labels is a change too) and
/// the digest of the photo Google holds from us.
pub fn sent_form(mapped: &Map<String, Value>, groups: &[String], photo: Option<&str>) -> String {
    let mut m = mapped.clone();
    m.insert("memberships".into(), json!(groups));
    m.insert("photo".into(), json!(photo));
    Value::Object(m).to_string()
}

/// Whether a `sent_form` was recorded before some of today's fields were mapped.
pub fn sent_lacks_fields(sent: &str) -> bool {
    serde_json::from_str::<Value>(sent)
        .ok()
        .and_then(|v| v.as_object().map(|m| MAPPED_LATER.iter().any(|f| !m.contains_key(*f))))
        .unwrap_or(false)
}

/// The photo digest a `sent_form` records.
pub fn sent_photo(sent: &str) -> Option<String> {
    serde_json::from_str::<Value>(sent).ok()?.get("photo")?.as_str().map(str::to_string)
}

/// A photo for Google: its digest and its bytes.
pub type Photo = (String, Vec<u8>);

/// A photo Google takes (JPEG or PNG, as `updateContactPhoto` requires), with its digest.
pub fn photo_for_google(card: &crate::vcard::VCard) -> Option<Photo> {
    use sha2::Digest;
    let (media, bytes) = crate::vcard::json::photo_bytes(card)?;
    if !(media == "image/jpeg" || media == "image/png") {
        return None;
    }
    let digest: String = sha2::Sha256::digest(&bytes)[..12].iter().map(|b| format!("{b:02x}")).collect();
    Some((digest, bytes))
}

/// The groups (`contactGroups/…`) a Google contact is in.
pub fn group_names(p: &Value) -> Vec<String> {
    p["memberships"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter_map(|m| m["contactGroupMembership"]["contactGroupResourceName"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Our tag on a Google contact or group, when it carries one.
pub fn tag(v: &Value, key: &str) -> Option<String> {
    v.get("clientData")?
        .as_array()?
        .iter()
        .find(|d| d.get("key").and_then(Value::as_str) == Some(key))
        .and_then(|d| d.get("value")?.as_str().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcard::{json, parse};

    fn fields(card: &str) -> Fields {
        json::read(&parse(card.as_bytes()).expect("card"))
    }

    const CARD: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;Lady;\r\n\
        EMAIL;TYPE=work,pref:ada@example.com\r\nTEL;TYPE=work,voice:+44 1\r\nTEL;TYPE=cell:+44 2\r\n\
        ADR;TYPE=home:;;1 St James's Sq;London;;SW1;UK\r\nORG:Analytical;Engines\r\nTITLE:Countess\r\n\
        BDAY:1815-12-10\r\nURL:https://ada.example\r\nNOTE:secret plans\r\nNICKNAME:Ada\r\nEND:VCARD\r\n";

    #[test]
    fn a_card_maps_to_google_fields() {
        let g = to_google(&fields(CARD));
        assert_eq!(g["names"][0]["givenName"], "Ada");
        assert_eq!(g["names"][0]["honorificPrefix"], "Lady");
        assert_eq!(g["names"][0]["unstructuredName"], "Ada Lovelace");
        assert_eq!(g["emailAddresses"], json!([{"value": "ada@example.com", "type": "work"}]));
        assert_eq!(
            g["phoneNumbers"],
            json!([{"value": "+44 1", "type": "work"}, {"value": "+44 2", "type": "mobile"}])
        );
        assert_eq!(g["addresses"][0]["city"], "London");
        assert_eq!(g["addresses"][0]["type"], "home");
        assert_eq!(g["organizations"], json!([{"name": "Analytical", "department": "Engines", "title": "Countess"}]));
        assert_eq!(g["birthdays"], json!([{"date": {"year": 1815, "month": 12, "day": 10}}]));
        assert_eq!(g["biographies"][0]["value"], "secret plans");
        assert_eq!(g["nicknames"], json!([{"value": "Ada"}]));
    }

    #[test]
    fn googles_own_additions_are_not_an_edit() {
        let ours = to_google(&fields(CARD));
        let mut google = Value::Object(ours.clone());
        google["names"][0]["displayName"] = json!("Lady Ada Lovelace");
        google["names"][0]["metadata"] = json!({"primary": true});
        google["phoneNumbers"][0]["formattedType"] = json!("Work");
        google["etag"] = json!("%abc");
        assert!(changed_fields(&ours, &project(&google)).is_empty());
    }

    #[test]
    fn an_edit_in_google_patches_only_what_changed_and_keeps_our_types() {
        let ours = fields(CARD);
        let sent = to_google(&ours);
        let mut google = Value::Object(sent.clone());
        google["phoneNumbers"][1]["value"] = json!("+44 3");
        let changed = changed_fields(&sent, &project(&google));
        assert_eq!(changed, vec!["phoneNumbers"]);
        let patch = patch_from(&project(&google), &changed, &ours, &sent);
        let phones = patch.phones.expect("phones");
        assert_eq!(phones[0], ours.phones[0], "an unchanged number stays as ours was");
        assert_eq!(phones[1], Item { value: "+44 3".into(), types: vec!["cell".into()], pref: false });
        assert!(patch.note.is_none() && patch.name.is_none(), "fields Google did not change are not touched");
    }

    const MORE: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u2\r\nFN:Grace Hopper\r\nN:Hopper;Grace;;;\r\n\
        ORG:Navy\r\nTITLE:Rear Admiral\r\nORG:Harvard;Computation Lab\r\nitem1.X-ABDATE:1930-06-15\r\n\
        item1.X-ABLabel:_$!<Anniversary>!$_\r\nitem2.X-ABRELATEDNAMES:Vincent\r\nitem2.X-ABLabel:_$!<Spouse>!$_\r\n\
        IMPP;X-SERVICE-TYPE=Jabber;TYPE=work:xmpp:grace@navy.test\r\nEND:VCARD\r\n";

    #[test]
    fn events_relations_im_and_every_organization_map() {
        let g = to_google(&fields(MORE));
        assert_eq!(
            g["organizations"],
            json!([{"name": "Navy", "title": "Rear Admiral"}, {"name": "Harvard", "department": "Computation Lab"}])
        );
        assert_eq!(g["events"], json!([{"date": {"year": 1930, "month": 6, "day": 15}, "type": "anniversary"}]));
        assert_eq!(g["relations"], json!([{"person": "Vincent", "type": "spouse"}]));
        assert_eq!(g["imClients"], json!([{"username": "grace@navy.test", "protocol": "jabber", "type": "work"}]));
        // And back: an edit in Google of each comes back whole into the card.
        let ours = fields(MORE);
        let mut google = Value::Object(g.clone());
        google["events"][0]["date"]["day"] = json!(16);
        google["relations"] = json!([{"person": "Vincent", "type": "spouse"}, {"person": "Mary", "type": "sister"}]);
        google["imClients"][0]["protocol"] = json!("skype");
        google["organizations"][1]["title"] = json!("Research Fellow");
        let changed = changed_fields(&g, &project(&google));
        assert_eq!(changed, vec!["organizations", "events", "relations", "imClients"]);
        let patch = patch_from(&project(&google), &changed, &ours, &g);
        let card = parse(MORE.as_bytes()).expect("card");
        let out = json::apply(Some(&card), "", &patch).expect("applies");
        let back = to_google(&json::read(&parse(&out).expect("card")));
        assert_eq!(Value::Object(back), Value::Object(project(&google)));
    }

    #[test]
    fn fields_mapped_later_are_merged_not_overwritten() {
        // What was agreed before events were mapped: no "events" key at all.
        let ours = fields(MORE);
        let mut before = to_google(&ours);
        for f in MAPPED_LATER {
            before.remove(*f);
        }
        assert!(sent_lacks_fields(&sent_form(&before, &[], None)));
        assert!(!sent_lacks_fields(&sent_form(&to_google(&ours), &[], None)));
        let mut google = Value::Object(before.clone());
        google["events"] = json!([{"date": {"month": 1, "day": 2}, "type": "other"}]);
        let changed = changed_fields(&before, &project(&google));
        assert_eq!(changed, vec!["events"], "an empty field Google never had from us is not a change");
        let patch = patch_from(&project(&google), &changed, &ours, &before);
        assert_eq!(
            patch.events.expect("events"),
            vec![
                Event { date: "1930-06-15".into(), label: "anniversary".into() },
                Event { date: "--01-02".into(), label: "other".into() },
            ]
        );
    }

    #[test]
    fn birthdays_without_a_year_and_text_ones() {
        assert_eq!(google_date("--0517"), Some(json!({"month": 5, "day": 17})));
        assert_eq!(google_date("19800517"), Some(json!({"year": 1980, "month": 5, "day": 17})));
        assert_eq!(google_date("circa 1800"), None);
        assert_eq!(vcard_date(&json!({"month": 5, "day": 17})).as_deref(), Some("--05-17"));
    }

    #[test]
    fn phone_types_round_trip() {
        for t in [
            "homeFax",
            "workFax",
            "otherFax",
            "pager",
            "workPager",
            "mobile",
            "workMobile",
            "main",
            "home",
            "work",
            "other",
        ] {
            assert_eq!(phone_type(&phone_types(t)), t);
        }
    }

    #[test]
    fn tags_are_read_from_client_data() {
        let p = person_body(&Map::new(), &["contactGroups/myContacts".into()], 42);
        assert_eq!(sent_photo(&sent_form(&Map::new(), &[], Some("ab12"))).as_deref(), Some("ab12"));
        assert_eq!(sent_photo(&sent_form(&Map::new(), &[], None)), None);
        assert_eq!(tag(&p, CONTACT_KEY).as_deref(), Some("42"));
        assert_eq!(tag(&p, LABEL_KEY), None);
    }
}
