//! The main synthetic experiment of Dreveton, Kuroda, Grossglauser & Thiran (JASA 2026): a BTSBM
//! with d = 3, 200 nodes per community, `p[l] = a[l] ln N / N`, `a0 = 40`, `a3 = 100`, and a grid
//! over `(a1, a2)`. For each point and depth: the exact-recovery rate of bottom-up (K = 8 given)
//! and top-down (its own stopping rule), with the theoretical boundaries `CH_{l-1} = 1`
//! (bottom-up / information-theoretic) and `min_{m<l} TD_m = 1` (top-down).
//!
//! `cargo run --release --example hsbm_bottom_up_vs_top_down [-- STEP SAMPLES [FIRST COUNT]]`
//! (default grid step 10 and 2 graphs per point; the two points of the clustering acceptance
//! test are always run with 10 graphs). Writes a CSV and one phase diagram per method and depth
//! under `out/hsbm_bottom_up_vs_top_down/`. With `FIRST COUNT` only grid points
//! `FIRST..FIRST + COUNT` (in the order a1, then a2) run, without the acceptance points and the
//! diagrams, and the CSV is `exact_recovery_FIRST_COUNT.csv` (to time or split the grid); each
//! point's wall time is printed. `-- plot CSV` redraws the six diagrams from the CSV of an
//! earlier run (no fitting).

use neurobricks::hierarchy::theory::{chernoff_hellinger, top_down_divergence};
use neurobricks::hierarchy::{BottomUp, Dendrogram, TopDown};
use neurobricks::hsbm::HsbmParams;
use neurobricks::metrics::matched_accuracy;
use neurobricks::plot::{GridPlot, Series};
use neurobricks::util::write_atomic;
use neurobricks::{Error, Result};
use rayon::prelude::*;
use std::io::Write;
use std::path::PathBuf;

const A0: f64 = 40.0;
const A3: f64 = 100.0;

/// (a1, a2, graphs, bottom-up exact counts per depth, top-down exact counts per depth).
type Row = (f64, f64, u64, [usize; 3], [usize; 3]);

fn exact(d: &Dendrogram, truth: &[usize], k: usize) -> Result<bool> {
    let cut = d.cut_k(k.min(d.num_leaves()))?;
    let pred: Vec<usize> = d
        .expand_to_nodes(&cut)
        .iter()
        .map(|c| c.map_or(usize::MAX, |v| v as usize))
        .collect();
    Ok(matched_accuracy(truth, &pred)? == 1.0)
}

/// Exact-recovery counts per depth for bottom-up and top-down over `samples` graphs.
fn point(a1: f64, a2: f64, samples: u64) -> Result<([usize; 3], [usize; 3])> {
    let (mut bu, mut td) = ([0; 3], [0; 3]);
    for seed in 1..=samples {
        let h = HsbmParams::btsbm_log(3, 200, vec![A0, a1, a2, A3], seed).generate()?;
        let b = BottomUp::new().k(Some(8)).seed(seed).fit(&h.graph)?;
        let t = TopDown::new().seed(seed).fit(&h.graph)?;
        for l in 1..=3 {
            let truth = h.labels_at_depth(l);
            bu[l - 1] += exact(&b.dendrogram, &truth, 1 << l)? as usize;
            td[l - 1] += exact(&t.dendrogram, &truth, 1 << l)? as usize;
        }
    }
    Ok((bu, td))
}

/// The curve `f(a1, a2) = 1` as `a2(a1)`: for each `a1`, the first crossing above the diagonal
/// `a2 = a1` (the model is hierarchical only there).
fn boundary(name: &str, lo: f64, hi: f64, f: impl Fn(f64, f64) -> f64) -> Series {
    let mut pts = Vec::new();
    let steps = 400;
    for i in 0..=steps {
        let x = lo + (hi - lo) * i as f64 / steps as f64;
        let mut prev = f(x, x) - 1.0;
        for j in 1..=steps {
            let y = x + (hi - x) * j as f64 / steps as f64;
            let v = f(x, y) - 1.0;
            if prev.signum() != v.signum() {
                pts.push((x, y));
                break;
            }
            prev = v;
        }
    }
    Series::new(name, pts)
}

/// The six phase diagrams (x = a1, y = a2; cells with a2 <= a1 missing) of the grid rows with
/// `samples` graphs, with both theoretical boundaries, under `out`.
fn draw(
    rows: &[Row],
    grid: &[f64],
    samples: u64,
    points: &[(f64, f64)],
    out: &std::path::Path,
) -> Result<()> {
    for (mi, method) in ["bottom-up", "top-down"].iter().enumerate() {
        for l in 1..=3usize {
            let z: Vec<Vec<f64>> = grid
                .iter()
                .map(|&a2| {
                    grid.iter()
                        .map(|&a1| {
                            rows.iter()
                                .find(|r| r.0 == a1 && r.1 == a2 && r.2 == samples)
                                .map_or(f64::NAN, |r| {
                                    (if mi == 0 { r.3 } else { r.4 })[l - 1] as f64 / samples as f64
                                })
                        })
                        .collect()
                })
                .collect();
            let ch_of = |a1: f64, a2: f64| chernoff_hellinger(&[A0, a1, a2, A3], 2).unwrap()[l - 1];
            let mut ch = boundary(&format!("CH_{} = 1 (bottom-up)", l - 1), A0, A3, ch_of);
            if ch.points.is_empty() {
                // No crossing in the plane: say so in the legend instead of drawing nothing.
                let lo = points
                    .iter()
                    .map(|&(a1, a2)| ch_of(a1, a2))
                    .fold(f64::INFINITY, f64::min);
                ch = Series::new(
                    format!("CH_{} = 1: none (CH_{} >= {lo:.2} > 1 here)", l - 1, l - 1),
                    vec![],
                );
            }
            let td = boundary(&format!("min TD_m<{l} = 1 (top-down)"), A0, A3, |a1, a2| {
                top_down_divergence(&[A0, a1, a2, A3]).unwrap()[..l]
                    .iter()
                    .cloned()
                    .fold(f64::INFINITY, f64::min)
            });
            let png = out.join(format!("{method}_depth{l}.png"));
            GridPlot::default()
                .title(format!(
                    "{method}: exact recovery at depth {l} ({samples} graphs per point)"
                ))
                .x_label("a1")
                .y_label("a2")
                .z_label("exact-recovery rate")
                .z_range(0.0, 1.0)
                .render(grid, grid, &z, &[ch, td], &png)?;
        }
    }
    Ok(())
}

/// Rows of a CSV this example wrote (`a0,a1,a2,a3,graphs,method,depth,exact_rate,ch,td_min`).
fn read_csv(path: &std::path::Path) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut rows: Vec<Row> = Vec::new();
    for (ln, line) in text.lines().enumerate().skip(1) {
        let bad =
            |what: &str| Error::param("CSV", format!("{}:{}: {what}", path.display(), ln + 1));
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 10 {
            return Err(bad("expected 10 fields"));
        }
        let num = |i: usize| {
            f[i].parse::<f64>()
                .map_err(|_| bad(&format!("field {}", i + 1)))
        };
        let (a1, a2, graphs, depth, rate) = (num(1)?, num(2)?, num(4)? as u64, num(6)?, num(7)?);
        if !(1.0..=3.0).contains(&depth) {
            return Err(bad("depth must be 1-3"));
        }
        let count = (rate * graphs as f64).round() as usize;
        let i = match rows
            .iter()
            .position(|r| r.0 == a1 && r.1 == a2 && r.2 == graphs)
        {
            Some(i) => i,
            None => {
                rows.push((a1, a2, graphs, [0; 3], [0; 3]));
                rows.len() - 1
            }
        };
        let l = depth as usize - 1;
        match f[5] {
            "bottom-up" => rows[i].3[l] = count,
            "top-down" => rows[i].4[l] = count,
            _ => return Err(bad("method must be bottom-up or top-down")),
        }
    }
    Ok(rows)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("plot") {
        // Redraw the diagrams from a CSV of an earlier run (the grid and the graphs per point
        // are those of its grid rows; the two acceptance points are left out).
        let csv = PathBuf::from(
            args.get(2)
                .ok_or_else(|| Error::param("CSV", "plot needs a CSV path"))?,
        );
        let rows = read_csv(&csv)?;
        let samples = rows.iter().map(|r| r.2).max().unwrap_or(0);
        // The grid step: the most frequent gap between the sorted distinct coordinates (the
        // acceptance points, e.g. a1 = 41, are off the grid).
        let mut vals: Vec<f64> = rows.iter().flat_map(|r| [r.0, r.1]).collect();
        vals.sort_by(f64::total_cmp);
        vals.dedup();
        let mut gaps: Vec<f64> = vals.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_by(f64::total_cmp);
        let step = gaps
            .chunk_by(|a, b| (a - b).abs() < 1e-9)
            .max_by_key(|c| c.len())
            .map(|c| c[0])
            .ok_or_else(|| Error::param("CSV", format!("{}: no grid", csv.display())))?;
        let grid: Vec<f64> = (0..)
            .map(|i| A0 + step * i as f64)
            .take_while(|&x| x < A3)
            .collect();
        let on = |v: f64| grid.iter().any(|&g| (g - v).abs() < 1e-9);
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.2 == samples && on(r.0) && on(r.1))
            .map(|r| (r.0, r.1))
            .collect();
        let out = PathBuf::from("out/hsbm_bottom_up_vs_top_down");
        std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        draw(&rows, &grid, samples, &points, &out)?;
        println!(
            "redrew 6 phase diagrams from {} under {}",
            csv.display(),
            out.display()
        );
        return Ok(());
    }
    let step: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let samples: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let range: Option<(usize, usize)> = match (args.get(3), args.get(4)) {
        (Some(f), Some(c)) => Some((
            f.parse()
                .map_err(|_| Error::param("FIRST", format!("{f:?}")))?,
            c.parse()
                .map_err(|_| Error::param("COUNT", format!("{c:?}")))?,
        )),
        _ => None,
    };
    let out = PathBuf::from("out/hsbm_bottom_up_vs_top_down");
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let grid: Vec<f64> = (0..)
        .map(|i| A0 + step * i as f64)
        .take_while(|&x| x < A3)
        .collect();
    let mut rows: Vec<Row> = Vec::new();
    // The acceptance points of the clustering issue, 10 graphs each.
    let acceptance: &[(f64, f64)] = if range.is_some() {
        &[]
    } else {
        &[(41.0, 45.0), (55.0, 70.0)]
    };
    for &(a1, a2) in acceptance {
        let (bu, td) = point(a1, a2, 10)?;
        println!("a = (40, {a1}, {a2}, 100), 10 graphs: exact at depth 1/2/3: bottom-up {bu:?}, top-down {td:?}");
        rows.push((a1, a2, 10, bu, td));
    }
    let t0 = std::time::Instant::now();
    // Grid points in parallel (rayon; each fit also uses the pool inside, which then runs on
    // the threads left over): same rows, in grid order, whatever the thread count.
    let points: Vec<(f64, f64)> = grid
        .iter()
        .flat_map(|&a1| {
            grid.iter()
                .filter(move |&&y| y > a1)
                .map(move |&a2| (a1, a2))
        })
        .collect();
    let points: Vec<(f64, f64)> = match range {
        Some((first, count)) => points.into_iter().skip(first).take(count).collect(),
        None => points,
    };
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Row>> = points
        .par_iter()
        .map(|&(a1, a2)| {
            let tp = std::time::Instant::now();
            let (bu, td) = point(a1, a2, samples)?;
            if range.is_some() {
                eprintln!(
                    "a = (40, {a1}, {a2}, 100): {:.2} s, bottom-up {bu:?}, top-down {td:?}",
                    tp.elapsed().as_secs_f64()
                );
            }
            let k = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if k.is_multiple_of(20) {
                eprintln!(
                    "{k}/{} points ({:.0} s)",
                    points.len(),
                    t0.elapsed().as_secs_f64()
                );
            }
            Ok((a1, a2, samples, bu, td))
        })
        .collect();
    for r in results {
        rows.push(r?);
    }
    println!(
        "{} grid points x {samples} graphs in {:.0} s",
        points.len(),
        t0.elapsed().as_secs_f64()
    );
    let csv = match range {
        Some((f, c)) => out.join(format!("exact_recovery_{f}_{c}.csv")),
        None => out.join("exact_recovery.csv"),
    };
    write_atomic(&csv, |w| {
        let e = neurobricks::util::wio(&csv);
        writeln!(w, "a0,a1,a2,a3,graphs,method,depth,exact_rate,ch,td_min").map_err(&e)?;
        for &(a1, a2, s, bu, td) in &rows {
            let a = [A0, a1, a2, A3];
            let ch = chernoff_hellinger(&a, 2)?;
            let tdv = top_down_divergence(&a)?;
            for l in 1..=3 {
                let td_min = tdv[..l].iter().cloned().fold(f64::INFINITY, f64::min);
                for (m, c) in [("bottom-up", bu), ("top-down", td)] {
                    writeln!(
                        w,
                        "{A0},{a1},{a2},{A3},{s},{m},{l},{},{:.6},{:.6}",
                        c[l - 1] as f64 / s as f64,
                        ch[l - 1],
                        td_min
                    )
                    .map_err(&e)?;
                }
            }
        }
        Ok(())
    })?;
    if range.is_some() {
        println!("wrote {}", csv.display());
        return Ok(());
    }
    draw(&rows, &grid, samples, &points, &out)?;
    println!(
        "wrote {} and 6 phase diagrams under {}",
        csv.display(),
        out.display()
    );
    Ok(())
}
