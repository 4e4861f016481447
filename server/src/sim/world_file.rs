//! The simulated cloud's world on disk: one JSON file in the data directory holding EC2's
//! regions (images, instances, snapshots) and the marketplace's entities, versions, change
//! sets and client request tokens, so a restarted portal finds the images it built. The
//! file is the truth: a portal that finds it seeds nothing. It is written whole, atomically
//! (a temporary file in the same folder, synced, then renamed over it), after every request
//! that changed the world; settings (delays, quota, faults) are not in it.

use std::{
    fs::File,
    io::Write as _,
    path::{Path, PathBuf},
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Ec2Sim, ec2, marketplace};

/// The file's name in the data directory.
pub const WORLD_FILE: &str = "simulated-cloud.json";

/// The layout of the file this portal writes and reads.
const FORMAT: u32 = 1;

/// What a world file holds (its `format` is checked first, from the `Header`).
#[derive(Deserialize)]
pub(super) struct Contents {
    pub(super) ec2: ec2::World,
    pub(super) marketplace: marketplace::World,
}

/// What is written: the same layout, each part serialised under its own lock.
#[derive(Serialize)]
struct Written {
    format: u32,
    saved_at: DateTime<Utc>,
    ec2: serde_json::Value,
    marketplace: serde_json::Value,
}

/// Only the layout, read first so a file of another layout is named as such.
#[derive(Deserialize)]
struct Header {
    format: u32,
}

/// A world file this process keeps.
pub(super) struct WorldFile {
    path: PathBuf,
    /// An exclusive lock on `<file>.lock`, held while this simulator keeps the world, so no
    /// second process writes over it.
    lock: Mutex<Option<File>>,
    /// The generation last written, plus one (0: never written); read without waiting, so
    /// a request that changed nothing does not wait for a write.
    written: AtomicU64,
    /// Held while a snapshot is taken and written, so writes land in order.
    writing: tokio::sync::Mutex<()>,
}

/// Says what to do about a world file that cannot be used.
fn unusable(path: &Path) -> String {
    format!(
        "The simulated cloud's world file {} cannot be used. Move it away (or delete it) to \
         start a fresh simulated account, seeded from the catalogue; the portal does not \
         start with an empty world in its place",
        path.display()
    )
}

impl WorldFile {
    /// Takes the world file at `path` for this process and reads it, if it exists.
    pub(super) fn open(path: &Path) -> anyhow::Result<(Self, Option<Contents>)> {
        let lock_path = path.with_extension("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| {
                format!(
                    "Failed to open {} for the simulated cloud",
                    lock_path.display()
                )
            })?;
        if let Err(e) = lock.try_lock() {
            return Err(match e {
                std::fs::TryLockError::WouldBlock => anyhow::anyhow!(
                    "The simulated cloud's world file {} is kept by another portal process. \
                     Point this one at that process's simulated cloud with PORTAL_SIM_EC2_URL, \
                     or give it a data directory of its own",
                    path.display()
                ),
                std::fs::TryLockError::Error(e) => {
                    anyhow::Error::new(e).context(format!("Failed to lock {}", lock_path.display()))
                }
            });
        }
        let contents = match std::fs::read(path) {
            Ok(bytes) => Some(Self::parse(path, &bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("Failed to read {}", path.display()))
                    .context(unusable(path)));
            }
        };
        Ok((
            WorldFile {
                path: path.to_owned(),
                lock: Mutex::new(Some(lock)),
                written: AtomicU64::new(0),
                writing: tokio::sync::Mutex::new(()),
            },
            contents,
        ))
    }

    fn parse(path: &Path, bytes: &[u8]) -> anyhow::Result<Contents> {
        let header: Header = serde_json::from_slice(bytes)
            .with_context(|| format!("{} is not a simulated cloud's world", path.display()))
            .with_context(|| unusable(path))?;
        anyhow::ensure!(
            header.format == FORMAT,
            "{}: {} holds a world of layout {}, and this portal reads layout {FORMAT}",
            unusable(path),
            path.display(),
            header.format
        );
        serde_json::from_slice(bytes)
            .with_context(|| format!("{} is not a simulated cloud's world", path.display()))
            .with_context(|| unusable(path))
    }

    /// Records that the world as of `generation` is what the file holds.
    pub(super) fn written_up_to(&self, generation: u64) {
        self.written.store(generation + 1, Ordering::SeqCst);
    }

    /// Writes `sim`'s world unless the file already holds its latest change.
    pub(super) async fn save(&self, sim: &Ec2Sim) -> anyhow::Result<()> {
        if self.written.load(Ordering::SeqCst) == sim.generation() + 1 {
            return Ok(());
        }
        let _writing = self.writing.lock().await;
        // Read before the snapshot: the snapshot holds at least every change counted here.
        let generation = sim.generation();
        if self.written.load(Ordering::SeqCst) == generation + 1 {
            return Ok(());
        }
        let written = Written {
            format: FORMAT,
            saved_at: sim.now(),
            ec2: sim.world_value()?,
            marketplace: sim.marketplace().world_value()?,
        };
        let bytes = serde_json::to_vec_pretty(&written)?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
            .await
            .context("the simulated cloud's writer stopped")?
            .with_context(|| {
                format!(
                    "Failed to write the simulated cloud's world to {}",
                    self.path.display()
                )
            })?;
        self.written_up_to(generation);
        Ok(())
    }

    /// Lets go of the file for the next simulator (this one writes no more).
    pub(super) fn release(&self) {
        if let Some(lock) = self
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = lock.unlock();
        }
    }
}

/// Replaces `path` with `bytes` so that a crash at any moment leaves the old file or the new
/// one, never a part: a temporary file in the same folder, synced, renamed over it, and the
/// folder synced so the rename itself lasts.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| WORLD_FILE.to_owned());
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written?;
    File::open(dir)?.sync_all()
}
