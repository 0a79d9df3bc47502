//! The one reader of trace files, shared by the scan and the replay: the
//! records of a list of CSV files in order, each file's header first. A file
//! that cannot be opened, a header that cannot be read, or an unreadable row
//! (unless `skip_bad_rows`, and then not a thousand in a row) is an error
//! naming the file and line, for the replay as much as for the scan.

use std::path::{Path, PathBuf};

use super::csv_lines::{ReadError, Record};
use super::logs::{JsonEvents, Layout};
use super::{headers, open_csv, row_error};
use crate::engine::CancelToken;
use crate::error::{Error, Result};

/// What [`Records::advance`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// File `i` of the list starts: its header is in [`Records::headers`].
    File(usize),
    /// A record, in [`Records::record`].
    Record,
    /// No more files.
    End,
}

/// An open trace file: CSV-like records, or a JSON array of log events.
// One per open file, read on every record: kept inline, not boxed.
#[allow(clippy::large_enum_variant)]
pub(super) enum Source {
    Csv(super::TraceReader),
    Json(Box<JsonEvents<super::TraceBytes>>),
    Lines(super::logs::LogLines<super::TraceBytes>),
}

/// The records of trace files, in order.
pub struct Records {
    paths: Vec<PathBuf>,
    next_file: usize,
    reader: Option<Source>,
    /// How each file's bytes become records.
    layout: fn(&Path) -> Layout,
    current: Layout,
    headers: Vec<String>,
    /// The current record.
    pub record: Record,
    skip: bool,
    /// Unreadable rows skipped (with `skip_bad_rows`).
    pub skipped: u64,
    cancel: CancelToken,
    read: u32,
    /// Each file as the scan saw it, for the replay to check.
    stamps: Option<Vec<Stamp>>,
    /// The stamp of each file opened so far, taken from its open handle.
    pub opened: Vec<Stamp>,
    /// A hash of the bytes of each file read to its end.
    pub content: Vec<u64>,
}

/// What identifies a file's contents without reading them: size,
/// modification time and, on Unix, device, inode and status-change time
/// (which no tool can set back). The replay checks it against the scan's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub len: u64,
    pub modified: Option<std::time::SystemTime>,
    /// (device, inode, ctime s, ctime ns) on Unix.
    pub unix: Option<(u64, u64, i64, i64)>,
}

impl Stamp {
    /// The stamp of the open file `f` (named `file` in errors).
    pub fn of_open(f: &std::fs::File, file: &Path) -> Result<Stamp> {
        let m = f
            .metadata()
            .map_err(|e| Error::io(file, "cannot read trace", e))?;
        #[cfg(unix)]
        let unix = {
            use std::os::unix::fs::MetadataExt;
            Some((m.dev(), m.ino(), m.ctime(), m.ctime_nsec()))
        };
        #[cfg(not(unix))]
        let unix = None;
        Ok(Stamp {
            len: m.len(),
            modified: m.modified().ok(),
            unix,
        })
    }
}

/// Records between two looks at the cancel token: an ALB line takes about
/// half a microsecond to read and check, so 4,096 of them about 2 ms (65,536
/// left a stop waiting up to 80 ms during a scan).
const CANCEL_EVERY: u32 = 1 << 12;

impl Records {
    /// The records of `paths`; unreadable rows are skipped (and counted)
    /// when `skip`. Reading stops with [`Error::Interrupted`] soon after
    /// `cancel` is set.
    pub fn new(paths: &[PathBuf], skip: bool, cancel: &CancelToken) -> Self {
        Records {
            paths: paths.to_vec(),
            next_file: 0,
            reader: None,
            headers: Vec::new(),
            record: Record::new(),
            skip,
            skipped: 0,
            cancel: cancel.clone(),
            read: 0,
            stamps: None,
            opened: Vec::new(),
            content: Vec::new(),
            layout: |_| Layout::Header,
            current: Layout::Header,
        }
    }

    /// The same reader, each file read as `layout` says.
    pub fn with_layout(mut self, layout: fn(&Path) -> Layout) -> Self {
        self.layout = layout;
        self
    }

    /// The same reader, failing on a file whose size or modification time
    /// is no longer `stamps`' (one per path).
    pub fn checked(mut self, stamps: &[Stamp]) -> Self {
        self.stamps = Some(stamps.to_vec());
        self
    }

    /// The file being read.
    pub fn file(&self) -> &Path {
        &self.paths[self.next_file.saturating_sub(1)]
    }

    /// The current file's header, trimmed.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// How the current file is read.
    pub fn layout(&self) -> Layout {
        self.current
    }

    /// Moves to the next record, or the next file.
    pub fn advance(&mut self) -> Result<Next> {
        self.read = self.read.wrapping_add(1);
        if self.read.is_multiple_of(CANCEL_EVERY) && self.cancel.is_cancelled() {
            return Err(Error::Interrupted);
        }
        let Some(reader) = &mut self.reader else {
            let Some(file) = self.paths.get(self.next_file) else {
                return Ok(Next::End);
            };
            let layout = (self.layout)(file);
            let (mut reader, now) = open_csv(file, layout)?;
            if let Some(expected) = self.stamps.as_ref().and_then(|s| s.get(self.next_file))
                && &now != expected
            {
                return Err(Error::Usage(format!(
                    "{}: the trace changed after it was validated (now {} bytes, was {}{}); \
                     replay it again from an unchanged copy",
                    file.display(),
                    now.len,
                    expected.len,
                    if now.len == expected.len {
                        ", and modified since"
                    } else {
                        ""
                    }
                )));
            }
            self.opened.push(now);
            self.headers = headers(&mut reader, layout, file)?;
            self.current = layout;
            self.reader = Some(reader);
            self.next_file += 1;
            return Ok(Next::File(self.next_file - 1));
        };
        let file = &self.paths[self.next_file - 1];
        let reader = match reader {
            Source::Csv(r) => r,
            Source::Lines(lines) => {
                let mut in_a_row = 0;
                return loop {
                    match lines.read_record(&mut self.record) {
                        Ok(true) => break Ok(Next::Record),
                        Ok(false) => {
                            self.content.push(lines.get_ref().content());
                            self.reader = None;
                            break self.advance();
                        }
                        // A line that is not UTF-8 may be skipped; a read
                        // error (a line past the cap, a damaged .gz) never.
                        Err((_, e))
                            if self.skip
                                && in_a_row < 1000
                                && e.kind() == std::io::ErrorKind::InvalidData
                                && e.to_string().starts_with("not UTF-8") =>
                        {
                            self.skipped += 1;
                            in_a_row += 1;
                        }
                        Err((line, e)) => {
                            break Err(super::read_error(file, line, &read_failure(file, &e)));
                        }
                    }
                };
            }
            Source::Json(events) => {
                return match events.next_event() {
                    Ok(Some(e)) => {
                        self.record.clear();
                        self.record.push_field(&e.timestamp);
                        self.record.push_field(&e.message);
                        self.record.push_field(&e.log);
                        self.record.set_line(e.line);
                        Ok(Next::Record)
                    }
                    Ok(None) => {
                        self.content.push(events.get_ref().content());
                        self.reader = None;
                        self.advance()
                    }
                    Err((line, why)) => Err(super::read_error(
                        file,
                        line,
                        &format!("unreadable JSON: {why}; fix or export the file again"),
                    )),
                };
            }
        };
        let mut in_a_row = 0;
        loop {
            match reader.read_record(&mut self.record) {
                Ok(true) => return Ok(Next::Record),
                Ok(false) => {
                    self.content.push(reader.get_ref().content());
                    self.reader = None;
                    return self.advance();
                }
                // Skip bad rows, but not forever on a file that fails to
                // read at all, and never a read error (a line past the cap).
                Err(e) if self.skip && in_a_row < 1000 && !matches!(e, ReadError::Io(_)) => {
                    self.skipped += 1;
                    in_a_row += 1;
                }
                Err(e) => {
                    let line = e.line();
                    return Err(match &e {
                        ReadError::Io(io) => super::read_error(file, line, &read_failure(file, io)),
                        _ => row_error(file, line, "(row)", "", &format!("unreadable row: {e}")),
                    });
                }
            }
        }
    }
}

/// What a read error of trace `file` means, for its message.
fn read_failure(file: &Path, e: &std::io::Error) -> String {
    let gz = super::logs::gzipped(file);
    if gz && e.kind() == std::io::ErrorKind::UnexpectedEof {
        format!(
            "the gzip stream ends early (a truncated or partial .gz file: {e}); copy the file \
             again"
        )
    } else if gz && e.kind() != std::io::ErrorKind::InvalidData {
        format!("cannot decompress: {e}; is it a gzip file?")
    } else {
        format!("unreadable row: {e}")
    }
}
