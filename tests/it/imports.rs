//! Imports as jobs (vCard files, Google Contacts and Outlook CSV) and exports (.vcf, CSV) through the API.

use crate::common::*;
use labelbook::service::Grantee;
use labelbook::service::access::Level;
use serde_json::{Value, json};
use std::time::Duration;

async fn import(s: &Server, user: &str, query: &str, ctype: &str, body: impl Into<bytes::Bytes>) -> Resp {
    s.as_user(user, "POST", &format!("/api/v1/imports{query}"), &[("content-type", ctype)], body).await
}

/// Follows a job until it is no longer running.
async fn finished(s: &Server, user: &str, r: &Resp) -> Value {
    let location = r.header("location").expect("the job's Location").to_string();
    // Up to 30 s: a loaded CI machine runs a debug build.
    for _ in 0..600 {
        let job = parse(s.as_user(user, "GET", &location, &[], "").await.assert(200));
        if job["status"] != "running" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the import did not finish");
}

fn many_cards(n: usize) -> String {
    (0..n).map(|i| vcard3(&format!("imp-{i}"), &format!("Person {i:04}"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vcard_file_imports_as_a_job_and_again_updates_instead_of_doubling() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let mut file = many_cards(1200);
    file.push_str("BEGIN:VCARD\r\nVERSION:9.9\r\nUID:broken\r\nFN:Broken\r\nEND:VCARD\r\n");
    let r = import(&s, &ann, "?name=all.vcf", "text/vcard", file.clone()).await;
    r.assert(202);
    let job = parse(&r);
    assert_eq!((job["total"].as_i64(), job["file_name"].as_str()), (Some(1201), Some("all.vcf")));
    let job = finished(&s, &ann, &r).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(
        (job["created"].as_i64(), job["failed"].as_i64(), job["done"].as_i64()),
        (Some(1200), Some(1), Some(1201))
    );
    assert!(job["failures"][0].as_str().unwrap().starts_with("card 1201"), "{job}");
    let page = parse(s.as_user(&ann, "GET", "/api/v1/contacts?q=Person+0042", &[], "").await.assert(200));
    assert_eq!(page["items"][0]["full_name"], "Person 0042");

    let r = import(&s, &ann, "", "text/vcard", many_cards(1200)).await;
    let job = finished(&s, &ann, r.assert(202)).await;
    assert_eq!((job["created"].as_i64(), job["updated"].as_i64()), (Some(0), Some(1200)), "{job}");
    let list = parse(s.as_user(&ann, "GET", "/api/v1/imports", &[], "").await.assert(200));
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    // Someone else's job is not found.
    let bob = s.user("bob@example.com").await;
    let id = job["id"].as_i64().unwrap();
    s.as_user(&bob, "GET", &format!("/api/v1/imports/{id}"), &[], "").await.assert(404);
    s.stop().await;
}

const GOOGLE: &str = "Name,Given Name,Family Name,E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value,Organization 1 - Name,Organization 1 - Title,Notes,Custom Field 1 - Value\r\n\
Ann Lee,Ann,Lee,* Work,ann@acme.com ::: ann@home.net,Mobile,+1 555 0100,Acme,CTO,\"met at the fair, 2024\",blue\r\n\
Bo Chen,Bo,Chen,,bo@chen.io,,,,,,\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_and_outlook_csv_come_in_with_their_fields() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let owner = s.record(&ann).await;
    let label = s.app.service.create_label(&owner, None, "Fair", "").await.unwrap().id;
    let r = import(&s, &ann, &format!("?book={label}"), "text/csv", GOOGLE).await;
    let job = finished(&s, &ann, r.assert(202)).await;
    assert_eq!(job["format"], "csv");
    assert_eq!(job["created"], 2, "{job}");
    assert_eq!(job["unread_columns"], json!(["Custom Field 1 - Value"]), "columns not imported are reported");
    let page =
        parse(s.as_user(&ann, "GET", &format!("/api/v1/labels/{label}/contacts?q=lee"), &[], "").await.assert(200));
    let ann_lee = &page["items"][0];
    assert_eq!(ann_lee["full_name"], "Ann Lee");
    assert_eq!(ann_lee["organization"], "Acme");
    assert_eq!(ann_lee["emails"].as_array().unwrap().len(), 2);
    assert_eq!(ann_lee["phones"][0]["types"], json!(["cell"]));
    assert_eq!(ann_lee["note"], "met at the fair, 2024");
    // The same file again: the same rows are the same contacts.
    let r = import(&s, &ann, &format!("?book={label}"), "text/csv", GOOGLE).await;
    let job = finished(&s, &ann, r.assert(202)).await;
    assert_eq!((job["created"].as_i64(), job["updated"].as_i64()), (Some(0), Some(2)), "{job}");

    // Outlook, as older versions write it: Windows-1252.
    let mut outlook = b"First Name,Last Name,Company,E-mail Address,Business Phone,Mobile Phone,Birthday\r\nJ".to_vec();
    outlook
        .extend_from_slice(b"\xfcrgen,M\xfcller,M\xfcller GmbH,jm@example.de,+49 30 1234,+49 170 5678,5/17/1990\r\n");
    let r = import(&s, &ann, "", "text/csv", outlook).await;
    let job = finished(&s, &ann, r.assert(202)).await;
    assert_eq!(job["created"], 1, "{job}");
    let page = parse(s.as_user(&ann, "GET", "/api/v1/contacts?q=m%C3%BCller", &[], "").await.assert(200));
    let j = &page["items"][0];
    assert_eq!(j["full_name"], "Jürgen Müller");
    assert_eq!(j["birthday"], "1990-05-17");
    assert_eq!(j["phones"].as_array().unwrap().len(), 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_are_refused_below_edit_level_and_for_bad_files() {
    let s = Server::start_with(|c| c.max_import_size = 64 * 1024).await;
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let owner = s.record(&ann).await;
    let viewer = s.record(&bob).await;
    let label = s.app.service.create_label(&owner, None, "Shared", "").await.unwrap().id;
    let g = s.app.service.share(&owner, &label, &Grantee::User(bob.clone()), Level::View, true).await.unwrap();
    s.app.service.respond(&viewer, g.id, true).await.unwrap();
    let cy = s.user("cy@example.com").await;
    let card = vcard3("x", "X");
    import(&s, &bob, &format!("?book={label}"), "text/vcard", card.clone()).await.assert(403);
    import(&s, &cy, &format!("?book={label}"), "text/vcard", card.clone()).await.assert(404);
    import(&s, &ann, "?book=nope", "text/vcard", card.clone()).await.assert(400);
    import(&s, &ann, "?format=xls", "text/vcard", card.clone()).await.assert(400);
    import(&s, &ann, "?colour=red", "text/vcard", card.clone()).await.assert(400);
    for bad in ["", "hello, world\nthis is not contacts\n", "Name,Phone 1 - Value\n\"open"] {
        let r = import(&s, &ann, "", "text/plain", bad).await;
        assert_eq!(parse(r.assert(422))["errors"][0]["field"], "file", "{bad:?}");
    }
    import(&s, &ann, "", "text/vcard", many_cards(1000)).await.assert(413);
    let list = parse(s.as_user(&ann, "GET", "/api/v1/imports", &[], "").await.assert(200));
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "refusals record no job");
    let page = parse(s.as_user(&ann, "GET", "/api/v1/contacts", &[], "").await.assert(200));
    assert_eq!(page["items"].as_array().unwrap().len(), 0, "and write nothing");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_whole_books_without_what_is_hidden() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let bob = s.user("bob@example.com").await;
    let owner = s.record(&ann).await;
    let viewer = s.record(&bob).await;
    let label = s.app.service.create_label(&owner, None, "Größe Kunden", "").await.unwrap().id;
    let book = format!("/dav/addressbooks/{ann}/{label}/");
    for i in 0..1500 {
        let card = format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:e{i}\r\nFN:Person {i}\r\nN:{i};Person;;;\r\nTEL;TYPE=CELL:+1 555 {i:04}\r\nNOTE:secret {i}\r\nEND:VCARD\r\n"
        );
        s.put_card(&ann, &format!("{book}e{i}.vcf"), &card).await.assert(201);
    }
    let g = s.app.service.share(&owner, &label, &Grantee::User(bob.clone()), Level::View, true).await.unwrap();
    s.app.service.respond(&viewer, g.id, true).await.unwrap();
    s.app.service.set_hidden_fields(&owner, g.id, &["NOTE"]).await.unwrap();

    let r = s.as_user(&ann, "GET", &format!("/api/v1/export?book={label}"), &[], "").await;
    r.assert(200);
    assert_eq!(r.header("content-type"), Some("text/vcard; charset=utf-8"));
    let disposition = r.header("content-disposition").unwrap();
    assert!(disposition.starts_with("attachment; filename=\"Gr__e_Kunden.vcf\""), "{disposition}");
    assert!(disposition.contains("filename*=UTF-8''Gr%C3%B6%C3%9Fe%20Kunden.vcf"), "{disposition}");
    assert_eq!(r.body.matches("BEGIN:VCARD").count(), 1500, "every page of the book");
    assert!(r.body.contains("NOTE:secret 1499"));

    let r = s.as_user(&bob, "GET", &format!("/api/v1/export?book={label}&format=csv"), &[], "").await;
    r.assert(200);
    let lines: Vec<&str> = r.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1501, "a header and a row per contact");
    assert!(lines[0].starts_with("First Name,Middle Name,Last Name"));
    assert!(r.body.contains("Mobile,+1 555 0007"));
    assert!(!r.body.contains("secret"), "what is hidden from Bob is not in his export");
    let r = s.as_user(&bob, "GET", &format!("/api/v1/export?book={label}"), &[], "").await;
    assert!(!r.body.contains("secret"));

    let cy = s.user("cy@example.com").await;
    s.as_user(&cy, "GET", &format!("/api/v1/export?book={label}"), &[], "").await.assert(404);
    s.as_user(&ann, "GET", "/api/v1/export?format=pdf", &[], "").await.assert(400);
    let r = s.as_user(&cy, "GET", "/api/v1/export", &[], "").await;
    r.assert(200);
    assert!(r.body.is_empty(), "an empty My contacts exports as an empty file");

    // Chosen contacts (the dashboard's bulk Export): those asked, in the order asked, across pages of ids, as
    // the reader reads them; ids not in the book are left out.
    let page = parse(&api(&s, &bob, "GET", &format!("/labels/{label}/contacts?limit=500"), None).await);
    let mut ids: Vec<i64> = page["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    ids.reverse();
    ids.truncate(501);
    ids.push(999_999_999);
    let chosen =
        |book: &str, format: &str, ids: &[i64]| serde_json::json!({"book": book, "format": format, "ids": ids});
    let r = api(&s, &bob, "POST", "/export", Some(chosen(&label, "vcf", &ids))).await;
    r.assert(200);
    assert_eq!(r.body.matches("BEGIN:VCARD").count(), 500, "the 500 that are in the book (one id twice is once)");
    assert!(!r.body.contains("secret"), "nothing hidden from Bob");
    let first = r.body.find(&format!("FN:{}\r\n", page["items"][499]["full_name"].as_str().unwrap())).unwrap();
    let last = r.body.find(&format!("FN:{}\r\n", page["items"][0]["full_name"].as_str().unwrap())).unwrap();
    assert!(first < last, "in the order asked");
    let r = api(&s, &ann, "POST", "/export", Some(chosen(&label, "csv", &ids[..3]))).await;
    assert_eq!(r.assert(200).body.split("\r\n").filter(|l| !l.is_empty()).count(), 4);
    api(&s, &cy, "POST", "/export", Some(chosen(&label, "vcf", &ids[..3]))).await.assert(404);
    api(&s, &ann, "POST", "/export", Some(chosen(&label, "vcf", &[]))).await.assert(400);
    api(&s, &ann, "POST", "/export", Some(chosen(&label, "vcf", &vec![1; 5001]))).await.assert(400);
    api(&s, &ann, "POST", "/export", Some(chosen(&label, "pdf", &ids[..3]))).await.assert(400);
    api(&s, &ann, "POST", "/export", Some(serde_json::json!({"ids": [1], "extra": true}))).await.assert(400);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_card_of_a_file_is_counted_created_updated_or_failed() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    // An Android-style 2.1 export in Windows-1252 with a BlackBerry agent inside one card, a card cut short by
    // the next one, and a file that ends inside a card.
    let mut file = vcard3("first", "First").into_bytes();
    file.extend_from_slice(b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Okafor;Chidi\r\nAGENT:\r\nBEGIN:VCARD\r\nVERSION:2.1\r\nN:Bello;Ada\r\nEND:VCARD\r\nNOTE;CHARSET=Windows-1252:\x93caf\xe9\x94\r\nEND:VCARD\r\n");
    file.extend_from_slice(b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:cut\r\nFN:Cut Short\r\n");
    file.extend_from_slice(vcard3("second", "Second").as_bytes());
    file.extend_from_slice(b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:end\r\n");
    let r = import(&s, &ann, "?name=mixed.vcf", "text/vcard", file).await;
    r.assert(202);
    let job = finished(&s, &ann, &r).await;
    assert_eq!(job["status"], "done", "{job}");
    let count = |k: &str| job[k].as_i64().unwrap();
    assert_eq!((count("total"), count("created"), count("updated"), count("failed")), (5, 3, 0, 2), "{job}");
    let failures: Vec<&str> = job["failures"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(failures[0].starts_with("card 3 (line 18): the card has no END:VCARD"), "{failures:?}");
    assert!(failures[1].starts_with("card 5 (line 29): the file ends inside this card"), "{failures:?}");
    // The agent stayed inside Chidi's card, and its note was read in its charset.
    let page = parse(s.as_user(&ann, "GET", "/api/v1/contacts?q=Okafor", &[], "").await.assert(200));
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!((items[0]["full_name"].as_str(), items[0]["note"].as_str()), (Some("Chidi Okafor"), Some("“café”")));
    let page = parse(s.as_user(&ann, "GET", "/api/v1/contacts?q=Bello", &[], "").await.assert(200));
    assert_eq!(page["items"].as_array().unwrap().len(), 0, "{page}");
    s.stop().await;
}
