//! Group commit: several card writes in one transaction must behave exactly as if they ran one after another.
//! Runs on SQLite, and on PostgreSQL with LABELBOOK_TEST_BACKEND=postgres.

use crate::common::*;
use labelbook::store::{Adopt, Book, CardWrite, CardWritten, Change, NewCard, Precondition, Store, WriteError};
use labelbook::vcard;

struct Fixture {
    db: TestDb,
    store: Store,
    owner: i64,
}

async fn fixture() -> Fixture {
    let db = TestDb::new().await;
    let app = labelbook::app::App::open(db.config()).await.unwrap();
    let user = app.accounts.create_user("owner@example.com", PASSWORD, false).await.unwrap();
    Fixture { store: app.store.clone(), owner: user.id, db }
}

fn card(uid: &str, name: &str) -> (Vec<u8>, vcard::Indexed) {
    let bytes = vcard3(uid, name).into_bytes();
    let (_, ix) = vcard::validate(&bytes, 100).unwrap();
    (bytes, ix)
}

fn etag(bytes: &[u8]) -> String {
    labelbook::service::etag_of(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_in_one_batch_see_each_other() {
    let f = fixture().await;
    let book = Book::MyContacts { owner_id: f.owner };
    let (a1, ix_a1) = card("u-a", "A one");
    let (a2, ix_a2) = card("u-a", "A two");
    let (b, ix_b) = card("u-b", "B");
    let (c, ix_c) = card("u-a", "C reuses A's UID");
    let (d, ix_d) = card("u-d", "D");
    let new_a1 =
        NewCard { vcard: &a1, etag: etag(&a1), indexed: &ix_a1, adopt_existing: Adopt::Replace, actor_id: f.owner };
    let new_a2 =
        NewCard { vcard: &a2, etag: etag(&a2), indexed: &ix_a2, adopt_existing: Adopt::Replace, actor_id: f.owner };
    let new_b =
        NewCard { vcard: &b, etag: etag(&b), indexed: &ix_b, adopt_existing: Adopt::Replace, actor_id: f.owner };
    let new_c =
        NewCard { vcard: &c, etag: etag(&c), indexed: &ix_c, adopt_existing: Adopt::Replace, actor_id: f.owner };
    let new_d =
        NewCard { vcard: &d, etag: etag(&d), indexed: &ix_d, adopt_existing: Adopt::Replace, actor_id: f.owner };
    let none = Precondition::default();
    let create_only = Precondition { if_match: None, if_none_match: Some(vec!["*".into()]) };
    let match_a1 = Precondition { if_match: Some(vec![etag(&a1)]), if_none_match: None };
    let writes = [
        // 0: a new card
        CardWrite::Put { book: &book, owner_id: f.owner, href: "a.vcf", new: &new_a1, pre: &create_only },
        // 1: the same name again, conditional on the first write's ETag: an update, not a second contact
        CardWrite::Put { book: &book, owner_id: f.owner, href: "a.vcf", new: &new_a2, pre: &match_a1 },
        // 2: create-only on a name created earlier in the batch: refused
        CardWrite::Put { book: &book, owner_id: f.owner, href: "a.vcf", new: &new_a1, pre: &create_only },
        // 3: another name with the UID of 0: no-uid-conflict naming a.vcf
        CardWrite::Put { book: &book, owner_id: f.owner, href: "c.vcf", new: &new_c, pre: &none },
        // 4 and 5: created then deleted in the same batch
        CardWrite::Put { book: &book, owner_id: f.owner, href: "b.vcf", new: &new_b, pre: &none },
        CardWrite::Delete { book: &book, href: "b.vcf", pre: &none, actor_id: f.owner },
        // 6: deleting what never existed
        CardWrite::Delete { book: &book, href: "nothing.vcf", pre: &none, actor_id: f.owner },
        // 7: a plain new card after all that
        CardWrite::Put { book: &book, owner_id: f.owner, href: "d.vcf", new: &new_d, pre: &none },
    ];
    let r = f.store.write_cards(&writes).await;
    assert!(matches!(&r[0], Ok(CardWritten::Put(o)) if o.created), "{:?}", r[0]);
    assert!(matches!(&r[1], Ok(CardWritten::Put(o)) if !o.created), "{:?}", r[1]);
    assert!(matches!(r[2], Err(WriteError::PreconditionFailed)), "{:?}", r[2]);
    assert!(matches!(&r[3], Err(WriteError::UidConflict { href }) if href == "a.vcf"), "{:?}", r[3]);
    assert!(matches!(&r[4], Ok(CardWritten::Put(o)) if o.created), "{:?}", r[4]);
    assert!(matches!(r[5], Ok(CardWritten::Deleted)), "{:?}", r[5]);
    assert!(matches!(r[6], Err(WriteError::NotFound)), "{:?}", r[6]);
    assert!(matches!(&r[7], Ok(CardWritten::Put(o)) if o.created), "{:?}", r[7]);

    // What is stored is what sequential writes would have left.
    let live = f
        .store
        .get_cards(&book, &["a.vcf".into(), "b.vcf".into(), "c.vcf".into(), "d.vcf".into()], true)
        .await
        .unwrap();
    let names: Vec<&str> = live.iter().map(|c| c.meta.href.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let a = live.iter().find(|c| c.meta.href == "a.vcf").unwrap();
    assert_eq!(a.vcard, a2, "the update in the batch wins");
    assert!(live.iter().any(|c| c.meta.href == "d.vcf"));
    // The book's token is the last change of the batch, and a delta from before it reports b.vcf as gone.
    let state = f.store.book_state(&book).await.unwrap();
    let (changes, _) = f.store.changes_since(&book, 0, None, false).await.unwrap();
    let newest = changes.iter().map(Change::modseq).max().unwrap();
    assert_eq!(state.token, newest, "the token is the book's last change");
    assert_eq!(newest, f.store.current_seq().await.unwrap(), "the last write of the batch took the last value");
    let (delta, _) = f.store.changes_since(&book, 1, None, false).await.unwrap();
    assert!(delta.iter().any(|c| matches!(c, Change::Removed { href, .. } if href == "b.vcf")));
    f.db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_write_between_my_contacts_writes_sees_and_is_seen() {
    let f = fixture().await;
    let my = Book::MyContacts { owner_id: f.owner };
    let label = f.store.create_label(f.owner, None, "Team", "").await.unwrap();
    let team = Book::Label { label_id: label.id.clone() };
    let (x, ix_x) = card("u-x", "X");
    let (x2, ix_x2) = card("u-x", "X edited in My contacts");
    let new_x =
        NewCard { vcard: &x, etag: etag(&x), indexed: &ix_x, adopt_existing: Adopt::Replace, actor_id: f.owner };
    let new_x2 =
        NewCard { vcard: &x2, etag: etag(&x2), indexed: &ix_x2, adopt_existing: Adopt::Replace, actor_id: f.owner };
    let none = Precondition::default();
    let writes = [
        // a new contact in My contacts (pending insert)...
        CardWrite::Put { book: &my, owner_id: f.owner, href: "x.vcf", new: &new_x, pre: &none },
        // ...copied into the label under another name: it must label that contact, not make a second one
        CardWrite::Put { book: &team, owner_id: f.owner, href: "x-in-team.vcf", new: &new_x, pre: &none },
        // ...then edited in My contacts: the edit reaches the label too
        CardWrite::Put { book: &my, owner_id: f.owner, href: "x.vcf", new: &new_x2, pre: &none },
    ];
    let r = f.store.write_cards(&writes).await;
    assert!(r.iter().all(|r| r.is_ok()), "{r:?}");
    let mine = f.store.get_cards(&my, &["x.vcf".into()], true).await.unwrap();
    assert_eq!(mine.len(), 1);
    let in_team = f.store.get_cards(&team, &["x-in-team.vcf".into()], true).await.unwrap();
    assert_eq!(in_team.len(), 1);
    assert_eq!(in_team[0].meta.contact_id, mine[0].meta.contact_id, "one contact, two names");
    assert_eq!(in_team[0].vcard, x2);
    let (all, _) = f.store.changes_since(&my, 0, None, false).await.unwrap();
    assert_eq!(all.len(), 1, "no duplicate contact: {all:?}");
    f.db.drop_db().await;
}

/// A contact put on a label as it is (`Adopt::Unchanged`) is labelled only if it still has the bytes it was
/// read with: a change made meanwhile is never written over with the older bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_put_on_a_label_as_it_is_never_overwrites_a_newer_edit() {
    let f = fixture().await;
    let my = Book::MyContacts { owner_id: f.owner };
    let label = f.store.create_label(f.owner, None, "Team", "").await.unwrap();
    let team = Book::Label { label_id: label.id.clone() };
    let (old, ix_old) = card("u-y", "Y as read");
    let (newer, ix_newer) = card("u-y", "Y edited meanwhile");
    let none = Precondition::default();
    let create_only = Precondition { if_match: None, if_none_match: Some(vec!["*".into()]) };
    let owner = f.owner;
    fn nc<'a>(bytes: &'a [u8], ix: &'a vcard::Indexed, adopt_existing: Adopt, actor_id: i64) -> NewCard<'a> {
        NewCard { vcard: bytes, etag: etag(bytes), indexed: ix, adopt_existing, actor_id }
    }
    f.store.put_card(&my, f.owner, "y.vcf", &nc(&old, &ix_old, Adopt::Replace, owner), &none).await.unwrap();
    f.store.put_card(&my, f.owner, "y.vcf", &nc(&newer, &ix_newer, Adopt::Replace, owner), &none).await.unwrap();
    // The older bytes, as a reader had them: refused, and neither the contact nor the label changes.
    let stale =
        f.store.put_card(&team, f.owner, "y-team.vcf", &nc(&old, &ix_old, Adopt::Unchanged, owner), &create_only).await;
    assert!(matches!(stale, Err(WriteError::Changed)), "{stale:?}");
    assert!(f.store.get_cards(&team, &["y-team.vcf".into()], false).await.unwrap().is_empty());
    // The current bytes: the same contact goes on the label, untouched.
    let before = f.store.get_cards(&my, &["y.vcf".into()], true).await.unwrap().remove(0);
    f.store
        .put_card(&team, f.owner, "y-team.vcf", &nc(&newer, &ix_newer, Adopt::Unchanged, owner), &create_only)
        .await
        .unwrap();
    let on_team = f.store.get_cards(&team, &["y-team.vcf".into()], true).await.unwrap().remove(0);
    assert_eq!(on_team.meta.contact_id, before.meta.contact_id);
    assert_eq!(on_team.vcard, before.vcard);
    let after = f.store.get_cards(&my, &["y.vcf".into()], true).await.unwrap().remove(0);
    assert_eq!(after.meta.modseq, before.meta.modseq, "the contact itself is not rewritten");
    f.db.drop_db().await;
}

/// New cards for `cards`, written by the fixture's owner.
fn new_cards_of<'a>(f: &Fixture, cards: &'a [(Vec<u8>, vcard::Indexed)]) -> Vec<NewCard<'a>> {
    cards
        .iter()
        .map(|(b, ix)| NewCard {
            vcard: b,
            etag: etag(b),
            indexed: ix,
            adopt_existing: Adopt::Replace,
            actor_id: f.owner,
        })
        .collect()
}

/// Writes `n` new cards to My contacts in one group commit.
async fn write_new_cards(f: &Fixture, from: usize, n: usize) {
    let book = Book::MyContacts { owner_id: f.owner };
    let cards: Vec<(Vec<u8>, vcard::Indexed)> =
        (from..from + n).map(|i| card(&format!("u-{i}"), &format!("Person {i}"))).collect();
    let news = new_cards_of(f, &cards);
    let hrefs: Vec<String> = (from..from + n).map(|i| format!("c-{i}.vcf")).collect();
    let none = Precondition::default();
    let writes: Vec<CardWrite<'_>> = news
        .iter()
        .zip(&hrefs)
        .map(|(new, href)| CardWrite::Put { book: &book, owner_id: f.owner, href, new, pre: &none })
        .collect();
    let r = f.store.write_cards(&writes).await;
    assert!(r.iter().all(|r| r.is_ok()), "{r:?}");
}

/// A query on the test's PostgreSQL database over a connection of its own.
async fn pg_rows(f: &Fixture, sql: &str) -> Vec<String> {
    let pool = sqlx::PgPool::connect(&f.db.database_url().unwrap()).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows
}

/// Polls `sql` (one text row) until it answers `want`, for up to 20 s (PostgreSQL reports table statistics a
/// little after the transaction that changed them).
async fn pg_until(f: &Fixture, sql: &str, want: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = pg_rows(f, sql).await;
        if got.first().map(String::as_str) == Some(want) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{sql} answered {got:?}, not {want:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

const CONTACTS_ANALYZED: &str =
    "SELECT (last_analyze IS NOT NULL)::text FROM pg_stat_user_tables WHERE relname = 'contacts'";

/// The plan of a card write's lookup, as the writer shapes it.
async fn lookup_plan(f: &Fixture) -> String {
    let sql = format!(
        "EXPLAIN SELECT id, etag, href, uid FROM contacts WHERE owner_id = {o} AND deleted_at IS NULL AND href IN ('c-1.vcf', 'c-2.vcf')
         UNION ALL SELECT id, etag, href, uid FROM contacts WHERE owner_id = {o} AND deleted_at IS NULL AND uid IN ('u-1', 'u-2')",
        o = f.owner
    );
    pg_rows(f, &sql).await.join("\n")
}

/// A card write's lookup reads the unique (owner, href) and (owner, uid) indexes, not the whole book, without
/// waiting for autovacuum (off on this project's machines): the server analyzes the card tables itself once
/// it has written enough cards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL only (LABELBOOK_TEST_BACKEND=postgres, --run-ignored all)"]
async fn card_lookups_use_the_unique_indexes_once_a_book_has_grown() {
    require_postgres();
    let f = fixture().await;
    write_new_cards(&f, 0, 300).await;
    pg_until(&f, CONTACTS_ANALYZED, "true").await;
    let plan = lookup_plan(&f).await;
    assert!(plan.contains("contacts_live_href") && plan.contains("contacts_live_uid"), "{plan}");
    assert!(!plan.contains("Filter"), "an index scan with a filter reads the whole book:\n{plan}");
    f.db.drop_db().await;
}

/// Tables that have rows but were never analyzed (a database written by an older version, or by a server
/// stopped before its first analyze) are analyzed when a server starts on them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL only (LABELBOOK_TEST_BACKEND=postgres, --run-ignored all)"]
async fn a_server_starting_on_unanalyzed_tables_analyzes_them() {
    require_postgres();
    let f = fixture().await;
    write_new_cards(&f, 0, 40).await;
    pg_until(&f, "SELECT (n_live_tup > 0)::text FROM pg_stat_user_tables WHERE relname = 'contacts'", "true").await;
    assert_eq!(pg_rows(&f, CONTACTS_ANALYZED).await, ["false"], "40 cards are below the first step");
    let second = labelbook::app::App::open(f.db.config()).await.unwrap();
    assert_eq!(pg_rows(&f, CONTACTS_ANALYZED).await, ["true"]);
    second.store.close().await;
    f.db.drop_db().await;
}

/// The combined book read in small pages: its two parts (the user's own contacts and another's on a shared label)
/// interleave by position, and every card comes exactly once, in order, whatever the page size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_combined_book_read_page_by_page_gives_every_card_once_in_order() {
    let f = fixture().await;
    let peer = f.store.create_user("peer@example.com", "x", false).await.unwrap();
    let label = f.store.create_label(peer.id, None, "Shared", "").await.unwrap();
    let (mine, theirs) = (Book::MyContacts { owner_id: f.owner }, Book::Label { label_id: label.id.clone() });
    let cards: Vec<(Vec<u8>, vcard::Indexed)> = (0..14).map(|i| card(&format!("m-{i}"), &format!("P {i}"))).collect();
    let news = new_cards_of(&f, &cards);
    let hrefs: Vec<String> = (0..14).map(|i| format!("m-{i}.vcf")).collect();
    let none = Precondition::default();
    // Alternating, so the two parts' positions interleave.
    let writes: Vec<CardWrite<'_>> = (0..14)
        .map(|i| {
            let (book, owner_id) = if i % 2 == 0 { (&mine, f.owner) } else { (&theirs, peer.id) };
            CardWrite::Put { book, owner_id, href: &hrefs[i], new: &news[i], pre: &none }
        })
        .collect();
    let r = f.store.write_cards(&writes).await;
    assert!(r.iter().all(|r| r.is_ok()), "{r:?}");
    let combined = Book::Combined { owner_id: f.owner, shared: vec![label.id.clone()], labels: vec![] };
    for size in [1, 3, 5, 100] {
        let (mut after, mut seen) = (0, Vec::new());
        loop {
            let page = f.store.list_cards_page(&combined, false, after, size).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.0;
            seen.extend(page.into_iter().map(|(pos, _)| pos));
        }
        assert_eq!(seen.len(), 14, "page size {size}: {seen:?}");
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "page size {size}: in order, none twice: {seen:?}");
    }
    f.db.drop_db().await;
}
