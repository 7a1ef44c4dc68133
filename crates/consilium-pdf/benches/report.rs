//! Render benchmark of the compte rendu (issue 6): a typical one-page report, and a long
//! one, rendered to PDF/A-2b. The aim is under 200 ms for the one-page report (a preview is
//! rendered while the expert waits).
//!
//! `cargo bench --bench report` (`BENCH_QUICK=1` for a short run). Prints figures; never
//! fails on time.

use std::time::{Duration, Instant};

fn quick() -> bool {
    std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn stats(label: &str, mut d: Vec<Duration>, bytes: usize) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    let p = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label:<40} n={:<3} min {:>7.1} ms  median {:>7.1} ms  p95 {:>7.1} ms  max {:>7.1} ms  ({} KiB)",
        d.len(),
        ms(d[0]),
        ms(p(0.5)),
        ms(p(0.95)),
        ms(d[d.len() - 1]),
        bytes / 1024
    );
}

fn run(label: &str, report: &consilium_pdf::Report, n: usize, cold: bool) {
    let mut times = Vec::with_capacity(n);
    let mut size = 0;
    for i in 0..n {
        let mut r = report.clone();
        // A different report each time (id, names, opinion), as on a server.
        r.document_id = format!("0193A5C2-7F00-7000-8000-{i:012}");
        r.patient.given_names = format!("{} {i}", r.patient.given_names);
        r.opinion = format!("{} (variante {i})", r.opinion);
        if cold {
            consilium_pdf::evict_caches();
        }
        let t = Instant::now();
        let pdf = consilium_pdf::render(&r).expect("render");
        times.push(t.elapsed());
        size = pdf.len();
    }
    stats(label, times, size);
}

fn main() {
    let n = if quick() { 5 } else { 30 };
    let typical = consilium_pdf::example();

    let t = Instant::now();
    let pdf = consilium_pdf::render(&typical).expect("render");
    println!(
        "first render (fonts loaded, cold)  {:>7.1} ms  ({} KiB)",
        t.elapsed().as_secs_f64() * 1000.0,
        pdf.len() / 1024
    );
    run("typical one-page report", &typical, n, false);
    run("typical, typst caches emptied each time", &typical, n, true);

    let mut preview = typical.clone();
    preview.signature = None;
    preview.watermark = Some("BROUILLON — APERÇU".into());
    run("preview (watermark, unsigned)", &preview, n, false);

    let mut long = typical.clone();
    long.opinion = "Le patient décrit une gêne persistante depuis plusieurs semaines. ".repeat(300);
    run("long report (about 5 pages)", &long, n.min(10), false);
}
