//! Traffic as AWS records it (README, 'Trace replay'): Application Load
//! Balancer access logs and CloudWatch Logs exports of Lambda `REPORT`
//! lines, read through the same record reader as the CSV traces.
//!
//! - ALB access log entries are space-separated fields, some in double
//!   quotes, in the order of AWS's "Access log entries" page (Elastic Load
//!   Balancing, Application Load Balancers guide): `type time elb
//!   client:port target:port request_processing_time target_processing_time
//!   response_processing_time ... "request" ... target_group_arn ...
//!   request_creation_time ...`. No header; the reader gives the fields
//!   those names.
//! - Lambda REPORT lines (Lambda developer guide, "Monitoring and
//!   troubleshooting", log format): `REPORT RequestId: <id> Duration: 102.25 ms
//!   Billed Duration: 103 ms Memory Size: 512 MB Max Memory Used: 70 MB
//!   Init Duration: 150.00 ms`, fields separated by tabs or spaces, as plain
//!   text with a leading timestamp (`aws logs tail`, a saved console view),
//!   as CloudWatch Logs Insights' CSV export (`@timestamp,@message`, optional
//!   `@log`), or as JSON: `aws logs filter-log-events` (`{"events": [{
//!   "timestamp": <epoch ms>, "message": ...}]}`) and Logs Insights' JSON
//!   export (`[{"@timestamp": ..., "@message": ...}]`). Lines that are not
//!   REPORT lines (START, END, the function's own output) are passed over.

use std::io::{BufRead, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// How a trace file's bytes become records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// CSV with a header row.
    Header,
    /// Space-separated, quoted fields, no header: [`ALB_FIELDS`].
    Alb,
    /// One field per line, the whole line: `line`.
    Lines,
    /// A JSON array of log events (`timestamp`, `message`, `log`).
    Json,
}

/// The ALB fields the reader splits: up to `request_creation_time` (index
/// 21), the last one read; the fields after it (AWS adds some from time to
/// time: "ignore any fields at the end of the log entry that you were not
/// expecting", ALB user guide, 'Access log entries') are not looked at.
pub const ALB_FIELDS_READ: usize = 22;

/// The ALB access log fields in order, as AWS names them.
pub const ALB_FIELDS: &[&str] = &[
    "type",
    "time",
    "elb",
    "client:port",
    "target:port",
    "request_processing_time",
    "target_processing_time",
    "response_processing_time",
    "elb_status_code",
    "target_status_code",
    "received_bytes",
    "sent_bytes",
    "request",
    "user_agent",
    "ssl_cipher",
    "ssl_protocol",
    "target_group_arn",
    "trace_id",
    "domain_name",
    "chosen_cert_arn",
    "matched_rule_priority",
    "request_creation_time",
    "actions_executed",
    "redirect_url",
    "error_reason",
    "target:port_list",
    "target_status_code_list",
    "classification",
    "classification_reason",
    "conn_trace_id",
];

/// The fields of a JSON log event, as the reader gives them.
pub const JSON_FIELDS: &[&str] = &["timestamp", "message", "log"];

/// The name of `file` without `.gz` and the format's extension: the
/// function of a REPORT export without a log group.
pub fn stem(file: &Path) -> String {
    let name = file
        .file_name()
        .map_or_else(|| "trace".to_string(), |n| n.to_string_lossy().into_owned());
    let name = match name.len().checked_sub(3) {
        Some(i) if name.is_char_boundary(i) && name[i..].eq_ignore_ascii_case(".gz") => &name[..i],
        _ => &name,
    };
    match name.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s.to_string(),
        _ => name.to_string(),
    }
}

/// Whether `file` is gzip-compressed, by its name.
pub fn gzipped(file: &Path) -> bool {
    file.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// The extension under `.gz`, lower case.
fn inner_extension(file: &Path) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.rsplit_once('.')
        .map(|(_, e)| e.to_string())
        .unwrap_or_default()
}

/// The layout of a REPORT export: JSON by `.json`, Logs Insights CSV by
/// `.csv`, plain text otherwise.
pub fn report_layout(file: &Path) -> Layout {
    match inner_extension(file).as_str() {
        "json" => Layout::Json,
        "csv" => Layout::Header,
        _ => Layout::Lines,
    }
}

/// Nanoseconds since 1970-01-01 UTC of a timestamp as AWS writes them:
/// `2018-07-02T22:22:48.364000Z`, `2023-01-15 10:00:00.123` (Logs
/// Insights, UTC), `2023-01-15T10:00:00.123000+00:00` (`aws logs tail`),
/// or whole milliseconds since the epoch (`1673776800123`). `None` if it is
/// none of these.
pub fn parse_utc_ns(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if !b.is_empty() && b.iter().all(u8::is_ascii_digit) {
        // Epoch milliseconds (CloudWatch's `timestamp`): 13 digits today.
        let ms: i64 = s.parse().ok()?;
        // Up to 2200-01-01 (7,258,118,400,000 ms).
        return (ms <= 7_258_118_400_000).then(|| ms * 1_000_000);
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b.get(r)?.iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if b[10] != b'T' && b[10] != b' ' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // 1970 to 2200: every sum and difference of such times (and of
    // durations up to 1e9 s) fits in i64 nanoseconds.
    if !(1970..=2200).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut frac_ns: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                frac_ns = frac_ns * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..9 {
            frac_ns *= 10;
        }
    }
    let offset_s: i64 = match &b[i..] {
        [] | [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let h = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
            let m = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
            let o = h * 3600 + m * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil` algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What a REPORT line says: durations in ms, memory in MB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    pub duration_ms: f64,
    pub memory_mb: Option<f64>,
    pub init_ms: Option<f64>,
}

/// Why a REPORT line could not be read: the field, and what is wrong.
pub type ReportFault = (&'static str, &'static str);

/// The figures of `message` if it is a REPORT line (`None` for START, END
/// and everything else).
pub fn parse_report(message: &str) -> Option<std::result::Result<Report, ReportFault>> {
    let at = message.find("REPORT RequestId:")?;
    let body = &message[at..];
    // "<key>: <number> <unit>" where the key starts after a separator and is
    // exactly the one asked for ("Duration" is not "Billed Duration").
    let value = |key: &str| -> Option<std::result::Result<f64, ReportFault>> {
        let mut from = 0;
        while let Some(i) = body[from..].find(key) {
            let start = from + i;
            from = start + key.len();
            let before = body[..start].chars().next_back();
            if !before.is_some_and(char::is_whitespace) {
                continue;
            }
            let prev_word = body[..start].trim_end().rsplit([' ', '\t']).next();
            if key == "Duration:" && matches!(prev_word, Some("Billed" | "Init" | "Restore")) {
                continue;
            }
            let rest = body[from..].trim_start();
            let number: &str = rest
                .split(|c: char| c.is_whitespace())
                .next()
                .unwrap_or_default();
            return Some(
                number
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or((key_name(key), "not a duration or size")),
            );
        }
        None
    };
    let duration_ms = match value("Duration:") {
        Some(Ok(d)) => d,
        Some(Err(e)) => return Some(Err(e)),
        None => return Some(Err(("Duration", "a REPORT line without a Duration"))),
    };
    let memory_mb = match value("Memory Size:") {
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => return Some(Err(e)),
        None => None,
    };
    let init_ms = match value("Init Duration:") {
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => return Some(Err(e)),
        None => None,
    };
    Some(Ok(Report {
        duration_ms,
        memory_mb,
        init_ms,
    }))
}

fn key_name(key: &str) -> &'static str {
    match key {
        "Duration:" => "Duration",
        "Memory Size:" => "Memory Size",
        _ => "Init Duration",
    }
}

/// The function of a log group (`/aws/lambda/checkout`, or Logs Insights'
/// `123456789012:/aws/lambda/checkout`): the part after the last `/`.
pub fn function_of_log(log: &str) -> &str {
    log.rsplit('/').next().unwrap_or(log)
}

/// An ALB `request` field's (method, URL, protocol): its URL.
fn url_of(request: &str) -> &str {
    // Between the first space and the next: `GET <url> HTTP/1.1`.
    let b = request.as_bytes();
    let Some(i) = memchr::memchr(b' ', b) else {
        return "";
    };
    let end = memchr::memchr(b' ', &b[i + 1..]).map_or(b.len(), |k| i + 1 + k);
    &request[i + 1..end]
}

/// Where the `scheme://` of `url` ends (0 without one).
fn after_scheme(url: &str) -> usize {
    let b = url.as_bytes();
    match memchr::memchr(b':', b) {
        Some(i) if b.get(i + 1..i + 3) == Some(b"//") => i + 3,
        _ => 0,
    }
}

/// The path of an ALB `request` field's URL, without the query string:
/// `"GET http://example.com:80/a/b?x=1 HTTP/1.1"` gives `/a/b`, cut to its
/// first `depth` segments when given.
pub fn alb_path(request: &str, depth: Option<u32>) -> &str {
    let url = url_of(request);
    let from = after_scheme(url);
    let path_start = memchr::memchr(b'/', &url.as_bytes()[from..]).map(|i| from + i);
    let Some(start) = path_start else {
        return "/";
    };
    let path = &url[start..];
    let path = &path[..memchr::memchr2(b'?', b'#', path.as_bytes()).unwrap_or(path.len())];
    match depth {
        None => path,
        Some(n) => {
            // The end of the n-th segment: the n+1-th '/'.
            let mut end = path.len();
            let mut slashes = 0;
            for (i, c) in path.char_indices() {
                if c == '/' {
                    if slashes == n {
                        end = i;
                        break;
                    }
                    slashes += 1;
                }
            }
            if end == 0 { "/" } else { &path[..end] }
        }
    }
}

/// The host of an ALB `request` field's URL, without the port.
pub fn alb_host(request: &str) -> &str {
    let url = url_of(request);
    let Some(i) = url.find("://") else {
        return "-";
    };
    let rest = &url[i + 3..];
    let end = rest.find(['/', ':', '?']).unwrap_or(rest.len());
    &rest[..end]
}

/// The target group's name in its ARN
/// (`arn:aws:elasticloadbalancing:...:targetgroup/<name>/<id>`), or the
/// field as it is (`-`: no target group).
pub fn alb_target_group(arn: &str) -> &str {
    match arn.split_once("targetgroup/") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
        None => arn,
    }
}

/// Log lines read a line at a time (the line search is the standard
/// library's, vectorised) and split by hand: ALB's space-separated fields,
/// `"`-quoted where they may hold spaces (a `\"` inside stays), or the whole
/// line as one field. Several times faster than a general CSV parser on
/// ALB's 30-field lines.
pub struct LogLines<R> {
    inner: R,
    split: bool,
    line: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> LogLines<R> {
    /// `split`: ALB fields; else one field per line.
    pub fn new(inner: R, split: bool) -> Self {
        LogLines {
            inner,
            split,
            line: 0,
            buf: Vec::new(),
        }
    }

    /// The reader underneath.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Reads the next non-empty line into `record`; `Ok(false)` at the end.
    /// A line that is not UTF-8 is an error naming its line.
    pub fn read_record(
        &mut self,
        record: &mut super::csv_lines::Record,
    ) -> std::result::Result<bool, (u64, std::io::Error)> {
        loop {
            self.buf.clear();
            let cap = super::MAX_LINE_BYTES as u64 + 1;
            let n = (&mut self.inner)
                .take(cap)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| (self.line + 1, e))?;
            if n == 0 {
                return Ok(false);
            }
            if n as u64 == cap && self.buf.last() != Some(&b'\n') {
                return Err((
                    self.line + 1,
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("a line longer than {} bytes", super::MAX_LINE_BYTES),
                    ),
                ));
            }
            self.line += 1;
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            if self.buf.is_empty() {
                continue;
            }
            let text = std::str::from_utf8(&self.buf).map_err(|e| {
                (
                    self.line,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8: {e}")),
                )
            })?;
            record.clear();
            if self.split {
                split_fields(text, record, ALB_FIELDS_READ);
            } else {
                record.push_field(text);
            }
            record.set_line(self.line);
            return Ok(true);
        }
    }
}

/// ALB's fields: separated by single spaces, a field that starts with `"`
/// runs to the next `"` not escaped by a backslash (the quotes dropped).
/// Only the first `limit`: the rest of the line is not looked at.
fn split_fields(line: &str, record: &mut super::csv_lines::Record, limit: usize) {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() && record.len() < limit {
        if b[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            // The closing quote: the next one not escaped by a backslash.
            let end = loop {
                match memchr::memchr(b'"', &b[j..]) {
                    Some(k) if j + k > start && b[j + k - 1] == b'\\' => j += k + 1,
                    Some(k) => break j + k,
                    None => break b.len(),
                }
            };
            record.push_field(&line[start..end]);
            i = (end + 1).min(b.len());
        } else {
            let end = memchr::memchr(b' ', &b[i..]).map_or(b.len(), |k| i + k);
            record.push_field(&line[i..end]);
            i = end;
        }
        // One separator.
        if i < b.len() && b[i] == b' ' {
            i += 1;
        }
    }
}

/// The largest JSON event the reader takes \[bytes\]: a REPORT event is a
/// few hundred.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// A streamed JSON array of log events (top level, or an object's
/// `events`; documents may follow one another, as pages of
/// `filter-log-events` appended to one file): each element's bytes found by
/// brace matching (strings and escapes respected), then parsed alone, so
/// memory holds one event, never the file.
pub struct JsonEvents<R> {
    inner: R,
    /// Inside the events array, and whether that array is an object's
    /// `events`.
    in_array: bool,
    in_object: bool,
    /// An events array was found.
    found_any: bool,
    done: bool,
    line: u64,
    buf: Vec<u8>,
}

/// One event, as [`JsonEvents::next_event`] gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    pub timestamp: String,
    pub message: String,
    pub log: String,
    /// The line the event starts on.
    pub line: u64,
}

impl<R: BufRead> JsonEvents<R> {
    /// The reader underneath.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn new(inner: R) -> Self {
        JsonEvents {
            inner,
            in_array: false,
            in_object: false,
            found_any: false,
            done: false,
            line: 1,
            buf: Vec::new(),
        }
    }

    fn byte(&mut self) -> std::io::Result<Option<u8>> {
        let b = {
            let chunk = self.inner.fill_buf()?;
            match chunk.first() {
                None => return Ok(None),
                Some(&b) => b,
            }
        };
        self.inner.consume(1);
        if b == b'\n' {
            self.line += 1;
        }
        Ok(Some(b))
    }

    /// The next event; `Ok(None)` after the last. Errors say what is wrong
    /// and where (file and line added by the caller).
    pub fn next_event(&mut self) -> std::result::Result<Option<Event>, (u64, String)> {
        let io = |line: u64| move |e: std::io::Error| (line, format!("cannot read: {e}"));
        if self.done {
            return Ok(None);
        }
        // Find the array: a top-level one, or the value of `"events"` in a
        // top-level object; documents may follow one another (pages of
        // `filter-log-events` appended to one file).
        'element: loop {
            while !self.in_array {
                if !self.find_array()? {
                    self.done = true;
                    if !self.found_any {
                        return Err((
                            self.line,
                            "no array of log events (expected `[...]` or `{\"events\": [...]}`; \
                         for `aws logs get-query-results` output, export the query's results \
                         as CSV or JSON from the console instead)"
                                .into(),
                        ));
                    }
                    return Ok(None);
                }
                self.found_any = true;
            }
            // Skip separators up to the next element or the end of the array.
            loop {
                match self.byte().map_err(io(self.line))? {
                    None => return Err((self.line, "the file ends inside the array".into())),
                    Some(b']') => {
                        self.in_array = false;
                        if self.in_object {
                            // The rest of the object holding `events`.
                            self.skip_to_depth_zero(1).map_err(|e| (self.line, e))?;
                        }
                        continue 'element;
                    }
                    Some(b'{') => break 'element,
                    Some(b) if b.is_ascii_whitespace() || b == b',' => {}
                    Some(b) => {
                        return Err((
                            self.line,
                            format!("expected a log event `{{...}}`, found `{}`", b as char),
                        ));
                    }
                }
            }
        }
        let line = self.line;
        self.buf.clear();
        self.buf.push(b'{');
        let (mut depth, mut in_string, mut escaped) = (1usize, false, false);
        while depth > 0 {
            let Some(b) = self.byte().map_err(io(line))? else {
                return Err((line, "the file ends inside a log event".into()));
            };
            if self.buf.len() >= MAX_EVENT_BYTES {
                return Err((
                    line,
                    format!("a log event longer than {MAX_EVENT_BYTES} bytes"),
                ));
            }
            self.buf.push(b);
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => depth -= 1,
                    _ => {}
                }
            }
        }
        #[derive(serde::Deserialize)]
        struct Raw {
            timestamp: Option<serde_json::Value>,
            #[serde(rename = "@timestamp")]
            at_timestamp: Option<String>,
            message: Option<String>,
            #[serde(rename = "@message")]
            at_message: Option<String>,
            #[serde(rename = "@log")]
            at_log: Option<String>,
            #[serde(rename = "logGroupName")]
            log_group: Option<String>,
        }
        let raw: Raw = serde_json::from_slice(&self.buf)
            .map_err(|e| (line + e.line() as u64 - 1, format!("not a log event: {e}")))?;
        let timestamp = match (raw.at_timestamp, raw.timestamp) {
            (Some(t), _) => t,
            (None, Some(serde_json::Value::Number(n))) => n.to_string(),
            (None, Some(serde_json::Value::String(s))) => s,
            _ => String::new(),
        };
        Ok(Some(Event {
            timestamp,
            message: raw.at_message.or(raw.message).unwrap_or_default(),
            log: raw.at_log.or(raw.log_group).unwrap_or_default(),
            line,
        }))
    }

    /// Moves to the next events array; `false` at the end of the file.
    fn find_array(&mut self) -> std::result::Result<bool, (u64, String)> {
        loop {
            let b = match self.byte() {
                Err(e) => return Err((self.line, format!("cannot read: {e}"))),
                Ok(None) => return Ok(false),
                Ok(Some(b)) => b,
            };
            match b {
                b if b.is_ascii_whitespace() => {}
                b'[' => {
                    self.in_object = false;
                    self.in_array = true;
                    return Ok(true);
                }
                b'{' => {
                    // Keys at depth 1 until `"events":`.
                    let (mut depth, mut key, mut at_key) = (1usize, Vec::new(), true);
                    loop {
                        let b = match self.byte() {
                            Err(e) => return Err((self.line, format!("cannot read: {e}"))),
                            Ok(None) => {
                                return Err((self.line, "the file ends inside an object".into()));
                            }
                            Ok(Some(b)) => b,
                        };
                        match b {
                            b'"' => {
                                let s = self.read_string().map_err(|e| (self.line, e))?;
                                if depth == 1 && at_key {
                                    key = s;
                                }
                            }
                            b':' if depth == 1 => {
                                at_key = false;
                                if key == b"events" {
                                    loop {
                                        match self.byte() {
                                            Ok(Some(b'[')) => break,
                                            Ok(Some(w)) if w.is_ascii_whitespace() => {}
                                            _ => {
                                                return Err((
                                                    self.line,
                                                    "`events` is not an array".into(),
                                                ));
                                            }
                                        }
                                    }
                                    self.in_object = true;
                                    self.in_array = true;
                                    return Ok(true);
                                }
                            }
                            b',' if depth == 1 => at_key = true,
                            b'{' | b'[' => depth += 1,
                            b'}' | b']' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                other => {
                    return Err((
                        self.line,
                        format!("expected a JSON array or object, found `{}`", other as char),
                    ));
                }
            }
        }
    }

    /// Reads to the end of the value `depth` levels deep (strings respected).
    fn skip_to_depth_zero(&mut self, mut depth: usize) -> std::result::Result<(), String> {
        while depth > 0 {
            match self.byte().map_err(|e| format!("cannot read: {e}"))? {
                None => return Err("the file ends inside an object".into()),
                Some(b'"') => self
                    .skip_string()
                    .map_err(|e| format!("cannot read: {e}"))?,
                Some(b'{' | b'[') => depth += 1,
                Some(b'}' | b']') => depth -= 1,
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// A string's raw bytes (after its opening quote), at most
    /// [`MAX_EVENT_BYTES`].
    fn read_string(&mut self) -> std::result::Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let mut escaped = false;
        loop {
            let b = self
                .byte()
                .map_err(|e| format!("cannot read: {e}"))?
                .ok_or("the file ends inside a string")?;
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => return Ok(out),
                _ => {}
            }
            if out.len() >= MAX_EVENT_BYTES {
                return Err(format!("a string longer than {MAX_EVENT_BYTES} bytes"));
            }
            out.push(b);
        }
    }

    fn skip_string(&mut self) -> std::io::Result<()> {
        let mut escaped = false;
        while let Some(b) = self.byte()? {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => return Ok(()),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Opens `file`, decompressing a `.gz` on the fly (every member of a
/// multi-member file, as `gzip -d` does).
pub fn open_bytes(file: &Path) -> Result<(Box<dyn Read + Send>, super::records::Stamp)> {
    let f = std::fs::File::open(file).map_err(|e| Error::io(file, "cannot read trace", e))?;
    let stamp = super::records::Stamp::of_open(&f, file)?;
    let inner: Box<dyn Read + Send> = if gzipped(file) {
        Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::with_capacity(1 << 16, f),
        ))
    } else {
        Box::new(f)
    };
    Ok((inner, stamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_aws_writes_them() {
        // 2018-07-02T22:22:48Z is 1530570168 s after the epoch.
        let base = 1_530_570_168i64 * 1_000_000_000;
        assert_eq!(
            parse_utc_ns("2018-07-02T22:22:48.364000Z"),
            Some(base + 364_000_000)
        );
        assert_eq!(
            parse_utc_ns("2018-07-02 22:22:48.364"),
            Some(base + 364_000_000)
        );
        assert_eq!(parse_utc_ns("2018-07-02T22:22:48Z"), Some(base));
        assert_eq!(
            parse_utc_ns("2018-07-03T00:22:48.5+02:00"),
            Some(base + 500_000_000)
        );
        assert_eq!(parse_utc_ns("1530570168364"), Some(base + 364_000_000));
        assert_eq!(
            parse_utc_ns("2000-02-29T00:00:00Z"),
            Some(951_782_400_000_000_000)
        );
        for bad in [
            "",
            "yesterday",
            "2018-13-02T22:22:48Z",
            "2019-02-29T00:00:00Z",
            "2018-07-02T25:00:00Z",
            "2018-07-02T22:22:48.Z",
            "2018-07-02T22:22:48+0200",
            "2018/07/02 22:22:48",
            "-",
            "1969-12-31T23:59:59Z",
            "2201-01-01T00:00:00Z",
            "99999999999999999",
        ] {
            assert_eq!(parse_utc_ns(bad), None, "{bad}");
        }
    }

    #[test]
    fn report_lines_tab_or_space_separated() {
        let tabs = "REPORT RequestId: 3604209a-e9a3-11e6-939a-754dd98c7be3\tDuration: 12.34 ms\tBilled Duration: 100 ms\tMemory Size: 128 MB\tMax Memory Used: 18 MB\tInit Duration: 150.00 ms\t";
        assert_eq!(
            parse_report(tabs),
            Some(Ok(Report {
                duration_ms: 12.34,
                memory_mb: Some(128.0),
                init_ms: Some(150.0)
            }))
        );
        let spaces = "2023-01-15T10:00:00.123Z REPORT RequestId: x Duration: 102.25 ms Billed Duration: 103 ms Memory Size: 512 MB Max Memory Used: 70 MB";
        assert_eq!(
            parse_report(spaces),
            Some(Ok(Report {
                duration_ms: 102.25,
                memory_mb: Some(512.0),
                init_ms: None
            }))
        );
        // Billed Duration alone is not the Duration.
        let no_duration = "REPORT RequestId: x Billed Duration: 103 ms Memory Size: 512 MB";
        assert_eq!(
            parse_report(no_duration),
            Some(Err(("Duration", "a REPORT line without a Duration")))
        );
        assert_eq!(parse_report("START RequestId: x Version: $LATEST"), None);
        assert!(matches!(
            parse_report("REPORT RequestId: x Duration: soon ms"),
            Some(Err(("Duration", _)))
        ));
    }

    #[test]
    fn alb_functions() {
        let r = "GET http://www.example.com:80/api/v1/orders?id=7 HTTP/1.1";
        assert_eq!(alb_path(r, None), "/api/v1/orders");
        assert_eq!(alb_path(r, Some(1)), "/api");
        assert_eq!(alb_path(r, Some(2)), "/api/v1");
        assert_eq!(alb_path(r, Some(9)), "/api/v1/orders");
        assert_eq!(alb_path("GET http://x.com:80/ HTTP/1.1", Some(1)), "/");
        assert_eq!(alb_path("- - - ", None), "/");
        assert_eq!(alb_host(r), "www.example.com");
        assert_eq!(
            alb_target_group(
                "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067"
            ),
            "my-targets"
        );
        assert_eq!(alb_target_group("-"), "-");
    }

    #[test]
    fn json_events_stream_from_both_exports() {
        let cli = br#"{"events": [
  {"logStreamName": "2023/01/15/[$LATEST]ab", "timestamp": 1673776800123, "message": "REPORT RequestId: a\tDuration: 1.5 ms\t{x}", "eventId": "1"},
  {"timestamp": 1673776800200, "message": "END RequestId: a"}
], "searchedLogStreams": []}"#;
        let mut r = JsonEvents::new(&cli[..]);
        let e = r.next_event().unwrap().unwrap();
        assert_eq!(e.timestamp, "1673776800123");
        assert!(e.message.contains("Duration: 1.5 ms"));
        assert_eq!(e.line, 2);
        assert_eq!(r.next_event().unwrap().unwrap().line, 3);
        assert_eq!(r.next_event().unwrap(), None);
        // `events` after another array, then a second page.
        let pages = br#"{"searchedLogStreams": [{"a": "[x"}], "events": [{"timestamp": 1, "message": "m1"}], "nextToken": "t"}
{"events": [{"timestamp": 2, "message": "m2"}]}"#;
        let mut r = JsonEvents::new(&pages[..]);
        assert_eq!(r.next_event().unwrap().unwrap().message, "m1");
        assert_eq!(r.next_event().unwrap().unwrap().message, "m2");
        assert_eq!(r.next_event().unwrap(), None);
        let results =
            br#"{"results": [[{"field": "@message", "value": "x"}]], "status": "Complete"}"#;
        let e = JsonEvents::new(&results[..]).next_event().unwrap_err();
        assert!(e.1.contains("no array of log events"), "{e:?}");
        let insights = br#"[{"@timestamp": "2023-01-15 10:00:00.123", "@message": "REPORT RequestId: b Duration: 2 ms", "@log": "123456789012:/aws/lambda/checkout"}]"#;
        let mut r = JsonEvents::new(&insights[..]);
        let e = r.next_event().unwrap().unwrap();
        assert_eq!(function_of_log(&e.log), "checkout");
        assert_eq!(e.timestamp, "2023-01-15 10:00:00.123");
        // A truncated file is an error, not an end.
        let cut = &insights[..insights.len() - 20];
        assert!(JsonEvents::new(cut).next_event().is_err());
    }

    #[test]
    fn alb_fields_split_as_quoted() {
        let mut r = super::super::csv_lines::Record::new();
        split_fields(
            r#"https 2018-07-02T22:23:00.186641Z app/lb 1.2.3.4:2817 - -1 -1 -1 502 - 34 366 "GET http://x.com:80/a?b=\"c d\" HTTP/1.1" "curl/7.46.0" - -"#,
            &mut r,
            ALB_FIELDS_READ,
        );
        assert_eq!(r.len(), 16);
        assert_eq!(&r[5], "-1");
        assert_eq!(&r[12], r#"GET http://x.com:80/a?b=\"c d\" HTTP/1.1"#);
        assert_eq!(&r[13], "curl/7.46.0");
        assert_eq!(&r[15], "-");
        // Fields past the limit are not split (nor looked at).
        r.clear();
        split_fields(r#"a "b c" d "e"#, &mut r, 2);
        assert_eq!((r.len(), &r[1]), (2, "b c"));
        let mut lines = LogLines::new(&b"a b\r\n\n\"x y\" z\n"[..], true);
        assert!(lines.read_record(&mut r).unwrap());
        assert_eq!((r.len(), r.line()), (2, 1));
        assert!(lines.read_record(&mut r).unwrap());
        assert_eq!((&r[0], &r[1], r.line()), ("x y", "z", 3));
        assert!(!lines.read_record(&mut r).unwrap());
        // A line past the cap (CR endings are no line breaks here) is an
        // error, not a buffer the size of the file.
        let long = vec![b'x'; super::super::MAX_LINE_BYTES + 10];
        let mut lines = LogLines::new(&long[..], false);
        let e = lines.read_record(&mut r).unwrap_err();
        assert!(e.1.to_string().contains("longer than"), "{e:?}");
    }

    #[test]
    fn stems_drop_gz_and_the_extension() {
        assert_eq!(stem(Path::new("logs/checkout.json.gz")), "checkout");
        assert_eq!(stem(Path::new("checkout.log")), "checkout");
        assert_eq!(stem(Path::new("checkout")), "checkout");
        assert_eq!(report_layout(Path::new("a.JSON.gz")), Layout::Json);
        assert_eq!(report_layout(Path::new("a.csv")), Layout::Header);
        assert_eq!(report_layout(Path::new("a.log.gz")), Layout::Lines);
    }
}
