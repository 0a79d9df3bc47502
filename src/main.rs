//! The `surgesim` binary: parse arguments, call the library, map errors to exit code 2.

use std::process::ExitCode;

fn main() -> ExitCode {
    match surgesim::cli::main_with_args(std::env::args_os()) {
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
