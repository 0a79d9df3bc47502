//! A trace file's bytes as the readers take them: decompressed, lines
//! capped and hashed, and, while few files are open, read ahead on a thread
//! of their own, so that decompression (and the reading and hashing of the
//! bytes) runs beside the parsing instead of before it.

use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::LineCap;

/// Bytes a read-ahead thread hands over at a time (less than the line
/// cap, which `LineCap` checks a read at a time).
const CHUNK: usize = 256 * 1024;
const _: () = assert!(CHUNK < super::MAX_LINE_BYTES);

/// Chunks in flight per file: the thread stays this far ahead.
const DEPTH: usize = 3;

/// Files read ahead at once, process-wide; more open files (the merge of
/// many overlapping logs) are read inline, so threads and buffers stay
/// bounded (about 1 MiB per file read ahead).
const MAX_AHEAD: usize = 8;

static AHEAD: AtomicUsize = AtomicUsize::new(0);

type Inner = LineCap<Box<dyn Read + Send>>;

/// What the read-ahead thread sends: bytes, an error, or the end with the
/// hash of everything read.
enum Chunk {
    /// A buffer and how many of its bytes are filled (the rest is kept,
    /// not zeroed again, for reuse).
    Bytes(Vec<u8>, usize),
    Failed(std::io::Error),
    End(u64),
}

/// A trace file's bytes: read ahead on a thread, or inline.
pub(crate) enum Input {
    Ahead(Ahead),
    Inline(std::io::BufReader<Inner>),
}

impl Input {
    /// `inner` read ahead when fewer than [`MAX_AHEAD`] files are, else
    /// inline.
    pub(super) fn new(inner: Inner) -> Input {
        let taken = AHEAD
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_AHEAD).then_some(n + 1)
            })
            .is_ok();
        if taken {
            Input::ahead(inner)
        } else {
            Input::Inline(std::io::BufReader::with_capacity(1 << 16, inner))
        }
    }

    /// `inner` read ahead on a thread of its own, its slot in [`AHEAD`]
    /// already counted (the thread releases it).
    fn ahead(inner: Inner) -> Input {
        let (tx, rx) = sync_channel(DEPTH);
        let (back_tx, back_rx) = sync_channel(DEPTH + 2);
        let spawned = std::thread::Builder::new()
            .name("trace-read-ahead".into())
            .spawn(move || read_ahead(inner, tx, back_rx));
        match spawned {
            Ok(_) => Input::Ahead(Ahead {
                rx,
                recycle: back_tx,
                buf: Vec::new(),
                len: 0,
                pos: 0,
                content: None,
                failed: false,
            }),
            // No thread to be had: nothing was moved into it but `inner`,
            // which is gone with the closure; report it as a read error.
            Err(e) => {
                AHEAD.fetch_sub(1, Ordering::AcqRel);
                Input::Ahead(Ahead::failed(e))
            }
        }
    }

    /// The hash of the bytes read, once the end was reached (0 before).
    pub(crate) fn content(&self) -> u64 {
        match self {
            Input::Ahead(a) => a.content.unwrap_or(0),
            Input::Inline(r) => r.get_ref().content.finish(),
        }
    }
}

/// The thread's loop: fill chunks (reusing those handed back) until the
/// end, an error, or the reader is dropped.
fn read_ahead(mut inner: Inner, tx: SyncSender<Chunk>, back: Receiver<Vec<u8>>) {
    struct Release;
    impl Drop for Release {
        fn drop(&mut self) {
            AHEAD.fetch_sub(1, Ordering::AcqRel);
        }
    }
    let _release = Release;
    loop {
        let mut buf = back.try_recv().unwrap_or_else(|_| vec![0; CHUNK]);
        let mut filled = 0;
        // Fill the chunk, so the reader gets few large pieces.
        let result = loop {
            match inner.read(&mut buf[filled..]) {
                Ok(0) => break Ok(true),
                Ok(n) => {
                    filled += n;
                    if filled == buf.len() {
                        break Ok(false);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        let sent = match result {
            Ok(end) => {
                let ok = filled == 0 || tx.send(Chunk::Bytes(buf, filled)).is_ok();
                if end {
                    let _ = tx.send(Chunk::End(inner.content.finish()));
                    return;
                }
                ok
            }
            Err(e) => {
                if filled > 0 {
                    let _ = tx.send(Chunk::Bytes(buf, filled));
                }
                let _ = tx.send(Chunk::Failed(e));
                return;
            }
        };
        if !sent {
            return; // the reader is gone
        }
    }
}

/// The reading side of a file read ahead.
pub(crate) struct Ahead {
    rx: Receiver<Chunk>,
    recycle: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
    /// Bytes of `buf` filled, and read.
    len: usize,
    pos: usize,
    content: Option<u64>,
    /// An error was handed out: the stream ends with it.
    failed: bool,
}

impl Ahead {
    fn failed(e: std::io::Error) -> Ahead {
        let (tx, rx) = sync_channel(1);
        let _ = tx.send(Chunk::Failed(e));
        let (recycle, _) = sync_channel(1);
        Ahead {
            rx,
            recycle,
            buf: Vec::new(),
            len: 0,
            pos: 0,
            content: None,
            failed: false,
        }
    }

    /// Waits for the next chunk, the end or an error, until bytes are at
    /// hand or none will come.
    #[cold]
    fn refill(&mut self) -> std::io::Result<()> {
        while self.pos >= self.len && self.content.is_none() && !self.failed {
            match self.rx.recv() {
                Ok(Chunk::Bytes(b, len)) => {
                    let old = std::mem::replace(&mut self.buf, b);
                    if !old.is_empty() {
                        let _ = self.recycle.try_send(old);
                    }
                    (self.len, self.pos) = (len, 0);
                }
                Ok(Chunk::End(h)) => self.content = Some(h),
                Ok(Chunk::Failed(e)) => {
                    self.failed = true;
                    return Err(e);
                }
                Err(_) => {
                    self.failed = true;
                    return Err(std::io::Error::other(
                        "the trace's read-ahead thread stopped",
                    ));
                }
            }
        }
        Ok(())
    }
}

impl BufRead for Ahead {
    /// Inline for the bytes at hand: a CSV trace asks once a record.
    #[inline]
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos >= self.len {
            self.refill()?;
        }
        Ok(&self.buf[self.pos.min(self.len)..self.len])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.len);
    }
}

impl Read for Ahead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Input {
    #[inline]
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        match self {
            Input::Ahead(a) => a.fill_buf(),
            Input::Inline(r) => r.fill_buf(),
        }
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        match self {
            Input::Ahead(a) => a.consume(amt),
            Input::Inline(r) => r.consume(amt),
        }
    }
}

impl Read for Input {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Input::Ahead(a) => a.read(out),
            Input::Inline(r) => r.read(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(bytes: Vec<u8>) -> Inner {
        LineCap {
            inner: Box::new(std::io::Cursor::new(bytes)),
            run: 0,
            max: 1 << 20,
            content: super::super::ContentHash::default(),
        }
    }

    #[test]
    fn read_ahead_gives_the_same_bytes_and_hash_as_inline() {
        let bytes: Vec<u8> = (0..3_000_000u32)
            .map(|i| if i % 97 == 0 { b'\n' } else { (i % 251) as u8 })
            .collect();
        AHEAD.fetch_add(1, Ordering::AcqRel);
        let mut ahead = Input::ahead(capped(bytes.clone()));
        assert!(matches!(ahead, Input::Ahead(_)));
        let mut got = Vec::new();
        ahead.read_to_end(&mut got).unwrap();
        let mut inline = Input::Inline(std::io::BufReader::new(capped(bytes.clone())));
        let mut want = Vec::new();
        inline.read_to_end(&mut want).unwrap();
        assert_eq!(got, bytes);
        assert_eq!(want, bytes);
        assert_eq!(ahead.content(), inline.content());
        assert_ne!(ahead.content(), 0);
    }

    #[test]
    fn errors_come_through_after_the_bytes_before_them() {
        // A line past the cap: LineCap's error, after the good bytes.
        let mut inner = capped(vec![b'x'; 3 << 20]);
        inner.max = 1000;
        AHEAD.fetch_add(1, Ordering::AcqRel);
        let mut ahead = Input::ahead(inner);
        let mut got = Vec::new();
        let err = ahead.read_to_end(&mut got).unwrap_err();
        assert!(err.to_string().contains("a line longer than"), "{err}");
        // And then the stream stays ended.
        assert_eq!(ahead.read(&mut [0u8; 8]).unwrap(), 0);
    }
}
