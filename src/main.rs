//! The `dockhand` command line. (Stub.)
fn main() {}
