//! The Rust API: threads, the cache, `eval_into`, binding errors, ndarray
//! views and `View` checks.

use arrjit::{
    Arg, Array, Buffer, Config, DType, Data, Engine, ErrorKind, Expr, Mode, Scalar, Shape, View,
    ViewMut,
};
use ndarray::{s, Array2, ShapeBuilder};

const fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
const _: () = assert_send_sync_clone::<Engine>();
const _: () = assert_send_sync_clone::<Expr>();

fn f64s(a: &Array) -> Vec<f64> {
    a.to_f64_vec()
}

#[test]
fn eight_threads_share_one_compilation() {
    let engine = Engine::new();
    let expr = engine.compile("2*a + 3*b**2 - sqrt(c)").unwrap();
    let a: Vec<f64> = (0..10_000).map(|k| f64::from(k) * 0.25).collect();
    let b: Vec<f64> = (0..10_000).map(|k| f64::from(k % 17) - 8.0).collect();
    let c: Vec<f64> = (0..10_000).map(|k| f64::from(k % 101)).collect();
    let expected = Engine::with_config(Config {
        mode: Mode::Interpret,
        ..Config::default()
    })
    .eval(
        expr.source(),
        &[("a", (&a).into()), ("b", (&b).into()), ("c", (&c).into())],
    )
    .unwrap();
    const THREADS: u64 = 8;
    const CALLS: u64 = 5;
    let barrier = std::sync::Barrier::new(THREADS as usize);
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            let expr = expr.clone();
            let (a, b, c, expected, barrier) = (&a, &b, &c, &expected, &barrier);
            scope.spawn(move || {
                barrier.wait();
                for _ in 0..CALLS {
                    let y = expr
                        .eval(&[("a", a.into()), ("b", b.into()), ("c", c.into())])
                        .unwrap();
                    assert_eq!(crate::util::bitwise_diff(expected, &y), None);
                }
            });
        }
    });
    let stats = engine.stats();
    assert_eq!(stats.misses, 1, "{stats:?}");
    assert_eq!(stats.hits, THREADS * CALLS - 1, "{stats:?}");
    assert_eq!(stats.entries, 1, "{stats:?}");
    assert!(stats.code_bytes > 0, "{stats:?}");
}

#[test]
fn cache_capacity_evicts() {
    let engine = Engine::with_config(Config {
        cache_capacity: 2,
        ..Config::default()
    });
    let x = vec![1.0, 2.0];
    for src in ["x + 1", "x * 2", "x - 3", "x + 1"] {
        engine.eval(src, &[("x", (&x).into())]).unwrap();
        assert!(engine.stats().entries <= 2, "{:?}", engine.stats());
    }
    let stats = engine.stats();
    assert_eq!(
        stats.misses, 4,
        "`x + 1` was evicted, so compiled twice: {stats:?}"
    );
    assert_eq!(stats.evictions, 2, "{stats:?}");
    assert_eq!(stats.entries, 2, "{stats:?}");
    engine.clear_cache();
    assert_eq!(engine.stats().entries, 0);
}

/// One cache entry per signature: another dtype or rank compiles again.
#[test]
fn cache_key_includes_signature() {
    let engine = Engine::new();
    let expr = engine.compile("x * 2").unwrap();
    let f = vec![1.0f64];
    let g = vec![1.0f32];
    expr.eval(&[("x", (&f).into())]).unwrap();
    expr.eval(&[("x", (&g).into())]).unwrap();
    expr.eval(&[("x", Scalar::F64(1.0).into())]).unwrap();
    expr.eval(&[("x", (&f).into())]).unwrap();
    let stats = engine.stats();
    assert_eq!(
        (stats.misses, stats.hits, stats.entries),
        (3, 1, 3),
        "{stats:?}"
    );
}

#[test]
fn canonical_form_shares_the_cache_entry() {
    let engine = Engine::new();
    let e1 = engine.compile("a*b+c").unwrap();
    let e2 = engine.compile("(a * b) + c   # comment").unwrap();
    assert_eq!(e1.canonical(), e2.canonical());
    assert_eq!(e1.canonical(), "((a * b) + c)");
    let v = vec![1.0, 2.0];
    let args = [("a", (&v).into()), ("b", (&v).into()), ("c", (&v).into())];
    let r1 = e1.eval(&args).unwrap();
    let r2 = e2.eval(&args).unwrap();
    assert_eq!(r1, r2);
    let stats = engine.stats();
    assert_eq!(
        (stats.entries, stats.misses, stats.hits),
        (1, 1, 1),
        "{stats:?}"
    );
}

#[test]
fn eval_into_checks_the_output() {
    let engine = Engine::new();
    let expr = engine.compile("x * 2 + 1").unwrap();
    let x = vec![1.0, 2.0, 3.0];
    let mut out = Array::zeros(DType::F64, Shape::vector(3));
    expr.eval_into(&[("x", (&x).into())], &mut out).unwrap();
    assert_eq!(f64s(&out), [3.0, 5.0, 7.0]);
    // A second call reuses the same array.
    let x2 = vec![0.5, 0.0, -1.0];
    expr.eval_into(&[("x", (&x2).into())], &mut out).unwrap();
    assert_eq!(f64s(&out), [2.0, 1.0, -1.0]);

    let mut wrong_shape = Array::zeros(DType::F64, Shape::vector(4));
    let err = expr
        .eval_into(&[("x", (&x).into())], &mut wrong_shape)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Call, "{err}");
    assert!(err.message().contains("shape (4,)"), "{err}");
    let mut wrong_rank = Array::zeros(DType::F64, Shape::matrix(3, 1));
    let err = expr
        .eval_into(&[("x", (&x).into())], &mut wrong_rank)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Call, "{err}");
    let mut wrong_dtype = Array::zeros(DType::F32, Shape::vector(3));
    let err = expr
        .eval_into(&[("x", (&x).into())], &mut wrong_dtype)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Call, "{err}");
    assert!(err.message().contains("f32"), "{err}");
    // Nothing was written into the refused arrays.
    assert_eq!(wrong_shape, Array::zeros(DType::F64, Shape::vector(4)));

    // Every mode writes into the given array the same way.
    for mode in crate::util::MODES {
        let e = Engine::with_config(Config {
            mode,
            ..Config::default()
        });
        let mut out = Array::zeros(DType::F64, Shape::vector(3));
        e.compile("x * 2 + 1")
            .unwrap()
            .eval_into(&[("x", (&x).into())], &mut out)
            .unwrap();
        assert_eq!(f64s(&out), [3.0, 5.0, 7.0], "{mode:?}");
    }
}

#[test]
fn eval_into_host_slices_and_strided_views() {
    let x = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    for mode in crate::util::MODES {
        let engine = Engine::with_config(Config {
            mode,
            ..Config::default()
        });
        // A plain `&mut [f64]` of the host.
        let mut out = vec![0.0; 6];
        engine
            .compile("x * 10")
            .unwrap()
            .eval_into(&[("x", (&x).into())], out.as_mut_slice())
            .unwrap();
        assert_eq!(out, [10.0, 20.0, 30.0, 40.0, 50.0, 60.0], "{mode:?}");

        // A Fortran-order ndarray output, written through its strides.
        let m = Array2::from_shape_vec((2, 3), x.clone()).unwrap();
        let mut f = Array2::<f64>::zeros((2, 3).f());
        let target = ViewMut::try_from(f.view_mut()).unwrap();
        engine
            .compile("m + 0.5")
            .unwrap()
            .eval_into(&[("m", Arg::try_from(m.view()).unwrap())], target)
            .unwrap();
        assert_eq!(f, m.mapv(|v| v + 0.5), "{mode:?}");

        // Every other element of a buffer.
        let mut buf = vec![-1.0; 6];
        let target = ViewMut::strided(arrjit::BufferMut::F64(&mut buf), 1, &[3], &[2]).unwrap();
        engine
            .compile("x * 0")
            .unwrap()
            .eval_into(&[("x", Arg::from(&x[..3]))], target)
            .unwrap();
        assert_eq!(buf, [-1.0, 0.0, -1.0, 0.0, -1.0, 0.0], "{mode:?}");
    }
    // An output view that would write an element twice is refused.
    let mut buf = vec![0.0; 4];
    let err = ViewMut::strided(arrjit::BufferMut::F64(&mut buf), 0, &[2, 2], &[1, 1]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Call, "{err}");
    // One that reaches past its buffer too.
    let err = ViewMut::strided(arrjit::BufferMut::F64(&mut buf), 0, &[3], &[2]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Call, "{err}");
}

#[test]
fn eval_in_place() {
    for mode in crate::util::MODES {
        let engine = Engine::with_config(Config {
            mode,
            ..Config::default()
        });
        let expr = engine.compile("x * 2 + y - x").unwrap();
        let mut x = vec![1.0, 2.0, 3.0];
        let y = vec![10.0, 20.0, 30.0];
        expr.eval_in_place("x", x.as_mut_slice(), &[("y", (&y).into())])
            .unwrap();
        assert_eq!(x, [11.0, 22.0, 33.0], "{mode:?}");

        // A matrix updated in place with a broadcast row.
        let mut m = Array2::from_shape_vec((2, 3), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let row = vec![1.0, 0.0, -1.0];
        engine
            .compile("m * row")
            .unwrap()
            .eval_in_place(
                "m",
                ViewMut::try_from(m.view_mut()).unwrap(),
                &[("row", (&row).into())],
            )
            .unwrap();
        assert_eq!(
            m.as_slice().unwrap(),
            [1.0, 0.0, -3.0, 4.0, 0.0, -6.0],
            "{mode:?}"
        );

        // The result must fit the array: here it would broadcast to (2, 3).
        let mut v = vec![1.0, 2.0, 3.0];
        let err = engine
            .compile("v + m")
            .unwrap()
            .eval_in_place(
                "v",
                v.as_mut_slice(),
                &[("m", Arg::try_from(m.view()).unwrap())],
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Call, "{err}");
        assert!(err.message().contains("in place"), "{err}");
        assert_eq!(v, [1.0, 2.0, 3.0], "nothing written");

        // Neither a dtype change nor a name that is not an input.
        let mut i = vec![1i64, 2];
        let err = engine
            .compile("i / 2")
            .unwrap()
            .eval_in_place("i", i.as_mut_slice(), &[])
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Call, "{err}");
        let err = expr
            .eval_in_place("z", x.as_mut_slice(), &[("y", (&y).into())])
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Call, "{err}");
        // The in-place input cannot also be passed by value.
        let err = expr
            .eval_in_place(
                "x",
                x.as_mut_slice(),
                &[("x", (&y).into()), ("y", (&y).into())],
            )
            .unwrap_err();
        assert!(err.message().contains("twice"), "{err}");
    }
}

#[test]
fn binding_errors() {
    let engine = Engine::new();
    let expr = engine.compile("a + b").unwrap();
    assert_eq!(expr.inputs(), ["a", "b"]);
    let v = vec![1.0];
    let missing = expr.eval(&[("a", (&v).into())]).unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::Call);
    assert!(missing.message().contains("`b`"), "{missing}");
    assert_eq!(missing.span().map(|s| (s.start, s.end)), Some((4, 5)));
    let extra = expr
        .eval(&[("a", (&v).into()), ("b", (&v).into()), ("c", (&v).into())])
        .unwrap_err();
    assert_eq!(extra.kind(), ErrorKind::Call);
    assert!(extra.message().contains("`c`"), "{extra}");
    let twice = expr
        .eval(&[("a", (&v).into()), ("b", (&v).into()), ("a", (&v).into())])
        .unwrap_err();
    assert_eq!(twice.kind(), ErrorKind::Call);
    assert!(twice.message().contains("given twice"), "{twice}");
}

#[test]
fn scalar_results_and_arguments() {
    let engine = Engine::new();
    let r = engine.eval("1 + 2", &[]).unwrap();
    assert_eq!(r.shape(), Shape::SCALAR);
    assert_eq!(r.as_scalar(), Some(Scalar::I64(3)));
    let r = engine
        .eval("x * y", &[("x", 2.5f64.into()), ("y", 4i32.into())])
        .unwrap();
    assert_eq!(r.as_scalar(), Some(Scalar::F64(10.0)));
    let r = engine.eval("not b", &[("b", true.into())]).unwrap();
    assert_eq!(r.as_scalar(), Some(Scalar::Bool(false)));
}

#[test]
fn ndarray_views_are_zero_copy() {
    let engine = Engine::new();
    let expr = engine.compile("m * 10 + r").unwrap();
    let row = vec![1.0, 2.0, 3.0];
    let want = |m: &Array2<f64>| -> Vec<f64> {
        m.outer_iter()
            .flat_map(|r| {
                r.iter()
                    .zip(&row)
                    .map(|(x, y)| x * 10.0 + y)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let c = Array2::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as f64);
    let f = Array2::from_shape_fn((2, 3).f(), |(i, j)| (i * 3 + j) as f64);
    assert!(f.as_slice().is_none() && f.as_slice_memory_order().is_some());
    let reversed = c.slice(s![..;-1, ..]);
    let reversed_both = c.slice(s![..;-1, ..;-1]);
    for (what, view, expected) in [
        ("C order", c.view(), want(&c)),
        ("F order", f.view(), want(&f)),
        ("reversed rows", reversed, want(&reversed.to_owned())),
        (
            "reversed both axes",
            reversed_both,
            want(&reversed_both.to_owned()),
        ),
    ] {
        let memory = view
            .to_slice_memory_order()
            .expect("contiguous")
            .as_ptr_range();
        let arg = Arg::try_from(view).unwrap();
        let Arg::Array(v) = arg else {
            panic!("{what}: an array")
        };
        let Buffer::F64(buf) = v.buffer() else {
            panic!("{what}: f64")
        };
        // The view borrows the ndarray's own memory: no copy was made.
        assert_eq!(buf.as_ptr_range(), memory, "{what}");
        assert_eq!(v.shape(), Shape::matrix(2, 3), "{what}");
        let y = expr.eval(&[("m", arg), ("r", (&row).into())]).unwrap();
        assert_eq!(y.shape(), Shape::matrix(2, 3), "{what}");
        assert_eq!(f64s(&y), expected, "{what}");
    }
}

#[test]
fn non_contiguous_ndarray_view_is_refused() {
    let c = Array2::from_shape_fn((4, 6), |(i, j)| (i * 6 + j) as f32);
    let every_other = c.slice(s![.., ..;2]);
    let err = Arg::try_from(every_other).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Call, "{err}");
    assert!(err.message().contains("as_standard_layout"), "{err}");
    // The advice works.
    let copied = every_other.as_standard_layout();
    let arg = Arg::try_from(copied.view()).unwrap();
    let y = Engine::new().eval("x + 1", &[("x", arg)]).unwrap();
    assert_eq!(y.shape(), Shape::matrix(4, 3));
    assert_eq!(y.get(1), Scalar::F32(3.0));
}

#[test]
fn views_are_checked_when_made() {
    let buf = [0.0f64; 10];
    let ok = View::strided(Buffer::F64(&buf), 9, &[2, 5], &[-5, -1]).unwrap();
    assert_eq!(ok.get(&[1, 4]), Scalar::F64(0.0));
    for (offset, dims, strides) in [
        (0usize, vec![11usize], vec![1isize]),
        (0, vec![2, 5], vec![5, 2]),
        (5, vec![3], vec![-3]),
        (10, vec![1], vec![1]),
        (0, vec![4], vec![-1]),
    ] {
        let err = View::strided(Buffer::F64(&buf), offset, &dims, &strides).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Call,
            "{offset} {dims:?} {strides:?}: {err}"
        );
        assert!(err.message().contains("outside its buffer"), "{err}");
    }
    let err = View::strided(Buffer::F64(&buf), 0, &[2, 2], &[1]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Call, "{err}");
    let err = View::contiguous(Buffer::F64(&buf), &[2, 5, 1]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shape, "{err}");
    let err = View::contiguous(Buffer::F64(&buf), &[3, 4]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Call, "{err}");
    // An empty view may point anywhere.
    View::strided(Buffer::F64(&buf), 100, &[0, 3], &[3, 1]).unwrap();
}

#[test]
fn zero_stride_views_broadcast() {
    let one = [7.0f64];
    let v = View::strided(Buffer::F64(&one), 0, &[3, 2], &[0, 0]).unwrap();
    let y = Engine::new()
        .eval("x * 2", &[("x", Arg::Array(v))])
        .unwrap();
    assert_eq!(y.shape(), Shape::matrix(3, 2));
    assert_eq!(f64s(&y), [14.0; 6]);
}

#[test]
fn array_from_data() {
    let a = Array::from_data(Data::I32(vec![1, 2, 3, 4]), Shape::matrix(2, 2)).unwrap();
    let y = Engine::new()
        .eval("a * a", &[("a", Arg::Array(a.view()))])
        .unwrap();
    assert_eq!(y.data(), &Data::I32(vec![1, 4, 9, 16]));
    let err = Array::from_data(Data::I32(vec![1, 2, 3]), Shape::matrix(2, 2)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shape);
}

#[test]
fn rank_three_is_refused_when_viewed() {
    let data = vec![0.0f64; 8];
    let err = View::contiguous(Buffer::F64(&data), &[2, 2, 2]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shape, "{err}");
    assert!(err.message().contains("rank 3"), "{err}");
    let err = View::strided(Buffer::F64(&data), 0, &[2, 2, 2], &[4, 2, 1]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shape, "{err}");
}

/// A kernel with short lanes moves to its second tier once calls have run
/// `tier_up_lanes` of them, counted across calls; only short lanes count;
/// the tier is compiled once (on the call that reaches the count), shows
/// in the statistics, and gives the first tier's bits.
#[test]
fn short_lanes_tier_up_after_their_count() {
    let src = "(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)";
    let matrix = |rows: usize, cols: usize| -> Vec<f64> {
        (0..rows * cols)
            .map(|i| ((i * 7919) % 1013) as f64 / 10.0 - 40.0)
            .collect()
    };
    let eval = |e: &arrjit::Expr, rows: usize, cols: usize| {
        let data = matrix(rows, cols);
        let m = arrjit::View::contiguous(arrjit::Buffer::F64(&data), &[rows, cols]).unwrap();
        let compiled = e.compiled(&[("m", m.into())]).unwrap();
        let y = e.eval(&[("m", m.into())]).unwrap();
        (y, compiled.tiered_up())
    };
    let engine = Engine::with_config(Config {
        tier_up_lanes: 100,
        ..Config::default()
    });
    let e = engine.compile(src).unwrap();
    // Long lanes (200 > 128 elements) never count.
    for _ in 0..3 {
        assert!(!eval(&e, 60, 200).1);
    }
    // 40 + 40 short lanes: not yet; the third call reaches 120.
    let (first, tiered) = eval(&e, 40, 10);
    assert!(!tiered);
    assert!(!eval(&e, 40, 10).1);
    assert_eq!(engine.stats().tier_ups, 0, "{:?}", engine.stats());
    assert_eq!(engine.stats().tier_up_failures, 0);
    let before = engine.stats().code_bytes;
    let (second, tiered) = eval(&e, 40, 10);
    assert!(tiered);
    let stats = engine.stats();
    assert_eq!(stats.tier_ups, 1, "{stats:?}");
    assert!(
        stats.code_bytes > before,
        "the tier's code is counted: {stats:?}"
    );
    assert_eq!(crate::util::bitwise_diff(&first, &second), None);
    // Later calls, short or long, run it; it is not compiled again.
    eval(&e, 5, 3);
    eval(&e, 5, 300);
    assert_eq!(engine.stats().tier_ups, 1);

    // `u64::MAX`: never; a kernel with no short-lane reductions: never.
    let never = Engine::with_config(Config {
        tier_up_lanes: u64::MAX,
        ..Config::default()
    });
    let e = never.compile(src).unwrap();
    assert!(!eval(&e, 1000, 10).1);
    let eager = Engine::with_config(Config {
        tier_up_lanes: 0,
        ..Config::default()
    });
    let e = eager.compile("cumsum(m, axis=1) * 2").unwrap();
    assert!(!eval(&e, 1000, 10).1);
    assert_eq!((never.stats().tier_ups, eager.stats().tier_ups), (0, 0));
}

/// A second tier's code counts against `max_cache_code_bytes` as soon as
/// it is compiled: the cache evicts other kernels (never the one tiering
/// up) to stay within it. (Without the trim after a tier-up, both kernels
/// stayed, 4,976 bytes against 2,217: found by review.)
#[test]
fn tier_ups_stay_within_the_cache_code_budget() {
    let sources = [
        "(m - mean(m, axis=1, keepdims=true)) / std(m, axis=1, keepdims=true)",
        "exp(m - max(m, axis=1, keepdims=true)) / sum(exp(m - max(m, axis=1, keepdims=true)), axis=1, keepdims=true)",
    ];
    let data: Vec<f64> = (0..500).map(|i| (i % 17) as f64 - 8.0).collect();
    let m = |rows: usize| {
        arrjit::View::contiguous(arrjit::Buffer::F64(&data[..rows * 10]), &[rows, 10]).unwrap()
    };
    // The first tiers' size, then a budget with room for them alone.
    let probe = Engine::new();
    for src in sources {
        probe.eval(src, &[("m", m(5).into())]).unwrap();
    }
    let max = probe.stats().code_bytes + 100;
    let engine = Engine::with_config(Config {
        tier_up_lanes: 20,
        max_cache_code_bytes: max,
        ..Config::default()
    });
    for src in sources {
        engine.eval(src, &[("m", m(5).into())]).unwrap();
    }
    assert_eq!(engine.stats().entries, 2);
    for src in sources {
        let y = engine.eval(src, &[("m", m(50).into())]).unwrap();
        let want = probe.eval(src, &[("m", m(50).into())]).unwrap();
        assert_eq!(crate::util::bitwise_diff(&want, &y), None);
        // Within the budget, or down to the kernel that tiered up (kept,
        // as a kernel just compiled is, even when alone it is over).
        let stats = engine.stats();
        assert!(
            stats.code_bytes <= max || stats.entries == 1,
            "{stats:?} over {max}"
        );
    }
    let stats = engine.stats();
    assert_eq!(
        (stats.tier_ups, stats.tier_up_failures),
        (2, 0),
        "{stats:?}"
    );
    assert!(stats.evictions > 0, "{stats:?}");
}
