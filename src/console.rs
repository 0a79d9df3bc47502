//! The terminal, written without panicking. `println!` panics when the
//! reader of stdout has gone (`surgesim run ... | head -1` closes the pipe
//! after one line): the summary table and the notes go through here instead,
//! so a closed pipe costs the reader nothing but the lines they did not read.

use std::io::Write;

use crate::error::{Error, Result};

/// Writes `text` to stdout. A reader that went away (a broken pipe) is not an
/// error: the run's outputs are its files, written before anything is
/// printed. Any other failure (a full disk under `> file`) is.
pub fn out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::io("<stdout>", "writing", e))
        }
        _ => Ok(()),
    }
}

/// Writes one line to stderr, dropping it if stderr cannot take it: a note
/// or an error message has nowhere else to go.
pub fn note(line: std::fmt::Arguments) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}
