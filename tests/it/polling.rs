//! Devices polling for changes: a PROPFIND Depth 0 for the tokens and a sync-collection with the token held, which
//! mostly find nothing changed. Those are answered from memory (the change bus forgets what changed), so they must
//! still see every change: at once when this server made it, within a few seconds when another process did.

use crate::common::*;
use labelbook::app::App;
use labelbook::service::Grantee;
use labelbook::service::access::Level;
use std::time::{Duration, Instant};

const TOKENS: &str = r#"<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/><d:sync-token/><d:displayname/></d:prop></d:propfind>"#;

/// One poll by `auth` (user, password) of `book` with the token it holds: the PROPFIND's body, and the
/// sync-collection's body with the token it answers.
async fn poll(s: &Server, auth: (&str, &str), book: &str, token: &str) -> (String, String, String) {
    let depth0 = [("depth", "0"), ("content-type", "application/xml")];
    let found = s.request("PROPFIND", book, Some(auth), &depth0, TOKENS).await;
    found.assert(207);
    let depth1 = [("depth", "1"), ("content-type", "application/xml")];
    let sync = s.request("REPORT", book, Some(auth), &depth1, sync_body(token, "")).await;
    sync.assert(207);
    let next = between(&sync.body, "<d:sync-token>", "</d:sync-token>").expect("a sync-token").to_string();
    (found.body.clone(), sync.body.clone(), next)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_that_finds_nothing_changed_needs_no_database() {
    let s = Server::start().await;
    let ann = s.new_user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let label = s.app.service.create_label(&ann, None, "Clients", "").await.unwrap().id;
    let g = s.app.service.share(&ann, &label, &Grantee::User(bob.clone()), Level::View, true).await.unwrap();
    s.app.service.respond(&s.record(&bob).await, g.id, true).await.unwrap();
    s.put_card(&ann.email, &format!("{}a.vcf", contacts(&ann.email)), &vcard3("a", "Ann")).await.assert(201);
    let shared = format!("/dav/addressbooks/{bob}/{label}/");
    s.put_card(&ann.email, &format!("/dav/addressbooks/{}/{label}/l.vcf", ann.email), &vcard3("l", "Lou"))
        .await
        .assert(201);
    // Each kind of book: My contacts, a label shared with the poller, the combined book.
    let books = [
        (ann.email.clone(), contacts(&ann.email)),
        (bob.clone(), shared),
        (bob.clone(), format!("/dav/addressbooks/{bob}/all/")),
    ];
    let mut tokens = Vec::new();
    for (who, book) in &books {
        let (_, _, token) = poll(&s, (who, PASSWORD), book, "").await;
        poll(&s, (who, PASSWORD), book, &token).await;
        tokens.push(token);
    }

    s.app.store.close().await;
    for ((who, book), token) in books.iter().zip(&tokens) {
        // RFC 6578 §3.2: the token held is the book's current one, so the answer is that token and no member.
        let (found, sync, next) = poll(&s, (who, PASSWORD), book, token).await;
        assert!(found.contains(&format!("<d:sync-token>{token}</d:sync-token>")), "{found}");
        assert!(!sync.contains("<d:response>"), "{sync}");
        assert_eq!(&next, token);
    }
    // What does need the database still says so (RFC 9110 §15.6.4).
    s.put_card(&ann.email, &format!("{}b.vcf", contacts(&ann.email)), &vcard3("b", "Bea")).await.assert(503);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_this_server_makes_is_in_the_next_poll() {
    let s = Server::start().await;
    let ann = s.new_user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let label = s.app.service.create_label(&ann, None, "Clients", "").await.unwrap().id;
    let g = s.app.service.share(&ann, &label, &Grantee::User(bob.clone()), Level::Edit, true).await.unwrap();
    s.app.service.respond(&s.record(&bob).await, g.id, true).await.unwrap();
    let (mine, shared) = (contacts(&ann.email), format!("/dav/addressbooks/{bob}/{label}/"));
    let owners_view = format!("/dav/addressbooks/{}/{label}/", ann.email);

    let (_, _, mut ann_token) = poll(&s, (&ann.email, PASSWORD), &mine, "").await;
    let (_, _, mut bob_token) = poll(&s, (&bob, PASSWORD), &shared, "").await;
    for round in 0..3 {
        // Ann's own write, then her next poll (read your writes, RFC 6578 §3.5.1).
        s.put_card(&ann.email, &format!("{mine}r{round}.vcf"), &vcard3(&format!("r{round}"), "Ren")).await.assert(201);
        let (found, sync, next) = poll(&s, (&ann.email, PASSWORD), &mine, &ann_token).await;
        assert!(found.contains(&format!("<d:sync-token>{next}</d:sync-token>")), "{found}");
        assert!(sync.contains(&format!("r{round}.vcf")), "{sync}");
        assert_ne!(next, ann_token);
        ann_token = next;
        // A card Ann puts in the label reaches Bob's next poll of it.
        s.put_card(&ann.email, &format!("{owners_view}l{round}.vcf"), &vcard3(&format!("l{round}"), "Lou"))
            .await
            .assert(201);
        let (_, sync, next) = poll(&s, (&bob, PASSWORD), &shared, &bob_token).await;
        assert!(sync.contains(&format!("l{round}.vcf")), "{sync}");
        bob_token = next;
    }
    // A deletion is a change too (RFC 6578 §3.5.2: a 404 for the member).
    s.as_user(&ann.email, "DELETE", &format!("{owners_view}l0.vcf"), &[], "").await.assert(204);
    let (_, sync, next) = poll(&s, (&bob, PASSWORD), &shared, &bob_token).await;
    assert!(sync.contains("l0.vcf") && sync.contains("404"), "{sync}");
    bob_token = next;
    // A renamed label shows its new name in the next PROPFIND.
    s.app.service.rename_label(&ann, &label, "Customers").await.unwrap();
    let (found, _, _) = poll(&s, (&bob, PASSWORD), &shared, &bob_token).await;
    assert!(found.contains("Customers"), "{found}");
    // A label shared and accepted is in the next listing of the home; revoked, it is gone at the next request.
    let press = s.app.service.create_label(&ann, None, "Press", "").await.unwrap().id;
    let listing = r#"<d:propfind xmlns:d="DAV:"><d:prop><d:displayname/></d:prop></d:propfind>"#;
    s.propfind(&bob, &home(&bob), "1", listing).await.assert(207).lacks(&press);
    let g2 = s.app.service.share(&ann, &press, &Grantee::User(bob.clone()), Level::View, true).await.unwrap();
    s.app.service.respond(&s.record(&bob).await, g2.id, true).await.unwrap();
    s.propfind(&bob, &home(&bob), "1", listing).await.assert(207).contains(&press);
    s.app.service.revoke(&ann, g.id).await.unwrap();
    let depth0 = [("depth", "0"), ("content-type", "application/xml")];
    s.request("PROPFIND", &shared, Some((&bob, PASSWORD)), &depth0, TOKENS).await.assert(404);
    s.propfind(&bob, &home(&bob), "1", listing).await.assert(207).lacks(&format!("/{label}/"));
    s.stop().await;
}

/// Until `check` holds for a poll's (PROPFIND, sync-collection) bodies, for at most five seconds.
async fn eventually(s: &Server, auth: (&str, &str), book: &str, token: &str, check: impl Fn(&str, &str) -> bool) {
    let start = Instant::now();
    loop {
        let (found, sync, _) = poll(s, auth, book, token).await;
        if check(&found, &sync) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "the change was not seen in 5 s: {found}\n{sync}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_another_process_makes_reach_polls_and_sign_ins() {
    let s = Server::start().await;
    let ann = s.new_user("ann@example.com").await;
    let (_, device) = s.app.accounts.add_app_password(&ann, "Phone", "books").await.unwrap();
    let book = contacts(&ann.email);
    let (_, _, token) = poll(&s, (&ann.email, &device), &book, "").await;

    // The command line (or another server) on the same database: it tells the servers as the CLI does after
    // each command (on SQLite, where the servers cannot hear it otherwise; on PostgreSQL its NOTIFY did).
    let other = App::open(s.db.config()).await.unwrap();
    let view = other.service.open_book(&ann, "contacts").await.unwrap();
    let card = vcard3("elsewhere", "Elsewhere").into_bytes();
    other.service.put_cards(&view, &[("elsewhere.vcf".into(), card)], &Default::default()).await.unwrap();
    other.store.announce_outside_writes().await.unwrap();
    eventually(&s, (&ann.email, &device), &book, &token, |found, sync| {
        sync.contains("elsewhere.vcf") && !found.contains(&format!("<d:sync-token>{token}<"))
    })
    .await;

    // A device revoked elsewhere is refused, though its credential was remembered.
    other.accounts.revoke_app_password(&ann, "Phone").await.unwrap();
    other.store.announce_outside_writes().await.unwrap();
    let start = Instant::now();
    loop {
        let depth0 = [("depth", "0"), ("content-type", "application/xml")];
        let r = s.request("PROPFIND", &book, Some((&ann.email, &device)), &depth0, TOKENS).await;
        if r.status.as_u16() == 401 {
            break;
        }
        r.assert(207);
        assert!(start.elapsed() < Duration::from_secs(5), "a revoked app password still works after 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    other.store.close().await;
    s.stop().await;
}

const SIZES: &str =
    r#"<d:propfind xmlns:d="DAV:"><d:prop><d:quota-used-bytes/><d:getcontentlength/></d:prop></d:propfind>"#;

/// A book's quota-used-bytes, and the sum of its members' getcontentlength.
async fn sizes(s: &Server, user: &str, book: &str) -> (i64, i64) {
    let r = s.propfind(user, book, "1", SIZES).await;
    r.assert(207);
    let quota = between(&r.body, "<d:quota-used-bytes>", "<").expect("quota-used-bytes").parse().unwrap();
    let members = r.body.split("<d:getcontentlength>").skip(1).map(|p| p.split('<').next().unwrap().parse::<i64>());
    (quota, members.map(Result::unwrap).sum())
}

/// RFC 4331 §4: quota-used-bytes is what the book's cards take. It is kept as a running total by the database
/// (no card summed on a PROPFIND), and must follow every way a card enters, changes in or leaves a book.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_used_bytes_follows_every_change() {
    let s = Server::start().await;
    let ann = s.new_user("ann@example.com").await;
    let mine = contacts(&ann.email);
    let label = s.app.service.create_label(&ann, None, "Clients", "").await.unwrap().id;
    let in_label = format!("/dav/addressbooks/{}/{label}/", ann.email);
    let check = |what: &'static str| {
        let (s, email, mine, in_label) = (&s, ann.email.clone(), mine.clone(), in_label.clone());
        async move {
            for book in [&mine, &in_label] {
                let (quota, sum) = sizes(s, &email, book).await;
                assert_eq!(quota, sum, "{what}: {book}");
            }
        }
    };
    check("empty").await;
    for (name, body) in [("a", "Ann"), ("b", "Bea")] {
        s.put_card(&ann.email, &format!("{mine}{name}.vcf"), &vcard3(name, body)).await.assert(201);
    }
    s.put_card(&ann.email, &format!("{in_label}c.vcf"), &vcard3("c", "Cy")).await.assert(201);
    check("created in My contacts and in the label").await;
    assert!(sizes(&s, &ann.email, &mine).await.0 > 0);
    s.put_card(&ann.email, &format!("{mine}a.vcf"), &vcard3("a", "Ann with a much longer name")).await.assert(204);
    s.put_card(&ann.email, &format!("{in_label}c.vcf"), &vcard3("c", "Cy, grown")).await.assert(204);
    check("edited").await;
    let into = s.app.service.open_book(&ann, &label).await.unwrap();
    let from = s.app.service.open_book(&ann, "contacts").await.unwrap();
    let a_id = s.app.service.get_card(&from, "a.vcf", false).await.unwrap().meta.contact_id;
    s.app.service.add_to_label(&into, &from, &[a_id]).await.unwrap();
    check("added to the label").await;
    s.as_user(&ann.email, "DELETE", &format!("{in_label}c.vcf"), &[], "").await.assert(204);
    check("taken off the label").await;
    s.as_user(&ann.email, "DELETE", &format!("{mine}a.vcf"), &[], "").await.assert(204);
    check("deleted (into the trash, off every label)").await;
    let trash = s.app.service.trash(&ann).await.unwrap();
    for c in &trash.contacts {
        s.app.service.restore_contact(&ann, c.contact_id).await.unwrap();
    }
    for m in &trash.memberships {
        s.app.service.restore_membership(&ann, &m.label_id, m.membership_id).await.unwrap();
    }
    check("restored").await;
    s.as_user(&ann.email, "DELETE", &format!("{mine}b.vcf"), &[], "").await.assert(204);
    s.app.store.clock.advance(Duration::from_secs(40 * 86_400));
    assert!(s.app.store.purge_trash(30).await.unwrap() > 0);
    check("purged").await;
    // The combined book counts its parts' totals.
    let (all, _) = sizes(&s, &ann.email, &format!("/dav/addressbooks/{}/all/", ann.email)).await;
    assert_eq!(all, sizes(&s, &ann.email, &mine).await.0);
    s.stop().await;
}
