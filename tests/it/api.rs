//! The JSON API (/api/v1) through real HTTP: contacts round trips with CardDAV, the JSON form keeping what it does
//! not model, If-Match, pages and search, problem documents, sharing, and the permission matrix over API writes.

use crate::common::*;
use labelbook::service::Grantee;
use labelbook::service::access::Level;
use serde_json::{Value, json};
use std::collections::HashMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_made_in_the_api_syncs_over_carddav_and_back() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let r = api(&s, &ann, "POST", "/labels", Some(json!({"name": "Clients"}))).await;
    r.assert(201);
    let label = parse(&r)["id"].as_str().unwrap().to_string();
    assert_eq!(r.header("location"), Some(format!("/api/v1/labels/{label}").as_str()));
    let before = s.sync_token(&ann, &format!("/dav/addressbooks/{ann}/{label}/")).await;

    let r = api(
        &s,
        &ann,
        "POST",
        &format!("/labels/{label}/contacts"),
        Some(json!({"name": {"given": "Bo", "family": "Chen"}, "phones": [{"value": "+1 (555) 010-0199", "types": ["cell"]}]})),
    )
    .await;
    r.assert(201);
    let c = parse(&r);
    assert_eq!(c["full_name"], "Bo Chen");
    assert_eq!(r.etag(), format!("\"{}\"", c["etag"].as_str().unwrap()));
    let id = c["id"].as_i64().unwrap();
    let uid = c["uid"].as_str().unwrap();

    // The same card over CardDAV, in the label's book and in My contacts (DESIGN: one contact, two books);
    // the label's sync-token moved.
    let href = format!("/dav/addressbooks/{ann}/{label}/{uid}.vcf");
    let dav = s.as_user(&ann, "GET", &href, &[], "").await;
    dav.assert(200).contains("FN:Bo Chen").contains("TEL;TYPE=cell:+1 (555) 010-0199");
    assert_eq!(dav.etag(), r.etag(), "the API and CardDAV give the same ETag");
    assert_ne!(s.sync_token(&ann, &format!("/dav/addressbooks/{ann}/{label}/")).await, before);

    // An iPhone rewrites it with properties the API does not model...
    let ios = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nN:Chen;Bo;;;\r\nFN:Bo Chen\r\nitem1.TEL;type=CELL:+1 (555) 010-0199\r\nitem1.X-ABLabel:_$!<Mobile>!$_\r\nIMPP;X-SERVICE-TYPE=Skype:skype:bo.chen\r\nX-PHONETIC-LAST-NAME:Chen\r\nEND:VCARD\r\n"
    );
    s.as_user(&ann, "PUT", &href, &[("content-type", "text/vcard")], ios).await.assert(204);
    let path = format!("/labels/{label}/contacts/{id}");
    let r = api(&s, &ann, "GET", &path, None).await;
    let etag = r.assert(200).etag();
    assert_eq!(parse(&r)["phones"][0]["value"], "+1 (555) 010-0199");

    // ...and a stale If-Match is refused without a change (RFC 9110 §13.1.1).
    let stale = c["etag"].as_str().unwrap();
    let stale = format!("\"{stale}\"");
    let body = json!({"title": "CTO"}).to_string();
    let r = s.as_user(&ann, "PATCH", &format!("/api/v1{path}"), &[JSON, ("if-match", &stale)], body.clone()).await;
    r.assert(412);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(s.as_user(&ann, "GET", &href, &[], "").await.etag(), etag);

    // With the current ETag, the change lands and everything the API does not model stays.
    let r = s.as_user(&ann, "PATCH", &format!("/api/v1{path}"), &[JSON, ("if-match", &etag)], body).await;
    r.assert(200);
    assert_eq!(parse(&r)["title"], "CTO");
    let dav = s.as_user(&ann, "GET", &href, &[], "").await;
    dav.contains("TITLE:CTO").contains("item1.TEL;type=CELL:+1 (555) 010-0199").contains("item1.X-ABLabel");
    dav.contains("IMPP;X-SERVICE-TYPE=Skype:skype:bo.chen").contains("X-PHONETIC-LAST-NAME:Chen");
    assert_eq!(dav.etag(), r.etag());

    // Removing it from the label leaves it in My contacts; deleting it there moves it to the trash.
    api(&s, &ann, "DELETE", &path, None).await.assert(204);
    api(&s, &ann, "GET", &path, None).await.assert(404);
    api(&s, &ann, "GET", &format!("/contacts/{id}"), None).await.assert(200);
    api(&s, &ann, "DELETE", &format!("/contacts/{id}"), None).await.assert(204);
    api(&s, &ann, "GET", &format!("/contacts/{id}"), None).await.assert(404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_list_by_name_in_pages_and_search_name_email_phone_and_organization() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let people = [
        ("Ada", "Zeta", "ada@zeta.test", "+44 20 7946 0001", "Zeta Corp"),
        ("Bob", "Young", "bob@young.test", "555-0102", "Acme"),
        ("Cy", "Xu", "cy@xu.test", "555 0103", "Acme"),
        ("Di", "Wu", "di@wu.test", "(555) 0104", "Initech"),
        ("Ed", "Vo", "ed@vo.test", "555.0105", "Initech"),
    ];
    for (given, family, email, tel, org) in people {
        let body = json!({"name": {"given": given, "family": family}, "emails": [{"value": email}], "phones": [{"value": tel}], "organization": org});
        api(&s, &ann, "POST", "/contacts", Some(body)).await.assert(201);
    }
    // Pages of two, by family name, following next_cursor to the end.
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/contacts?limit=2&cursor={c}"),
            None => "/contacts?limit=2".to_string(),
        };
        let page = parse(api(&s, &ann, "GET", &q, None).await.assert(200));
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        names.extend(items.iter().map(|c| c["name"]["family"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(names, ["Vo", "Wu", "Xu", "Young", "Zeta"]);
    let search = |q: &'static str| {
        let s = &s;
        let ann = ann.clone();
        async move {
            let page = parse(api(s, &ann, "GET", &format!("/contacts?q={q}"), None).await.assert(200));
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["full_name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("acme").await, ["Cy Xu", "Bob Young"]);
    assert_eq!(search("WU.TEST").await, ["Di Wu"]);
    // Digits match whatever separators the number was typed with.
    assert_eq!(search("5550104").await, ["Di Wu"]);
    assert_eq!(search("zeta").await, ["Ada Zeta"]);
    // LIKE wildcards in a search are literal.
    assert!(search("%25").await.is_empty());
    // Bad parameters are named.
    let r = api(&s, &ann, "GET", "/contacts?limit=0", None).await;
    assert_eq!(parse(r.assert(400))["errors"][0]["field"], "limit");
    let r = api(&s, &ann, "GET", "/contacts?cursor=nonsense", None).await;
    assert_eq!(parse(r.assert(400))["errors"][0]["field"], "cursor");
    let r = api(&s, &ann, "GET", "/contacts?sort=size", None).await;
    assert_eq!(parse(r.assert(400))["errors"][0]["field"], "sort");
    s.stop().await;
}

/// Every name in a book's pages, following next_cursor from `first`.
async fn all_pages(s: &Server, user: &str, first: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut path = first.to_string();
    loop {
        let page = parse(api(s, user, "GET", &path, None).await.assert(200));
        names.extend(page["items"].as_array().unwrap().iter().map(|c| c["full_name"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("{first}&cursor={c}"),
            None => return names,
        }
    }
}

/// "Recently changed" is the whole book's order, page after page, not a re-sort of one page: a change made
/// anywhere (CardDAV, the API) moves the contact to the front.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_list_most_recently_changed_first_across_pages() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let label = parse(api(&s, &ann, "POST", "/labels", Some(json!({"name": "Clients"}))).await.assert(201));
    let label = label["id"].as_str().unwrap().to_string();
    let mut ids = HashMap::new();
    for name in ["Ada", "Bob", "Cy", "Di", "Ed"] {
        let c = api(&s, &ann, "POST", &format!("/labels/{label}/contacts"), Some(json!({"full_name": name}))).await;
        ids.insert(name, parse(c.assert(201))["id"].as_i64().unwrap());
    }
    // Bob changes over CardDAV, then Cy through the API.
    let bob = parse(api(&s, &ann, "GET", &format!("/labels/{label}/contacts/{}", ids["Bob"]), None).await.assert(200));
    let href = format!("/dav/addressbooks/{ann}/{label}/{}.vcf", bob["uid"].as_str().unwrap());
    let card = s.as_user(&ann, "GET", &href, &[], "").await.body.replace("END:VCARD", "NOTE:called\r\nEND:VCARD");
    s.put_card(&ann, &href, &card).await.assert(204);
    let cy = format!("/labels/{label}/contacts/{}", ids["Cy"]);
    api(&s, &ann, "PATCH", &cy, Some(json!({"title": "CTO"}))).await.assert(200);
    let recent = all_pages(&s, &ann, &format!("/labels/{label}/contacts?sort=recent&limit=2")).await;
    assert_eq!(recent, ["Cy", "Bob", "Ed", "Di", "Ada"]);
    assert_eq!(all_pages(&s, &ann, "/contacts?sort=recent&limit=2").await, recent, "My contacts too");
    assert_eq!(
        all_pages(&s, &ann, &format!("/labels/{label}/contacts?limit=2&sort=name")).await,
        ["Ada", "Bob", "Cy", "Di", "Ed"]
    );
    // With a search, the order holds among the matches.
    assert_eq!(all_pages(&s, &ann, &format!("/labels/{label}/contacts?sort=recent&q=d")).await, ["Ed", "Di", "Ada"]);
    // A cursor belongs to its order.
    let page = parse(api(&s, &ann, "GET", "/contacts?limit=2", None).await.assert(200));
    let by_name = page["next_cursor"].as_str().unwrap();
    let r = api(&s, &ann, "GET", &format!("/contacts?sort=recent&cursor={by_name}"), None).await;
    assert_eq!(parse(r.assert(400))["errors"][0]["field"], "cursor");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_problem_documents_and_change_nothing() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let token = s.sync_token(&ann, &contacts(&ann)).await;
    // RFC 9457: application/problem+json with status, title and detail; validation names the field.
    let r = api(
        &s,
        &ann,
        "POST",
        "/contacts",
        Some(json!({"full_name": "X", "emails": [{"value": "a@b.test"}, {"value": "nope"}]})),
    )
    .await;
    r.assert(422);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let p = parse(&r);
    assert_eq!(p["status"], 422);
    assert_eq!(p["errors"][0]["field"], "emails[1].value");
    let r = api(&s, &ann, "POST", "/contacts", Some(json!({"full_name": "X", "colour": "red"}))).await;
    r.assert(400).contains("unknown field");
    let r = api(&s, &ann, "POST", "/contacts", Some(json!({"note": "no name at all"}))).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "full_name");
    s.as_user(&ann, "POST", "/api/v1/contacts", &[("content-type", "text/plain")], "{}").await.assert(415);
    s.as_user(&ann, "POST", "/api/v1/contacts", &[JSON], "{\"full_name\": ").await.assert(400);
    let big = "x".repeat(9 * 1024 * 1024);
    s.as_user(&ann, "POST", "/api/v1/contacts", &[JSON], big).await.assert(413);
    assert_eq!(s.sync_token(&ann, &contacts(&ann)).await, token, "a refused request changed My contacts");
    // Unknown paths, ids and methods.
    api(&s, &ann, "GET", "/nothing", None).await.assert(404);
    api(&s, &ann, "GET", "/labels/not-a-uuid", None).await.assert(404);
    api(&s, &ann, "GET", "/contacts/abc", None).await.assert(404);
    let r = api(&s, &ann, "PUT", "/labels", None).await;
    r.assert(405);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    // No or wrong credentials: 401 with a Basic challenge, as a problem document.
    let r = s.request("GET", "/api/v1/me", None, &[], "").await;
    r.assert(401);
    assert!(r.header("www-authenticate").is_some_and(|v| v.starts_with("Basic")));
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    s.request("GET", "/api/v1/me", Some((&ann, "wrong")), &[], "").await.assert(401);
    // The OpenAPI document is public.
    let r = s.request("GET", "/api/v1/openapi.yaml", None, &[], "").await;
    r.assert(200).contains("openapi: 3.1.0");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_through_the_api_invitation_devices_hidden_fields_revocation() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let cy = s.user("cy@example.com").await;
    let label = parse(api(&s, &ann, "POST", "/labels", Some(json!({"name": "Team"}))).await.assert(201))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = parse(
        api(
            &s,
            &ann,
            "POST",
            &format!("/labels/{label}/contacts"),
            Some(json!({"full_name": "Dee", "phones": [{"value": "555 0100", "types": ["cell"]}], "note": "private"})),
        )
        .await
        .assert(201),
    );
    let cid = c["id"].as_i64().unwrap();
    // Share with Bob at share level; an unknown address and the owner level are refused with the field named.
    let r = api(
        &s,
        &ann,
        "POST",
        &format!("/labels/{label}/grants"),
        Some(json!({"grantee": "nobody@example.com", "level": "view"})),
    )
    .await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "grantee");
    let r = api(&s, &ann, "POST", &format!("/labels/{label}/grants"), Some(json!({"grantee": bob, "level": "owner"})))
        .await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "level");
    // My contacts is never shared, whatever path asks (the service refuses it, not the API).
    let r = api(&s, &ann, "POST", "/labels/contacts/grants", Some(json!({"grantee": bob, "level": "view"}))).await;
    r.assert(422).contains("My contacts is private");
    api(&s, &ann, "GET", "/labels/contacts/grants", None).await.assert(422);
    let g = parse(
        api(&s, &ann, "POST", &format!("/labels/{label}/grants"), Some(json!({"grantee": bob, "level": "share"})))
            .await
            .assert(201),
    );
    assert_eq!(g["status"], "pending");
    let gid = g["id"].as_i64().unwrap();
    // Pending: Bob sees the invitation, not the label.
    let inv = parse(api(&s, &bob, "GET", "/invitations", None).await.assert(200));
    assert_eq!(inv["items"][0]["label_name"], "Team");
    assert_eq!(inv["items"][0]["owner"], ann.as_str());
    api(&s, &bob, "GET", &format!("/labels/{label}"), None).await.assert(404);
    // Accept without devices: in the dashboard's list, not in the CardDAV home; then switched on.
    let r = api(&s, &bob, "POST", &format!("/invitations/{gid}/accept"), Some(json!({"sync_devices": false}))).await;
    assert_eq!(parse(r.assert(200))["status"], "accepted");
    let labels = parse(api(&s, &bob, "GET", "/labels", None).await.assert(200));
    assert_eq!(labels["items"][0]["level"], "share");
    assert_eq!(labels["items"][0]["sync_devices"], false);
    assert_eq!(labels["items"][0]["contact_count"], 1);
    let propfind = r#"<d:propfind xmlns:d="DAV:"><d:prop><d:displayname/></d:prop></d:propfind>"#;
    s.propfind(&bob, &home(&bob), "1", propfind).await.assert(207).lacks(&label);
    api(&s, &bob, "PATCH", &format!("/labels/{label}"), Some(json!({"sync_devices": true}))).await.assert(200);
    s.propfind(&bob, &home(&bob), "1", propfind).await.assert(207).contains(&label);
    // The owner's labels always sync: asking otherwise is refused, and the rename sent with it does not happen.
    let r =
        api(&s, &ann, "PATCH", &format!("/labels/{label}"), Some(json!({"name": "Renamed", "sync_devices": false})))
            .await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "sync_devices");
    assert_eq!(parse(api(&s, &ann, "GET", &format!("/labels/{label}"), None).await.assert(200))["name"], "Team");
    // Accepting twice is a conflict.
    api(&s, &bob, "POST", &format!("/invitations/{gid}/accept"), None).await.assert(409);

    // Bob (share level) invites Cy at edit; he may not hide fields (owner only) and nothing changes.
    let g2 = parse(
        api(&s, &bob, "POST", &format!("/labels/{label}/grants"), Some(json!({"grantee": cy, "level": "edit"})))
            .await
            .assert(201),
    );
    let g2id = g2["id"].as_i64().unwrap();
    api(&s, &cy, "POST", &format!("/invitations/{g2id}/accept"), None).await.assert(200);
    let r =
        api(&s, &bob, "PATCH", &format!("/grants/{g2id}"), Some(json!({"level": "view", "hidden_fields": ["NOTE"]})))
            .await;
    r.assert(403);
    let grants = parse(api(&s, &ann, "GET", &format!("/labels/{label}/grants"), None).await.assert(200));
    let cy_grant = grants["items"].as_array().unwrap().iter().find(|g| g["id"] == g2id).unwrap().clone();
    assert_eq!(cy_grant["level"], "edit", "a refused change must change nothing");
    // Nor may he share with fields hidden: refused before any grant is made.
    let r = api(
        &s,
        &bob,
        "POST",
        &format!("/labels/{label}/grants"),
        Some(json!({"grantee": ann, "level": "view", "hidden_fields": ["NOTE"]})),
    )
    .await;
    r.assert(403);
    let dee = s.user("dee@example.com").await;
    let r = api(
        &s,
        &bob,
        "POST",
        &format!("/labels/{label}/grants"),
        Some(json!({"grantee": dee, "level": "view", "hidden_fields": ["NOTE"]})),
    )
    .await;
    r.assert(403);
    let after = parse(api(&s, &ann, "GET", &format!("/labels/{label}/grants"), None).await.assert(200));
    assert_eq!(after["items"].as_array().unwrap().len(), grants["items"].as_array().unwrap().len());
    // Bob may not raise anyone above his own level, nor change his own grant.
    api(&s, &bob, "PATCH", &format!("/grants/{g2id}"), Some(json!({"level": "share"}))).await.assert(200);
    api(&s, &bob, "PATCH", &format!("/grants/{gid}"), Some(json!({"level": "view"}))).await.assert(422);

    // The owner hides TEL;TYPE=CELL and NOTE from Cy: Cy reads without them, and Cy's edit keeps them.
    let r =
        api(&s, &ann, "PATCH", &format!("/grants/{g2id}"), Some(json!({"hidden_fields": ["TEL;TYPE=CELL", "NOTE"]})))
            .await;
    assert_eq!(parse(r.assert(200))["hidden_fields"], json!(["TEL;TYPE=CELL", "NOTE"]));
    let path = format!("/labels/{label}/contacts/{cid}");
    let seen = parse(api(&s, &cy, "GET", &path, None).await.assert(200));
    assert_eq!(seen["phones"], json!([]));
    assert_eq!(seen["note"], "");
    let cy_label = parse(api(&s, &cy, "GET", &format!("/labels/{label}"), None).await.assert(200));
    assert_eq!(cy_label["hidden_fields"], json!(["NOTE", "TEL;TYPE=CELL"]));
    api(&s, &cy, "PATCH", &path, Some(json!({"title": "Lead", "phones": [{"value": "555 0199", "types": ["work"]}]})))
        .await
        .assert(200);
    let full = parse(api(&s, &ann, "GET", &path, None).await.assert(200));
    assert_eq!(full["title"], "Lead");
    assert_eq!(full["note"], "private");
    let phones: Vec<&str> = full["phones"].as_array().unwrap().iter().map(|p| p["value"].as_str().unwrap()).collect();
    assert!(phones.contains(&"555 0100") && phones.contains(&"555 0199"), "{phones:?}");

    // Revoked: the label is gone for Cy (404, never 403).
    let r = api(&s, &ann, "DELETE", &format!("/grants/{g2id}"), None).await;
    assert_eq!(parse(r.assert(200))["status"], "revoked");
    api(&s, &cy, "GET", &path, None).await.assert(404);
    // Accepting a revoked invitation is a clear error (409, saying so), and changes nothing.
    api(&s, &cy, "POST", &format!("/invitations/{g2id}/accept"), None).await.assert(409).contains("revoked");
    api(&s, &cy, "GET", &path, None).await.assert(404);
    // Bob leaves by deleting the label: it stays for Ann.
    api(&s, &bob, "DELETE", &format!("/labels/{label}"), None).await.assert(204);
    api(&s, &bob, "GET", &format!("/labels/{label}"), None).await.assert(404);
    api(&s, &ann, "GET", &format!("/labels/{label}"), None).await.assert(200);
    s.stop().await;
}

/// The matrix's API calls on one label, in order.
const API_OPS: [&str; 19] = [
    "list contacts",
    "create contact",
    "change contact",
    "delete contact",
    "add existing contact",
    "describe label",
    "rename label",
    "list grants",
    "share",
    "change grant",
    "invitation link",
    "resend invitation",
    "revoke grant",
    "read activity",
    "restore removal",
    "export",
    "import",
    "transfer",
    "delete label",
];

/// What a user at `level` gets for each of `API_OPS` on a label they can see; `None`: one they cannot see.
fn api_expected(level: Option<Level>) -> [u16; 19] {
    let Some(level) = level else {
        return [404; 19];
    };
    let at = |l: Level, ok: u16| if level >= l { ok } else { 403 };
    [
        200,
        at(Level::Edit, 201),
        at(Level::Edit, 200),
        at(Level::Delete, 204),
        at(Level::Edit, 200),
        at(Level::Share, 200),
        at(Level::Owner, 200),
        at(Level::Share, 200),
        at(Level::Share, 201),
        at(Level::Share, 200),
        at(Level::Share, 201),
        // Allowed, but this server has no mail server: the refusal says so.
        at(Level::Share, 409),
        at(Level::Share, 200),
        200,
        at(Level::Share, 204),
        200,
        at(Level::Edit, 202),
        // Allowed, but only to an accepted collaborator, which the one named is not: the field is named.
        at(Level::Owner, 422),
        // The owner deletes the label; anyone else leaves it.
        204,
    ]
}

/// What the matrix needs on one label for each user who tries it: a contact to delete, a pending grant to
/// change, link, resend and revoke, and a removal to restore.
struct Fixture {
    label: String,
    owner: String,
    shared_contact: i64,
    doomed: HashMap<String, i64>,
    victim_grant: HashMap<String, i64>,
    removal: HashMap<String, i64>,
}

async fn fixture(s: &Server, owner: &str, name: &str, actors: &[&str]) -> Fixture {
    let user = s.record(owner).await;
    let label = s.app.service.create_label(&user, None, name, "").await.unwrap().id;
    let book = format!("/labels/{label}");
    let new_contact = |full_name: String| {
        let book = book.clone();
        async move {
            let r = api(s, owner, "POST", &format!("{book}/contacts"), Some(json!({"full_name": full_name}))).await;
            parse(r.assert(201))["id"].as_i64().unwrap()
        }
    };
    let shared_contact = new_contact(format!("Shared of {name}")).await;
    let (mut doomed, mut victim_grant, mut removal) = (HashMap::new(), HashMap::new(), HashMap::new());
    for who in actors {
        doomed.insert(who.to_string(), new_contact(format!("Doomed {who} {name}")).await);
        let victim = s.user(&unique_email("victim")).await;
        let g = s.app.service.share(&user, &label, &Grantee::User(victim), Level::View, true).await.unwrap();
        victim_grant.insert(who.to_string(), g.id);
        let gone = new_contact(format!("Removed {who} {name}")).await;
        api(s, owner, "DELETE", &format!("{book}/contacts/{gone}"), None).await.assert(204);
        let trash = parse(api(s, owner, "GET", "/trash", None).await.assert(200));
        let id = trash["removals"].as_array().unwrap().iter().find(|r| r["contact_id"] == gone).unwrap()["id"].as_i64();
        removal.insert(who.to_string(), id.unwrap());
    }
    Fixture { label, owner: owner.to_string(), shared_contact, doomed, victim_grant, removal }
}

/// What a refusal must leave alone: the label's contacts, its details, and each collaborator's grant.
async fn fingerprint(s: &Server, f: &Fixture) -> (String, Value, Value, Vec<Value>) {
    let (book, owner) = (format!("/labels/{}", f.label), &f.owner);
    let token = s.sync_token(owner, &format!("/dav/addressbooks/{owner}/{}/", f.label)).await;
    let details = parse(api(s, owner, "GET", &book, None).await.assert(200));
    let grants = parse(api(s, owner, "GET", &format!("{book}/grants"), None).await.assert(200));
    let grants = grants["items"].as_array().unwrap().iter().map(|g| g["etag"].clone()).collect();
    (token, details["name"].clone(), details["description"].clone(), grants)
}

fn unique_email(prefix: &str) -> String {
    format!("{}@example.com", unique(prefix))
}

/// The permission matrix over the API: every level (and pending, declined, revoked, stranger) × every API call on a
/// label × the user's own label, the label shared with them, and someone else's label. Each status is exact,
/// every refusal is a problem document, and no refusal changes the label's contacts, details or collaborators.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_matrix_over_every_api_write() {
    let s = Server::start().await;
    let owner = s.user("ann@example.com").await;
    let ann = s.record(&owner).await;
    let who_email = |who: &str| if who == "owner" { owner.clone() } else { format!("{who}@example.com") };
    // The owner comes last: the last call of each row deletes (or leaves) the label.
    let everyone = ["view", "edit", "delete", "share", "pending", "declined", "revoked", "stranger", "owner"];
    for who in everyone.iter().filter(|w| **w != "owner") {
        s.user(&who_email(who)).await;
    }
    let zed = s.user("zed@example.net").await;
    let shared = fixture(&s, &owner, "Clients", &everyone).await;
    let others = fixture(&s, &zed, "Zed's", &everyone).await;
    for (who, level, then) in [
        ("view", Level::View, "accept"),
        ("edit", Level::Edit, "accept"),
        ("delete", Level::Delete, "accept"),
        ("share", Level::Share, "accept"),
        ("pending", Level::Edit, ""),
        ("declined", Level::Edit, "decline"),
        ("revoked", Level::Edit, "revoke"),
    ] {
        let email = who_email(who);
        let user = s.record(&email).await;
        let g = s.app.service.share(&ann, &shared.label, &Grantee::User(email), level, true).await.unwrap();
        match then {
            "accept" => drop(s.app.service.respond(&user, g.id, true).await.unwrap()),
            "decline" => drop(s.app.service.respond(&user, g.id, false).await.unwrap()),
            "revoke" => drop(s.app.service.revoke(&ann, g.id).await.unwrap()),
            _ => {}
        }
    }
    let vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:imported-by-matrix\r\nFN:Imported\r\nEND:VCARD\r\n";
    for who in everyone {
        let email = who_email(who);
        let own = fixture(&s, &email, &format!("Own of {who}"), &[who]).await;
        let mine = json!({"full_name": format!("Own of {who}")});
        let mine = parse(api(&s, &email, "POST", "/contacts", Some(mine)).await.assert(201));
        let mine = mine["id"].as_i64().unwrap();
        let level = level_of(who);
        for (column, f, level) in [
            ("own label", &own, Some(Level::Owner)),
            ("shared label", &shared, level),
            ("someone else's label", &others, None),
        ] {
            let book = format!("/labels/{}", f.label);
            let grant = format!("/grants/{}", f.victim_grant[who]);
            let invitee = s.user(&unique_email("invitee")).await;
            let ops: [(&str, String, Option<Value>, Option<&str>); 19] = [
                ("GET", format!("{book}/contacts"), None, None),
                ("POST", format!("{book}/contacts"), Some(json!({"full_name": format!("New by {who}")})), None),
                (
                    "PATCH",
                    format!("{book}/contacts/{}", f.shared_contact),
                    Some(json!({"title": format!("by {who}")})),
                    None,
                ),
                ("DELETE", format!("{book}/contacts/{}", f.doomed[who]), None, None),
                ("POST", format!("{book}/members"), Some(json!({"contact_ids": [mine]})), None),
                ("PATCH", book.clone(), Some(json!({"description": format!("by {who}")})), None),
                ("PATCH", book.clone(), Some(json!({"name": format!("Renamed by {who}")})), None),
                ("GET", format!("{book}/grants"), None, None),
                ("POST", format!("{book}/grants"), Some(json!({"grantee": invitee, "level": "view"})), None),
                ("PATCH", grant.clone(), Some(json!({"level": "edit"})), None),
                ("POST", format!("{grant}/link"), None, None),
                ("POST", format!("{grant}/resend"), None, None),
                ("DELETE", grant.clone(), None, None),
                ("GET", format!("{book}/activity"), None, None),
                ("POST", format!("{book}/removals/{}/restore", f.removal[who]), None, None),
                ("GET", format!("/export?book={}", f.label), None, None),
                ("POST", format!("/imports?book={}", f.label), None, Some(vcf)),
                ("POST", format!("{book}/transfer"), Some(json!({"to": "zed@example.net"})), None),
                ("DELETE", book.clone(), None, None),
            ];
            let want = api_expected(level);
            // The label's `may` tells the caller exactly what the server then allows (clients compare no levels).
            let shown = api(&s, &email, "GET", &book, None).await;
            if shown.status == 200 {
                let may = parse(&shown)["may"].clone();
                for (flag, k) in [
                    ("add_contacts", 1),
                    ("edit_contacts", 2),
                    ("remove_contacts", 3),
                    ("change_properties", 5),
                    ("share", 8),
                    ("restore", 14),
                ] {
                    assert_eq!(
                        may[flag],
                        want[k] < 400,
                        "{who} on {column}: may.{flag} but {} is {}",
                        API_OPS[k],
                        want[k]
                    );
                }
                // A transfer to someone unknown is refused for what it names (422) once the level allows it.
                assert_eq!(may["administer"], want[17] != 403, "{who} on {column}: may.administer {may}");
                let levels = may["grant_levels"].as_array().unwrap().len();
                assert_eq!(levels > 0, want[8] < 400, "{who} on {column}: grant_levels {may}");
            }
            let mut got = Vec::new();
            for (k, (method, path, body, file)) in ops.into_iter().enumerate() {
                let before = fingerprint(&s, f).await;
                let r = match file {
                    Some(text) => {
                        s.as_user(&email, method, &format!("/api/v1{path}"), &[("content-type", "text/vcard")], text)
                            .await
                    }
                    None => api(&s, &email, method, &path, body).await,
                };
                got.push(r.status.as_u16());
                if r.status.as_u16() >= 400 {
                    assert_eq!(r.header("content-type"), Some("application/problem+json"), "{who} {method} {path}");
                }
                if r.status.as_u16() == 202 {
                    // An import runs in the background: let it finish before the next call is judged.
                    let job = r.header("location").unwrap().trim_start_matches("/api/v1").to_string();
                    for _ in 0..100 {
                        if parse(&api(&s, &email, "GET", &job, None).await)["status"] != "running" {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
                if want[k] >= 400 {
                    assert_eq!(fingerprint(&s, f).await, before, "{who} on {column}: {} changed the label", API_OPS[k]);
                }
            }
            assert_eq!(got, want, "{who} on {column}, in the order {API_OPS:?}");
        }
    }
    s.stop().await;
}

/// RFC 4790 §9.3 / RFC 5051 §2: i;unicode-casemap compares case-mapped, NFKD-decomposed text; RFC 6352 §8.3
/// makes it the default collation of addressbook-query, and the API's search compares the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_compares_as_unicode_casemap_and_reads_decoded_values() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let cards = [
        ("upper", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:upper\r\nFN:JÜRGEN MÜLLER\r\nN:MÜLLER;JÜRGEN;;;\r\nEND:VCARD\r\n"),
        ("decomposed", "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:decomposed\r\nFN:Anna Mu\u{308}ller\r\nEND:VCARD\r\n"),
        (
            "qp",
            "BEGIN:VCARD\r\nVERSION:2.1\r\nUID:qp\r\nFN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Eva M=C3=BCller\r\nEND:VCARD\r\n",
        ),
        (
            "strasse",
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:strasse\r\nFN:Kim\r\nN:Kim;;;;\r\nORG:Große Straße GmbH\r\nEND:VCARD\r\n",
        ),
        ("other", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:other\r\nFN:Mueller Not\r\nN:Not;;;;\r\nEND:VCARD\r\n"),
    ];
    for (name, card) in cards {
        s.put_card(&ann, &format!("{}{name}.vcf", contacts(&ann)), card).await.assert(201);
    }
    async fn found(s: &Server, ann: &str, q: &str) -> Vec<String> {
        let q = percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC);
        let page = parse(api(s, ann, "GET", &format!("/contacts?q={q}"), None).await.assert(200));
        let mut uids: Vec<String> =
            page["items"].as_array().unwrap().iter().map(|c| c["uid"].as_str().unwrap().to_string()).collect();
        uids.sort();
        uids
    }
    let muellers = ["decomposed", "qp", "upper"];
    for q in ["müller", "MÜLLER", "Mu\u{308}ller", "  mÜller "] {
        assert_eq!(found(&s, &ann, q).await, muellers, "{q:?}");
    }
    assert_eq!(found(&s, &ann, "STRASSE").await, ["strasse"]);
    assert_eq!(found(&s, &ann, "=C3=BC").await, Vec::<String>::new());
    // The same over CardDAV.
    let query = r#"<C:addressbook-query xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop><C:filter><C:prop-filter name="FN"><C:text-match collation="i;unicode-casemap" match-type="contains">MÜLLER</C:text-match></C:prop-filter></C:filter></C:addressbook-query>"#;
    let r = s.report(&ann, &contacts(&ann), query).await;
    r.assert(207);
    for uid in ["upper", "decomposed"] {
        r.contains(&format!("{uid}.vcf</d:href>"));
    }
    r.lacks("other.vcf");

    // Contacts stored before the search text existed get it when the server starts.
    s.db.behind_the_back("UPDATE contacts SET search = NULL", None).await;
    assert_eq!(found(&s, &ann, "müller").await, Vec::<String>::new());
    labelbook::app::App::open(s.db.config()).await.unwrap();
    assert_eq!(found(&s, &ann, "müller").await, muellers);
    s.stop().await;
}

/// `POST /grantees/check`: the "+" flow checks each collaborator, by the rules sharing applies, before the label
/// exists; nothing is stored, and a read-only token or no credentials are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collaborator_is_checked_before_the_label_exists() {
    let s = Server::start().await;
    s.app.service.add_domain(&Admin::console(), "example.com", true, false).await.unwrap();
    let ann = s.user("ann@example.com").await;
    s.user("bob@example.com").await;
    let check = |body: Value| {
        let (s, ann) = (&s, ann.clone());
        async move { api(s, &ann, "POST", "/grantees/check", Some(body)).await }
    };
    check(json!({"grantee": "bob@example.com", "level": "edit"})).await.assert(204);
    // Someone of the server's domains without an account yet can be invited; anyone else cannot.
    check(json!({"grantee": "new@example.com", "level": "view"})).await.assert(204);
    let field_of = |r: &Resp| parse(r)["errors"][0]["field"].as_str().unwrap_or("").to_string();
    for (body, field) in [
        (json!({"grantee": "ann@example.com", "level": "edit"}), "grantee"),
        (json!({"grantee": "someone@elsewhere.test", "level": "edit"}), "grantee"),
        (json!({"grantee": "not an address", "level": "edit"}), "grantee"),
        (json!({"kind": "group", "grantee": "nobody", "level": "edit"}), "grantee"),
        (json!({"kind": "domain", "grantee": "elsewhere.test", "level": "edit"}), "grantee"),
        (json!({"grantee": "bob@example.com", "level": "owner"}), "level"),
    ] {
        let r = check(body.clone()).await;
        r.assert(422);
        assert_eq!(field_of(&r), field, "{body}: {}", r.body);
    }
    // Nothing was stored: Bob has no invitation.
    let bobs = parse(&api(&s, "bob@example.com", "GET", "/invitations", None).await);
    assert!(bobs["items"].as_array().unwrap().is_empty(), "{bobs}");
    s.request("POST", "/api/v1/grantees/check", None, &[JSON], r#"{"grantee":"bob@example.com","level":"edit"}"#)
        .await
        .assert(401);
    let user = s.record(&ann).await;
    let (_, read) = s
        .app
        .accounts
        .create_token(&user, labelbook::service::access::Credential::Password, "ci", "read", None)
        .await
        .unwrap();
    let bearer = format!("Bearer {read}");
    s.request(
        "POST",
        "/api/v1/grantees/check",
        None,
        &[JSON, ("authorization", &bearer)],
        r#"{"grantee":"bob@example.com","level":"edit"}"#,
    )
    .await
    .assert(403);
    s.stop().await;
}
