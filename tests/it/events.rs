//! The change bus: every committed change is published to this server's subscribers and, on
//! PostgreSQL, to every other server on the same database through LISTEN/NOTIFY.

use crate::common::*;
use labelbook::app::App;
use labelbook::service::Grantee;
use labelbook::service::access::Level;
use labelbook::store::events::Event;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;

/// The next event, waiting at most two seconds.
async fn next(rx: &mut Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(2), rx.recv()).await.expect("an event within 2 s").expect("no lag")
}

/// Events until one matches, failing after two seconds.
async fn until(rx: &mut Receiver<Event>, want: impl Fn(&Event) -> bool) -> Event {
    loop {
        let e = next(rx).await;
        if want(&e) {
            return e;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_change_is_published_once_committed() {
    let s = Server::start().await;
    s.user("ann@example.com").await;
    s.user("bob@example.com").await;
    let ann = s.record("ann@example.com").await;
    let bob = s.record("bob@example.com").await;
    let mut rx = s.app.store.subscribe();

    let label = s.app.service.create_label(&ann, None, "Press", "").await.unwrap().id;
    assert_eq!(next(&mut rx).await, Event::Label { label_id: label.clone(), owner_id: ann.id });
    let g = s.app.service.share(&ann, &label, &Grantee::parse(&bob.email), Level::Edit, true).await.unwrap();
    assert_eq!(next(&mut rx).await, Event::Sharing { label_id: label.clone() });
    s.app.service.respond(&bob, g.id, true).await.unwrap();
    assert_eq!(next(&mut rx).await, Event::Sharing { label_id: label.clone() });

    // A card PUT into the label over CardDAV: the owner's My contacts and the label, with the write's modseq.
    let card = format!("/dav/addressbooks/{}/{label}/jane.vcf", ann.email);
    s.put_card(&ann.email, &card, &vcard3("jane-1", "Jane")).await.assert(201);
    let seq = s.app.store.current_seq().await.unwrap();
    assert_eq!(next(&mut rx).await, Event::Cards { modseq: seq, owners: vec![ann.id], labels: vec![label.clone()] });
    // Bob's edit through his copy of the label names the same books: everyone showing the contact hears of it.
    let bobs = format!("/dav/addressbooks/{}/{label}/jane.vcf", bob.email);
    s.put_card(&bob.email, &bobs, &vcard3("jane-1", "Jane Q.")).await.assert(204);
    let e = next(&mut rx).await;
    assert!(
        matches!(&e, Event::Cards { owners, labels, .. } if owners == &[ann.id] && labels.as_slice() == std::slice::from_ref(&label)),
        "{e:?}"
    );
    // A refused write publishes nothing: the next event is the rename after it.
    s.as_user(&bob.email, "PUT", &bobs, &[("if-match", "\"stale\"")], vcard3("jane-1", "X")).await.assert(412);
    s.app.service.rename_label(&ann, &label, "Press 2026").await.unwrap();
    assert_eq!(next(&mut rx).await, Event::Label { label_id: label.clone(), owner_id: ann.id });
    // Accounts (another server's credential checks and the dashboard's user lists follow these).
    s.app.accounts.set_password(&bob, "another-good-password", false).await.unwrap();
    assert_eq!(next(&mut rx).await, Event::Account { user_id: bob.id });
    s.app.service.add_group(&Admin::console(), "sales").await.unwrap();
    s.app.service.set_group_member(&Admin::console(), "sales", &bob.email, true).await.unwrap();
    assert_eq!(next(&mut rx).await, Event::Directory);
    s.app.service.delete_label(&ann, &label).await.unwrap();
    assert_eq!(next(&mut rx).await, Event::Label { label_id: label.clone(), owner_id: ann.id });
    assert!(rx.try_recv().is_err(), "nothing else was published");
    s.stop().await;
}

// SQLite has one server per database: on it this test is reported as skipped, and run anyway it fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL only (LABELBOOK_TEST_BACKEND=postgres, --run-ignored all)"]
async fn another_server_on_the_same_postgresql_hears_every_change() {
    require_postgres();
    let s = Server::start().await;
    s.user("ann@example.com").await;
    let ann = s.record("ann@example.com").await;
    // A second server process on the same database, as behind a load balancer.
    let other = App::open(s.db.config()).await.unwrap();
    other.store.spawn_listener();
    let mut theirs = other.store.subscribe();
    let mut ours = s.app.store.subscribe();
    until_heard(&s, &ann, &mut theirs).await;
    while theirs.try_recv().is_ok() {}
    while ours.try_recv().is_ok() {}

    let label = s.app.service.create_label(&ann, None, "Press", "").await.unwrap().id;
    let card = format!("/dav/addressbooks/{}/{label}/jane.vcf", ann.email);
    s.put_card(&ann.email, &card, &vcard3("jane-1", "Jane")).await.assert(201);
    let want =
        |e: &Event| matches!(e, Event::Cards { labels, .. } if labels.as_slice() == std::slice::from_ref(&label));
    let there = until(&mut theirs, want).await;
    let here = until(&mut ours, want).await;
    // The same event, once on each server (this server does not hear its own NOTIFY back).
    assert_eq!(there, here);
    s.app.service.rename_label(&ann, &label, "Press 2026").await.unwrap();
    assert_eq!(next(&mut theirs).await, Event::Label { label_id: label.clone(), owner_id: ann.id });
    assert_eq!(next(&mut ours).await, Event::Label { label_id: label.clone(), owner_id: ann.id });
    assert!(ours.try_recv().is_err(), "no echo of our own NOTIFY");
    other.store.close().await;
    s.stop().await;
}

/// Several servers started at once on one empty PostgreSQL (a deployment's nodes): each tries to make the first
/// administrator; one does, and the others start too instead of failing on the account the first one made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL only (LABELBOOK_TEST_BACKEND=postgres, --run-ignored all)"]
async fn servers_starting_together_make_one_administrator() {
    require_postgres();
    let db = TestDb::new().await;
    let mut apps = Vec::new();
    for _ in 0..3 {
        apps.push(std::sync::Arc::new(App::open(db.config()).await.unwrap()));
    }
    let starts: Vec<_> = apps
        .iter()
        .map(|app| {
            let app = app.clone();
            tokio::spawn(async move { app.bootstrap_admin("root@example.com", Some("a-password-1".into())).await })
        })
        .collect();
    let mut made = 0;
    for s in starts {
        let outcome = s.await.unwrap().expect("every server starts");
        made += usize::from(outcome.is_some());
    }
    assert_eq!(made, 1, "one administrator made");
    assert_eq!(apps[0].store.count_users().await.unwrap(), 1);
    for app in &apps {
        app.store.close().await;
    }
    db.drop_db().await;
}
