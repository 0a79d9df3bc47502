//! Output files written atomically: a temporary name in the same folder,
//! renamed into place only once complete, so an interrupted run never leaves
//! a truncated file that looks finished.

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
    let mut staged = Staged::new();
    staged.write(path, bytes)?;
    staged.commit()
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

/// Takes the lock on folder `dir`.
fn lock_dir(dir: &Path) -> Result<DirLock> {
    // A folder opened for reading is a handle flock(2) takes on Unix; elsewhere
    // a lock file inside it (removed by nobody: it is empty and harmless).
    #[cfg(unix)]
    let file = std::fs::File::open(dir).map_err(|e| Error::io(dir, "cannot open folder", e))?;
    #[cfg(not(unix))]
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .open(dir.join(".surgesim.lock"))
        .map_err(|e| Error::io(dir, "cannot lock folder", e))?;
    // A lock held for a moment only is not another run: a process forked
    // from this one (a library user's, a test harness's) shares the lock
    // until it execs. Another run holds it for the whole run.
    let mut tries = 0;
    let outcome = loop {
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) if tries < 25 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => break other,
        }
    };
    match outcome {
        Ok(()) => Ok(DirLock(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Usage(format!(
            "{}: another surgesim run is writing this folder; wait for it to finish, or \
             give this run another -o",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(dir, "cannot lock folder", e)),
    }
}

/// Creates (if needed) the output folder `parent/<name>`, checked writable
/// and locked against a concurrent run; with whether this call created it.
pub fn scenario_dir(parent: &Path, name: &str) -> Result<(PathBuf, bool, DirLock)> {
    let dir = parent.join(sanitize_name(name));
    // A symbolic link there would put the outputs wherever it points,
    // perhaps outside `-o`: refused, not followed.
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::Usage(format!(
            "{}: is a symbolic link; outputs are written only into real folders under the \
             output folder: remove the link or choose another -o",
            dir.display()
        )));
    }
    let fresh = !dir.exists();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "cannot create folder", e))?;
    let undo = |e: Error| {
        if fresh {
            let _ = std::fs::remove_dir(&dir);
        }
        e
    };
    // Losing the lock leaves the folder alone: the run holding it may have
    // made it a moment ago and not written into it yet.
    let lock = lock_dir(&dir)?;
    // Writable now, before any simulating, rather than found out after it.
    if let Err(e) = temp_builder().tempfile_in(&dir) {
        return Err(undo(Error::io(&dir, "cannot write in folder", e)));
    }
    Ok((dir, fresh, lock))
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

/// A set of output files written to temporary names first and renamed into
/// place together by [`Staged::commit`], after every one is complete: a
/// stop before the commit leaves the previous outputs as they were.
#[derive(Default)]
pub struct Staged {
    files: Vec<(PathBuf, tempfile::TempPath)>,
    remove: Vec<PathBuf>,
}

impl Staged {
    pub fn new() -> Self {
        Staged::default()
    }

    /// Writes `bytes` to a temporary file beside `path`, to be renamed to it.
    pub fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = temp_builder()
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, "cannot create a file in", e))?;
        tmp.write_all(bytes)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| Error::io(path, "cannot write", e))?;
        self.files.push((path.to_path_buf(), tmp.into_temp_path()));
        Ok(())
    }

    /// A complete temporary file, to be renamed to `path`.
    pub fn add(&mut self, path: &Path, tmp: tempfile::TempPath) {
        self.files.push((path.to_path_buf(), tmp));
    }

    /// `path`, if an earlier run left it, is removed at the commit (it would
    /// not match the new outputs).
    pub fn remove(&mut self, path: &Path) {
        self.remove.push(path.to_path_buf());
    }

    /// Takes over `other`'s files, to be committed with these.
    pub fn extend(&mut self, other: Staged) {
        self.files.extend(other.files);
        self.remove.extend(other.remove);
    }

    /// Renames every staged file into place and removes the stale ones.
    pub fn commit(self) -> Result<()> {
        for path in &self.remove {
            if path.exists() {
                std::fs::remove_file(path)
                    .map_err(|e| Error::io(path, "cannot remove stale", e))?;
            }
        }
        for (path, tmp) in self.files {
            tmp.persist(&path)
                .map_err(|e| Error::io(&path, "cannot rename into place", e.error))?;
        }
        Ok(())
    }
}
