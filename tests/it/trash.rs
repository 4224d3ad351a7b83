//! Trash and restore (DESIGN §5: nothing a collaborator deletes is beyond the owner's undo), and purging.

use crate::common::*;
use labelbook::service::Grantee;
use labelbook::service::access::Level;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_contact_comes_back_with_its_labels() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let user = s.record(&ann).await;
    let label = s.app.service.create_label(&user, None, "Team", "").await.unwrap();
    let book = format!("{}{}/", home(&ann), label.id);
    s.put_card(&ann, &format!("{book}m.vcf"), &vcard3("m", "Mia")).await.assert(201);
    let token = s.sync_token(&ann, &book).await;
    s.as_user(&ann, "DELETE", &format!("{}m.vcf", contacts(&ann)), &[], "").await.assert(204);
    s.as_user(&ann, "GET", &format!("{book}m.vcf"), &[], "").await.assert(404);
    let trash = s.app.service.trash(&user).await.unwrap();
    assert_eq!(trash.contacts.len(), 1);
    assert_eq!(trash.contacts[0].fn_, "Mia");
    s.app.service.restore_contact(&user, trash.contacts[0].contact_id).await.unwrap();
    // Back in My contacts and on the label, and a client syncing the label sees it present (RFC 6578 §3.5).
    s.as_user(&ann, "GET", &format!("{}m.vcf", contacts(&ann)), &[], "").await.assert(200);
    s.as_user(&ann, "GET", &format!("{book}m.vcf"), &[], "").await.assert(200);
    s.report(&ann, &book, &sync_body(&token, "")).await.assert(207).contains("m.vcf</d:href><d:propstat>");
    assert!(s.app.service.trash(&user).await.unwrap().contacts.is_empty());
    // Restoring twice is refused.
    assert!(s.app.service.restore_contact(&user, trash.contacts[0].contact_id).await.is_err());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_collaborator_removes_the_owner_and_managers_can_put_back() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let owner = s.record(&ann).await;
    let label = s.app.service.create_label(&owner, None, "Clients", "").await.unwrap();
    let mut users = Vec::new();
    for (email, level) in
        [("del@example.com", Level::Delete), ("edit@example.com", Level::Edit), ("mgr@example.com", Level::Share)]
    {
        s.user(email).await;
        let u = s.record(email).await;
        let g = s.app.service.share(&owner, &label.id, &Grantee::User(email.to_string()), level, true).await.unwrap();
        s.app.service.respond(&u, g.id, true).await.unwrap();
        users.push(u);
    }
    let book = |who: &str| format!("/dav/addressbooks/{who}/{}/", label.id);
    s.put_card(&ann, &format!("{}c.vcf", book(&ann)), &vcard3("c", "Client")).await.assert(201);
    // The delete-level collaborator takes the card off the label.
    s.as_user("del@example.com", "DELETE", &format!("{}c.vcf", book("del@example.com")), &[], "").await.assert(204);
    // The owner sees the removal in the trash; the contact itself was never deleted.
    let trash = s.app.service.trash(&owner).await.unwrap();
    assert!(trash.contacts.is_empty());
    assert_eq!(trash.memberships.len(), 1);
    let removed = &trash.memberships[0];
    assert_eq!(removed.fn_, "Client");
    // Below share level nobody restores, and their trash does not list the label's removals.
    assert!(s.app.service.restore_membership(&users[1], &label.id, removed.membership_id).await.is_err());
    assert!(s.app.service.trash(&users[1]).await.unwrap().memberships.is_empty());
    // A share-level collaborator can.
    assert_eq!(s.app.service.trash(&users[2]).await.unwrap().memberships.len(), 1);
    s.app.service.restore_membership(&users[2], &label.id, removed.membership_id).await.unwrap();
    s.as_user("del@example.com", "GET", &format!("{}c.vcf", book("del@example.com")), &[], "")
        .await
        .assert(200)
        .contains("FN:Client");
    assert!(s.app.service.restore_membership(&owner, &label.id, removed.membership_id).await.is_err(), "already back");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_never_overwrites_what_took_the_place() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let user = s.record(&ann).await;
    let url = format!("{}x.vcf", contacts(&ann));
    s.put_card(&ann, &url, &vcard3("x-old", "Old")).await.assert(201);
    s.as_user(&ann, "DELETE", &url, &[], "").await.assert(204);
    s.put_card(&ann, &url, &vcard3("x-new", "New")).await.assert(201);
    let token = s.sync_token(&ann, &contacts(&ann)).await;
    let trash = s.app.service.trash(&user).await.unwrap();
    let err = s.app.service.restore_contact(&user, trash.contacts[0].contact_id).await.unwrap_err();
    assert!(err.to_string().contains("x.vcf"), "{err}");
    s.as_user(&ann, "GET", &url, &[], "").await.contains("FN:New");
    assert_eq!(s.sync_token(&ann, &contacts(&ann)).await, token);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_trash_invalidates_older_sync_tokens() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    s.put_card(&ann, &format!("{book}a.vcf"), &vcard3("a", "A")).await.assert(201);
    s.put_card(&ann, &format!("{book}b.vcf"), &vcard3("b", "B")).await.assert(201);
    let old = s.sync_token(&ann, &book).await;
    s.as_user(&ann, "DELETE", &format!("{book}a.vcf"), &[], "").await.assert(204);
    let after_delete = s.sync_token(&ann, &book).await;
    // Purge everything in the trash, whatever its age.
    assert!(s.app.store.purge_trash(-1).await.unwrap() >= 1);
    let user = s.record(&ann).await;
    assert!(s.app.service.trash(&user).await.unwrap().contacts.is_empty());
    // RFC 6578 §3.2: a token from before the purged delete cannot be answered exactly any more...
    s.report(&ann, &book, &sync_body(&old, "")).await.assert(403).contains("valid-sync-token");
    // ...one from after it still can, and an initial sync always can.
    s.report(&ann, &book, &sync_body(&after_delete, "")).await.assert(207);
    s.report(&ann, &book, &sync_body("", "")).await.assert(207).contains("b.vcf").lacks("a.vcf");
    s.stop().await;
}
