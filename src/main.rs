/// mimalloc rather than the system allocator: a plan allocates many small, short-lived values
/// (TOML nodes, listed keys), and mimalloc cut keyplan's own CPU per 5,000-key plan by a fifth
/// (docs/performance.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    keyplan::run().into()
}
