//! `arrjit repl` scripted through stdin, and `arrjit explain`.
//!
//! Timings and addresses change from run to run; they are masked before
//! output is compared with a snapshot.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use expect_test::expect;

/// The session's stdout and stderr interleaved as a person sees them, and
/// the exit status.
fn repl(script: &str, dir: Option<&PathBuf>) -> (String, Option<i32>) {
    // `2>&1` in a shell keeps stdout and stderr in one ordered stream.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("exec \"$0\" repl --no-history 2>&1")
        .arg(env!("CARGO_BIN_EXE_arrjit"))
        .env("NO_COLOR", "1")
        // The default thread count, as `:set` shows it.
        .env("ARRJIT_NUM_THREADS", "2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    )
}

fn explain(args: &[&str]) -> (String, String, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_arrjit"))
        .arg("explain")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

/// Every number on a timing line (and on the code-size line, which depends
/// on the CPU features Cranelift finds) replaced by `#`.
fn mask_timings(text: &str) -> String {
    text.lines()
        .map(|line| {
            let timing = [
                "fused ",
                "unfused ",
                "fusion:",
                "compile time",
                "compiled kernels",
            ]
            .iter()
            .any(|p| line.starts_with(p));
            if !timing {
                return line.to_string();
            }
            let mut out = String::new();
            let mut in_number = false;
            for c in line.chars() {
                if c.is_ascii_digit() || (in_number && c == '.') {
                    if !in_number {
                        out.push('#');
                    }
                    in_number = true;
                } else {
                    in_number = false;
                    out.push(c);
                }
            }
            // Column padding depends on the numbers' widths.
            out.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const KERNELS: &str = "\
kernel ewma(x: f64[n], alpha: f64) -> (y: f64[n]) {
    y[0] = x[0]
    y[i] = alpha * x[i] + (1 - alpha) * y[i-1]
}
kernel zscore(x: f64[n], w: i64) -> (z: f64[n], lo: f64, hi: f64) {
    let m = rolling_mean(x, w)
    let s = rolling_std(x, w)
    z = (x - m) / s
    lo = nanmin(z)
    hi = nanmax(z)
}
";

#[test]
fn scripted_session() {
    let script = format!(
        "\
x = randn(100_000)
x[0:3]
y = 2 * x + 1
:type y > 0
{KERNELS}
s = ewma(x, 0.1)
mean(ewma(x, 0.5) - x)
e = 1
z, lo, hi = zscore(x, 100)
lo
:type zscore(x, 100)
zscore(x, w=0.5)
a = rand(50_000)
b = rand(50_000)
c = rand(50_000)
:time 2*a + 3*b**2 - sqrt(c)
:explain --plan 2*a + 3*b**2 - sqrt(c)
:explain --ast --ir sum(a * b)
:vars
:set mode unfused
:set threads 4
2*a[:3]
arange(5) * 2
f32(randn(2, 3))
:type zeros(3) < ewma(ones(3), 0.5)
linspace(0, 1, 5)
:cache
"
    );
    let (out, status) = repl(&script, None);
    expect![[r#"
        x: f64, shape (100000,)
        error: unexpected `:`
          --> <repl>:1:4
          |
        1 | x[0:3]
          |    ^
          |
          = note: expected one of: `]`, an operator

        y: f64, shape (100000,)
        bool, shape (100000,)
        defined ewma(x: f64[n], alpha: f64) -> (y: f64[n])
        defined zscore(x: f64[n], w: i64) -> (z: f64[n], lo: f64, hi: f64)
        s: f64, shape (100000,)
        -1.864673180038409e-05
        f64, shape ()
        error: `e` is a constant of the language; choose another name
          --> <repl>:1:1
          |
        1 | e = 1
          | ^

        z: f64, shape (100000,)
        lo: f64, shape ()
        hi: f64, shape ()
        -3.915719687199207
        f64, shape ()
        z: f64, shape (100000,)
        lo: f64, shape ()
        hi: f64, shape ()
        error: `w` is declared i64, but the call passes f64
          --> <kernel zscore>:1:29
          |
        1 | kernel zscore(x: f64[n], w: i64) -> (z: f64[n], lo: f64, hi: f64) {
          |                             ^^^
          |
          = note: in kernel `zscore`, parameter `w: i64`

        a: f64, shape (50000,)
        b: f64, shape (50000,)
        c: f64, shape (50000,)
        fused compile # ms run # ms (best of #) # GB/s
        unfused compile # ms run # ms (best of #) # GB/s
        fusion: #x the speed of unfused (# MiB read and written per run)
        == fusion plan ==
        b0: f64 input 0, shape of v0
        b1: f64 input 1, shape of v3
        b2: f64 input 2, shape of v8
        b3: f64 output 0, shape of v10
        loop 0 over shape of v10 (rank 1):
          load    v0@b0 v3@b1 v8@b2
          compute v2 v4 v6 v7 v9 v10
          store   v10@b3
        1 loop(s), 0 temporary buffer(s)
        == syntax tree ==
        call sum @0..10
          binary * @4..9
            name a @4..5
            name b @8..9

        == typed IR ==
        in0 a: f64[n]
        in1 b: f64[n]
        v0: f64[n] = input in0
        v1: f64[n] = input in1
        v2: f64[n] = mul v0, v1
        v3: f64 = sum v2 all
        return v3
        a   f64 (50000,)         390.6 KiB
        b   f64 (50000,)         390.6 KiB
        c   f64 (50000,)         390.6 KiB
        hi  f64 ()               8 B
        lo  f64 ()               8 B
        s   f64 (100000,)        781.2 KiB
        x   f64 (100000,)        781.2 KiB
        y   f64 (100000,)        781.2 KiB
        z   f64 (100000,)        781.2 KiB
        kernel ewma(x: f64[n], alpha: f64) -> (y: f64[n])
        kernel zscore(x: f64[n], w: i64) -> (z: f64[n], lo: f64, hi: f64)
        mode unfused (compile cache emptied)
        threads 4 (compile cache emptied)
        error: unexpected `:`
          --> <repl>:1:5
          |
        1 | 2*a[:3]
          |     ^
          |
          = note: expected an expression

        [0 2 4 6 8]
        i64, shape (5,)
        [[-1.012439   0.4382247  1.6763188]
         [-1.5353332 -0.8723521 -1.7077792]]
        f32, shape (2, 3)
        bool, shape (3,)
        [0.   0.25 0.5  0.75 1.  ]
        f64, shape (5,)
        hits 3, misses 11, evictions 0
        compiled kernels # (capacity #), code # bytes
        compile time # ms in total"#]]
    .assert_eq(&mask_timings(&out));
    assert_eq!(status, Some(2), "errors make the exit status 2");
}

/// The sections of an explanation, by heading.
fn section<'a>(text: &'a str, title: &str) -> &'a str {
    let start = text
        .find(&format!("== {title}"))
        .unwrap_or_else(|| panic!("no section {title} in:\n{text}"));
    let body = &text[start..];
    let body = &body[body.find('\n').map_or(body.len(), |k| k + 1)..];
    &body[..body.find("\n== ").map_or(body.len(), |k| k + 1)]
}

#[test]
fn explain_of_the_seed_expression_shows_one_loop_and_its_code() {
    let (out, status) = repl(
        "a = rand(10)\nb = rand(10)\nc = rand(10)\n:explain 2*a + 3*b**2 - sqrt(c)\n",
        None,
    );
    assert_eq!(status, Some(0), "{out}");
    let plan = section(&out, "fusion plan");
    assert_eq!(
        plan.lines().filter(|l| l.starts_with("loop ")).count(),
        1,
        "{plan}"
    );
    assert!(plan.contains("1 loop(s), 0 temporary buffer(s)"), "{plan}");
    let clif = section(&out, "Cranelift IR");
    assert!(clif.starts_with("function "), "{clif}");
    for op in ["sqrt", "fmul", "fadd", "fsub", "brif"] {
        assert!(clif.contains(op), "no {op} in\n{clif}");
    }
    let asm = section(&out, "machine code");
    if cfg!(target_arch = "x86_64") {
        // The vector loop (packed square roots) and its scalar tail, each
        // a label and a branch back to it; then the return (and the
        // constant pool, if any).
        assert!(asm.contains(".L0:"), "{asm}");
        assert!(asm.contains("sqrtpd"), "{asm}");
        assert!(asm.contains("sqrtsd"), "{asm}");
        assert!(asm.contains("jne .L0"), "{asm}");
        assert!(asm.lines().any(|l| l.trim_end().ends_with("ret")), "{asm}");
    } else {
        assert!(asm.contains("disassembly not available"), "{asm}");
    }
}

#[test]
fn explain_cli_selects_sections() {
    let expr = "2*a + 3*b**2 - sqrt(c)";
    let (all, _, status) = explain(&[expr]);
    assert_eq!(status, Some(0));
    let titles: Vec<&str> = all.lines().filter(|l| l.starts_with("== ")).collect();
    assert_eq!(titles.len(), 5, "{titles:?}");
    for (t, want) in titles.iter().zip([
        "syntax tree",
        "typed IR",
        "fusion plan",
        "Cranelift IR",
        "machine code",
    ]) {
        assert!(t.starts_with(&format!("== {want}")), "{t}");
    }

    let (plan, _, _) = explain(&[expr, "--plan"]);
    assert!(plan.starts_with("== fusion plan ==\n"), "{plan}");
    assert_eq!(plan.matches("== ").count(), 1);

    let (two, _, _) = explain(&["--clif", expr, "--ast"]);
    let titles: Vec<&str> = two.lines().filter(|l| l.starts_with("== ")).collect();
    assert_eq!(titles, ["== syntax tree ==", "== Cranelift IR =="]);

    // Input types: an f32 input makes f32 IR; unfused makes one loop per op.
    let (ir, _, _) = explain(&["a * 2.0", "a:f32[n]", "--ir"]);
    assert!(ir.contains("v2: f32[n] = mul"), "{ir}");
    let (unfused, _, _) = explain(&[expr, "--plan", "--unfused"]);
    assert!(unfused.contains("6 loop(s)"), "{unfused}");

    // Constants read from the constant pool are shown with their value.
    if cfg!(target_arch = "x86_64") {
        let (asm, _, _) = explain(&["floor(x) + 0.1", "--asm"]);
        assert!(asm.contains("; 0.1\n"), "{asm}");
        assert!(asm.contains("constants ("), "{asm}");
    }

    // An expression may start with `-`.
    let (neg, _, status) = explain(&["-x**2", "--ast"]);
    assert_eq!(status, Some(0));
    assert!(
        neg.starts_with("== syntax tree ==\nunary - @0..5\n"),
        "{neg}"
    );

    // Kernels from a file.
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/kernels.ak");
    let (k, _, status) = explain(&["-f", file, "-k", "zscore", "--ast", "--plan"]);
    assert_eq!(status, Some(0));
    assert!(k.contains("kernel zscore(x: f64[n], w: i64)"), "{k}");
    assert!(k.contains("loop(s)"), "{k}");
    let (k, _, status) = explain(&["-f", file, "-k", "ewma", "--asm"]);
    assert_eq!(status, Some(0));
    assert!(k.starts_with("== machine code ("), "{k}");
}

#[test]
fn explain_cli_errors() {
    let (_, err, status) = explain(&["a +"]);
    assert_eq!(status, Some(2));
    assert!(
        err.contains("unexpected end of input") && err.contains("^"),
        "{err}"
    );
    let (_, err, status) = explain(&["a * 2", "a:f33"]);
    assert_eq!(status, Some(2));
    assert!(err.contains("a type is a dtype"), "{err}");
    let (_, err, status) = explain(&["a * 2", "b:f32"]);
    assert_eq!(status, Some(2));
    assert!(err.contains("`b` is not an input"), "{err}");
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/kernels.ak");
    let (_, err, status) = explain(&["-f", file]);
    assert_eq!(status, Some(2));
    assert!(err.contains("choose one with -k"), "{err}");
    let (_, err, status) = explain(&["-f", file, "-k", "ewm"]);
    assert_eq!(status, Some(2));
    assert!(err.contains("did you mean `ewma`"), "{err}");
}

#[test]
fn errors_do_not_end_the_session_and_bad_input_never_panics() {
    let junk = [
        ")",
        "x = ",
        "= 3",
        "x y = 2",
        "sum = 1",
        "rand = 1",
        "a, b = 1",
        "kernel",
        "kernel f(x: f64[n]) -> (y: f64[n]) { y = x + q }",
        "load(3)",
        "load(\"/nonexistent/f.npy\")",
        "save(1)",
        "rand(-1)",
        "zeros(1e20)",
        "zeros(1 << 62)",
        "ones(1_000_000_000_000, 1_000_000_000_000)",
        "arange(0, 1, 0)",
        "linspace(0, 1, -3)",
        "\"",
        ":",
        ":nope",
        ":set",
        ":set mode",
        ":set mode fast",
        ":set fastmath maybe",
        ":set cache 0",
        ":explain",
        ":explain --bogus x",
        ":time",
        ":type",
        ":type rand(3)",
        "f(x)",
        "randm(3)",
        "x",
        "1 +",
        "((((",
    ];
    let mut script = junk.join("\n");
    script.push_str("\n))))\n2 + 2\n");
    let (out, status) = repl(&script, None);
    assert_eq!(status, Some(2), "{out}");
    assert!(
        !out.contains("panicked") && !out.contains("internal error"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("4\ni64, shape ()"), "{out}");
    assert!(out.contains("no variable named `x`"), "{out}");
    assert!(out.contains("did you mean `rand`"), "{out}");
    assert!(out.contains("`sum` is a function of the language"), "{out}");
}

#[test]
fn load_save_and_settings() {
    let dir = std::env::temp_dir().join(format!("arrjit-repl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("k.ak"), KERNELS).unwrap();
    std::fs::write(
        dir.join("bad.ak"),
        "kernel f(x: f64[n]) -> (y: f64[n]) {\n    y = x +\n}\n",
    )
    .unwrap();
    let (out, status) = repl(
        ":load k.ak\new = ewma(ones(3), 0.5)\n:load bad.ak\n:load nope.ak\n\
         x = arange(6)\nsave(x * 2, \"y.npy\")\ny = load(\"y.npy\")\ny + 1\n\
         :set seed 7\nr1 = rand(3)\n:set seed 7\nr2 = rand(3)\nall(r1 == r2)\n\
         :set mode interpret\nsum(y)\n:set\np, q = arange(2), ones(2)\np, q = q, p\np\n:quit\n1 + 1\n",
        Some(&dir),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(status, Some(2), "{out}");
    expect![[r#"
        defined ewma(x: f64[n], alpha: f64) -> (y: f64[n])
        defined zscore(x: f64[n], w: i64) -> (z: f64[n], lo: f64, hi: f64)
        ew: f64, shape (3,)
        error: unexpected `}`
          --> bad.ak:3:1
          |
        3 | }
          | ^
          |
          = note: expected an expression

        error: nope.ak: no such file
          --> <repl>:1:7
          |
        1 | :load nope.ak
          |       ^^^^^^^

        x: i64, shape (6,)
        saved i64, shape (6,) to y.npy
        y: i64, shape (6,)
        [ 1  3  5  7  9 11]
        i64, shape (6,)
        seed 7 (random generators restarted)
        r1: f64, shape (3,)
        seed 7 (random generators restarted)
        r2: f64, shape (3,)
        True
        bool, shape ()
        mode interpret (compile cache emptied)
        30
        i64, shape ()
        mode interpret
        opt speed
        verify off
        cache 256
        seed 7
        threads 2
        fastmath off
        p: i64, shape (2,)
        q: f64, shape (2,)
        p: f64, shape (2,)
        q: i64, shape (2,)
        [1. 1.]
        f64, shape (2,)
    "#]]
    .assert_eq(&out);
}
