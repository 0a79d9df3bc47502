//! The time series of the run the charts show (replication 0 of the chart
//! point), streamed to an unnamed temporary file as its intervals close:
//! memory stays flat however many intervals a run has, and timeseries.csv
//! and the load chart read the rows back in one pass each.
//!
//! A row is stored as [`ROW_BYTES`] little-endian bytes; a shard copies them
//! into its `series.bin` and the merge reads them from there.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use crate::metrics::{Gauges, IntervalRow, MAX_GAUGES};
use crate::time::SimTime;

/// Bytes of one stored row: five counters, p95 (a flag and its bits), the
/// two common gauges, the kind's gauges and the cost.
pub const ROW_BYTES: usize = 8 * 5 + 1 + 8 + 8 * 2 + 8 * MAX_GAUGES + 8;

fn encode(row: &IntervalRow, out: &mut [u8; ROW_BYTES]) {
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    let g = &row.gauges;
    for v in [
        row.start.0,
        row.arrivals,
        row.completed,
        row.errors,
        row.cold_starts,
    ] {
        put(&v.to_le_bytes());
    }
    put(&[u8::from(row.p95_ms.is_some())]);
    put(&row.p95_ms.unwrap_or(0.0).to_bits().to_le_bytes());
    put(&g.in_flight.to_le_bytes());
    put(&g.queued.to_le_bytes());
    for v in g.values {
        put(&v.to_le_bytes());
    }
    put(&g.cost_usd.to_bits().to_le_bytes());
}

fn decode(b: &[u8; ROW_BYTES]) -> IntervalRow {
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    // The five counters from byte 0, the p95 flag at 40, then words from 41.
    let after = |k: usize| word(41 + 8 * k);
    let mut values = [0; MAX_GAUGES];
    for (k, v) in values.iter_mut().enumerate() {
        *v = after(3 + k);
    }
    IntervalRow {
        start: SimTime(word(0)),
        arrivals: word(8),
        completed: word(16),
        errors: word(24),
        cold_starts: word(32),
        p95_ms: (b[40] != 0).then(|| f64::from_bits(after(0))),
        gauges: Gauges {
            in_flight: after(1),
            queued: after(2),
            values,
            cost_usd: f64::from_bits(after(3 + MAX_GAUGES)),
        },
    }
}

/// Rows being streamed to an unnamed temporary file (removed by the
/// system when closed, even if the process is killed).
pub struct SeriesWriter {
    out: BufWriter<File>,
    rows: u64,
    error: Option<std::io::Error>,
}

impl SeriesWriter {
    /// A writer to a new unnamed file in `dir` (the output folder: the
    /// series is about as large as its timeseries.csv, which could
    /// overfill a small `/tmp`).
    pub fn in_dir(dir: &std::path::Path) -> std::io::Result<Self> {
        Ok(SeriesWriter {
            out: BufWriter::with_capacity(1 << 16, tempfile::tempfile_in(dir)?),
            rows: 0,
            error: None,
        })
    }

    /// Appends `row`. A write error is kept for [`SeriesWriter::finish`].
    pub fn push(&mut self, row: &IntervalRow) {
        if self.error.is_some() {
            return;
        }
        let mut b = [0; ROW_BYTES];
        encode(row, &mut b);
        match self.out.write_all(&b) {
            Ok(()) => self.rows += 1,
            Err(e) => self.error = Some(e),
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
                offset: 0,
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
    /// `rows` rows of [`ROW_BYTES`] from byte `offset` of `file`.
    File {
        file: Arc<File>,
        offset: u64,
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

    /// The `rows` rows stored from byte `offset` of `file` (a shard's
    /// series.bin; the caller has checked the file holds them).
    pub fn in_file(file: Arc<File>, offset: u64, rows: u64) -> Self {
        Series {
            source: Source::File { file, offset },
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

    /// Calls `f` with each row and its index, in time order, stopping at
    /// the first error `f` returns (or a read error, turned into one by
    /// `io`).
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
            Source::File { file, offset } => {
                let mut r = self.reader(file, *offset).map_err(&io)?;
                let mut b = [0; ROW_BYTES];
                for i in 0..self.rows {
                    r.read_exact(&mut b).map_err(&io)?;
                    f(i, &decode(&b))?;
                }
                Ok(())
            }
        }
    }

    /// Writes the stored form of every row to `out` (a shard's
    /// series.bin); returns the bytes written.
    pub fn write_stored(&self, out: &mut impl Write) -> std::io::Result<u64> {
        self.try_for_each(
            |e| e,
            |_, row| {
                let mut b = [0; ROW_BYTES];
                encode(row, &mut b);
                out.write_all(&b)
            },
        )?;
        Ok(self.rows * ROW_BYTES as u64)
    }

    /// A reader at byte `offset` of its own handle to `file` (each
    /// reader its own position; two may read the same file).
    fn reader(&self, file: &File, offset: u64) -> std::io::Result<impl Read> {
        let mut f = reopen(file)?;
        f.seek(SeekFrom::Start(offset))?;
        Ok(std::io::BufReader::with_capacity(
            1 << 16,
            f.take(self.rows * ROW_BYTES as u64),
        ))
    }
}

/// A second handle to `file` with its own position: on Linux through
/// /proc (an unnamed temporary file has no other name), elsewhere a
/// duplicate rewound by the caller (sharing its position; the series is
/// read by one reader at a time).
fn reopen(file: &File) -> std::io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(f) = File::open(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            return Ok(f);
        }
    }
    file.try_clone()
}

impl PartialEq for Series {
    /// The same rows (a read error counts as a difference).
    fn eq(&self, other: &Series) -> bool {
        if self.rows != other.rows {
            return false;
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let collect = |s: &Series, v: &mut Vec<IntervalRow>| {
            s.try_for_each(
                |_| (),
                |_, r| {
                    v.push(r.clone());
                    Ok(())
                },
            )
        };
        collect(self, &mut a).is_ok() && collect(other, &mut b).is_ok() && a == b
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
        assert_eq!(s.write_stored(&mut stored).unwrap(), stored.len() as u64);
        assert_eq!(stored.len(), 10_000 * ROW_BYTES);
        // A series read from the middle of a file (a shard's series.bin).
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[0xAB; 13]).unwrap();
        f.write_all(&stored[ROW_BYTES * 5..ROW_BYTES * 8]).unwrap();
        let part = Series::in_file(Arc::new(f), 13, 3);
        assert_eq!(part, Series::from_rows(rows[5..8].to_vec()));
        assert_ne!(
            part,
            Series::from_rows(rows[5..8].iter().rev().cloned().collect())
        );
    }

    #[test]
    fn a_series_shorter_than_it_claims_is_a_read_error() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[0; ROW_BYTES * 2]).unwrap();
        let s = Series::in_file(Arc::new(f), 0, 3);
        let mut seen = 0;
        let r = s.try_for_each(
            |e| e.kind(),
            |_, _| {
                seen += 1;
                Ok(())
            },
        );
        assert_eq!(r, Err(std::io::ErrorKind::UnexpectedEof));
        assert_eq!(seen, 2);
    }
}
