//! How many database statements one request runs. The shared connection counts each
//! statement toward the request whose scope runs it; the work a request hands to tasks of
//! its own (a page's resources render in spawned tasks) runs on a handle of the connection
//! that counts toward that request wherever it runs. Background work (job runners, the
//! train engine) runs in no request's scope and counts toward none. Statements sent as
//! raw text without one (`execute_unprepared`: the readiness probe) are not counted.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use sea_orm::DatabaseConnection;

/// The statements run on behalf of one request so far.
#[derive(Clone, Debug, Default)]
pub struct QueryCount(Arc<AtomicUsize>);

tokio::task_local! {
    static CURRENT: QueryCount;
}

impl QueryCount {
    /// How many statements have run so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs `work` with the statements it runs on the shared connection, in its own task,
    /// counted here.
    pub async fn scope<F: Future>(&self, work: F) -> F::Output {
        CURRENT.scope(self.clone(), work).await
    }

    /// A handle on `db` whose statements count here, from whichever task runs them, and
    /// note their writes in `writes` as the shared connection does.
    pub fn attach(
        &self,
        db: &DatabaseConnection,
        writes: &super::read_cache::Writes,
    ) -> DatabaseConnection {
        let mut db = db.clone();
        let count = self.clone();
        let writes = writes.clone();
        db.set_metric_callback(move |info| {
            count.add();
            writes.note_statement(&info.statement.sql);
        });
        db
    }
}

/// Makes `db` count each statement toward the request whose scope runs it, if any, and
/// note its writes in `writes` (those of the portal's kept read models). Called once, on
/// the connection the whole portal shares, before it is shared.
pub fn count_per_request(db: &mut DatabaseConnection, writes: super::read_cache::Writes) {
    db.set_metric_callback(move |info| {
        let _ = CURRENT.try_with(QueryCount::add);
        writes.note_statement(&info.statement.sql);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn statements_count_toward_the_request_that_runs_them() {
        use sea_orm::{ConnectionTrait, Statement};

        let Ok(mut db) = sea_orm::Database::connect("sqlite::memory:").await else {
            panic!("an in-memory SQLite database opens");
        };
        count_per_request(&mut db, Default::default());
        let backend = db.get_database_backend();
        let select = move |n: u8| Statement::from_string(backend, format!("SELECT {n}"));
        let request = QueryCount::default();
        let other = QueryCount::default();
        request
            .scope(async {
                db.query_one_raw(select(1)).await.ok();
                db.query_one_raw(select(2)).await.ok();
            })
            .await;
        // Outside any request: counted nowhere.
        db.query_one_raw(select(3)).await.ok();
        // A spawned task loses the scope; the attached handle does not.
        let attached = other.attach(&db, &Default::default());
        tokio::spawn(async move { attached.query_one_raw(select(4)).await.ok() })
            .await
            .ok();
        let shared = db.clone();
        other
            .scope(async {
                tokio::spawn(async move { shared.query_one_raw(select(5)).await.ok() })
                    .await
                    .ok();
            })
            .await;
        assert_eq!(request.get(), 2);
        assert_eq!(other.get(), 1);
    }
}
