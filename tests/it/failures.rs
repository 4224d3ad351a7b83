//! How database failures are answered. RFC 9110 §15.6.4: 503 says the failure is temporary and the request may
//! be tried again (with Retry-After, §10.2.3); anything else the server cannot do is §15.6.1's 500, since
//! trying again would fail the same way.

use crate::common::*;

/// Breaks one table the way a bad migration or a hand edit would: the label queries no longer fit the schema.
async fn break_the_labels_table(s: &Server) {
    let sql = "ALTER TABLE labels RENAME COLUMN description TO description_gone";
    match s.db.database_url() {
        Some(url) => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        None => {
            let url = format!("sqlite://{}", s.db.dir.join("labelbook.db").display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_trying_again_cannot_fix_is_500_not_503() {
    let s = Server::start().await;
    let ann = s.user("ann@example.com").await;
    api(&s, &ann, "POST", "/labels", Some(serde_json::json!({"name": "Clients"}))).await.assert(201);
    break_the_labels_table(&s).await;
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
