// mimalloc: the compiler and the ledger allocate many small objects; it
// cuts cook time on large formulas by a measurable margin (see benches).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    gastown::cli::exit_with(gastown::cli::gt::main)
}
