//! The command line, as scripts use it: no prompts, --password-stdin, --json, exit codes.

use crate::common::*;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_labelbook"));
    cmd.arg("--data").arg(&db.dir).args(args).env("LABELBOOK_LOG", "warn");
    match db.database_url() {
        Some(url) => cmd.env("LABELBOOK_DATABASE_URL", url),
        None => cmd.env_remove("LABELBOOK_DATABASE_URL"),
    };
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn ok(db: &TestDb, args: &[&str], stdin: Option<&str>) -> String {
    let out = run(db, args, stdin);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn json(db: &TestDb, args: &[&str], stdin: Option<&str>) -> serde_json::Value {
    serde_json::from_str(&ok(db, args, stdin)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_labels_import_export_and_app_passwords() {
    let db = TestDb::new().await;
    assert!(ok(&db, &["migrate"], None).contains("up to date"));
    let v = json(&db, &["user", "add", "Bob@Example.com", "--password-stdin", "--json"], Some("a-good-password\n"));
    assert_eq!(v["email"], "bob@example.com");
    assert!(v["password"].is_null());
    let v = json(&db, &["user", "add", "carol@example.com", "--json"], None);
    assert_eq!(v["password"].as_str().unwrap().len(), 23, "a generated password is printed once");
    let bad = run(&db, &["user", "add", "not-an-address"], None);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an e-mail address"));
    let dup = run(&db, &["user", "add", "bob@example.com", "--password-stdin"], Some("another-password\n"));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    let users = json(&db, &["user", "list", "--json"], None);
    assert_eq!(users.as_array().unwrap().len(), 2);

    let id = ok(&db, &["label", "add", "Suppliers", "--user", "bob@example.com"], None).trim().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "label add prints the id, got {id:?}");
    ok(&db, &["label", "rename", &id, "Vendors", "--user", "bob@example.com"], None);
    let labels = json(&db, &["label", "list", "--user", "bob@example.com", "--json"], None);
    assert_eq!(labels[0]["name"], "Vendors");
    // Carol cannot rename Bob's label: it does not exist for her.
    assert!(!run(&db, &["label", "rename", &id, "Mine", "--user", "carol@example.com"], None).status.success());

    let file = db.dir.join("in.vcf");
    let no_uid = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:No Uid\r\nEND:VCARD\r\n";
    std::fs::write(&file, format!("{}{}{no_uid}", vcard3("u1", "One"), vcard3("u2", "Two"))).unwrap();
    let v = json(&db, &["import", file.to_str().unwrap(), "--user", "bob@example.com", "--label", &id, "--json"], None);
    assert_eq!((v["created"].as_i64(), v["updated"].as_i64()), (Some(3), Some(0)), "{v}");
    let v = json(&db, &["import", file.to_str().unwrap(), "--user", "bob@example.com", "--json"], None);
    assert_eq!(v["updated"].as_i64().unwrap() + v["created"].as_i64().unwrap(), 3, "{v}");
    // Importing the same file into the label again updates, and makes no duplicates.
    let again = db.dir.join("again.vcf");
    std::fs::write(&again, format!("{}{}", vcard3("u1", "One Again"), vcard3("u2", "Two"))).unwrap();
    let v =
        json(&db, &["import", again.to_str().unwrap(), "--user", "bob@example.com", "--label", &id, "--json"], None);
    assert_eq!(v["failed"].as_array().unwrap().len(), 0, "{v}");
    let all = ok(&db, &["export", "--user", "bob@example.com"], None);
    assert_eq!(all.matches("UID:u1").count(), 1, "{all}");
    assert!(all.contains("FN:One Again"));
    let out = ok(&db, &["export", "--user", "bob@example.com", "--label", &id], None);
    assert_eq!(out.matches("BEGIN:VCARD").count(), 3);
    assert!(out.contains("FN:No Uid") && out.contains("UID:"), "a card without UID gets one, and keeps the rest");
    let out_file = db.dir.join("out.vcf");
    ok(&db, &["export", "--user", "bob@example.com", "--out", out_file.to_str().unwrap()], None);
    assert!(std::fs::read_to_string(&out_file).unwrap().matches("BEGIN:VCARD").count() >= 3);

    let v = json(&db, &["app-password", "add", "Phone", "--user", "bob@example.com", "--json"], None);
    assert!(v["password"].as_str().unwrap().len() > 20);
    let list = json(&db, &["app-password", "list", "--user", "bob@example.com", "--json"], None);
    assert_eq!(list[0]["name"], "Phone");
    assert!(!run(&db, &["app-password", "add", "Phone", "--user", "bob@example.com"], None).status.success());
    assert_eq!(
        json(&db, &["app-password", "revoke", "Phone", "--user", "bob@example.com", "--json"], None)["revoked"],
        true
    );
    assert!(!run(&db, &["app-password", "revoke", "Phone", "--user", "bob@example.com"], None).status.success());

    ok(&db, &["user", "passwd", "bob@example.com", "--password-stdin"], Some("new-password-1\n"));
    let v = json(&db, &["user", "disable", "bob@example.com", "--json"], None);
    assert_eq!(v["disabled"], true);
    let users = json(&db, &["user", "list", "--json"], None);
    assert!(users.as_array().unwrap().iter().any(|u| u["email"] == "bob@example.com" && u["disabled"] == true));
    let v = json(&db, &["--json", "label", "delete", &id, "--user", "bob@example.com"], None);
    assert_eq!(v["deleted"], true, "--json is accepted before the subcommand too");
    assert_eq!(json(&db, &["label", "list", "--user", "bob@example.com", "--json"], None).as_array().unwrap().len(), 0);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_the_admin_password_once_and_it_works() {
    let db = TestDb::new().await;
    let mut server = Binary::start(&db, &[]);
    let base = server.base.clone();
    let password =
        server.banner.iter().find_map(|l| l.split("with password: ").nth(1)).expect("a password").trim().to_string();
    assert!(line_free(&password));
    let status = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PROPFIND", "-H", "Depth: 0", "-u"])
        .arg(format!("admin@localhost:{password}"))
        .arg(format!("{base}/dav/addressbooks/admin@localhost/contacts/"))
        .output()
        .unwrap();
    // SIGTERM: a graceful stop.
    let _ = Command::new("kill").arg(server.child.id().to_string()).status();
    let exit = server.child.wait().unwrap();
    db.drop_db().await;
    assert_eq!(String::from_utf8_lossy(&status.stdout), "207");
    assert!(exit.success(), "SIGTERM should stop the server cleanly: {exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_changed_from_the_cli_takes_effect_on_the_running_server_at_once() {
    let db = TestDb::new().await;
    let pw = std::ffi::OsStr::new(PASSWORD);
    let mut server = Binary::start(
        &db,
        &[("LABELBOOK_ADMIN_EMAIL", std::ffi::OsStr::new("t@example.com")), ("LABELBOOK_ADMIN_PASSWORD", pw)],
    );
    let url = format!("{}/dav/addressbooks/t@example.com/contacts/", server.base);
    let propfind = |password: &str| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PROPFIND", "-H", "Depth: 0", "-u"])
            .arg(format!("t@example.com:{password}"))
            .arg(&url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The first request fills the server's credential cache (auth_cache_ttl_secs is 120).
    assert_eq!(propfind(PASSWORD), "207");
    assert_eq!(propfind(PASSWORD), "207");
    ok(&db, &["user", "passwd", "t@example.com", "--password-stdin"], Some("a-brand-new-password\n"));
    assert_eq!(propfind(PASSWORD), "401", "the cached old password no longer opens the account");
    assert_eq!(propfind("a-brand-new-password"), "207");
    ok(&db, &["user", "disable", "t@example.com"], None);
    assert_eq!(propfind("a-brand-new-password"), "401", "nor does a disabled account's");
    server.kill();
    db.drop_db().await;
}

fn line_free(s: &str) -> bool {
    !s.is_empty() && !s.contains(char::is_whitespace)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_invitation_and_grant_commands() {
    let db = TestDb::new().await;
    for who in ["owner@example.com", "colleague@example.org"] {
        ok(&db, &["user", "add", who, "--password-stdin"], Some("a-good-password\n"));
    }
    let label = ok(&db, &["label", "add", "Suppliers", "--user", "owner@example.com"], None).trim().to_string();
    let g = json(
        &db,
        &["share", &label, "--as", "owner@example.com", "--with", "colleague@example.org", "--level", "edit", "--json"],
        None,
    );
    assert_eq!((g["status"].as_str(), g["level"].as_str()), (Some("pending"), Some("edit")), "{g}");
    let id = g["id"].as_i64().unwrap().to_string();
    // Bad input: an unknown level, owner as a level, a collaborator sharing without share level.
    assert!(
        !run(
            &db,
            &["share", &label, "--as", "owner@example.com", "--with", "colleague@example.org", "--level", "boss"],
            None
        )
        .status
        .success()
    );
    assert!(
        !run(
            &db,
            &["share", &label, "--as", "owner@example.com", "--with", "colleague@example.org", "--level", "owner"],
            None
        )
        .status
        .success()
    );
    let invitations = json(&db, &["invitation", "list", "--user", "colleague@example.org", "--json"], None);
    assert_eq!(invitations.as_array().unwrap().len(), 1);
    assert_eq!(
        json(&db, &["invitation", "accept", &id, "--user", "colleague@example.org", "--json"], None)["status"],
        "accepted"
    );
    assert!(
        !run(
            &db,
            &["share", &label, "--as", "colleague@example.org", "--with", "owner@example.com", "--level", "view"],
            None
        )
        .status
        .success()
    );
    let grants = json(&db, &["grant", "list", &label, "--as", "owner@example.com", "--json"], None);
    assert_eq!(grants[0]["grantee"], "colleague@example.org");
    assert_eq!(
        json(&db, &["grant", "set", &id, "--as", "owner@example.com", "--level", "delete", "--json"], None)["level"],
        "delete"
    );
    assert_eq!(
        json(&db, &["grant", "devices", &id, "--user", "colleague@example.org", "--off", "--json"], None)["sync_devices"],
        false
    );
    let hidden = json(
        &db,
        &["grant", "hide", &id, "--as", "owner@example.com", "--fields", "tel;type=cell, NOTE", "--json"],
        None,
    );
    assert_eq!(hidden["hidden_fields"], serde_json::json!(["TEL;TYPE=CELL", "NOTE"]));
    assert!(!run(&db, &["grant", "hide", &id, "--as", "owner@example.com", "--fields", "UID"], None).status.success());
    assert!(
        !run(&db, &["grant", "hide", &id, "--as", "colleague@example.org", "--fields", "TEL"], None).status.success()
    );
    // The collaborator cannot list the collaborators (below share level).
    assert!(!run(&db, &["grant", "list", &label, "--as", "colleague@example.org"], None).status.success());
    assert_eq!(json(&db, &["grant", "revoke", &id, "--as", "owner@example.com", "--json"], None)["status"], "revoked");
    assert!(!run(&db, &["invitation", "accept", &id, "--user", "colleague@example.org"], None).status.success());

    // Ownership: an account that owns a label is not deleted; the label goes to a collaborator first.
    let refused = run(&db, &["user", "delete", "owner@example.com"], None);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("transfer or delete them first"));
    let transfer = ["label", "transfer", &label, "--as", "owner@example.com", "--to", "colleague@example.org"];
    let refused = run(&db, &transfer, None);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not collaborate"), "revoked is no collaborator");
    let g = json(
        &db,
        &["share", &label, "--as", "owner@example.com", "--with", "colleague@example.org", "--level", "view", "--json"],
        None,
    );
    ok(&db, &["invitation", "accept", &g["id"].as_i64().unwrap().to_string(), "--user", "colleague@example.org"], None);
    let mut with_json = transfer.to_vec();
    with_json.push("--json");
    assert_eq!(json(&db, &with_json, None)["owner"], "colleague@example.org");
    let labels = json(&db, &["label", "list", "--user", "colleague@example.org", "--json"], None);
    assert_eq!(labels[0]["id"], label.as_str());
    assert_eq!(json(&db, &["user", "delete", "owner@example.com", "--json"], None)["deleted"], true);
    let users = json(&db, &["user", "list", "--json"], None);
    assert_eq!(users.as_array().unwrap().len(), 1);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_and_group_commands() {
    let db = TestDb::new().await;
    assert_eq!(json(&db, &["domain", "add", "Example.com", "--json"], None)["primary"], true, "the first is primary");
    let d = json(&db, &["domain", "add", "example.org", "--auto-accept", "--json"], None);
    assert_eq!((d["primary"].as_bool(), d["auto_accept"].as_bool()), (Some(false), Some(true)));
    assert!(!run(&db, &["domain", "add", "example.org"], None).status.success(), "a duplicate");
    assert!(!run(&db, &["domain", "add", "bad domain"], None).status.success());
    assert!(!run(&db, &["domain", "set", "example.org"], None).status.success(), "nothing to set");
    assert_eq!(json(&db, &["domain", "set", "example.org", "--primary", "--json"], None)["primary"], true);
    let list = json(&db, &["domain", "list", "--json"], None);
    assert_eq!(list[0]["name"], "example.org", "the primary domain is listed first");
    for who in ["owner@example.com", "member@example.org"] {
        ok(&db, &["user", "add", who, "--password-stdin"], Some("a-good-password\n"));
    }
    let out = run(&db, &["user", "add", "x@example.net", "--password-stdin"], Some("a-good-password\n"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not one of this server's domains"));

    assert_eq!(json(&db, &["group", "add", "sales", "--json"], None)["name"], "sales");
    ok(&db, &["group", "member-add", "sales", "member@example.org"], None);
    assert!(!run(&db, &["group", "member-add", "sales", "nobody@example.org"], None).status.success());
    assert_eq!(json(&db, &["group", "list", "--json"], None)[0]["members"][0], "member@example.org");
    let label = ok(&db, &["label", "add", "Leads", "--user", "owner@example.com"], None).trim().to_string();
    let g = json(
        &db,
        &["share", &label, "--as", "owner@example.com", "--with", "group:sales", "--level", "edit", "--json"],
        None,
    );
    assert_eq!((g["kind"].as_str(), g["status"].as_str()), (Some("group"), Some("accepted")), "{g}");
    let g = json(
        &db,
        &["share", &label, "--as", "owner@example.com", "--with", "domain:example.org", "--level", "view", "--json"],
        None,
    );
    assert_eq!(g["kind"], "domain");
    let listed = ok(&db, &["grant", "list", &label, "--as", "owner@example.com"], None);
    assert!(listed.contains("group:sales") && listed.contains("domain:example.org"), "{listed}");
    ok(&db, &["group", "member-remove", "sales", "member@example.org"], None);
    ok(&db, &["group", "remove", "sales"], None);
    assert!(!run(&db, &["group", "remove", "sales"], None).status.success());
    assert!(!run(&db, &["domain", "remove", "example.org"], None).status.success(), "it still has an account");
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trash_list_and_restore() {
    let db = TestDb::new().await;
    let pw = std::ffi::OsStr::new(PASSWORD);
    let mut server = Binary::start(
        &db,
        &[("LABELBOOK_ADMIN_EMAIL", std::ffi::OsStr::new("t@example.com")), ("LABELBOOK_ADMIN_PASSWORD", pw)],
    );
    let url = format!("{}/dav/addressbooks/t@example.com/contacts/z.vcf", server.base);
    let auth = format!("t@example.com:{PASSWORD}");
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", &auth])
            .args(args)
            .arg(&url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let card = vcard3("z", "Zoe");
    assert_eq!(curl(&["-X", "PUT", "-H", "Content-Type: text/vcard", "--data-binary", &card]), "201");
    assert_eq!(curl(&["-X", "DELETE"]), "204");
    let t = json(&db, &["trash", "list", "--user", "t@example.com", "--json"], None);
    let id = t["contacts"][0]["id"].as_i64().expect("the deleted contact is listed").to_string();
    assert_eq!(t["contacts"][0]["name"], "Zoe");
    assert_eq!(
        json(&db, &["trash", "restore", "--user", "t@example.com", "--contact", &id, "--json"], None)["restored"],
        true
    );
    assert_eq!(curl(&["-X", "GET"]), "200");
    assert!(!run(&db, &["trash", "restore", "--user", "t@example.com", "--contact", &id], None).status.success());
    // Its history, by id or by name, newest first.
    let h = json(&db, &["history", "--as", "t@example.com", "--contact", &id, "--json"], None);
    let actions: Vec<&str> = h.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["restored", "deleted", "created"]);
    assert_eq!(h[0]["actor"], "t@example.com");
    let by_name =
        json(&db, &["history", "--as", "t@example.com", "--book", "contacts", "--href", "z.vcf", "--json"], None);
    assert_eq!(by_name, h);
    assert!(!run(&db, &["history", "--as", "t@example.com", "--contact", "999999"], None).status.success());
    let label = ok(&db, &["label", "add", "Team", "--user", "t@example.com"], None).trim().to_string();
    assert!(json(&db, &["activity", &label, "--as", "t@example.com", "--json"], None).as_array().unwrap().is_empty());
    let bad = run(&db, &["activity", &label, "--as", "t@example.com", "--limit", "0"], None);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("1 to 1000"));
    server.kill();
    db.drop_db().await;
}
