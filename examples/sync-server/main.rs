//! (being built) `cargo run --example sync-server`.

fn main() {}
