//! A catalogue of hostile inputs: source text, kernel files, `.npy` files and
//! API calls with bad shapes, strides and buffers. Each names the error it
//! must produce (kind and a fragment of the message) or the value it must
//! give; none may panic, abort, hang or allocate without bound. Source-level
//! entries run on every engine (interpreter, unfused, fused), which must
//! agree.

use arrjit::npy::read_npy_bytes;
use arrjit::{
    Arg, Array, Buffer, BufferMut, Config, DType, Data, Engine, ErrorKind, Mode, Scalar, Shape,
    View, ViewMut,
};

use crate::util;

// ---------------------------------------------------------------------------
// Helpers.

/// Asserts an error of `kind` whose message (with notes) contains `fragment`.
#[track_caller]
fn assert_err<T>(r: arrjit::Result<T>, kind: ErrorKind, fragment: &str) {
    match r {
        Ok(_) => panic!("expected a {kind:?} error containing {fragment:?}, got a value"),
        Err(e) => {
            let full = format!("{e} {}", e.notes().join(" "));
            assert_eq!(e.kind(), kind, "wrong kind for {full:?}");
            assert!(
                full.contains(fragment),
                "{full:?} does not contain {fragment:?}"
            );
        }
    }
}

/// Evaluates `src` with `args` on every engine; all must agree.
fn eval_all(src: &str, args: &[(&str, Arg<'_>)]) -> arrjit::Result<Array> {
    let mut first: Option<arrjit::Result<Array>> = None;
    for (mode, engine) in util::engines() {
        let r = engine.compile(src).and_then(|x| x.eval(args));
        match &first {
            None => first = Some(r),
            Some(Ok(want)) => {
                let got = r.unwrap_or_else(|e| panic!("{mode:?} failed: {e} for `{src}`"));
                assert!(
                    util::bitwise_diff(want, &got).is_none(),
                    "{mode:?} differs for `{src}`"
                );
            }
            Some(Err(want)) => {
                let got = r.expect_err("the interpreter failed");
                assert_eq!(
                    (got.kind(), got.message()),
                    (want.kind(), want.message()),
                    "{mode:?} for `{src}`"
                );
            }
        }
    }
    first.expect("three engines")
}

/// Calls kernel `name` of `src` on every engine; all must agree.
fn call_all(src: &str, name: &str, args: &[(&str, Arg<'_>)]) -> arrjit::Result<Vec<Array>> {
    let mut first: Option<arrjit::Result<Vec<Array>>> = None;
    for (mode, engine) in util::engines() {
        let r = engine
            .compile_module(src)
            .and_then(|m| m.kernel(name))
            .and_then(|k| k.call(args))
            .map(|outs| outs.into_iter().map(|(_, a)| a).collect::<Vec<_>>());
        match &first {
            None => first = Some(r),
            Some(Ok(want)) => {
                let got = r.unwrap_or_else(|e| panic!("{mode:?} failed: {e}"));
                for (w, g) in want.iter().zip(&got) {
                    assert!(util::bitwise_diff(w, g).is_none(), "{mode:?} differs");
                }
            }
            Some(Err(want)) => {
                let got = r.expect_err("the interpreter failed");
                assert_eq!(
                    (got.kind(), got.message()),
                    (want.kind(), want.message()),
                    "{mode:?}"
                );
            }
        }
    }
    first.expect("three engines")
}

fn src_err(src: &str, args: &[(&str, Arg<'_>)], kind: ErrorKind, fragment: &str) {
    assert_err(eval_all(src, args), kind, fragment);
}

fn f64s(a: &Array) -> Vec<f64> {
    a.to_f64_vec()
}

const X: [f64; 4] = [1.0, -2.0, 3.5, 0.0];

fn x() -> Arg<'static> {
    X.as_slice().into()
}

// ---------------------------------------------------------------------------
// Source text (expression mode).

#[test]
fn source_empty() {
    src_err("", &[], ErrorKind::Parse, "unexpected end of input");
}

#[test]
fn source_only_whitespace_and_comment() {
    src_err(
        "  \n\t # nothing here\n",
        &[],
        ErrorKind::Parse,
        "end of input",
    );
}

#[test]
fn source_100k_open_parentheses() {
    let src = "(".repeat(100_000) + "x";
    src_err(&src, &[("x", x())], ErrorKind::Limit, "nested too deeply");
}

#[test]
fn source_100k_balanced_parentheses() {
    let src = "(".repeat(100_000) + "x" + &")".repeat(100_000);
    src_err(&src, &[("x", x())], ErrorKind::Limit, "nested too deeply");
}

#[test]
fn source_100k_unary_minus() {
    let src = "-".repeat(100_000) + "x";
    src_err(&src, &[("x", x())], ErrorKind::Limit, "nested too deeply");
}

#[test]
fn source_100k_term_sum() {
    let src = vec!["x"; 100_000].join("+");
    src_err(&src, &[("x", x())], ErrorKind::Limit, "nested too deeply");
}

#[test]
fn source_right_associative_power_tower() {
    let src = vec!["x"; 10_000].join("**");
    src_err(&src, &[("x", x())], ErrorKind::Limit, "nested too deeply");
}

#[test]
fn source_nested_calls() {
    let src = "sqrt(".repeat(5_000) + "x" + &")".repeat(5_000);
    src_err(&src, &[("x", x())], ErrorKind::Limit, "nested too deeply");
}

#[test]
fn source_nested_select_lists() {
    let src = "[".repeat(10_000) + "x";
    src_err(&src, &[("x", x())], ErrorKind::Limit, "nested too deeply");
}

#[test]
fn source_depth_just_within_the_limit() {
    let config = Config {
        max_depth: 64,
        ..Config::default()
    };
    let engine = Engine::with_config(config);
    // 63 unary minuses and a leaf: a tree 64 deep.
    let ok = "-".repeat(63) + "x";
    let y = engine.eval(&ok, &[("x", 1.0.into())]).unwrap();
    assert_eq!(f64s(&y), vec![-1.0]);
    let deep = "-".repeat(64) + "x";
    assert_err(
        engine.eval(&deep, &[("x", 1.0.into())]),
        ErrorKind::Limit,
        "more than 64 levels",
    );
}

#[test]
fn source_one_megabyte_over_the_limit() {
    let src = "x".repeat((1 << 20) + 1);
    src_err(
        &src,
        &[],
        ErrorKind::Limit,
        "more than the limit of 1048576",
    );
}

#[test]
fn source_one_megabyte_of_comment_is_accepted() {
    let src = format!("# {}\nx + 1", "z".repeat((1 << 20) - 20));
    let y = eval_all(&src, &[("x", 1.0.into())]).unwrap();
    assert_eq!(f64s(&y), vec![2.0]);
}

#[test]
fn source_long_flat_call_argument_list() {
    // Shallow but long: 50,000 arguments to a one-argument function.
    let src = format!("sqrt({})", vec!["x"; 50_000].join(", "));
    src_err(&src, &[("x", x())], ErrorKind::Arity, "sqrt");
}

#[test]
fn source_huge_integer_literal() {
    src_err(
        "x + 99999999999999999999999999",
        &[("x", x())],
        ErrorKind::Lex,
        "integer literal out of range",
    );
}

#[test]
fn source_i64_min_literal_does_not_lex() {
    // `-9223372036854775808` is unary minus on a literal that does not fit.
    src_err(
        "-9223372036854775808",
        &[],
        ErrorKind::Lex,
        "integer literal out of range",
    );
}

#[test]
fn source_i64_max_literal_is_fine() {
    let y = eval_all("9223372036854775807 + x", &[("x", 1i64.into())]).unwrap();
    assert_eq!(y.get(0), Scalar::I64(i64::MIN), "integer overflow wraps");
}

#[test]
fn source_float_literal_overflow_is_inf() {
    let y = eval_all("1e999 + x", &[("x", 1.0.into())]).unwrap();
    assert_eq!(f64s(&y), vec![f64::INFINITY]);
    let y = eval_all("1e-999 * x", &[("x", (-1.0f64).into())]).unwrap();
    assert!(f64s(&y)[0] == 0.0 && f64s(&y)[0].is_sign_negative());
}

#[test]
fn source_i32_literal_out_of_range() {
    let v = [1i32, 2];
    src_err(
        "x + 3000000000",
        &[("x", v.as_slice().into())],
        ErrorKind::Type,
        "3000000000",
    );
}

#[test]
fn source_nul_byte() {
    src_err("x\0+ 1", &[("x", x())], ErrorKind::Lex, "unexpected");
}

#[test]
fn source_unicode_identifier() {
    src_err("é + 1", &[], ErrorKind::Lex, "unexpected");
}

#[test]
fn source_bidi_override() {
    src_err("x \u{202e}+ 1", &[("x", x())], ErrorKind::Lex, "unexpected");
}

#[test]
fn source_byte_order_mark() {
    src_err("\u{feff}x", &[("x", x())], ErrorKind::Lex, "unexpected");
}

#[test]
fn source_emoji_in_comment_is_fine() {
    let y = eval_all("x * 2 # 😀 ünïcödé", &[("x", 2.0.into())]).unwrap();
    assert_eq!(f64s(&y), vec![4.0]);
}

#[test]
fn source_unclosed_parenthesis() {
    src_err(
        "(x + 1",
        &[("x", x())],
        ErrorKind::Parse,
        "unexpected end of input",
    );
}

#[test]
fn source_stray_closing_bracket() {
    src_err("x + 1)", &[("x", x())], ErrorKind::Parse, "unexpected `)`");
}

#[test]
fn source_chained_comparison() {
    src_err("x < 1 < 2", &[("x", x())], ErrorKind::Parse, "and");
}

#[test]
fn source_unknown_function() {
    src_err(
        "sqrtt(x)",
        &[("x", x())],
        ErrorKind::UnknownFunction,
        "sqrt",
    );
}

#[test]
fn source_wrong_arity() {
    src_err("where(x > 0, x)", &[("x", x())], ErrorKind::Arity, "where");
}

#[test]
fn source_bad_keyword() {
    src_err("sum(x, axes=0)", &[("x", x())], ErrorKind::Arity, "axes");
}

#[test]
fn source_axis_out_of_range() {
    src_err("sum(x, axis=2)", &[("x", x())], ErrorKind::Shape, "axis");
}

#[test]
fn source_kernel_keyword_in_expression() {
    src_err("kernel + 1", &[], ErrorKind::Parse, "unexpected");
}

#[test]
fn source_bool_arithmetic_is_refused() {
    let b = [true, false];
    src_err(
        "-b",
        &[("b", b.as_slice().into())],
        ErrorKind::Type,
        "unary `-` is not defined for bool",
    );
}

#[test]
fn source_window_length_zero() {
    src_err(
        "rolling_mean(x, 0)",
        &[("x", x())],
        ErrorKind::Type,
        "the window length of `rolling_mean` must be at least 1, got 0",
    );
}

#[test]
fn source_window_length_i64_max_is_linear() {
    // Longer than the input: every entry NaN, in O(n), not O(n*w).
    let y = eval_all("rolling_mean(x, 9223372036854775807)", &[("x", x())]).unwrap();
    assert!(f64s(&y).iter().all(|v| v.is_nan()));
}

#[test]
fn source_diff_of_huge_order() {
    let y = eval_all("diff(x, n=1000000000)", &[("x", x())]).unwrap();
    assert_eq!(y.shape(), Shape::vector(0));
}

#[test]
fn source_shift_by_i64_max() {
    let y = eval_all("shift(x, 9223372036854775807)", &[("x", x())]).unwrap();
    assert!(f64s(&y).iter().all(|v| v.is_nan()));
}

#[test]
fn source_integer_power_with_huge_exponent() {
    let y = eval_all("x ** 9223372036854775807", &[("x", 3i64.into())]).unwrap();
    assert_eq!(y.dtype(), DType::I64, "wraps, in O(log n) steps");
}

#[test]
fn source_window_param_zero_at_call_time() {
    src_err(
        "rolling_sum(x, w)",
        &[("x", x()), ("w", 0i64.into())],
        ErrorKind::Call,
        "at least 1, got 0",
    );
}

#[test]
fn source_window_param_i64_min_at_call_time() {
    src_err(
        "rolling_max(x, w)",
        &[("x", x()), ("w", i64::MIN.into())],
        ErrorKind::Call,
        "at least 1",
    );
}

#[test]
fn source_ewm_alpha_nan() {
    src_err(
        "ewm_mean(x, a)",
        &[("x", x()), ("a", f64::NAN.into())],
        ErrorKind::Call,
        "alpha",
    );
}

// ---------------------------------------------------------------------------
// Kernel files.

#[test]
fn kernel_missing_boundary_row() {
    let src = "kernel k(x: f64[n]) -> (y: f64[n]) { y[i] = y[i-1] + x[i] }";
    assert_err(
        call_all(src, "k", &[("x", x())]),
        ErrorKind::Type,
        "`y[0]` is missing",
    );
}

#[test]
fn kernel_reads_ahead_of_itself() {
    let src = "kernel k(x: f64[n]) -> (y: f64[n]) { y[0] = 0; y[i] = y[i+1] }";
    assert_err(
        call_all(src, "k", &[("x", x())]),
        ErrorKind::Type,
        "`y[i+1]` reads the output at or after",
    );
}

#[test]
fn kernel_reads_past_the_input_end() {
    let src = "kernel k(x: f64[n]) -> (y: f64[n]) { y[i] = x[i+1] }";
    assert_err(
        call_all(src, "k", &[("x", x())]),
        ErrorKind::Shape,
        "read element 4 of a vector of length 4",
    );
}

#[test]
fn kernel_huge_lag() {
    let src = "kernel k(x: f64[n]) -> (y: f64[n]) { y[0] = 0; y[i] = y[i-9223372036854775807] }";
    assert_err(
        call_all(src, "k", &[("x", x())]),
        ErrorKind::Type,
        "too large",
    );
}

#[test]
fn kernel_huge_input_offset() {
    // Regression (found writing this catalogue): the reach `row + offset`
    // overflowed, so shape inference let the call through and the
    // interpreter failed with an internal error (the JIT's own bounds check
    // refused it). Offsets are now bounded like lags.
    for k in ["9223372036854775807", "4294967296"] {
        let src = format!("kernel k(x: f64[n]) -> (y: f64[n]) {{ y[i] = x[i+{k}] }}");
        assert_err(
            call_all(&src, "k", &[("x", x())]),
            ErrorKind::Type,
            "index offset too large",
        );
        let src = format!("kernel k(x: f64[n]) -> (y: f64[n]) {{ y[0] = 0; y[i] = x[i-{k}] }}");
        assert_err(
            call_all(&src, "k", &[("x", x())]),
            ErrorKind::Type,
            "index offset too large",
        );
    }
}

#[test]
fn kernel_defined_twice() {
    let src = "kernel k(x: f64) -> (y: f64) { y = x }\nkernel k(x: f64) -> (y: f64) { y = x }";
    assert_err(
        Engine::new().compile_module(src),
        ErrorKind::Parse,
        "defined twice",
    );
}

#[test]
fn kernel_unknown_name() {
    let src = "kernel ewma(x: f64) -> (y: f64) { y = x }";
    let m = Engine::new().compile_module(src).unwrap();
    assert_err(
        m.kernel("ewmb"),
        ErrorKind::UnknownName,
        "did you mean `ewma`",
    );
}

#[test]
fn kernel_dimension_mismatch() {
    let src = "kernel k(x: f64[n], y: f64[n]) -> (z: f64[n]) { z = x + y }";
    let y = [1.0, 2.0];
    assert_err(
        call_all(src, "k", &[("x", x()), ("y", y.as_slice().into())]),
        ErrorKind::Shape,
        "dimension `n` is 4 elsewhere, but 2",
    );
}

#[test]
fn kernel_wrong_dtype_argument() {
    let src = "kernel k(x: f64[n]) -> (z: f64[n]) { z = x }";
    let v = [1i32, 2];
    assert_err(
        call_all(src, "k", &[("x", v.as_slice().into())]),
        ErrorKind::Call,
        "`x` is declared f64, but the call passes i32",
    );
}

#[test]
fn kernel_unknown_dtype_annotation() {
    let src = "kernel k(x: f16[n]) -> (z: f64[n]) { z = x }";
    assert_err(Engine::new().compile_module(src), ErrorKind::Parse, "f16");
}

#[test]
fn kernel_output_never_assigned() {
    let src = "kernel k(x: f64[n]) -> (z: f64[n], w: f64) { z = x }";
    assert_err(
        call_all(src, "k", &[("x", x())]),
        ErrorKind::Type,
        "output `w` is never defined",
    );
}

#[test]
fn kernel_output_assigned_twice() {
    let src = "kernel k(x: f64[n]) -> (z: f64[n]) { z = x\n z = x + 1 }";
    assert_err(
        call_all(src, "k", &[("x", x())]),
        ErrorKind::Type,
        "output `z` is defined twice",
    );
}

#[test]
fn kernel_empty_file() {
    assert_err(
        Engine::new().compile_module(""),
        ErrorKind::Parse,
        "end of input",
    );
}

#[test]
fn kernel_missing_parameter() {
    let src = "kernel k(x: f64[n], a: f64) -> (z: f64[n]) { z = x * a }";
    assert_err(
        call_all(src, "k", &[("x", x())]),
        ErrorKind::Call,
        "no value given for parameter `a`",
    );
}

#[test]
fn kernel_recurrence_on_empty_input() {
    let src = "kernel k(x: f64[n]) -> (y: f64[n]) { y[0] = x[0]\n y[i] = y[i-1] + x[i] }";
    let empty: [f64; 0] = [];
    let r = call_all(src, "k", &[("x", empty.as_slice().into())]);
    // Either an empty result or a clear error naming row 0; never a read
    // outside the empty buffer.
    match r {
        Ok(outs) => assert_eq!(outs[0].len(), 0),
        Err(e) => assert!(e.is_user_error(), "{e}"),
    }
}

// ---------------------------------------------------------------------------
// .npy files.

fn npy(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn npy_empty_file() {
    assert_err(read_npy_bytes(b""), ErrorKind::Io, "bad magic number");
}

#[test]
fn npy_truncated_header() {
    assert_err(
        read_npy_bytes(b"\x93NUMPY\x01"),
        ErrorKind::Io,
        "truncated .npy header",
    );
}

#[test]
fn npy_lying_header_length() {
    let mut b = npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    );
    b[8] = 0xff;
    b[9] = 0xff;
    assert_err(read_npy_bytes(&b), ErrorKind::Io, "declares 65535 bytes");
}

#[test]
fn npy_lying_header_length_v2() {
    let mut b = b"\x93NUMPY\x02\x00".to_vec();
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    b.extend_from_slice(b"{'descr': '<f8'");
    assert_err(read_npy_bytes(&b), ErrorKind::Io, "truncated .npy header");
}

#[test]
fn npy_truncated_data() {
    let b = npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
        &f64_bytes(&[1.0, 2.0]),
    );
    assert_err(
        read_npy_bytes(&b),
        ErrorKind::Io,
        "needs 24 bytes but the file has 16",
    );
}

#[test]
fn npy_shape_product_overflows() {
    let b = npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
        &[],
    );
    assert_err(read_npy_bytes(&b), ErrorKind::Io, "more than 2^64");
}

#[test]
fn npy_huge_shape_allocates_nothing() {
    let b = npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }",
        &[0; 64],
    );
    assert_err(read_npy_bytes(&b), ErrorKind::Io, "truncated data");
}

#[test]
fn npy_shape_beyond_u64() {
    let b = npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
        &[],
    );
    assert_err(read_npy_bytes(&b), ErrorKind::Io, "malformed");
}

#[test]
fn npy_negative_shape() {
    let b = npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }",
        &[],
    );
    assert_err(read_npy_bytes(&b), ErrorKind::Io, "negative number");
}

#[test]
fn npy_big_endian() {
    let b = npy(
        "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    );
    assert_err(
        read_npy_bytes(&b),
        ErrorKind::Io,
        "big-endian data is not supported",
    );
}

#[test]
fn npy_object_dtype() {
    let b = npy(
        "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    );
    assert_err(read_npy_bytes(&b), ErrorKind::Io, "object dtype");
}

#[test]
fn npy_structured_dtype() {
    let b = npy(
        "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    );
    assert_err(read_npy_bytes(&b), ErrorKind::Io, "structured");
}

#[test]
fn npy_unicode_string_dtype() {
    let b = npy(
        "{'descr': '<U8', 'fortran_order': False, 'shape': (1,), }",
        &[0; 32],
    );
    assert_err(read_npy_bytes(&b), ErrorKind::Io, "string dtype");
}

#[test]
fn npy_rank_three() {
    let b = npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1), }",
        &[0; 8],
    );
    assert_err(read_npy_bytes(&b), ErrorKind::Io, "rank 3");
}

#[test]
fn npy_unknown_version() {
    let mut b = npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    );
    b[6] = 9;
    assert_err(read_npy_bytes(&b), ErrorKind::Io, "version 9.0");
}

#[test]
fn npy_header_not_utf8() {
    let mut b = npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    );
    b[12] = 0xff;
    assert_err(read_npy_bytes(&b), ErrorKind::Io, "not text");
}

#[test]
fn npy_header_nested_deeply() {
    let header = format!("{{'descr': {}", "[".repeat(10_000));
    let b = npy(&header, &[]);
    assert_err(read_npy_bytes(&b), ErrorKind::Io, "nested too deeply");
}

#[test]
fn npy_fortran_order_is_a_strided_view() {
    // [[1, 2, 3], [4, 5, 6]] stored column-major.
    let b = npy(
        "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
        &f64_bytes(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]),
    );
    let a = read_npy_bytes(&b).unwrap();
    let y = eval_all("x * 1", &[("x", Arg::Array(a.view().unwrap()))]).unwrap();
    assert_eq!(f64s(&y), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn npy_misaligned_data_offset() {
    // A header whose length puts the data at an odd offset: the reader
    // copies, so alignment of the file does not matter.
    let h = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    assert_eq!(b.len() % 8, 3, "data starts misaligned");
    b.extend_from_slice(&f64_bytes(&[1.5, -2.5]));
    let a = read_npy_bytes(&b).unwrap();
    let y = eval_all("x + 1", &[("x", Arg::Array(a.view().unwrap()))]).unwrap();
    assert_eq!(f64s(&y), vec![2.5, -1.5]);
}

#[test]
fn npy_zero_by_huge_shape() {
    // No data needed and a legal (empty) view, but reducing along axis 0
    // asks for a result of 2^63 - 1 elements.
    let b = npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 9223372036854775807), }",
        &[],
    );
    let a = read_npy_bytes(&b).unwrap();
    let x = Arg::Array(a.view().unwrap());
    assert_eq!(eval_all("x + 1", &[("x", x)]).unwrap().len(), 0);
    src_err(
        "sum(x, axis=0)",
        &[("x", x)],
        ErrorKind::Limit,
        "cannot allocate",
    );
}

// ---------------------------------------------------------------------------
// API calls: shapes, strides, buffers.

#[test]
fn api_view_reaching_past_the_buffer() {
    let v = [1.0; 4];
    assert_err(
        View::strided(Buffer::F64(&v), 1, &[4], &[1]),
        ErrorKind::Call,
        "reaches outside its buffer of 4 elements",
    );
}

#[test]
fn api_negative_stride_reaching_before_the_buffer() {
    let v = [1.0; 4];
    assert_err(
        View::strided(Buffer::F64(&v), 2, &[4], &[-1]),
        ErrorKind::Call,
        "reaches outside",
    );
}

#[test]
fn api_negative_strides_reverse() {
    let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let view = View::strided(Buffer::F64(&v), 5, &[2, 3], &[-3, -1]).unwrap();
    let y = eval_all("x * 10", &[("x", view.into())]).unwrap();
    assert_eq!(f64s(&y), vec![60.0, 50.0, 40.0, 30.0, 20.0, 10.0]);
}

#[test]
fn api_zero_stride_input_broadcasts_one_element() {
    let v = [7.0];
    let view = View::strided(Buffer::F64(&v), 0, &[3, 4], &[0, 0]).unwrap();
    let y = eval_all("sum(x)", &[("x", view.into())]).unwrap();
    assert_eq!(f64s(&y), vec![84.0]);
}

#[test]
fn api_stride_count_mismatch() {
    let v = [1.0; 4];
    assert_err(
        View::strided(Buffer::F64(&v), 0, &[2, 2], &[2]),
        ErrorKind::Call,
        "1 strides given for a shape of rank 2",
    );
}

#[test]
fn api_rank_three() {
    let v = [1.0; 8];
    assert_err(
        View::contiguous(Buffer::F64(&v), &[2, 2, 2]),
        ErrorKind::Shape,
        "rank 3",
    );
}

#[test]
fn api_shape_product_overflows_usize() {
    let v = [1.0];
    assert_err(
        View::strided(Buffer::F64(&v), 0, &[1 << 40, 1 << 40], &[0, 0]),
        ErrorKind::Shape,
        "overflows the address space",
    );
    assert_err(
        View::contiguous(Buffer::F64(&v), &[usize::MAX, 2]),
        ErrorKind::Shape,
        "overflows",
    );
}

#[test]
fn api_stride_i64_extremes() {
    let v = [1.0; 4];
    assert_err(
        View::strided(Buffer::F64(&v), 0, &[2], &[isize::MAX]),
        ErrorKind::Call,
        "reaches outside",
    );
    assert_err(
        View::strided(Buffer::F64(&v), 3, &[2], &[isize::MIN]),
        ErrorKind::Call,
        "reaches outside",
    );
}

#[test]
fn api_zero_stride_view_with_a_huge_broadcast_result() {
    // Two one-element buffers viewed as [2^20, 1] and [2^20]: the inputs
    // are legal views, but the broadcast result would be 2^40 f64s (8 TiB).
    let v = [1.0];
    let col = View::strided(Buffer::F64(&v), 0, &[1 << 20, 1], &[0, 0]).unwrap();
    let row = View::strided(Buffer::F64(&v), 0, &[1 << 20], &[0]).unwrap();
    src_err(
        "a + b",
        &[("a", col.into()), ("b", row.into())],
        ErrorKind::Limit,
        "cannot allocate 8796093022208 bytes",
    );
}

#[test]
fn api_reduction_of_a_virtual_giant_is_refused_or_bounded() {
    // A sum over 2^22 virtual elements (one real one) runs in bounded time
    // (kept small enough for valgrind).
    let v = [0.5];
    let big = View::strided(Buffer::F64(&v), 0, &[1 << 11, 1 << 11], &[0, 0]).unwrap();
    let y = eval_all("sum(big)", &[("big", big.into())]).unwrap();
    assert_eq!(f64s(&y), vec![(1u64 << 21) as f64]);
}

#[test]
fn api_mismatched_dtype_between_calls() {
    let engine = Engine::new();
    let expr = engine.compile("x + 1").unwrap();
    let a = [1.0f64, 2.0];
    let b = [1i32, 2];
    assert_eq!(
        expr.eval(&[("x", a.as_slice().into())]).unwrap().dtype(),
        DType::F64
    );
    assert_eq!(
        expr.eval(&[("x", b.as_slice().into())]).unwrap().dtype(),
        DType::I32
    );
}

#[test]
fn api_missing_and_extra_inputs() {
    src_err(
        "a + b",
        &[("a", x())],
        ErrorKind::Call,
        "no value given for input `b`",
    );
    src_err(
        "a",
        &[("a", x()), ("b", x())],
        ErrorKind::Call,
        "`b` is not an input",
    );
    src_err(
        "a",
        &[("a", x()), ("a", x())],
        ErrorKind::Call,
        "given twice",
    );
}

#[test]
fn api_broadcast_mismatch_names_both_shapes() {
    let a = [1.0; 3];
    src_err(
        "a + b",
        &[("a", a.as_slice().into()), ("b", x())],
        ErrorKind::Shape,
        "shapes (3,) and (4,) cannot be broadcast together",
    );
}

#[test]
fn api_eval_into_wrong_dtype() {
    let engine = Engine::new();
    let expr = engine.compile("x * 2").unwrap();
    let mut out = [0i64; 4];
    assert_err(
        expr.eval_into(&[("x", x())], out.as_mut_slice()),
        ErrorKind::Call,
        "the output array is i64",
    );
}

#[test]
fn api_eval_into_wrong_shape() {
    let engine = Engine::new();
    let expr = engine.compile("x * 2").unwrap();
    let mut out = [0.0f64; 5];
    assert_err(
        expr.eval_into(&[("x", x())], out.as_mut_slice()),
        ErrorKind::Call,
        "shape (5,), the result is f64 of shape (4,)",
    );
}

#[test]
fn api_output_view_with_zero_stride() {
    let mut out = [0.0f64; 4];
    assert_err(
        ViewMut::strided(BufferMut::F64(&mut out), 0, &[4], &[0]),
        ErrorKind::Call,
        "writes some elements twice",
    );
}

#[test]
fn api_output_view_with_overlapping_strides() {
    let mut out = [0.0f64; 4];
    assert_err(
        ViewMut::strided(BufferMut::F64(&mut out), 0, &[2, 2], &[1, 1]),
        ErrorKind::Call,
        "writes some elements twice",
    );
}

#[test]
fn api_output_view_reaching_outside() {
    let mut out = [0.0f64; 4];
    assert_err(
        ViewMut::strided(BufferMut::F64(&mut out), 0, &[3], &[2]),
        ErrorKind::Call,
        "reaches outside",
    );
}

#[test]
fn api_in_place_with_a_reduction() {
    let engine = Engine::new();
    let expr = engine.compile("x - mean(x)").unwrap();
    let mut data = X;
    assert_err(
        expr.eval_in_place("x", data.as_mut_slice(), &[]),
        ErrorKind::Call,
        "in-place evaluation needs an elementwise expression",
    );
    assert_eq!(data, X, "nothing written");
}

#[test]
fn api_in_place_input_also_given() {
    let engine = Engine::new();
    let expr = engine.compile("x * 2").unwrap();
    let mut data = X;
    let copy = X;
    assert_err(
        expr.eval_in_place("x", data.as_mut_slice(), &[("x", copy.as_slice().into())]),
        ErrorKind::Call,
        "given twice",
    );
}

#[test]
fn api_in_place_of_a_non_input() {
    let engine = Engine::new();
    let expr = engine.compile("x * 2").unwrap();
    let mut data = X;
    assert_err(
        expr.eval_in_place("y", data.as_mut_slice(), &[]),
        ErrorKind::Call,
        "`y` is not an input",
    );
}

#[test]
fn api_in_place_dtype_change_refused() {
    let engine = Engine::new();
    let expr = engine.compile("x > 0").unwrap();
    let mut data = X;
    assert_err(
        expr.eval_in_place("x", data.as_mut_slice(), &[]),
        ErrorKind::Call,
        "the array updated in place is f64",
    );
}

#[test]
fn api_in_place_aliasing_is_correct() {
    // The element is read before it is written: same result as a copy.
    for (mode, engine) in util::engines() {
        let expr = engine.compile("x * x + 1").unwrap();
        let mut data = X;
        expr.eval_in_place("x", data.as_mut_slice(), &[]).unwrap();
        assert_eq!(data, [2.0, 5.0, 13.25, 1.0], "{mode:?}");
    }
}

#[test]
fn api_zero_length_arrays() {
    let e: [f64; 0] = [];
    let y = eval_all("x * 2 + 1", &[("x", e.as_slice().into())]).unwrap();
    assert_eq!(y.len(), 0);
    assert_eq!(
        f64s(&eval_all("sum(x)", &[("x", e.as_slice().into())]).unwrap()),
        [0.0]
    );
    assert!(f64s(&eval_all("mean(x)", &[("x", e.as_slice().into())]).unwrap())[0].is_nan());
    src_err(
        "min(x)",
        &[("x", e.as_slice().into())],
        ErrorKind::Shape,
        "`min`",
    );
    src_err(
        "argmax(x)",
        &[("x", e.as_slice().into())],
        ErrorKind::Shape,
        "`argmax`",
    );
}

#[test]
fn api_zero_by_n_matrix() {
    let e: [f64; 0] = [];
    let m = View::contiguous(Buffer::F64(&e), &[0, 5]).unwrap();
    let y = eval_all("sum(m, axis=0)", &[("m", m.into())]).unwrap();
    assert_eq!(f64s(&y), vec![0.0; 5]);
    src_err(
        "max(m, axis=0)",
        &[("m", m.into())],
        ErrorKind::Shape,
        "`max`",
    );
}

#[test]
fn api_one_element_arrays() {
    let one = [4.0];
    let y = eval_all(
        "x - mean(x) + std(x) + cumsum(x) + diff(x, n=0)",
        &[("x", one.as_slice().into())],
    )
    .unwrap();
    assert_eq!(f64s(&y), vec![8.0]);
    let y = eval_all("rolling_var(x, 1)", &[("x", one.as_slice().into())]).unwrap();
    assert_eq!(f64s(&y), vec![0.0]);
}

#[test]
fn api_special_floats() {
    let v = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0];
    let y = eval_all("x * 0", &[("x", v.as_slice().into())]).unwrap();
    let got = f64s(&y);
    assert!(got[0].is_nan() && got[1].is_nan() && got[2].is_nan());
    assert!(
        got[3] == 0.0 && got[3].is_sign_negative(),
        "-0.0 * 0 is -0.0"
    );
    let y = eval_all("minimum(x, 1)", &[("x", v.as_slice().into())]).unwrap();
    assert!(f64s(&y)[0].is_nan(), "minimum propagates NaN");
    let y = eval_all("fmin(x, 1)", &[("x", v.as_slice().into())]).unwrap();
    assert_eq!(f64s(&y)[0], 1.0, "fmin ignores NaN");
    let y = eval_all("i64(x)", &[("x", v.as_slice().into())]).unwrap();
    assert_eq!(
        (0..5).map(|k| y.get(k)).collect::<Vec<_>>(),
        vec![
            Scalar::I64(0),
            Scalar::I64(i64::MAX),
            Scalar::I64(i64::MIN),
            Scalar::I64(0),
            Scalar::I64(0)
        ]
    );
    let y = eval_all("sum(x)", &[("x", v.as_slice().into())]).unwrap();
    assert!(f64s(&y)[0].is_nan());
}

#[test]
fn api_i64_min_arithmetic() {
    let v = [i64::MIN, -1, 0, i64::MAX];
    let m1 = [-1i64, -1, -1, -1];
    let args = [("x", v.as_slice().into()), ("d", m1.as_slice().into())];
    let y = eval_all("x // d", &args).unwrap();
    assert_eq!(
        y.get(0),
        Scalar::I64(i64::MIN),
        "MIN // -1 wraps, no SIGFPE"
    );
    let y = eval_all("x % d", &args).unwrap();
    assert_eq!(y.get(0), Scalar::I64(0));
    let x_only = [("x", v.as_slice().into())];
    let y = eval_all("abs(x) + -x", &x_only).unwrap();
    assert_eq!(y.get(0), Scalar::I64(0), "abs(MIN) and -MIN wrap to MIN");
    let y = eval_all("x // 0 + x % 0", &x_only).unwrap();
    assert_eq!(y.get(0), Scalar::I64(0));
    let y = eval_all("sum(x)", &x_only).unwrap();
    assert_eq!(y.get(0), Scalar::I64(-2), "wrapping sum");
    let y = eval_all("cumprod(x)", &x_only).unwrap();
    assert_eq!(y.get(1), Scalar::I64(i64::MIN), "MIN * -1 wraps");
}

#[test]
fn api_i32_min_div() {
    let v = [i32::MIN, 5];
    let d = [-1i32, 0];
    let y = eval_all(
        "x // d + fmod(x, d)",
        &[("x", v.as_slice().into()), ("d", d.as_slice().into())],
    )
    .unwrap();
    assert_eq!(y.get(0), Scalar::I32(i32::MIN));
    assert_eq!(y.get(1), Scalar::I32(0));
}

#[test]
fn api_non_contiguous_ndarray_view() {
    let a = ndarray::Array2::<f64>::zeros((4, 4));
    let v = a.slice(ndarray::s![.., 1..3]);
    assert_err(Arg::try_from(v), ErrorKind::Call, "as_standard_layout");
}

#[test]
fn api_scalar_where_array_expected_broadcasts() {
    let y = eval_all("x + 1", &[("x", Scalar::F32(f32::NAN).into())]).unwrap();
    assert_eq!(y.dtype(), DType::F32);
    assert!(f64s(&y)[0].is_nan());
}

#[test]
fn api_many_distinct_signatures_stay_bounded() {
    let engine = Engine::with_config(Config {
        cache_capacity: 2,
        ..Config::default()
    });
    let expr = engine.compile("x * 2").unwrap();
    let data: Vec<Data> = vec![
        Data::F64(vec![1.0]),
        Data::F32(vec![1.0]),
        Data::I64(vec![1]),
        Data::I32(vec![1]),
        Data::Bool(vec![true]),
    ];
    for _ in 0..3 {
        for d in &data {
            let y = expr.eval(&[("x", Arg::Array(View::vector(d.as_buffer())))]);
            assert!(y.is_ok() || y.unwrap_err().kind() == ErrorKind::Type);
        }
    }
    assert!(engine.stats().entries <= 2);
    assert!(engine.stats().evictions >= 5);
}

#[test]
fn api_interpreter_mode_refuses_huge_results_too() {
    let engine = Engine::with_config(Config {
        mode: Mode::Interpret,
        ..Config::default()
    });
    let v = [1.0];
    let col = View::strided(Buffer::F64(&v), 0, &[1 << 30, 1], &[0, 0]).unwrap();
    let row = View::strided(Buffer::F64(&v), 0, &[1 << 30], &[0]).unwrap();
    assert_err(
        engine.eval("a * b", &[("a", col.into()), ("b", row.into())]),
        ErrorKind::Limit,
        "cannot allocate",
    );
}

// ---------------------------------------------------------------------------
// Limits (`Config`): each refused with a Limit error that names it.

#[test]
fn limit_number_of_inputs() {
    let engine = Engine::with_config(Config {
        max_inputs: 3,
        ..Config::default()
    });
    assert!(engine.compile("a + b + c").is_ok());
    assert_err(
        engine.compile("a + b + c + d"),
        ErrorKind::Limit,
        "the expression has 4 inputs, more than the limit of 3",
    );
    // The default (64) in action: 65 distinct names.
    let src = (0..65)
        .map(|k| format!("v{k}"))
        .collect::<Vec<_>>()
        .join(" + ");
    assert_err(Engine::new().compile(&src), ErrorKind::Limit, "limit of 64");
}

#[test]
fn limit_number_of_kernel_parameters_and_outputs() {
    let params = (0..65)
        .map(|k| format!("p{k}: f64"))
        .collect::<Vec<_>>()
        .join(", ");
    let src = format!("kernel k({params}) -> (y: f64) {{ y = p0 }}");
    assert_err(
        Engine::new().compile_module(&src),
        ErrorKind::Limit,
        "kernel `k` has 65 parameters, more than the limit of 64",
    );
    let outs = (0..65)
        .map(|k| format!("o{k}: f64"))
        .collect::<Vec<_>>()
        .join(", ");
    let src = format!("kernel k(x: f64) -> ({outs}) {{ o0 = x }}");
    assert_err(
        Engine::new().compile_module(&src),
        ErrorKind::Limit,
        "kernel `k` has 65 outputs, more than the limit of 64",
    );
}

#[test]
fn limit_code_size_per_kernel() {
    let engine = Engine::with_config(Config {
        max_code_bytes: 64,
        ..Config::default()
    });
    let expr = engine.compile("sqrt(a) * b + c / a - exp(b)").unwrap();
    assert_err(
        expr.eval(&[("a", x()), ("b", x()), ("c", x())]),
        ErrorKind::Limit,
        "bytes of machine code, more than the limit of 64",
    );
    assert_eq!(engine.stats().code_bytes, 0, "nothing kept");
}

#[test]
fn limit_total_code_memory_of_the_cache() {
    let probe = Engine::new();
    probe.eval("x + 1", &[("x", x())]).unwrap();
    let one = probe.stats().code_bytes;
    assert!(one > 0);
    // Room for about three kernels of this size.
    let engine = Engine::with_config(Config {
        max_cache_code_bytes: 3 * one + one / 2,
        ..Config::default()
    });
    for k in 0..20 {
        let y = engine.eval(&format!("x + {k}"), &[("x", x())]).unwrap();
        assert_eq!(y.get(0), Scalar::F64(1.0 + k as f64));
        let stats = engine.stats();
        assert!(
            stats.code_bytes <= 3 * one + one / 2 + one,
            "{} code bytes held",
            stats.code_bytes
        );
    }
    let stats = engine.stats();
    assert!(stats.entries <= 4, "{stats:?}");
    assert!(stats.evictions >= 16, "{stats:?}");
}

#[test]
fn limit_source_length_is_configurable() {
    let engine = Engine::with_config(Config {
        max_source_len: 8,
        ..Config::default()
    });
    assert!(engine.compile("a + b").is_ok());
    assert_err(
        engine.compile("a + b + c"),
        ErrorKind::Limit,
        "source is 9 bytes long, more than the limit of 8",
    );
    assert_err(
        engine.compile_module("kernel k(x: f64) -> (y: f64) { y = x }"),
        ErrorKind::Limit,
        "more than the limit of 8",
    );
}

// ---------------------------------------------------------------------------
// Fuzzing findings in the planner and code generation, each reduced from a
// `fuzz_kernels` or `fuzz_front_door` finding; fixed, kept as regressions.

/// A reduction of a literal: the planner has no buffer for the constant
/// and panicked (now an internal error, by the engine's guard).
#[test]
fn fuzz_reduction_of_a_literal() {
    let y = eval_all("min(0) + nansum(0.5)", &[]).unwrap();
    assert_eq!(f64s(&y), vec![0.5]);
}

/// A planner panic is an internal error, never an unwinding host call.
#[test]
fn fuzz_planner_panic_becomes_an_internal_error() {
    match Engine::new().eval("min(0)", &[]) {
        Ok(y) => assert_eq!(f64s(&y), vec![0.0], "fixed"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Internal, "{e}"),
    }
}

/// A reduction inside an element rule: the interpreter evaluated it, the
/// JIT plans failed. Inside a rule every value is one element, so lane
/// functions there are now a type error in every engine.
#[test]
fn fuzz_reduction_inside_an_element_rule() {
    let src = "kernel k(x: f64[n]) -> (r: f64[n]) { r[0] = sign(std(x[0]))\n r[i] = x[i] }";
    let err = call_all(src, "k", &[("x", x())]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Type, "{err}");
    assert!(err.to_string().contains("works along an array"), "{err}");
}

/// An unused `let` of a lane operation next to another lane operation of
/// the same operand: the fused plan's lane group loses the stream's rows.
#[test]
fn fuzz_unused_lane_let_beside_a_window() {
    let src = "kernel k(y: f64[n]) -> (z: f64[n]) {\n let t = ewm_mean(y, 0.25)\n z = rolling_min(y, 2)\n}";
    let outs = call_all(src, "k", &[("y", x())]).unwrap();
    assert_eq!(f64s(&outs[0])[1..], [-2.0, -2.0, 0.0]);
}

/// The reduced kernel of a `fuse.rs:1329` panic (lane group planning looks
/// up a holder that was never made).
#[test]
fn fuzz_lane_group_holder_missing() {
    for file in ["fuse-1329.ak", "fuse-1329-b.ak"] {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile/regressions/");
        let src = std::fs::read_to_string(format!("{dir}{file}")).unwrap();
        let y = [2.0, -1.0, 0.5, 3.0];
        let args = [
            ("x", x()),
            ("y", Arg::from(y.as_slice())),
            ("a", 2.0.into()),
            ("w", 3i64.into()),
        ];
        let r = call_all(&src, "k", &args[..]);
        assert!(r.is_ok() || r.unwrap_err().is_user_error(), "{file}");
    }
}

// ---------------------------------------------------------------------------
// The CLI: files and arguments from the command line.

fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_arrjit"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Exit status 2 (a user error) with `fragment` on stderr, no panic.
#[track_caller]
fn cli_user_error(args: &[&str], fragment: &str) {
    let (code, _, err) = cli(args);
    assert_eq!(code, Some(2), "{args:?}: {err}");
    assert!(
        err.contains(fragment),
        "{err:?} does not contain {fragment:?}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

struct Dir(std::path::PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("arrjit-hostile-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn cli_kernel_file_not_utf8() {
    let d = Dir::new("utf8");
    let f = d.file("k.ak", b"kernel k(x: f64) -> (y: f64) { y = x \xff }");
    cli_user_error(&["eval", "-f", &f, "x=1"], "not UTF-8 text");
}

#[test]
fn cli_kernel_file_missing() {
    cli_user_error(
        &["eval", "-f", "/nonexistent/arrjit/k.ak", "x=1"],
        "/nonexistent/arrjit/k.ak",
    );
}

#[test]
fn cli_kernel_file_of_nul_bytes() {
    let d = Dir::new("nul");
    let f = d.file("k.ak", &[0u8; 64]);
    cli_user_error(&["eval", "-f", &f], "unexpected");
}

#[test]
fn cli_kernel_file_over_a_megabyte() {
    let d = Dir::new("big");
    let mut src = b"kernel k(x: f64) -> (y: f64) { y = x }\n#".to_vec();
    src.resize((1 << 20) + 10, b'z');
    let f = d.file("k.ak", &src);
    cli_user_error(&["eval", "-f", &f, "x=1"], "more than the limit of 1048576");
}

#[test]
fn cli_truncated_npy() {
    let d = Dir::new("trunc");
    let bytes = npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
        &f64_bytes(&[1.0]),
    );
    let f = d.file("x.npy", &bytes);
    cli_user_error(&["eval", "x + 1", &format!("x={f}")], "truncated data");
}

#[test]
fn cli_big_endian_npy() {
    let d = Dir::new("be");
    let bytes = npy(
        "{'descr': '>i8', 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    );
    let f = d.file("x.npy", &bytes);
    cli_user_error(&["eval", "x + 1", &format!("x={f}")], "astype('<i8')");
}

#[test]
fn cli_fortran_npy_evaluates() {
    let d = Dir::new("fortran");
    let bytes = npy(
        "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }",
        &f64_bytes(&[1.0, 3.0, 2.0, 4.0]),
    );
    let f = d.file("m.npy", &bytes);
    let (code, out, err) = cli(&["eval", "sum(m, axis=1)", &format!("m={f}")]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "[3. 7.]\n");
}

#[test]
fn cli_deep_expression() {
    let src = "(".repeat(50_000) + "x";
    cli_user_error(&["eval", &src, "x=1"], "nested too deeply");
}

#[test]
fn cli_binding_without_equals() {
    cli_user_error(&["eval", "x + 1", "x"], "x");
}

#[test]
fn cli_value_that_is_neither_number_nor_file() {
    cli_user_error(
        &["eval", "x + 1", "x=not-a-number-or-file"],
        "not-a-number-or-file",
    );
}

#[test]
fn limit_loop_nests_bound_compile_time() {
    // A chain of 3,000 `let`s: one loop nest per operation unfused (over
    // the default limit of 2048, refused before code generation, which
    // grows faster than linearly), one fused.
    let mut src = String::from("kernel k(x: f64[n]) -> (y: f64[n]) {\nlet a0 = x\n");
    for k in 1..3000 {
        src.push_str(&format!("let a{k} = a{} + 1\n", k - 1));
    }
    src.push_str("y = a2999\n}\n");
    let unfused = Engine::with_config(Config {
        mode: Mode::Unfused,
        ..Config::default()
    });
    let k = unfused.compile_module(&src).unwrap().kernel("k").unwrap();
    let start = std::time::Instant::now();
    assert_err(
        k.call(&[("x", x())]).map(drop),
        ErrorKind::Limit,
        "loop nests, more than the limit of 2048",
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    // Fused code needs one loop nest and evaluates it.
    let fused = Engine::new().compile_module(&src).unwrap();
    let y = fused.kernel("k").unwrap().call(&[("x", x())]).unwrap();
    assert_eq!(f64s(&y[0].1)[0], 3000.0);
}
