//! `cargo test` entry point of the checks. A custom main (`harness = false`) runs every check
//! from the main thread of a single-threaded process, so that forking and creating user,
//! mount and PID namespaces are safe; libtest's name filters and nextest's flags still work.

fn main() {
    nsconform_suites::run_exec_helper_if_asked();
    nsconform_suites::sweep_leftovers();
    nsconform_harness::main(&nsconform_suites::all())
}
