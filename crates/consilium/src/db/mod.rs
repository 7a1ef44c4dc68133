//! The database: one `Db` enum over the two pools, chosen at run time from the URL scheme.
//!
//! SQL shared by both backends is written once and run through [`run!`], which expands
//! the same body for each backend; only statements that really differ are written twice.
//! Portable types only: `i64` (instants in microseconds, UTC), `String` (ids, JSON), `bool`.

use crate::kernel::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a SQLite writer waits for its turn (and SQLite's own busy timeout).
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

pub enum Tx {
    Sqlite(SqliteTx),
    Postgres(Transaction<'static, Postgres>),
}

/// A SQLite transaction; a write transaction also holds this process's turn to write to the
/// file. SQLite has one writer at a time, and a writer that finds the lock taken waits in
/// SQLite's busy handler, which sleeps and retries (1, 2, 5 … 100 ms): under load an unlucky
/// request waits hundreds of milliseconds while others overtake it. Queuing writers here, in
/// arrival order, before they take a connection, keeps the wait to the work ahead of them.
pub struct SqliteTx {
    // Declared first, so it ends (a rollback if not committed) before the turn is released.
    tx: Transaction<'static, Sqlite>,
    _turn: Option<OwnedSemaphorePermit>,
}

impl SqliteTx {
    pub async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.commit().await
    }
    pub async fn rollback(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

/// A read transaction (plain `BEGIN`): it takes no turn.
impl From<Transaction<'static, Sqlite>> for SqliteTx {
    fn from(tx: Transaction<'static, Sqlite>) -> Self {
        Self { tx, _turn: None }
    }
}

impl Deref for SqliteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl DerefMut for SqliteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

/// The writers' queue of a SQLite file: one per file in this process, shared by every pool
/// opened on it.
fn sqlite_write_queue(pool: &SqlitePool) -> Arc<Semaphore> {
    static QUEUES: LazyLock<Mutex<HashMap<PathBuf, Arc<Semaphore>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let file = pool.connect_options().get_filename().to_path_buf();
    let mut queues = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
    queues
        .entry(file)
        .or_insert_with(|| Arc::new(Semaphore::new(1)))
        .clone()
}

/// Runs the same query code on whichever backend `$tx` (a `&mut Tx`) is, binding `$c`
/// to the backend's connection.
#[macro_export]
macro_rules! run {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Connects from a `sqlite://path` or `postgres://…` URL. SQLite files are created
    /// when missing, in WAL mode with `synchronous=FULL` (an acknowledged commit survives
    /// a power loss) and foreign keys on.
    pub async fn connect(url: &str) -> Result<Db> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| Error::Internal(format!("bad SQLite URL: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .pragma("temp_store", "memory")
                .pragma("cache_size", "-32000");
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(15))
                .connect_with(opts)
                .await
                .map_err(|e| Error::Unavailable(format!("cannot open SQLite database: {e}")))?;
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url)
                .map_err(|e| Error::Internal(format!("bad PostgreSQL URL: {e}")))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(opts)
                .await
                .map_err(|e| Error::Unavailable(format!("cannot reach PostgreSQL: {e}")))?;
            Ok(Db::Postgres(pool))
        } else {
            Err(Error::Unavailable(format!(
                "unsupported database URL (expected sqlite://… or postgres://…): {}",
                redact_url(url)
            )))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn migrate(&self) -> Result<()> {
        match self {
            Db::Sqlite(p) => SQLITE_MIGRATOR.run(p).await,
            Db::Postgres(p) => POSTGRES_MIGRATOR.run(p).await,
        }
        .map_err(|e| Error::Internal(format!("migration failed: {e}")))
    }

    /// Begins a transaction that may write. On SQLite it is `BEGIN IMMEDIATE`, so the write
    /// lock is taken up front and the transaction can never fail later with a busy upgrade;
    /// it first waits for its turn in the file's writer queue (see [`SqliteTx`]).
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite(p) => {
                let turn = tokio::time::timeout(
                    SQLITE_BUSY_TIMEOUT,
                    sqlite_write_queue(p).acquire_owned(),
                )
                .await
                .map_err(|_| Error::Unavailable("the database is busy".into()))?
                .map_err(|_| Error::internal("the SQLite writer queue is closed"))?;
                Tx::Sqlite(SqliteTx {
                    tx: p.begin_with("BEGIN IMMEDIATE").await?,
                    _turn: Some(turn),
                })
            }
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        match self {
            Db::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
            Db::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
        }
        .map_err(|e| Error::Unavailable(format!("database unreachable: {e}")))
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

impl Tx {
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
    pub async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}

/// Hides the password of a database URL, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// True when the error is a unique-constraint violation (both backends).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d.is_unique_violation(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_stay_in_lockstep() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let list = |b: &str| {
            let mut v: Vec<String> = std::fs::read_dir(dir.join(b))
                .expect("migrations folder")
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let (s, p) = (list("sqlite"), list("postgres"));
        assert!(!s.is_empty());
        assert_eq!(
            s, p,
            "each migration must exist for both backends, same version and name"
        );
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            super::redact_url("sqlite://data/x.db"),
            "sqlite://data/x.db"
        );
    }
}
