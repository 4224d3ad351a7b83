//! Ownership transfer and account deletion: a label moves to a collaborator with its contacts, the
//! previous owner stays on at share level unless removed, and an account that owns labels cannot be deleted.

use crate::common::*;
use labelbook::service::access::{Action, Level};
use labelbook::service::{Grantee, ServiceError};
use labelbook::store::User;

struct World {
    s: Server,
    ann: User,
    bob: User,
    carol: User,
    label: String,
    private: String,
}

impl World {
    fn in_label(&self, who: &User, name: &str) -> String {
        format!("/dav/addressbooks/{}/{}/{name}", who.email, self.label)
    }

    /// `who` hands the label to `to` (both by name, at example.com), keeping access.
    async fn transfer(&self, who: &str, to: &str) -> Result<(), ServiceError> {
        let who = self.s.app.store.user_by_email(&format!("{who}@example.com")).await.unwrap().unwrap();
        self.s.app.service.transfer_label(&who, &self.label, &format!("{to}@example.com"), true).await
    }

    async fn my_contacts(&self, who: &User) -> Vec<(String, String)> {
        let view = self.s.app.service.open_book_anywhere(who, "contacts").await.unwrap();
        let page = self.s.app.service.list_cards_page(&view, true, 0, 100).await.unwrap();
        let mut out: Vec<(String, String)> =
            page.into_iter().map(|(_, c)| (c.meta.href, String::from_utf8(c.vcard).unwrap())).collect();
        out.sort();
        out
    }
}

/// Ann owns "Clients" (Jane, and Kim who is also on Ann's "Private"); Bob edits it, Carol views it without TEL,
/// Dave is a stranger.
async fn world() -> World {
    let s = Server::start().await;
    for who in ["ann", "bob", "carol", "dave"] {
        s.user(&format!("{who}@example.com")).await;
    }
    let store = s.app.store.clone();
    let get = |e: String| {
        let store = store.clone();
        async move { store.user_by_email(&e).await.unwrap().unwrap() }
    };
    let ann = get("ann@example.com".into()).await;
    let bob = get("bob@example.com".into()).await;
    let carol = get("carol@example.com".into()).await;
    let label = s.app.service.create_label(&ann, None, "Clients", "").await.unwrap().id;
    let private = s.app.service.create_label(&ann, None, "Private", "").await.unwrap().id;
    let g = s.app.service.share(&ann, &label, &Grantee::parse(&bob.email), Level::Edit, true).await.unwrap();
    s.app.service.respond(&bob, g.id, true).await.unwrap();
    let g = s.app.service.share(&ann, &label, &Grantee::parse(&carol.email), Level::View, true).await.unwrap();
    s.app.service.respond(&carol, g.id, true).await.unwrap();
    s.app.service.set_hidden_fields(&ann, g.id, &["TEL"]).await.unwrap();
    let w = World { s, ann, bob, carol, label, private };
    let jane = vcard3("jane-1", "Jane").replace("END:VCARD", "TEL:+1 555 0100\r\nEND:VCARD");
    w.s.put_card(&w.ann.email, &w.in_label(&w.ann, "jane.vcf"), &jane).await.assert(201);
    let kim = vcard3("kim-1", "Kim");
    w.s.put_card(&w.ann.email, &w.in_label(&w.ann, "kim.vcf"), &kim).await.assert(201);
    // Thunderbird-style copy of Kim into Private: the same contact, labelled twice.
    w.s.put_card(&w.ann.email, &format!("/dav/addressbooks/{}/{}/kim.vcf", w.ann.email, w.private), &kim)
        .await
        .assert(201);
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transferred_label_brings_its_contacts_and_the_old_owner_stays_at_share_level() {
    let w = world().await;
    let (ann, bob, carol) = (&w.ann, &w.bob, &w.carol);
    w.s.put_card(&bob.email, &w.in_label(bob, "jane.vcf"), &vcard3("jane-1", "Jane Q.")).await.assert(204);
    let carol_sees = w.s.as_user(&carol.email, "GET", &w.in_label(carol, "jane.vcf"), &[], "").await;
    let carol_etag = carol_sees.assert(200).etag();
    let bob_label = format!("/dav/addressbooks/{}/{}/", bob.email, w.label);
    let label_token = w.s.sync_token(&bob.email, &bob_label).await;
    let bob_token = w.s.sync_token(&bob.email, &contacts(&bob.email)).await;
    let ann_before = w.my_contacts(ann).await;

    // Refusals first: none changes anything.
    let t = |who: &'static str, to: &'static str| w.transfer(who, to);
    assert!(matches!(t("carol", "bob").await, Err(ServiceError::Forbidden(Action::Administer))));
    assert!(matches!(t("bob", "bob").await, Err(ServiceError::Forbidden(Action::Administer))));
    assert!(matches!(t("dave", "bob").await, Err(ServiceError::NotFound)));
    assert!(matches!(t("ann", "dave").await, Err(ServiceError::Invalid(m)) if m.contains("does not collaborate")));
    assert!(matches!(t("ann", "nobody").await, Err(ServiceError::Invalid(_))));
    assert!(matches!(t("ann", "ann").await, Err(ServiceError::Invalid(_))));
    assert_eq!(w.s.app.store.label(&w.label).await.unwrap().unwrap().owner_id, ann.id);

    t("ann", "bob").await.unwrap();
    assert_eq!(w.s.app.store.label(&w.label).await.unwrap().unwrap().owner_id, bob.id);
    // Bob's My contacts now hold the label's contacts, under the names they had, and his sync reports them.
    let bobs = w.my_contacts(bob).await;
    assert_eq!(bobs.len(), 2, "{bobs:?}");
    assert!(bobs.iter().any(|(_, v)| v.contains("FN:Jane Q.")) && bobs.iter().any(|(_, v)| v.contains("FN:Kim")));
    let delta = w.s.report(&bob.email, &contacts(&bob.email), &sync_body(&bob_token, "")).await;
    delta.assert(207).contains("contacts/jane.vcf").contains("contacts/kim.vcf");
    // Ann keeps her own contacts, Kim stays on her Private label.
    assert_eq!(w.my_contacts(ann).await, ann_before);
    w.s.as_user(&ann.email, "GET", &format!("/dav/addressbooks/{}/{}/kim.vcf", ann.email, w.private), &[], "")
        .await
        .assert(200);
    // The label's members see the same names and ETags (Carol's still filtered).
    let again = w.s.as_user(&carol.email, "GET", &w.in_label(carol, "jane.vcf"), &[], "").await;
    assert_eq!(again.assert(200).etag(), carol_etag);
    again.lacks("+1 555");
    w.s.report(&bob.email, &bob_label, &sync_body(&label_token, "")).await.assert(207);

    // Bob is the owner now (RFC 3744 §5.4 current-user-privilege-set), Ann a share-level collaborator.
    let privs = r#"<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-privilege-set/></d:prop></d:propfind>"#;
    w.s.propfind(&bob.email, &bob_label, "0", privs).await.assert(207).contains("unbind").contains("write-properties");
    let ann_label = format!("/dav/addressbooks/{}/{}/", ann.email, w.label);
    w.s.propfind(&ann.email, &ann_label, "0", privs).await.assert(207).contains("write-properties");
    assert!(matches!(
        w.s.app.service.rename_label(ann, &w.label, "Mine again").await,
        Err(ServiceError::Forbidden(Action::Administer))
    ));
    w.s.app.service.rename_label(bob, &w.label, "Clients (Bob)").await.unwrap();
    // An edit through the label is Bob's contact's; Ann's own Jane no longer moves with it.
    let jane_r = vcard3("jane-1", "Jane R.").replace("END:VCARD", "TEL:+1 555 0199\r\nEND:VCARD");
    w.s.put_card(&ann.email, &w.in_label(ann, "jane.vcf"), &jane_r).await.assert(204);
    assert!(w.my_contacts(bob).await.iter().any(|(_, v)| v.contains("FN:Jane R.")));
    assert!(w.my_contacts(ann).await.iter().any(|(_, v)| v.contains("FN:Jane Q.")));
    // Bob's copy kept Jane's history, and says how it came to him.
    let id = {
        let view = w.s.app.service.open_book_anywhere(bob, &w.label).await.unwrap();
        w.s.app.service.contact_id_at(&view, "jane.vcf").await.unwrap()
    };
    let h: Vec<String> =
        w.s.app
            .service
            .contact_history(bob, id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| format!("{} {}", e.activity.action, e.activity.actor))
            .collect();
    assert_eq!(
        h,
        ["edited ann@example.com", "transferred ann@example.com", "edited bob@example.com", "created ann@example.com"]
    );

    // Transferring on without keeping access: Carol, who only viewed it without TEL, owns it (and sees all of
    // it), and Bob has no way in.
    w.s.app.service.transfer_label(bob, &w.label, &carol.email, false).await.unwrap();
    w.s.propfind(&bob.email, &bob_label, "0", "").await.assert(404);
    let carols = w.s.as_user(&carol.email, "GET", &w.in_label(carol, "jane.vcf"), &[], "").await;
    carols.assert(200).contains("+1 555");
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_who_has_the_contact_already_gets_no_duplicate_and_what_was_taken_off_stays_put() {
    let w = world().await;
    let (ann, bob) = (&w.ann, &w.bob);
    // Bob has Kim in his own My contacts already (same UID), with his own details.
    let his = vcard3("kim-1", "Kim (Bob's)");
    w.s.put_card(&bob.email, &format!("{}kim-b.vcf", contacts(&bob.email)), &his).await.assert(201);
    // Jane was taken off the label before the transfer: she stays Ann's, and out of the new owner's trash.
    w.s.as_user(&ann.email, "DELETE", &w.in_label(ann, "jane.vcf"), &[], "").await.assert(204);
    let removed = w.s.app.service.trash(ann).await.unwrap().memberships[0].membership_id;
    w.s.app.service.transfer_label(ann, &w.label, &bob.email, true).await.unwrap();
    let bobs = w.my_contacts(bob).await;
    assert_eq!(bobs.len(), 1, "no copy of Kim, whom he has: {bobs:?}");
    w.s.as_user(&bob.email, "GET", &w.in_label(bob, "kim.vcf"), &[], "").await.assert(200).contains("Kim (Bob's)");
    assert!(w.s.app.service.trash(bob).await.unwrap().memberships.is_empty());
    assert!(matches!(
        w.s.app.service.restore_membership(bob, &w.label, removed).await,
        Err(ServiceError::Conflict(m)) if m.contains("previous owner")
    ));
    w.s.as_user(&bob.email, "GET", &w.in_label(bob, "jane.vcf"), &[], "").await.assert(404);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_owns_labels_cannot_be_deleted_until_they_are_handed_on() {
    let w = world().await;
    let (ann, bob) = (&w.ann, &w.bob);
    let refused = w.s.app.service.delete_user(ann).await;
    assert!(
        matches!(&refused, Err(ServiceError::Conflict(m)) if m.contains("Clients") && m.contains("Private")),
        "{refused:?}"
    );
    w.s.as_user(&ann.email, "PROPFIND", &contacts(&ann.email), &[("depth", "0")], "").await.assert(207);
    w.s.app.service.transfer_label(ann, &w.label, &bob.email, true).await.unwrap();
    w.s.app.service.delete_label(ann, &w.private).await.unwrap();
    w.s.app.service.delete_user(ann).await.unwrap();
    // Her logins stop at once, her grant is gone, and the label lives on with Bob, its activity still naming her.
    w.s.as_user(&ann.email, "PROPFIND", &contacts(&ann.email), &[("depth", "0")], "").await.assert(401);
    assert!(w.s.app.store.user_by_email(&ann.email).await.unwrap().is_none());
    let grants = w.s.app.service.grants(bob, &w.label).await.unwrap();
    assert!(grants.iter().all(|g| g.grantee != ann.email));
    w.s.as_user(&bob.email, "GET", &w.in_label(bob, "jane.vcf"), &[], "").await.assert(200);
    let log = w.s.app.service.label_activity(bob, &w.label, None, 100).await.unwrap();
    assert!(log.iter().any(|a| a.actor == ann.email && a.action == "added"));
    // The address can be used again, for a fresh account with nothing of hers.
    w.s.user(&ann.email).await;
    let fresh = w.s.record(&ann.email).await;
    assert!(w.my_contacts(&fresh).await.is_empty());
    assert!(w.s.app.service.shared_with(&fresh).await.unwrap().is_empty());
    w.s.stop().await;
}
