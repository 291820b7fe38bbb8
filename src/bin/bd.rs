fn main() {
    std::process::exit(gastown::cli::bd::main());
}
