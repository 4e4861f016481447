//! The hot read models (the dashboard's catalogue summaries and latest release, the
//! maintenance board, the public images' quota bars), kept for a moment instead of being
//! computed again for every page load.
//!
//! A kept model is dropped by any write this process makes (every statement the database
//! connection runs that is not a `SELECT` counts as one, see [`note_statement`]), and is
//! never shown more than [`FRESH_FOR`] after it was computed, which bounds how long a write
//! made by another portal process sharing the database can go unseen. A model computed for
//! one business time is not shown for another (tests move the clock; a day later the
//! clocks of the board read differently).

use std::{
    any::Any,
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};

use crate::error::AppResult;

/// The longest a kept read model is shown: the most a write made by another process
/// sharing the database can stay unseen here.
pub const FRESH_FOR: Duration = Duration::from_secs(2);

/// The writes this process has made so far (across every portal in the process: more
/// invalidation than needed, never less).
static WRITES: AtomicU64 = AtomicU64::new(0);

/// Called for every statement the database connection runs: anything but a `SELECT`
/// drops every kept read model.
pub fn note_statement(sql: &str) {
    if !is_read(sql) {
        WRITES.fetch_add(1, Ordering::AcqRel);
    }
}

/// Whether a statement only reads: it starts with `SELECT` (sea-orm writes reads that way).
fn is_read(sql: &str) -> bool {
    sql.trim_start()
        .get(..6)
        .is_some_and(|head| head.eq_ignore_ascii_case("select"))
}

/// The kept read models of one portal, by name.
#[derive(Clone, Default)]
pub struct ReadCache(Arc<Mutex<HashMap<&'static str, Kept>>>);

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadCache")
    }
}

struct Kept {
    /// [`WRITES`] when the computation started: a write during it makes the model stale.
    writes: u64,
    computed: Instant,
    business_now: DateTime<Utc>,
    value: Arc<dyn Any + Send + Sync>,
}

impl ReadCache {
    /// The model named `key` as of `now`: kept if still fresh, else computed by `compute`
    /// and kept (an error is returned and not kept).
    pub async fn get<T, Fut>(
        &self,
        key: &'static str,
        now: DateTime<Utc>,
        compute: impl FnOnce() -> Fut,
    ) -> AppResult<T>
    where
        T: Clone + Send + Sync + 'static,
        Fut: Future<Output = AppResult<T>>,
    {
        let writes = WRITES.load(Ordering::Acquire);
        if let Some(value) = self.fresh(key, writes, now) {
            return Ok(value);
        }
        let value = compute().await?;
        if let Ok(mut kept) = self.0.lock() {
            kept.insert(
                key,
                Kept {
                    writes,
                    computed: Instant::now(),
                    business_now: now,
                    value: Arc::new(value.clone()),
                },
            );
        }
        Ok(value)
    }

    /// Drops every kept model, so the next read computes it (what counting a page's full
    /// work needs).
    pub fn clear(&self) {
        if let Ok(mut kept) = self.0.lock() {
            kept.clear();
        }
    }

    fn fresh<T: Clone + 'static>(
        &self,
        key: &'static str,
        writes: u64,
        now: DateTime<Utc>,
    ) -> Option<T> {
        let kept = self.0.lock().ok()?;
        let k = kept.get(key)?;
        let same_time =
            k.business_now <= now && (now - k.business_now).to_std().is_ok_and(|d| d < FRESH_FOR);
        (k.writes == writes && same_time && k.computed.elapsed() < FRESH_FOR)
            .then(|| k.value.downcast_ref::<T>().cloned())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap_or_default()
    }

    async fn read(cache: &ReadCache, now: DateTime<Utc>, runs: &AtomicUsize) -> usize {
        cache
            .get("model", now, || async {
                Ok(runs.fetch_add(1, Ordering::SeqCst) + 1)
            })
            .await
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_model_is_kept_until_a_write_or_another_business_time() {
        let cache = ReadCache::default();
        let runs = AtomicUsize::new(0);
        assert_eq!(read(&cache, at(0), &runs).await, 1);
        assert_eq!(read(&cache, at(0), &runs).await, 1, "kept");
        assert_eq!(read(&cache, at(1), &runs).await, 1, "a second later: kept");

        note_statement("  select 1");
        assert_eq!(read(&cache, at(1), &runs).await, 1, "a read drops nothing");
        note_statement("UPDATE \"listings\" SET \"title\" = $1");
        assert_eq!(read(&cache, at(1), &runs).await, 2, "a write drops it");

        assert_eq!(
            read(&cache, at(3), &runs).await,
            3,
            "two business seconds on"
        );
        assert_eq!(read(&cache, at(0), &runs).await, 4, "an earlier time");
    }

    #[tokio::test]
    async fn an_error_is_not_kept() {
        let cache = ReadCache::default();
        let failed: AppResult<u8> = cache
            .get("failing", at(0), || async {
                Err(crate::error::AppError::internal("test", "no database"))
            })
            .await;
        assert!(failed.is_err());
        let ok = cache.get("failing", at(0), || async { Ok(7_u8) }).await;
        assert_eq!(ok.ok(), Some(7));
    }

    #[test]
    fn only_selects_count_as_reads() {
        assert!(is_read("SELECT \"id\" FROM \"jobs\""));
        assert!(is_read("\n select 1"));
        for write in [
            "INSERT INTO",
            "update x",
            "DELETE FROM",
            "WITH x AS (",
            "sel",
        ] {
            assert!(!is_read(write), "{write}");
        }
    }
}
