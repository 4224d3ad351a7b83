//! What commands print: one JSON value per line with `--json`, lines for people otherwise.

pub fn print_json(v: serde_json::Value) {
    println!("{v}");
}

pub fn grant_json(g: &labelbook::store::Grant) -> serde_json::Value {
    serde_json::json!({"id": g.id, "label": g.label_id, "kind": g.grantee_kind, "grantee": g.grantee, "level": g.level, "status": g.status, "sync_devices": g.sync_devices, "hidden_fields": serde_json::from_str::<serde_json::Value>(&g.hidden_fields).unwrap_or_default()})
}

/// A grantee as `share --with` takes it: an e-mail, group:NAME, domain:NAME.
pub fn grantee_label(g: &labelbook::store::Grant) -> String {
    match g.grantee_kind.as_str() {
        "user" => g.grantee.clone(),
        kind => format!("{kind}:{}", g.grantee),
    }
}

pub fn print_grant(g: &labelbook::store::Grant, json: bool) {
    if json {
        print_json(grant_json(g));
    } else {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            g.id,
            g.label_id,
            grantee_label(g),
            g.level,
            g.status,
            if g.sync_devices { "devices" } else { "no-devices" }
        );
    }
}

pub fn print_grants(list: &[labelbook::store::Grant], json: bool) {
    if json {
        print_json(serde_json::Value::Array(list.iter().map(grant_json).collect()));
    } else {
        for g in list {
            print_grant(g, false);
        }
    }
}
