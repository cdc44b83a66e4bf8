/// glibc's allocator hands large tensor buffers back to the kernel after every step, and the
/// page faults of getting them again cost about a tenth of a CNN's training time; mimalloc
/// keeps them, and is told never to give freed pages back (`platform::allocator`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kiln_runner::cli::main()
}
