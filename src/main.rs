//! The `surgesim` binary: install the stop signal handler, parse arguments,
//! call the library, map errors to exit codes (2, or 130 when interrupted).

use std::process::ExitCode;

use surgesim::console;
use surgesim::engine::CancelToken;
use surgesim::files;

fn main() -> ExitCode {
    // The helper this binary starts to remove a large staging folder after
    // an interrupted run has exited (surgesim::files::remove_large_staging_with).
    let mut args = std::env::args_os();
    if args.nth(1).as_deref() == Some(std::ffi::OsStr::new(files::REMOVE_STAGING_COMMAND)) {
        let (Some(path), None) = (args.next(), args.next()) else {
            console::note(format_args!(
                "usage: surgesim {} FOLDER",
                files::REMOVE_STAGING_COMMAND
            ));
            return ExitCode::from(2);
        };
        return match files::remove_staging_folder(std::path::Path::new(&path)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                console::note(format_args!("error: {e}"));
                ExitCode::from(2)
            }
        };
    }
    // On Linux the running executable itself, even if its file has been
    // replaced or removed since it started.
    let own = std::path::Path::new("/proc/self/exe");
    let exe = if cfg!(target_os = "linux") && own.exists() {
        Ok(own.to_path_buf())
    } else {
        std::env::current_exe()
    };
    if let Ok(exe) = exe {
        files::remove_large_staging_with(exe);
    }
    // SIGINT / SIGTERM: every run stops at its next look at the token and
    // nothing is written (files from earlier runs are untouched).
    let cancel = CancelToken::new();
    let on_signal = cancel.clone();
    let _ = ctrlc::set_handler(move || on_signal.cancel());
    match surgesim::cli::main_with_args(std::env::args_os(), &cancel) {
        Ok(code) => code,
        Err(surgesim::Error::Interrupted) => {
            console::note(format_args!("error: {}", surgesim::Error::Interrupted));
            ExitCode::from(130)
        }
        Err(e) => {
            console::note(format_args!("error: {e}"));
            ExitCode::from(2)
        }
    }
}
