//! A stand-in for Google's OAuth token endpoint and People API v1 (discovery revision 20251221), strict where
//! Google is: it refuses what Google refuses, so the bridge cannot come to rely on leniency.
//!
//! Reproduced: RS256 JWT assertions (signature, `aud`, `exp − iat ≤ 3600`, scope), `unauthorized_client` for a
//! user without delegation, one-hour tokens; contact groups with unique names (409 ALREADY_EXISTS), the system
//! groups `myContacts` and `starred`; `people/c<n>` names; an etag that changes on every write and 400
//! FAILED_PRECONDITION for a stale one; masks (`updatePersonFields` replaces exactly the masked fields, unknown
//! mask paths are refused, reads return only `personFields`); single-valued fields; batch limits 200/200/500
//! and 1,000 for members:modify; the last-membership rule; clientData; sync tokens that expire
//! (EXPIRED_SYNC_TOKEN) and tombstones of deleted contacts; a propagation delay before changes show in sync
//! results; a per-user mutation quota answering Google's 429 body; injected 500s.
//!
//! Used in-process by the tests (`#[path]`), and as `cargo run --example google-emulator` by hand.
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const REVISION: &str = "20251221";
const SCOPE: &str = "https://www.googleapis.com/auth/contacts";
/// Person fields a mask may name (People API v1 `personFields` / `updatePersonFields`).
const PERSON_FIELDS: &[&str] = &[
    "addresses",
    "ageRanges",
    "biographies",
    "birthdays",
    "calendarUrls",
    "clientData",
    "coverPhotos",
    "emailAddresses",
    "events",
    "externalIds",
    "genders",
    "imClients",
    "interests",
    "locales",
    "locations",
    "memberships",
    "metadata",
    "miscKeywords",
    "names",
    "nicknames",
    "occupations",
    "organizations",
    "phoneNumbers",
    "photos",
    "relations",
    "sipAddresses",
    "skills",
    "urls",
    "userDefined",
];
/// Fields a read may name but `updatePersonFields` may not (output only, or changed by other methods).
const NOT_UPDATABLE: &[&str] = &["ageRanges", "coverPhotos", "metadata", "photos", "skills"];

/// Which fields a mask may name: every Person field, or (for updates) those that are not `NOT_UPDATABLE`.
#[derive(Clone, Copy)]
enum Mask {
    Read,
    Update,
}

impl Mask {
    fn allows(self, field: &str) -> bool {
        PERSON_FIELDS.contains(&field) && (matches!(self, Mask::Read) || !NOT_UPDATABLE.contains(&field))
    }
}

/// Fields Google allows one entry of on a contact.
const SINGLE: &[&str] = &["names", "birthdays", "biographies", "genders"];

#[derive(Clone)]
pub struct Options {
    /// The service-account key whose public half verifies assertions.
    pub key_json: Vec<u8>,
    pub sync_token_ttl: Duration,
    pub propagation_delay: Duration,
    /// Mutations per user per `quota_window`; `None`: unlimited.
    pub quota: Option<(usize, Duration)>,
    /// The OAuth client (id, secret) users grant access to with the authorization code flow.
    pub oauth_client: Option<(String, String)>,
}

/// An authorization code handed out and not yet redeemed.
struct Code {
    user: String,
    client_id: String,
    redirect_uri: String,
    challenge: String,
}

#[derive(Default)]
struct Person {
    body: Map<String, Value>,
    etag: String,
    deleted: bool,
    seq: u64,
    changed: Option<Instant>,
}

struct Group {
    name: String,
    client_data: Value,
    etag: String,
    system: bool,
}

#[derive(Default)]
struct Account {
    people: BTreeMap<u64, Person>,
    groups: BTreeMap<String, Group>,
    next: u64,
    seq: u64,
    mutations: VecDeque<Instant>,
}

#[derive(Default)]
struct State {
    allowed: Option<HashSet<String>>,
    accounts: HashMap<String, Account>,
    tokens: HashMap<String, (String, Instant)>,
    fail_next: usize,
    expired_before: u64,
    requests: usize,
    mutations: usize,
    rate_limited: usize,
    /// Mutations answered only after this long (the change is made at once): a client killed meanwhile never
    /// learns what it made.
    hold: Duration,
    /// Mutating requests of each user being answered now, and how often a second began meanwhile (Google asks
    /// that one user's mutations be sent one at a time).
    in_flight: HashMap<String, usize>,
    overlaps: usize,
    /// Users whose every request is answered only after this long (an account Google is slow for).
    slow: HashMap<String, Duration>,
    codes: HashMap<String, Code>,
    /// Refresh tokens issued: the user each acts for.
    refresh_tokens: HashMap<String, String>,
    /// The next consent screen is answered "deny".
    deny_consent: bool,
}

pub struct Emulator {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    opts: Arc<Mutex<Options>>,
    public_key: Arc<Vec<u8>>,
    client_email: String,
}

fn epoch() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn error(code: u16, status: &str, message: &str, reason: Option<&str>) -> (StatusCode, Value) {
    let mut e = json!({ "error": { "code": code, "message": message, "status": status } });
    if let Some(r) = reason {
        e["error"]["details"] =
            json!([{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": r, "domain": "googleapis.com" }]);
    }
    (StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST), e)
}

fn bad(message: &str) -> (StatusCode, Value) {
    error(400, "INVALID_ARGUMENT", message, None)
}

type Answer = Result<Value, (StatusCode, Value)>;

impl Account {
    fn with_system_groups() -> Account {
        let mut a = Account::default();
        for (id, name) in [("myContacts", "myContacts"), ("starred", "starred")] {
            a.groups.insert(
                format!("contactGroups/{id}"),
                Group { name: name.into(), client_data: Value::Null, etag: "sys".into(), system: true },
            );
        }
        a
    }

    fn bump(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

fn etag() -> String {
    format!("%{}", uuid::Uuid::new_v4().simple())
}

fn mask(
    query: &HashMap<String, String>,
    key: &str,
    allowed: Mask,
    required: bool,
) -> Result<Vec<String>, (StatusCode, Value)> {
    let Some(v) = query.get(key).filter(|v| !v.is_empty()) else {
        return if required {
            Err(bad(&format!("{key} mask is required. Please specify one or more valid paths.")))
        } else {
            Ok(Vec::new())
        };
    };
    let fields: Vec<String> = v.split(',').map(|s| s.trim().to_string()).collect();
    for f in &fields {
        if !allowed.allows(f) {
            return Err(bad(&format!("Invalid {key} mask path: \"{f}\".")));
        }
    }
    Ok(fields)
}

/// A Person's fields as Google shows them: output-only additions, only the fields asked for.
fn render(name: &str, p: &Person, fields: &[String]) -> Value {
    let mut out = Map::new();
    out.insert("resourceName".into(), json!(name));
    out.insert("etag".into(), json!(p.etag));
    if p.deleted {
        out.insert("metadata".into(), json!({ "deleted": true }));
        return Value::Object(out);
    }
    for f in fields {
        if f == "metadata" {
            out.insert(
                "metadata".into(),
                json!({ "sources": [{ "type": "CONTACT", "id": name.trim_start_matches("people/"), "etag": p.etag }], "objectType": "PERSON" }),
            );
            continue;
        }
        let Some(v) = p.body.get(f) else { continue };
        let mut v = v.clone();
        if let Some(entries) = v.as_array_mut() {
            for (i, e) in entries.iter_mut().enumerate() {
                if let Some(m) = e.as_object_mut() {
                    m.insert("metadata".into(), json!({ "primary": i == 0, "source": { "type": "CONTACT" } }));
                    if let Some(t) = m.get("type").and_then(Value::as_str) {
                        let mut c = t.chars();
                        let formatted: String =
                            c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default();
                        m.insert("formattedType".into(), json!(formatted));
                    }
                    if f == "names" {
                        let parts: Vec<&str> =
                            ["honorificPrefix", "givenName", "middleName", "familyName", "honorificSuffix"]
                                .iter()
                                .filter_map(|k| m.get(*k).and_then(Value::as_str))
                                .collect();
                        let display = m
                            .get("unstructuredName")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .unwrap_or(parts.join(" "));
                        m.insert("displayName".into(), json!(display));
                    }
                }
            }
        }
        out.insert(f.clone(), v);
    }
    Value::Object(out)
}

impl State {
    fn account(&mut self, user: &str) -> &mut Account {
        self.accounts.entry(user.to_string()).or_insert_with(Account::with_system_groups)
    }

    fn people_of(&mut self, user: &str) -> Vec<Value> {
        let a = self.account(user);
        let all: Vec<String> = PERSON_FIELDS.iter().map(|f| f.to_string()).collect();
        a.people.iter().filter(|(_, p)| !p.deleted).map(|(id, p)| render(&format!("people/c{id}"), p, &all)).collect()
    }

    fn groups_of(&mut self, user: &str) -> Vec<Value> {
        let a = self.account(user);
        a.groups
            .iter()
            .map(|(name, g)| {
                let members: Vec<String> = a
                    .people
                    .iter()
                    .filter(|(_, p)| !p.deleted && memberships(&p.body).iter().any(|m| m == name))
                    .map(|(id, _)| format!("people/c{id}"))
                    .collect();
                json!({ "resourceName": name, "name": g.name, "clientData": g.client_data, "system": g.system, "memberResourceNames": members })
            })
            .collect()
    }

    /// Checks a Person sent for a write: known fields, one entry of single-valued ones, groups that exist.
    fn check_person(
        &mut self,
        user: &str,
        p: &Map<String, Value>,
        fields: &[String],
    ) -> Result<(), (StatusCode, Value)> {
        for f in fields {
            let n = p.get(f).and_then(Value::as_array).map(Vec::len).unwrap_or(0);
            if SINGLE.contains(&f.as_str()) && n > 1 {
                return Err(bad(&format!("Invalid person.{f}: only one {f} entry is allowed.")));
            }
        }
        for k in p.keys() {
            if !PERSON_FIELDS.contains(&k.as_str()) && !["resourceName", "etag"].contains(&k.as_str()) {
                return Err(bad(&format!(
                    "Invalid JSON payload received. Unknown name \"{k}\" at 'person': Cannot find field."
                )));
            }
        }
        if let Some(ms) = p.get("memberships").and_then(Value::as_array) {
            let account = self.account(user);
            for m in ms {
                let g = m["contactGroupMembership"]["contactGroupResourceName"].as_str().unwrap_or("");
                if !account.groups.contains_key(g) {
                    return Err(bad(&format!("Invalid contact group resource name: {g}")));
                }
            }
        }
        Ok(())
    }

    fn create(&mut self, user: &str, mut body: Map<String, Value>) -> Result<(String, u64), (StatusCode, Value)> {
        let fields: Vec<String> = body.keys().cloned().collect();
        self.check_person(user, &body, &fields)?;
        body.remove("resourceName");
        body.remove("etag");
        // Google keeps no empty field: an empty list is no field at all.
        body.retain(|_, v| !v.as_array().is_some_and(Vec::is_empty));
        if !body.contains_key("memberships") {
            body.insert(
                "memberships".into(),
                json!([{ "contactGroupMembership": { "contactGroupResourceName": "contactGroups/myContacts" } }]),
            );
        }
        let a = self.account(user);
        a.next += 1;
        let id = a.next;
        let seq = a.bump();
        a.people.insert(id, Person { body, etag: etag(), deleted: false, seq, changed: Some(Instant::now()) });
        Ok((format!("people/c{id}"), id))
    }

    fn update(
        &mut self,
        user: &str,
        name: &str,
        body: &Map<String, Value>,
        fields: &[String],
    ) -> Result<u64, (StatusCode, Value)> {
        self.check_person(user, body, fields)?;
        let id = person_id(name)?;
        let a = self.account(user);
        let p = a
            .people
            .get_mut(&id)
            .filter(|p| !p.deleted)
            .ok_or_else(|| error(404, "NOT_FOUND", "Requested entity was not found.", None))?;
        match body.get("etag").and_then(Value::as_str) {
            None => {
                return Err(bad(
                    "Request must set person.etag or person.metadata.sources.etag for the source that is being updated.",
                ));
            }
            Some(e) if e != p.etag => {
                return Err(error(
                    400,
                    "FAILED_PRECONDITION",
                    "Request person.etag is different than the current person.etag. Clear local cache and get the latest person.",
                    None,
                ));
            }
            _ => {}
        }
        for f in fields {
            match body.get(f) {
                Some(v) if !(v.is_array() && v.as_array().is_some_and(Vec::is_empty)) => {
                    p.body.insert(f.clone(), v.clone());
                }
                // A masked field absent from the body is cleared.
                _ => {
                    p.body.remove(f);
                }
            }
        }
        p.etag = etag();
        p.changed = Some(Instant::now());
        let seq = a.bump();
        if let Some(p) = a.people.get_mut(&id) {
            p.seq = seq;
        }
        Ok(id)
    }

    fn delete(&mut self, user: &str, name: &str) -> Result<(), (StatusCode, Value)> {
        let id = person_id(name)?;
        let a = self.account(user);
        let seq = a.bump();
        let p = a
            .people
            .get_mut(&id)
            .filter(|p| !p.deleted)
            .ok_or_else(|| error(404, "NOT_FOUND", "Requested entity was not found.", None))?;
        p.deleted = true;
        p.body.clear();
        p.etag = etag();
        p.seq = seq;
        p.changed = Some(Instant::now());
        Ok(())
    }
}

fn person_id(name: &str) -> Result<u64, (StatusCode, Value)> {
    name.strip_prefix("people/c")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad(&format!("Resource name \"{name}\" is not valid.")))
}

fn query_of(uri: &http::Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| {
                    let d = |s: &str| {
                        percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().to_string()
                    };
                    (d(k), d(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Emulator {
    pub async fn start(opts: Options) -> Emulator {
        let key: Value = serde_json::from_slice(&opts.key_json).expect("a service-account key");
        let pem = key["private_key"].as_str().expect("private_key");
        let der = {
            use rustls_pki_types::pem::PemObject;
            rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).expect("PKCS#8")
        };
        let pair = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("RSA key");
        use ring::signature::KeyPair;
        let public_key = Arc::new(pair.public_key().as_ref().to_vec());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let em = Emulator {
            addr,
            state: Arc::new(Mutex::new(State::default())),
            opts: Arc::new(Mutex::new(opts)),
            public_key,
            client_email: key["client_email"].as_str().unwrap_or("").to_string(),
        };
        let (state, opts, pk, email) =
            (em.state.clone(), em.opts.clone(), em.public_key.clone(), em.client_email.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (state, opts, pk, email) = (state.clone(), opts.clone(), pk.clone(), email.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let (state, opts, pk, email) = (state.clone(), opts.clone(), pk.clone(), email.clone());
                        async move { Ok::<_, std::convert::Infallible>(handle(req, state, opts, pk, email).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        em
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Only these users have delegation (`None`: everyone).
    pub fn allow(&self, users: Option<&[&str]>) {
        self.state().allowed = users.map(|u| u.iter().map(|s| s.to_string()).collect());
    }

    /// Takes a user's delegation away: their tokens stop working and no new one is issued.
    pub fn revoke(&self, user: &str) {
        let mut s = self.state();
        if let Some(a) = s.allowed.as_mut() {
            a.remove(user);
        } else {
            let all: HashSet<String> = s.accounts.keys().filter(|k| *k != user).cloned().collect();
            s.allowed = Some(all);
        }
        s.tokens.retain(|_, (u, _)| u != user);
    }

    pub fn grant(&self, user: &str) {
        if let Some(a) = self.state().allowed.as_mut() {
            a.insert(user.to_string());
        }
    }

    /// The user takes back every grant they gave (Google account › Security › third-party access): their
    /// refresh tokens and access tokens stop working.
    pub fn revoke_grants(&self, user: &str) {
        let mut s = self.state();
        s.refresh_tokens.retain(|_, u| u != user);
        s.tokens.retain(|_, (u, _)| u != user);
    }

    /// The next consent screen is answered "deny".
    pub fn deny_next_consent(&self) {
        self.state().deny_consent = true;
    }

    /// Refresh tokens issued and still valid.
    pub fn refresh_tokens(&self) -> Vec<String> {
        self.state().refresh_tokens.keys().cloned().collect()
    }

    pub fn fail_next(&self, n: usize) {
        self.state().fail_next = n;
    }

    pub fn set_quota(&self, quota: Option<(usize, Duration)>) {
        self.opts.lock().unwrap_or_else(|e| e.into_inner()).quota = quota;
    }

    /// Every sync token issued so far stops working (as after seven days).
    pub fn expire_sync_tokens(&self) {
        let mut s = self.state();
        s.expired_before = epoch() + 1;
    }

    /// Answers every request of `user` only after `delay` (Google slow for that one account).
    pub fn slow_down(&self, user: &str, delay: Duration) {
        self.state().slow.insert(user.to_string(), delay);
    }

    /// Answers mutations only after `hold` (they take effect at once).
    pub fn hold_answers(&self, hold: Duration) {
        self.state().hold = hold;
    }

    /// How many times a user's mutation began while another of theirs was being answered.
    pub fn overlaps(&self) -> usize {
        self.state().overlaps
    }

    /// (requests, mutations, answered 429).
    pub fn counts(&self) -> (usize, usize, usize) {
        let s = self.state();
        (s.requests, s.mutations, s.rate_limited)
    }

    /// A user's live contacts, as Google would return them with every field.
    pub fn people(&self, user: &str) -> Vec<Value> {
        self.state().people_of(user)
    }

    /// How many live contacts a user's Google holds (cheap: nothing is rendered).
    pub fn count(&self, user: &str) -> usize {
        let mut s = self.state();
        s.account(user).people.values().filter(|p| !p.deleted).count()
    }

    /// Whether a user's Google holds a contact whose first phone number is `value` (cheap).
    pub fn has_phone(&self, user: &str, value: &str) -> bool {
        let mut s = self.state();
        s.account(user)
            .people
            .values()
            .any(|p| !p.deleted && p.body.get("phoneNumbers").and_then(|v| v[0]["value"].as_str()) == Some(value))
    }

    /// A user's contact groups (name, resource name, clientData, member resource names).
    pub fn groups(&self, user: &str) -> Vec<Value> {
        self.state().groups_of(user)
    }

    /// The user edits a contact in Google Contacts.
    pub fn edit(&self, user: &str, name: &str, f: impl FnOnce(&mut Map<String, Value>)) {
        let mut s = self.state();
        let a = s.account(user);
        let id = person_id(name).expect("a person name");
        let seq = a.bump();
        let p = a.people.get_mut(&id).expect("the person exists");
        f(&mut p.body);
        p.etag = etag();
        p.seq = seq;
        p.changed = Some(Instant::now());
    }

    /// The user makes a contact in Google Contacts; answers its resource name.
    pub fn create(&self, user: &str, person: Value) -> String {
        let body = person.as_object().cloned().expect("a person is an object");
        self.state().create(user, body).expect("a valid person").0
    }

    /// The user deletes a contact in Google Contacts.
    pub fn delete(&self, user: &str, name: &str) {
        self.state().delete(user, name).expect("the person exists");
    }

    /// The user makes a contact group of their own.
    pub fn add_group(&self, user: &str, name: &str) {
        let mut s = self.state();
        let a = s.account(user);
        a.next += 1;
        let id = format!("contactGroups/{:x}", a.next);
        a.groups.insert(id, Group { name: name.into(), client_data: Value::Null, etag: etag(), system: false });
    }
}

fn memberships(body: &Map<String, Value>) -> Vec<String> {
    body.get("memberships")
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .filter_map(|m| m["contactGroupMembership"]["contactGroupResourceName"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=UTF-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    opts: Arc<Mutex<Options>>,
    public_key: Arc<Vec<u8>>,
    client_email: String,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return reply(StatusCode::BAD_REQUEST, json!({}));
    };
    let opts = opts.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let slow = {
        let s = state.lock().unwrap_or_else(|e| e.into_inner());
        let bearer =
            parts.headers.get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "));
        bearer.and_then(|t| s.tokens.get(t)).and_then(|(user, _)| s.slow.get(user).copied())
    };
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
    }
    let (answer, held) = answer_now(&parts, &body, &state, &opts, &public_key, &client_email);
    // A mutation is answered after the hold, and counts as in flight until then, or until the client goes away
    // (the connection closing drops this future mid-sleep).
    if let Some((user, hold)) = held {
        let _done = InFlight { state: state.clone(), user };
        tokio::time::sleep(hold).await;
    }
    answer
}

/// One mutation being answered; ends when dropped.
struct InFlight {
    state: Arc<Mutex<State>>,
    user: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = s.in_flight.get_mut(&self.user) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Percent-encoding as Google's servers do it: unreserved characters (RFC 3986 §2.3) stay as they are.
const QUERY: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

type Held = Option<(String, Duration)>;

fn answer_now(
    parts: &http::request::Parts,
    body: &Bytes,
    state: &Mutex<State>,
    opts: &Options,
    public_key: &[u8],
    client_email: &str,
) -> (Response<Full<Bytes>>, Held) {
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    s.requests += 1;
    // What a user's Google Contacts hold, for tests driving the stand-in from outside the process.
    if let Some(rest) = parts.uri.path().strip_prefix("/_emulator/") {
        let rest = percent_encoding::percent_decode_str(rest).decode_utf8_lossy().to_string();
        let answer = match rest.rsplit_once('/') {
            Some((user, "people")) => Value::Array(s.people_of(user)),
            Some((user, "groups")) => Value::Array(s.groups_of(user)),
            _ => return (reply(StatusCode::NOT_FOUND, json!({})), None),
        };
        return (reply(StatusCode::OK, answer), None);
    }
    if parts.uri.path() == "/o/oauth2/v2/auth" {
        return (consent(&mut s, opts, &query_of(&parts.uri)), None);
    }
    // RFC 7009: a grant given back; Google answers 400 invalid_token for one it does not know.
    if parts.uri.path() == "/revoke" {
        let form_type = parts.headers.get("content-type").and_then(|h| h.to_str().ok()).unwrap_or("");
        if parts.method != Method::POST || !form_type.starts_with("application/x-www-form-urlencoded") {
            return (reply(StatusCode::BAD_REQUEST, json!({ "error": "invalid_request" })), None);
        }
        let form = query_of(&format!("/?{}", String::from_utf8_lossy(body)).parse().unwrap_or_default());
        return match form.get("token").and_then(|t| s.refresh_tokens.remove(t)) {
            Some(user) => {
                // The access tokens it gave go with it.
                s.tokens.retain(|_, (u, _)| *u != user);
                (reply(StatusCode::OK, json!({})), None)
            }
            None => (
                reply(
                    StatusCode::BAD_REQUEST,
                    json!({ "error": "invalid_token", "error_description": "Token expired or revoked" }),
                ),
                None,
            ),
        };
    }
    if parts.uri.path() == "/token" {
        let form = query_of(&format!("/?{}", String::from_utf8_lossy(body)).parse().unwrap_or_default());
        let (status, v) = match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") | Some("refresh_token") => oauth_token(&mut s, opts, &form),
            _ => token(
                &mut s,
                body,
                public_key,
                client_email,
                &format!("http://{}/token", parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("")),
            ),
        };
        return (reply(status, v), None);
    }
    if s.fail_next > 0 {
        s.fail_next -= 1;
        let (st, v) = error(500, "INTERNAL", "Internal error encountered.", None);
        return (reply(st, v), None);
    }
    let bearer =
        parts.headers.get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "));
    let user = match bearer.and_then(|t| s.tokens.get(t)) {
        Some((u, until)) if *until > Instant::now() => u.clone(),
        _ => {
            let (st, v) = error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
                Some("ACCESS_TOKEN_TYPE_UNSUPPORTED"),
            );
            return (reply(st, v), None);
        }
    };
    let path = parts.uri.path().trim_start_matches("/v1/").to_string();
    let mutating = parts.method != Method::GET;
    if mutating {
        if let Some((n, window)) = opts.quota {
            let a = s.account(&user);
            while a.mutations.front().is_some_and(|t| t.elapsed() > window) {
                a.mutations.pop_front();
            }
            if a.mutations.len() >= n {
                s.rate_limited += 1;
                let mut e = json!({ "error": {
                    "code": 429,
                    "message": "Quota exceeded for quota metric 'Critical write requests' and limit 'Critical write requests per minute per user' of service 'people.googleapis.com'.",
                    "status": "RESOURCE_EXHAUSTED",
                    "details": [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
                                  "metadata": { "service": "people.googleapis.com", "quota_limit": "CriticalWriteRequestsPerMinutePerUser" } }]
                }});
                e["error"]["code"] = json!(429);
                return (reply(StatusCode::TOO_MANY_REQUESTS, e), None);
            }
            a.mutations.push_back(Instant::now());
        }
        s.mutations += 1;
        let n = s.in_flight.entry(user.clone()).or_default();
        *n += 1;
        if *n > 1 {
            s.overlaps += 1;
        }
    }
    let held = mutating.then(|| (user.clone(), s.hold));
    let query = query_of(&parts.uri);
    let json_body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return (reply(StatusCode::BAD_REQUEST, bad(&format!("Invalid JSON payload received. {e}")).1), held);
            }
        }
    };
    let answer = match route(&mut s, opts, &user, &parts.method, &path, &query, json_body) {
        Ok(v) => reply(StatusCode::OK, v),
        Err((st, v)) => reply(st, v),
    };
    (answer, held)
}

/// The consent screen, answered at once as the user named by `login_hint` would (RFC 6749 §4.1.1–4.1.2):
/// a code bound to the client, the redirect URI and the PKCE challenge, or `access_denied`.
fn consent(s: &mut State, opts: &Options, q: &HashMap<String, String>) -> Response<Full<Bytes>> {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let Some((client_id, _)) = &opts.oauth_client else { return reply(StatusCode::NOT_FOUND, json!({})) };
    // Errors about the client or the redirect are shown to the user, never redirected (RFC 6749 §4.1.2.1).
    if get("client_id") != client_id {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({ "error": "invalid_client", "error_description": "The OAuth client was not found." }),
        );
    }
    let redirect = get("redirect_uri");
    if !(redirect.starts_with("http://") || redirect.starts_with("https://")) {
        return reply(StatusCode::BAD_REQUEST, json!({ "error": "redirect_uri_mismatch" }));
    }
    let back = |params: &[(&str, &str)]| {
        let q: Vec<String> =
            params.iter().map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, QUERY))).collect();
        let sep = if redirect.contains('?') { '&' } else { '?' };
        Response::builder()
            .status(StatusCode::FOUND)
            .header("location", format!("{redirect}{sep}{}", q.join("&")))
            .body(Full::new(Bytes::new()))
            .unwrap_or_default()
    };
    let state = get("state");
    let bad = get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").len() < 43
        || !get("scope").split(' ').any(|x| x == SCOPE)
        || get("access_type") != "offline"
        || get("login_hint").is_empty();
    if bad {
        return back(&[("error", "invalid_request"), ("state", state)]);
    }
    if std::mem::take(&mut s.deny_consent) {
        return back(&[("error", "access_denied"), ("state", state)]);
    }
    let code = format!("4/{}", uuid::Uuid::new_v4().simple());
    s.codes.insert(
        code.clone(),
        Code {
            user: get("login_hint").to_string(),
            client_id: client_id.clone(),
            redirect_uri: redirect.to_string(),
            challenge: get("code_challenge").to_string(),
        },
    );
    back(&[("code", &code), ("state", state), ("scope", SCOPE)])
}

/// The token endpoint's authorization_code and refresh_token grants (RFC 6749 §4.1.3, §6; RFC 7636 §4.6).
fn oauth_token(s: &mut State, opts: &Options, form: &HashMap<String, String>) -> (StatusCode, Value) {
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let refuse = |code: u16, e: &str, d: &str| {
        (StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST), json!({ "error": e, "error_description": d }))
    };
    match &opts.oauth_client {
        Some((id, secret)) if get("client_id") == id && get("client_secret") == secret => {}
        _ => return refuse(401, "invalid_client", "The OAuth client was not found."),
    }
    let user = if get("grant_type") == "authorization_code" {
        let Some(code) = s.codes.remove(get("code")) else {
            return refuse(400, "invalid_grant", "Malformed auth code.");
        };
        use sha2::Digest;
        let challenge = B64.encode(sha2::Sha256::digest(get("code_verifier").as_bytes()));
        if code.redirect_uri != get("redirect_uri") || code.client_id != get("client_id") {
            return refuse(400, "redirect_uri_mismatch", "Bad Request");
        }
        if challenge != code.challenge {
            return refuse(400, "invalid_grant", "Invalid code verifier.");
        }
        code.user
    } else {
        match s.refresh_tokens.get(get("refresh_token")) {
            Some(u) => u.clone(),
            None => return refuse(400, "invalid_grant", "Token has been expired or revoked."),
        }
    };
    let token = format!("ya29.{}", uuid::Uuid::new_v4().simple());
    s.tokens.insert(token.clone(), (user.clone(), Instant::now() + Duration::from_secs(3600)));
    let mut answer = json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer", "scope": SCOPE });
    if get("grant_type") == "authorization_code" {
        let refresh = format!("1//{}", uuid::Uuid::new_v4().simple());
        s.refresh_tokens.insert(refresh.clone(), user);
        answer["refresh_token"] = json!(refresh);
    }
    (StatusCode::OK, answer)
}

fn token(s: &mut State, body: &[u8], public_key: &[u8], client_email: &str, own_uri: &str) -> (StatusCode, Value) {
    let form = query_of(&format!("/?{}", String::from_utf8_lossy(body)).parse().unwrap_or_default());
    let refuse = |code: u16, e: &str, d: &str| {
        (StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST), json!({ "error": e, "error_description": d }))
    };
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return refuse(400, "unsupported_grant_type", "Invalid grant_type");
    }
    let Some(jwt) = form.get("assertion") else {
        return refuse(400, "invalid_request", "Missing required parameter: assertion");
    };
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return refuse(400, "invalid_grant", "Invalid JWT: not three parts");
    }
    let header: Value = B64.decode(parts[0]).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
    if header["alg"] != "RS256" {
        return refuse(400, "invalid_grant", "Invalid JWT: alg must be RS256");
    }
    let Ok(sig) = B64.decode(parts[2]) else { return refuse(400, "invalid_grant", "Invalid JWT signature encoding") };
    let signed = format!("{}.{}", parts[0], parts[1]);
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public_key);
    if key.verify(signed.as_bytes(), &sig).is_err() {
        return refuse(400, "invalid_grant", "Invalid JWT Signature.");
    }
    let c: Value = B64.decode(parts[1]).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
    let (iat, exp) = (c["iat"].as_i64().unwrap_or(0), c["exp"].as_i64().unwrap_or(0));
    let now = epoch() as i64;
    if c["iss"] != client_email {
        return refuse(400, "invalid_grant", "Invalid JWT: iss is not this service account");
    }
    if c["aud"] != own_uri {
        return refuse(400, "invalid_grant", "Invalid JWT: aud must be the token endpoint");
    }
    if exp - iat > 3600 || exp <= now || iat > now + 60 {
        return refuse(
            400,
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        );
    }
    if !c["scope"].as_str().unwrap_or("").split(' ').any(|x| x == SCOPE) {
        return refuse(400, "invalid_scope", "The contacts scope was not requested");
    }
    let sub = c["sub"].as_str().unwrap_or("").to_string();
    if s.allowed.as_ref().is_some_and(|a| !a.contains(&sub)) {
        return refuse(
            401,
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
        );
    }
    let token = format!("ya29.{}", uuid::Uuid::new_v4().simple());
    s.tokens.insert(token.clone(), (sub, Instant::now() + Duration::from_secs(3600)));
    (StatusCode::OK, json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }))
}

fn visible(p: &Person, delay: Duration) -> bool {
    p.changed.is_none_or(|t| t.elapsed() >= delay)
}

fn route(
    s: &mut State,
    opts: &Options,
    user: &str,
    method: &Method,
    path: &str,
    q: &HashMap<String, String>,
    body: Value,
) -> Answer {
    let not_found = || error(404, "NOT_FOUND", "Requested entity was not found.", None);
    match (method.as_str(), path) {
        ("GET", "people/me/connections") => {
            let fields = mask(q, "personFields", Mask::Read, true)?;
            let page_size: usize = q.get("pageSize").and_then(|v| v.parse().ok()).unwrap_or(100);
            if !(1..=1000).contains(&page_size) {
                return Err(bad("pageSize must be between 1 and 1000"));
            }
            let since = match q.get("syncToken").filter(|t| !t.is_empty()) {
                Some(t) => {
                    let (seq, issued) = t
                        .strip_prefix("st.")
                        .and_then(|r| r.split_once('.'))
                        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                        .ok_or_else(|| bad("Sync token is invalid"))?;
                    if issued < s.expired_before || epoch().saturating_sub(issued) > opts.sync_token_ttl.as_secs() {
                        return Err(error(
                            400,
                            "FAILED_PRECONDITION",
                            "Sync token is expired. Clear local cache and retry call without the sync token.",
                            Some("EXPIRED_SYNC_TOKEN"),
                        ));
                    }
                    Some(seq)
                }
                None => None,
            };
            let a = s.account(user);
            // Changes not yet propagated are neither shown nor skipped: the token stops before the first.
            let hidden_from = a.people.values().filter(|p| !visible(p, opts.propagation_delay)).map(|p| p.seq).min();
            let upto = hidden_from.map(|h| h - 1).unwrap_or(a.seq);
            let mut list: Vec<(&u64, &Person)> = a
                .people
                .iter()
                .filter(|(_, p)| {
                    p.seq <= upto
                        && match since {
                            Some(sq) => p.seq > sq,
                            None => !p.deleted,
                        }
                })
                .collect();
            list.sort_by_key(|(id, _)| **id);
            let start: usize =
                q.get("pageToken").and_then(|t| t.strip_prefix("pg.")).and_then(|t| t.parse().ok()).unwrap_or(0);
            let page: Vec<Value> = list
                .iter()
                .skip(start)
                .take(page_size)
                .map(|(id, p)| render(&format!("people/c{id}"), p, &fields))
                .collect();
            let mut out = json!({ "connections": page, "totalPeople": list.len(), "totalItems": list.len() });
            if start + page_size < list.len() {
                out["nextPageToken"] = json!(format!("pg.{}", start + page_size));
            } else if q.get("requestSyncToken").is_some_and(|v| v == "true") {
                out["nextSyncToken"] = json!(format!("st.{upto}.{}", epoch()));
            }
            Ok(out)
        }
        ("GET", "contactGroups") => {
            let a = s.account(user);
            let groups: Vec<Value> = a
                .groups
                .iter()
                .map(|(name, g)| {
                    let mut v = json!({ "resourceName": name, "etag": g.etag, "name": g.name, "formattedName": g.name,
                        "groupType": if g.system { "SYSTEM_CONTACT_GROUP" } else { "USER_CONTACT_GROUP" } });
                    if !g.client_data.is_null() {
                        v["clientData"] = g.client_data.clone();
                    }
                    v
                })
                .collect();
            Ok(json!({ "contactGroups": groups, "totalItems": groups.len() }))
        }
        ("POST", "contactGroups") => {
            let g = &body["contactGroup"];
            let name = g["name"].as_str().unwrap_or("").trim().to_string();
            if name.is_empty() {
                return Err(bad("Contact group name must not be empty."));
            }
            let a = s.account(user);
            if a.groups.values().any(|x| x.name == name) {
                return Err(error(409, "ALREADY_EXISTS", "Contact group name already exists.", None));
            }
            a.next += 1;
            let id = format!("contactGroups/{:x}", a.next);
            let tag = etag();
            a.groups.insert(
                id.clone(),
                Group { name: name.clone(), client_data: g["clientData"].clone(), etag: tag.clone(), system: false },
            );
            Ok(
                json!({ "resourceName": id, "etag": tag, "name": name, "formattedName": name, "groupType": "USER_CONTACT_GROUP", "clientData": g["clientData"] }),
            )
        }
        _ if path.starts_with("contactGroups/") => {
            let (id, action) = match path.split_once(':') {
                Some((id, a)) => (id.trim_end_matches("/members"), Some(a)),
                None => (path, None),
            };
            let a = s.account(user);
            let g = a.groups.get(id).ok_or_else(not_found)?;
            match (method.as_str(), action) {
                ("GET", None) => {
                    Ok(json!({ "resourceName": id, "etag": g.etag, "name": g.name, "clientData": g.client_data }))
                }
                ("PUT", None) => {
                    if g.system {
                        return Err(bad("System contact groups cannot be updated."));
                    }
                    let cg = &body["contactGroup"];
                    if cg["etag"].as_str() != Some(g.etag.as_str()) {
                        return Err(error(
                            400,
                            "FAILED_PRECONDITION",
                            "Request contactGroup.etag is different than the current etag.",
                            None,
                        ));
                    }
                    let name = cg["name"].as_str().unwrap_or("").trim().to_string();
                    if a.groups.iter().any(|(k, x)| k != id && x.name == name) {
                        return Err(error(409, "ALREADY_EXISTS", "Contact group name already exists.", None));
                    }
                    let g = a.groups.get_mut(id).ok_or_else(not_found)?;
                    g.name = name.clone();
                    if !cg["clientData"].is_null() {
                        g.client_data = cg["clientData"].clone();
                    }
                    g.etag = etag();
                    Ok(json!({ "resourceName": id, "etag": g.etag, "name": name, "clientData": g.client_data }))
                }
                ("DELETE", None) => {
                    if g.system {
                        return Err(bad("System contact groups cannot be deleted."));
                    }
                    let delete_contacts = q.get("deleteContacts").is_some_and(|v| v == "true");
                    a.groups.remove(id);
                    let ids: Vec<u64> = a
                        .people
                        .iter()
                        .filter(|(_, p)| !p.deleted && memberships(&p.body).iter().any(|m| m == id))
                        .map(|(k, _)| *k)
                        .collect();
                    for pid in ids {
                        let seq = a.bump();
                        let p = a.people.get_mut(&pid).ok_or_else(not_found)?;
                        if delete_contacts {
                            p.deleted = true;
                            p.body.clear();
                        } else {
                            let kept: Vec<Value> = p.body["memberships"]
                                .as_array()
                                .cloned()
                                .unwrap_or_default()
                                .into_iter()
                                .filter(|m| m["contactGroupMembership"]["contactGroupResourceName"] != id)
                                .collect();
                            p.body.insert("memberships".into(), Value::Array(kept));
                        }
                        p.etag = etag();
                        p.seq = seq;
                        p.changed = Some(Instant::now());
                    }
                    Ok(json!({}))
                }
                ("POST", Some("modify")) => {
                    let add: Vec<String> =
                        serde_json::from_value(body["resourceNamesToAdd"].clone()).unwrap_or_default();
                    let remove: Vec<String> =
                        serde_json::from_value(body["resourceNamesToRemove"].clone()).unwrap_or_default();
                    if add.len() + remove.len() > 1000 {
                        return Err(bad("Too many resource names: at most 1000."));
                    }
                    let id = id.to_string();
                    let mut not_found_names = Vec::new();
                    let mut last_group = Vec::new();
                    for (names, adding) in [(add, true), (remove, false)] {
                        for n in names {
                            let Ok(pid) = person_id(&n) else {
                                not_found_names.push(n);
                                continue;
                            };
                            let seq = a.seq + 1;
                            let Some(p) = a.people.get_mut(&pid).filter(|p| !p.deleted) else {
                                not_found_names.push(n);
                                continue;
                            };
                            let mut ms = memberships(&p.body);
                            if adding {
                                if !ms.contains(&id) {
                                    ms.push(id.clone());
                                }
                            } else {
                                if ms.len() == 1 && ms[0] == id {
                                    last_group.push(n);
                                    continue;
                                }
                                ms.retain(|m| m != &id);
                            }
                            p.body.insert(
                                "memberships".into(),
                                Value::Array(
                                    ms.iter()
                                        .map(|m| json!({ "contactGroupMembership": { "contactGroupResourceName": m } }))
                                        .collect(),
                                ),
                            );
                            p.etag = etag();
                            p.seq = seq;
                            p.changed = Some(Instant::now());
                            a.seq = seq;
                        }
                    }
                    Ok(
                        json!({ "notFoundResourceNames": not_found_names, "canNotRemoveLastContactGroupResourceNames": last_group }),
                    )
                }
                _ => Err(not_found()),
            }
        }
        ("POST", "people:createContact") => {
            let fields = mask(q, "personFields", Mask::Read, false)?;
            let body = body.as_object().cloned().ok_or_else(|| bad("A person is required"))?;
            let (name, id) = s.create(user, body)?;
            let p = &s.account(user).people[&id];
            Ok(render(&name, p, &fields))
        }
        ("POST", "people:batchCreateContacts") => {
            let fields: Vec<String> = body["readMask"]
                .as_str()
                .unwrap_or("")
                .split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect();
            if fields.is_empty() || fields.iter().any(|f| !PERSON_FIELDS.contains(&f.as_str())) {
                return Err(bad("readMask is required and must name person fields."));
            }
            let contacts = body["contacts"].as_array().cloned().unwrap_or_default();
            if contacts.is_empty() || contacts.len() > 200 {
                return Err(bad("Between 1 and 200 contacts may be created at once."));
            }
            let mut checked = Vec::new();
            for c in &contacts {
                let p = c["contactPerson"].as_object().cloned().ok_or_else(|| bad("contactPerson is required"))?;
                let keys: Vec<String> = p.keys().cloned().collect();
                s.check_person(user, &p, &keys)?;
                checked.push(p);
            }
            let mut out = Vec::new();
            for p in checked {
                let (name, id) = s.create(user, p)?;
                let p = &s.account(user).people[&id];
                out.push(json!({ "httpStatusCode": 200, "person": render(&name, p, &fields) }));
            }
            Ok(json!({ "createdPeople": out }))
        }
        ("POST", "people:batchUpdateContacts") => {
            let fields = mask(
                &HashMap::from([("updateMask".to_string(), body["updateMask"].as_str().unwrap_or("").to_string())]),
                "updateMask",
                Mask::Update,
                true,
            )?;
            let read: Vec<String> = body["readMask"]
                .as_str()
                .unwrap_or("")
                .split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect();
            let contacts = body["contacts"].as_object().cloned().unwrap_or_default();
            if contacts.is_empty() || contacts.len() > 200 {
                return Err(bad("Between 1 and 200 contacts may be updated at once."));
            }
            // All or nothing: every etag is checked before anything is written.
            {
                let a = s.account(user);
                for (name, p) in &contacts {
                    let id = person_id(name)?;
                    let cur = a.people.get(&id).filter(|x| !x.deleted).ok_or_else(not_found)?;
                    if p["etag"].as_str() != Some(cur.etag.as_str()) {
                        return Err(error(
                            400,
                            "FAILED_PRECONDITION",
                            "Request person.etag is different than the current person.etag. Clear local cache and get the latest person.",
                            None,
                        ));
                    }
                }
            }
            let mut out = Map::new();
            for (name, p) in contacts {
                let body = p.as_object().cloned().unwrap_or_default();
                let id = s.update(user, &name, &body, &fields)?;
                let p = &s.account(user).people[&id];
                out.insert(name.clone(), json!({ "httpStatusCode": 200, "person": render(&name, p, &read) }));
            }
            Ok(json!({ "updateResult": out }))
        }
        ("POST", "people:batchDeleteContacts") => {
            let names: Vec<String> = serde_json::from_value(body["resourceNames"].clone()).unwrap_or_default();
            if names.is_empty() || names.len() > 500 {
                return Err(bad("Between 1 and 500 contacts may be deleted at once."));
            }
            for n in &names {
                let id = person_id(n)?;
                if s.account(user).people.get(&id).is_none_or(|p| p.deleted) {
                    return Err(not_found());
                }
            }
            for n in &names {
                s.delete(user, n)?;
            }
            Ok(json!({}))
        }
        _ if path.starts_with("people/c") => {
            let (name, action) = match path.split_once(':') {
                Some((n, a)) => (n.to_string(), Some(a)),
                None => (path.to_string(), None),
            };
            match (method.as_str(), action) {
                ("GET", None) => {
                    let fields = mask(q, "personFields", Mask::Read, true)?;
                    let id = person_id(&name)?;
                    let p = s.account(user).people.get(&id).filter(|p| !p.deleted).ok_or_else(not_found)?;
                    Ok(render(&name, p, &fields))
                }
                ("PATCH", Some("updateContact")) => {
                    let fields = mask(q, "updatePersonFields", Mask::Update, true)?;
                    let read = mask(q, "personFields", Mask::Read, false)?;
                    let body = body.as_object().cloned().ok_or_else(|| bad("A person is required"))?;
                    let id = s.update(user, &name, &body, &fields)?;
                    let p = &s.account(user).people[&id];
                    Ok(render(&name, p, &read))
                }
                ("PATCH", Some("updateContactPhoto")) => {
                    let read = body["personFields"]
                        .as_str()
                        .unwrap_or("")
                        .split(',')
                        .filter(|f| !f.is_empty())
                        .map(str::to_string)
                        .collect::<Vec<_>>();
                    let bytes = body["photoBytes"]
                        .as_str()
                        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                        .ok_or_else(|| bad("photoBytes must be base64"))?;
                    let image = bytes.starts_with(&[0x89, b'P', b'N', b'G']) || bytes.starts_with(&[0xFF, 0xD8, 0xFF]);
                    if !image {
                        return Err(bad("Invalid photo: only JPEG and PNG are accepted."));
                    }
                    let id = person_id(&name)?;
                    let a = s.account(user);
                    let seq = a.bump();
                    let p = a.people.get_mut(&id).filter(|p| !p.deleted).ok_or_else(not_found)?;
                    let digest: String = {
                        use sha2::Digest;
                        sha2::Sha256::digest(&bytes)[..8].iter().map(|b| format!("{b:02x}")).collect()
                    };
                    p.body.insert("photos".into(), json!([{ "url": format!("https://lh3.googleusercontent.com/contacts/{digest}"), "default": false }]));
                    p.etag = etag();
                    p.seq = seq;
                    p.changed = Some(Instant::now());
                    Ok(json!({ "person": render(&name, p, &read) }))
                }
                ("DELETE", Some("deleteContactPhoto")) => {
                    let read = mask(q, "personFields", Mask::Read, false)?;
                    let id = person_id(&name)?;
                    let a = s.account(user);
                    let seq = a.bump();
                    let p = a.people.get_mut(&id).filter(|p| !p.deleted).ok_or_else(not_found)?;
                    p.body.remove("photos");
                    p.etag = etag();
                    p.seq = seq;
                    p.changed = Some(Instant::now());
                    Ok(json!({ "person": render(&name, p, &read) }))
                }
                ("DELETE", Some("deleteContact")) => {
                    s.delete(user, &name)?;
                    Ok(json!({}))
                }
                _ => Err(not_found()),
            }
        }
        _ => Err(not_found()),
    }
}
