//! The results as a table (stdout), as JSON (`--json`), and as a bar chart
//! per workload (`--report PATH.svg|html`).

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use arrjit::{Error, ErrorKind};

use super::{ModeSpec, Results, Row, MODES};

/// Milliseconds with three significant digits or more.
fn ms(seconds: f64) -> String {
    let ms = seconds * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else if ms >= 1.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.3}")
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn table(r: &Results) -> String {
    let mut t = String::new();
    let p = &r.plan;
    let m = &r.machine;
    let _ = writeln!(
        t,
        "arrjit bench: n = {} f64 per vector (rownorm: {} × {}), 1 thread except fused-mt ({}){}",
        thousands(p.n),
        thousands(super::workloads::matrix_rows(p.n)),
        super::workloads::ROWNORM_COLS,
        MODES
            .iter()
            .find(|m| m.name == "fused-mt")
            .map_or(1, ModeSpec::threads_used),
        if p.fast_math {
            "; fast-math (unfused and fused results checked within tolerance)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        t,
        "machine: {}, {} cores, {} {}; features {}",
        m.cpu,
        m.cores,
        m.os,
        m.arch,
        m.features.join(" ")
    );
    if let Some((before, after)) = r.load {
        let _ = writeln!(
            t,
            "load average (1 min): {before:.2} before, {after:.2} after, on {} cores{}",
            m.cores,
            if before.max(after) > m.cores as f64 * 0.5 {
                " (a busy machine: read the figures as ratios)"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(
        t,
        "STREAM triad: {:.1} GB/s (3 × {} f64, median of {}, min {} ms, max {} ms)",
        r.triad_gbps,
        thousands(p.n),
        p.runs,
        ms(r.triad.min),
        ms(r.triad.max)
    );
    let _ = writeln!(
        t,
        "times: median of {} runs after {} warm-up (interp: {} runs at n = {}, scaled to n, marked *); \
         compile time apart (median of 5 cold compiles)",
        p.runs,
        p.warmup,
        p.interp_runs,
        thousands(p.interp_n)
    );
    let _ = writeln!(
        t,
        "GB/s: each input read once and each output written once, over the median\n"
    );
    let _ = writeln!(
        t,
        "{:<24} {:<9} {:>10} {:>10} {:>10} {:>7} {:>7} {:>9} {:>10}",
        "workload",
        "mode",
        "median ms",
        "min ms",
        "max ms",
        "GB/s",
        "%triad",
        "vs fused",
        "compile ms"
    );
    for (name, _) in &r.workloads {
        let rows: Vec<&Row> = r.rows.iter().filter(|row| &row.workload == name).collect();
        let fused = rows
            .iter()
            .find(|row| row.mode == "fused")
            .map(|row| row.shown().median);
        for row in &rows {
            let s = row.shown();
            let mode = if row.scaled_to.is_some() {
                format!("{}*", row.mode)
            } else {
                row.mode.to_string()
            };
            let versus = fused.map_or(String::new(), |f| format!("{:.2}x", s.median / f));
            let _ = writeln!(
                t,
                "{:<24} {:<9} {:>10} {:>10} {:>10} {:>7.2} {:>6.0}% {:>9} {:>10}",
                short(name, 24),
                mode,
                ms(s.median),
                ms(s.min),
                ms(s.max),
                row.gbps(),
                100.0 * row.gbps() / r.triad_gbps,
                versus,
                row.compile_s
                    .map_or("-".to_string(), |c| format!("{:.3}", c * 1e3)),
            );
        }
    }
    let _ = writeln!(t, "\nworkloads:");
    for (name, text) in &r.workloads {
        if name != text {
            let _ = writeln!(t, "  {name:<12} {text}");
        }
    }
    let _ = writeln!(t, "modes (what one timed run includes):");
    for spec in MODES {
        let _ = writeln!(t, "  {:<9} {}", spec.name, spec.includes);
    }
    if !r.notes.is_empty() {
        let _ = writeln!(t, "notes:");
        for note in &r.notes {
            let _ = writeln!(t, "  {note}");
        }
    }
    t
}

fn short(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let cut: String = s.chars().take(width - 1).collect();
        format!("{cut}…")
    }
}

#[derive(Serialize)]
struct Json<'a> {
    machine: &'a super::Machine,
    n: usize,
    threads: usize,
    fast_math: bool,
    bandwidth_gbps: f64,
    results: Vec<JsonResult<'a>>,
}

/// One figure, as measured: `n` is the size actually timed (the
/// interpreter's is smaller than the suite's; its times are not scaled).
#[derive(Serialize)]
struct JsonResult<'a> {
    workload: &'a str,
    mode: &'a str,
    n: usize,
    median_s: f64,
    min_s: f64,
    max_s: f64,
    gbps: f64,
    compile_s: Option<f64>,
}

pub fn write_json(r: &Results, path: &Path) -> Result<(), Error> {
    let json = Json {
        machine: &r.machine,
        n: r.plan.n,
        // The most threads any measured mode used.
        threads: MODES
            .iter()
            .filter(|m| r.rows.iter().any(|row| row.mode == m.name))
            .map(ModeSpec::threads_used)
            .max()
            .unwrap_or(1),
        fast_math: r.plan.fast_math,
        bandwidth_gbps: r.triad_gbps,
        results: r
            .rows
            .iter()
            .map(|row| JsonResult {
                workload: &row.workload,
                mode: row.mode,
                n: row.n,
                median_s: row.stats.median,
                min_s: row.stats.min,
                max_s: row.stats.max,
                gbps: row.gbps(),
                compile_s: row.compile_s,
            })
            .collect(),
    };
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("writing JSON: {e}")))?;
    std::fs::write(path, text + "\n").map_err(|e| io_error(path, &e))
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("{}: {e}", path.display()))
}

/// A bar chart per workload (GB/s of each mode, the triad as a line), as
/// an SVG file or an HTML page holding the SVG and the table.
pub fn write_chart(r: &Results, path: &Path) -> Result<(), Error> {
    let html = chart_is_html(path)?;
    let svg = chart_svg(r)?;
    let text = if html {
        format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>arrjit bench</title>\
             <style>body{{font-family:sans-serif;margin:2em}} pre{{font-size:12px}}</style>\
             </head><body>\n<h1>arrjit bench</h1>\n{svg}\n<pre>{}</pre>\n</body></html>\n",
            html_escape(&table(r))
        )
    } else {
        svg
    };
    std::fs::write(path, text).map_err(|e| io_error(path, &e))
}

/// Whether the report at `path` is HTML (else SVG); an error for any
/// other extension, checked before anything runs.
pub fn chart_is_html(path: &Path) -> Result<bool, Error> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => Ok(false),
        Some("html" | "htm") => Ok(true),
        _ => Err(Error::new(
            ErrorKind::Call,
            format!(
                "--report {}: the report is a .svg or .html file",
                path.display()
            ),
        )),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const PANEL: (u32, u32) = (460, 200);
const COLUMNS: u32 = 2;

fn chart_svg(r: &Results) -> Result<String, Error> {
    let panels = r.workloads.len().max(1) as u32;
    let rows = panels.div_ceil(COLUMNS);
    let size = (PANEL.0 * COLUMNS, PANEL.1 * rows + 40);
    let mut svg = String::new();
    draw(r, &mut svg, size, rows)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("drawing the chart: {e}")))?;
    Ok(svg)
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(r: &Results, svg: &mut String, size: (u32, u32), rows: u32) -> DrawResult {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(40);
    title.titled(
        &format!(
            "arrjit bench: GB/s per mode, n = {} (black line: STREAM triad {:.1} GB/s)",
            thousands(r.plan.n),
            r.triad_gbps
        ),
        ("sans-serif", 18),
    )?;
    let areas = body.split_evenly((rows as usize, COLUMNS as usize));
    let palette = [
        RGBColor(150, 150, 150),
        RGBColor(230, 140, 40),
        RGBColor(40, 110, 200),
        RGBColor(40, 160, 200),
        RGBColor(60, 160, 80),
    ];
    for ((name, _), area) in r.workloads.iter().zip(areas) {
        let rows: Vec<&Row> = r.rows.iter().filter(|row| &row.workload == name).collect();
        let top = rows
            .iter()
            .map(|row| row.gbps())
            .fold(r.triad_gbps, f64::max)
            * 1.15;
        let labels: Vec<String> = rows.iter().map(|row| row.mode.to_string()).collect();
        let count = rows.len().max(1) as i32;
        let mut chart = ChartBuilder::on(&area)
            .caption(short(name, 40), ("sans-serif", 14))
            .margin(6)
            .x_label_area_size(34)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..top, (0..count - 1).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows.len().max(1))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_desc("GB/s")
            .draw()?;
        chart.draw_series(rows.iter().enumerate().map(|(i, row)| {
            let colour = MODES
                .iter()
                .position(|m| m.name == row.mode)
                .map_or(BLACK, |k| palette[k % palette.len()]);
            let i = i as i32;
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (row.gbps(), SegmentValue::Exact(i + 1)),
                ],
                colour.filled(),
            );
            bar.set_margin(3, 3, 0, 0);
            bar
        }))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![
                (r.triad_gbps, SegmentValue::Exact(0)),
                (r.triad_gbps, SegmentValue::Exact(count)),
            ],
            BLACK.stroke_width(1),
        )))?;
    }
    root.present()?;
    Ok(())
}
