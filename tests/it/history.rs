//! Contact history and label activity: every change made over CardDAV keeps the version it replaced,
//! with who made it and when; each label logs who added, edited, removed, deleted and restored which contact.

use crate::common::*;
use labelbook::service::access::Level;
use labelbook::service::{Grantee, ServiceError};
use labelbook::store::User;

struct World {
    s: Server,
    ann: User,
    bob: User,
    carol: User,
    dave: User,
    label: String,
}

impl World {
    fn card(&self, who: &User) -> String {
        format!("/dav/addressbooks/{}/{}/jane.vcf", who.email, self.label)
    }

    async fn contact_id(&self) -> i64 {
        let view = self.s.app.service.open_book_anywhere(&self.ann, &self.label).await.unwrap();
        self.s.app.service.contact_id_at(&view, "jane.vcf").await.unwrap()
    }

    async fn activity(&self, who: &User) -> Vec<(String, String)> {
        let list = self.s.app.service.label_activity(who, &self.label, None, 100).await.unwrap();
        list.into_iter().rev().map(|a| (a.action, a.actor)).collect()
    }
}

/// Ann owns "Press"; Bob edits it, Carol may delete from it with TEL hidden from her, Dave is a stranger.
async fn world() -> World {
    let s = Server::start().await;
    for who in ["ann", "bob", "carol", "dave"] {
        s.user(&format!("{who}@example.com")).await;
    }
    let get = |e: &'static str| {
        let store = s.app.store.clone();
        async move { store.user_by_email(e).await.unwrap().unwrap() }
    };
    let (ann, bob, carol, dave) = (
        get("ann@example.com").await,
        get("bob@example.com").await,
        get("carol@example.com").await,
        get("dave@example.com").await,
    );
    let label = s.app.service.create_label(&ann, None, "Press", "").await.unwrap().id;
    let g = s.app.service.share(&ann, &label, &Grantee::parse(&bob.email), Level::Edit, true).await.unwrap();
    s.app.service.respond(&bob, g.id, true).await.unwrap();
    let g = s.app.service.share(&ann, &label, &Grantee::parse(&carol.email), Level::Delete, true).await.unwrap();
    s.app.service.respond(&carol, g.id, true).await.unwrap();
    s.app.service.set_hidden_fields(&ann, g.id, &["TEL"]).await.unwrap();
    World { s, ann, bob, carol, dave, label }
}

fn jane(name: &str, tel: &str) -> String {
    vcard3("jane-1", name).replace("END:VCARD", &format!("TEL;TYPE=CELL:{tel}\r\nEND:VCARD"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_keeps_the_version_it_replaced_with_who_and_when() {
    let w = world().await;
    let before = w.s.app.store.clock.now();
    let v1 = jane("Jane Doe", "+1 555 0100");
    w.s.put_card(&w.ann.email, &w.card(&w.ann), &v1).await.assert(201);
    let id = w.contact_id().await;
    // Bob edits it in his copy of the label.
    let v2 = jane("Jane Q. Doe", "+1 555 0100");
    w.s.put_card(&w.bob.email, &w.card(&w.bob), &v2).await.assert(204);
    // Ann edits it in My contacts, where it has its own name.
    let mine = w.s.app.service.open_book_anywhere(&w.ann, "contacts").await.unwrap();
    let href = w.s.app.service.list_cards_page(&mine, false, 0, 10).await.unwrap()[0].1.meta.href.clone();
    let v3 = jane("Jane Doe-Smith", "+1 555 0101");
    w.s.put_card(&w.ann.email, &format!("{}{href}", contacts(&w.ann.email)), &v3).await.assert(204);

    let history = w.s.app.service.contact_history(&w.ann, id).await.unwrap();
    let seen: Vec<(&str, &str)> =
        history.iter().map(|e| (e.activity.action.as_str(), e.activity.actor.as_str())).collect();
    assert_eq!(
        seen,
        [("edited", "ann@example.com"), ("edited", "bob@example.com"), ("created", "ann@example.com")],
        "newest first"
    );
    // Each edit carries exactly the bytes it replaced, and when it happened.
    assert_eq!(history[0].previous.as_ref().unwrap().0, v2.as_bytes());
    assert_eq!(history[1].previous.as_ref().unwrap().0, v1.as_bytes());
    assert!(history[2].previous.is_none());
    assert!(history.iter().all(|e| e.activity.at >= before && e.activity.modseq > 0));
    assert!(history[0].activity.modseq > history[1].activity.modseq);
    assert_eq!(history[0].activity.fn_, "Jane Doe-Smith");

    // Bob, a collaborator, reads the same history; Carol reads it without the TEL hidden from her.
    assert_eq!(w.s.app.service.contact_history(&w.bob, id).await.unwrap(), history);
    let carols = w.s.app.service.contact_history(&w.carol, id).await.unwrap();
    assert_eq!(carols.len(), 3);
    let (old, etag) = carols[1].previous.clone().unwrap();
    let old = String::from_utf8(old).unwrap();
    assert!(!old.contains("+1 555") && old.contains("FN:Jane Doe"), "{old}");
    assert_eq!(etag, labelbook::service::etag_of(old.as_bytes()));
    // A stranger gets nothing, and cannot tell the contact exists.
    assert!(matches!(w.s.app.service.contact_history(&w.dave, id).await, Err(ServiceError::NotFound)));
    assert!(matches!(w.s.app.service.contact_history(&w.dave, id + 1000).await, Err(ServiceError::NotFound)));
    // An unchanged PUT (same bytes) is no new version.
    w.s.put_card(&w.ann.email, &format!("{}{href}", contacts(&w.ann.email)), &v3).await.assert(204);
    assert_eq!(w.s.app.service.contact_history(&w.ann, id).await.unwrap().len(), 3);
    // History lasts history_days: what is older goes, the contact stays.
    assert!(w.s.app.store.purge_history(-1).await.unwrap() > 0);
    assert!(w.s.app.service.contact_history(&w.ann, id).await.unwrap().is_empty());
    assert!(w.s.app.service.label_activity(&w.ann, &w.label, None, 10).await.unwrap().is_empty());
    w.s.as_user(&w.ann.email, "GET", &w.card(&w.ann), &[], "").await.assert(200).contains("Jane Doe-Smith");
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labels_activity_says_who_added_edited_removed_deleted_and_restored() {
    let w = world().await;
    w.s.put_card(&w.bob.email, &w.card(&w.bob), &jane("Jane Doe", "+1 555 0100")).await.assert(201);
    w.s.put_card(&w.bob.email, &w.card(&w.bob), &jane("Jane Q. Doe", "+1 555 0100")).await.assert(204);
    // Carol takes it off the label (RFC 6352 §6.3.2 DELETE in a label: the contact stays Ann's).
    w.s.as_user(&w.carol.email, "DELETE", &w.card(&w.carol), &[], "").await.assert(204);
    let trash = w.s.app.service.trash(&w.ann).await.unwrap();
    let removed = trash.memberships.first().expect("restorable").membership_id;
    w.s.app.service.restore_membership(&w.ann, &w.label, removed).await.unwrap();
    // Ann deletes the contact itself: the label says it was deleted, not merely removed.
    let id = w.contact_id().await;
    let mine = w.s.app.service.open_book_anywhere(&w.ann, "contacts").await.unwrap();
    let href = w.s.app.service.list_cards_page(&mine, false, 0, 10).await.unwrap()[0].1.meta.href.clone();
    w.s.as_user(&w.ann.email, "DELETE", &format!("{}{href}", contacts(&w.ann.email)), &[], "").await.assert(204);
    w.s.app.service.restore_contact(&w.ann, id).await.unwrap();

    let expected = [
        ("added", "bob@example.com"),
        ("edited", "bob@example.com"),
        ("removed", "carol@example.com"),
        ("restored", "ann@example.com"),
        ("deleted", "ann@example.com"),
        ("restored", "ann@example.com"),
    ];
    let got = w.activity(&w.ann).await;
    let got: Vec<(&str, &str)> = got.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(got, expected);
    // Every collaborator who can read the label reads the same log.
    assert_eq!(w.activity(&w.bob).await, w.activity(&w.ann).await);
    assert_eq!(w.activity(&w.carol).await, w.activity(&w.ann).await);
    // The contact's own history, created by Bob in Ann's book.
    let own: Vec<String> =
        w.s.app
            .service
            .contact_history(&w.ann, id)
            .await
            .unwrap()
            .into_iter()
            .rev()
            .map(|e| format!("{} {}", e.activity.action, e.activity.actor))
            .collect();
    assert_eq!(
        own,
        ["created bob@example.com", "edited bob@example.com", "deleted ann@example.com", "restored ann@example.com"]
    );

    // Paging: newest first, then older than the last entry seen.
    let page = w.s.app.service.label_activity(&w.ann, &w.label, None, 2).await.unwrap();
    assert_eq!(page.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(), ["restored", "deleted"]);
    let next = w.s.app.service.label_activity(&w.ann, &w.label, Some(page[1].id), 2).await.unwrap();
    assert_eq!(next.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(), ["restored", "removed"]);
    assert!(matches!(w.s.app.service.label_activity(&w.ann, &w.label, None, 0).await, Err(ServiceError::Invalid(_))));
    // A stranger, or a collaborator whose grant was revoked, gets 404-alike: the label does not exist for them.
    assert!(matches!(w.s.app.service.label_activity(&w.dave, &w.label, None, 10).await, Err(ServiceError::NotFound)));
    let bobs = w.s.app.service.grants(&w.ann, &w.label).await.unwrap();
    let bobs = bobs.iter().find(|g| g.grantee == w.bob.email).unwrap().id;
    w.s.app.service.revoke(&w.ann, bobs).await.unwrap();
    assert!(matches!(w.s.app.service.label_activity(&w.bob, &w.label, None, 10).await, Err(ServiceError::NotFound)));
    assert!(matches!(w.s.app.service.contact_history(&w.bob, id).await, Err(ServiceError::NotFound)));
    // A contact in the trash is its owner's alone.
    w.s.as_user(&w.ann.email, "DELETE", &format!("{}{href}", contacts(&w.ann.email)), &[], "").await.assert(204);
    assert!(matches!(w.s.app.service.contact_history(&w.carol, id).await, Err(ServiceError::NotFound)));
    assert_eq!(w.s.app.service.contact_history(&w.ann, id).await.unwrap().len(), 5);
    w.s.stop().await;
}
