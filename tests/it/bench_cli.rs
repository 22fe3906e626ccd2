//! `arrjit bench` end to end at a tiny n: the suite runs in every mode it
//! supports, the JSON has exactly the documented schema, and a user
//! expression is measured without a hand-written loop.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

const WORKLOADS: &[&str] = &[
    "sum",
    "a*b+c",
    "2*a + 3*b**2 - sqrt(c)",
    "exp",
    "sin",
    "clip",
    "where",
    "select",
    "diff",
    "cumsum",
    "running_max",
    "ewma",
    "zscore",
    "rownorm",
];

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_arrjit"))
        .arg("bench")
        .args(["--n", "3_000", "--interp-n", "1000", "--runs", "1"])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn suite_json_has_the_schema() {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("arrjit-bench-{}.json", std::process::id()));
    let svg = dir.join(format!("arrjit-bench-{}.svg", std::process::id()));
    let out = bench(&[
        "--json",
        path.to_str().unwrap(),
        "--report",
        svg.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("STREAM triad"), "{table}");
    assert!(!table.contains("not measured"), "{table}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    let chart = std::fs::read_to_string(&svg).unwrap();
    let _ = std::fs::remove_file(&svg);
    assert!(chart.starts_with("<svg") && chart.contains("rownorm"));

    assert_eq!(
        keys(&json),
        BTreeSet::from([
            "machine",
            "n",
            "threads",
            "fast_math",
            "bandwidth_gbps",
            "results"
        ])
    );
    let machine = &json["machine"];
    assert!(machine["cpu"].is_string() && machine["cores"].as_u64() >= Some(1));
    assert!(machine["features"].is_array());
    assert_eq!(json["n"].as_u64(), Some(3000));
    assert_eq!(json["fast_math"].as_bool(), Some(false));
    // fused-mt runs on every core (or ARRJIT_NUM_THREADS).
    assert_eq!(
        json["threads"].as_u64(),
        Some(arrjit::par::resolve_threads(0) as u64)
    );
    assert!(json["bandwidth_gbps"].as_f64().unwrap() > 0.0);

    let results = json["results"].as_array().unwrap();
    let schema = BTreeSet::from([
        "workload",
        "mode",
        "n",
        "median_s",
        "min_s",
        "max_s",
        "gbps",
        "compile_s",
    ]);
    for r in results {
        assert_eq!(keys(r), schema, "{r}");
        let (min, median, max) = (
            r["min_s"].as_f64().unwrap(),
            r["median_s"].as_f64().unwrap(),
            r["max_s"].as_f64().unwrap(),
        );
        assert!(0.0 < min && min <= median && median <= max, "{r}");
        assert!(r["gbps"].as_f64().unwrap() > 0.0, "{r}");
        let mode = r["mode"].as_str().unwrap();
        assert!(
            ["interp", "unfused", "fused", "fused-mt", "rust"].contains(&mode),
            "{r}"
        );
        // Compile time for compiled modes, none for the Rust loop.
        assert_eq!(r["compile_s"].is_null(), mode == "rust", "{r}");
        let n = r["n"].as_u64().unwrap();
        let expected = match (r["workload"].as_str().unwrap(), mode) {
            ("rownorm", "interp") => 500,
            ("rownorm", _) => 1500,
            (_, "interp") => 1000,
            _ => 3000,
        };
        assert_eq!(n, expected, "{r}");
    }
    for w in WORKLOADS {
        for mode in ["interp", "unfused", "fused", "fused-mt", "rust"] {
            assert!(
                results
                    .iter()
                    .any(|r| r["workload"] == *w && r["mode"] == mode),
                "no {mode} result for {w}"
            );
        }
    }
}

/// `--fast-math` compiles the unfused and fused modes with fast-math and
/// checks them within a tolerance (a bitwise check would refuse `a*b+c`
/// once it is fused into an FMA); the table and the JSON say so.
#[test]
fn fast_math_runs_are_checked_within_a_tolerance() {
    let path = std::env::temp_dir().join(format!("arrjit-bench-fm-{}.json", std::process::id()));
    let out = bench(&[
        "--fast-math",
        "--only",
        "a*b+c,ewma",
        "--modes",
        "unfused,fused,fused-mt,rust",
        "--json",
        path.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("; fast-math ("), "{table}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(json["fast_math"].as_bool(), Some(true));
    assert_eq!(json["results"].as_array().map(Vec::len), Some(8));
}

#[test]
fn user_expression_has_no_rust_loop() {
    let out = bench(&["a * b - 1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("a * b - 1"), "{stdout}");
    assert!(
        stdout.contains("rust: no hand-written loop for `a * b - 1`"),
        "{stdout}"
    );
}

#[test]
fn report_must_be_svg_or_html() {
    let out = bench(&["--report", "chart.png"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".svg or .html"));
}

#[test]
fn bad_expression_is_a_user_error() {
    let out = bench(&["a +"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a +"));
}
