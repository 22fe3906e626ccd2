//! `arrjit bench`: the benchmark harness (issue 5; not built yet).

use clap::Args;

use arrjit::{Error, ErrorKind};

#[derive(Args)]
pub struct BenchArgs {
    /// Extra expressions to measure beside the built-in workloads.
    #[arg(value_name = "EXPR")]
    pub exprs: Vec<String>,
}

pub fn run(args: BenchArgs) -> Result<(), Error> {
    let _ = args.exprs;
    Err(Error::new(
        ErrorKind::Unsupported,
        "`arrjit bench` is not built yet",
    ))
}
