//! CPU-heavy work (argon2, parsing a large card, reading an import file) runs on tokio's blocking threads, never
//! on the async workers that answer every other request (a health check must not wait behind a hash). A semaphore
//! of one permit per core bounds how much of it runs at once: a burst of such requests queues here instead of
//! taking every core and, for argon2's 19 MiB per hash, the memory.

use super::ServiceError;
use std::sync::LazyLock;
use tokio::sync::Semaphore;

static PERMITS: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    Semaphore::new(cores.max(2))
});

/// Runs `work` on a blocking thread once a permit is free.
pub async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ServiceError> {
    let _permit = PERMITS
        .acquire()
        .await
        .map_err(|_| ServiceError::Store(crate::store::StoreError::Unavailable("the CPU pool is closed".into())))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ServiceError::Store(crate::store::StoreError::Unavailable(format!("a CPU task failed: {e}"))))
}
