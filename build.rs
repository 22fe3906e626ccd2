//! Build script: generates the LR(1) parser from `grammar/arrjit.lalrpop`
//! into `$OUT_DIR/arrjit.rs` (included by `src/parse.rs`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The whole directory, so that a grammar added later is picked up too.
    println!("cargo:rerun-if-changed=grammar");
    lalrpop::Configuration::new()
        .set_in_dir("grammar")
        .emit_rerun_directives(true)
        .process()
        .expect("lalrpop failed to process grammar/arrjit.lalrpop");
}
