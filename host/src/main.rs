//! The `weir` command: a thin shell around [`weir::cli`].

fn main() -> std::process::ExitCode {
    weir::cli::main()
}
