//! The layer rules of ARCHITECTURE.md, checked on the source: a newcomer who breaks one learns it here, by
//! name, rather than in review. Comments are skipped; the checks read code only.

use std::path::{Path, PathBuf};

fn rust_files(dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Each line of code in the files of `dir` (comment lines left out), as (file, line number, text).
fn code_lines(dir: &str) -> Vec<(String, usize, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for path in rust_files(dir) {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        for (i, line) in text.lines().enumerate() {
            if !line.trim_start().starts_with("//") {
                out.push((name.clone(), i + 1, line.to_string()));
            }
        }
    }
    out
}

/// Whether `line` holds `token` not followed by a name character (`.store` but not `.stored`).
fn mentions(line: &str, token: &str) -> bool {
    line.match_indices(token)
        .any(|(i, _)| line[i + token.len()..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_')))
}

#[track_caller]
fn assert_none(what: &str, hits: Vec<String>) {
    assert!(hits.is_empty(), "{what}:\n{}", hits.join("\n"));
}

#[test]
fn protocol_code_reaches_the_database_only_through_service() {
    let mut hits = Vec::new();
    for dir in ["src/dav", "src/api", "src/http"] {
        for (file, n, line) in code_lines(dir) {
            if line.contains("sqlx") || mentions(&line, ".store") || mentions(&line, "store::Store") {
                hits.push(format!("{file}:{n}: {}", line.trim()));
            }
        }
    }
    assert_none("dav/, api/ and http/ ask service/ (no SQL, no Store)", hits);
}

#[test]
fn access_rules_and_vcard_code_are_pure() {
    let mut hits = Vec::new();
    let mut lines = code_lines("src/vcard");
    lines.extend(code_lines("src/service").into_iter().filter(|(f, ..)| f.ends_with("service/access.rs")));
    for (file, n, line) in lines {
        if line.contains("async ") || line.contains("tokio") || line.contains("sqlx") || line.contains("std::fs") {
            hits.push(format!("{file}:{n}: {}", line.trim()));
        }
    }
    assert_none("service/access.rs and vcard/ do no IO and are not async", hits);
}

#[test]
fn the_store_knows_nothing_of_http() {
    let hits = code_lines("src/store")
        .into_iter()
        .filter(|(_, _, l)| l.contains("hyper") || l.contains("http::") || l.contains("StatusCode"))
        .map(|(f, n, l)| format!("{f}:{n}: {}", l.trim()))
        .collect();
    assert_none("store/ knows nothing of HTTP", hits);
}

/// `Store::write` (store/write.rs) is the only way to begin a write transaction and the only writer of the
/// change sequence (statements elsewhere that write a claimed value include write.rs's `set_claimed_seq!`): a
/// hand-written BEGIN would skip the writer turn or BEGIN IMMEDIATE, and a hand-written reservation could be
/// taken after a read.
#[test]
fn write_transactions_begin_only_in_store_write() {
    let hits = code_lines("src")
        .into_iter()
        .filter(|(f, ..)| !f.ends_with("store/write.rs"))
        .filter(|(_, _, l)| {
            l.contains(".begin()")
                || l.contains("begin_with(")
                || l.contains("Transaction::begin")
                || (l.contains("change_seq") && (l.contains("UPDATE") || l.contains("SET value")))
        })
        .map(|(f, n, l)| format!("{f}:{n}: {}", l.trim()))
        .collect();
    assert_none("begin write transactions with Store::write", hits);
}

/// The library's top-level modules, and which of them each one names (`crate::x`), from its code.
fn module_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let top = |path: &Path| -> Option<String> {
        let rel = path.strip_prefix(&root).ok()?;
        let first = rel.components().next()?.as_os_str().to_str()?;
        Some(first.trim_end_matches(".rs").to_string())
    };
    let modules: std::collections::BTreeSet<String> = rust_files("src")
        .iter()
        .filter_map(|p| top(p))
        .filter(|m| !matches!(m.as_str(), "main" | "cli" | "lib"))
        .collect();
    let mut graph = std::collections::BTreeMap::new();
    for path in rust_files("src") {
        let Some(from) = top(&path).filter(|m| modules.contains(m)) else { continue };
        let text = std::fs::read_to_string(&path).unwrap();
        let uses: &mut std::collections::BTreeSet<String> = graph.entry(from.clone()).or_default();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let name: String = line[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if name != from && modules.contains(&name) {
                    uses.insert(name);
                }
            }
        }
    }
    graph
}

/// ARCHITECTURE.md's layers have no cycles: a module never reaches, through the modules it names, back to
/// itself. (The response helpers sit at the bottom so that dav/ and api/ need nothing of http/.)
#[test]
fn the_library_modules_form_no_cycle() {
    let graph = module_graph();
    assert!(graph.get("response").is_some_and(|u| u.iter().all(|m| m == "store")), "response: {graph:?}");
    for (from, uses) in &graph {
        let mut seen = std::collections::BTreeSet::new();
        let mut stack: Vec<(String, Vec<String>)> = uses.iter().map(|u| (u.clone(), vec![u.clone()])).collect();
        while let Some((at, path)) = stack.pop() {
            assert!(at != *from, "a cycle: {from} -> {}", path.join(" -> "));
            if !seen.insert(at.clone()) {
                continue;
            }
            for next in graph.get(&at).into_iter().flatten() {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
}
