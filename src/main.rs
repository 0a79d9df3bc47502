//! The `surgesim` binary: install the stop signal handler, parse arguments,
//! call the library, map errors to exit codes (2, or 130 when interrupted).

use std::process::ExitCode;

use surgesim::engine::CancelToken;

fn main() -> ExitCode {
    // SIGINT / SIGTERM: every run stops at its next look at the token and
    // nothing is written (files from earlier runs are untouched).
    let cancel = CancelToken::new();
    let on_signal = cancel.clone();
    let _ = ctrlc::set_handler(move || on_signal.cancel());
    match surgesim::cli::main_with_args(std::env::args_os(), &cancel) {
        Ok(code) => code,
        Err(surgesim::Error::Interrupted) => {
            eprintln!("error: {}", surgesim::Error::Interrupted);
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
