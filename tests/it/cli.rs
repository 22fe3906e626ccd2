//! The `arrjit` binary end to end: arguments in, printed arrays, `.npy`
//! files and exit statuses out.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use arrjit::npy::{read_npy, write_npy};
use arrjit::{Array, Data, Shape};

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("arrjit-cli-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `array` as `name` and returns the `NAME=PATH` argument.
    fn npy(&self, name: &str, array: &Array) -> String {
        let path = self.path(&format!("{name}.npy"));
        write_npy(&path, array).unwrap();
        format!("{name}={}", path.display())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn arrjit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arrjit"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs and checks success; returns stdout.
fn ok(args: &[&str]) -> String {
    let out = arrjit(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// Runs and checks exit status 2; returns stderr.
fn user_error(args: &[&str]) -> String {
    let out = arrjit(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// The caret line under a span: `  |     ^^^`.
fn has_caret(err: &str) -> bool {
    err.lines()
        .any(|l| l.trim_start().starts_with('|') && l.trim_end().ends_with('^'))
}

fn vector(v: &[f64]) -> Array {
    Array::from_data(Data::F64(v.to_vec()), Shape::vector(v.len())).unwrap()
}

fn arange(n: usize) -> Array {
    vector(&(0..n).map(|k| k as f64).collect::<Vec<_>>())
}

#[test]
fn evaluates_and_prints_like_numpy() {
    let dir = Scratch::new("print");
    let a = dir.npy("a", &arange(5));
    assert_eq!(ok(&["eval", "a * 2 + 1", &a]), "[1. 3. 5. 7. 9.]\n");
    assert_eq!(
        ok(&["eval", "a > 2", &a]),
        "[False False False  True  True]\n"
    );
    for mode in ["--unfused", "--interpret"] {
        assert_eq!(ok(&["eval", mode, "a * 2 + 1", &a]), "[1. 3. 5. 7. 9.]\n");
    }
}

#[test]
fn scalars_on_the_command_line() {
    assert_eq!(ok(&["eval", "a * b", "a=2", "b=2.5"]), "5.0\n");
    assert_eq!(ok(&["eval", "x + 1", "x=3"]), "4\n");
    assert_eq!(ok(&["eval", "x * 1000", "x=1e-3"]), "1.0\n");
    assert_eq!(ok(&["eval", "x + 1", "x=nan"]), "nan\n");
    assert_eq!(ok(&["eval", "x", "x=-inf"]), "-inf\n");
    assert_eq!(ok(&["eval", "t & u", "t=true", "u=false"]), "False\n");
    // An expression may start with `-`.
    assert_eq!(ok(&["eval", "-x * 2", "x=3"]), "-6\n");
}

#[test]
fn writes_npy_output() {
    let dir = Scratch::new("output");
    let a = dir.npy("a", &arange(5));
    let out = dir.path("out.npy");
    let out_s = out.to_str().unwrap();
    assert_eq!(ok(&["eval", "a * 2 + 1", &a, "-o", out_s]), "");
    let back = read_npy(&out).unwrap();
    assert_eq!(back.shape, [5]);
    assert_eq!(back.data, Data::F64(vec![1.0, 3.0, 5.0, 7.0, 9.0]));
    // `-o` may come first; a scalar result is a 0-d array.
    assert_eq!(ok(&["eval", "-o", out_s, "x * 2", "x=3"]), "");
    let back = read_npy(&out).unwrap();
    assert!(back.shape.is_empty());
    assert_eq!(back.data, Data::I64(vec![6]));
}

/// A version 1.0 `.npy` file with `header` as its dict text, then `data`,
/// written byte by byte (for layouts and dtypes the writer never produces).
fn raw_npy(path: &Path, header: &str, data: &[u8]) {
    let mut header = header.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

/// A 2x3 f64 `.npy` file in Fortran order holding [[0, 1, 2], [3, 4, 5]].
fn fortran_npy(path: &Path) {
    let data: Vec<u8> = [0.0f64, 3.0, 1.0, 4.0, 2.0, 5.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    raw_npy(
        path,
        "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
        &data,
    );
}

#[test]
fn fortran_order_input_matches_c_order() {
    let dir = Scratch::new("fortran");
    let f = dir.path("f.npy");
    fortran_npy(&f);
    let c = Array::from_data(
        Data::F64(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
        Shape::matrix(2, 3),
    )
    .unwrap();
    let c = dir.npy("m", &c);
    let f = format!("m={}", f.display());
    for expr in ["m * 10 + 1", "m + m * m"] {
        let from_c = ok(&["eval", expr, &c]);
        assert_eq!(ok(&["eval", expr, &f]), from_c, "{expr}");
    }
    assert_eq!(
        ok(&["eval", "m * 10", &f]),
        "[[ 0. 10. 20.]\n [30. 40. 50.]]\n"
    );
}

#[test]
fn source_errors_show_a_caret() {
    let dir = Scratch::new("source-errors");
    let a = dir.npy("a", &arange(5));
    let syntax = user_error(&["eval", "a * ", &a]);
    assert!(has_caret(&syntax), "{syntax}");
    assert!(syntax.contains("<expr>:1:"), "{syntax}");

    let unknown_name = user_error(&["eval", "a * bee", &a]);
    assert!(
        has_caret(&unknown_name) && unknown_name.contains("bee"),
        "{unknown_name}"
    );

    let unknown_fn = user_error(&["eval", "sqr(a)", &a]);
    assert!(has_caret(&unknown_fn), "{unknown_fn}");
    assert!(unknown_fn.contains("sqrt"), "{unknown_fn}");

    let missing = user_error(&["eval", "a + b", &a]);
    assert!(has_caret(&missing) && missing.contains('b'), "{missing}");
}

#[test]
fn file_and_value_errors_name_them() {
    let dir = Scratch::new("file-errors");
    let big_path = dir.path("big.npy");
    raw_npy(
        &big_path,
        "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }",
        &1.0f64.to_be_bytes(),
    );
    let err = user_error(&["eval", "a + 1", &format!("a={}", big_path.display())]);
    assert!(err.contains("big.npy"), "{err}");
    assert!(err.contains("big-endian"), "{err}");
    assert!(err.contains("astype('<f8')"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    let text = dir.path("text.npy");
    std::fs::write(&text, "hello").unwrap();
    let err = user_error(&["eval", "a + 1", &format!("a={}", text.display())]);
    assert!(
        err.contains("text.npy") && err.contains("not a .npy file"),
        "{err}"
    );

    let missing = dir.path("missing.npy");
    let err = user_error(&["eval", "a + 1", &format!("a={}", missing.display())]);
    assert!(
        err.contains("missing.npy") && err.contains("no such file"),
        "{err}"
    );

    let err = user_error(&["eval", "-f", missing.to_str().unwrap(), "a=1"]);
    assert!(err.contains("missing.npy"), "{err}");

    let err = user_error(&["eval", "a + 1", "a"]);
    assert!(err.contains("NAME=VALUE"), "{err}");
    let err = user_error(&["eval", "a + 1", "a=1", "a=2"]);
    assert!(err.contains("twice"), "{err}");
}

#[test]
fn kernel_files() {
    let dir = Scratch::new("kernels");
    let file = dir.path("k.arr");
    std::fs::write(
        &file,
        "kernel one(x: f64[n]) -> (y: f64[n]) {\n    y = x * 2\n}\n\
         kernel two(x: f64[n]) -> (y: f64[n], z: f64[n]) {\n    y = x + 1\n    z = x - 1\n}\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let x = dir.npy("x", &arange(3));
    // Two kernels and no -k: the error lists them.
    let err = user_error(&["eval", "-f", f, &x]);
    assert!(err.contains("one") && err.contains("two"), "{err}");
    let err = user_error(&["eval", "-f", f, "-k", "tow", &x]);
    assert!(err.contains("two"), "{err}");
    let err = user_error(&["eval", "-f", f, "-k", "two", &x, "-o", "w=out.npy"]);
    assert!(err.contains("no output `w`"), "{err}");

    // Outputs print as `name = array`; -o OUT=PATH writes that output
    // instead of printing it.
    assert_eq!(
        ok(&["eval", "-f", f, "-k", "two", &x]),
        "y = [1. 2. 3.]\nz = [-1.  0.  1.]\n"
    );
    let z = dir.path("z.npy");
    let z_arg = format!("z={}", z.display());
    assert_eq!(
        ok(&["eval", "-f", f, "-k", "two", &x, "-o", &z_arg]),
        "y = [1. 2. 3.]\n"
    );
    assert_eq!(read_npy(&z).unwrap().data, Data::F64(vec![-1.0, 0.0, 1.0]));

    let bad = dir.path("bad.arr");
    std::fs::write(
        &bad,
        "kernel k(x: f64[n]) -> (y: f64[n]) {\n    y = x *\n}\n",
    )
    .unwrap();
    let err = user_error(&["eval", "-f", bad.to_str().unwrap(), &x]);
    assert!(err.contains("bad.arr:3:1"), "{err}");
    assert!(has_caret(&err), "{err}");
}

/// The kernels shipped in `examples/kernels.ak` (the language reference's)
/// run from the command line.
#[test]
fn example_kernels_run() {
    let dir = Scratch::new("example-kernels");
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/kernels.ak");
    let x = dir.npy("x", &vector(&[3.0, 1.0, 4.0, 1.0, 5.0]));
    assert_eq!(
        ok(&["eval", "-f", file, "-k", "ewma", &x, "alpha=0.5"]),
        "y = [3.  2.  3.  2.  3.5]\n"
    );
    assert_eq!(
        ok(&["eval", "-f", file, "-k", "running_max", &x]),
        "y = [3. 3. 4. 4. 5.]\n"
    );
    let out = ok(&["eval", "-f", file, "-k", "zscore", &x, "w=2"]);
    assert!(
        out.starts_with("z = [nan -1.  1. -1.  1.]\nlo = -1.0\nhi = 1.0"),
        "{out}"
    );
}

#[test]
fn pathological_sources_fail_fast() {
    let dir = Scratch::new("pathological");
    let n = 100_000;
    let nested = format!("{}a{}", "(".repeat(n), ")".repeat(n));
    let sum = vec!["a"; n].join(" + ");
    for (name, body) in [("nested", &nested), ("sum", &sum)] {
        // Too long for one command-line argument (Linux caps one at 128 KB),
        // so the expression goes through a kernel file.
        let file = dir.path(&format!("{name}.arr"));
        std::fs::write(
            &file,
            format!("kernel k(a: f64) -> (y: f64) {{\n    y = {body}\n}}\n"),
        )
        .unwrap();
        let start = Instant::now();
        let err = user_error(&["eval", "-f", file.to_str().unwrap(), "a=1"]);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{name}: too slow"
        );
        // The long line is shown as an excerpt, not copied whole.
        assert!(err.len() < 2_000, "{name}: {} bytes of error", err.len());
    }
    // As long a single argument as the OS allows, in expression mode.
    let nested = format!("{}a{}", "(".repeat(60_000), ")".repeat(60_000));
    let err = user_error(&["eval", &nested, "a=1"]);
    assert!(has_caret(&err), "{err}");
    let sum = vec!["a"; 30_000].join("+");
    let err = user_error(&["eval", &sum, "a=1"]);
    assert!(has_caret(&err), "{err}");
}
