//! The integration tests, in one binary (as regex and ripgrep do):
//! `cargo test --release --test it [module]`.

mod accuracy;
mod api;
mod bench_cli;
mod cases;
mod cli;
mod codegen_paths;
mod fuzz;
mod hostile;
mod kernels;
mod lane_props;
mod props;
mod repl;
mod snapshots;
mod stress;
mod threads;
mod util;
mod vmath;
