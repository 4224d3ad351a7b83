//! Contact fields beyond the API's documented shape, read and written for the Google bridge (Google holds them):
//! dated events, related people, instant-messaging addresses, and the organizations after the first.
//!
//! Each is read from every form clients write — RFC 6350 ANNIVERSARY and RELATED (text values), RFC 4770 / RFC
//! 6350 §6.4.3 IMPP, Apple's grouped `itemN.X-ABDATE` / `itemN.X-ABRELATEDNAMES` with an `itemN.X-ABLabel`, and
//! the X-ANNIVERSARY and X-JABBER family of older clients — and written in the form the card's readers show: IMPP
//! for every version; in 4.0 ANNIVERSARY and RELATED where the RFC has a word for it; Apple's grouped form
//! otherwise (what iOS, macOS and Google's own CardDAV write, and what DAVx5 reads). A change rewrites exactly
//! the properties that were read for that field, so anything not read (a RELATED holding a URI, a date that is
//! not a date) is never touched.

use super::json::{Event, FieldError, Im, Organization, Relation};
use super::{Param, Property, Version, escape_text, split_components, unescape_text};

/// Apple's label words (`_$!<Anniversary>!$_`) are the People API's type words with a capital first letter.
fn from_apple_label(label: &str) -> String {
    let label = unescape_text(label.trim());
    match label.strip_prefix("_$!<").and_then(|l| l.strip_suffix(">!$_")) {
        Some(word) => {
            let mut c = word.chars();
            c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
        }
        None => label,
    }
}

fn to_apple_label(label: &str, known: &[&str]) -> String {
    if known.contains(&label) {
        let mut c = label.chars();
        let word: String = c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default();
        format!("_$!<{word}>!$_")
    } else {
        escape_text(label)
    }
}

pub const EVENT_WORDS: &[&str] = &["anniversary", "other"];
/// The People API's relation types (people v1 `Relation.type`).
pub const RELATION_WORDS: &[&str] = &[
    "spouse",
    "child",
    "mother",
    "father",
    "parent",
    "brother",
    "sister",
    "friend",
    "relative",
    "domesticPartner",
    "manager",
    "assistant",
    "referredBy",
    "partner",
];

/// RFC 6350 §6.6.6 RELATED types with the same meaning as a People API relation type.
fn rfc_relation_type(label: &str) -> Option<&'static str> {
    Some(match label {
        "spouse" => "spouse",
        "child" => "child",
        "parent" => "parent",
        "friend" => "friend",
        "relative" => "kin",
        _ => return None,
    })
}

/// IMPP URI schemes and the People API's protocol words.
const IM_SCHEMES: &[(&str, &str)] = &[
    ("xmpp", "jabber"),
    ("aim", "aim"),
    ("msnim", "msn"),
    ("ymsgr", "yahoo"),
    ("skype", "skype"),
    ("qq", "qq"),
    ("gtalk", "googleTalk"),
    ("icq", "icq"),
];

/// The pre-IMPP properties of vCard 3.0 clients, one per service.
const LEGACY_IM: &[(&str, &str)] = &[
    ("X-JABBER", "jabber"),
    ("X-AIM", "aim"),
    ("X-MSN", "msn"),
    ("X-YAHOO", "yahoo"),
    ("X-SKYPE", "skype"),
    ("X-SKYPE-USERNAME", "skype"),
    ("X-QQ", "qq"),
    ("X-GTALK", "googleTalk"),
    ("X-GOOGLE-TALK", "googleTalk"),
    ("X-ICQ", "icq"),
];

/// `YYYY-MM-DD`, `YYYYMMDD`, `--MM-DD` or `--MMDD` (no time), written back as `YYYY-MM-DD` or `--MM-DD`.
pub fn normal_date(v: &str) -> Option<String> {
    let d = super::convert::date_parts(v).filter(|d| d.time.is_none())?;
    Some(match d.year {
        Some(y) => format!("{y}-{}-{}", d.month, d.day),
        None => format!("--{}-{}", d.month, d.day),
    })
}

fn group_label(props: &[Property], p: &Property) -> Option<String> {
    let g = p.group.as_deref()?;
    props
        .iter()
        .find(|x| x.name == "X-ABLABEL" && x.group.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(g)))
        .map(|x| from_apple_label(&x.value))
}

fn first_type(p: &Property) -> Option<String> {
    p.params
        .iter()
        .filter(|x| x.name == "TYPE")
        .flat_map(|x| x.values.iter())
        .map(|v| v.trim().to_ascii_lowercase())
        .find(|v| !v.is_empty() && v != "pref")
}

/// Which properties of `props` hold an event, and the event each holds.
fn events_at(props: &[Property]) -> Vec<(usize, Event)> {
    props
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let label = match p.name.as_str() {
                "ANNIVERSARY" | "X-ANNIVERSARY" => "anniversary".to_string(),
                "X-ABDATE" => group_label(props, p).unwrap_or_else(|| "other".into()),
                _ => return None,
            };
            Some((i, Event { date: normal_date(&p.value)?, label }))
        })
        .collect()
}

fn relations_at(props: &[Property]) -> Vec<(usize, Relation)> {
    props
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let label = match p.name.as_str() {
                // A RELATED holding a URI names another card, not a person Google can show.
                "RELATED"
                    if p.param("VALUE").is_some_and(|v| v.values.iter().any(|x| x.eq_ignore_ascii_case("text"))) =>
                {
                    group_label(props, p)
                        .or_else(|| first_type(p).map(|t| if t == "kin" { "relative".into() } else { t }))
                }
                "X-ABRELATEDNAMES" => group_label(props, p),
                _ => return None,
            };
            let name = unescape_text(&p.value).trim().to_string();
            (!name.is_empty()).then(|| (i, Relation { name, label: label.unwrap_or_default() }))
        })
        .collect()
}

fn place_types(p: &Property) -> Vec<String> {
    let mut t: Vec<String> = ["home", "work"].iter().filter(|w| p.has_type(w)).map(|w| w.to_string()).collect();
    t.truncate(1);
    t
}

fn ims_at(props: &[Property]) -> Vec<(usize, Im)> {
    let mut out: Vec<(usize, Im)> = Vec::new();
    for (i, p) in props.iter().enumerate() {
        if p.name != "IMPP" {
            continue;
        }
        let value = p.value.trim();
        let Some((scheme, user)) = value.split_once(':') else { continue };
        let service = p.param("X-SERVICE-TYPE").and_then(|x| x.values.first()).map(|s| s.trim().to_string());
        // The scheme says the protocol; Apple's own scheme (`x-apple:`) leaves it to X-SERVICE-TYPE.
        let protocol = match IM_SCHEMES.iter().find(|(s, _)| s.eq_ignore_ascii_case(scheme)) {
            Some((_, word)) => word.to_string(),
            None if scheme.eq_ignore_ascii_case("x-apple") => match service.as_deref() {
                Some(service) => IM_SCHEMES
                    .iter()
                    .map(|(_, w)| *w)
                    .find(|w| w.eq_ignore_ascii_case(service))
                    .map_or_else(|| service.to_string(), str::to_string),
                None => String::new(),
            },
            None => scheme.to_ascii_lowercase(),
        };
        let username = user.trim_start_matches("//").trim().to_string();
        if !username.is_empty() {
            out.push((i, Im { username, protocol, types: place_types(p) }));
        }
    }
    for (i, p) in props.iter().enumerate() {
        let Some((_, protocol)) = LEGACY_IM.iter().find(|(n, _)| *n == p.name) else { continue };
        let username = unescape_text(&p.value).trim().to_string();
        // Apple's older cards carry each address twice, as IMPP and as X-AIM: it is one address.
        if username.is_empty() || out.iter().any(|(_, im)| im.username == username && im.protocol == *protocol) {
            continue;
        }
        out.push((i, Im { username, protocol: protocol.to_string(), types: place_types(p) }));
    }
    out
}

/// ORG and TITLE lines after the first of each, paired in order.
fn more_organizations_at(props: &[Property]) -> (Vec<usize>, Vec<Organization>) {
    let orgs: Vec<usize> = props.iter().enumerate().filter(|(_, p)| p.name == "ORG").map(|(i, _)| i).skip(1).collect();
    let titles: Vec<usize> =
        props.iter().enumerate().filter(|(_, p)| p.name == "TITLE").map(|(i, _)| i).skip(1).collect();
    let n = orgs.len().max(titles.len());
    let list = (0..n)
        .map(|k| {
            let c = orgs.get(k).map(|&i| split_components(&props[i].value)).unwrap_or_default();
            Organization {
                name: c.first().cloned().unwrap_or_default(),
                department: c.get(1).cloned().unwrap_or_default(),
                title: titles.get(k).map(|&i| unescape_text(&props[i].value)).unwrap_or_default(),
            }
        })
        .collect();
    (orgs.into_iter().chain(titles).collect(), list)
}

pub struct Read {
    pub events: Vec<Event>,
    pub relations: Vec<Relation>,
    pub ims: Vec<Im>,
    pub more_organizations: Vec<Organization>,
}

pub fn read(props: &[Property]) -> Read {
    Read {
        events: events_at(props).into_iter().map(|(_, e)| e).collect(),
        relations: relations_at(props).into_iter().map(|(_, r)| r).collect(),
        ims: ims_at(props).into_iter().map(|(_, m)| m).collect(),
        more_organizations: more_organizations_at(props).1,
    }
}

const MAX_ENTRIES: usize = 100;
const MAX_TEXT: usize = 4000;

fn check_text(field: &str, v: &str) -> Result<(), FieldError> {
    if v.chars().count() > MAX_TEXT {
        return Err(FieldError { field: field.into(), message: format!("at most {MAX_TEXT} characters") });
    }
    if v.chars().any(char::is_control) {
        return Err(FieldError { field: field.into(), message: "control characters are not allowed here".into() });
    }
    Ok(())
}

fn check_count(field: &str, n: usize) -> Result<(), FieldError> {
    if n > MAX_ENTRIES {
        return Err(FieldError { field: field.into(), message: format!("at most {MAX_ENTRIES} entries") });
    }
    Ok(())
}

pub fn check_events(events: &[Event]) -> Result<(), FieldError> {
    check_count("events", events.len())?;
    for (i, e) in events.iter().enumerate() {
        if normal_date(&e.date).is_none() {
            return Err(FieldError {
                field: format!("events[{i}].date"),
                message: "a date is YYYY-MM-DD, or --MM-DD without a year".into(),
            });
        }
        check_text(&format!("events[{i}].label"), &e.label)?;
    }
    Ok(())
}

pub fn check_relations(relations: &[Relation]) -> Result<(), FieldError> {
    check_count("relations", relations.len())?;
    for (i, r) in relations.iter().enumerate() {
        check_text(&format!("relations[{i}].name"), &r.name)?;
        if r.name.trim().is_empty() {
            return Err(FieldError { field: format!("relations[{i}].name"), message: "must not be empty".into() });
        }
        check_text(&format!("relations[{i}].label"), &r.label)?;
    }
    Ok(())
}

pub fn check_ims(ims: &[Im]) -> Result<(), FieldError> {
    check_count("ims", ims.len())?;
    for (i, m) in ims.iter().enumerate() {
        let f = format!("ims[{i}].username");
        check_text(&f, &m.username)?;
        if m.username.trim().is_empty() || m.username.contains(char::is_whitespace) {
            return Err(FieldError { field: f, message: "a username is not empty and has no spaces".into() });
        }
        check_text(&format!("ims[{i}].protocol"), &m.protocol)?;
        if !m.protocol.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ' ') {
            return Err(FieldError {
                field: format!("ims[{i}].protocol"),
                message: "a protocol is letters, digits, spaces and '-'".into(),
            });
        }
    }
    Ok(())
}

pub fn check_organizations(orgs: &[Organization]) -> Result<(), FieldError> {
    check_count("more_organizations", orgs.len())?;
    for (i, o) in orgs.iter().enumerate() {
        for (name, v) in [("name", &o.name), ("department", &o.department), ("title", &o.title)] {
            check_text(&format!("more_organizations[{i}].{name}"), v)?;
        }
    }
    Ok(())
}

fn line(group: Option<String>, name: &str, params: Vec<Param>, value: String) -> Property {
    let mut p = Property { group, name: name.into(), params, value, raw: String::new() };
    p.raw = super::convert::serialize(&p);
    p
}

fn param(name: &str, value: &str) -> Param {
    Param { name: name.into(), values: vec![value.into()] }
}

/// A group name (`itemN`) no property of `props` uses.
fn free_group(props: &[Property], taken: &mut usize) -> String {
    loop {
        *taken += 1;
        let g = format!("item{taken}");
        if !props.iter().any(|p| p.group.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(&g))) {
            return g;
        }
    }
}

/// Removes the properties at `at` (with their orphaned Apple labels); answers where the first removed one was.
fn remove(props: &mut Vec<Property>, at: &[usize]) -> usize {
    let first = at.iter().copied().min().unwrap_or(props.len());
    super::json::remove_with_labels(props, at);
    first.min(props.len())
}

/// Writes `new` where the first of `old` was (or at the end), removing `old`.
fn put(props: &mut Vec<Property>, old: &[usize], new: Vec<Property>) {
    let at = if old.is_empty() { props.len() } else { remove(props, old) };
    props.splice(at..at, new);
}

/// Makes the entries read at `old` become `wanted`: a line (with its label) whose entry is still wanted stays
/// byte for byte, the others go, and the new entries are written (by `make`) where the first old one was, or
/// at the end. The card's order of entries is kept; new ones follow.
fn sync<T: PartialEq>(
    props: &mut Vec<Property>,
    old: Vec<(usize, T)>,
    wanted: &[T],
    mut make: impl FnMut(&T, &[Property], &mut usize) -> Vec<Property>,
) {
    let mut taken = vec![false; wanted.len()];
    let mut drop = Vec::new();
    for (at, entry) in &old {
        match wanted.iter().enumerate().position(|(k, w)| !taken[k] && w == entry) {
            Some(k) => taken[k] = true,
            None => drop.push(*at),
        }
    }
    let kept_last = old.iter().filter(|(at, _)| !drop.contains(at)).map(|(at, _)| *at).max();
    let mut n = 0;
    let mut new = Vec::new();
    for (k, w) in wanted.iter().enumerate() {
        if !taken[k] {
            // `n` counts up across entries, so two new ones never share a group.
            new.append(&mut make(w, props, &mut n));
        }
    }
    if drop.is_empty() && new.is_empty() {
        return;
    }
    // New lines go after the last kept entry and its label (or where the first dropped one was, or at the end).
    // The place is marked before anything is removed: removing drops the dropped entries' labels too, wherever
    // they stand, so indices taken before would drift.
    let at = match kept_last {
        Some(i) => {
            let same = |p: &Property, g: &str| p.group.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(g));
            let mut j = i + 1;
            while let Some(g) = props[i].group.as_deref()
                && j < props.len()
                && same(&props[j], g)
            {
                j += 1;
            }
            j
        }
        None => drop.iter().copied().min().unwrap_or(props.len()),
    };
    props.insert(at, line(None, PLACE, Vec::new(), String::new()));
    let drop: Vec<usize> = drop.into_iter().map(|d| if d >= at { d + 1 } else { d }).collect();
    remove(props, &drop);
    let at = props.iter().position(|p| p.name == PLACE).unwrap_or(props.len());
    props.splice(at..(at + 1).min(props.len()), new);
}

/// A stand-in property marking where new lines go; never a real property name (vCard names have no spaces).
const PLACE: &str = "PLACE HOLDER";

pub fn set_events(props: &mut Vec<Property>, events: &[Event], version: Version) {
    let wanted: Vec<Event> = events
        .iter()
        .filter_map(|e| Some(Event { date: normal_date(&e.date)?, label: e.label.trim().to_string() }))
        .collect();
    let old = events_at(props);
    let mut anniversary =
        version == Version::V40 && old.iter().any(|(i, e)| props[*i].name == "ANNIVERSARY" && wanted.contains(e));
    sync(props, old, &wanted, |e, props, n| {
        // RFC 6350 §6.2.6: at most one ANNIVERSARY; further ones go in Apple's form.
        if version == Version::V40 && e.label == "anniversary" && !anniversary {
            anniversary = true;
            return vec![line(None, "ANNIVERSARY", Vec::new(), e.date.clone())];
        }
        let g = free_group(props, n);
        let label = if e.label.is_empty() { "other" } else { &e.label };
        vec![
            line(Some(g.clone()), "X-ABDATE", Vec::new(), e.date.clone()),
            line(Some(g), "X-ABLabel", Vec::new(), to_apple_label(label, EVENT_WORDS)),
        ]
    });
}

pub fn set_relations(props: &mut Vec<Property>, relations: &[Relation], version: Version) {
    let wanted: Vec<Relation> = relations
        .iter()
        .filter(|r| !r.name.trim().is_empty())
        .map(|r| Relation { name: r.name.trim().to_string(), label: r.label.trim().to_string() })
        .collect();
    let old = relations_at(props);
    sync(props, old, &wanted, |r, props, n| {
        let value = escape_text(&r.name);
        match (version, rfc_relation_type(&r.label)) {
            (Version::V40, Some(t)) => {
                vec![line(None, "RELATED", vec![param("VALUE", "text"), param("TYPE", t)], value)]
            }
            (Version::V40, None) if r.label.is_empty() => {
                vec![line(None, "RELATED", vec![param("VALUE", "text")], value)]
            }
            (_, _) if r.label.is_empty() => vec![line(None, "X-ABRELATEDNAMES", Vec::new(), value)],
            _ => {
                let g = free_group(props, n);
                let (name, params) = if version == Version::V40 {
                    ("RELATED", vec![param("VALUE", "text")])
                } else {
                    ("X-ABRELATEDNAMES", Vec::new())
                };
                vec![
                    line(Some(g.clone()), name, params, value),
                    line(Some(g), "X-ABLabel", Vec::new(), to_apple_label(&r.label, RELATION_WORDS)),
                ]
            }
        }
    });
}

pub fn set_ims(props: &mut Vec<Property>, ims: &[Im]) {
    let wanted: Vec<Im> = ims
        .iter()
        .map(|m| {
            let mut types: Vec<String> =
                m.types.iter().map(|t| t.to_ascii_lowercase()).filter(|t| t == "home" || t == "work").collect();
            types.truncate(1);
            Im { username: m.username.trim().to_string(), protocol: m.protocol.trim().to_string(), types }
        })
        .collect();
    let old = ims_at(props);
    sync(props, old, &wanted, |m, _, _| {
        // A protocol that is a URI scheme of its own (`sip`, read from `sip:…`) is written back as one.
        let own_scheme = m.protocol.starts_with(|c: char| c.is_ascii_lowercase())
            && m.protocol.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c));
        let scheme = IM_SCHEMES
            .iter()
            .find(|(_, w)| *w == m.protocol)
            .map(|(s, _)| *s)
            .or(own_scheme.then_some(m.protocol.as_str()));
        // Apple shows the service from X-SERVICE-TYPE; a service with no URI scheme goes under Apple's own.
        let service = if m.protocol.is_empty() { "Other" } else { &m.protocol };
        let mut c = service.chars();
        let shown: String = c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default();
        let mut params = vec![param("X-SERVICE-TYPE", &shown)];
        if let Some(t) = m.types.first() {
            params.push(param("TYPE", t));
        }
        vec![line(None, "IMPP", params, format!("{}:{}", scheme.unwrap_or("x-apple"), m.username))]
    });
}

/// Rewrites the ORG and TITLE lines after the first of each (the first are the API's `organization`, `department`
/// and `title`).
pub fn set_more_organizations(props: &mut Vec<Property>, orgs: &[Organization]) {
    let (old, current) = more_organizations_at(props);
    let wanted: Vec<Organization> = orgs
        .iter()
        .map(|o| Organization {
            name: o.name.trim().into(),
            department: o.department.trim().into(),
            title: o.title.trim().into(),
        })
        .filter(|o| !(o.name.is_empty() && o.department.is_empty() && o.title.is_empty()))
        .collect();
    if current == wanted {
        return;
    }
    // Paired by order: every entry writes its ORG (empty when it has only a title), and TITLE lines go up to the
    // last entry that has one.
    let last_title = wanted.iter().rposition(|o| !o.title.is_empty()).map_or(0, |i| i + 1);
    let mut new: Vec<Property> = wanted
        .iter()
        .map(|o| {
            let value = if o.department.is_empty() {
                escape_text(&o.name)
            } else {
                format!("{};{}", escape_text(&o.name), escape_text(&o.department))
            };
            line(None, "ORG", Vec::new(), value)
        })
        .collect();
    new.extend(wanted[..last_title].iter().map(|o| line(None, "TITLE", Vec::new(), escape_text(&o.title))));
    // A second ORG or TITLE needs a first one before it, or it would be read as the first.
    let has_first = |name: &str, props: &[Property], old: &[usize]| {
        props.iter().enumerate().any(|(i, p)| p.name == name && !old.contains(&i))
    };
    if !new.is_empty() {
        let mut lead = Vec::new();
        if !has_first("ORG", props, &old) {
            lead.push(line(None, "ORG", Vec::new(), String::new()));
        }
        if last_title > 0 && !has_first("TITLE", props, &old) {
            lead.push(line(None, "TITLE", Vec::new(), String::new()));
        }
        lead.extend(new);
        new = lead;
    }
    put(props, &old, new);
    if wanted.is_empty() {
        // The empty first ORG or TITLE written only to come before the others has nothing to come before now.
        for name in ["ORG", "TITLE"] {
            let at: Vec<usize> = props.iter().enumerate().filter(|(_, p)| p.name == name).map(|(i, _)| i).collect();
            if let [only] = at[..]
                && props[only].value.trim_matches(';').trim().is_empty()
            {
                props.remove(only);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{json, parse};
    use super::*;

    fn card(body: &str) -> String {
        format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:X\r\nN:X;;;;\r\n{body}END:VCARD\r\n")
    }

    fn read_of(text: &str) -> json::Fields {
        json::read(&parse(text.as_bytes()).unwrap())
    }

    #[test]
    fn every_form_clients_write_is_read() {
        let f = read_of(&card(
            "item1.X-ABDATE:2004-05-12\r\nitem1.X-ABLabel:_$!<Anniversary>!$_\r\nitem2.X-ABDATE:--03-01\r\n\
             item2.X-ABLabel:first met\r\nX-ANNIVERSARY:19990101\r\nitem3.X-ABRELATEDNAMES:Grace\r\n\
             item3.X-ABLabel:_$!<Spouse>!$_\r\nIMPP;X-SERVICE-TYPE=Skype;type=HOME:skype:ada.l\r\n\
             X-SKYPE:ada.l\r\nX-JABBER;TYPE=WORK:ada@jabber.test\r\nIMPP;X-SERVICE-TYPE=Facebook:x-apple:ada\r\n\
             ORG:Analytical;Engines\r\nTITLE:Countess\r\nORG:Royal Society\r\nTITLE:Fellow\r\n",
        ));
        assert_eq!(
            f.events,
            vec![
                Event { date: "2004-05-12".into(), label: "anniversary".into() },
                Event { date: "--03-01".into(), label: "first met".into() },
                Event { date: "1999-01-01".into(), label: "anniversary".into() },
            ]
        );
        assert_eq!(f.relations, vec![Relation { name: "Grace".into(), label: "spouse".into() }]);
        let ims: Vec<(&str, &str, Vec<String>)> =
            f.ims.iter().map(|m| (m.username.as_str(), m.protocol.as_str(), m.types.clone())).collect();
        assert_eq!(
            ims,
            vec![
                ("ada.l", "skype", vec!["home".to_string()]),
                ("ada", "Facebook", vec![]),
                ("ada@jabber.test", "jabber", vec!["work".to_string()]),
            ]
        );
        assert_eq!(f.organization, "Analytical");
        assert_eq!(
            f.more_organizations,
            vec![Organization { name: "Royal Society".into(), department: String::new(), title: "Fellow".into() }]
        );
    }

    #[test]
    fn rfc_6350_forms_are_read_and_written_in_4_0() {
        // RFC 6350 §6.2.6 ANNIVERSARY, §6.6.6 RELATED with VALUE=text and a TYPE.
        let text = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:x\r\nFN:X\r\nANNIVERSARY:19960415\r\n\
                    RELATED;VALUE=text;TYPE=kin:Bob\r\nRELATED;TYPE=friend:urn:uuid:03a0e51f-d1aa-4385-8a53-e29025acd8af\r\nEND:VCARD\r\n";
        let f = read_of(text);
        assert_eq!(f.events, vec![Event { date: "1996-04-15".into(), label: "anniversary".into() }]);
        // The URI one names a card, not a person: not read, so never rewritten.
        assert_eq!(f.relations, vec![Relation { name: "Bob".into(), label: "relative".into() }]);
        let patch = json::Patch {
            relations: Some(vec![
                Relation { name: "Bob".into(), label: "relative".into() },
                Relation { name: "Carol".into(), label: "manager".into() },
            ]),
            events: Some(vec![
                Event { date: "1996-04-15".into(), label: "anniversary".into() },
                Event { date: "--12-24".into(), label: "other".into() },
            ]),
            ..Default::default()
        };
        let out = String::from_utf8(json::apply(Some(&parse(text.as_bytes()).unwrap()), "", &patch).unwrap()).unwrap();
        assert!(out.contains("ANNIVERSARY:19960415\r\n"), "unchanged events are not rewritten: {out}");
        assert!(out.contains("RELATED;VALUE=text;TYPE=kin:Bob\r\n"), "{out}");
        assert!(out.contains("item2.RELATED;VALUE=text:Carol\r\nitem2.X-ABLabel:_$!<Manager>!$_\r\n"), "{out}");
        assert!(out.contains("RELATED;TYPE=friend:urn:uuid:"), "{out}");
        let back = read_of(&out);
        assert_eq!(back.relations, patch.relations.clone().unwrap());
    }

    #[test]
    fn a_3_0_card_gets_apples_grouped_form_and_loses_nothing_else() {
        let text = card("item1.TEL:+1 555 0100\r\nitem1.X-ABLabel:boat\r\nX-ANNIVERSARY:2001-02-03\r\nX-KEEP:me\r\n");
        let patch = json::Patch {
            events: Some(vec![Event { date: "2001-02-04".into(), label: "anniversary".into() }]),
            relations: Some(vec![Relation { name: "Ann; Jr".into(), label: "sister".into() }]),
            ims: Some(vec![Im {
                username: "ann@x.test".into(),
                protocol: "jabber".into(),
                types: vec!["work".into()],
            }]),
            more_organizations: Some(vec![Organization { title: "Advisor".into(), ..Default::default() }]),
            ..Default::default()
        };
        let out = String::from_utf8(json::apply(Some(&parse(text.as_bytes()).unwrap()), "", &patch).unwrap()).unwrap();
        assert!(!out.contains("X-ANNIVERSARY"), "{out}");
        assert!(out.contains("item2.X-ABDATE:2001-02-04\r\nitem2.X-ABLabel:_$!<Anniversary>!$_\r\n"), "{out}");
        assert!(out.contains("item1.TEL:+1 555 0100\r\nitem1.X-ABLabel:boat\r\n"), "{out}");
        assert!(out.contains("X-ABRELATEDNAMES:Ann\\; Jr\r\n"), "{out}");
        assert!(out.contains("IMPP;X-SERVICE-TYPE=Jabber;TYPE=work:xmpp:ann@x.test\r\n"), "{out}");
        assert!(out.contains("X-KEEP:me\r\n"), "{out}");
        let back = read_of(&out);
        assert_eq!(back.events, patch.events.clone().unwrap());
        assert_eq!(back.relations, patch.relations.clone().unwrap());
        assert_eq!(back.ims, patch.ims.clone().unwrap());
        assert_eq!(back.more_organizations, patch.more_organizations.clone().unwrap());
        assert!(crate::vcard::validate(out.as_bytes(), 1000).is_ok());
        // Clearing them removes exactly what was read, labels included.
        let clear = json::Patch {
            events: Some(vec![]),
            relations: Some(vec![]),
            ims: Some(vec![]),
            more_organizations: Some(vec![]),
            ..Default::default()
        };
        let out = String::from_utf8(json::apply(Some(&parse(out.as_bytes()).unwrap()), "", &clear).unwrap()).unwrap();
        for gone in ["X-ABDATE", "X-ABRELATEDNAMES", "IMPP", "Anniversary", "Sister", "TITLE"] {
            assert!(!out.contains(gone), "{gone} left in {out}");
        }
        assert!(out.contains("item1.X-ABLabel:boat\r\n"), "{out}");
    }

    #[test]
    fn an_organization_edit_keeps_the_second_organization() {
        let text = card("ORG:A\r\nTITLE:Boss\r\nORG:B;Lab\r\nTITLE:Fellow\r\n");
        let patch = json::Patch { organization: Some("A2".into()), ..Default::default() };
        let out = String::from_utf8(json::apply(Some(&parse(text.as_bytes()).unwrap()), "", &patch).unwrap()).unwrap();
        let f = read_of(&out);
        assert_eq!((f.organization.as_str(), f.title.as_str()), ("A2", "Boss"));
        assert_eq!(
            f.more_organizations,
            vec![Organization { name: "B".into(), department: "Lab".into(), title: "Fellow".into() }]
        );
    }

    #[test]
    fn a_messaging_scheme_of_its_own_stays_one() {
        let text = card("IMPP:sip:ada@voip.test\r\n");
        let f = read_of(&text);
        assert_eq!(f.ims[0].protocol, "sip");
        let patch = json::Patch {
            ims: Some(vec![
                Im { username: "ada@voip.test".into(), protocol: "sip".into(), types: vec!["work".into()] },
                Im { username: "ada.l".into(), protocol: "Facebook".into(), types: vec![] },
            ]),
            ..Default::default()
        };
        let out = String::from_utf8(json::apply(Some(&parse(text.as_bytes()).unwrap()), "", &patch).unwrap()).unwrap();
        assert!(out.contains("IMPP;X-SERVICE-TYPE=Sip;TYPE=work:sip:ada@voip.test\r\n"), "{out}");
        assert!(out.contains("IMPP;X-SERVICE-TYPE=Facebook:x-apple:ada.l\r\n"), "{out}");
        assert_eq!(read_of(&out).ims, patch.ims.unwrap());
    }

    #[test]
    fn new_entries_follow_the_kept_ones_even_when_a_dropped_one_stood_before() {
        let text =
            card("item1.X-ABDATE:2000-01-01\r\nitem1.X-ABLabel:first met\r\nX-ANNIVERSARY:2001-01-01\r\nX-KEEP:x\r\n");
        let patch = json::Patch {
            events: Some(vec![
                Event { date: "2001-01-01".into(), label: "anniversary".into() },
                Event { date: "--07-04".into(), label: "other".into() },
            ]),
            ..Default::default()
        };
        let out = String::from_utf8(json::apply(Some(&parse(text.as_bytes()).unwrap()), "", &patch).unwrap()).unwrap();
        assert!(
            out.contains(
                "X-ANNIVERSARY:2001-01-01\r\nitem2.X-ABDATE:--07-04\r\nitem2.X-ABLabel:_$!<Other>!$_\r\nX-KEEP:x\r\n"
            ),
            "{out}"
        );
        assert!(!out.contains("first met") && !out.contains("2000-01-01"), "{out}");
    }

    #[test]
    fn bad_values_are_named() {
        let bad = json::Patch {
            events: Some(vec![Event { date: "soon".into(), label: String::new() }]),
            ..Default::default()
        };
        assert_eq!(json::apply(None, "u", &bad).unwrap_err().field, "events[0].date");
        let bad = json::Patch {
            ims: Some(vec![Im { username: "a b".into(), protocol: "skype".into(), types: vec![] }]),
            ..Default::default()
        };
        assert_eq!(json::apply(None, "u", &bad).unwrap_err().field, "ims[0].username");
    }
}
