//! The hot read models (the dashboard's catalogue summaries and latest release, the
//! maintenance board, the public images' quota bars, the image lookup and the catalogue's
//! lists on the REST API) and the signed-in sessions and API tokens, kept for a moment
//! instead of being read again for every request.
//!
//! A kept model is dropped by any write made through the portal's database connection
//! (every statement it runs that is not a `SELECT` counts as one, see [`Writes`]), and is
//! never shown more than [`FRESH_FOR`] after it was computed, which bounds how long a write
//! made by another portal process sharing the database can go unseen. A model computed for
//! one business time is not shown for another (tests move the clock; a day later the
//! clocks of the board read differently).

use std::{
    any::Any,
    collections::HashMap,
    hash::Hash,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};

use crate::error::AppResult;

/// The longest a kept read model is shown: the most a write made by another process
/// sharing the database can stay unseen here.
pub const FRESH_FOR: Duration = Duration::from_secs(2);

/// The writes made so far through one portal's database connection, its requests' and its
/// jobs' alike.
#[derive(Clone, Debug, Default)]
pub struct Writes(Arc<AtomicU64>);

impl Writes {
    /// Called for every statement the connection runs: anything but a `SELECT` drops every
    /// kept read model.
    pub fn note_statement(&self, sql: &str) {
        if !is_read(sql) {
            self.0.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn so_far(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// Whether a statement only reads: it starts with `SELECT` (sea-orm writes reads that way).
fn is_read(sql: &str) -> bool {
    sql.trim_start()
        .get(..6)
        .is_some_and(|head| head.eq_ignore_ascii_case("select"))
}

/// The most models one portal keeps at once (each signed-in session and each distinct
/// lookup is one); past it, the stale ones are dropped, and if none is, all of them.
pub const KEPT_AT_MOST: usize = 10_000;

/// The longest question a kept model may be of: a session's or token's hash, or a lookup's
/// parameters, are far shorter.
pub const QUESTION_AT_MOST: usize = 512;

/// The kept read models of one portal, by name and what they are of, and the writes that
/// drop them.
#[derive(Clone, Default)]
pub struct ReadCache {
    models: Arc<Mutex<HashMap<Key, Kept>>>,
    /// The models being computed: a request for one waits for that computation.
    computing: Turns<Key>,
    writes: Writes,
    /// How long a model is shown, in milliseconds; [`FRESH_FOR`] while 0 (unless a test
    /// waits on purpose).
    fresh_for_ms: Arc<AtomicU64>,
}

/// A model's name, and what it is of (empty for a model of the whole catalogue).
type Key = (&'static str, Box<str>);

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadCache")
    }
}

/// When something kept was computed: the writes made so far as it started (a write during
/// it makes it stale), the moment, and the business time it was computed for. What keeps
/// something other than a read model (the server's rendered pages) keeps it by a stamp.
#[derive(Clone, Copy, Debug)]
pub struct Stamp {
    writes: u64,
    computed: Instant,
    business_now: DateTime<Utc>,
}

struct Kept {
    stamp: Stamp,
    value: Arc<dyn Any + Send + Sync>,
}

impl ReadCache {
    /// A stamp for something about to be computed as of `now`: take it before reading.
    pub fn stamp(&self, now: DateTime<Utc>) -> Stamp {
        Stamp {
            writes: self.writes.so_far(),
            computed: Instant::now(),
            business_now: now,
        }
    }

    /// Whether what was computed at `stamp` may still be shown at `now`: no write since it
    /// started, computed less than [`FRESH_FOR`] ago, for a business time less than that
    /// before `now` (and not after it).
    pub fn is_fresh(&self, stamp: &Stamp, now: DateTime<Utc>) -> bool {
        let fresh_for = self.fresh_for();
        stamp.writes == self.writes.so_far()
            && stamp.computed.elapsed() < fresh_for
            && stamp.business_now <= now
            && (now - stamp.business_now)
                .to_std()
                .is_ok_and(|d| d < fresh_for)
    }

    fn fresh_for(&self) -> Duration {
        match self.fresh_for_ms.load(Ordering::Acquire) {
            0 => FRESH_FOR,
            ms => Duration::from_millis(ms),
        }
    }

    /// The writes that drop this cache's models: the database connection notes each
    /// statement there (see [`crate::services::queries::count_per_request`]).
    pub fn writes(&self) -> Writes {
        self.writes.clone()
    }

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
        self.get_of_if(key, "", now, |_| true, compute).await
    }

    /// The model named `key` of `of` (one session, one lookup's question) as of `now`, kept
    /// and dropped like [`ReadCache::get`]'s, but only if `keep` says so: an unknown session
    /// or a refused token is read again every time, so made-up ones fill nothing. Nor is a
    /// model of a question longer than [`QUESTION_AT_MOST`] bytes kept.
    pub async fn get_of_if<T, Fut>(
        &self,
        key: &'static str,
        of: &str,
        now: DateTime<Utc>,
        keep: impl FnOnce(&T) -> bool,
        compute: impl FnOnce() -> Fut,
    ) -> AppResult<T>
    where
        T: Clone + Send + Sync + 'static,
        Fut: Future<Output = AppResult<T>>,
    {
        if of.len() > QUESTION_AT_MOST {
            return compute().await;
        }
        let key = (key, Box::from(of));
        if let Some(value) = self.fresh(&key, now) {
            return Ok(value);
        }
        // One computation of a model at a time: when a busy model goes stale, one request
        // reads it again and the others wait for that read.
        let _turn = self.computing.take(&key).await;
        if let Some(value) = self.fresh(&key, now) {
            return Ok(value);
        }
        let stamp = self.stamp(now);
        let value = compute().await?;
        if !keep(&value) {
            return Ok(value);
        }
        if let Ok(mut models) = self.models.lock() {
            if models.len() >= KEPT_AT_MOST {
                models.retain(|_, k| self.is_fresh(&k.stamp, now));
                if models.len() >= KEPT_AT_MOST {
                    models.clear();
                }
            }
            models.insert(
                key,
                Kept {
                    stamp,
                    value: Arc::new(value.clone()),
                },
            );
        }
        Ok(value)
    }

    /// Drops every kept model, and makes stale everything kept by a stamp, so the next read
    /// computes it (what counting a page's full work needs).
    pub fn clear(&self) {
        self.writes.0.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut models) = self.models.lock() {
            models.clear();
        }
    }

    /// Keeps models for `fresh_for` instead of [`FRESH_FOR`]: a test that compares two
    /// loads must not depend on how fast the machine runs them.
    pub fn keep_for(&self, fresh_for: Duration) {
        let ms = u64::try_from(fresh_for.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.fresh_for_ms.store(ms, Ordering::Release);
    }

    fn fresh<T: Clone + 'static>(&self, key: &Key, now: DateTime<Utc>) -> Option<T> {
        let models = self.models.lock().ok()?;
        let k = models.get(key)?;
        self.is_fresh(&k.stamp, now)
            .then(|| k.value.downcast_ref::<T>().cloned())
            .flatten()
    }
}

/// One computation per key at a time: [`Turns::take`] waits while another holds the key's
/// turn, first come first served, so a thing many ask for at once is made once and the
/// others find it made. A key's turn is forgotten when its last holder lets go.
pub struct Turns<K> {
    turns: TurnMap<K>,
}

/// Each key's turn, shared by everyone holding or waiting for it.
type TurnMap<K> = Arc<Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>>;

impl<K> Clone for Turns<K> {
    fn clone(&self) -> Self {
        Turns {
            turns: self.turns.clone(),
        }
    }
}

impl<K> Default for Turns<K> {
    fn default() -> Self {
        Turns {
            turns: Arc::default(),
        }
    }
}

/// How many keys' turns are remembered before those nobody holds or waits for (their
/// requests went away while waiting) are forgotten.
pub const TURNS_AT_MOST: usize = 1024;

/// A key's turn, held until dropped.
pub struct Turn<K: Hash + Eq> {
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
    key: K,
    turns: TurnMap<K>,
}

impl<K: Hash + Eq + Clone> Turns<K> {
    /// The turn of `key`, once nobody before holds it.
    pub async fn take(&self, key: &K) -> Turn<K> {
        let turn = {
            let mut turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
            if turns.len() >= TURNS_AT_MOST {
                turns.retain(|_, turn| Arc::strong_count(turn) > 1);
            }
            match turns.get(key) {
                Some(turn) => turn.clone(),
                None => turns.entry(key.clone()).or_default().clone(),
            }
        };
        Turn {
            held: Some(turn.lock_owned().await),
            key: key.clone(),
            turns: self.turns.clone(),
        }
    }

    /// How many keys' turns are remembered (held, waited for, or left by a request that
    /// went away while it waited).
    pub fn remembered(&self) -> usize {
        self.turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl<K: Hash + Eq> Drop for Turn<K> {
    fn drop(&mut self) {
        let Some(held) = self.held.take() else {
            return;
        };
        let turn = tokio::sync::OwnedMutexGuard::mutex(&held).clone();
        drop(held);
        let mut turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
        // The map's and this one: nobody else holds or waits for it.
        if Arc::strong_count(&turn) <= 2 {
            turns.remove(&self.key);
        }
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
    async fn a_model_asked_for_by_many_at_once_is_computed_once() {
        let cache = ReadCache::default();
        let runs = AtomicUsize::new(0);
        // The first computation waits here until all eight have asked.
        let gate = tokio::sync::Semaphore::new(0);
        let reads = futures::future::join_all((0..8).map(|_| {
            cache.get("model", at(0), || async {
                let _open = gate.acquire().await;
                Ok(runs.fetch_add(1, Ordering::SeqCst) + 1)
            })
        }));
        let open = async {
            tokio::task::yield_now().await;
            gate.add_permits(8);
        };
        let (values, ()) = tokio::join!(reads, open);
        let values: Vec<usize> = values.into_iter().map(|v| v.unwrap_or_default()).collect();
        assert_eq!(values, vec![1; 8], "all eight see the one computation");
        assert_eq!(runs.load(Ordering::SeqCst), 1, "computed once");
        assert_eq!(cache.computing.remembered(), 0, "no turn is left behind");
    }

    #[tokio::test]
    async fn a_model_is_kept_until_a_write_or_another_business_time() {
        let cache = ReadCache::default();
        let runs = AtomicUsize::new(0);
        assert_eq!(read(&cache, at(0), &runs).await, 1);
        assert_eq!(read(&cache, at(0), &runs).await, 1, "kept");
        assert_eq!(read(&cache, at(1), &runs).await, 1, "a second later: kept");

        let writes = cache.writes();
        writes.note_statement("  select 1");
        assert_eq!(read(&cache, at(1), &runs).await, 1, "a read drops nothing");
        writes.note_statement("UPDATE \"listings\" SET \"title\" = $1");
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

    #[tokio::test]
    async fn models_of_other_questions_are_kept_apart_and_only_when_asked() {
        let cache = ReadCache::default();
        let runs = AtomicUsize::new(0);
        let of = |question: &'static str, keep: bool| {
            let (cache, runs) = (&cache, &runs);
            async move {
                cache
                    .get_of_if(
                        "lookup",
                        question,
                        at(0),
                        |_| keep,
                        || async { Ok(runs.fetch_add(1, Ordering::SeqCst) + 1) },
                    )
                    .await
                    .unwrap_or_default()
            }
        };
        assert_eq!(of("a", true).await, 1);
        assert_eq!(of("b", true).await, 2, "another question");
        assert_eq!(of("a", true).await, 1, "each kept apart");
        assert_eq!(of("c", false).await, 3, "not to be kept");
        assert_eq!(of("c", false).await, 4, "so read again");
        let long: &'static str = "x".repeat(QUESTION_AT_MOST + 1).leak();
        assert_eq!(of(long, true).await, 5);
        assert_eq!(of(long, true).await, 6, "too long a question is not kept");
    }

    #[tokio::test]
    async fn no_more_than_so_many_models_are_kept() {
        let cache = ReadCache::default();
        for n in 0..=KEPT_AT_MOST {
            let question = n.to_string();
            let kept = cache.get_of_if("lookup", &question, at(0), |_| true, || async { Ok(n) });
            assert_eq!(kept.await.ok(), Some(n));
        }
        let kept = cache.models.lock().map(|m| m.len()).unwrap_or_default();
        assert!((1..=KEPT_AT_MOST).contains(&kept), "{kept} kept");
        let first = cache
            .get_of_if("lookup", "0", at(0), |_| true, || async { Ok(usize::MAX) })
            .await;
        assert_eq!(
            first.ok(),
            Some(usize::MAX),
            "the first was dropped to make room"
        );
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
