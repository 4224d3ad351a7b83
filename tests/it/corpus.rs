//! Real client exports and the RFCs' examples (`data/corpus/`, and the client cards in `data/`), each taken
//! through everything a card meets here: PUT, GET exact, GET as 3.0 and as 4.0, the conversion back, the API's
//! list, read and edit. With LABELBOOK_VCARD_OUT set to a directory, every card this server wrote is saved
//! there for an independent validator (`conformance/vcard.sh` runs ez-vcard over them).

use crate::common::*;
use labelbook::vcard::{self, Version};
use serde_json::json;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/data");
    let mut cards = Vec::new();
    for dir in [root.join("corpus"), root] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "vcf") {
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                cards.push((stem, std::fs::read(&path).unwrap()));
            }
        }
    }
    cards.sort();
    assert!(cards.len() >= 14, "the corpus is {} cards", cards.len());
    cards
}

/// The fields a conversion must keep, as the API reads them.
fn essentials(bytes: &[u8]) -> serde_json::Value {
    let card = labelbook::service::read_for_edit(bytes).unwrap();
    let f = vcard::json::read(&card);
    let emails: Vec<&str> = f.emails.iter().map(|e| e.value.as_str()).collect();
    let addresses: Vec<_> = f.addresses.iter().map(|a| (&a.street, &a.locality, &a.postal_code, &a.country)).collect();
    json!({
        "uid": card.indexed().uid, "full_name": f.full_name, "name": f.name, "org": f.organization,
        "title": f.title, "emails": emails, "addresses": addresses, "note": f.note, "photo": f.photo.is_some(),
        "phones": f.phones.len(),
    })
}

fn without_uid_line(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    text.split_inclusive('\n').filter(|l| !l.starts_with("UID:")).collect::<String>().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_card_of_the_corpus_round_trips_through_every_path() {
    let out = std::env::var_os("LABELBOOK_VCARD_OUT").map(std::path::PathBuf::from);
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir).unwrap();
    }
    let save = |name: String, bytes: &[u8]| {
        if let Some(dir) = &out {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    };
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let cards = corpus();
    let mut stored = Vec::new();
    for (stem, sent) in &cards {
        let href = format!("{}{stem}.vcf", contacts(&ann));
        // RFC 6352 §6.3.2: the card is stored as sent (a card without UID gets one, and then no ETag).
        let r = s.as_user(&ann, "PUT", &href, &[("content-type", "text/vcard")], sent.clone()).await;
        assert_eq!(r.status.as_u16(), 201, "{stem}: {}", r.body);
        let had_uid = !vcard::parse(sent).unwrap().indexed().uid.is_empty();
        assert_eq!(r.header("etag").is_some(), had_uid, "{stem}");
        let got = s.as_user(&ann, "GET", &href, &[], "").await;
        got.assert(200);
        if had_uid {
            assert_eq!(&got.bytes[..], &sent[..], "{stem}: GET is not the card as sent");
        } else {
            assert_eq!(without_uid_line(&got.bytes), without_uid_line(sent), "{stem}: more than a UID added");
        }
        let stored_bytes = got.bytes.clone();
        let original = essentials(&stored_bytes);
        for (version, other) in [("3.0", Version::V40), ("4.0", Version::V30)] {
            let accept = format!("text/vcard; version={version}");
            let r = s.as_user(&ann, "GET", &href, &[("accept", &accept)], "").await;
            r.assert(200);
            let (card, _) =
                vcard::validate(&r.bytes, 1000).unwrap_or_else(|e| panic!("{stem} as {version}: {e}\n{}", r.body));
            assert_eq!(card.version.as_str(), version, "{stem}");
            assert!(!r.body.contains("QUOTED-PRINTABLE") && !r.body.contains("CHARSET"), "{stem}: {}", r.body);
            save(format!("{stem}.as-{version}.vcf"), &r.bytes);
            let converted = essentials(&r.bytes);
            assert_eq!(converted, original, "{stem} as {version} lost or changed a field:\n{}", r.body);
            // And back, as a client of the other version would read what this one wrote.
            let back = vcard::convert(&r.bytes, other).unwrap();
            vcard::validate(&back, 1000).unwrap_or_else(|e| panic!("{stem} {version} → {}: {e}", other.as_str()));
            save(format!("{stem}.as-{version}.back-{}.vcf", other.as_str()), &back);
            assert_eq!(
                essentials(&back),
                original,
                "{stem} {version} → {}:\n{}",
                other.as_str(),
                String::from_utf8_lossy(&back)
            );
        }
        stored.push((stem.clone(), href, vcard::parse(&stored_bytes).unwrap().indexed().uid));
    }
    // One list holds them all: no card makes the API's list fail.
    let list = api(&s, &ann, "GET", "/contacts?limit=100", None).await;
    list.assert(200);
    let items = parse(&list)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), cards.len(), "{}", list.body);
    let mut photos = 0;
    for (stem, href, uid) in &stored {
        let item = items.iter().find(|i| i["uid"] == uid.as_str()).unwrap_or_else(|| panic!("{stem} not listed"));
        let name = item["full_name"].as_str().unwrap();
        assert!(!name.is_empty() && !name.contains("=C3") && !name.contains('\\'), "{stem}: {item}");
        let path = format!("/contacts/{}", item["id"]);
        api(&s, &ann, "GET", &path, None).await.assert(200);
        // Every inline photo, in whatever shape the client wrote it, is an image the API serves.
        if item["has_photo"] == true
            && !String::from_utf8_lossy(&cards.iter().find(|c| &c.0 == stem).unwrap().1).contains("PHOTO:http")
        {
            let r = api(&s, &ann, "GET", &format!("{path}/photo"), None).await;
            r.assert(200);
            let media = r.header("content-type").unwrap_or("").to_string();
            let magic: &[u8] = match media.as_str() {
                "image/jpeg" => b"\xff\xd8",
                "image/png" => b"\x89PNG",
                "image/gif" => b"GIF8",
                other => panic!("{stem}: the photo is served as {other}"),
            };
            assert!(r.bytes.starts_with(magic), "{stem}: not a {media}");
            photos += 1;
        }
        // An empty edit changes nothing: same bytes, same ETag.
        let before = s.as_user(&ann, "GET", href, &[], "").await;
        api(&s, &ann, "PATCH", &path, Some(json!({}))).await.assert(200);
        let after = s.as_user(&ann, "GET", href, &[], "").await;
        assert_eq!((&after.bytes, after.etag()), (&before.bytes, before.etag()), "{stem}: an empty PATCH wrote");
        // An edit through the API writes a card every client can read.
        let r = api(&s, &ann, "PATCH", &path, Some(json!({"title": "Edited; via API"}))).await;
        r.assert(200);
        assert_eq!(parse(&r)["title"], "Edited; via API", "{stem}");
        let edited = s.as_user(&ann, "GET", href, &[], "").await;
        vcard::validate(&edited.bytes, 1000).unwrap_or_else(|e| panic!("{stem} edited: {e}\n{}", edited.body));
        // Every other line keeps its bytes (a 2.1 card is written back as 3.0, and 2.1's forms in a later card,
        // quoted-printable or a bare BASE64, are written as that version writes them).
        let read = vcard::parse(&before.bytes).unwrap();
        if read.version != Version::V21 && !read.needs_decoding() {
            let lines =
                |b: &[u8]| String::from_utf8_lossy(b).split_inclusive('\n').map(str::to_string).collect::<Vec<_>>();
            let kept = lines(&edited.bytes);
            for line in lines(&before.bytes).iter().filter(|l| !l.starts_with("TITLE") && !l.starts_with(' ')) {
                assert!(kept.contains(line), "{stem}: {line:?} changed by an edit of the title:\n{}", edited.body);
            }
        }
        for version in ["3.0", "4.0"] {
            let accept = format!("text/vcard; version={version}");
            let r = s.as_user(&ann, "GET", href, &[("accept", &accept)], "").await;
            vcard::validate(&r.bytes, 1000).unwrap_or_else(|e| panic!("{stem} edited as {version}: {e}"));
            save(format!("{stem}.edited.as-{version}.vcf"), &r.bytes);
        }
    }
    // Outlook's, Android's, macOS's, iOS's, DAVx5's and Thunderbird's photos (Google's is a link).
    assert_eq!(photos, 6);
    s.stop().await;
}
