// mimalloc: the compiler and the ledger allocate many small objects; it
// cuts cook time on large formulas by a measurable margin (see benches).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Behave like a Unix filter: `bd ... | head` ends quietly when the
    // reader goes away, instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(gastown::cli::bd::main());
}
