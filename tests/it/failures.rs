//! How database failures are answered. RFC 9110 §15.6.4: 503 says the failure is temporary and the request may
//! be tried again (with Retry-After, §10.2.3); anything else the server cannot do is §15.6.1's 500, since
//! trying again would fail the same way.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_trying_again_cannot_fix_is_500_not_503() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    api(&s, &ann, "POST", "/labels", Some(serde_json::json!({"name": "Clients"}))).await.assert(201);
    // As a bad migration or a hand edit would: the label queries no longer fit the schema.
    s.db.behind_the_back("ALTER TABLE labels RENAME COLUMN description TO description_gone", None).await;
    // What the server keeps for polls would answer without the broken query, as nothing told it of the edit: a
    // server (re)started on such a database keeps nothing.
    s.app.store.resync();
    let r = api(&s, &ann, "GET", "/labels", None).await;
    r.assert(500).lacks("try again");
    assert!(r.header("retry-after").is_none());
    let r = s.propfind(&ann, &home(&ann), "1", "").await;
    r.assert(500).lacks("try again");
    assert!(r.header("retry-after").is_none());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_answer_is_503_with_retry_after() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    s.put_card(&ann, &format!("{}a.vcf", contacts(&ann)), &vcard3("a", "Ann")).await.assert(201);
    s.app.store.close().await;
    for r in [
        api(&s, &ann, "GET", "/labels", None).await,
        s.propfind(&ann, &contacts(&ann), "1", "").await,
        s.put_card(&ann, &format!("{}b.vcf", contacts(&ann)), &vcard3("b", "Bea")).await,
    ] {
        r.assert(503).contains("try again");
        assert_eq!(r.header("retry-after"), Some("5"));
    }
    s.stop().await;
}

/// Bad input is refused for what it is, never reaching the database as a fault: a NUL in a label's name would
/// be a PostgreSQL error (invalid byte sequence), and no XML may carry a control character.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_a_labels_name_or_description_are_refused() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    let r = api(&s, &ann, "POST", "/labels", Some(serde_json::json!({"name": "a\u{0}b"}))).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "name");
    let made = parse(api(&s, &ann, "POST", "/labels", Some(serde_json::json!({"name": "Team"}))).await.assert(201));
    let id = made["id"].as_str().unwrap();
    let r = api(&s, &ann, "PATCH", &format!("/labels/{id}"), Some(serde_json::json!({"description": "x\u{1}y"}))).await;
    assert_eq!(parse(r.assert(422))["errors"][0]["field"], "description");
    let fine = serde_json::json!({"description": "two\nlines"});
    api(&s, &ann, "PATCH", &format!("/labels/{id}"), Some(fine)).await.assert(200);
    let labels = parse(api(&s, &ann, "GET", "/labels", None).await.assert(200));
    assert_eq!(labels["items"].as_array().unwrap().len(), 1, "{labels}");
    s.stop().await;
}

/// The same for the names of app passwords and API tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_credential_names_are_refused() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    for (path, body) in [
        ("/app-passwords", serde_json::json!({"name": "a\u{0}b"})),
        ("/tokens", serde_json::json!({"name": "a\u{0}b", "scope": "read"})),
    ] {
        let r = api(&s, &ann, "POST", path, Some(body)).await;
        assert_eq!(parse(r.assert(422))["errors"][0]["field"], "name", "{path}");
        assert!(parse(api(&s, &ann, "GET", path, None).await.assert(200))["items"].as_array().unwrap().is_empty());
    }
    s.stop().await;
}

/// The server's PostgreSQL connections cut behind its back (a database restart, a proxy's idle timeout): the pool
/// does not test a connection used within the last second (a round trip saved on every query), so it tests the
/// ones idle longer, and requests after a pause are answered as if nothing happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL only (LABELBOOK_TEST_BACKEND=postgres, --run-ignored all)"]
async fn connections_the_database_dropped_are_replaced_after_a_pause() {
    require_postgres();
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    for i in 0..4 {
        s.put_card(&ann, &format!("{}c{i}.vcf", contacts(&ann)), &vcard3(&format!("c{i}"), "Ann")).await.assert(201);
    }
    let db = s.db.pg_db.clone().unwrap();
    s.db.behind_the_back(
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        ),
        None,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    s.propfind(&ann, &contacts(&ann), "1", "").await.assert(207).contains("c3.vcf");
    s.put_card(&ann, &format!("{}c9.vcf", contacts(&ann)), &vcard3("c9", "Ann")).await.assert(201);
    api(&s, &ann, "GET", "/labels", None).await.assert(200);
    s.stop().await;
}
