//! The Google Contacts bridge against the People API stand-in (conformance/google/emulator.rs): labels become
//! contact groups in each collaborator's Google Contacts with what that collaborator may see, and edits made in
//! Google come back as that collaborator's writes.

use crate::common::*;
use crate::emulator::{Emulator, Options};
use labelbook::service::Grantee;
use labelbook::service::access::Level;
use labelbook::store::User;
use serde_json::{Value, json};
use std::time::Duration;

const JANE: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nTEL;TYPE=CELL:+1 555 0100\r\n\
    EMAIL;TYPE=WORK:jane@example.com\r\nORG:Fair Ltd\r\nNOTE:met at the fair\r\nUID:jane-1\r\nEND:VCARD\r\n";
const KEY: &[u8] = include_bytes!("../../conformance/google/test-service-account.json");

struct World {
    s: Server,
    google: Emulator,
    ann: User,
    bob: User,
    label: String,
    grant: i64,
}

/// The stand-in, and the service-account key pointing at it (as a key's token_uri points at Google's).
async fn emulator(dir: &std::path::Path) -> (Emulator, std::path::PathBuf) {
    let google = Emulator::start(Options {
        key_json: KEY.to_vec(),
        sync_token_ttl: Duration::from_secs(7 * 86_400),
        propagation_delay: Duration::ZERO,
        quota: None,
        oauth_client: Some(("client-1.apps.example".into(), "client-secret-1".into())),
    })
    .await;
    let mut key: Value = serde_json::from_slice(KEY).unwrap();
    key["token_uri"] = json!(format!("{}/token", google.base()));
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("google-key.json");
    std::fs::write(&path, key.to_string()).unwrap();
    (google, path)
}

/// Ann owns "Press" with Jane's card (put over CardDAV); Bob collaborates at `level` with NOTE hidden; both
/// are mirrored.
async fn world(level: Level) -> World {
    let dir = std::env::temp_dir().join(unique("labelbook-google"));
    let (google, key) = emulator(&dir).await;
    let base = google.base();
    let s = Server::start_with(move |c| {
        c.google.service_account_key = Some(key);
        c.google.people_api_url = base;
        // Google is read when a test says so (changes made here still go out at once), so what each sync
        // reports is the test's own doing.
        c.google.poll_secs = 3600;
        c.google.retry_base_ms = 20;
        c.google.retry_max_secs = 1;
        c.google.max_deletes_per_sync = 3;
    })
    .await;
    s.user("ann@example.com").await;
    s.user("bob@example.com").await;
    let ann = s.record("ann@example.com").await;
    let bob = s.record("bob@example.com").await;
    let label = s.app.service.create_label(&ann, None, "Press", "").await.unwrap().id;
    let g = s.app.service.share(&ann, &label, &Grantee::parse(&bob.email), level, true).await.unwrap();
    s.app.service.respond(&bob, g.id, true).await.unwrap();
    s.app.service.set_hidden_fields(&ann, g.id, &["NOTE"]).await.unwrap();
    s.put_card(&ann.email, &format!("/dav/addressbooks/{}/{label}/jane.vcf", ann.email), JANE).await.assert(201);
    for u in [&ann, &bob] {
        s.app.store.google_enable(u.id, false).await.unwrap();
    }
    let w = World { s, google, ann, bob, label, grant: g.id };
    // The worker's first sync of each user is over before a test acts, so it never takes a test's step.
    for u in [&w.ann, &w.bob] {
        let start = std::time::Instant::now();
        loop {
            let a = w.s.app.store.google_account(u.id).await.unwrap().unwrap();
            if a.pulled_at.is_some() && a.lease_owner.is_none() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(15), "no first sync of {}: {a:?}", u.email);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    w
}

impl World {
    /// Syncs a user now (waiting for the background worker if it holds them).
    async fn sync(&self, u: &User) -> labelbook::bridge::Report {
        let bridge = self.s.app.bridge.clone();
        for _ in 0..200 {
            let a = self.s.app.store.google_account(u.id).await.unwrap().unwrap();
            if let Some(r) = bridge.sync_user(&self.s.app.service, &a).await.unwrap() {
                let a = self.s.app.store.google_account(u.id).await.unwrap().unwrap();
                assert_eq!(a.status, "ok", "sync of {}: {:?}", u.email, a.last_error);
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} stayed busy", u.email);
    }

    fn jane_in(&self, u: &User) -> Option<Value> {
        self.google.people(&u.email).into_iter().find(|p| p["emailAddresses"][0]["value"] == "jane@example.com")
    }

    fn card(&self) -> String {
        format!("/dav/addressbooks/{}/{}/jane.vcf", self.ann.email, self.label)
    }

    async fn eventually_status(&self, u: &User, status: &str) {
        let start = std::time::Instant::now();
        loop {
            let a = self.s.app.store.google_account(u.id).await.unwrap().unwrap();
            if a.status == status && a.done_at >= a.wanted_at {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(15), "{} stayed {} ({:?})", u.email, a.status, a.last_error);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `check` holds (the background worker mirrors on its own).
    async fn eventually(&self, what: &str, check: impl Fn(&World) -> bool) {
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if check(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("not within 15 s: {what}");
    }
}

fn group_of<'a>(groups: &'a [Value], name: &str) -> Option<&'a Value> {
    groups.iter().find(|g| g["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_label_appears_in_both_googles_within_seconds_without_the_hidden_note() {
    let w = world(Level::Edit).await;
    w.eventually("Jane in both users' Google Contacts", |w| w.jane_in(&w.ann).is_some() && w.jane_in(&w.bob).is_some())
        .await;
    for u in [&w.ann, &w.bob] {
        let groups = w.google.groups(&u.email);
        let press = group_of(&groups, "Press").unwrap_or_else(|| panic!("no Press group for {}: {groups:?}", u.email));
        assert_eq!(press["clientData"][0]["value"], json!(w.label), "our groups carry our tag");
        let jane = w.jane_in(u).unwrap();
        assert_eq!(press["memberResourceNames"], json!([jane["resourceName"]]));
        assert_eq!(jane["names"][0]["givenName"], "Jane");
        assert_eq!(jane["phoneNumbers"][0]["value"], "+1 555 0100");
        assert_eq!(jane["phoneNumbers"][0]["type"], "mobile");
        assert_eq!(jane["organizations"][0]["name"], "Fair Ltd");
    }
    assert_eq!(w.jane_in(&w.ann).unwrap()["biographies"][0]["value"], "met at the fair");
    assert!(
        w.jane_in(&w.bob).unwrap().get("biographies").is_none(),
        "a field hidden from Bob never reaches his Google"
    );
    // A change over CardDAV goes out again, once: no duplicate.
    let edited: &'static str = JANE.replace("+1 555 0100", "+1 555 0111").leak();
    let r = w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await;
    w.s.as_user(&w.ann.email, "PUT", &w.card(), &[("If-Match", &r.etag())], edited).await.assert(204);
    w.eventually("the new number in Bob's Google", |w| {
        w.jane_in(&w.bob).is_some_and(|j| j["phoneNumbers"][0]["value"] == "+1 555 0111")
    })
    .await;
    assert_eq!(w.google.people(&w.bob.email).len(), 1);
    assert_eq!(w.google.people(&w.ann.email).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_in_the_collaborators_google_comes_back_with_the_hidden_note_kept() {
    let w = world(Level::Edit).await;
    w.sync(&w.ann).await;
    w.sync(&w.bob).await;
    let book = format!("/dav/addressbooks/{}/{}/", w.ann.email, w.label);
    let token = w.s.sync_token(&w.ann.email, &book).await;
    let jane = w.jane_in(&w.bob).unwrap();
    let name = jane["resourceName"].as_str().unwrap().to_string();
    w.google.edit(&w.bob.email, &name, |p| {
        p.insert("phoneNumbers".into(), json!([{"value": "+1 555 0199", "type": "work"}]));
    });
    let r = w.sync(&w.bob).await;
    assert_eq!(r.applied, 1);
    // The owner's CardDAV delta (RFC 6578 §3.6) names the card; its bytes carry Bob's number and the note.
    let delta = w.s.report(&w.ann.email, &book, &sync_body(&token, "")).await;
    delta.assert(207).contains("jane.vcf");
    let card = w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await;
    card.assert(200).contains("+1 555 0199").contains("NOTE:met at the fair").lacks("+1 555 0100");
    assert!(card.body.contains("TEL;TYPE=WORK") || card.body.contains("TEL;TYPE=work"), "{}", card.body);
    // And it reaches Ann's Google, with the note; Bob's edit is not sent back to him as a change.
    w.sync(&w.ann).await;
    let ann_jane = w.jane_in(&w.ann).unwrap();
    assert_eq!(ann_jane["phoneNumbers"][0]["value"], "+1 555 0199");
    assert_eq!(ann_jane["biographies"][0]["value"], "met at the fair");
    let again = w.sync(&w.bob).await;
    assert_eq!((again.created, again.updated, again.applied), (0, 0, 0), "{again:?}");
}

/// Jane with what Google holds beyond the API's fields, in Apple's 3.0 form.
const JANE_MORE: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nTEL;TYPE=CELL:+1 555 0100\r\n\
    EMAIL;TYPE=WORK:jane@example.com\r\nORG:Fair Ltd\r\nORG:City Choir\r\nTITLE:Buyer\r\nTITLE:Alto\r\n\
    item1.X-ABDATE:2011-09-03\r\nitem1.X-ABLabel:_$!<Anniversary>!$_\r\nitem2.X-ABRELATEDNAMES:John Doe\r\n\
    item2.X-ABLabel:_$!<Spouse>!$_\r\nIMPP;X-SERVICE-TYPE=Skype;TYPE=work:skype:jane.doe\r\nNOTE:met at the fair\r\n\
    UID:jane-1\r\nEND:VCARD\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_relations_messaging_and_every_organization_go_both_ways() {
    let w = world(Level::Edit).await;
    let r = w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await;
    w.s.as_user(&w.ann.email, "PUT", &w.card(), &[("If-Match", &r.etag())], JANE_MORE).await.assert(204);
    w.sync(&w.bob).await;
    let jane = w.jane_in(&w.bob).unwrap();
    assert_eq!(jane["events"][0]["date"], json!({"year": 2011, "month": 9, "day": 3}));
    assert_eq!(jane["events"][0]["type"], "anniversary");
    assert_eq!(jane["relations"][0]["person"], "John Doe");
    assert_eq!(jane["relations"][0]["type"], "spouse");
    assert_eq!(jane["imClients"][0]["username"], "jane.doe");
    assert_eq!(jane["imClients"][0]["protocol"], "skype");
    assert_eq!(jane["organizations"][1]["name"], "City Choir");
    assert_eq!(jane["organizations"][1]["title"], "Alto");
    // Bob adds a relation and a second messaging address in his Google, and changes the choir.
    let name = jane["resourceName"].as_str().unwrap().to_string();
    w.google.edit(&w.bob.email, &name, |p| {
        p["relations"].as_array_mut().unwrap().push(json!({"person": "Jim Doe", "type": "brother"}));
        p["imClients"]
            .as_array_mut()
            .unwrap()
            .push(json!({"username": "jane@chat.test", "protocol": "jabber", "type": "other"}));
        p["organizations"][1]["name"] = json!("Town Choir");
    });
    let r = w.sync(&w.bob).await;
    assert_eq!(r.applied, 1, "{r:?}");
    let card = w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await;
    // Unchanged entries keep their lines byte for byte; the new ones are in the form iOS reads.
    card.assert(200)
        .contains("item1.X-ABDATE:2011-09-03\r\nitem1.X-ABLabel:_$!<Anniversary>!$_\r\n")
        .contains("item2.X-ABRELATEDNAMES:John Doe\r\nitem2.X-ABLabel:_$!<Spouse>!$_\r\n")
        .contains(".X-ABRELATEDNAMES:Jim Doe\r\n")
        .contains("X-ABLabel:_$!<Brother>!$_\r\n")
        .contains("IMPP;X-SERVICE-TYPE=Skype;TYPE=work:skype:jane.doe\r\n")
        .contains("IMPP;X-SERVICE-TYPE=Jabber:xmpp:jane@chat.test\r\n")
        .contains("ORG:Town Choir\r\n")
        .contains("TITLE:Alto\r\n")
        .contains("NOTE:met at the fair");
    // Ann's Google gets all of it; nothing goes back and forth again.
    w.sync(&w.ann).await;
    let ann_jane = w.jane_in(&w.ann).unwrap();
    assert_eq!(ann_jane["relations"].as_array().unwrap().len(), 2);
    assert_eq!(ann_jane["imClients"][1]["username"], "jane@chat.test");
    let again = w.sync(&w.bob).await;
    assert_eq!((again.created, again.updated, again.applied), (0, 0, 0), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_mapped_after_a_contact_was_sent_are_merged_from_google_not_erased() {
    let w = world(Level::Edit).await;
    let r = w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await;
    let with_im = JANE.replace("NOTE:", "IMPP;X-SERVICE-TYPE=Skype:skype:jane.doe\r\nNOTE:");
    w.s.as_user(&w.ann.email, "PUT", &w.card(), &[("If-Match", &r.etag())], with_im).await.assert(204);
    w.sync(&w.bob).await;
    // As an older release left it: what was sent did not hold events, relations or messaging, and the user
    // had added some in Google, which that release neither read nor wrote.
    let store = &w.s.app.store;
    let mut links = store.google_people(w.bob.id).await.unwrap();
    for l in &mut links {
        let mut sent: serde_json::Map<String, Value> = serde_json::from_str(&l.sent).unwrap();
        for f in ["events", "relations", "imClients"] {
            sent.remove(f);
        }
        l.sent = Value::Object(sent).to_string();
    }
    store.google_link_people(w.bob.id, &links).await.unwrap();
    store.google_pushed(w.bob.id, "1-old-l").await.unwrap();
    let name = w.jane_in(&w.bob).unwrap()["resourceName"].as_str().unwrap().to_string();
    w.google.edit(&w.bob.email, &name, |p| {
        p.insert("events".into(), json!([{"date": {"month": 4, "day": 1}, "type": "other"}]));
        p.insert("imClients".into(), json!([{"username": "jd", "protocol": "aim", "type": "home"}]));
    });
    w.sync(&w.bob).await;
    let jane = w.jane_in(&w.bob).unwrap();
    let events: Vec<(&Value, &Value)> =
        jane["events"].as_array().unwrap().iter().map(|e| (&e["date"], &e["type"])).collect();
    assert_eq!(events, vec![(&json!({"month": 4, "day": 1}), &json!("other"))], "Google's stays: {jane}");
    let ims: Vec<&str> =
        jane["imClients"].as_array().unwrap().iter().map(|m| m["username"].as_str().unwrap()).collect();
    assert_eq!(ims, vec!["jane.doe", "jd"], "ours and theirs, neither lost");
    w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "")
        .await
        .assert(200)
        .contains("X-ABDATE:--04-01")
        .contains("IMPP;X-SERVICE-TYPE=Aim;TYPE=home:aim:jd")
        .contains("skype:jane.doe");
    let again = w.sync(&w.bob).await;
    assert_eq!((again.created, again.updated, again.applied), (0, 0, 0), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_level_edit_or_delete_in_google_is_undone() {
    let w = world(Level::View).await;
    w.sync(&w.bob).await;
    let name = w.jane_in(&w.bob).unwrap()["resourceName"].as_str().unwrap().to_string();
    w.google.edit(&w.bob.email, &name, |p| {
        p.insert("organizations".into(), json!([{"name": "Vandal Inc"}]));
    });
    let r = w.sync(&w.bob).await;
    assert_eq!((r.applied, r.undone), (0, 1), "{r:?}");
    assert_eq!(w.jane_in(&w.bob).unwrap()["organizations"][0]["name"], "Fair Ltd", "Bob's Google is put back");
    w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await.assert(200).contains("ORG:Fair Ltd");
    // A deletion beyond his level: the contact comes back in his Google, and stays here.
    let name = w.jane_in(&w.bob).unwrap()["resourceName"].as_str().unwrap().to_string();
    w.google.delete(&w.bob.email, &name);
    let r = w.sync(&w.bob).await;
    assert_eq!(r.undone, 1, "{r:?}");
    assert!(w.jane_in(&w.bob).is_some(), "made again in Bob's Google");
    w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await.assert(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_in_google_at_delete_level_goes_to_the_trash_and_leaves_every_google() {
    let w = world(Level::Delete).await;
    w.sync(&w.ann).await;
    w.sync(&w.bob).await;
    let name = w.jane_in(&w.bob).unwrap()["resourceName"].as_str().unwrap().to_string();
    w.google.delete(&w.bob.email, &name);
    assert_eq!(w.sync(&w.bob).await.removed_here, 1);
    w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await.assert(404);
    w.sync(&w.ann).await;
    assert!(w.jane_in(&w.ann).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_revoke_and_toggle_reach_the_collaborators_google() {
    let w = world(Level::Edit).await;
    w.sync(&w.bob).await;
    w.s.app.service.rename_label(&w.ann, &w.label, "Press 2027").await.unwrap();
    w.sync(&w.bob).await;
    let groups = w.google.groups(&w.bob.email);
    assert!(group_of(&groups, "Press 2027").is_some() && group_of(&groups, "Press").is_none(), "{groups:?}");
    assert_eq!(w.google.people(&w.bob.email).len(), 1, "a rename moves nothing");
    // The device toggle off: the group and the contacts only it brought leave Bob's Google.
    w.s.app.service.set_devices(&w.bob, w.grant, false).await.unwrap();
    w.sync(&w.bob).await;
    assert!(group_of(&w.google.groups(&w.bob.email), "Press 2027").is_none());
    assert!(w.google.people(&w.bob.email).is_empty());
    // On again, then revoked: the same.
    w.s.app.service.set_devices(&w.bob, w.grant, true).await.unwrap();
    w.sync(&w.bob).await;
    assert_eq!(w.google.people(&w.bob.email).len(), 1);
    w.s.app.service.revoke(&w.ann, w.grant).await.unwrap();
    w.sync(&w.bob).await;
    assert!(w.google.people(&w.bob.email).is_empty());
    assert!(group_of(&w.google.groups(&w.bob.email), "Press 2027").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_put_on_a_label_and_taken_off_reaches_both_googles() {
    let w = world(Level::Edit).await;
    let svc = &w.s.app.service;
    let kim = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Kim Lee\r\nN:Lee;Kim;;;\r\nEMAIL:kim@example.com\r\nUID:kim-1\r\nEND:VCARD\r\n";
    let mine = svc.open_book(&w.ann, "contacts").await.unwrap();
    svc.put_card(&mine, "kim.vcf", kim.as_bytes(), &Default::default()).await.unwrap();
    w.sync(&w.ann).await;
    w.sync(&w.bob).await;
    let has_kim = |w: &World, u: &User| w.google.people(&u.email).iter().any(|p| p["names"][0]["givenName"] == "Kim");
    assert!(!has_kim(&w, &w.ann) && !has_kim(&w, &w.bob), "Ann's own contacts stay home (My contacts off)");
    // On the label: only its membership changes, the card itself does not.
    let id = w.s.app.store.own_contact_by_uid(w.ann.id, "kim-1").await.unwrap().unwrap();
    let press = svc.open_book(&w.ann, &w.label).await.unwrap();
    let added = svc.add_to_label(&press, &mine, &[id]).await.unwrap();
    assert!(added[0].1.is_ok(), "{added:?}");
    w.sync(&w.ann).await;
    w.sync(&w.bob).await;
    for u in [&w.ann, &w.bob] {
        assert!(has_kim(&w, u), "Kim in {}'s Google", u.email);
        let group = group_of(&w.google.groups(&u.email), "Press").unwrap().clone();
        assert_eq!(group["memberResourceNames"].as_array().unwrap().len(), 2, "{}: {group}", u.email);
    }
    // Off the label again (still in Ann's My contacts): out of both Googles.
    svc.delete_card(&press, "kim.vcf", &Default::default()).await.unwrap();
    w.sync(&w.ann).await;
    w.sync(&w.bob).await;
    assert!(!has_kim(&w, &w.ann) && !has_kim(&w, &w.bob));
    assert!(w.jane_in(&w.ann).is_some() && w.jane_in(&w.bob).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_made_in_google_inside_the_labels_group_joins_the_label() {
    let w = world(Level::Edit).await;
    w.sync(&w.bob).await;
    let press =
        group_of(&w.google.groups(&w.bob.email), "Press").unwrap()["resourceName"].as_str().unwrap().to_string();
    let in_group = |g: &str| json!([{ "contactGroupMembership": { "contactGroupResourceName": g } }, { "contactGroupMembership": { "contactGroupResourceName": "contactGroups/myContacts" } }]);
    let made = w.google.create(
        &w.bob.email,
        json!({ "names": [{ "givenName": "Lou", "familyName": "Reed" }], "phoneNumbers": [{ "value": "+1 555 0300", "type": "work" }], "memberships": in_group(&press) }),
    );
    // A contact of Bob's own, in no group of ours, stays his.
    w.google.create(&w.bob.email, json!({ "names": [{ "givenName": "Private" }] }));
    w.sync(&w.bob).await;
    // In the label now, for Ann too; and the same Google contact carries our tag (no second copy in Bob's).
    let members = w.s.app.store.member_contact_ids(std::slice::from_ref(&w.label), None).await.unwrap();
    assert_eq!(members.len(), 2, "Jane and Lou in Press: {members:?}");
    w.sync(&w.ann).await;
    assert!(
        w.google.people(&w.ann.email).iter().any(|p| p["names"][0]["givenName"] == "Lou"),
        "Lou reaches Ann's Google"
    );
    let bobs: Vec<Value> =
        w.google.people(&w.bob.email).into_iter().filter(|p| p["names"][0]["givenName"] == "Lou").collect();
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0]["resourceName"], json!(made));
    assert!(bobs[0]["clientData"][0]["value"].as_str().is_some(), "tagged as ours: {}", bobs[0]);
    assert!(!w.google.people(&w.ann.email).iter().any(|p| p["names"][0]["givenName"] == "Private"));
    let again = w.sync(&w.bob).await;
    assert_eq!((again.created, again.applied), (0, 0), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_made_in_google_beyond_ones_level_leaves_the_group_only() {
    let w = world(Level::View).await;
    w.sync(&w.bob).await;
    let press =
        group_of(&w.google.groups(&w.bob.email), "Press").unwrap()["resourceName"].as_str().unwrap().to_string();
    let made = w.google.create(
        &w.bob.email,
        json!({ "names": [{ "givenName": "Lou" }], "memberships": [{ "contactGroupMembership": { "contactGroupResourceName": press } }] }),
    );
    let r = w.sync(&w.bob).await;
    assert_eq!(r.undone, 1, "{r:?}");
    let lou = w
        .google
        .people(&w.bob.email)
        .into_iter()
        .find(|p| p["resourceName"] == json!(made))
        .expect("Lou stays in Bob's Google");
    assert!(!lou["memberships"].to_string().contains(&press), "out of the label's group: {lou}");
    w.sync(&w.ann).await;
    assert!(!w.google.people(&w.ann.email).iter().any(|p| p["names"][0]["givenName"] == "Lou"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_a_contact_between_groups_in_google_moves_it_between_labels_within_ones_level() {
    let w = world(Level::Delete).await;
    let svc = &w.s.app.service;
    let clients = svc.create_label(&w.ann, None, "Clients", "").await.unwrap().id;
    let g = svc.share(&w.ann, &clients, &Grantee::parse(&w.bob.email), Level::Delete, true).await.unwrap();
    svc.respond(&w.bob, g.id, true).await.unwrap();
    w.sync(&w.bob).await;
    let groups = w.google.groups(&w.bob.email);
    let press = group_of(&groups, "Press").unwrap()["resourceName"].as_str().unwrap().to_string();
    let clients_group = group_of(&groups, "Clients").unwrap()["resourceName"].as_str().unwrap().to_string();
    let jane = w.jane_in(&w.bob).unwrap()["resourceName"].as_str().unwrap().to_string();
    let member_of = |gs: &[&str]| -> Value {
        let mut ms: Vec<Value> =
            gs.iter().map(|g| json!({ "contactGroupMembership": { "contactGroupResourceName": g } })).collect();
        ms.push(json!({ "contactGroupMembership": { "contactGroupResourceName": "contactGroups/myContacts" } }));
        Value::Array(ms)
    };
    // Bob moves Jane from Press to Clients in his Google.
    w.google.edit(&w.bob.email, &jane, |p| {
        p.insert("memberships".into(), member_of(&[&clients_group]));
    });
    let r = w.sync(&w.bob).await;
    assert_eq!((r.applied, r.undone), (2, 0), "{r:?}");
    let on = |label: &str| {
        let store = w.s.app.store.clone();
        let label = label.to_string();
        async move { store.member_contact_ids(&[label], None).await.unwrap().len() }
    };
    assert_eq!((on(&w.label).await, on(&clients).await), (0, 1), "Jane moved from Press to Clients");
    w.sync(&w.ann).await;
    let ann_groups = w.google.groups(&w.ann.email);
    assert_eq!(group_of(&ann_groups, "Clients").unwrap()["memberResourceNames"].as_array().unwrap().len(), 1);
    assert_eq!(group_of(&ann_groups, "Press").unwrap()["memberResourceNames"].as_array().unwrap().len(), 0);
    let again = w.sync(&w.bob).await;
    assert_eq!((again.created, again.deleted, again.applied, again.undone), (0, 0, 0, 0), "{again:?}");
    assert_eq!(w.jane_in(&w.bob).unwrap()["resourceName"], json!(jane), "the same Google contact");
    let _ = press;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taking_a_contact_out_of_a_group_beyond_ones_level_is_undone() {
    let w = world(Level::Edit).await;
    w.sync(&w.bob).await;
    let jane = w.jane_in(&w.bob).unwrap()["resourceName"].as_str().unwrap().to_string();
    w.google.edit(&w.bob.email, &jane, |p| {
        p.insert(
            "memberships".into(),
            json!([{ "contactGroupMembership": { "contactGroupResourceName": "contactGroups/myContacts" } }]),
        );
    });
    let r = w.sync(&w.bob).await;
    assert_eq!(r.undone, 1, "{r:?}");
    let press = group_of(&w.google.groups(&w.bob.email), "Press").unwrap().clone();
    assert_eq!(press["memberResourceNames"], json!([jane]), "back in Press in Bob's Google");
    let members = w.s.app.store.member_contact_ids(std::slice::from_ref(&w.label), None).await.unwrap();
    assert_eq!(members.len(), 1, "still on the label");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_label_takes_it_out_of_that_collaborators_google_only() {
    let w = world(Level::Edit).await;
    w.sync(&w.ann).await;
    w.sync(&w.bob).await;
    assert!(w.jane_in(&w.bob).is_some());
    w.s.app.service.leave(&w.bob, &w.label).await.unwrap();
    let r = w.sync(&w.bob).await;
    assert_eq!((r.deleted, r.removed_here), (1, 0), "{r:?}");
    assert!(w.google.people(&w.bob.email).is_empty());
    assert!(group_of(&w.google.groups(&w.bob.email), "Press").is_none());
    // The label and its contacts stay for everyone else.
    w.sync(&w.ann).await;
    assert!(w.jane_in(&w.ann).is_some());
    assert!(group_of(&w.google.groups(&w.ann.email), "Press").is_some());
    w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await.assert(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transferred_label_stays_in_both_googles_as_the_same_contacts() {
    let w = world(Level::Edit).await;
    w.sync(&w.ann).await;
    w.sync(&w.bob).await;
    let before: Vec<(Value, Value)> = [&w.ann, &w.bob]
        .iter()
        .map(|u| {
            (
                w.jane_in(u).unwrap()["resourceName"].clone(),
                group_of(&w.google.groups(&u.email), "Press").unwrap()["resourceName"].clone(),
            )
        })
        .collect();
    assert!(w.jane_in(&w.bob).unwrap().get("biographies").is_none());
    w.s.app.service.transfer_label(&w.ann, &w.label, &w.bob.email, true).await.unwrap();
    for u in [&w.ann, &w.bob] {
        let r = w.sync(u).await;
        assert_eq!((r.created, r.deleted, r.removed_here), (0, 0, 0), "{}: {r:?}", u.email);
    }
    for (u, (person, group)) in [&w.ann, &w.bob].iter().zip(&before) {
        assert_eq!(w.google.people(&u.email).len(), 1, "{}", u.email);
        assert_eq!(&w.jane_in(u).unwrap()["resourceName"], person, "the same Google contact for {}", u.email);
        assert_eq!(&group_of(&w.google.groups(&u.email), "Press").unwrap()["resourceName"], group);
    }
    // Bob owns Jane now: nothing is hidden from him, so the note reaches his Google.
    assert_eq!(w.jane_in(&w.bob).unwrap()["biographies"][0]["value"], "met at the fair");
    // And an edit Ann makes in her Google, now as a collaborator, reaches the new owner's card.
    let name = w.jane_in(&w.ann).unwrap()["resourceName"].as_str().unwrap().to_string();
    w.google.edit(&w.ann.email, &name, |p| {
        p.insert("nicknames".into(), json!([{"value": "JD"}]));
    });
    // Taken by this sync, or by the worker's own after the transfer's events: either way, done once it ends.
    w.sync(&w.ann).await;
    w.sync(&w.bob).await;
    assert_eq!(w.jane_in(&w.bob).unwrap()["nicknames"][0]["value"], "JD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_google_is_slow_for_holds_back_nobody_else() {
    let w = world(Level::Edit).await;
    w.eventually("Jane in Bob's Google", |w| w.jane_in(&w.bob).is_some()).await;
    // Every answer to Ann takes 2 s: her sync of an edit takes several of them.
    w.google.slow_down(&w.ann.email, Duration::from_secs(2));
    let edit = |from: &str, to: &str| -> &'static str { JANE.replace(from, to).leak() };
    let r = w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await;
    let first = edit("+1 555 0100", "+1 555 0101");
    w.s.as_user(&w.ann.email, "PUT", &w.card(), &[("If-Match", &r.etag())], first).await.assert(204);
    w.eventually("the first edit in Bob's Google", |w| w.google.has_phone(&w.bob.email, "+1 555 0101")).await;
    // Ann's sync is still under way; a second edit reaches Bob without waiting for it.
    let r = w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await;
    let second = edit("+1 555 0100", "+1 555 0102");
    let started = std::time::Instant::now();
    w.s.as_user(&w.ann.email, "PUT", &w.card(), &[("If-Match", &r.etag())], second).await.assert(204);
    w.eventually("the second edit in Bob's Google", |w| w.google.has_phone(&w.bob.email, "+1 555 0102")).await;
    let took = started.elapsed();
    assert!(
        !w.google.has_phone(&w.ann.email, "+1 555 0102"),
        "Ann's Google already has it: the test did not hold her back long enough"
    );
    assert!(took < Duration::from_secs(3), "Bob waited {took:?} for Ann's slow sync");
    w.eventually("both edits in Ann's Google in the end", |w| w.google.has_phone(&w.ann.email, "+1 555 0102")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_name_the_user_already_has_gets_a_suffix_and_theirs_is_untouched() {
    let w = world(Level::Edit).await;
    w.google.add_group(&w.bob.email, "Clients");
    w.s.app.service.rename_label(&w.ann, &w.label, "Clients").await.unwrap();
    w.sync(&w.bob).await;
    let groups = w.google.groups(&w.bob.email);
    let ours = group_of(&groups, "Clients (Labelbook)").expect("ours, suffixed");
    assert_eq!(ours["clientData"][0]["value"], json!(w.label));
    assert_eq!(ours["memberResourceNames"].as_array().unwrap().len(), 1);
    let theirs = group_of(&groups, "Clients").unwrap();
    assert!(theirs["clientData"].is_null() && theirs["memberResourceNames"] == json!([]), "theirs is untouched");
    // Ann has no group of that name of her own: hers is called plainly.
    w.sync(&w.ann).await;
    assert!(group_of(&w.google.groups(&w.ann.email), "Clients").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_sync_token_reconciles_without_duplicates() {
    let w = world(Level::Edit).await;
    w.sync(&w.bob).await;
    w.google.expire_sync_tokens();
    let name = w.jane_in(&w.bob).unwrap()["resourceName"].as_str().unwrap().to_string();
    w.google.edit(&w.bob.email, &name, |p| {
        p.insert("nicknames".into(), json!([{"value": "JD"}]));
    });
    let r = w.sync(&w.bob).await;
    assert_eq!((r.created, r.applied), (0, 1), "{r:?}");
    assert_eq!(w.google.people(&w.bob.email).len(), 1);
    w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await.assert(200).contains("NICKNAME:JD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_google_cut_short_is_tried_again_soon_not_at_the_next_poll() {
    let w = world(Level::Edit).await;
    w.eventually("Jane in Bob's Google", |w| w.jane_in(&w.bob).is_some()).await;
    // More failures than one sync's retries (8): the sync ends in error with the edit unsent. The poll is an
    // hour away; the edit still arrives within seconds.
    w.google.fail_next(20);
    let r = w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await;
    let edited: &'static str = JANE.replace("+1 555 0100", "+1 555 0177").leak();
    w.s.as_user(&w.ann.email, "PUT", &w.card(), &[("If-Match", &r.etag())], edited).await.assert(204);
    // Two syncs spend their retries (about 2.3 s each here) before Google answers again: well under the poll.
    until("the edit in Bob's Google after Google came back", Duration::from_secs(40), || {
        w.google.has_phone(&w.bob.email, "+1 555 0177")
    })
    .await;
    assert_eq!(w.google.people(&w.bob.email).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_storm_still_delivers_everything() {
    let w = world(Level::Edit).await;
    // Bob is mirrored from scratch once everything is in place: 31 contacts and a group, against a quota of one
    // mutation a second and two failures.
    w.s.app.store.google_forget(w.bob.id).await.unwrap();
    for i in 0..30 {
        let card = JANE.replace("jane-1", &format!("p-{i}")).replace("jane@example.com", &format!("p{i}@example.com"));
        w.s.put_card(&w.ann.email, &format!("/dav/addressbooks/{}/{}/p{i}.vcf", w.ann.email, w.label), &card)
            .await
            .assert(201);
    }
    w.google.set_quota(Some((1, Duration::from_secs(1))));
    w.google.fail_next(2);
    w.s.app.store.google_enable(w.bob.id, false).await.unwrap();
    w.sync(&w.bob).await;
    assert_eq!(w.google.people(&w.bob.email).len(), 31);
    let (_, _, limited) = w.google.counts();
    assert!(limited > 0, "the quota was hit and waited out");
    let groups = w.google.groups(&w.bob.email);
    let members = &group_of(&groups, "Press").unwrap()["memberResourceNames"];
    assert_eq!(members.as_array().unwrap().len(), 31);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_delegation_is_permission_lost_until_it_is_back() {
    let w = world(Level::Edit).await;
    w.sync(&w.bob).await;
    w.google.revoke(&w.bob.email);
    w.s.app.service.rename_label(&w.ann, &w.label, "Press 2").await.unwrap();
    let bridge = w.s.app.bridge.clone();
    let a = w.s.app.store.google_account(w.bob.id).await.unwrap().unwrap();
    // The background worker may be at it too; either way the state ends as permission lost.
    let _ = bridge.sync_user(&w.s.app.service, &a).await.unwrap();
    let start = std::time::Instant::now();
    loop {
        let a = w.s.app.store.google_account(w.bob.id).await.unwrap().unwrap();
        if a.status == "permission_lost" {
            assert!(a.last_error.unwrap().contains("unauthorized_client"));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "state stayed {}", a.status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Reconnected: the next sync catches up.
    w.google.allow(None);
    w.sync(&w.bob).await;
    assert!(group_of(&w.google.groups(&w.bob.email), "Press 2").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mass_deletes_in_google_pause_the_bridge_until_someone_confirms() {
    let w = world(Level::Delete).await;
    for i in 0..3 {
        let card = JANE.replace("jane-1", &format!("p-{i}")).replace("jane@example.com", &format!("p{i}@example.com"));
        w.s.put_card(&w.ann.email, &format!("/dav/addressbooks/{}/{}/p{i}.vcf", w.ann.email, w.label), &card)
            .await
            .assert(201);
    }
    w.sync(&w.bob).await;
    for p in w.google.people(&w.bob.email) {
        w.google.delete(&w.bob.email, p["resourceName"].as_str().unwrap());
    }
    // Four deletions at once, past the limit of three: nothing is deleted here, the bridge pauses with a reason.
    let bridge = w.s.app.bridge.clone();
    let start = std::time::Instant::now();
    loop {
        let a = w.s.app.store.google_account(w.bob.id).await.unwrap().unwrap();
        if a.status == "paused" {
            assert!(a.last_error.unwrap().contains("4 contacts were deleted in Google"));
            break;
        }
        let _ = bridge.sync_user(&w.s.app.service, &a).await.unwrap();
        assert!(start.elapsed() < Duration::from_secs(10), "state stayed {}", a.status);
    }
    w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await.assert(200);
    // The worker leaves a paused user alone.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(w.s.app.store.google_account(w.bob.id).await.unwrap().unwrap().status, "paused");
    // "Sync now" is the confirmation: the deletions are applied as Bob's.
    w.s.app.store.google_want_sync(w.bob.id).await.unwrap();
    w.eventually_status(&w.bob, "ok").await;
    w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await.assert(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_creating_in_google_and_recording_it_makes_no_duplicate() {
    let w = world(Level::Edit).await;
    w.sync(&w.bob).await;
    // As after kill -9 right after Google answered the creations: they exist there, unrecorded here, and the
    // account says creations were in flight.
    let links = w.s.app.store.google_people(w.bob.id).await.unwrap();
    let ids: Vec<i64> = links.iter().map(|l| l.contact_id).collect();
    w.s.app.store.google_unlink_people(w.bob.id, &ids).await.unwrap();
    w.s.app.store.google_set_unsure(w.bob.id, true).await.unwrap();
    let r = w.sync(&w.bob).await;
    assert_eq!(r.created, 0, "{r:?}");
    assert_eq!(w.google.people(&w.bob.email).len(), 1);
    assert_eq!(w.s.app.store.google_people(w.bob.id).await.unwrap().len(), 1, "adopted by its tag");
    // Without the flag, the same loss would have made a second copy: the flag is what prevents it.
    w.s.app.store.google_unlink_people(w.bob.id, &ids).await.unwrap();
    w.s.app.store.google_pushed(w.bob.id, "").await.unwrap();
    w.sync(&w.bob).await;
    assert_eq!(w.google.people(&w.bob.email).len(), 2, "the emulator does make duplicates, as Google does");
}

/// `labelbook google …` from the configuration alone, no server running: enable, sync (exit 0 when in sync),
/// status as JSON, disable (what the bridge made leaves Google).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_enables_syncs_reports_and_disables() {
    let db = TestDb::new().await;
    let (google, key) = emulator(&db.dir).await;
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_labelbook"));
        cmd.arg("--data").arg(&db.dir).args(args).env("LABELBOOK_LOG", "warn");
        cmd.env("LABELBOOK_GOOGLE_SERVICE_ACCOUNT_KEY", &key).env("LABELBOOK_GOOGLE_PEOPLE_API_URL", google.base());
        match db.database_url() {
            Some(url) => cmd.env("LABELBOOK_DATABASE_URL", url),
            None => cmd.env_remove("LABELBOOK_DATABASE_URL"),
        };
        cmd.stdin(std::process::Stdio::null()).output().unwrap()
    };
    let ok = |args: &[&str]| {
        let out = run(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    {
        let app = labelbook::app::App::open(db.config()).await.unwrap();
        let ann = app.accounts.create_user("ann@example.com", PASSWORD, false).await.unwrap();
        let label = app.service.create_label(&ann, None, "Press", "").await.unwrap();
        let view = app.service.open_book(&ann, &label.id).await.unwrap();
        app.service.put_card(&view, "jane.vcf", JANE.as_bytes(), &Default::default()).await.unwrap();
        app.store.close().await;
    }
    ok(&["google", "enable", "--user", "ann@example.com"]);
    let synced: Value = serde_json::from_str(&ok(&["google", "sync", "--user", "ann@example.com", "--json"])).unwrap();
    assert_eq!(synced["status"], "ok");
    assert_eq!(google.people("ann@example.com").len(), 1);
    let status: Value = serde_json::from_str(&ok(&["google", "status", "--json"])).unwrap();
    assert_eq!(status[0]["user"], "ann@example.com");
    assert!(status[0]["last_push"].as_i64().is_some() && status[0]["last_pull"].as_i64().is_some(), "{status}");
    // A lost delegation: sync exits non-zero and says why.
    google.revoke("ann@example.com");
    let out = run(&["google", "sync", "--user", "ann@example.com"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("permission_lost"));
    google.allow(None);
    ok(&["google", "disable", "--user", "ann@example.com"]);
    assert!(google.people("ann@example.com").is_empty());
    assert!(google.groups("ann@example.com").iter().all(|g| g["system"] == true));
    db.drop_db().await;
}

/// The variables a `labelbook serve` process needs to mirror into the stand-in, quickly.
fn bridge_env(key: &std::path::Path, google: &Emulator) -> Vec<(&'static str, std::ffi::OsString)> {
    vec![
        ("LABELBOOK_GOOGLE_SERVICE_ACCOUNT_KEY", key.as_os_str().to_owned()),
        ("LABELBOOK_GOOGLE_PEOPLE_API_URL", google.base().into()),
        ("LABELBOOK_GOOGLE_POLL_SECS", "1".into()),
        ("LABELBOOK_GOOGLE_RETRY_BASE_MS", "20".into()),
        ("LABELBOOK_GOOGLE_LEASE_SECS", "3".into()),
    ]
}

fn start(db: &TestDb, env: &[(&'static str, std::ffi::OsString)]) -> Binary {
    let env: Vec<(&str, &std::ffi::OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    Binary::start(db, &env)
}

/// Users each owning a label of `n` contacts, mirrored; made in-process, then the process's store is closed.
async fn seed(db: &TestDb, users: &[&str], n: usize) {
    let app = labelbook::app::App::open(db.config()).await.unwrap();
    for email in users {
        let u = app.accounts.create_user(email, PASSWORD, false).await.unwrap();
        let label = app.service.create_label(&u, None, "Clients", "").await.unwrap();
        let view = app.service.open_book(&u, &label.id).await.unwrap();
        for i in 0..n {
            let card =
                JANE.replace("jane-1", &format!("c-{i}")).replace("jane@example.com", &format!("c{i}@example.com"));
            app.service.put_card(&view, &format!("c{i}.vcf"), card.as_bytes(), &Default::default()).await.unwrap();
        }
        app.store.google_enable(u.id, false).await.unwrap();
    }
    app.store.close().await;
}

async fn until(what: &str, within: Duration, check: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Each contact once in `user`'s Google, by our tag.
fn assert_once_each(google: &Emulator, user: &str, n: usize) {
    let people = google.people(user);
    let mut tags: Vec<String> =
        people.iter().map(|p| p["clientData"][0]["value"].as_str().unwrap_or("").to_string()).collect();
    tags.sort();
    tags.dedup();
    assert_eq!((people.len(), tags.len()), (n, n), "{user}: every contact exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_google_answers_a_batch_of_creations_leaves_no_duplicate() {
    let db = TestDb::new().await;
    let (google, key) = emulator(&db.dir).await;
    seed(&db, &["ann@example.com"], 450).await;
    // Creations take effect at once but are answered after 2 s: the server is killed in between, so Google holds
    // contacts the server never learnt the names of.
    google.hold_answers(Duration::from_secs(2));
    let env = bridge_env(&key, &google);
    let mut server = start(&db, &env);
    until("the first batch in Google", Duration::from_secs(30), || google.people("ann@example.com").len() >= 200).await;
    server.sigkill();
    let made = google.people("ann@example.com").len();
    assert!((200..450).contains(&made), "killed mid-push: {made}");
    google.hold_answers(Duration::ZERO);
    let mut again = start(&db, &env);
    until("all 450 in Google", Duration::from_secs(60), || google.people("ann@example.com").len() >= 450).await;
    // Settled: a few more polls change nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_once_each(&google, "ann@example.com", 450);
    again.kill();
    db.drop_db().await;
}

/// Two servers on one database: each user is worked by one server at a time (Google sees no overlapping
/// mutations of one user), and the users of a server killed with -9 move to the other once its lease runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_the_users_and_take_over_from_a_dead_one() {
    let db = TestDb::new().await;
    let (google, key) = emulator(&db.dir).await;
    let users = ["u1@example.com", "u2@example.com", "u3@example.com", "u4@example.com"];
    seed(&db, &users, 30).await;
    google.hold_answers(Duration::from_millis(150));
    let env = bridge_env(&key, &google);
    let mut a = start(&db, &env);
    let mut b = start(&db, &env);
    until("every user mirrored", Duration::from_secs(60), || users.iter().all(|u| google.people(u).len() >= 30)).await;
    for u in users {
        assert_once_each(&google, u, 30);
    }
    // One more contact each, written while server A is dead (killed with its leases held): B takes over.
    a.sigkill();
    let app = labelbook::app::App::open(db.config()).await.unwrap();
    for email in users {
        let u = app.store.user_by_email(email).await.unwrap().unwrap();
        let (_, labels) = app.service.labels_for(&u).await.unwrap();
        let view = app.service.open_book(&u, &labels[0].view.segment).await.unwrap();
        app.service.put_card(&view, "late.vcf", JANE.as_bytes(), &Default::default()).await.unwrap();
    }
    until("the late contacts mirrored by the survivor", Duration::from_secs(30), || {
        users.iter().all(|u| google.people(u).len() >= 31)
    })
    .await;
    for u in users {
        assert_once_each(&google, u, 31);
    }
    assert_eq!(google.overlaps(), 0, "one user's mutations never overlapped: one server at a time");
    app.store.close().await;
    b.kill();
    db.drop_db().await;
}

/// The API: your own mirror (state, disconnect, connect, sync now), an administrator's view of every mirror,
/// and refusals for whoever may not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_google_refuses_is_tried_again_without_waiting_for_the_poll() {
    let w = world(Level::Edit).await;
    let bob = &w.bob.email;
    assert!(!w.google.people(bob).is_empty());
    // Google fails every try of the first call (the bridge retries a call 8 times); the poll is an hour away.
    w.google.fail_next(8);
    api(&w.s, bob, "DELETE", "/google", None).await.assert(202).contains("\"removing\"");
    w.eventually("Bob's mirror removed after Google's errors", |w| w.google.people(&w.bob.email).is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_manages_a_mirror_and_refuses_whoever_may_not() {
    let w = world(Level::Edit).await;
    let bob = &w.bob.email;
    let r = api(&w.s, bob, "GET", "/google", None).await;
    let state: Value = serde_json::from_str(&r.assert(200).body).unwrap();
    assert_eq!((state["available"].as_bool(), state["enabled"].as_bool()), (Some(true), Some(true)));
    assert_eq!(state["status"], "ok");
    assert!(state["last_push"].as_str().is_some_and(|t| t.ends_with('Z')), "{state}");
    // Disconnect: what the bridge made leaves Bob's Google, then he is forgotten.
    api(&w.s, bob, "DELETE", "/google", None).await.assert(202).contains("\"removing\"");
    w.eventually("Bob's mirror removed", |w| w.google.people(&w.bob.email).is_empty()).await;
    let start = std::time::Instant::now();
    while w.s.app.store.google_account(w.bob.id).await.unwrap().is_some() {
        assert!(start.elapsed() < Duration::from_secs(15), "Bob is still mirrored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(w.google.groups(bob).iter().all(|g| g["system"] == true), "{:?}", w.google.groups(bob));
    api(&w.s, bob, "GET", "/google", None).await.assert(200).contains("\"off\"");
    api(&w.s, bob, "DELETE", "/google", None).await.assert(404);
    api(&w.s, bob, "POST", "/google/sync", None).await.assert(404);
    // Connect again, with My contacts: mirrored again, by the worker.
    api(&w.s, bob, "PUT", "/google", Some(json!({"my_contacts": true})))
        .await
        .assert(200)
        .contains("\"my_contacts\":true");
    w.eventually("Bob mirrored again", |w| w.jane_in(&w.bob).is_some()).await;
    api(&w.s, bob, "PUT", "/google", Some(json!({"my_contacts": "yes"}))).await.assert(400);
    api(&w.s, bob, "POST", "/google/sync", None).await.assert(202).contains("\"sync_requested\":true");

    // Only administrators see or manage anyone else's mirror; a read token only reads.
    api(&w.s, bob, "GET", "/admin/google", None).await.assert(403);
    api(&w.s, bob, "PUT", "/admin/google/users/ann@example.com", None).await.assert(403);
    api(&w.s, bob, "DELETE", "/admin/google/users/ann@example.com", None).await.assert(403);
    api(&w.s, bob, "POST", "/admin/google/users/ann@example.com/sync", None).await.assert(403);
    use labelbook::service::access::Credential;
    let (_, read) = w.s.app.accounts.create_token(&w.bob, Credential::Password, "ci", "read", None).await.unwrap();
    let bearer = format!("Bearer {read}");
    let auth = [("authorization", bearer.as_str())];
    w.s.request("GET", "/api/v1/google", None, &auth, "").await.assert(200);
    w.s.request("POST", "/api/v1/google/sync", None, &auth, "").await.assert(403);
    w.s.request("DELETE", "/api/v1/google", None, &auth, "").await.assert(403);

    w.s.app.accounts.create_user("root@example.com", PASSWORD, true).await.unwrap();
    let r = api(&w.s, "root@example.com", "GET", "/admin/google", None).await;
    let overview: Value = serde_json::from_str(&r.assert(200).body).unwrap();
    assert_eq!(overview["delegation"]["service_account"], "labelbook-bridge@labelbook-tests.iam.gserviceaccount.com");
    assert_eq!(overview["delegation"]["source"], "config");
    // A key the configuration names is changed there, not here.
    api(&w.s, "root@example.com", "PUT", "/admin/google/key", Some(serde_json::from_slice(KEY).unwrap()))
        .await
        .assert(409)
        .contains("configuration");
    api(&w.s, "root@example.com", "DELETE", "/admin/google/key", None).await.assert(409);
    let users: Vec<&str> = overview["items"].as_array().unwrap().iter().map(|i| i["user"].as_str().unwrap()).collect();
    assert_eq!(users, ["ann@example.com", "bob@example.com"]);
    api(&w.s, "root@example.com", "GET", "/admin/google/users/nobody@example.com", None).await.assert(404);
    api(&w.s, "root@example.com", "POST", "/admin/google/users/ann@example.com/sync", None).await.assert(202);
    api(&w.s, "root@example.com", "DELETE", "/admin/google/users/ann@example.com", None).await.assert(202);
    w.eventually("Ann's mirror removed by the administrator", |w| w.google.people(&w.ann.email).is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_uploads_the_key_and_mirrors_people_without_a_restart() {
    let dir = std::env::temp_dir().join(unique("labelbook-google-key"));
    let (google, key_path) = emulator(&dir).await;
    let key: Value = serde_json::from_slice(&std::fs::read(&key_path).unwrap()).unwrap();
    let base = google.base();
    // On PostgreSQL the key sealing it is configured (every server needs the same); SQLite makes one.
    let token_key = labelbook::bridge::sealed::SealKey::generate().unwrap();
    let s = Server::start_with(move |c| {
        c.google.people_api_url = base;
        c.google.poll_secs = 3600;
        c.google.token_key = Some(token_key);
    })
    .await;
    s.app.accounts.create_user("root@example.com", PASSWORD, true).await.unwrap();
    s.user("bob@example.com").await;
    let root = "root@example.com";
    let r = api(&s, root, "GET", "/admin/google", None).await;
    let overview: Value = serde_json::from_str(&r.assert(200).body).unwrap();
    assert_eq!((overview["available"].as_bool(), &overview["delegation"]), (Some(false), &Value::Null));
    api(&s, root, "PUT", "/admin/google/users/bob@example.com", None).await.assert(409);

    // Only an administrator, as the person, may set it; what is not a service-account key is refused, and
    // nothing is stored.
    api(&s, "bob@example.com", "PUT", "/admin/google/key", Some(key.clone())).await.assert(403);
    use labelbook::service::access::Credential;
    let admin = s.record(root).await;
    let (_, token) = s.app.accounts.create_token(&admin, Credential::Password, "ci", "write", None).await.unwrap();
    let bearer = format!("Bearer {token}");
    s.request("PUT", "/api/v1/admin/google/key", None, &[("authorization", bearer.as_str()), JSON], key.to_string())
        .await
        .assert(403);
    let mut wrong = key.clone();
    wrong["type"] = json!("authorized_user");
    api(&s, root, "PUT", "/admin/google/key", Some(wrong)).await.assert(422).contains("service_account");
    let mut broken = key.clone();
    broken["private_key"] = json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    api(&s, root, "PUT", "/admin/google/key", Some(broken)).await.assert(422);
    s.as_user(root, "PUT", "/api/v1/admin/google/key", &[JSON], "{not json").await.assert(400);
    assert!(s.app.store.settings().await.unwrap().is_empty());
    assert!(!s.app.bridge.available());

    // Uploaded: in use at once, kept sealed (the private key is not in the database as text).
    let r = api(&s, root, "PUT", "/admin/google/key", Some(key.clone())).await;
    let overview: Value = serde_json::from_str(&r.assert(200).body).unwrap();
    let d = &overview["delegation"];
    assert_eq!(d["service_account"], "labelbook-bridge@labelbook-tests.iam.gserviceaccount.com");
    assert_eq!(
        (d["source"].as_str(), d["scope"].as_str()),
        (Some("uploaded"), Some("https://www.googleapis.com/auth/contacts"))
    );
    assert_eq!(d["client_id"], key["client_id"]);
    let stored = s.app.store.settings().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].1.contains("PRIVATE KEY") && !stored[0].1.contains("labelbook-bridge"), "sealed");
    api(&s, root, "PUT", "/admin/google/users/bob@example.com", None).await.assert(200);
    let bob = s.record("bob@example.com").await;
    let label = s.app.service.create_label(&bob, None, "Suppliers", "").await.unwrap().id;
    s.put_card("bob@example.com", &format!("/dav/addressbooks/bob@example.com/{label}/jane.vcf"), JANE)
        .await
        .assert(201);
    let start = std::time::Instant::now();
    while !google.people("bob@example.com").iter().any(|p| p["names"][0]["givenName"] == "Jane") {
        assert!(start.elapsed() < Duration::from_secs(15), "Jane never reached Bob's Google");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Another server of the same database opens it too.
    let other = labelbook::app::App::open(s.app.config.clone()).await.unwrap();
    assert_eq!(other.bridge.key_source(), labelbook::bridge::key::Source::Uploaded);

    // Removed: nobody can be mirrored through the delegation any more, here at once.
    let r = api(&s, root, "DELETE", "/admin/google/key", None).await;
    r.assert(200).contains("\"delegation\":null");
    assert!(s.app.store.settings().await.unwrap().is_empty());
    api(&s, "bob@example.com", "GET", "/google", None).await.assert(200).contains("\"delegation\":false");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_the_api_says_the_bridge_is_off() {
    let s = Server::start().await;
    s.user("ann@example.com").await;
    api(&s, "ann@example.com", "GET", "/google", None)
        .await
        .assert(200)
        .contains("\"available\":false")
        .contains("\"off\"");
    api(&s, "ann@example.com", "PUT", "/google", None).await.assert(409).contains("service-account key");
    assert!(s.app.store.google_account(s.app.user("ann@example.com").await.unwrap().id).await.unwrap().is_none());
}

/// Someone outside the Workspace delegation (a Gmail account) connects their own Google account: the
/// authorization code flow with PKCE, the refresh token sealed at rest; a grant taken back in Google is
/// "permission lost" until they connect again; a refused consent and a foreign or replayed state change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gmail_user_connects_their_own_google_account() {
    let dir = std::env::temp_dir().join(unique("labelbook-google"));
    let (google, key) = emulator(&dir).await;
    // The delegation covers Ann only.
    google.allow(Some(&["ann@example.com"]));
    let base = google.base();
    let s = Server::start_with(move |c| {
        c.google.service_account_key = Some(key);
        c.google.people_api_url = base.clone();
        c.google.oauth_client_id = Some("client-1.apps.example".into());
        c.google.oauth_client_secret = Some("client-secret-1".into());
        c.google.oauth_auth_url = format!("{base}/o/oauth2/v2/auth");
        c.google.oauth_token_url = format!("{base}/token");
        c.google.oauth_revoke_url = format!("{base}/revoke");
        // Needed on PostgreSQL (every server shares it); on SQLite it would be made beside the database.
        c.google.token_key = Some(labelbook::bridge::sealed::SealKey::generate().unwrap());
        c.google.poll_secs = 3600;
        c.google.retry_base_ms = 20;
    })
    .await;
    let bob = s.user("bob@gmail.example").await;
    let bob_user = s.app.user(&bob).await.unwrap();
    let view = s.app.service.open_book(&bob_user, "contacts").await.unwrap();
    s.app.service.put_card(&view, "jane.vcf", JANE.as_bytes(), &Default::default()).await.unwrap();
    // Through the delegation, Bob's Google is out of reach.
    api(&s, &bob, "PUT", "/google", Some(json!({"my_contacts": true}))).await.assert(200);
    let start = std::time::Instant::now();
    loop {
        let a = s.app.store.google_account(bob_user.id).await.unwrap().unwrap();
        if a.status == "permission_lost" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{a:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let callback = oauth_connect(&s, &bob).await;
    // The state is Bob's alone.
    s.user("eve@example.com").await;
    s.as_user("eve@example.com", "GET", &callback, &[], "").await.assert(400);
    let callback = oauth_connect(&s, &bob).await;
    let r = s.as_user(&bob, "GET", &callback, &[], "").await;
    assert_eq!((r.status.as_u16(), r.header("location")), (303, Some("/#/devices")));
    s.as_user(&bob, "GET", &callback, &[], "").await.assert(400);
    let a = s.app.store.google_account(bob_user.id).await.unwrap().unwrap();
    let sealed = a.oauth_token.clone().expect("a grant stored");
    for token in google.refresh_tokens() {
        assert!(!sealed.contains(&token), "the refresh token is not stored in the clear");
    }
    until_status(&s, bob_user.id, "ok").await;
    assert_eq!(google.people(&bob).len(), 1, "My contacts reach Bob's own Google");
    api(&s, &bob, "GET", "/google", None).await.assert(200).contains("\"connected_with\":\"own_account\"");
    // Bob takes the grant back in his Google account: permission lost, then a new grant mends it.
    google.revoke_grants(&bob);
    api(&s, &bob, "POST", "/google/sync", None).await.assert(202);
    let lost = until_status(&s, bob_user.id, "permission_lost").await;
    assert!(lost.last_error.unwrap().contains("invalid_grant"));
    let callback = oauth_connect(&s, &bob).await;
    s.as_user(&bob, "GET", &callback, &[], "").await.assert(303);
    until_status(&s, bob_user.id, "ok").await;
    assert_eq!(google.people(&bob).len(), 1, "no duplicate after reconnecting");
    // A refused consent: back to the Devices page with the reason, nothing changed.
    google.deny_next_consent();
    let callback = oauth_connect(&s, &bob).await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let r = s.as_user(&bob, "GET", &callback, &[], "").await;
    assert_eq!((r.status.as_u16(), r.header("location")), (303, Some("/#/devices/google-refused")));
    assert_eq!(s.app.store.google_account(bob_user.id).await.unwrap().unwrap().status, "ok");
    // Disconnecting takes out what the bridge made, then gives the grant back to Google (RFC 7009).
    assert_eq!(google.refresh_tokens().len(), 1);
    api(&s, &bob, "DELETE", "/google", None).await.assert(202);
    let start = std::time::Instant::now();
    while s.app.store.google_account(bob_user.id).await.unwrap().is_some() {
        assert!(start.elapsed() < Duration::from_secs(15), "Bob is still mirrored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(google.people(&bob).is_empty());
    assert!(google.refresh_tokens().is_empty(), "the grant is revoked at Google");
}

/// Bob asks to connect his own Google account and his browser goes through Google's consent screen: answers
/// the path Google sends the browser back to, on the server.
async fn oauth_connect(s: &Server, bob: &str) -> String {
    let r = api(s, bob, "POST", "/google/oauth", Some(json!({"my_contacts": true}))).await;
    let url: Value = serde_json::from_str(&r.assert(200).body).unwrap();
    let url = url["url"].as_str().unwrap().to_string();
    assert!(url.contains("code_challenge_method=S256") && url.contains("access_type=offline"), "{url}");
    let (status, back) = get_without_redirect(&url).await;
    assert_eq!(status, 302, "{back}");
    assert!(back.starts_with(&s.base), "{back}");
    back[s.base.len()..].to_string()
}

async fn until_status(s: &Server, id: i64, want: &str) -> labelbook::store::google::GoogleAccount {
    let start = std::time::Instant::now();
    loop {
        let a = s.app.store.google_account(id).await.unwrap().unwrap();
        if a.status == want && a.done_at >= a.wanted_at {
            return a;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "wanted {want}: {a:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A GET that does not follow redirects: (status, Location or body).
async fn get_without_redirect(url: &str) -> (u16, String) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let req = http::Request::get(url).body(http_body_util::Full::new(bytes::Bytes::new())).unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, location.unwrap_or_else(|| String::from_utf8_lossy(&body).to_string()))
}

/// A contact's photo (inline JPEG or PNG) goes to Google through updateContactPhoto, once; taking it off the
/// card takes it off in Google; an edit of other fields does not send it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_reach_google_and_leave_it() {
    let w = world(Level::Edit).await;
    // Only Bob is mirrored here, so Google's mutation count is his alone.
    w.s.app.store.google_forget(w.ann.id).await.unwrap();
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let with_photo = JANE.replace("NOTE:", &format!("PHOTO;ENCODING=b;TYPE=PNG:{png}\r\nNOTE:"));
    let r = w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await;
    w.s.as_user(&w.ann.email, "PUT", &w.card(), &[("If-Match", &r.etag())], with_photo.clone()).await.assert(204);
    w.sync(&w.bob).await;
    let jane = w.jane_in(&w.bob).unwrap();
    assert_eq!(jane["photos"][0]["default"], false, "{jane}");
    let url = jane["photos"][0]["url"].clone();
    // Another field changes: the photo is not sent again.
    let (_, mutations_before, _) = w.google.counts();
    let r = w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await;
    let edited = with_photo.replace("Fair Ltd", "Fair Group");
    w.s.as_user(&w.ann.email, "PUT", &w.card(), &[("If-Match", &r.etag())], edited.clone()).await.assert(204);
    w.sync(&w.bob).await;
    let (_, mutations_after, _) = w.google.counts();
    assert_eq!(mutations_after - mutations_before, 1, "one update, no photo upload");
    let jane = w.jane_in(&w.bob).unwrap();
    assert_eq!((jane["organizations"][0]["name"].as_str(), &jane["photos"][0]["url"]), (Some("Fair Group"), &url));
    // Off the card, out of Google.
    let r = w.s.as_user(&w.ann.email, "GET", &w.card(), &[], "").await;
    let plain = edited.replace(&format!("PHOTO;ENCODING=b;TYPE=PNG:{png}\r\n"), "");
    w.s.as_user(&w.ann.email, "PUT", &w.card(), &[("If-Match", &r.etag())], plain).await.assert(204);
    w.sync(&w.bob).await;
    assert!(w.jane_in(&w.bob).unwrap().get("photos").is_none());
}
