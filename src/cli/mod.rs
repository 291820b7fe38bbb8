//! Command-line front ends. Parsing and rendering only; no business logic.
pub mod bd;
pub mod bd_dep;
pub mod bd_epic;
pub mod bd_issue;
pub mod bd_json;
pub mod bd_mol;
pub mod bd_ops;
pub mod bd_sync;
pub mod formula;
pub mod formula_pkg;
pub mod gt;
pub mod gt_agent;
pub mod gt_complete;
pub mod gt_convoy;
pub mod gt_coord;
pub mod gt_crew;
pub mod gt_daemon;
pub mod gt_dashboard;
pub mod gt_doctor;
pub mod gt_dog;
pub mod gt_feed;
pub mod gt_mail;
pub mod gt_mol;
pub mod gt_mq;
pub mod gt_ops;
pub mod gt_patrol;
pub mod gt_roles;
pub mod gt_run;
pub mod gt_town;
pub mod gt_upkeep;
pub mod gt_work;
pub mod mol_step;

/// Run a command; a panic becomes exit code 3 with a request to report it,
/// never a raw backtrace dump as the only output.
/// `--allow-modified` reaches every cook in this process and its children
/// through the environment (see `packages::lock::allow_modified`).
pub fn export_allow_modified(allow: bool) {
    if allow {
        // SAFETY: called right after parsing arguments, before any thread.
        std::env::set_var(crate::packages::lock::ALLOW_MODIFIED_ENV, "1");
    }
}

pub fn run_guarded(f: impl FnOnce() -> i32 + std::panic::UnwindSafe) -> i32 {
    match std::panic::catch_unwind(f) {
        Ok(code) => code,
        Err(_) => {
            eprintln!("error: internal error (this is a bug in gt/bd; please report it with the command you ran)");
            formula::EXIT_INTERNAL
        }
    }
}

/// The body of each binary's `main`: behave like a Unix filter (`gt ... |
/// head` ends quietly when the reader goes away, instead of panicking on a
/// broken pipe), run the command, exit with its code.
pub fn exit_with(main: fn() -> i32) -> ! {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(main())
}
