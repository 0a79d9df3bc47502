//! The time series of the run the charts show (replication 0 of the chart
//! point), streamed to an unnamed temporary file as its intervals close:
//! memory stays flat however many intervals a run has; timeseries.csv reads
//! the rows back once, the load chart twice (counting, then bucketing).
//!
//! A row is stored compactly: the time since the previous row's start and
//! the counters and gauges as LEB128 varints, p95 and the cost as their
//! 8-byte bit patterns (p95 only when there is one). A quiet interval takes
//! about 30 bytes instead of the 137 of fixed-width fields: less to write,
//! and less for the kernel to free when an interrupted run's file goes (the
//! time a stop waits for). A shard copies the bytes into its `series.bin`
//! and the merge reads them from there.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::metrics::{Gauges, IntervalRow, MAX_GAUGES, WriteFailure};
use crate::time::SimTime;

/// Most bytes one stored row takes: a flag byte, nine varints of at most
/// ten bytes before the kind's gauges and after, the two floats.
pub const MAX_ROW_BYTES: usize = 1 + 10 * (7 + MAX_GAUGES) + 8 + 8;

/// Bytes a stored row takes, about, for the disk estimate before a run:
/// measured 36 on `default` (a p95 in most intervals) and 28 on 5 million
/// quiet one-second intervals.
pub const TYPICAL_ROW_BYTES: usize = 32;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `row` (which follows a row that started at `prev`) to `out`.
fn encode(row: &IntervalRow, prev: SimTime, out: &mut Vec<u8>) {
    let g = &row.gauges;
    out.push(u8::from(row.p95_ms.is_some()));
    put_varint(out, row.start.0.wrapping_sub(prev.0));
    for v in [
        row.arrivals,
        row.completed,
        row.errors,
        row.cold_starts,
        g.in_flight,
        g.queued,
    ] {
        put_varint(out, v);
    }
    for v in g.values {
        put_varint(out, v);
    }
    if let Some(p95) = row.p95_ms {
        out.extend_from_slice(&p95.to_bits().to_le_bytes());
    }
    out.extend_from_slice(&g.cost_usd.to_bits().to_le_bytes());
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("a stored time-series row is damaged ({what})"),
    )
}

/// Reads the row at the start of `b`, which follows a row that started at
/// `prev`; returns it and the bytes it took.
fn decode(b: &[u8], prev: SimTime) -> std::io::Result<(IntervalRow, usize)> {
    let short = || std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
    let mut at = 0usize;
    let varint = |at: &mut usize| -> std::io::Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*at).ok_or_else(short)?;
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("a number longer than 64 bits"))
    };
    let float = |at: &mut usize| -> std::io::Result<f64> {
        let bytes = b.get(*at..*at + 8).ok_or_else(short)?;
        *at += 8;
        Ok(f64::from_bits(u64::from_le_bytes(
            bytes.try_into().expect("8 bytes"),
        )))
    };
    let flags = *b.first().ok_or_else(short)?;
    if flags > 1 {
        return Err(bad("an unknown flag"));
    }
    at += 1;
    let start = SimTime(prev.0.wrapping_add(varint(&mut at)?));
    let mut counts = [0; 6];
    for c in &mut counts {
        *c = varint(&mut at)?;
    }
    let mut values = [0; MAX_GAUGES];
    for v in &mut values {
        *v = varint(&mut at)?;
    }
    let p95_ms = if flags == 1 {
        Some(float(&mut at)?)
    } else {
        None
    };
    let cost_usd = float(&mut at)?;
    let [arrivals, completed, errors, cold_starts, in_flight, queued] = counts;
    let row = IntervalRow {
        start,
        arrivals,
        completed,
        errors,
        cold_starts,
        p95_ms,
        gauges: Gauges {
            in_flight,
            queued,
            values,
            cost_usd,
        },
    };
    Ok((row, at))
}

/// Rows being streamed to an unnamed temporary file (removed by the
/// system when closed, even if the process is killed).
pub struct SeriesWriter {
    out: BufWriter<File>,
    dir: PathBuf,
    rows: u64,
    bytes: u64,
    prev: SimTime,
    buf: Vec<u8>,
    error: Option<std::io::Error>,
    failure: Option<WriteFailure>,
}

impl SeriesWriter {
    /// A writer to a new unnamed file in `dir` (the output folder: the
    /// series is about as large as its timeseries.csv, which could
    /// overfill a small `/tmp`).
    pub fn in_dir(dir: &Path) -> std::io::Result<Self> {
        Ok(SeriesWriter {
            out: BufWriter::with_capacity(1 << 16, tempfile::tempfile_in(dir)?),
            dir: dir.to_path_buf(),
            rows: 0,
            bytes: 0,
            prev: SimTime::ZERO,
            buf: Vec::with_capacity(MAX_ROW_BYTES),
            error: None,
            failure: None,
        })
    }

    /// The same writer, telling `failure` of its first write error.
    pub fn reporting_to(mut self, failure: WriteFailure) -> Self {
        self.failure = Some(failure);
        self
    }

    /// Appends `row`. A write error is kept for [`SeriesWriter::finish`]
    /// (and told at once to the [`WriteFailure`], if any).
    pub fn push(&mut self, row: &IntervalRow) {
        if self.error.is_some() {
            return;
        }
        self.buf.clear();
        encode(row, self.prev, &mut self.buf);
        match self.out.write_all(&self.buf) {
            Ok(()) => {
                self.rows += 1;
                self.bytes += self.buf.len() as u64;
                self.prev = row.start;
            }
            Err(e) => {
                if let Some(f) = &self.failure {
                    f.set(&self.dir, "cannot write the time series to a file in", &e);
                }
                self.error = Some(e);
            }
        }
    }

    /// The finished series, or the first write error.
    pub fn finish(self) -> std::io::Result<Series> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(Series {
            source: Source::File {
                file: Arc::new(file),
                origin: self.dir,
                offset: 0,
                bytes: self.bytes,
            },
            rows: self.rows,
        })
    }
}

/// A finished time series: its rows in time order, in memory or in a file.
#[derive(Debug, Clone)]
pub struct Series {
    source: Source,
    rows: u64,
}

#[derive(Debug, Clone)]
enum Source {
    Memory(Arc<[IntervalRow]>),
    /// `rows` rows stored in `bytes` bytes from byte `offset` of `file`,
    /// which is `origin` (a shard's series.bin) or unnamed in that folder.
    File {
        file: Arc<File>,
        origin: PathBuf,
        offset: u64,
        bytes: u64,
    },
}

impl Series {
    /// A series of `rows`, held in memory.
    pub fn from_rows(rows: Vec<IntervalRow>) -> Self {
        Series {
            rows: rows.len() as u64,
            source: Source::Memory(rows.into()),
        }
    }

    /// The `rows` rows stored in `bytes` bytes from byte `offset` of
    /// `file`, which is at `origin` (a shard's series.bin).
    pub fn in_file(file: Arc<File>, origin: &Path, offset: u64, bytes: u64, rows: u64) -> Self {
        Series {
            source: Source::File {
                file,
                origin: origin.to_path_buf(),
                offset,
                bytes,
            },
            rows,
        }
    }

    /// How many rows.
    pub fn len(&self) -> u64 {
        self.rows
    }

    /// Whether the series has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Where the rows are read from, for errors: the file, or the folder of
    /// an unnamed one (`None` in memory).
    pub fn origin(&self) -> Option<&Path> {
        match &self.source {
            Source::Memory(_) => None,
            Source::File { origin, .. } => Some(origin),
        }
    }

    /// Calls `f` with each row and its index, in time order, stopping at
    /// the first error `f` returns (or a read error, turned into one by
    /// `io`; rows that do not fill their bytes exactly are one).
    pub fn try_for_each<E>(
        &self,
        io: impl Fn(std::io::Error) -> E,
        mut f: impl FnMut(u64, &IntervalRow) -> Result<(), E>,
    ) -> Result<(), E> {
        match &self.source {
            Source::Memory(rows) => {
                for (i, row) in rows.iter().enumerate() {
                    f(i as u64, row)?;
                }
                Ok(())
            }
            Source::File {
                file,
                offset,
                bytes,
                ..
            } => {
                let mut src = At {
                    file,
                    pos: *offset,
                    end: offset.saturating_add(*bytes),
                };
                // Rows are decoded from a buffer refilled whenever less
                // than a whole row of the longest kind is left in it.
                let mut buf = vec![0u8; 1 << 16];
                let (mut lo, mut hi, mut eof) = (0usize, 0usize, false);
                let mut prev = SimTime::ZERO;
                for i in 0..self.rows {
                    if hi - lo < MAX_ROW_BYTES && !eof {
                        buf.copy_within(lo..hi, 0);
                        (hi, lo) = (hi - lo, 0);
                        while hi < buf.len() {
                            let n = src.read(&mut buf[hi..]).map_err(&io)?;
                            if n == 0 {
                                eof = true;
                                break;
                            }
                            hi += n;
                        }
                    }
                    let (row, used) = decode(&buf[lo..hi], prev).map_err(&io)?;
                    lo += used;
                    prev = row.start;
                    f(i, &row)?;
                }
                if lo < hi || src.pos < src.end {
                    return Err(io(bad("bytes after the last row")));
                }
                Ok(())
            }
        }
    }

    /// Writes the stored form of every row to `out` (a shard's
    /// series.bin); returns the bytes written.
    pub fn write_stored(&self, out: &mut impl Write) -> std::io::Result<u64> {
        let mut buf = Vec::with_capacity(MAX_ROW_BYTES);
        let (mut prev, mut written) = (SimTime::ZERO, 0u64);
        self.try_for_each(
            |e| e,
            |_, row| {
                buf.clear();
                encode(row, prev, &mut buf);
                prev = row.start;
                written += buf.len() as u64;
                out.write_all(&buf)
            },
        )?;
        Ok(written)
    }
}

/// Reads `file` from `pos` to `end` by positioned reads: every reader its
/// own position, however many share the handle.
struct At<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = read_at(self.file, &mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, pos)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, pos)
}

impl PartialEq for Series {
    /// The same rows (a read error counts as a difference).
    fn eq(&self, other: &Series) -> bool {
        if self.rows != other.rows {
            return false;
        }
        let collect = |s: &Series| {
            let mut v = Vec::new();
            s.try_for_each(
                |_| (),
                |_, r| {
                    v.push(r.clone());
                    Ok(())
                },
            )
            .map(|()| v)
        };
        matches!((collect(self), collect(other)), (Ok(a), Ok(b)) if a == b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: u64) -> IntervalRow {
        let mut values = [0; MAX_GAUGES];
        for (j, v) in values.iter_mut().enumerate() {
            *v = i * 10 + j as u64;
        }
        IntervalRow {
            start: SimTime(i * 1_000_000_007),
            arrivals: i,
            completed: i + 1,
            errors: u64::MAX - i,
            cold_starts: 3,
            p95_ms: i.is_multiple_of(2).then_some(i as f64 * 1.25 + 0.1),
            gauges: Gauges {
                in_flight: 7,
                queued: i * 2,
                values,
                cost_usd: 1e-9 * i as f64,
            },
        }
    }

    #[test]
    fn a_streamed_series_reads_back_exactly_what_was_pushed() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SeriesWriter::in_dir(dir.path()).unwrap();
        let rows: Vec<IntervalRow> = (0..10_000).map(row).collect();
        for r in &rows {
            w.push(r);
        }
        let s = w.finish().unwrap();
        assert_eq!(s.len(), 10_000);
        assert_eq!(s.origin(), Some(dir.path()));
        // Nothing named is left in the folder: the file is unnamed.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut back = Vec::new();
        s.try_for_each(
            |e| e,
            |i, r| {
                assert_eq!(i as usize, back.len());
                back.push(r.clone());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(back, rows);
        // Equal to the same rows in memory; read twice, through clones.
        assert_eq!(s.clone(), Series::from_rows(rows.clone()));
        let mut stored = Vec::new();
        let n = s.write_stored(&mut stored).unwrap();
        assert_eq!(n, stored.len() as u64);
        // The stored form of the rows in memory is the same bytes.
        let mut again = Vec::new();
        Series::from_rows(rows.clone())
            .write_stored(&mut again)
            .unwrap();
        assert_eq!(again, stored);
        // The first row of a series stored in the middle of a file (a
        // shard's series.bin) is stored relative to time 0.
        let mut first = Vec::new();
        Series::from_rows(rows[5..8].to_vec())
            .write_stored(&mut first)
            .unwrap();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[0xAB; 13]).unwrap();
        f.write_all(&first).unwrap();
        f.write_all(&[0xCD; 5]).unwrap();
        let part = Series::in_file(Arc::new(f), Path::new("s.bin"), 13, first.len() as u64, 3);
        assert_eq!(part, Series::from_rows(rows[5..8].to_vec()));
        assert_ne!(
            part,
            Series::from_rows(rows[5..8].iter().rev().cloned().collect())
        );
    }

    #[test]
    fn a_quiet_interval_takes_about_thirty_bytes() {
        let quiet = IntervalRow {
            start: SimTime(7_000_000_000),
            arrivals: 1,
            completed: 1,
            errors: 0,
            cold_starts: 0,
            p95_ms: None,
            gauges: Gauges {
                in_flight: 0,
                queued: 0,
                values: [1, 0, 0, 0, 0, 0, 0, 0],
                cost_usd: 0.25,
            },
        };
        let mut b = Vec::new();
        encode(&quiet, SimTime(6_000_000_000), &mut b);
        // flag 1, one second 5, six counters 6, eight gauges 8, cost 8.
        assert_eq!(b.len(), 28);
        assert!(b.len() <= TYPICAL_ROW_BYTES);
        let mut extreme = row(3);
        extreme.start = SimTime(u64::MAX);
        extreme.gauges.values = [u64::MAX; MAX_GAUGES];
        let mut b = Vec::new();
        encode(&extreme, SimTime::ZERO, &mut b);
        assert!(b.len() <= MAX_ROW_BYTES);
        assert_eq!(decode(&b, SimTime::ZERO).unwrap(), (extreme, b.len()));
    }

    #[test]
    fn a_damaged_or_short_series_is_a_read_error() {
        let rows: Vec<IntervalRow> = (0..3).map(row).collect();
        let mut stored = Vec::new();
        Series::from_rows(rows).write_stored(&mut stored).unwrap();
        let read = |bytes: &[u8], claimed: u64| {
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(bytes).unwrap();
            let s = Series::in_file(
                Arc::new(f),
                Path::new("s.bin"),
                0,
                bytes.len() as u64,
                claimed,
            );
            s.try_for_each(|e| e.kind(), |_, _| Ok(()))
        };
        assert_eq!(read(&stored, 3), Ok(()));
        // Fewer rows than claimed, more bytes than rows, a bad flag.
        assert_eq!(
            read(&stored[..stored.len() - 1], 3),
            Err(std::io::ErrorKind::UnexpectedEof)
        );
        assert_eq!(read(&stored, 2), Err(std::io::ErrorKind::InvalidData));
        let mut flagged = stored.clone();
        flagged[0] = 7;
        assert_eq!(read(&flagged, 3), Err(std::io::ErrorKind::InvalidData));
    }
}
