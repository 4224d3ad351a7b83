//! Changes another process made to a SQLite database: a command-line process beside a running server. Its change
//! bus is its own, so the server cannot hear its events; what the server keeps in memory (book states,
//! verified credentials) would stay as it was. Such a process therefore touches a file beside the database once
//! it is done (`Store::announce_outside_writes`, which the CLI calls after every command), and servers look at
//! that file's metadata, one `stat` and no database query, before answering from memory and every second
//! (`Store::hear_outside_writes`): if it changed, everything kept is forgotten and subscribers re-read
//! (`Event::Resync`). So a password changed from the CLI holds from the next request on. On PostgreSQL every
//! process tells the servers itself (NOTIFY), and there is no file.

use super::{Pool, Result, Store};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How often a server looks at the file even when no request does (for live pages left open).
const LOOK_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct OutsideWrites {
    path: PathBuf,
    /// The file's modification time and length when last looked at.
    seen: Mutex<Option<(SystemTime, u64)>>,
}

impl OutsideWrites {
    /// For the SQLite database at `db`.
    pub(crate) fn beside(db: &std::path::Path) -> OutsideWrites {
        let mut name = db.as_os_str().to_owned();
        name.push(".outside-writes");
        let outside = OutsideWrites { path: PathBuf::from(name), seen: Mutex::new(None) };
        outside.changed();
        outside
    }

    /// Whether the file changed since last looked at (the first look only notes it).
    fn changed(&self) -> bool {
        let now = std::fs::metadata(&self.path).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let changed = *seen != now;
        *seen = now;
        changed
    }
}

impl Store {
    /// Records, for servers on the same SQLite file, that this process (a command, not a server) may have
    /// changed something (see the module comment). Nothing on PostgreSQL.
    pub async fn announce_outside_writes(&self) -> Result<()> {
        if let Some(outside) = &self.outside {
            let stamp = uuid::Uuid::new_v4().to_string();
            tokio::fs::write(&outside.path, stamp)
                .await
                .map_err(|e| super::StoreError::Unavailable(format!("cannot write {}: {e}", outside.path.display())))?;
        }
        Ok(())
    }

    /// Forgets what is kept in memory, and tells subscribers to re-read, if another process announced changes
    /// since the last look; a `stat`, cheap enough for every request answered from memory.
    pub(crate) fn hear_outside_writes(&self) {
        if let Some(outside) = &self.outside
            && outside.changed()
        {
            tracing::info!("another process changed the database; re-reading");
            self.resync();
        }
    }

    /// Looks for other processes' changes every second until the pool closes (SQLite only).
    pub fn spawn_outside_watch(&self) {
        let Pool::Sqlite(pool) = &self.pool else { return };
        let (pool, store) = (pool.clone(), self.clone());
        tokio::spawn(async move {
            while !pool.is_closed() {
                tokio::time::sleep(LOOK_EVERY).await;
                store.hear_outside_writes();
            }
        });
    }
}
