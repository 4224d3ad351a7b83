//! Sharing over CardDAV: each collaborator sees an accepted label inside their own home, at exactly
//! their level. A permission matrix: every level, plus pending / declined / revoked / stranger, against every
//! DAV method on the shared label, asserting the status and that a refusal changes nothing.

use crate::common::*;
use labelbook::service::Grantee;
use labelbook::service::access::Level;

struct World {
    s: Server,
    owner: String,
    label: String,
}

impl World {
    fn book(&self, who: &str) -> String {
        format!("/dav/addressbooks/{who}/{}/", self.label)
    }
}

/// Ann owns "Clients" with one card; each other user reaches it one way.
async fn world() -> World {
    let s = Server::start().await;
    let owner = s.user("ann@example.com").await;
    let ann = s.record(&owner).await;
    let label = s.app.service.create_label(&ann, None, "Clients", "").await.unwrap();
    let w = World { s, owner, label: label.id.clone() };
    w.s.put_card(&w.owner, &format!("{}c.vcf", w.book(&w.owner)), &vcard3("c", "Client")).await.assert(201);
    let grant = |who: &'static str, level: Level, then: &'static str| {
        let (s, ann, label) = (&w.s, ann.clone(), label.id.clone());
        async move {
            let email = s.user(who).await;
            let user = s.record(&email).await;
            let g = s.app.service.share(&ann, &label, &Grantee::User(email.clone()), level, true).await.unwrap();
            match then {
                "accept" => {
                    s.app.service.respond(&user, g.id, true).await.unwrap();
                }
                "decline" => {
                    s.app.service.respond(&user, g.id, false).await.unwrap();
                }
                "revoke" => {
                    s.app.service.respond(&user, g.id, true).await.unwrap();
                    s.app.service.revoke(&ann, g.id).await.unwrap();
                }
                _ => {}
            }
        }
    };
    grant("view@example.com", Level::View, "accept").await;
    grant("edit@example.com", Level::Edit, "accept").await;
    grant("delete@example.com", Level::Delete, "accept").await;
    grant("share@example.org", Level::Share, "accept").await;
    grant("pending@example.com", Level::Edit, "").await;
    grant("declined@example.com", Level::Edit, "decline").await;
    grant("revoked@example.com", Level::Edit, "revoke").await;
    w.s.user("stranger@example.net").await;
    // One card for each actor to try to delete.
    for who in ["view", "edit", "delete", "share", "owner", "pending", "declined", "revoked", "stranger"] {
        w.s.put_card(&w.owner, &format!("{}del-{who}.vcf", w.book(&w.owner)), &vcard3(&format!("del-{who}"), "D"))
            .await
            .assert(201);
    }
    w
}

/// The direct grant of `email` on the world's label.
async fn user_grant(w: &World, email: &str) -> labelbook::store::Grant {
    let grants = w.s.app.store.grants_of_user(email).await.unwrap();
    grants.into_iter().find(|g| g.label_id == w.label).unwrap()
}

fn who_email(who: &str) -> String {
    match who {
        "share" => "share@example.org".into(),
        "stranger" => "stranger@example.net".into(),
        "owner" => "ann@example.com".into(),
        w => format!("{w}@example.com"),
    }
}

/// One request of the matrix: method, path, headers, body.
type Op<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, String);

/// The matrix's requests, in order, on one book as seen from `who`'s home.
const OPS: [&str; 14] = [
    "PROPFIND",
    "GET",
    "HEAD",
    "REPORT sync-collection",
    "REPORT addressbook-multiget",
    "REPORT addressbook-query",
    "PUT new",
    "PUT existing",
    "DELETE card",
    "PROPPATCH description",
    "PROPPATCH displayname",
    "MKCOL inside",
    "MOVE card",
    "DELETE book",
];

/// What a user at `level` gets for each of `OPS` on a label they can see; `None`: a label they cannot see.
fn expected(level: Option<Level>) -> [u16; 14] {
    let Some(level) = level else {
        // Pending, declined, revoked, stranger, someone else's label: it does not exist for them. MKCOL has no
        // parent collection there (RFC 4918 §9.3.1: 409).
        return [404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 409, 404, 404];
    };
    let at = |l: Level, ok: u16| if level >= l { ok } else { 403 };
    [
        207,
        200,
        200,
        207,
        207,
        207,
        at(Level::Edit, 201),
        at(Level::Edit, 204),
        at(Level::Delete, 204),
        at(Level::Share, 207),
        at(Level::Owner, 207),
        // Address books do not nest, whatever the level.
        403,
        // A Destination that is no card of theirs (COPY and MOVE themselves: tests/it/dav.rs).
        403,
        // The owner deletes the label; anyone else leaves it.
        204,
    ]
}

/// Whether a 403 for this op is about the user's level, and so must name the privilege (RFC 3744 §7.1.1).
fn is_privilege_op(k: usize) -> bool {
    (6..=10).contains(&k)
}

/// `c_uid` is the UID of the book's `c.vcf`, which "PUT existing" rewrites.
fn ops_on<'a>(book: &str, who: &str, c_uid: &str) -> [Op<'a>; 14] {
    let multiget = format!(
        r#"<C:addressbook-multiget xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><C:address-data/></d:prop><d:href>{book}c.vcf</d:href></C:addressbook-multiget>"#
    );
    let query = r#"<C:addressbook-query xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop><C:filter><C:prop-filter name="FN"><C:text-match match-type="contains">Client</C:text-match></C:prop-filter></C:filter></C:addressbook-query>"#;
    let desc = r#"<d:propertyupdate xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><C:addressbook-description>notes</C:addressbook-description></d:prop></d:set></d:propertyupdate>"#;
    let rename = r#"<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>Renamed</d:displayname></d:prop></d:set></d:propertyupdate>"#;
    let vcard = vec![("content-type", "text/vcard")];
    let xml = vec![("depth", "1"), ("content-type", "application/xml")];
    [
        ("PROPFIND", book.to_string(), vec![("depth", "0")], String::new()),
        ("GET", format!("{book}c.vcf"), vec![], String::new()),
        ("HEAD", format!("{book}c.vcf"), vec![], String::new()),
        ("REPORT", book.to_string(), xml.clone(), sync_body("", "")),
        ("REPORT", book.to_string(), xml.clone(), multiget),
        ("REPORT", book.to_string(), xml, query.to_string()),
        ("PUT", format!("{book}new-{who}.vcf"), vcard.clone(), vcard3(&format!("new-{who}"), "New")),
        ("PUT", format!("{book}c.vcf"), vcard, vcard3(c_uid, &format!("Client by {who}"))),
        ("DELETE", format!("{book}del-{who}.vcf"), vec![], String::new()),
        ("PROPPATCH", book.to_string(), vec![], desc.to_string()),
        ("PROPPATCH", book.to_string(), vec![], rename.to_string()),
        ("MKCOL", format!("{book}sub/"), vec![], String::new()),
        ("MOVE", format!("{book}c.vcf"), vec![("destination", "/dav/moved.vcf")], String::new()),
        ("DELETE", book.to_string(), vec![], String::new()),
    ]
}

/// A label's state as its owner sees it, for "a refusal changes nothing": its sync-token and its name.
async fn label_state(s: &Server, owner: &str, label: &str) -> (String, String) {
    let book = format!("/dav/addressbooks/{owner}/{label}/");
    let name = s.app.store.label(label).await.unwrap().map(|l| l.name).unwrap_or_default();
    (s.sync_token(owner, &book).await, name)
}

/// The permission matrix: every level (and pending, declined, revoked, stranger) × every DAV method × the user's
/// own label, the label shared with them, and someone else's label. Each status is exact, every 403 names the
/// privilege, and every refusal leaves the label's sync-token and name as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_matrix_over_every_dav_method() {
    let w = world().await;
    // A label of Zed's that nobody is invited to: "someone else's label" for everyone, the owner included.
    let zed = w.s.user("zed@example.net").await;
    let zed_user = w.s.record(&zed).await;
    let private = w.s.app.service.create_label(&zed_user, None, "Zed's", "").await.unwrap().id;
    w.s.put_card(&zed, &format!("/dav/addressbooks/{zed}/{private}/c.vcf"), &vcard3("zc", "Client Z"))
        .await
        .assert(201);
    // The owner comes last: the last request of each row deletes (or leaves) the book.
    let everyone = ["view", "edit", "delete", "share", "pending", "declined", "revoked", "stranger", "owner"];
    for who in everyone {
        let email = who_email(who);
        let user = w.s.record(&email).await;
        let own = w.s.app.service.create_label(&user, None, &format!("Own of {who}"), "").await.unwrap().id;
        let own_book = format!("{}{own}/", home(&email));
        for uid in ["c".to_string(), format!("del-{who}")] {
            w.s.put_card(&email, &format!("{own_book}{uid}.vcf"), &vcard3(&format!("{who}-{uid}"), "Client O"))
                .await
                .assert(201);
        }
        let own_c = format!("{who}-c");
        let columns = [
            ("own label", own.clone(), email.clone(), Some(Level::Owner), own_c.as_str()),
            ("shared label", w.label.clone(), w.owner.clone(), level_of(who), "c"),
            ("someone else's label", private.clone(), zed.clone(), None, "zc"),
        ];
        for (column, label, owner, level, c_uid) in columns {
            let want = expected(level);
            let mut got = Vec::new();
            let book = format!("{}{label}/", home(&email));
            for (k, (method, path, headers, body)) in ops_on(&book, who, c_uid).into_iter().enumerate() {
                let before = label_state(&w.s, &owner, &label).await;
                let r = w.s.as_user(&email, method, &path, &headers, body).await;
                got.push(r.status.as_u16());
                if r.status.as_u16() == 403 && is_privilege_op(k) {
                    // RFC 3744 §7.1.1: a refusal names the missing privilege...
                    r.contains("need-privileges");
                }
                if want[k] >= 400 {
                    // ...and changes nothing.
                    let after = label_state(&w.s, &owner, &label).await;
                    assert_eq!(after, before, "{who} on {column}: {} changed the label", OPS[k]);
                }
            }
            assert_eq!(got, want, "{who} on {column}, in the order {OPS:?}");
        }
    }
    // Each collaborator's DELETE only left the label (their rows went on seeing it as before, the owner's too);
    // the owner's deleted it.
    assert!(w.s.app.store.label(&w.label).await.unwrap().is_none());
    // Creating a book under an id that is taken (only someone given it can try) is a clear 409; Zed's label is
    // untouched.
    let before = label_state(&w.s, &zed, &private).await;
    let r =
        w.s.as_user("stranger@example.net", "MKCOL", &format!("{}{private}/", home("stranger@example.net")), &[], "")
            .await;
    r.assert(409).contains("taken").lacks("UNIQUE");
    assert_eq!(label_state(&w.s, &zed, &private).await, before);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collaborators_find_the_label_in_their_own_home_with_their_privileges() {
    let w = world().await;
    let propfind = r#"<d:propfind xmlns:d="DAV:"><d:prop><d:displayname/><d:current-user-privilege-set/><d:owner/></d:prop></d:propfind>"#;
    // Thunderbird and Apple read one home: the shared label is a child of the collaborator's own.
    let r = w.s.propfind("view@example.com", &home("view@example.com"), "1", propfind).await;
    r.assert(207).contains(&w.book("view@example.com")).contains("<d:displayname>Clients</d:displayname>");
    // RFC 3744 §5.4: exactly the level's privileges.
    let r = w.s.propfind("view@example.com", &w.book("view@example.com"), "0", propfind).await;
    r.contains("<d:read/>").lacks("<d:write-content/>").lacks("<d:bind/>");
    r.contains("<d:owner><d:href>/dav/principals/ann@example.com/</d:href></d:owner>");
    let r = w.s.propfind("edit@example.com", &w.book("edit@example.com"), "0", propfind).await;
    r.contains("<d:write-content/>").contains("<d:bind/>").lacks("<d:unbind/>");
    let r = w.s.propfind("delete@example.com", &w.book("delete@example.com"), "0", propfind).await;
    r.contains("<d:unbind/>").lacks("<d:write-properties/>").lacks("<d:write-acl/>");
    // Share level also manages who has access (RFC 3744 read-acl, write-acl); only the owner holds DAV:all.
    let r = w.s.propfind("share@example.org", &w.book("share@example.org"), "0", propfind).await;
    r.contains("<d:write-properties/>").contains("<d:read-acl/>").contains("<d:write-acl/>").lacks("<d:all/>");
    w.s.propfind(&w.owner, &w.book(&w.owner), "0", propfind).await.contains("<d:all/>");
    // The owner's principal is readable by a collaborator (clients PROPFIND the owner href).
    w.s.propfind("view@example.com", "/dav/principals/ann@example.com/", "0", "").await.assert(207);
    // Pending, declined and revoked expose nothing, not even in the home listing.
    for who in ["pending@example.com", "declined@example.com", "revoked@example.com", "stranger@example.net"] {
        w.s.propfind(who, &home(who), "1", propfind).await.assert(207).lacks(&w.label);
    }
    // Through the owner's path a collaborator gets 404, as for any other home.
    w.s.propfind("share@example.org", &w.book(&w.owner), "0", "").await.assert(404);
    // The device toggle off: gone from the collaborator's CardDAV home, back when on.
    let view_user = w.s.record("view@example.com").await;
    let g = user_grant(&w, "view@example.com").await;
    w.s.app.service.set_devices(&view_user, g.id, false).await.unwrap();
    w.s.propfind("view@example.com", &home("view@example.com"), "1", propfind).await.lacks(&w.label);
    w.s.propfind("view@example.com", &w.book("view@example.com"), "0", propfind).await.assert(404);
    w.s.app.service.set_devices(&view_user, g.id, true).await.unwrap();
    w.s.propfind("view@example.com", &w.book("view@example.com"), "0", propfind).await.assert(207);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_by_one_collaborator_reaches_everyone_in_their_next_sync() {
    let w = world().await;
    let t_owner = w.s.sync_token(&w.owner, &w.book(&w.owner)).await;
    let t_delete = w.s.sync_token("delete@example.com", &w.book("delete@example.com")).await;
    // Edit by the edit-level collaborator; a new card by the share-level one.
    w.s.put_card("edit@example.com", &format!("{}c.vcf", w.book("edit@example.com")), &vcard3("c", "Edited by E"))
        .await
        .assert(204);
    w.s.put_card("share@example.org", &format!("{}from-s.vcf", w.book("share@example.org")), &vcard3("from-s", "S"))
        .await
        .assert(201);
    for (who, token) in [("ann@example.com", &t_owner), ("delete@example.com", &t_delete)] {
        let r = w.s.report(who, &w.book(who), &sync_body(token, "")).await;
        r.assert(207).contains("c.vcf</d:href><d:propstat>").contains("from-s.vcf</d:href><d:propstat>");
    }
    // The card a collaborator added belongs to the owner: it is in the owner's My contacts.
    w.s.as_user(&w.owner, "GET", &format!("{}from-s.vcf", contacts(&w.owner)), &[], "")
        .await
        .assert(200)
        .contains("FN:S");
    w.s.as_user(&w.owner, "GET", &format!("{}c.vcf", w.book(&w.owner)), &[], "").await.contains("FN:Edited by E");
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collaborators_cannot_reach_the_owners_other_contacts_by_uid() {
    let w = world().await;
    // A private contact of the owner, in no label.
    w.s.put_card(&w.owner, &format!("{}private.vcf", contacts(&w.owner)), &vcard3("private-uid", "Secret"))
        .await
        .assert(201);
    // A collaborator who guesses its UID cannot pull it into the shared label, nor learn where it is.
    let r =
        w.s.put_card(
            "edit@example.com",
            &format!("{}guess.vcf", w.book("edit@example.com")),
            &vcard3("private-uid", "Guess"),
        )
        .await;
    r.assert(409).contains("no-uid-conflict").lacks("private.vcf");
    w.s.as_user("edit@example.com", "GET", &format!("{}guess.vcf", w.book("edit@example.com")), &[], "")
        .await
        .assert(404);
    w.s.as_user(&w.owner, "GET", &format!("{}private.vcf", contacts(&w.owner)), &[], "").await.contains("FN:Secret");
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_shared_label_means_leaving_it() {
    let w = world().await;
    // A collaborator's DELETE of the label collection is "leave this share".
    w.s.as_user("share@example.org", "DELETE", &w.book("share@example.org"), &[], "").await.assert(204);
    w.s.propfind("share@example.org", &w.book("share@example.org"), "0", "").await.assert(404);
    let g = user_grant(&w, "share@example.org").await;
    assert_eq!(g.status, "declined");
    // The label and its cards are untouched for everyone else.
    w.s.propfind(&w.owner, &w.book(&w.owner), "1", "").await.assert(207).contains("c.vcf");
    w.s.propfind("view@example.com", &w.book("view@example.com"), "0", "").await.assert(207);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_rules_and_races_leave_state_consistent() {
    let w = world().await;
    let svc = &w.s.app.service;
    let store = &w.s.app.store;
    let ann = store.user_by_email(&w.owner).await.unwrap().unwrap();
    let share = store.user_by_email("share@example.org").await.unwrap().unwrap();
    let edit = store.user_by_email("edit@example.com").await.unwrap().unwrap();
    let newbie = w.s.user("newbie@example.com").await;
    // Below share level nobody invites.
    assert!(svc.share(&edit, &w.label, &Grantee::parse(&newbie), Level::View, true).await.is_err());
    // A manager shares up to their own level, never owner.
    assert!(svc.share(&share, &w.label, &Grantee::parse(&newbie), Level::Share, true).await.is_ok());
    assert!(svc.share(&ann, &w.label, &Grantee::parse("other@example.com"), Level::Owner, true).await.is_err());
    // Unknown and malformed addresses, duplicates, the owner themself.
    assert!(svc.share(&ann, &w.label, &Grantee::parse("nobody@example.com"), Level::View, true).await.is_err());
    assert!(svc.share(&ann, &w.label, &Grantee::parse("not an address"), Level::View, true).await.is_err());
    assert!(svc.share(&ann, &w.label, &Grantee::parse(&newbie), Level::View, true).await.is_err(), "a duplicate grant");
    assert!(svc.share(&ann, &w.label, &Grantee::parse(&w.owner), Level::View, true).await.is_err());
    // A revoked invitation cannot be accepted.
    let revoked = store.user_by_email("revoked@example.com").await.unwrap().unwrap();
    let g = user_grant(&w, &revoked.email).await;
    assert!(svc.respond(&revoked, g.id, true).await.is_err());
    // Someone else's invitation is not yours to accept.
    let pending = user_grant(&w, "pending@example.com").await;
    assert!(svc.respond(&edit, pending.id, true).await.is_err());
    // Nobody changes their own level.
    let share_grant = user_grant(&w, &share.email).await;
    assert!(svc.set_grant_level(&share, share_grant.id, Level::View).await.is_err());
    // Two managers revoking the same grant: the second finds it already revoked.
    let edit_grant = user_grant(&w, &edit.email).await;
    assert!(svc.revoke(&ann, edit_grant.id).await.is_ok());
    assert!(svc.revoke(&share, edit_grant.id).await.is_err());
    assert_eq!(store.grant(edit_grant.id).await.unwrap().unwrap().status, "revoked");
    // Re-inviting after a revoke makes a fresh pending invitation.
    assert_eq!(
        svc.share(&ann, &w.label, &Grantee::parse(&edit.email), Level::Edit, true).await.unwrap().status,
        "pending"
    );
    w.s.stop().await;
}

/// The share dialog is told which grants the caller may change (`manageable`), so it compares no levels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_grants_say_which_the_caller_may_change() {
    let w = world().await;
    for who in ["ann@example.com", "share@example.org"] {
        let r = w.s.as_user(who, "GET", &format!("/api/v1/labels/{}/grants", w.label), &[], "").await;
        let items = parse(r.assert(200))["items"].as_array().unwrap().clone();
        assert!(items.len() >= 7, "{items:?}");
        for g in items {
            assert_eq!(g["manageable"], g["status"] != "revoked", "{who} on {g}");
        }
    }
    // A collaborator who cannot share does not get the list at all.
    w.s.as_user("delete@example.com", "GET", &format!("/api/v1/labels/{}/grants", w.label), &[], "").await.assert(403);
    w.s.stop().await;
}
