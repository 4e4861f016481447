//! Opening the database and bringing its schema up to date.

use std::time::Duration;

use anyhow::Context;
use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

/// Connects (creating the SQLite file and its folder if needed) and applies pending migrations.
pub async fn connect_and_migrate(
    url: &str,
    max_connections: u32,
) -> anyhow::Result<DatabaseConnection> {
    if let Some(path) = sqlite_path(url)
        && let Some(dir) = std::path::Path::new(&path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Failed to create the database folder {}", dir.display()))?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    options.map_sqlx_sqlite_opts(|o| {
        o.foreign_keys(true)
            .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10))
            .create_if_missing(true)
    });
    let db = Database::connect(options)
        .await
        .with_context(|| format!("Failed to connect to the database at {}", redact(url)))?;
    Migrator::up(&db, None)
        .await
        .context("Failed to apply database migrations")?;
    Ok(db)
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}

/// The URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Counts the database statements each request runs (its page's server functions
/// included), logs the figure at debug level and leaves it on the response's extensions
/// for the layers outside.
pub async fn count_queries(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let count = app::services::queries::QueryCount::default();
    req.extensions_mut().insert(count.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut res = count.scope(next.run(req)).await;
    tracing::debug!(%method, path, queries = count.get(), "database statements of the request");
    res.extensions_mut().insert(count);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            redact("postgres://portal:s3cret@db:5432/portal"),
            "postgres://portal:***@db:5432/portal"
        );
        assert_eq!(
            redact("sqlite://data/portal.db?mode=rwc"),
            "sqlite://data/portal.db?mode=rwc"
        );
    }

    #[test]
    fn the_sqlite_file_is_found_in_the_url() {
        assert_eq!(
            sqlite_path("sqlite://./data/portal.db?mode=rwc").as_deref(),
            Some("./data/portal.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x/y"), None);
    }
}
