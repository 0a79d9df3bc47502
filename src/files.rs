//! Output files written atomically, so an interrupted or failed run never
//! leaves a truncated file that looks finished, nor a mix of two runs' files:
//! a scenario's set is written into a staging folder and exchanged for the
//! old one in one rename ([`OutputDir`]); a single file goes to a temporary
//! name beside it first ([`write_atomic`]).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Bytes free to an unprivileged user on the file system `path` is on (or
/// would be: its nearest existing ancestor), where the system says.
pub fn free_space(path: &Path) -> Option<u64> {
    let path = std::path::absolute(path).ok()?;
    let existing = path.ancestors().find(|p| p.exists())?;
    #[cfg(unix)]
    {
        let st = rustix::fs::statvfs(existing).ok()?;
        Some(st.f_bavail.saturating_mul(st.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = existing;
        None
    }
}

/// Most bytes [`read_capped`] reads from something other than a regular
/// file (a pipe, a device), whose size is not known before reading.
const STREAM_CAP: u64 = 64 << 20;

/// Reads the text file at `path`, refusing one longer than `limit` bytes
/// before reading past it (a device such as `/dev/zero`, or a file far too
/// big to be `what`), with its size and the limit.
pub fn read_capped(path: &Path, limit: u64, what: &str) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, "cannot read", e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(path, "cannot read", e))?;
    let too_long = |size: String| {
        Error::Usage(format!(
            "{}: {size} than the {limit} bytes a {what} may have",
            path.display()
        ))
    };
    // A regular file is refused by its size, unread; anything else (a
    // pipe, a device) is read at most to a smaller cap.
    if meta.is_file() && meta.len() > limit {
        return Err(too_long(format!("{} bytes, more", meta.len())));
    }
    let cap = if meta.is_file() {
        limit
    } else {
        limit.min(STREAM_CAP)
    };
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, "cannot read", e))?;
    if bytes.len() as u64 > cap {
        return Err(Error::Usage(format!(
            "{}: longer than the {cap} bytes a {what} may have{}",
            path.display(),
            if meta.is_file() {
                " (it grew while being read)"
            } else {
                " when it is not a regular file"
            }
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::io(
            path,
            "cannot read",
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
        )
    })
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder,
/// renamed over `path` only once fully written and flushed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = temp_builder()
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, "cannot create a file in", e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io(path, "cannot write", e))?;
    tmp.persist(path)
        .map_err(|e| Error::io(path, "cannot rename into place", e.error))?;
    Ok(())
}

/// Temporary output files: hidden names, and the ordinary permissions
/// (rw-r--r-- on Unix) rather than a temporary file's private ones, since
/// they are renamed into place.
pub fn temp_builder() -> tempfile::Builder<'static, 'static> {
    let mut b = tempfile::Builder::new();
    b.prefix(".surgesim-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o644));
    }
    b
}

/// An exclusive lock on a scenario's output folder, held while a run writes
/// it: a second run into the same folder is refused instead of mixing its
/// files with the first one's. Released when dropped (or the process ends);
/// on Unix nothing is left in the folder (elsewhere an empty lock file).
#[derive(Debug)]
pub struct DirLock(#[allow(dead_code)] std::fs::File);

/// Takes the lock on folder `dir`, made if missing (with whether this call
/// made it). The lock is on the folder's handle, so it is checked, once
/// taken, to still be the folder at `dir`: a run that commits exchanges the
/// folder for its staging folder, and one waiting on the old handle then
/// locks the new folder instead.
fn lock_dir(dir: &Path) -> Result<(DirLock, bool)> {
    let mut fresh = false;
    let mut tries = 0;
    loop {
        // A symbolic link there would put the outputs wherever it points,
        // perhaps outside `-o`: refused, not followed.
        if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Usage(format!(
                "{}: is a symbolic link; outputs are written only into real folders under the \
                 output folder: remove the link or choose another -o",
                dir.display()
            )));
        }
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "cannot create folder", e))?;
            fresh = true;
        }
        // A folder opened for reading is a handle flock(2) takes on Unix;
        // elsewhere a lock file inside it (removed by nobody: it is empty and
        // harmless).
        #[cfg(unix)]
        let file = std::fs::File::open(dir).map_err(|e| Error::io(dir, "cannot open folder", e))?;
        #[cfg(not(unix))]
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(|e| Error::io(dir, "cannot lock folder", e))?;
        // A lock held for a moment only is not another run: a process forked
        // from this one (a library user's, a test harness's) shares the lock
        // until it execs, and a run that just committed holds the old folder's
        // until it lets go. Another run holds it for the whole run.
        match file.try_lock() {
            Ok(()) if is_folder_at(&file, dir) => return Ok((DirLock(file), fresh)),
            Ok(()) | Err(std::fs::TryLockError::WouldBlock) if tries < 25 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Ok(()) | Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Usage(format!(
                    "{}: another surgesim run is writing this folder; wait for it to finish, \
                     or give this run another -o",
                    dir.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(dir, "cannot lock folder", e));
            }
        }
    }
}

/// Whether `file`, a locked handle on `dir`, is still the folder at `dir`.
#[cfg(unix)]
fn is_folder_at(file: &std::fs::File, dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(dir)) {
        (Ok(held), Ok(now)) => held.dev() == now.dev() && held.ino() == now.ino(),
        _ => false,
    }
}

/// Elsewhere the lock is a file in the folder, which is never exchanged.
#[cfg(not(unix))]
fn is_folder_at(_: &std::fs::File, _: &Path) -> bool {
    true
}

/// The lock file where folders cannot be locked (not Unix).
#[cfg(not(unix))]
const LOCK_FILE: &str = ".surgesim.lock";

/// A scenario's output folder `DIR/<name>`, being rewritten by one run.
///
/// The new set is written into a hidden staging folder beside it,
/// `DIR/.surgesim-<name>-XXXXXX`, and [`OutputDir::commit`] exchanges the two
/// folders in one rename (`renameat2` with `RENAME_EXCHANGE` on Linux): a
/// reader sees the old set or the new one, never a mix, and files of the
/// user's own in the folder are carried over. Until the commit the folder is
/// as it was; dropped uncommitted (a failure, an interrupt) the staging
/// folder is removed with all it holds (from 64 MB, by a helper process
/// just after the exit: [`remove_large_staging_with`]), and so is
/// `DIR/<name>` if this run made it. A lock on the folder keeps a
/// concurrent run out.
#[derive(Debug)]
pub struct OutputDir {
    dir: PathBuf,
    staging: Option<tempfile::TempDir>,
    fresh: bool,
    lock: Option<DirLock>,
}

impl OutputDir {
    /// Locks (making it if needed) the folder `parent/<name>`, with `name`
    /// sanitised, and makes its staging folder: both checked writable
    /// before anything is simulated.
    pub fn open(parent: &Path, name: &str) -> Result<OutputDir> {
        let dir = parent.join(sanitize_name(name));
        let (lock, fresh) = lock_dir(&dir)?;
        let mut out = OutputDir {
            dir,
            staging: None,
            fresh,
            lock: Some(lock),
        };
        let staging = tempfile::Builder::new()
            .prefix(&format!(".surgesim-{}-", sanitize_name(name)))
            .tempdir_in(parent)
            .map_err(|e| Error::io(parent, "cannot write in folder", e))?;
        // The staging folder becomes the folder: it gets the folder's
        // permissions rather than a temporary folder's private ones.
        if let Ok(meta) = std::fs::metadata(&out.dir) {
            std::fs::set_permissions(staging.path(), meta.permissions())
                .map_err(|e| Error::io(staging.path(), "cannot set the permissions of", e))?;
        }
        out.staging = Some(staging);
        Ok(out)
    }

    /// The folder, as users see it.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `file` in the folder, as users see it (for messages).
    pub fn shown(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The staging folder, where this run's files are written.
    pub fn work(&self) -> &Path {
        self.staging
            .as_ref()
            .expect("staged until committed")
            .path()
    }

    /// `file` in the staging folder.
    pub fn work_file(&self, file: &str) -> PathBuf {
        self.work().join(file)
    }

    /// Writes the output `file` with `bytes` (to the staging folder, synced).
    pub fn write(&self, file: &str, bytes: &[u8]) -> Result<()> {
        std::fs::File::create(self.work_file(file))
            .and_then(|mut f| {
                f.write_all(bytes)?;
                f.sync_all()
            })
            .map_err(|e| Error::io(self.shown(file), "cannot write", e))
    }

    /// Puts the new set in place of the old. `owned` names the files a run
    /// of this kind writes: the others in the folder are the user's, kept.
    pub fn commit(mut self, owned: &[&str]) -> Result<()> {
        let staging = self.staging.take().expect("committed once");
        let work = staging.path().to_path_buf();
        let dir = self.dir.clone();
        let io = |what: &'static str| {
            let dir = dir.clone();
            move |e| Error::io(&dir, what, e)
        };
        // The new files are on disk before they are made visible.
        std::fs::File::open(&work)
            .and_then(|f| f.sync_all())
            .map_err(io("cannot write in folder"))?;
        let entries = |d: &Path| -> std::io::Result<Vec<String>> {
            std::fs::read_dir(d)?
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        };
        // Hidden names of this tool: a killed run's temporary files, the
        // lock file; neither is carried over.
        let ours = |name: &str| owned.contains(&name) || name.starts_with(".surgesim");
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let kept: Vec<String> = entries(&self.dir)
                .map_err(io("cannot read folder"))?
                .into_iter()
                .filter(|n| !ours(n))
                .collect();
            let mut carried = Vec::new();
            let exchanged = kept
                .iter()
                .try_for_each(|n| {
                    std::fs::rename(self.dir.join(n), work.join(n))?;
                    carried.push(n);
                    Ok(())
                })
                .and_then(|()| {
                    rustix::fs::renameat_with(
                        rustix::fs::CWD,
                        &work,
                        rustix::fs::CWD,
                        &self.dir,
                        rustix::fs::RenameFlags::EXCHANGE,
                    )
                    .map_err(std::io::Error::from)
                });
            match exchanged {
                Ok(()) => {
                    // The old set is in the staging folder now, removed as it
                    // drops; the lock on it no longer guards anything.
                    self.lock = None;
                    self.fresh = false;
                    drop(staging);
                    return Ok(());
                }
                Err(e) => {
                    for n in carried {
                        let _ = std::fs::rename(work.join(n), self.dir.join(n));
                    }
                    // A file system (or kernel) without the exchange takes
                    // the files one by one below; any other error is one.
                    use rustix::io::Errno;
                    let unsupported = [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP]
                        .map(|n| Some(n.raw_os_error()));
                    if !unsupported.contains(&e.raw_os_error()) {
                        return Err(Error::io(&self.dir, "cannot move the new outputs into", e));
                    }
                }
            }
        }
        // One rename a file: stale outputs removed first, then the new ones.
        let new = entries(&work).map_err(io("cannot read folder"))?;
        for old in entries(&self.dir).map_err(io("cannot read folder"))? {
            if owned.contains(&old.as_str()) && !new.contains(&old) {
                let path = self.dir.join(&old);
                std::fs::remove_file(&path)
                    .map_err(|e| Error::io(&path, "cannot remove stale", e))?;
            }
        }
        for n in &new {
            let path = self.dir.join(n);
            std::fs::rename(work.join(n), &path)
                .map_err(|e| Error::io(&path, "cannot rename into place", e))?;
        }
        self.fresh = false;
        Ok(())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        // Uncommitted: the staging folder goes, with everything in it; then
        // the folder, if this run made it (it is empty unless someone put
        // something there, and then it stays).
        if let Some(staging) = self.staging.take() {
            discard(staging);
        }
        if self.fresh {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// Staging folders holding at least this much are removed by a helper
/// process rather than by the run: freeing a file's blocks takes the kernel
/// about 0.1 s per GB of unwritten pages and 0.5 s per GB written out (ext4,
/// `rm` timed on this project's machine), so a run interrupted while writing
/// a 2 GB requests.csv would otherwise spend most of a second exiting.
/// Smaller folders go at once, before the run exits.
const REMOVE_AFTER_EXIT_BYTES: u64 = 64 << 20;

/// The executable that removes large staging folders
/// ([`REMOVE_STAGING_COMMAND`]), once the binary has named itself.
static REMOVER: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The hidden command of the `surgesim` binary that removes one staging
/// folder: `surgesim __remove-staging DIR/.surgesim-<name>-XXXXXX`.
pub const REMOVE_STAGING_COMMAND: &str = "__remove-staging";

/// Lets large staging folders be removed by `exe` run with
/// [`REMOVE_STAGING_COMMAND`] in a process group of its own (unreached by
/// the terminal's Ctrl-C), so that an interrupted run exits at once and the
/// folder is gone moments later. Without it (the library's default) every
/// staging folder is removed before the run returns.
pub fn remove_large_staging_with(exe: PathBuf) {
    let _ = REMOVER.set(exe);
}

/// Removes an uncommitted staging folder: a large one by the helper
/// process, if one is set and starts; anything else here and now. (The old
/// set a commit leaves in it goes here and now: a finished run's folder is
/// then exactly its outputs when the run exits.)
fn discard(staging: tempfile::TempDir) {
    let Some(exe) = REMOVER.get() else {
        return drop(staging);
    };
    let size: u64 = std::fs::read_dir(staging.path())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    if size < REMOVE_AFTER_EXIT_BYTES {
        return drop(staging);
    }
    let mut helper = std::process::Command::new(exe);
    helper
        .arg(REMOVE_STAGING_COMMAND)
        .arg(staging.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut helper, 0);
    // The helper is not waited for: it outlives the run by design.
    if helper.spawn().is_ok() {
        let _ = staging.keep();
    }
}

/// What [`REMOVE_STAGING_COMMAND`] does: removes `path` and everything in
/// it, provided it is a staging folder (a real folder named
/// `.surgesim-*`, not a link), so the command cannot be aimed elsewhere.
pub fn remove_staging_folder(path: &Path) -> Result<()> {
    let refused = || {
        Error::Usage(format!(
            "{}: not a staging folder of surgesim (a folder named .surgesim-*)",
            path.display()
        ))
    };
    let name = path.file_name().ok_or_else(refused)?;
    // Rebuilt from its parent and name: `link/` or `link/.` would name the
    // folder a link points to, where `link` itself is what is checked.
    let target = path.parent().unwrap_or(Path::new("")).join(name);
    let named = name.to_str().is_some_and(|n| n.starts_with(".surgesim-"));
    let folder = std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir());
    if !named || !folder {
        return Err(refused());
    }
    std::fs::remove_dir_all(&target).map_err(|e| Error::io(&target, "cannot remove", e))
}

/// Bytes written between two pushes of a large file's data to disk
/// ([`WriteBehind`]).
const WRITE_BEHIND: u64 = 32 << 20;

/// A large output file (request rows) whose data is pushed to disk every
/// 32 MB as it is written (`fdatasync`), so the sync before the commit
/// waits for at most that much: one sync of a 1.9 GB requests.csv at the
/// end took 1.2 s, during which a stop could not be noticed; each of these
/// took at most 48 ms in a traced four-run join (`strace -T`).
#[derive(Debug)]
pub struct WriteBehind<F> {
    file: F,
    unsynced: u64,
}

impl<F: std::borrow::Borrow<std::fs::File>> WriteBehind<F> {
    pub fn new(file: F) -> Self {
        WriteBehind { file, unsynced: 0 }
    }
}

impl<F: std::borrow::Borrow<std::fs::File>> Write for WriteBehind<F> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut file: &std::fs::File = self.file.borrow();
        // Synced before the write, so that an error means nothing was
        // written (a writer that retries writes nothing twice).
        if self.unsynced >= WRITE_BEHIND {
            file.sync_data()?;
            self.unsynced = 0;
        }
        let n = file.write(buf)?;
        self.unsynced += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut file: &std::fs::File = self.file.borrow();
        file.flush()
    }
}

/// `name` reduced to one safe path component: letters, digits, `-`, `_` and
/// `.` kept, anything else replaced by `_`, no leading dot, at most 100 bytes.
pub fn sanitize_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while s.starts_with('.') {
        s.replace_range(..1, "_");
    }
    s.truncate(100);
    if s.is_empty() { "scenario".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_commit_replaces_the_set_and_keeps_the_users_files() {
        let parent = tempfile::tempdir().unwrap();
        let first = OutputDir::open(parent.path(), "s").unwrap();
        first.write("a.csv", b"old a").unwrap();
        first.write("b.csv", b"old b").unwrap();
        first.commit(&["a.csv", "b.csv"]).unwrap();
        let dir = parent.path().join("s");
        std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
        let second = OutputDir::open(parent.path(), "s").unwrap();
        second.write("a.csv", b"new a").unwrap();
        // Until the commit the folder is the old set, and nothing else.
        assert_eq!(names(&dir), ["a.csv", "b.csv", "notes.txt"]);
        assert_eq!(std::fs::read(dir.join("a.csv")).unwrap(), b"old a");
        second.commit(&["a.csv", "b.csv"]).unwrap();
        // b.csv, not written this time, went with the old set; the
        // user's file stayed; no staging folder is left beside it.
        assert_eq!(names(&dir), ["a.csv", "notes.txt"]);
        assert_eq!(std::fs::read(dir.join("a.csv")).unwrap(), b"new a");
        assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"mine");
        assert_eq!(names(parent.path()), ["s"]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_set_is_put_in_place_by_one_exchange_of_folders() {
        // A handle on the folder taken before the commit is the old set:
        // the new one arrived as a whole other folder, not file by file.
        use std::os::unix::fs::MetadataExt;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("s");
        let first = OutputDir::open(parent.path(), "s").unwrap();
        first.write("a.csv", b"old").unwrap();
        first.commit(&["a.csv"]).unwrap();
        let before = std::fs::metadata(&dir).unwrap().ino();
        let second = OutputDir::open(parent.path(), "s").unwrap();
        second.write("a.csv", b"new").unwrap();
        let staged = std::fs::metadata(second.work()).unwrap().ino();
        second.commit(&["a.csv"]).unwrap();
        let after = std::fs::metadata(&dir).unwrap().ino();
        assert_ne!(before, after);
        assert_eq!(after, staged);
    }

    #[test]
    fn an_uncommitted_run_leaves_nothing_it_made() {
        let parent = tempfile::tempdir().unwrap();
        let out = OutputDir::open(parent.path(), "s").unwrap();
        out.write("a.csv", b"half").unwrap();
        drop(out);
        assert!(names(parent.path()).is_empty());
        // A folder that was there stays, as it was.
        let kept = OutputDir::open(parent.path(), "s").unwrap();
        kept.write("a.csv", b"done").unwrap();
        kept.commit(&["a.csv"]).unwrap();
        let out = OutputDir::open(parent.path(), "s").unwrap();
        out.write("a.csv", b"half").unwrap();
        drop(out);
        assert_eq!(names(parent.path()), ["s"]);
        assert_eq!(
            std::fs::read(parent.path().join("s/a.csv")).unwrap(),
            b"done"
        );
    }

    #[test]
    fn a_second_run_is_kept_out_until_the_first_commits() {
        let parent = tempfile::tempdir().unwrap();
        let first = OutputDir::open(parent.path(), "s").unwrap();
        let e = OutputDir::open(parent.path(), "s").unwrap_err().to_string();
        assert!(e.contains("another surgesim run is writing"), "{e}");
        // One waiting while the first commits gets the new folder (not the
        // old one, which its handle was on).
        let waiting = {
            let parent = parent.path().to_path_buf();
            std::thread::spawn(move || {
                let o = OutputDir::open(&parent, "s").unwrap();
                is_folder_at(&o.lock.as_ref().unwrap().0, o.path())
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(30));
        first.write("a.csv", b"x").unwrap();
        first.commit(&["a.csv"]).unwrap();
        assert!(
            waiting.join().unwrap(),
            "the lock is on the replaced folder"
        );
    }
}
