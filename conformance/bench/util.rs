//! What every benchmark driver needs: its arguments, the server started, percentiles, and the server process's CPU.
#![allow(dead_code)]

use std::time::Duration;

/// The value after `name` on the command line.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

pub fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Clock ticks (1/100 s) the process has used, user and system.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// CPU ticks of every PostgreSQL process (the server's own and the backends serving the nodes).
pub fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"postgres")))
        .map(cpu_ticks)
        .sum()
}

/// `serve` of the binary `bin` on an ephemeral port with its data in `dir` (and its database at `database_url`
/// when given), logging warnings only, its address read from stdout by `spawn_server`.
pub fn serve_command(bin: &str, dir: &std::path::Path, database_url: Option<&str>) -> std::process::Command {
    use std::process::Stdio;
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir)
        .env("LABELBOOK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(url) = database_url {
        cmd.env("LABELBOOK_DATABASE_URL", url);
    }
    cmd
}

/// The process's resident memory in kB.
pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Starts the server `cmd` describes (its stdout piped) and answers the child and the base URL it prints
/// ("Labelbook listening on …"); the rest of its output is read and dropped.
pub fn spawn_server(cmd: &mut std::process::Command) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start the server: {e}"));
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = loop {
        let line = lines.next().expect("server output").expect("line");
        if let Some(rest) = line.strip_prefix("Labelbook listening on ") {
            break rest.split_whitespace().next().expect("url").trim_end_matches('/').to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}
