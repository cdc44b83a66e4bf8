fn main() -> std::process::ExitCode {
    kiln_runner::cli::main()
}
