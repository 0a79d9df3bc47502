//! The CSV reader of trace files: the records, positions and errors the
//! `csv` crate's reader gives with its defaults (`,` between fields, `"`
//! quoting with `""` for a quote, records ending at `\n`, `\r\n` or a lone
//! `\r`, empty lines skipped, a leading UTF-8 byte-order mark dropped, rows
//! of any length), read a line at a time. A record with no quote before
//! its line break, every record of a usual trace, is cut at its commas in
//! one pass where it lies in the reader's buffer, and so is one whose
//! quoted fields are quoted whole (`"fn 1",`); any other quote leaves the
//! record to `csv_core`, the automaton `csv` itself runs on every byte of
//! every record. Under callgrind `csv`'s reader took about 650 instructions
//! a record of a three-column trace, this one about 290.
//!
//! Two differences, both deliberate. A record's line, and the line and
//! byte offset in its error, are where its first byte is. (`csv` gave where
//! its reader stood when the record was asked for, before the empty lines
//! and the `\n` of a `\r\n` ahead of it were read: in a file with `\r\n`
//! line ends an error named the line above the bad row.) And a first read
//! of exactly a byte-order mark's three bytes is not the end of the file,
//! as `csv_core` takes the empty rest of that read to be.

use std::io::BufRead;

use super::MAX_LINE_BYTES;

/// One record of a trace file: its fields, and the line it starts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    text: String,
    /// Each field's start and end in `text`.
    bounds: Vec<(usize, usize)>,
    line: u64,
}

impl Record {
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every field (the line stays).
    pub fn clear(&mut self) {
        self.text.clear();
        self.bounds.clear();
    }

    /// Adds a field at the end.
    pub fn push_field(&mut self, field: &str) {
        let start = self.text.len();
        self.text.push_str(field);
        self.bounds.push((start, self.text.len()));
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    /// Whether it has no field.
    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// Field `i`, if the record has it.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&str> {
        let &(start, end) = self.bounds.get(i)?;
        self.text.get(start..end)
    }

    /// Field `i`'s bytes, if the record has it.
    #[inline]
    pub fn bytes(&self, i: usize) -> Option<&[u8]> {
        let &(start, end) = self.bounds.get(i)?;
        self.text.as_bytes().get(start..end)
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.bounds.iter().map(|&(s, e)| &self.text[s..e])
    }

    /// The line the record starts on (1 for a file's first).
    pub fn line(&self) -> u64 {
        self.line
    }

    pub fn set_line(&mut self, line: u64) {
        self.line = line;
    }
}

impl std::ops::Index<usize> for Record {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        self.get(i).expect("a field of the record")
    }
}

/// Why a record could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The bytes could not be read (a line past the cap, a damaged `.gz`).
    Io(std::io::Error),
    /// A field is not UTF-8: the record's index (the header is record 0),
    /// the line and byte offset of its first byte, the field and how many
    /// of its bytes are good.
    Utf8 {
        record: u64,
        line: u64,
        byte: u64,
        field: usize,
        valid_up_to: usize,
    },
}

impl ReadError {
    /// The line of the record (0 for a read error, which has none).
    pub fn line(&self) -> u64 {
        match self {
            ReadError::Io(_) => 0,
            ReadError::Utf8 { line, .. } => *line,
        }
    }
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Worded as `csv`'s errors are.
impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => e.fmt(f),
            ReadError::Utf8 {
                record,
                line,
                byte,
                field,
                valid_up_to,
            } => write!(
                f,
                "CSV parse error: record {record} (line {line}, field: {field}, byte: {byte}): \
                 invalid utf-8: invalid UTF-8 in field {field} near byte index {valid_up_to}"
            ),
        }
    }
}

impl std::error::Error for ReadError {}

/// The byte-order mark `csv_core` drops from the start of its input.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// A CSV file's records, read a line at a time.
pub struct CsvLines<R> {
    inner: R,
    /// The bytes of the current line, through its line break (a `\r\n`
    /// together where both are at hand), and how many have been read.
    buf: Vec<u8>,
    at: usize,
    /// Bytes read, the line they end on (1 + line feeds read) and records
    /// read.
    byte: u64,
    line: u64,
    records: u64,
    /// Bytes were read (and a byte-order mark dropped from the first).
    started: bool,
    /// The end was reached.
    done: bool,
    /// The reader of records with a quote, made for the first.
    quoted: Option<Box<Quoted>>,
}

/// `csv_core`'s reader and its output: a record's unquoted bytes and each
/// field's end among them.
struct Quoted {
    core: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl Quoted {
    fn new() -> Box<Quoted> {
        let mut core = csv_core::Reader::new();
        // `csv_core` drops a byte-order mark from the first input it is
        // given: read nothing once, so that it never does here (the file's
        // own was dropped by `read_record`). With no input it reports the
        // end and stays at the start of a record.
        let _ = core.read_record(&[], &mut [], &mut []);
        Box::new(Quoted {
            core,
            out: vec![0; 256],
            ends: vec![0; 16],
        })
    }
}

impl<R: BufRead> CsvLines<R> {
    pub fn new(inner: R) -> Self {
        CsvLines {
            inner,
            buf: Vec::new(),
            at: 0,
            byte: 0,
            line: 1,
            records: 0,
            started: false,
            done: false,
            quoted: None,
        }
    }

    /// The reader underneath.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Appends the reader's bytes through the next line break (`\n` or
    /// `\r`, and a `\n` after the `\r` if already buffered) to `buf`;
    /// `false` if there were none. The reader underneath caps the bytes
    /// between line breaks, so `buf` stays bounded.
    fn append_line(&mut self) -> std::io::Result<bool> {
        let before = self.buf.len();
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            match memchr::memchr2(b'\n', b'\r', chunk) {
                Some(i) => {
                    let end = if chunk[i] == b'\r' && chunk.get(i + 1) == Some(&b'\n') {
                        i + 2
                    } else {
                        i + 1
                    };
                    self.buf.extend_from_slice(&chunk[..end]);
                    self.inner.consume(end);
                    break;
                }
                None => {
                    let n = chunk.len();
                    self.buf.extend_from_slice(chunk);
                    self.inner.consume(n);
                }
            }
        }
        Ok(self.buf.len() > before)
    }

    /// The next line in `buf` in place of what it held; `false` at the end.
    fn fill(&mut self) -> std::io::Result<bool> {
        self.buf.clear();
        self.at = 0;
        self.append_line()
    }

    /// Reads the first record as a header: its fields (none for an empty
    /// file).
    pub fn headers(&mut self) -> Result<Record, ReadError> {
        let mut rec = Record::new();
        self.read_record(&mut rec)?;
        Ok(rec)
    }

    /// Reads the next record into `rec`; `Ok(false)` at the end. A record
    /// that is not UTF-8 is an error (and `rec` is left empty), after which
    /// reading goes on with the next.
    ///
    /// A record is scanned where it lies, in the reader's buffer, unless it
    /// runs past the buffer's end: then its line is gathered in `buf` first.
    pub fn read_record(&mut self, rec: &mut Record) -> Result<bool, ReadError> {
        rec.clear();
        if self.done {
            return Ok(false);
        }
        let record = self.records;
        let bad = |line, byte, (field, valid_up_to)| ReadError::Utf8 {
            record,
            line,
            byte,
            field,
            valid_up_to,
        };
        loop {
            let gathered = self.at < self.buf.len();
            let bytes = if gathered {
                &self.buf[self.at..]
            } else {
                match self.inner.fill_buf() {
                    Ok(c) => c,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            if bytes.is_empty() {
                self.done = true;
                return Ok(false);
            }
            // `csv_core` drops a byte-order mark from its first input.
            let mut skip = 0;
            if !self.started {
                self.started = true;
                if bytes.starts_with(BOM) {
                    skip = BOM.len();
                }
            }
            // Line breaks before a record are skipped: empty lines are none.
            while let Some(&b) = bytes.get(skip)
                && (b == b'\n' || b == b'\r')
            {
                self.line += u64::from(b == b'\n');
                skip += 1;
            }
            let rest = &bytes[skip..];
            rec.line = self.line;
            let scanned = if rest.is_empty() {
                None
            } else {
                Some(scan(rest, &mut rec.bounds))
            };
            let (len, used, high) = match scanned {
                Some(Scan::Break(i, high)) => (i, i + 1, high),
                // At the end of the bytes gathered: the end of the file.
                Some(Scan::Open(high)) if gathered => (rest.len(), rest.len(), high),
                _ => {
                    // Only line breaks, a record running past the reader's
                    // buffer, or a quote: gather the record's line in `buf`
                    // and read on from there.
                    rec.bounds.clear();
                    self.advance(gathered, skip);
                    let Some(scanned) = scanned else { continue };
                    if !gathered {
                        self.fill()?;
                    }
                    if matches!(scanned, Scan::Quote) {
                        self.records += 1;
                        let (line, byte) = (self.line, self.byte);
                        return self.read_quoted(rec)?.map_err(|e| bad(line, byte, e));
                    }
                    continue;
                }
            };
            self.records += 1;
            let text = &rest[..len];
            let result = if !high {
                // SAFETY: every byte is below 0x80 (`scan` saw no other), so
                // the bytes are ASCII, and ASCII is UTF-8.
                rec.text
                    .push_str(unsafe { std::str::from_utf8_unchecked(text) });
                Ok(true)
            } else if let Ok(t) = std::str::from_utf8(text) {
                rec.text.push_str(t);
                Ok(true)
            } else {
                let at = self.byte + skip as u64;
                let fields = rec.bounds.iter().map(|&(s, e)| &text[s..e]);
                let fault = first_bad(fields).expect("a line not UTF-8 has such a field");
                let e = bad(self.line, at, fault);
                rec.bounds.clear();
                Err(e)
            };
            if rest.get(len) == Some(&b'\n') {
                self.line += 1;
            }
            self.advance(gathered, skip + used);
            return result;
        }
    }

    /// Marks `n` bytes read, from `buf` or from the reader's buffer.
    #[inline]
    fn advance(&mut self, gathered: bool, n: usize) {
        if gathered {
            self.at += n;
        } else {
            self.inner.consume(n);
        }
        self.byte += n as u64;
    }

    /// Reads a record with a quote through `csv_core`, from the start of
    /// the record; the error is the first field that is not UTF-8 and how
    /// many of its bytes are.
    #[cold]
    fn read_quoted(&mut self, rec: &mut Record) -> Result<Result<bool, (usize, usize)>, ReadError> {
        let mut q = self.quoted.take().unwrap_or_else(Quoted::new);
        let read = self.read_quoted_with(&mut q, rec);
        self.quoted = Some(q);
        read
    }

    fn read_quoted_with(
        &mut self,
        q: &mut Quoted,
        rec: &mut Record,
    ) -> Result<Result<bool, (usize, usize)>, ReadError> {
        use csv_core::ReadRecordResult;
        q.core.set_line(self.line);
        let (mut nout, mut nend) = (0, 0);
        let start = self.byte;
        loop {
            let input = &self.buf[self.at..];
            let (res, nin, o, e) =
                q.core
                    .read_record(input, &mut q.out[nout..], &mut q.ends[nend..]);
            self.at += nin;
            self.byte += nin as u64;
            nout += o;
            nend += e;
            // The record's bytes read so far bound its output and its
            // fields (a line of commas between quotes is all fields).
            if self.byte - start > MAX_LINE_BYTES as u64 {
                return Err(ReadError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "a quoted record longer than {MAX_LINE_BYTES} bytes (a quote never \
                         closed?)"
                    ),
                )));
            }
            match res {
                ReadRecordResult::InputEmpty => {
                    // All read: the next line, or (none left) an empty
                    // input, which `csv_core` takes for the end.
                    if self.at == self.buf.len() {
                        self.fill()?;
                    }
                }
                ReadRecordResult::OutputFull => q.out.resize(q.out.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => q.ends.resize(q.ends.len() * 2, 0),
                ReadRecordResult::Record => break,
                // Never: `csv_core` is given the record from its first byte,
                // which is no line break, so it reports a record, even at
                // the end of the input. Ended as `csv` would end.
                ReadRecordResult::End => {
                    self.done = true;
                    return Ok(Ok(false));
                }
            }
        }
        self.line = q.core.line();
        let bytes = &q.out[..nout];
        let ends = &q.ends[..nend];
        let fields = ends.iter().scan(0, |start, &end| {
            let f = &bytes[*start..end];
            *start = end;
            Some(f)
        });
        for (i, f) in fields.enumerate() {
            match std::str::from_utf8(f) {
                Ok(t) => rec.push_field(t),
                Err(e) => {
                    rec.clear();
                    return Ok(Err((i, e.valid_up_to())));
                }
            }
        }
        Ok(Ok(true))
    }
}

/// What [`scan`] found in a record's bytes.
enum Scan {
    /// The line break ending the record, at this index; and whether a byte
    /// before it is not ASCII.
    Break(usize, bool),
    /// A quote before the line break that is not a field quoted whole:
    /// `csv_core` reads the record.
    Quote,
    /// No line break in the bytes; whether a byte is not ASCII.
    Open(bool),
}

/// How [`scan`] takes each byte.
const PLAIN: u8 = 0;
const COMMA: u8 = 1;
const HIGH: u8 = 2;
const QUOTE: u8 = 3;
const BREAK: u8 = 4;
static CLASS: [u8; 256] = {
    let mut c = [PLAIN; 256];
    let mut b = 0x80;
    while b < 256 {
        c[b] = HIGH;
        b += 1;
    }
    c[b',' as usize] = COMMA;
    c[b'"' as usize] = QUOTE;
    c[b'\r' as usize] = BREAK;
    c[b'\n' as usize] = BREAK;
    c
};

/// Cuts a record's bytes at its commas into `bounds`, up to its line
/// break. Eight bytes at a time: a word's bytes below `-` (every byte that
/// matters, and a few punctuation marks) or above 0x7f are flagged at
/// once, and only those are looked up, in order. The flag is exact at the
/// lowest; above a flagged byte the subtraction's borrow may flag a `-`
/// too, which the lookup passes. Under callgrind a byte-at-a-time loop
/// took about 9 instructions a byte of a three-column trace's lines.
/// From a quote that opens a field, [`scan_quoted`] goes on.
#[inline]
fn scan(bytes: &[u8], bounds: &mut Vec<(usize, usize)>) -> Scan {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOP_BITS: u64 = 0x8080_8080_8080_8080;
    let mut start = 0;
    let mut high = false;
    let mut byte = |k: usize, b: u8| match CLASS[usize::from(b)] {
        PLAIN => None,
        COMMA => {
            bounds.push((start, k));
            start = k + 1;
            None
        }
        HIGH => {
            high = true;
            None
        }
        QUOTE if k == start => Some(scan_quoted(bytes, bounds, k, high)),
        QUOTE => Some(Scan::Quote),
        _ => {
            bounds.push((start, k));
            Some(Scan::Break(k, high))
        }
    };
    let mut i = 0;
    while let Some(word) = bytes.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let mut flagged = ((w.wrapping_sub(ONES * u64::from(b'-')) & !w) | w) & TOP_BITS;
        while flagged != 0 {
            let k = i + (flagged.trailing_zeros() / 8) as usize;
            if let Some(end) = byte(k, bytes[k]) {
                return end;
            }
            flagged &= flagged - 1;
        }
        i += 8;
    }
    for (k, &b) in bytes.iter().enumerate().skip(i) {
        if let Some(end) = byte(k, b) {
            return end;
        }
    }
    bounds.push((start, bytes.len()));
    Scan::Open(high)
}

/// [`scan`] on from field start `at`, a quote, a byte at a time: a field
/// quoted whole (no quote or line break inside, a comma or the line break
/// after the closing quote) is taken between its quotes; any other quote
/// leaves the record to `csv_core`. Out of line, so that the loop of
/// unquoted records stays as small as it was: the same handling inlined
/// into [`scan`]'s loop took about 220 instructions a record more on a
/// trace without quotes (callgrind, 1 M rows: 3,946.4 M against 3,723.8).
#[inline(never)]
fn scan_quoted(bytes: &[u8], bounds: &mut Vec<(usize, usize)>, at: usize, mut high: bool) -> Scan {
    let mut i = at;
    loop {
        // At the start of a field.
        if bytes.get(i) == Some(&b'"') {
            let mut close = i + 1;
            loop {
                match bytes.get(close) {
                    Some(b'"') => break,
                    None | Some(b'\r' | b'\n') => return Scan::Quote,
                    Some(&c) => {
                        high |= c >= 0x80;
                        close += 1;
                    }
                }
            }
            match bytes.get(close + 1) {
                Some(b',') => {
                    bounds.push((i + 1, close));
                    i = close + 2;
                    continue;
                }
                Some(b'\r' | b'\n') => {
                    bounds.push((i + 1, close));
                    return Scan::Break(close + 1, high);
                }
                // A quote doubled (`""`), text after the closing quote, or
                // the end of the bytes at hand.
                _ => return Scan::Quote,
            }
        }
        let start = i;
        loop {
            match bytes.get(i) {
                None => {
                    bounds.push((start, i));
                    return Scan::Open(high);
                }
                Some(b',') => {
                    bounds.push((start, i));
                    i += 1;
                    break;
                }
                Some(b'"') => return Scan::Quote,
                Some(b'\r' | b'\n') => {
                    bounds.push((start, i));
                    return Scan::Break(i, high);
                }
                Some(&c) => {
                    high |= c >= 0x80;
                    i += 1;
                }
            }
        }
    }
}

/// The first of `fields` that is not UTF-8, and how many of its bytes are.
fn first_bad<'a>(fields: impl Iterator<Item = &'a [u8]>) -> Option<(usize, usize)> {
    fields
        .enumerate()
        .find_map(|(i, f)| std::str::from_utf8(f).err().map(|e| (i, e.valid_up_to())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a reader gives, read to its end: each record's fields and line,
    /// or an error's message.
    type Reads = Vec<std::result::Result<(Vec<String>, u64), String>>;

    fn csvs(bytes: &[u8]) -> (std::result::Result<Vec<String>, String>, Reads) {
        read_csvs(bytes, bytes, bytes.starts_with(BOM))
    }

    fn ours(bytes: impl BufRead) -> (std::result::Result<Vec<String>, String>, Reads) {
        let mut r = CsvLines::new(bytes);
        let headers = match r.headers() {
            Ok(h) => Ok(h.iter().map(String::from).collect()),
            Err(e) => return (Err(e.to_string()), Vec::new()),
        };
        let mut reads = Vec::new();
        let mut rec = Record::new();
        loop {
            match r.read_record(&mut rec) {
                Ok(true) => reads.push(Ok((rec.iter().map(String::from).collect(), rec.line()))),
                Ok(false) => break,
                Err(e) => reads.push(Err(e.to_string())),
            }
        }
        (headers, reads)
    }

    /// What `csv` reads from `input` (the bytes `bytes`; `bom_dropped` if
    /// its first read is long enough to drop a mark), with each position
    /// moved to its record's first byte: past the mark and the line breaks
    /// `csv` had still to read.
    fn read_csvs(
        bytes: &[u8],
        input: impl std::io::Read,
        bom_dropped: bool,
    ) -> (std::result::Result<Vec<String>, String>, Reads) {
        let first_byte = |p: &csv::Position| {
            let mut at = p.byte() as usize;
            if at == 0 && bom_dropped {
                at = BOM.len();
            }
            while matches!(bytes.get(at), Some(b'\r' | b'\n')) {
                at += 1;
            }
            let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64;
            (line, at)
        };
        let message = |e: &csv::Error| match e.kind() {
            csv::ErrorKind::Utf8 { pos: Some(p), err } => {
                let (line, at) = first_byte(p);
                format!(
                    "CSV parse error: record {} (line {line}, field: {}, byte: {at}): {err}",
                    p.record(),
                    err.field()
                )
            }
            _ => e.to_string(),
        };
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(input);
        let headers = match r.headers() {
            Ok(h) => Ok(h.iter().map(String::from).collect()),
            Err(e) => return (Err(message(&e)), Vec::new()),
        };
        let mut reads = Vec::new();
        let mut rec = csv::StringRecord::new();
        loop {
            match r.read_record(&mut rec) {
                Ok(true) => reads.push(Ok((
                    rec.iter().map(String::from).collect(),
                    first_byte(rec.position().expect("a position")).0,
                ))),
                Ok(false) => break,
                Err(e) => reads.push(Err(message(&e))),
            }
        }
        (headers, reads)
    }

    #[test]
    fn a_record_is_on_the_line_of_its_first_byte() {
        let mut r = CsvLines::new(&b"h\r\n1\r\n\r\n\xff\r\n\n\"a\nb\"\r\n2"[..]);
        let mut rec = Record::new();
        assert_eq!(r.headers().expect("a header").line(), 1);
        assert!(r.read_record(&mut rec).expect("a record"));
        assert_eq!((&rec[0], rec.line()), ("1", 2));
        let e = r.read_record(&mut rec).expect_err("not UTF-8");
        assert_eq!(e.line(), 4);
        assert!(
            e.to_string()
                .contains("record 2 (line 4, field: 0, byte: 8)"),
            "{e}"
        );
        assert!(r.read_record(&mut rec).expect("a record"));
        assert_eq!((&rec[0], rec.line()), ("a\nb", 6));
        assert!(r.read_record(&mut rec).expect("a record"));
        assert_eq!((&rec[0], rec.line()), ("2", 8));
        assert!(!r.read_record(&mut rec).expect("the end"));
    }

    #[test]
    fn reads_what_csv_reads() {
        for text in [
            &b"timestamp_s,function,duration_ms\n0.5,f,10\n1.25,g,20\n"[..],
            b"a,b\r\n1,2\r\n\r\n3,4",
            b"a,b\r1,2\r3\n\n\n4,5\n",
            b"\xef\xbb\xbfa,b\n1,2\n",
            b"\xef\xbb\xbf\xef\xbb\xbfa\n\xef\xbb\xbf\n",
            // A second mark is a field's bytes, quotes after it too.
            b"\xef\xbb\xbf\xef\xbb\xbf\"a\"\n1\n",
            b"h\n\"q,1\",2\n\"multi\nline\",3\n\"a \"\"quoted\"\" word\"\n",
            // Fields quoted whole, and quotes that are not.
            b"h\n\"a\",b\n\"\",x\n\"a\"\r\n\"a,b\",\"c\"\nx,\"y\"z\n\"a\"\"b\",1\n\"last\"",
            b"h\n\"\xc3\xa9\",1\n\"\xff\",1\n\"a\",\xff\n\"\xc3\",\"\xa9\"\n1,\"\xff\"\r\n",
            b"h\nx\"y,\"z\"w,\"unclosed\n",
            b"h\n\xff,1\n2,\xc3\n3,ok\n\"\xc3\",\"\xa9\"\n",
            b"\xff\n1\n",
            b"",
            b"\n\n",
            b"h,,\n,\n,,,\n",
            b"h\n\"a\"\r\n\"b\"\rc\n",
        ] {
            assert_eq!(
                ours(text),
                csvs(text),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn long_quoted_records_read_as_csv_reads_them() {
        // More fields and bytes than the quoted path's first buffers hold;
        // a doubled quote in each field, so that `csv_core` reads them
        // (a field quoted whole would not reach it).
        let mut text = b"h\n".to_vec();
        for i in 0..40 {
            text.extend_from_slice(format!("\"field {i} \"\"{}\",", "x".repeat(i)).as_bytes());
        }
        text.extend_from_slice(b"last\r\n");
        text.extend_from_slice(&text.clone()[2..]);
        assert!(text.len() > 2 * 600);
        assert_eq!(ours(text.as_slice()), csvs(&text));
        for step in [1, 5, 64] {
            assert_eq!(
                ours(std::io::BufReader::with_capacity(
                    step,
                    Trickle(&text, step)
                )),
                read_csvs(&text, Trickle(&text, step), false)
            );
        }
        let (_, reads) = ours(text.as_slice());
        assert_eq!(reads.len(), 2);
        assert!(
            reads
                .iter()
                .all(|r| r.as_ref().is_ok_and(|(f, _)| f.len() == 41))
        );
    }

    #[test]
    fn a_quoted_record_of_many_fields_stops_at_the_cap() {
        // Quotes closed and opened again on every line: one output byte a
        // line and a million fields; the record's bytes are what is capped.
        let mut text = b"h\n\"\n".to_vec();
        let line = [b"\"".as_slice(), &[b','; 100_000], b"\"\n"].concat();
        for _ in 0..20 {
            text.extend_from_slice(&line);
        }
        let mut r = CsvLines::new(text.as_slice());
        r.headers().expect("a header");
        let e = r.read_record(&mut Record::new()).expect_err("too long");
        assert!(e.to_string().contains("a quote never closed"), "{e}");
    }

    #[test]
    fn the_bundled_traces_read_as_csv_reads_them() {
        let mut n = 0;
        for entry in glob::glob(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/**/*.csv"))
            .expect("a pattern")
        {
            let bytes = std::fs::read(entry.expect("a path")).expect("readable");
            assert_eq!(ours(bytes.as_slice()), csvs(&bytes));
            n += 1;
        }
        assert!(n > 0, "no bundled traces found");
    }

    #[test]
    fn a_quote_never_closed_stops_at_the_cap() {
        let mut text = b"h\n\"".to_vec();
        text.extend(std::iter::repeat_n(b"x\n".as_slice(), MAX_LINE_BYTES).flatten());
        let mut r = CsvLines::new(text.as_slice());
        r.headers().expect("a header");
        let e = r.read_record(&mut Record::new()).expect_err("too long");
        assert!(matches!(e, ReadError::Io(_)), "{e}");
        assert!(e.to_string().contains("a quote never closed"), "{e}");
    }

    /// Bytes that a small buffer cuts anywhere, so lines straddle refills.
    struct Trickle<'a>(&'a [u8], usize);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    proptest! {
        #[test]
        fn reads_what_csv_reads_on_any_bytes(
            bytes in proptest::collection::vec(
                prop::sample::select(vec![
                    b'a', b'b', b'1', b',', b',', b'"', b'\r', b'\n', b'\n', b' ', b'-', b'.',
                    0xc3, 0xa9, 0xff, 0xef, 0xbb, 0xbf,
                ]),
                0..80,
            ),
            step in 1usize..7,
            mark in any::<bool>(),
        ) {
            let bytes = if mark { [BOM, &bytes].concat() } else { bytes };
            prop_assert_eq!(ours(bytes.as_slice()), csvs(&bytes));
            // The same bytes a few at a time, so that records run past the
            // end of the reader's buffer (and a first read may be shorter
            // than a byte-order mark, which `csv` then keeps too). A first
            // read of exactly the mark `csv` takes for an empty file: there
            // it is not the reference.
            if !(step == BOM.len() && bytes.starts_with(BOM)) {
                prop_assert_eq!(
                    ours(std::io::BufReader::with_capacity(step, Trickle(&bytes, step))),
                    read_csvs(&bytes, Trickle(&bytes, step), step >= BOM.len() && bytes.starts_with(BOM))
                );
            }
        }
    }
}
