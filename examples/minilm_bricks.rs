//! The bricks evaluation on the shipped MiniLM layers (2 and 5): co-activation bricks built on the
//! even token windows, evaluated on the odd ones, beside random bricks of the same sizes, weight
//! k-means bricks and the unstructured per-token oracle. Writes a CSV, error-versus-budget curves
//! and a dendrogram of each layer's bricks coloured by their top domain.
//!
//! `cargo run --release --example minilm_bricks` (writes under `out/minilm_bricks/`).

use neurobricks::activations::ffn::{load_inputs, FfnLayer};
use neurobricks::bricks::Router;
use neurobricks::experiments::minilm::{SplitLayer, Tokens, MINILM_DOMAINS};
use neurobricks::experiments::pipeline::{coactivation_bricks, CoactConfig};
use neurobricks::experiments::report::{evaluate_layer, BrickMethod, LayerInput, ReportParams};
use neurobricks::plot::{CurvesPlot, DendrogramPlot, LeafClasses, Series};
use neurobricks::util::{wio, write_atomic};
use neurobricks::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

fn main() -> Result<()> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/minilm-l6");
    let out = PathBuf::from("out/minilm_bricks");
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let params = ReportParams {
        budgets: vec![0.05, 0.10, 0.25, 0.50, 0.75],
        routers: vec![Router::Oracle],
        ..ReportParams::default()
    };
    let tokens = Tokens::load(&data.join("tokens.safetensors"))?;
    let csv = out.join("routing.csv");
    let mut lines = vec![
        "layer,budget,coactivation,random_mean,random_std,weight_kmeans,oracle_topk".to_string(),
    ];
    for layer in [2usize, 5] {
        let path = data.join(format!("layer{layer}.safetensors"));
        let ffn = FfnLayer::load(&path)?;
        let x = load_inputs(&path, "ffn_in")?;
        let split = SplitLayer::new(ffn, &x, &tokens)?;
        let cb = coactivation_bricks(&split.cal, &CoactConfig::default())?;
        let input = LayerInput {
            layer,
            method: BrickMethod::Coactivation,
            split: &split,
            tree: &cb.dendrogram,
            degree: Some(&cb.degree),
            domains: &MINILM_DOMAINS,
        };
        let r = evaluate_layer(&input, &params)?;
        println!(
            "layer {layer}: {} bricks; oracle routing, held-out relative FFN-output error",
            r.bricks.len()
        );
        println!("  budget  co-activation  random (mean ± sd)  weight k-means  oracle top neurons");
        let mut series = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        for row in &r.routing {
            println!(
                "  {:>5.0}%  {:>13.3}  {:>8.3} ± {:.3}   {:>14.3}  {:>18.3}",
                100.0 * row.budget,
                row.method.rel_error,
                row.random_error_mean,
                row.random_error_std,
                row.weight_kmeans.rel_error,
                row.oracle_topk.rel_error
            );
            lines.push(format!(
                "{layer},{},{},{},{},{},{}",
                row.budget,
                row.method.rel_error,
                row.random_error_mean,
                row.random_error_std,
                row.weight_kmeans.rel_error,
                row.oracle_topk.rel_error
            ));
            let b = 100.0 * row.budget;
            series[0].push((b, row.method.rel_error));
            series[1].push((b, row.random_error_mean));
            series[2].push((b, row.weight_kmeans.rel_error));
            series[3].push((b, row.oracle_topk.rel_error));
        }
        let names = [
            "co-activation bricks",
            "random bricks (same sizes)",
            "weight k-means bricks",
            "oracle top neurons",
        ];
        let s: Vec<Series> = names
            .iter()
            .zip(series)
            .map(|(n, p)| Series::new(*n, p))
            .collect();
        CurvesPlot::default()
            .title(format!(
                "MiniLM layer {layer}: oracle routing on held-out tokens"
            ))
            .x_label("neuron budget (%)")
            .y_label("relative FFN-output error")
            .render(&s, &out.join(format!("layer{layer}_error.png")))?;
        // Dendrogram of the bricks, coloured by the domain with the highest brick AP.
        let d = &cb.dendrogram;
        let names: Vec<String> = MINILM_DOMAINS.iter().map(|s| s.to_string()).collect();
        let of_leaf: Vec<Option<u32>> = (0..d.num_leaves())
            .map(|b| {
                r.bricks
                    .iter()
                    .find(|row| row.brick == b && !row.set_aside)
                    .and_then(|row| {
                        names
                            .iter()
                            .position(|n| *n == row.top_domain)
                            .map(|p| p as u32)
                    })
            })
            .collect();
        DendrogramPlot::default()
            .title(format!("MiniLM layer {layer}: co-activation bricks"))
            .leaf_classes(LeafClasses::new("top domain (AP)", names, of_leaf))
            .render(d, &out.join(format!("layer{layer}_dendrogram.png")))?;
    }
    write_atomic(&csv, |w| {
        for l in &lines {
            writeln!(w, "{l}").map_err(wio(&csv))?;
        }
        Ok(())
    })?;
    println!("wrote {} and plots under {}", csv.display(), out.display());
    Ok(())
}
