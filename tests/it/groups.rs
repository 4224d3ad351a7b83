//! Sharing with groups and whole domains: grants that reach members present and future, the
//! highest level winning, members leaving and toggling devices on their own, and the administration of domains
//! and groups. Observed over CardDAV in each member's own home.

use crate::common::*;
use labelbook::service::access::Level;
use labelbook::service::{Grantee, ServiceError};
use labelbook::store::User;

struct World {
    s: Server,
    ann: User,
    label: String,
}

impl World {
    fn book(&self, who: &str) -> String {
        format!("/dav/addressbooks/{who}/{}/", self.label)
    }

    async fn user(&self, email: &str) -> User {
        self.s.user(email).await;
        self.s.record(email).await
    }

    /// The status `who` gets for a Depth 0 PROPFIND of the label in their home (404: not there for them).
    async fn sees(&self, who: &str) -> u16 {
        self.s.propfind(who, &self.book(who), "0", "").await.status.as_u16()
    }

    /// Whether the label is listed in `who`'s home (RFC 6352 §6: clients find books by Depth 1 on the home).
    async fn listed(&self, who: &str) -> bool {
        let r = self.s.propfind(who, &home(who), "1", "").await;
        r.assert(207);
        r.body.contains(&self.label)
    }
}

/// Ann (example.com, the primary domain) owns "Partners" with one card; example.org is a secondary domain.
async fn world() -> World {
    let s = Server::start().await;
    s.app.service.add_domain(&Admin::console(), "example.com", false, false).await.unwrap();
    s.app.service.add_domain(&Admin::console(), "example.org", false, false).await.unwrap();
    s.user("ann@example.com").await;
    let ann = s.record("ann@example.com").await;
    let label = s.app.service.create_label(&ann, None, "Partners", "").await.unwrap().id;
    let w = World { s, ann, label };
    w.s.put_card(&w.ann.email, &format!("{}p.vcf", w.book(&w.ann.email)), &vcard3("p", "Partner")).await.assert(201);
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_grant_reaches_members_present_and_future() {
    let w = world().await;
    let svc = &w.s.app.service;
    let bob = w.user("bob@example.com").await;
    let carl = w.user("carl@example.org").await;
    svc.add_group(&Admin::console(), "sales").await.unwrap();
    svc.set_group_member(&Admin::console(), "sales", &bob.email, true).await.unwrap();
    let g = svc.share(&w.ann, &w.label, &Grantee::parse("group:sales"), Level::Edit, true).await.unwrap();
    assert_eq!((g.grantee_kind.as_str(), g.status.as_str()), ("group", "accepted"), "no one to accept it");

    // RFC 6352 §6: the label is in the member's own home, at the group's level.
    assert!(w.listed(&bob.email).await);
    w.s.put_card(&bob.email, &format!("{}b.vcf", w.book(&bob.email)), &vcard3("b", "From Bob")).await.assert(201);
    w.s.as_user(&bob.email, "DELETE", &format!("{}p.vcf", w.book(&bob.email)), &[], "").await.assert(403);
    // A future member: Carl, of the other domain, finds it as soon as he joins, and loses it when he leaves.
    assert_eq!(w.sees(&carl.email).await, 404);
    svc.set_group_member(&Admin::console(), "sales", &carl.email, true).await.unwrap();
    assert_eq!(w.sees(&carl.email).await, 207);
    assert!(w.listed(&carl.email).await);
    svc.set_group_member(&Admin::console(), "sales", &carl.email, false).await.unwrap();
    assert_eq!(w.sees(&carl.email).await, 404);
    assert!(!w.listed(&carl.email).await);
    // Removing the group revokes its grants.
    svc.remove_group(&Admin::console(), "sales").await.unwrap();
    assert_eq!(w.sees(&bob.email).await, 404);
    assert_eq!(w.s.app.store.grant(g.id).await.unwrap().unwrap().status, "revoked");
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_highest_level_among_reaching_grants_wins() {
    let w = world().await;
    let svc = &w.s.app.service;
    let bob = w.user("bob@example.com").await;
    let direct = svc.share(&w.ann, &w.label, &Grantee::parse(&bob.email), Level::View, true).await.unwrap();
    svc.respond(&bob, direct.id, true).await.unwrap();
    svc.add_group(&Admin::console(), "managers").await.unwrap();
    svc.set_group_member(&Admin::console(), "managers", &bob.email, true).await.unwrap();
    let card = format!("{}p.vcf", w.book(&bob.email));
    // RFC 3744 §5.4: the privileges reported are those of the highest level reaching him.
    let privs = r#"<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-privilege-set/></d:prop></d:propfind>"#;
    w.s.propfind(&bob.email, &w.book(&bob.email), "0", privs).await.assert(207).lacks("<d:unbind/>");
    let group = svc.share(&w.ann, &w.label, &Grantee::parse("group:managers"), Level::Delete, true).await.unwrap();
    w.s.propfind(&bob.email, &w.book(&bob.email), "0", privs).await.assert(207).contains("<d:unbind/>");
    svc.revoke(&w.ann, group.id).await.unwrap();
    let token = w.s.sync_token(&w.ann.email, &w.book(&w.ann.email)).await;
    w.s.as_user(&bob.email, "DELETE", &card, &[], "").await.assert(403);
    assert_eq!(w.s.sync_token(&w.ann.email, &w.book(&w.ann.email)).await, token, "a refusal changes nothing");
    svc.share(&w.ann, &w.label, &Grantee::parse("group:managers"), Level::Delete, true).await.unwrap();
    w.s.as_user(&bob.email, "DELETE", &card, &[], "").await.assert(204);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_grant_reaches_everyone_in_that_domain_only() {
    let w = world().await;
    let svc = &w.s.app.service;
    let dan = w.user("dan@example.org").await;
    let eve = w.user("eve@example.com").await;
    svc.share(&w.ann, &w.label, &Grantee::parse("domain:Example.ORG"), Level::View, true).await.unwrap();
    assert_eq!(w.sees(&dan.email).await, 207);
    assert_eq!(w.sees(&eve.email).await, 404, "another domain's users do not even learn the label exists");
    w.s.as_user(&dan.email, "GET", &format!("{}p.vcf", w.book(&dan.email)), &[], "").await.assert(200);
    w.s.put_card(&dan.email, &format!("{}d.vcf", w.book(&dan.email)), &vcard3("d", "D")).await.assert(403);
    // A user who joins the domain later is reached too.
    let fay = w.user("fay@example.org").await;
    assert_eq!(w.sees(&fay.email).await, 207);
    // Only the server's own domains can be shared with, and accounts live in them.
    let e = svc.share(&w.ann, &w.label, &Grantee::parse("domain:example.net"), Level::View, true).await;
    assert!(matches!(&e, Err(ServiceError::Field(f)) if f.field == "grantee"), "{e:?}");
    let e = w.s.app.accounts.create_user("gus@example.net", PASSWORD, false).await;
    assert!(e.unwrap_err().to_string().contains("not one of this server's domains"));
    // A domain still in use cannot be removed; the primary goes last.
    assert!(matches!(svc.remove_domain(&Admin::console(), "example.org").await, Err(ServiceError::Conflict(_))));
    assert!(matches!(svc.remove_domain(&Admin::console(), "nowhere.test").await, Err(ServiceError::Missing(_))));
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_leaves_or_hides_a_group_share_on_their_own() {
    let w = world().await;
    let svc = &w.s.app.service;
    let bob = w.user("bob@example.com").await;
    let carl = w.user("carl@example.com").await;
    svc.add_group(&Admin::console(), "team").await.unwrap();
    for m in [&bob, &carl] {
        svc.set_group_member(&Admin::console(), "team", &m.email, true).await.unwrap();
    }
    let g = svc.share(&w.ann, &w.label, &Grantee::parse("group:team"), Level::Edit, true).await.unwrap();
    // A collaborator's DELETE of the label collection means leaving it, for them only.
    w.s.as_user(&bob.email, "DELETE", &w.book(&bob.email), &[], "").await.assert(204);
    assert_eq!(w.sees(&bob.email).await, 404);
    assert_eq!(w.sees(&carl.email).await, 207, "the group's grant stays for the others");
    w.s.as_user(&w.ann.email, "GET", &format!("{}p.vcf", w.book(&w.ann.email)), &[], "").await.assert(200);
    assert_eq!(w.s.app.store.grant(g.id).await.unwrap().unwrap().status, "accepted");
    // He can come back.
    assert_eq!(svc.respond(&bob, g.id, true).await.unwrap().status, "accepted");
    assert_eq!(w.sees(&bob.email).await, 207);
    // The device toggle is his own: off, the label leaves his CardDAV home only.
    assert!(!svc.set_devices(&bob, g.id, false).await.unwrap().sync_devices);
    assert_eq!(w.sees(&bob.email).await, 404);
    assert!(!w.listed(&bob.email).await);
    assert_eq!(w.sees(&carl.email).await, 207);
    assert!(svc.shared_with(&bob).await.unwrap().iter().any(|(l, r)| l.id == w.label && r.level == Level::Edit));
    svc.set_devices(&bob, g.id, true).await.unwrap();
    assert_eq!(w.sees(&bob.email).await, 207);
    // Someone the group does not reach cannot answer for it.
    let eve = w.user("eve@example.com").await;
    assert!(matches!(svc.respond(&eve, g.id, false).await, Err(ServiceError::NotFound)));
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managing_group_and_domain_grants_follows_the_levels() {
    let w = world().await;
    let svc = &w.s.app.service;
    let mia = w.user("mia@example.com").await;
    let ned = w.user("ned@example.com").await;
    svc.add_group(&Admin::console(), "leads").await.unwrap();
    svc.set_group_member(&Admin::console(), "leads", &mia.email, true).await.unwrap();
    let leads = svc.share(&w.ann, &w.label, &Grantee::parse("group:leads"), Level::Share, true).await.unwrap();
    let direct = svc.share(&w.ann, &w.label, &Grantee::parse(&ned.email), Level::Edit, true).await.unwrap();
    svc.respond(&ned, direct.id, true).await.unwrap();
    // Below share level nobody shares with a group or a domain.
    let e = svc.share(&ned, &w.label, &Grantee::parse("domain:example.org"), Level::View, true).await;
    assert!(matches!(e, Err(ServiceError::Forbidden(_))), "{e:?}");
    // A manager through a group shares up to that level, and manages other grants ...
    svc.add_group(&Admin::console(), "interns").await.unwrap();
    let interns = svc.share(&mia, &w.label, &Grantee::parse("group:interns"), Level::View, true).await.unwrap();
    svc.set_grant_level(&mia, interns.id, Level::Edit).await.unwrap();
    // ... but not the grant that makes her a manager.
    assert!(matches!(svc.set_grant_level(&mia, leads.id, Level::View).await, Err(ServiceError::Invalid(_))));
    assert!(matches!(svc.revoke(&mia, leads.id).await, Err(ServiceError::Invalid(_))));
    // Duplicates, unknown groups.
    assert!(matches!(
        svc.share(&w.ann, &w.label, &Grantee::parse("group:leads"), Level::View, true).await,
        Err(ServiceError::Conflict(_))
    ));
    assert!(matches!(
        svc.share(&w.ann, &w.label, &Grantee::parse("group:nobody"), Level::View, true).await,
        Err(ServiceError::Field(f)) if f.field == "grantee"
    ));
    assert!(matches!(svc.add_group(&Admin::console(), "leads").await, Err(ServiceError::Conflict(_))));
    assert!(matches!(svc.add_group(&Admin::console(), "a:b").await, Err(ServiceError::Invalid(_))));
    assert!(matches!(
        svc.set_group_member(&Admin::console(), "leads", &mia.email, true).await,
        Err(ServiceError::Conflict(_))
    ));
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_accepting_domain_skips_the_invitation() {
    let w = world().await;
    let svc = &w.s.app.service;
    let olga = w.user("olga@example.org").await;
    let pat = w.user("pat@example.com").await;
    svc.set_domain(&Admin::console(), "example.org", false, Some(true)).await.unwrap();
    let g = svc.share(&w.ann, &w.label, &Grantee::parse(&olga.email), Level::View, true).await.unwrap();
    assert_eq!(g.status, "accepted");
    assert_eq!(w.sees(&olga.email).await, 207);
    let g = svc.share(&w.ann, &w.label, &Grantee::parse(&pat.email), Level::View, true).await.unwrap();
    assert_eq!(g.status, "pending");
    assert_eq!(w.sees(&pat.email).await, 404);
    // Primary moves; a domain without accounts goes, and its domain grants are revoked.
    let d = svc.set_domain(&Admin::console(), "example.org", true, None).await.unwrap();
    assert!(d.is_primary && d.auto_accept);
    assert!(svc.domains(&Admin::console()).await.unwrap().iter().filter(|d| d.is_primary).count() == 1);
    svc.add_domain(&Admin::console(), "example.net", false, false).await.unwrap();
    let g = svc.share(&w.ann, &w.label, &Grantee::parse("domain:example.net"), Level::View, true).await.unwrap();
    svc.remove_domain(&Admin::console(), "example.net").await.unwrap();
    assert_eq!(w.s.app.store.grant(g.id).await.unwrap().unwrap().status, "revoked");
    assert!(matches!(
        svc.add_domain(&Admin::console(), "example.com", false, false).await,
        Err(ServiceError::Conflict(_))
    ));
    assert!(matches!(
        svc.add_domain(&Admin::console(), "not a domain", false, false).await,
        Err(ServiceError::Invalid(_))
    ));
    w.s.stop().await;
}

/// Directory writes read before they write; card writes commit all the while. On SQLite a read-first
/// transaction used to fail at once ("database is locked") when another write committed between its read and
/// its write. Bounded: 4 × 100 card writes against 100 domain changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_changes_and_card_writes_at_once_all_succeed() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let writes = |w: usize| {
        let (s, ann) = (&s, ann.clone());
        async move {
            for i in 0..100 {
                let uid = format!("c{w}-{i}");
                s.put_card(&ann, &format!("{}{uid}.vcf", contacts(&ann)), &vcard3(&uid, "C")).await.assert(201);
            }
        }
    };
    let directory = async {
        for i in 0..50 {
            let name = format!("d{i}.example.org");
            s.app.service.add_domain(&Admin::console(), &name, false, false).await.unwrap();
            s.app.service.remove_domain(&Admin::console(), &name).await.unwrap();
        }
    };
    tokio::join!(writes(0), writes(1), writes(2), writes(3), directory);
    s.stop().await;
}

/// RFC 3744 §5.5: DAV:acl lists who may do what: the owner, and everyone a grant reaches now (a group's members,
/// a domain's accounts) at the highest level reaching them. Reading it, and the acl-principal-prop-set report
/// (§9.2), take the share level (DAV:read-acl); every ACE is protected, so the ACL method meets
/// DAV:no-protected-ace-conflict (§8.1.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acl_lists_everyone_a_grant_reaches_for_those_who_manage_it() {
    let w = world().await;
    let svc = &w.s.app.service;
    let bob = w.user("bob@example.com").await;
    let cy = w.user("cy@example.com").await;
    let dan = w.user("dan@example.org").await;
    let eve = w.user("eve@example.com").await;
    let g = svc.share(&w.ann, &w.label, &Grantee::parse(&bob.email), Level::Share, true).await.unwrap();
    svc.respond(&bob, g.id, true).await.unwrap();
    let g = svc.share(&w.ann, &w.label, &Grantee::parse(&cy.email), Level::View, true).await.unwrap();
    svc.respond(&cy, g.id, true).await.unwrap();
    svc.add_group(&Admin::console(), "sales").await.unwrap();
    svc.set_group_member(&Admin::console(), "sales", &cy.email, true).await.unwrap();
    svc.share(&w.ann, &w.label, &Grantee::parse("group:sales"), Level::Edit, true).await.unwrap();
    svc.share(&w.ann, &w.label, &Grantee::parse("domain:example.org"), Level::View, true).await.unwrap();
    // Eve has not answered her invitation: it grants nothing yet.
    svc.share(&w.ann, &w.label, &Grantee::parse(&eve.email), Level::Edit, true).await.unwrap();

    let acl = r#"<d:propfind xmlns:d="DAV:"><d:prop><d:acl/><d:acl-restrictions/></d:prop></d:propfind>"#;
    let r = w.s.propfind(&bob.email, &w.book(&bob.email), "0", acl).await;
    r.assert(207).contains("<d:acl-restrictions><d:grant-only/><d:no-invert/></d:acl-restrictions>");
    let ace = |who: &str| {
        between(&r.body, &format!("<d:href>/dav/principals/{who}/</d:href></d:principal>"), "</d:ace>")
            .map(str::to_string)
    };
    assert!(ace(&w.ann.email).unwrap().contains("<d:all/>"), "{}", r.body);
    let of_bob = ace(&bob.email).unwrap();
    assert!(of_bob.contains("<d:read-acl/>") && of_bob.contains("<d:unbind/>"), "{of_bob}");
    // Cy's direct View and the group's Edit: the higher wins.
    let of_cy = ace(&cy.email).unwrap();
    assert!(of_cy.contains("<d:bind/>") && !of_cy.contains("<d:unbind/>"), "{of_cy}");
    let of_dan = ace(&dan.email).unwrap();
    assert!(of_dan.contains("<d:read/>") && !of_dan.contains("<d:bind/>"), "{of_dan}");
    assert!(ace(&eve.email).is_none(), "{}", r.body);
    assert_eq!(r.body.matches("<d:protected/>").count(), 4, "{}", r.body);
    // Below the share level the ACL exists but cannot be read: 403 for that property alone.
    let r = w.s.propfind(&cy.email, &w.book(&cy.email), "0", acl).await;
    r.assert(207).contains("403 Forbidden").contains("<d:grant-only/>").lacks("<d:ace>");

    let report =
        r#"<d:acl-principal-prop-set xmlns:d="DAV:"><d:prop><d:displayname/></d:prop></d:acl-principal-prop-set>"#;
    let r = w.s.report0(&bob.email, &w.book(&bob.email), report).await;
    r.assert(207);
    for who in [&w.ann.email, &bob.email, &cy.email, &dan.email] {
        r.contains(&format!("<d:href>/dav/principals/{who}/</d:href>"));
    }
    r.lacks(&eve.email);
    w.s.report0(&cy.email, &w.book(&cy.email), report).await.assert(403).contains("<d:read-acl/>");
    // §9.2: Depth 0 only.
    w.s.report(&bob.email, &w.book(&bob.email), report).await.assert(400);
    let body = r#"<d:acl xmlns:d="DAV:"><d:ace><d:principal><d:all/></d:principal><d:grant><d:privilege><d:read/></d:privilege></d:grant></d:ace></d:acl>"#;
    w.s.as_user(&bob.email, "ACL", &w.book(&bob.email), &[], body)
        .await
        .assert(403)
        .contains("no-protected-ace-conflict");
    let token = w.s.sync_token(&w.ann.email, &w.book(&w.ann.email)).await;
    assert_eq!(w.s.sync_token(&w.ann.email, &w.book(&w.ann.email)).await, token);
    w.s.stop().await;
}
