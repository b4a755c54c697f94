fn main() -> std::process::ExitCode {
    keyplan::run().into()
}
