//! CardDAV over real HTTP against a server on an ephemeral port. Runs on SQLite, and on PostgreSQL with
//! LABELBOOK_TEST_BACKEND=postgres (same tests, same binary).

use crate::common::*;

const IOS: &str = include_str!("data/ios-17.vcf");
const DAVX5: &str = include_str!("data/davx5-4.0.vcf");
const THUNDERBIRD: &str = include_str!("data/thunderbird-115.vcf");
const APPLE_GROUP: &str = include_str!("data/apple-group.vcf");

const PROPFIND_BOOK: &str = r#"<d:propfind xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cs="http://calendarserver.org/ns/"><d:prop><d:resourcetype/><d:displayname/><cs:getctag/><d:sync-token/><d:getetag/></d:prop></d:propfind>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_from_well_known_to_books() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    // RFC 6764 §5: /.well-known/carddav redirects to the context path.
    let r = s.request("GET", "/.well-known/carddav", None, &[], "").await;
    r.assert(301);
    assert_eq!(r.header("location"), Some("/dav/"));
    // RFC 6352 §6.1: OPTIONS advertises addressbook.
    let r = s.request("OPTIONS", "/dav/", None, &[], "").await;
    r.assert(200);
    assert!(r.header("dav").unwrap().contains("addressbook"));
    assert!(r.header("allow").unwrap().contains("REPORT"));
    // RFC 5397 §3: current-user-principal.
    let r = s
        .propfind(
            &ann,
            "/dav/",
            "0",
            r#"<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>"#,
        )
        .await;
    r.assert(207).contains("<d:href>/dav/principals/ann@example.com/</d:href>");
    // RFC 6352 §7.1.1: addressbook-home-set on the principal.
    let r = s.propfind(&ann, "/dav/principals/ann@example.com/", "0", r#"<d:propfind xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><C:addressbook-home-set/><d:displayname/><d:principal-URL/></d:prop></d:propfind>"#).await;
    r.assert(207).contains("<card:addressbook-home-set><d:href>/dav/addressbooks/ann@example.com/</d:href>");
    // A label made by the CLI's service call shows beside My contacts in the one home.
    let user = s.record(&ann).await;
    let label = s.app.service.create_label(&user, None, "Clients", "").await.unwrap();
    let r = s.propfind(&ann, &home(&ann), "1", PROPFIND_BOOK).await;
    r.assert(207)
        .contains("<d:href>/dav/addressbooks/ann@example.com/contacts/</d:href>")
        .contains(&format!("<d:href>/dav/addressbooks/ann@example.com/{}/</d:href>", label.id))
        .contains("<d:displayname>Clients</d:displayname>")
        .contains("<d:resourcetype><d:collection/><card:addressbook/></d:resourcetype>");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_challenges_and_rate_limits() {
    let s = Server::start_with(|c| c.login_max_failures = 3).await;
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.org").await;
    let cy = s.user("cy@example.com").await;
    let propfind = |who: &str, password: &str| {
        let (s, who, password) = (&s, who.to_string(), password.to_string());
        async move { s.request("PROPFIND", "/dav/", Some((&who, &password)), &[("depth", "0")], "").await }
    };
    // RFC 7617 §2: a challenge when no credentials are sent.
    let r = s.request("PROPFIND", "/dav/", None, &[("depth", "0")], "").await;
    r.assert(401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    // Cy's phone has signed in before.
    propfind(&cy, PASSWORD).await.assert(207);
    for _ in 0..3 {
        propfind(&ann, "wrong").await.assert(401);
    }
    // Ann's account is now locked from this address, even with the right password: 429 with Retry-After
    // (RFC 6585 §4).
    let r = propfind(&ann, PASSWORD).await;
    r.assert(429);
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() > 0);
    // Someone else at the same address (an office behind one NAT) is not locked out by Ann's typing.
    propfind(&bob, PASSWORD).await.assert(207);
    // Guesses at Cy lock guesses out, but not her phone, whose password signed in before.
    for _ in 0..3 {
        propfind(&cy, "guess").await.assert(401);
    }
    propfind(&cy, "guess").await.assert(429);
    propfind(&cy, PASSWORD).await.assert(207);
    // The address as a whole gets ten times the limit across accounts: then it cannot go on guessing.
    for i in 0..24 {
        propfind(&format!("nobody{i}@example.com"), "guess").await.assert(401);
    }
    let dave = s.user("dave@example.com").await;
    propfind(&dave, PASSWORD).await.assert(429);
    propfind(&cy, PASSWORD).await.assert(207);
    s.stop().await;
}

/// Attempts are counted before their password is checked: sixty wrong passwords sent at once get at most the
/// limit's worth of checks (and 401s); the rest are 429 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_guesses_get_no_more_checks_than_the_limit() {
    let s = Server::start_with(|c| c.login_max_failures = 5).await;
    let ann = s.user("ann@example.com").await;
    let guesses = (0..60).map(|i| {
        let (s, ann) = (&s, &ann);
        async move {
            let password = format!("guess-{i}");
            s.request("PROPFIND", "/dav/", Some((ann, &password)), &[("depth", "0")], "").await.status.as_u16()
        }
    });
    let mut set = Vec::new();
    for g in guesses {
        set.push(g);
    }
    let statuses = join_all(set).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(checked + statuses.iter().filter(|s| **s == 429).count(), 60, "{statuses:?}");
    assert!(checked <= 5, "{checked} guesses were checked");
    s.stop().await;
}

/// Polls every future together until all are done.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(|o| o.expect("every future finished")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_passwords_authenticate_and_revoke_at_once() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let user = s.record(&ann).await;
    let (_, secret) = s.app.accounts.add_app_password(&user, "iPhone", "books").await.unwrap();
    s.request("PROPFIND", &contacts(&ann), Some((&ann, &secret)), &[("depth", "0")], "").await.assert(207);
    s.app.accounts.revoke_app_password(&user, "iPhone").await.unwrap();
    // The credential cache forgets the revoked password immediately.
    s.request("PROPFIND", &contacts(&ann), Some((&ann, &secret)), &[("depth", "0")], "").await.assert(401);
    s.stop().await;
}

/// A sign-in checks the account password and at most the one app password its first group names: a wrong
/// guess never costs one argon2 run per device. App passwords made before lookups existed are checked as
/// before until their first use, which gives them their lookup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_password_is_picked_by_its_first_group() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let user = s.record(&ann).await;
    let mut secrets = Vec::new();
    for name in ["phone", "tablet", "laptop"] {
        secrets.push(s.app.accounts.add_app_password(&user, name, "books").await.unwrap().1);
    }
    for secret in &secrets {
        let picked = s.app.store.app_passwords_for(user.id, Some(&secret[..5])).await.unwrap();
        assert_eq!(picked.len(), 1, "one hash to check for {secret}");
        s.request("PROPFIND", &contacts(&ann), Some((&ann, secret)), &[("depth", "0")], "").await.assert(207);
    }
    assert!(s.app.store.app_passwords_for(user.id, None).await.unwrap().is_empty(), "a plain guess checks none");
    // An app password from before lookups: a candidate for every guess until it is used once.
    s.db.behind_the_back("UPDATE app_passwords SET lookup = NULL WHERE name = 'tablet'", None).await;
    assert_eq!(s.app.store.app_passwords_for(user.id, None).await.unwrap().len(), 1);
    // As after an upgrade: nothing remembered of earlier sign-ins.
    s.app.accounts.forget_user(user.id);
    s.request("PROPFIND", &contacts(&ann), Some((&ann, &secrets[1])), &[("depth", "0")], "").await.assert(207);
    assert!(s.app.store.app_passwords_for(user.id, None).await.unwrap().is_empty(), "it has its lookup now");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_delete_with_strong_etags_and_preconditions() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let url = format!("{}ios.vcf", contacts(&ann));
    // RFC 6352 §6.3.2: create with If-None-Match: *.
    let r = s.as_user(&ann, "PUT", &url, &[("content-type", "text/vcard"), ("if-none-match", "*")], IOS).await;
    r.assert(201);
    let etag = r.etag();
    // RFC 9110 §13.1.2: If-None-Match: * on an existing resource fails.
    s.as_user(&ann, "PUT", &url, &[("content-type", "text/vcard"), ("if-none-match", "*")], IOS).await.assert(412);
    // The card comes back byte for byte, with the same strong ETag.
    let r = s.as_user(&ann, "GET", &url, &[], "").await;
    r.assert(200);
    assert_eq!(r.bytes.as_ref(), IOS.as_bytes());
    assert_eq!(r.etag(), etag);
    assert!(!etag.starts_with("W/"));
    let r = s.as_user(&ann, "HEAD", &url, &[], "").await;
    r.assert(200);
    assert!(r.bytes.is_empty());
    assert_eq!(r.header("content-length"), Some(IOS.len().to_string().as_str()));
    // RFC 9110 §13.1.1: If-Match with a stale tag fails and changes nothing.
    let edited = IOS.replace("Engineer", "Director");
    s.as_user(&ann, "PUT", &url, &[("content-type", "text/vcard"), ("if-match", "\"stale\"")], edited.clone())
        .await
        .assert(412);
    assert_eq!(s.as_user(&ann, "GET", &url, &[], "").await.bytes.as_ref(), IOS.as_bytes());
    let r = s.as_user(&ann, "PUT", &url, &[("content-type", "text/vcard"), ("if-match", &etag)], edited.clone()).await;
    r.assert(204);
    let etag2 = r.etag();
    assert_ne!(etag, etag2);
    s.as_user(&ann, "DELETE", &url, &[("if-match", &etag)], "").await.assert(412);
    s.as_user(&ann, "DELETE", &url, &[("if-match", &etag2)], "").await.assert(204);
    s.as_user(&ann, "GET", &url, &[], "").await.assert(404);
    s.as_user(&ann, "DELETE", &url, &[], "").await.assert(404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_property_a_client_sent_is_kept() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    for (name, card) in [("ios.vcf", IOS), ("davx5.vcf", DAVX5), ("tb.vcf", THUNDERBIRD), ("group.vcf", APPLE_GROUP)] {
        let url = format!("{}{name}", contacts(&ann));
        s.put_card(&ann, &url, card).await.assert(201);
        let r = s.as_user(&ann, "GET", &url, &[], "").await;
        assert_eq!(r.bytes.as_ref(), card.as_bytes(), "{name} changed on the way");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_conversion_on_get_and_report() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let ios = format!("{}ios.vcf", contacts(&ann));
    let group = format!("{}group.vcf", contacts(&ann));
    let davx5 = format!("{}davx5.vcf", contacts(&ann));
    s.put_card(&ann, &ios, IOS).await.assert(201);
    s.put_card(&ann, &group, APPLE_GROUP).await.assert(201);
    s.put_card(&ann, &davx5, DAVX5).await.assert(201);
    // RFC 6352 §6.3.2.1 / DESIGN §4: Accept: text/vcard;version=4.0 converts, PHOTO becomes a data: URI whose
    // comma is not escaped, Apple groups become KIND/MEMBER.
    let r = s.as_user(&ann, "GET", &ios, &[("accept", "text/vcard; version=4.0")], "").await;
    r.assert(200).contains("VERSION:4.0\r\n").contains("PHOTO:data:image/jpeg;base64,/9j/").lacks("base64\\,");
    let r = s.as_user(&ann, "GET", &group, &[("accept", "text/vcard;version=4.0")], "").await;
    r.contains("KIND:group\r\n").contains("MEMBER:urn:uuid:0A1B2C3D-IOS-0001\r\n");
    let r = s.as_user(&ann, "GET", &davx5, &[("accept", "text/vcard;version=3.0")], "").await;
    r.contains("VERSION:3.0\r\n").contains("PHOTO;ENCODING=b;TYPE=PNG:iVBOR").contains("TEL;TYPE=cell;TYPE=pref:");
    // RFC 6352 §10.4: address-data with a version attribute converts inside a REPORT.
    let body = format!(
        r#"<C:addressbook-multiget xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><C:address-data content-type="text/vcard" version="4.0"/></d:prop><d:href>{ios}</d:href></C:addressbook-multiget>"#
    );
    s.report(&ann, &contacts(&ann), &body)
        .await
        .assert(207)
        .contains("VERSION:4.0")
        .contains("PHOTO:data:image/jpeg;base64,");
    // An unsupported representation is refused with the precondition of RFC 6352 §8.7, an unsupported version
    // too (§10.4: 2.1 is not a version CardDAV writes).
    for data in [r#"content-type="application/vcard+json""#, r#"content-type="text/vcard" version="2.1""#] {
        let body = format!(
            r#"<C:addressbook-multiget xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><C:address-data {data}/></d:prop><d:href>{ios}</d:href></C:addressbook-multiget>"#
        );
        s.report(&ann, &contacts(&ann), &body).await.assert(403).contains("<card:supported-address-data/>");
        // RFC 6352 §8.6: addressbook-query the same.
        let body = format!(
            r#"<C:addressbook-query xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><C:address-data {data}/></d:prop></C:addressbook-query>"#
        );
        s.report(&ann, &contacts(&ann), &body).await.assert(403).contains("<card:supported-address-data/>");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propfind_depths_propname_allprop() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    s.put_card(&ann, &format!("{}a.vcf", contacts(&ann)), &vcard3("a", "A")).await.assert(201);
    // RFC 4918 §9.1: Depth infinity refused with propfind-finite-depth; an absent Depth means infinity.
    s.propfind(&ann, &contacts(&ann), "infinity", PROPFIND_BOOK).await.assert(403).contains("propfind-finite-depth");
    s.as_user(&ann, "PROPFIND", &contacts(&ann), &[], PROPFIND_BOOK).await.assert(403);
    // RFC 4918 §9.1: Depth 1 lists members with their properties; unknown properties are 404 propstats.
    let r = s
        .propfind(
            &ann,
            &contacts(&ann),
            "1",
            r#"<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><x:nope xmlns:x="urn:x"/></d:prop></d:propfind>"#,
        )
        .await;
    r.assert(207)
        .contains("/contacts/a.vcf</d:href>")
        .contains("<d:getetag>\"")
        .contains("<x:nope xmlns:x=\"urn:x\"/>")
        .contains("404 Not Found");
    // RFC 7240 / RFC 8144: Prefer: return=minimal drops the 404 propstats.
    let r = s
        .as_user(
            &ann,
            "PROPFIND",
            &contacts(&ann),
            &[("depth", "1"), ("prefer", "return=minimal")],
            r#"<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><x:nope xmlns:x="urn:x"/></d:prop></d:propfind>"#,
        )
        .await;
    r.assert(207).lacks("404 Not Found");
    // RFC 4918 §9.1.4: propname lists names only.
    let r = s.propfind(&ann, &contacts(&ann), "0", r#"<d:propfind xmlns:d="DAV:"><d:propname/></d:propfind>"#).await;
    r.assert(207).contains("<d:sync-token/>").contains("<cs:getctag/>").contains("<card:supported-address-data/>");
    // RFC 4918 §9.1.5: allprop (and an empty body) gives values.
    let r = s.propfind(&ann, &contacts(&ann), "0", "").await;
    r.assert(207).contains("<d:displayname>My contacts</d:displayname>");
    // RFC 6352 §6.2.2–6.2.3 and RFC 3744 §5.4: book properties clients rely on.
    let r = s.propfind(&ann, &contacts(&ann), "0", r#"<d:propfind xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><C:supported-address-data/><C:max-resource-size/><d:current-user-privilege-set/><d:supported-report-set/><d:owner/><d:quota-used-bytes/><d:quota-available-bytes/></d:prop></d:propfind>"#).await;
    r.assert(207)
        .contains(r#"version="4.0""#)
        .contains("<card:max-resource-size>2097152</card:max-resource-size>")
        .contains("<d:privilege><d:write-content/></d:privilege>")
        .contains("<card:addressbook-multiget/>")
        .contains("<d:sync-collection/>")
        .contains("<d:owner><d:href>/dav/principals/ann@example.com/</d:href></d:owner>")
        .contains("<d:quota-used-bytes>");
    // RFC 4331 §3: on the embedded database, the space left where it lives; PostgreSQL's disk is not ours to see.
    if s.db.pg_db.is_none() {
        r.contains("<d:quota-available-bytes>");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proppatch_sets_displayname_and_dead_properties_atomically() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let before = s.sync_token(&ann, &contacts(&ann)).await;
    // RFC 4918 §9.2: a protected property fails the whole request (403 + 424 for the rest).
    let body = r#"<d:propertyupdate xmlns:d="DAV:" xmlns:A="http://apple.com/ns/ical/"><d:set><d:prop><d:displayname>Mine</d:displayname><d:getetag>x</d:getetag></d:prop></d:set></d:propertyupdate>"#;
    let r = s.as_user(&ann, "PROPPATCH", &contacts(&ann), &[], body).await;
    r.assert(207).contains("403 Forbidden").contains("424 Failed Dependency");
    assert_eq!(s.sync_token(&ann, &contacts(&ann)).await, before, "a refused PROPPATCH changed something");
    let body = r#"<d:propertyupdate xmlns:d="DAV:" xmlns:A="http://apple.com/ns/ical/"><d:set><d:prop><d:displayname>Mine</d:displayname><A:calendar-color>#FF0000</A:calendar-color></d:prop></d:set></d:propertyupdate>"#;
    s.as_user(&ann, "PROPPATCH", &contacts(&ann), &[], body).await.assert(207).contains("200 OK").lacks("HTTP/1.1 403");
    let r = s.propfind(&ann, &contacts(&ann), "0", r#"<d:propfind xmlns:d="DAV:" xmlns:A="http://apple.com/ns/ical/"><d:prop><d:displayname/><A:calendar-color/></d:prop></d:propfind>"#).await;
    r.assert(207).contains("<d:displayname>Mine</d:displayname>").contains("#FF0000</calendar-color>");
    let body = r#"<d:propertyupdate xmlns:d="DAV:" xmlns:A="http://apple.com/ns/ical/"><d:remove><d:prop><A:calendar-color/></d:prop></d:remove></d:propertyupdate>"#;
    s.as_user(&ann, "PROPPATCH", &contacts(&ann), &[], body).await.assert(207);
    let r = s.propfind(&ann, &contacts(&ann), "0", r#"<d:propfind xmlns:d="DAV:" xmlns:A="http://apple.com/ns/ical/"><d:prop><A:calendar-color/></d:prop></d:propfind>"#).await;
    r.assert(207).contains("404 Not Found");
    // RFC 4918 §4.3: a dead property keeps its language, its own or the one in force where it was set.
    let body = r#"<d:propertyupdate xmlns:d="DAV:" xmlns:Z="http://ns.example.com/z/"><d:set><d:prop xml:lang="en"><Z:Author>Jim Whitehead</Z:Author><Z:Title xml:lang="de">Die Kunst</Z:Title></d:prop></d:set></d:propertyupdate>"#;
    s.as_user(&ann, "PROPPATCH", &contacts(&ann), &[], body).await.assert(207).contains("200 OK");
    let r = s.propfind(&ann, &contacts(&ann), "0", r#"<d:propfind xmlns:d="DAV:" xmlns:Z="http://ns.example.com/z/"><d:prop><Z:Author/><Z:Title/></d:prop></d:propfind>"#).await;
    r.assert(207)
        .contains(r#"<Author xmlns="http://ns.example.com/z/" xml:lang="en">Jim Whitehead</Author>"#)
        .contains(r#"<Title xmlns="http://ns.example.com/z/" xml:lang="de">Die Kunst</Title>"#);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_mkcol_creates_a_label_and_delete_removes_it() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let id = "6f1d2c3b-4a59-4e68-8f70-9a1b2c3d4e5f";
    let url = format!("{}{id}/", home(&ann));
    // RFC 5689 §3: extended MKCOL with resourcetype and displayname.
    let body = r#"<d:mkcol xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype><d:collection/><C:addressbook/></d:resourcetype><d:displayname>Suppliers</d:displayname><C:addressbook-description>Who sells us things</C:addressbook-description></d:prop></d:set></d:mkcol>"#;
    s.as_user(&ann, "MKCOL", &url, &[], body).await.assert(201);
    // RFC 4918 §9.3.1: MKCOL on an existing collection is 405.
    s.as_user(&ann, "MKCOL", &url, &[], body).await.assert(405);
    s.as_user(&ann, "MKCOL", &contacts(&ann), &[], body).await.assert(405);
    let r = s.propfind(&ann, &url, "0", PROPFIND_BOOK).await;
    r.assert(207).contains("<d:displayname>Suppliers</d:displayname>");
    // RFC 5689 §3.1: a resourcetype we cannot create is refused with valid-resourcetype.
    let other = format!("{}0f0e0d0c-0b0a-4908-8706-050403020100/", home(&ann));
    let cal = r#"<d:mkcol xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><d:set><d:prop><d:resourcetype><d:collection/><C:calendar/></d:resourcetype></d:prop></d:set></d:mkcol>"#;
    s.as_user(&ann, "MKCOL", &other, &[], cal).await.assert(403).contains("valid-resourcetype");
    s.as_user(&ann, "MKCOL", &format!("{}not-a-uuid/", home(&ann)), &[], body).await.assert(403);
    // A card in the label; deleting the label keeps the contact in My contacts.
    s.put_card(&ann, &format!("{url}x.vcf"), &vcard3("x", "X")).await.assert(201);
    s.as_user(&ann, "DELETE", &url, &[], "").await.assert(204);
    s.propfind(&ann, &url, "0", PROPFIND_BOOK).await.assert(404);
    s.as_user(&ann, "GET", &format!("{}x.vcf", contacts(&ann)), &[], "").await.assert(200);
    // My contacts itself cannot be deleted.
    s.as_user(&ann, "DELETE", &contacts(&ann), &[], "").await.assert(403);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_hold_contacts_stored_once() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let user = s.record(&ann).await;
    let label = s.app.service.create_label(&user, None, "Team", "").await.unwrap();
    let book = format!("{}{}/", home(&ann), label.id);
    // A new card PUT into a label is a new contact of the owner, in My contacts under the same name.
    s.put_card(&ann, &format!("{book}new.vcf"), &vcard3("new-1", "New")).await.assert(201);
    s.as_user(&ann, "GET", &format!("{}new.vcf", contacts(&ann)), &[], "").await.assert(200);
    // Thunderbird copies a card between books: same UID, another name → the existing contact is labelled.
    s.put_card(&ann, &format!("{}old.vcf", contacts(&ann)), &vcard3("old-1", "Old")).await.assert(201);
    s.put_card(&ann, &format!("{book}copy-of-old.vcf"), &vcard3("old-1", "Old")).await.assert(201);
    let r = s
        .propfind(
            &ann,
            &contacts(&ann),
            "1",
            r#"<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"#,
        )
        .await;
    assert_eq!(r.body.matches("<d:getetag>").count(), 2, "a duplicate contact was made:\n{}", r.body);
    // An edit through the label changes the one contact everywhere.
    s.put_card(&ann, &format!("{book}copy-of-old.vcf"), &vcard3("old-1", "Old Renamed")).await.assert(204);
    s.as_user(&ann, "GET", &format!("{}old.vcf", contacts(&ann)), &[], "").await.contains("FN:Old Renamed");
    // DELETE inside a label only takes the label off.
    s.as_user(&ann, "DELETE", &format!("{book}copy-of-old.vcf"), &[], "").await.assert(204);
    s.as_user(&ann, "GET", &format!("{book}copy-of-old.vcf"), &[], "").await.assert(404);
    s.as_user(&ann, "GET", &format!("{}old.vcf", contacts(&ann)), &[], "").await.assert(200);
    // DELETE in My contacts removes the contact from every label.
    s.as_user(&ann, "DELETE", &format!("{}new.vcf", contacts(&ann)), &[], "").await.assert(204);
    s.as_user(&ann, "GET", &format!("{book}new.vcf"), &[], "").await.assert(404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_writes_name_their_precondition_and_change_nothing() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    s.put_card(&ann, &format!("{book}a.vcf"), &vcard3("same", "A")).await.assert(201);
    let token = s.sync_token(&ann, &book).await;
    // RFC 6352 §6.3.2.1: the same UID under another name → no-uid-conflict naming the existing card.
    s.put_card(&ann, &format!("{book}b.vcf"), &vcard3("same", "B"))
        .await
        .assert(409)
        .contains("no-uid-conflict")
        .contains("a.vcf");
    // RFC 6352 §6.3.2.1: not a vCard media type → supported-address-data.
    s.as_user(&ann, "PUT", &format!("{book}c.vcf"), &[("content-type", "application/json")], "{}")
        .await
        .assert(415)
        .contains("supported-address-data");
    // RFC 6352 §6.3.2.1: an invalid vCard → valid-address-data, with the reason.
    s.put_card(&ann, &format!("{book}d.vcf"), "BEGIN:VCARD\r\nFN:x\r\nUID:d\r\nEND:VCARD\r\n")
        .await
        .assert(403)
        .contains("valid-address-data")
        .contains("VERSION");
    s.put_card(&ann, &format!("{book}e.vcf"), "hello").await.assert(403).contains("valid-address-data");
    s.put_card(&ann, &format!("{book}f.vcf"), &format!("{}{}", vcard3("f1", "F"), vcard3("f2", "F")))
        .await
        .assert(403)
        .contains("exactly one vCard");
    // RFC 6352 §6.3.2.1: larger than max-resource-size.
    let big = vcard3("big", &"x".repeat(3 * 1024 * 1024));
    s.put_card(&ann, &format!("{book}g.vcf"), &big).await.assert(413).contains("max-resource-size");
    // A client that waits for 100 Continue is refused before it uploads anything (RFC 9110 §10.1.1).
    let file = s.db.dir.join("big.vcf");
    std::fs::write(&file, &big).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-T"])
        .arg(&file)
        .args(["-H", "Expect: 100-continue", "-H", "Content-Type: text/vcard", "-u", &format!("{ann}:{PASSWORD}")])
        .arg(format!("{}{book}h.vcf", s.base))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "413");
    assert_eq!(s.sync_token(&ann, &book).await, token, "a refused write changed the book");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    let token = s.sync_token(&ann, &book).await;
    s.propfind(&ann, &book, "0", "<d:propfind xmlns:d=\"DAV:\"><d:prop>").await.assert(400).contains("malformed XML");
    s.propfind(&ann, &book, "0", "<X:propfind/>").await.assert(400).contains("undeclared namespace prefix");
    let deep = format!("<d:propfind xmlns:d=\"DAV:\">{}{}</d:propfind>", "<d:prop>".repeat(50), "</d:prop>".repeat(50));
    s.propfind(&ann, &book, "0", &deep).await.assert(400).contains("deeper");
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d:propfind xmlns:d="DAV:"><d:prop>&x;</d:prop></d:propfind>"#;
    s.propfind(&ann, &book, "0", xxe).await.assert(400).contains("DTD");
    s.propfind(&ann, &book, "0", "<d:notpropfind xmlns:d=\"DAV:\"/>").await.assert(400);
    s.propfind(&ann, &book, "2", "").await.assert(400);
    let huge = format!("<d:propfind xmlns:d=\"DAV:\"><d:prop>{}</d:prop></d:propfind>", "<d:getetag/>".repeat(800_000));
    s.propfind(&ann, &book, "0", &huge).await.assert(413);
    s.as_user(&ann, "GET", "/dav/nothing/here/at/all/really", &[], "").await.assert(404);
    s.as_user(&ann, "GET", "/elsewhere", &[], "").await.assert(404);
    s.as_user(&ann, "LOCK", &book, &[], "").await.assert(405);
    s.report(&ann, &book, r#"<d:frobnicate xmlns:d="DAV:"/>"#).await.assert(403).contains("supported-report");
    s.put_card(&ann, &home(&ann), &vcard3("h", "H")).await.assert(405);
    assert_eq!(s.sync_token(&ann, &book).await, token);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_cannot_reach_each_others_books() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.org").await;
    let user = s.record(&ann).await;
    let label = s.app.service.create_label(&user, None, "Private", "").await.unwrap();
    let ann_label = format!("{}{}/", home(&ann), label.id);
    s.put_card(&ann, &format!("{ann_label}a.vcf"), &vcard3("a", "A")).await.assert(201);
    let token = s.sync_token(&ann, &ann_label).await;
    // Another user's home, books and cards are absent (404, never 403), for every method.
    for path in [home(&ann), contacts(&ann), ann_label.clone(), format!("{ann_label}a.vcf")] {
        s.propfind(&bob, &path, "0", "").await.assert(404);
        s.as_user(&bob, "GET", &path, &[], "").await.assert(404);
        s.as_user(&bob, "DELETE", &path, &[], "").await.assert(404);
        s.report(&bob, &path, &sync_body("", "")).await.assert(404);
    }
    s.put_card(&bob, &format!("{ann_label}b.vcf"), &vcard3("b", "B")).await.assert(404);
    s.as_user(&bob, "PROPPATCH", &ann_label, &[], r#"<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>pwned</d:displayname></d:prop></d:set></d:propertyupdate>"#).await.assert(404);
    // The label id under Bob's own home does not reach Ann's label either.
    s.propfind(&bob, &format!("{}{}/", home(&bob), label.id), "0", "").await.assert(404);
    assert_eq!(s.sync_token(&ann, &ann_label).await, token);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addressbook_multiget() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    s.put_card(&ann, &format!("{book}a.vcf"), &vcard3("a", "Alpha")).await.assert(201);
    s.put_card(&ann, &format!("{book}b.vcf"), &vcard3("b", "Beta")).await.assert(201);
    // RFC 6352 §8.7: each href answered; missing ones with 404.
    let body = format!(
        r#"<C:addressbook-multiget xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><C:address-data/></d:prop><d:href>{book}a.vcf</d:href><d:href>{book}b.vcf</d:href><d:href>{book}missing.vcf</d:href></C:addressbook-multiget>"#
    );
    let r = s.report(&ann, &book, &body).await;
    r.assert(207).contains("FN:Alpha").contains("FN:Beta").contains("missing.vcf</d:href><d:status>HTTP/1.1 404");
    // RFC 6352 §10.4.2: address-data may ask for some properties only.
    let body = format!(
        r#"<C:addressbook-multiget xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><C:address-data><C:prop name="FN"/></C:address-data></d:prop><d:href>{book}a.vcf</d:href></C:addressbook-multiget>"#
    );
    s.report(&ann, &book, &body).await.assert(207).contains("FN:Alpha").lacks("EMAIL");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addressbook_query_filters_and_limits() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    s.put_card(&ann, &format!("{book}ios.vcf"), IOS).await.assert(201);
    s.put_card(&ann, &format!("{book}davx5.vcf"), DAVX5).await.assert(201);
    s.put_card(&ann, &format!("{book}tb.vcf"), THUNDERBIRD).await.assert(201);
    let q = |filter: &str, extra: &str| {
        format!(
            r#"<C:addressbook-query xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop>{filter}{extra}</C:addressbook-query>"#
        )
    };
    // RFC 6352 §8.6.3-like: contains, case-insensitive (i;unicode-casemap is the default, §8.3).
    let r = s.report(&ann, &book, &q(r#"<C:filter><C:prop-filter name="FN"><C:text-match match-type="contains">CURIE</C:text-match></C:prop-filter></C:filter>"#, "")).await;
    r.assert(207).contains("davx5.vcf").lacks("ios.vcf").lacks("tb.vcf");
    // RFC 6352 §10.5.2: param-filter on TYPE.
    let r = s.report(&ann, &book, &q(r#"<C:filter><C:prop-filter name="TEL"><C:param-filter name="TYPE"><C:text-match match-type="equals">WORK</C:text-match></C:param-filter></C:prop-filter></C:filter>"#, "")).await;
    r.assert(207).contains("ios.vcf").lacks("davx5.vcf");
    // RFC 6352 §10.5: anyof across properties.
    let r = s.report(&ann, &book, &q(r#"<C:filter test="anyof"><C:prop-filter name="EMAIL"><C:text-match match-type="ends-with">example.net</C:text-match></C:prop-filter><C:prop-filter name="ORG"><C:text-match match-type="starts-with">apple</C:text-match></C:prop-filter></C:filter>"#, "")).await;
    r.assert(207).contains("ios.vcf").contains("tb.vcf").lacks("davx5.vcf");
    // RFC 6352 §8.6.1: more matches than the limit → a 507 response for the collection.
    let r = s
        .report(
            &ann,
            &book,
            &q(r#"<C:filter><C:prop-filter name="FN"/></C:filter>"#, "<C:limit><C:nresults>2</C:nresults></C:limit>"),
        )
        .await;
    r.assert(207).contains("507 Insufficient Storage").contains("number-of-matches-within-limits");
    assert_eq!(r.body.matches("<d:getetag>").count(), 2);
    // RFC 6352 §8.3: unknown collation → supported-collation precondition.
    s.report(&ann, &book, &q(r#"<C:filter><C:prop-filter name="FN"><C:text-match collation="i;klingon">x</C:text-match></C:prop-filter></C:filter>"#, "")).await.assert(403).contains("supported-collation");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_collection_initial_delta_removal_and_bad_tokens() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    s.put_card(&ann, &format!("{book}a.vcf"), &vcard3("a", "A")).await.assert(201);
    s.put_card(&ann, &format!("{book}b.vcf"), &vcard3("b", "B")).await.assert(201);
    // RFC 6578 §3.4: an empty token is an initial sync listing every member.
    let r = s.report(&ann, &book, &sync_body("", "")).await;
    r.assert(207).contains("a.vcf").contains("b.vcf");
    let token = between(&r.body, "<d:sync-token>", "</d:sync-token>").unwrap().to_string();
    // DESIGN §4: getctag and sync-token are the same value and move together.
    assert_eq!(token, s.sync_token(&ann, &book).await);
    // RFC 6578 §3.5: nothing changed → an empty delta with the same token.
    let r = s.report(&ann, &book, &sync_body(&token, "")).await;
    r.assert(207).lacks("a.vcf").contains(&token);
    // One edit and one delete → exactly those two, the delete as 404 (RFC 6578 §3.5.2).
    s.put_card(&ann, &format!("{book}a.vcf"), &vcard3("a", "A2")).await.assert(204);
    s.as_user(&ann, "DELETE", &format!("{book}b.vcf"), &[], "").await.assert(204);
    let r = s.report(&ann, &book, &sync_body(&token, "")).await;
    r.assert(207).contains("a.vcf</d:href><d:propstat>").contains("b.vcf</d:href><d:status>HTTP/1.1 404");
    let token2 = between(&r.body, "<d:sync-token>", "</d:sync-token>").unwrap().to_string();
    assert_ne!(token, token2);
    // Thunderbird sends Depth: 1; it is tolerated (DESIGN §4), as is Depth: 0.
    s.as_user(&ann, "REPORT", &book, &[("depth", "0")], sync_body(&token2, "")).await.assert(207);
    // RFC 6578 §3.2: an unknown token → 403 valid-sync-token.
    for bad in ["urn:labelbook:sync:999999999", "http://other/sync/1", "garbage"] {
        s.report(&ann, &book, &sync_body(bad, "")).await.assert(403).contains("valid-sync-token");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_collection_truncates_with_limit_and_continues() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    for i in 0..5 {
        s.put_card(&ann, &format!("{book}c{i}.vcf"), &vcard3(&format!("c{i}"), "C")).await.assert(201);
    }
    // RFC 6578 §3.6: with a limit, a 507 for the collection, and a token to continue from.
    let mut token = String::new();
    let mut seen = 0;
    for round in 0..5 {
        let r = s.report(&ann, &book, &sync_body(&token, "<d:limit><d:nresults>2</d:nresults></d:limit>")).await;
        r.assert(207);
        seen += r.body.matches("<d:getetag>").count();
        token = between(&r.body, "<d:sync-token>", "</d:sync-token>").unwrap().to_string();
        if !r.body.contains("507") {
            assert_eq!(round, 2);
            break;
        }
        assert!(r.body.contains("number-of-matches-within-limits"));
    }
    assert_eq!(seen, 5);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_books_sync_membership_changes() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let user = s.record(&ann).await;
    let label = s.app.service.create_label(&user, None, "Team", "").await.unwrap();
    let book = format!("{}{}/", home(&ann), label.id);
    s.put_card(&ann, &format!("{}m.vcf", contacts(&ann)), &vcard3("m", "M")).await.assert(201);
    s.put_card(&ann, &format!("{book}m-in-label.vcf"), &vcard3("m", "M")).await.assert(201);
    let token = s.sync_token(&ann, &book).await;
    let my_token = s.sync_token(&ann, &contacts(&ann)).await;
    // An edit in My contacts shows in the label's delta under the label's name for it.
    s.put_card(&ann, &format!("{}m.vcf", contacts(&ann)), &vcard3("m", "M2")).await.assert(204);
    s.report(&ann, &book, &sync_body(&token, "")).await.assert(207).contains("m-in-label.vcf</d:href><d:propstat>");
    // Removing the label from the contact shows as a removal in the label and nothing gone in My contacts.
    s.as_user(&ann, "DELETE", &format!("{book}m-in-label.vcf"), &[], "").await.assert(204);
    s.report(&ann, &book, &sync_body(&token, ""))
        .await
        .assert(207)
        .contains("m-in-label.vcf</d:href><d:status>HTTP/1.1 404");
    s.report(&ann, &contacts(&ann), &sync_body(&my_token, ""))
        .await
        .assert(207)
        .contains("m.vcf</d:href><d:propstat>")
        .lacks("HTTP/1.1 404");
    s.stop().await;
}

/// RFC 3744 §2 principals are found by the directory's one rule (service/admin.rs `person`, the same as the
/// API's directory search): the viewer's own domain and anyone a label is shared between them. Outside it, a
/// principal URL answers 404, the same as an address with no account, so a stranger learns nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_is_found_only_by_those_the_directory_lets_find_it() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    s.user("cy_ril@example.com").await;
    s.user("bob@example.org").await;
    let name = r#"<d:propfind xmlns:d="DAV:"><d:prop><d:displayname/></d:prop></d:propfind>"#;
    for (path, verb) in
        [("/dav/principals/bob@example.org/", "PROPFIND"), ("/dav/principals/nobody@example.org/", "PROPFIND")]
    {
        let r = s.as_user(&ann, verb, path, &[("depth", "0")], name).await;
        r.assert(404).lacks("bob@");
    }
    let expand = r#"<d:expand-property xmlns:d="DAV:"><d:property name="displayname"/></d:expand-property>"#;
    s.report(&ann, "/dav/principals/bob@example.org/", expand).await.assert(404);
    // Her own domain, an address holding a LIKE wildcard included.
    s.propfind(&ann, "/dav/principals/cy_ril@example.com/", "0", name).await.assert(207).contains("cy_ril@example.com");
    let d = parse(api(&s, &ann, "GET", "/directory?q=cy_r", None).await.assert(200));
    assert!(d.to_string().contains("cy_ril@example.com"), "{d}");
    // A sharing partner in another domain, once a label is shared between them.
    let owner = s.record(&ann).await;
    let label = s.app.service.create_label(&owner, None, "Partners", "").await.unwrap().id;
    let grantee = labelbook::service::Grantee::parse("bob@example.org");
    s.app.service.share(&owner, &label, &grantee, labelbook::service::access::Level::View, true).await.unwrap();
    s.propfind(&ann, "/dav/principals/bob@example.org/", "0", name).await.assert(207).contains("bob@example.org");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principal_search_and_expand_property() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    s.user("bob@example.org").await;
    // RFC 3744 §9.4: principal-property-search.
    let body = r#"<d:principal-property-search xmlns:d="DAV:"><d:property-search><d:prop><d:displayname/></d:prop><d:match>bob</d:match></d:property-search><d:prop><d:displayname/></d:prop></d:principal-property-search>"#;
    // Bob is in another domain and shares nothing with Ann: she cannot find him…
    s.report0(&ann, "/dav/principals/", body).await.assert(207).lacks("bob@example.org");
    // The directory's one rule: a match under 2 characters lists nobody (not everyone in reach).
    s.user("bea@example.com").await;
    for m in ["", "b"] {
        let short = body.replace("<d:match>bob</d:match>", &format!("<d:match>{m}</d:match>"));
        s.report0(&ann, "/dav/principals/", &short).await.assert(207).lacks("<d:response>");
    }
    let be = body.replace("<d:match>bob</d:match>", "<d:match>be</d:match>");
    s.report0(&ann, "/dav/principals/", &be).await.assert(207).contains("bea@example.com");
    // Defined for Depth 0 only (RFC 3744 §9.4, §9.5).
    s.report(&ann, "/dav/principals/", body).await.assert(400);
    s.report(&ann, "/dav/principals/", r#"<d:principal-search-property-set xmlns:d="DAV:"/>"#).await.assert(400);
    // …until a label is shared between them.
    let owner = s.record(&ann).await;
    let label = s.app.service.create_label(&owner, None, "Partners", "").await.unwrap().id;
    let grantee = labelbook::service::Grantee::parse("bob@example.org");
    s.app.service.share(&owner, &label, &grantee, labelbook::service::access::Level::View, true).await.unwrap();
    s.report0(&ann, "/dav/principals/", body)
        .await
        .assert(207)
        .contains("/dav/principals/bob@example.org/")
        .lacks("ann@");
    // RFC 3744 §9.5: principal-search-property-set.
    s.report0(&ann, "/dav/principals/", r#"<d:principal-search-property-set xmlns:d="DAV:"/>"#)
        .await
        .assert(200)
        .contains("principal-search-property");
    // RFC 3253 §3.8: expand-property replaces hrefs with the target's properties.
    let body = r#"<d:expand-property xmlns:d="DAV:"><d:property name="current-user-principal"><d:property name="displayname"/><d:property name="addressbook-home-set" namespace="urn:ietf:params:xml:ns:carddav"/></d:property></d:expand-property>"#;
    s.report(&ann, "/dav/", body)
        .await
        .assert(207)
        .contains("<d:current-user-principal><d:response><d:href>/dav/principals/ann@example.com/</d:href>")
        .contains("addressbook-home-set");
    // Another user's principal is readable (collaborators see owners), but not their home.
    s.propfind(&ann, "/dav/principals/bob@example.org/", "0", "").await.assert(207).contains("bob@example.org");
    s.propfind(&ann, "/dav/principals/nobody@example.org/", "0", "").await.assert(404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_each_take_their_own_change() {
    let s = std::sync::Arc::new(Server::start().await);
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    let mut tasks = Vec::new();
    for w in 0..8 {
        let s = s.clone();
        let (ann, book) = (ann.clone(), book.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                s.put_card(&ann, &format!("{book}w{w}-{i}.vcf"), &vcard3(&format!("w{w}-{i}"), "W")).await.assert(201);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let r = s.report(&ann, &book, &sync_body("", "")).await;
    assert_eq!(r.body.matches("<d:getetag>").count(), 80);
    let token = between(&r.body, "<d:sync-token>", "</d:sync-token>").unwrap();
    assert_eq!(token, "urn:labelbook:sync:80");
    match std::sync::Arc::try_unwrap(s) {
        Ok(s) => s.stop().await,
        Err(_) => panic!("server still shared"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_larger_than_a_page_are_answered_whole() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let user = s.record(&ann).await;
    let view = s.app.service.open_book(&user, "contacts").await.unwrap();
    let n = 2_345;
    for i in 0..n {
        let card = vcard3(&format!("p{i:05}"), if i % 2 == 0 { "Even" } else { "Odd" });
        s.app.service.put_card(&view, &format!("p{i:05}.vcf"), card.as_bytes(), &Default::default()).await.unwrap();
    }
    let book = contacts(&ann);
    // RFC 4918 §9.1: Depth 1 lists every member, across the server's internal pages.
    let r =
        s.propfind(&ann, &book, "1", r#"<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"#).await;
    r.assert(207);
    assert_eq!(r.body.matches("<d:getetag>").count(), n);
    assert!(r.body.trim_end().ends_with("</d:multistatus>"));
    // RFC 6578 §3.4: the initial sync too, followed by its token.
    let r = s.report(&ann, &book, &sync_body("", "")).await;
    assert_eq!(r.body.matches("<d:getetag>").count(), n);
    let token = between(&r.body, "<d:sync-token>", "</d:sync-token>").unwrap();
    assert_eq!(token, s.sync_token(&ann, &book).await);
    // RFC 6352 §8.6.1: a query whose limit falls beyond the first page.
    let q = r#"<C:addressbook-query xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop><C:filter><C:prop-filter name="FN"><C:text-match match-type="equals">Even</C:text-match></C:prop-filter></C:filter><C:limit><C:nresults>1100</C:nresults></C:limit></C:addressbook-query>"#;
    let r = s.report(&ann, &book, q).await;
    assert_eq!(r.body.matches("<d:getetag>").count(), 1100);
    r.contains("507 Insufficient Storage");
    // GET of the book: one .vcf with every card.
    let r = s.as_user(&ann, "GET", &book, &[], "").await;
    r.assert(200);
    assert_eq!(r.body.matches("BEGIN:VCARD").count(), n);
    s.stop().await;
}

/// RFC 6352 §8.7 addressbook-multiget: each name is answered once, in the order asked, however often it is
/// repeated (one large card named a thousand times is one response, not a thousand copies); many large cards
/// come back whole (read in groups of bounded size and streamed); more distinct names than the server's
/// setting is a clear 413 that asks for smaller batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiget_answers_each_name_once_in_order_and_caps_the_names() {
    let s = Server::start_with(|c| c.max_multiget_hrefs = 12).await;
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    let note = "x".repeat(1_200_000);
    for i in 0..10 {
        let card = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:big-{i}\r\nFN:Big {i}\r\nNOTE:{note}\r\nEND:VCARD\r\n");
        s.put_card(&ann, &format!("{book}big-{i}.vcf"), &card).await.assert(201);
    }
    let multiget = |hrefs: Vec<String>| {
        let body = format!(
            r#"<C:addressbook-multiget xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><C:address-data/></d:prop>{}</C:addressbook-multiget>"#,
            hrefs.iter().map(|h| format!("<d:href>{h}</d:href>")).collect::<String>()
        );
        let (s, ann, book) = (&s, &ann, &book);
        async move { s.report(ann, book, &body).await }
    };

    let mut hrefs: Vec<String> = (0..1000).map(|_| format!("{book}big-3.vcf")).collect();
    hrefs.push(format!("{book}gone.vcf"));
    hrefs.push(format!("{book}gone.vcf"));
    let r = multiget(hrefs).await;
    r.assert(207);
    assert_eq!(r.body.matches("<d:response>").count(), 2, "one response per distinct name");
    assert!(r.body.len() < 2 * note.len(), "the card is in the answer once ({} bytes)", r.body.len());
    assert!(r.body.find("big-3.vcf").unwrap() < r.body.find("gone.vcf").unwrap());

    // Ten cards of 1.2 MB, asked in reverse: all of them, whole, in the order asked, behind a missing one.
    let mut hrefs: Vec<String> = (0..10).rev().map(|i| format!("{book}big-{i}.vcf")).collect();
    hrefs.insert(0, format!("{book}gone.vcf"));
    let r = multiget(hrefs.clone()).await;
    r.assert(207);
    assert_eq!(r.header("content-length"), None, "streamed");
    assert_eq!(r.body.matches(&note).count(), 10);
    let positions: Vec<usize> = hrefs.iter().map(|h| r.body.find(&format!("<d:href>{h}</d:href>")).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in the order asked");
    assert!(r.body[positions[0]..positions[1]].contains("404"));

    // Past the setting: 413, nothing streamed.
    let many: Vec<String> = (0..13).map(|i| format!("{book}n-{i}.vcf")).collect();
    multiget(many).await.assert(413).contains("at most 12");
    s.stop().await;
}

/// RFC 4918 §9.2.1: a PROPPATCH that would pass what a collection keeps of its own properties (count, size of
/// one, size of all) is refused with 507 for them and 424 for the rest, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_properties_are_bounded_per_collection() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    let patch = |props: String| {
        let (s, ann, book) = (&s, &ann, &book);
        let body = format!(
            r#"<d:propertyupdate xmlns:d="DAV:" xmlns:x="urn:x"><d:set><d:prop>{props}</d:prop></d:set></d:propertyupdate>"#
        );
        async move { s.as_user(ann, "PROPPATCH", book, &[("content-type", "application/xml")], body).await }
    };
    let one = |i: usize, len: usize| format!("<x:p{i}>{}</x:p{i}>", "v".repeat(len));
    patch(one(0, 100)).await.assert(207).contains("200 OK");
    // One too large, with a description beside it: neither is kept.
    let r = patch(format!("{}<d:displayname>Renamed</d:displayname>", one(1, 20_000))).await;
    r.assert(207).contains("507 Insufficient Storage").contains("424 Failed Dependency");
    // Too many: 63 more fit beside p0, the 65th does not.
    let many: String = (1..64).map(|i| one(i, 10)).collect();
    patch(many).await.assert(207).contains("200 OK");
    patch(one(64, 10)).await.assert(207).contains("507 Insufficient Storage");
    // Too much together: replacing some with larger values past 128 KiB in all.
    let large: String = (1..10).map(|i| one(i, 15_000)).collect();
    patch(large).await.assert(207).contains("507 Insufficient Storage");
    let r = s.propfind(&ann, &book, "0", r#"<d:propfind xmlns:d="DAV:" xmlns:x="urn:x"><d:prop><x:p1/><x:p64/><d:displayname/></d:prop></d:propfind>"#).await;
    r.assert(207).contains(r#"<p1 xmlns="urn:x">vvvvvvvvvv</p1>"#).contains("404 Not Found").lacks("Renamed");
    assert!(!r.body.contains(&"v".repeat(11)), "nothing refused was kept");
    s.stop().await;
}

/// RFC 6350 §3.3: a value holds no control characters but a tab (line breaks are written escaped). A card
/// with a NUL or an escape character is refused (403 valid-address-data over CardDAV, 422 on the API) and
/// nothing is stored; a tab is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_values_are_refused() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    let before = s.sync_token(&ann, &book).await;
    for (name, bad) in [("nul", "\0"), ("esc", "\x1b[31m"), ("cr", "a\rb"), ("del", "\x7f")] {
        let card = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{name}\r\nFN:Ctl\r\nNOTE:x{bad}y\r\nEND:VCARD\r\n");
        let r = s.put_card(&ann, &format!("{book}{name}.vcf"), &card).await;
        r.assert(403).contains("valid-address-data").contains("NOTE");
    }
    assert_eq!(s.sync_token(&ann, &book).await, before, "nothing was stored");
    let r = api(&s, &ann, "POST", "/contacts", Some(serde_json::json!({"full_name": "Ctl", "note": "a\u{0}b"}))).await;
    r.assert(422);
    let tab = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:tab\r\nFN:Tab\r\nNOTE:a\tb\r\nEND:VCARD\r\n";
    s.put_card(&ann, &format!("{book}tab.vcf"), tab).await.assert(201);
    s.stop().await;
}

/// RFC 6352 §6.3.2.1 (no-uid-conflict) and RFC 6350 §6.7.6: a UID names one contact for good. A PUT at a card's
/// name with another UID is refused with 403, naming the card, and changes nothing, in My contacts and in a
/// label; a vCard 4.0 with two UIDs is invalid (cardinality *1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_may_not_change_a_cards_uid() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let owner = s.record(&ann).await;
    let label = s.app.service.create_label(&owner, None, "Team", "").await.unwrap().id;
    for book in [contacts(&ann), format!("/dav/addressbooks/{ann}/{label}/")] {
        let href = format!("{book}kim.vcf");
        s.put_card(&ann, &href, &vcard3("kim-1", "Kim")).await.assert(201);
        let before = s.as_user(&ann, "GET", &href, &[], "").await;
        let token = s.sync_token(&ann, &book).await;
        let r = s.put_card(&ann, &href, &vcard3("kim-2", "Kim")).await;
        r.assert(403).contains("no-uid-conflict").contains(&format!("<d:href>{href}</d:href>"));
        let after = s.as_user(&ann, "GET", &href, &[], "").await;
        assert_eq!(after.body, before.body, "the card is unchanged");
        assert_eq!(s.sync_token(&ann, &book).await, token, "nothing changed in {book}");
        // The same UID with other content is an ordinary update.
        s.put_card(&ann, &href, &vcard3("kim-1", "Kim Lee")).await.assert(204);
    }
    let two = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:a\r\nUID:b\r\nFN:Two\r\nEND:VCARD\r\n";
    let r = s.put_card(&ann, &format!("{}two.vcf", contacts(&ann)), two).await;
    r.assert(403).contains("valid-address-data");
    s.stop().await;
}

/// RFC 9110 §15.5.6: every 405 names the methods the target supports in Allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_405_carries_allow() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let cases: [(&str, String); 4] =
        [("MKCOL", contacts(&ann)), ("PUT", contacts(&ann)), ("LOCK", contacts(&ann)), ("POST", "/".to_string())];
    for (method, path) in cases {
        let r = s.as_user(&ann, method, &path, &[], "").await;
        r.assert(405);
        let allow = r.header("allow").unwrap_or_else(|| panic!("{method} {path}: no Allow"));
        assert!(!allow.split(", ").any(|m| m == method), "{method} {path}: Allow {allow} offers what it refused");
    }
    s.stop().await;
}

/// RFC 6352 §6.3.2.3: a card PUT without a UID (as most real exports are) is stored with one, stable for its
/// name, and since the stored bytes are not those sent, the answer carries no ETag; the client reads it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_without_a_uid_is_stored_with_one_and_no_etag() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let href = format!("{}outlook.vcf", contacts(&ann));
    let sent = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lee;Kim;;;\r\nFN:Kim Lee\r\nEND:VCARD\r\n";
    let r = s.put_card(&ann, &href, sent).await;
    r.assert(201);
    assert!(r.header("etag").is_none(), "the stored card is not the one sent");
    let got = s.as_user(&ann, "GET", &href, &[], "").await;
    let uid = got.assert(200).body.lines().find_map(|l| l.strip_prefix("UID:")).expect("a UID").to_string();
    assert_eq!(got.body, sent.replace("END:VCARD", &format!("UID:{uid}\r\nEND:VCARD")));
    // Sent again without a UID, it names the same contact: an update, not a conflict or a second contact.
    s.put_card(&ann, &href, &sent.replace("Kim Lee", "Kim A. Lee")).await.assert(204);
    let again = s.as_user(&ann, "GET", &href, &[], "").await;
    again.assert(200).contains(&format!("UID:{uid}")).contains("FN:Kim A. Lee");
    // A card with a UID keeps it byte for byte, and its ETag comes back.
    let with = vcard3("kim-2", "Kim");
    let r = s.put_card(&ann, &format!("{}kim2.vcf", contacts(&ann)), &with).await;
    assert_eq!(r.assert(201).etag(), format!("\"{}\"", labelbook::service::etag_of(with.as_bytes())));
    s.stop().await;
}

/// RFC 6352 §8.6 and §8.7: addressbook-query and addressbook-multiget may be addressed to an address object
/// resource, and its DAV:supported-report-set says so. A query on a card tests that card alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_addressed_to_a_card() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    let card = format!("{book}kim.vcf");
    s.put_card(&ann, &card, &vcard3("kim-1", "Kim")).await.assert(201);
    s.put_card(&ann, &format!("{book}lee.vcf"), &vcard3("lee-1", "Lee")).await.assert(201);
    let multiget = format!(
        r#"<C:addressbook-multiget xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><C:address-data/></d:prop><d:href>{card}</d:href></C:addressbook-multiget>"#
    );
    s.report(&ann, &card, &multiget).await.assert(207).contains("kim.vcf").contains("FN:Kim").lacks("lee.vcf");
    let query = |name: &str| {
        format!(
            r#"<C:addressbook-query xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop><C:filter><C:prop-filter name="FN"><C:text-match collation="i;unicode-casemap" match-type="equals">{name}</C:text-match></C:prop-filter></C:filter></C:addressbook-query>"#
        )
    };
    s.as_user(&ann, "REPORT", &card, &[("depth", "0")], query("kim")).await.assert(207).contains("kim.vcf");
    let none = s.as_user(&ann, "REPORT", &card, &[("depth", "0")], query("lee")).await;
    none.assert(207).lacks("kim.vcf").lacks("lee.vcf");
    let set = r#"<d:propfind xmlns:d="DAV:"><d:prop><d:supported-report-set/></d:prop></d:propfind>"#;
    s.propfind(&ann, &card, "0", set)
        .await
        .assert(207)
        .contains("<card:addressbook-multiget/>")
        .contains("<card:addressbook-query/>");
    s.stop().await;
}

/// XML 1.0 §2.2: nothing stored can make a multistatus unreadable. A card holding a control character (as one
/// stored before cards were checked for them may) reads as U+FFFD in address-data, and the book still syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_control_character_never_breaks_the_books_xml() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let book = contacts(&ann);
    s.put_card(&ann, &format!("{book}ok.vcf"), &vcard3("ok-1", "Fine")).await.assert(201);
    s.put_card(&ann, &format!("{book}bad.vcf"), &vcard3("bad-1", "Bad")).await.assert(201);
    // RFC 6350 §3.3: a PUT with one is refused (valid-address-data)…
    let control = vcard3("bad-1", "Bad").replace("FN:Bad", "FN:Bad\u{1}Card");
    s.put_card(&ann, &format!("{book}bad.vcf"), &control).await.assert(403).contains("valid-address-data");
    // …so put one in behind the server's back.
    s.db.behind_the_back("UPDATE contacts SET vcard = $1 WHERE uid = 'bad-1'", Some(control.as_bytes())).await;
    let with_data = r#"<d:sync-collection xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/><C:address-data/></d:prop></d:sync-collection>"#;
    let r = s.report(&ann, &book, with_data).await;
    r.assert(207).contains("FN:Fine").contains("FN:Bad\u{FFFD}Card");
    assert!(!r.body.contains('\u{1}'));
    labelbook::dav::xml::parse(r.body.as_bytes()).expect("a well-formed multistatus");
    s.stop().await;
}

/// RFC 4918 §9.8 (COPY) and §9.9 (MOVE) in the label model: a card in several books is one contact on several
/// labels, so a copy puts the contact on another label and a move takes it off the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_and_move_relabel_the_one_contact_within_each_level() {
    use labelbook::service::{Grantee, access::Level};
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let ann_user = s.record(&ann).await;
    let label = |name: &'static str| {
        let (s, u) = (&s, ann_user.clone());
        async move { s.app.service.create_label(&u, None, name, "").await.unwrap().id }
    };
    let (a, b, c) = (label("Clients").await, label("Press").await, label("Team").await);
    let book = |id: &str| format!("{}{id}/", home(&ann));
    s.put_card(&ann, &format!("{}x.vcf", book(&a)), &vcard3("x", "Xavier")).await.assert(201);
    let mine = contacts(&ann);
    let count_in = |path: String| {
        let (s, ann) = (&s, ann.clone());
        async move { s.propfind(&ann, &path, "1", PROPFIND_BOOK).await.body.matches(".vcf</d:href>").count() }
    };
    let go = |method: &'static str, from: String, to: String, extra: Vec<(&'static str, String)>| {
        let (s, ann) = (&s, ann.clone());
        async move {
            let mut headers: Vec<(&str, &str)> = vec![("destination", to.as_str())];
            headers.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
            s.as_user(&ann, method, &from, &headers, "").await
        }
    };

    // COPY to another label: the same contact, now on two labels (still one card in My contacts).
    go("COPY", format!("{}x.vcf", book(&a)), format!("{}x2.vcf", book(&b)), vec![]).await.assert(201);
    let original = s.as_user(&ann, "GET", &format!("{}x.vcf", book(&a)), &[], "").await;
    let copied = s.as_user(&ann, "GET", &format!("{}x2.vcf", book(&b)), &[], "").await;
    assert_eq!((copied.status.as_u16(), &copied.bytes, copied.etag()), (200, &original.bytes, original.etag()));
    assert_eq!(count_in(mine.clone()).await, 1);
    // RFC 4918 §10.6: Overwrite F never replaces; T replaces the same card (nothing to do: 204).
    let over = |v: &str| vec![("overwrite", v.to_string())];
    go("COPY", format!("{}x.vcf", book(&a)), format!("{}x2.vcf", book(&b)), over("F")).await.assert(412);
    go("COPY", format!("{}x.vcf", book(&a)), format!("{}x2.vcf", book(&b)), over("T")).await.assert(204);
    // RFC 6352 §6.3.2.1: a destination holding another card keeps its UID: 403 no-uid-conflict, nothing changed.
    s.put_card(&ann, &format!("{}other.vcf", book(&b)), &vcard3("other", "Other")).await.assert(201);
    go("COPY", format!("{}x.vcf", book(&a)), format!("{}other.vcf", book(&b)), vec![])
        .await
        .assert(403)
        .contains("no-uid-conflict");
    // The source's If-Match: a stale ETag moves nothing.
    let stale = vec![("if-match", "\"stale\"".to_string())];
    go("MOVE", format!("{}x.vcf", book(&a)), format!("{}x.vcf", book(&c)), stale).await.assert(412);
    assert_eq!(count_in(book(&c)).await, 0);

    // MOVE between labels relabels: off Clients, onto Team, still the one contact.
    let before = s.sync_token(&ann, &book(&a)).await;
    go("MOVE", format!("{}x.vcf", book(&a)), format!("{}x.vcf", book(&c)), vec![]).await.assert(201);
    s.as_user(&ann, "GET", &format!("{}x.vcf", book(&a)), &[], "").await.assert(404);
    s.as_user(&ann, "GET", &format!("{}x.vcf", book(&c)), &[], "").await.assert(200);
    assert_ne!(s.sync_token(&ann, &book(&a)).await, before, "Clients' devices learn the card left");
    assert_eq!((count_in(mine.clone()).await, count_in(book(&a)).await, count_in(book(&c)).await), (2, 0, 1));
    // From My contacts to a label: the label is added; the contact stays in My contacts, where every contact is.
    s.put_card(&ann, &format!("{mine}y.vcf"), &vcard3("y", "Yvonne")).await.assert(201);
    go("MOVE", format!("{mine}y.vcf"), format!("{}y.vcf", book(&c)), vec![]).await.assert(201);
    s.as_user(&ann, "GET", &format!("{mine}y.vcf"), &[], "").await.assert(200);
    assert_eq!((count_in(mine.clone()).await, count_in(book(&c)).await), (3, 2));
    // Back into My contacts, where it already is under another name: the UID's card is named.
    go("COPY", format!("{}x.vcf", book(&c)), format!("{mine}x-again.vcf"), vec![])
        .await
        .assert(409)
        .contains(&format!("<d:href>{mine}x.vcf</d:href>"));

    // Bob reads Team: he may copy from it into his own book, a copy of what he sees, but not move out of it
    // (that takes Delete) nor copy into it (Edit); a refusal leaves both ends as they were.
    let g = s.app.service.share(&ann_user, &c, &Grantee::parse(&bob), Level::View, true).await.unwrap();
    s.app.service.respond(&s.record(&bob).await, g.id, true).await.unwrap();
    let team_for_bob = format!("{}{c}/", home(&bob));
    let bobs = contacts(&bob);
    let as_bob = |method: &'static str, from: String, to: String| {
        let (s, bob) = (&s, bob.clone());
        async move { s.as_user(&bob, method, &from, &[("destination", to.as_str())], "").await }
    };
    as_bob("COPY", format!("{team_for_bob}x.vcf"), format!("{bobs}x.vcf")).await.assert(201);
    s.as_user(&bob, "GET", &format!("{bobs}x.vcf"), &[], "").await.assert(200).contains("FN:Xavier");
    as_bob("MOVE", format!("{team_for_bob}y.vcf"), format!("{bobs}y.vcf")).await.assert(403).contains("<d:unbind/>");
    s.as_user(&bob, "GET", &format!("{bobs}y.vcf"), &[], "").await.assert(404);
    as_bob("COPY", format!("{bobs}x.vcf"), format!("{team_for_bob}bobs.vcf")).await.assert(403).contains("<d:bind/>");
    assert_eq!(count_in(book(&c)).await, 2);

    // Destinations: none (400), another server (502), a book that does not exist (409), the same book (403),
    // someone else's home (403); a collection is not copied (403).
    s.as_user(&ann, "COPY", &format!("{}x.vcf", book(&c)), &[], "").await.assert(400);
    go("COPY", format!("{}x.vcf", book(&c)), format!("http://elsewhere.example{}z.vcf", book(&b)), vec![])
        .await
        .assert(502);
    go("COPY", format!("{}x.vcf", book(&c)), format!("{}nope/z.vcf", home(&ann)), vec![]).await.assert(409);
    go("COPY", format!("{}x.vcf", book(&c)), format!("{}z.vcf", book(&c)), vec![]).await.assert(403);
    go("COPY", format!("{}x.vcf", book(&c)), format!("{bobs}z.vcf"), vec![]).await.assert(403);
    go("COPY", book(&c), format!("{}copy/", home(&ann)), vec![]).await.assert(403);
    // RFC 9110 §15.5.6: the methods a card supports, COPY and MOVE among them.
    let allow = s.request("OPTIONS", "/dav/", None, &[], "").await.header("allow").unwrap().to_string();
    assert!(allow.contains("COPY") && allow.contains("MOVE"), "{allow}");
    s.stop().await;
}

/// RFC 3744 §9.3: principal-match finds the caller's principal (DAV:self), and what names them as DAV:owner: their
/// own books in their home, the cards of a book they own; a book shared with them is not theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principal_match_finds_the_caller_and_what_they_own() {
    use labelbook::service::{Grantee, access::Level};
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let (ann_user, bob_user) = (s.record(&ann).await, s.record(&bob).await);
    let own = s.app.service.create_label(&ann_user, None, "Mine", "").await.unwrap().id;
    let theirs = s.app.service.create_label(&bob_user, None, "Bob's", "").await.unwrap().id;
    let g = s.app.service.share(&bob_user, &theirs, &Grantee::parse(&ann), Level::Edit, true).await.unwrap();
    s.app.service.respond(&ann_user, g.id, true).await.unwrap();
    s.put_card(&ann, &format!("{}{own}/a.vcf", home(&ann)), &vcard3("a", "A")).await.assert(201);
    s.put_card(&ann, &format!("{}{theirs}/b.vcf", home(&ann)), &vcard3("b", "B")).await.assert(201);

    let by_self = r#"<d:principal-match xmlns:d="DAV:"><d:self/><d:prop><d:displayname/></d:prop></d:principal-match>"#;
    let r = s.report0(&ann, "/dav/principals/", by_self).await;
    r.assert(207).contains(&format!("<d:href>/dav/principals/{ann}/</d:href>")).lacks(&bob);
    let by_owner = r#"<d:principal-match xmlns:d="DAV:"><d:principal-property><d:owner/></d:principal-property><d:prop><d:displayname/></d:prop></d:principal-match>"#;
    let r = s.report0(&ann, &home(&ann), by_owner).await;
    r.assert(207).contains(&format!("<d:href>{}</d:href>", contacts(&ann))).contains(&format!("{own}/</d:href>"));
    r.lacks(&theirs);
    s.report0(&ann, &format!("{}{own}/", home(&ann)), by_owner).await.assert(207).contains("a.vcf</d:href>");
    s.report0(&ann, &format!("{}{theirs}/", home(&ann)), by_owner).await.assert(207).lacks("b.vcf");
    // Depth 0 only; exactly one way to match.
    s.report(&ann, "/dav/principals/", by_self).await.assert(400);
    let neither = r#"<d:principal-match xmlns:d="DAV:"><d:prop><d:displayname/></d:prop></d:principal-match>"#;
    s.report0(&ann, "/dav/principals/", neither).await.assert(400);
    s.stop().await;
}
