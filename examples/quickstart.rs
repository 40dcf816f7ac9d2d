//! Quickstart: real MiniLM activations -> neuron co-activation graph -> bottom-up bricks ->
//! dendrogram plot, a brick table, and the brick atlas of layer 5 as an HTML page.
//!
//! `cargo run --release --example quickstart` (writes under `out/quickstart/`: tree.json,
//! dendrogram.png, report.html).
//!
//! Data: `data/minilm-l6/layer5.safetensors` holds the FFN inputs of 3,072 real tokens (code,
//! tutorial prose, API reference, licence texts) and the FFN weights of layer 5 of
//! all-MiniLM-L6-v2; activations are recomputed as GELU(x W_in^T + b_in).

use neurobricks::activations::ffn::FfnLayer;
use neurobricks::activations::read_domains;
use neurobricks::atlas::minilm::{layer_atlas, load_heldout};
use neurobricks::atlas::{AtlasParams, Vocab};
use neurobricks::coactivation::CoactivationParams;
use neurobricks::experiments::html_report::{html_report, layer_report};
use neurobricks::hierarchy::BottomUp;
use neurobricks::plot::{DendrogramPlot, LeafClasses};
use neurobricks::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

const BRICKS: usize = 32;

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from("out/quickstart");
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let t0 = Instant::now();

    // 1. Activations of layer 5 on the shipped tokens.
    let (_, acts) = FfnLayer::read_activations(&root.join("data/minilm-l6/layer5.safetensors"))?;
    let (domain, domain_names) = read_domains(&root.join("data/minilm-l6/domains.txt"), acts.rows)?;
    println!("layer 5: {} tokens x {} neurons", acts.rows, acts.cols);

    // 2. Co-activation graph: top 10% neurons per token, phi weights, 10 nearest neighbours.
    let params = CoactivationParams::default()
        .binarize("topk:10%".parse()?)
        .weight("phi".parse()?)
        .sparsify("knn:10".parse()?);
    let co = params.fit(&acts)?;
    let r = &co.report;
    println!(
        "co-activation graph: {} neurons, {} edges; {} dead and {} resident neurons set aside",
        co.graph.n(),
        r.edges,
        r.dead.len(),
        r.resident.len()
    );

    // 3. Bottom-up bricks: Bethe-Hessian spectral clustering into 32 bricks + average linkage.
    let fit = BottomUp::new().k(Some(BRICKS)).seed(0).fit(&co.graph)?;
    let tree = &fit.dendrogram;
    tree.write(&out.join("tree.json"))?;

    // 4. Brick table: size, and the domain where the brick's activation mass is highest,
    //    with its share of the brick's mass (4 domains with equal token counts: 0.25 = none).
    let n_dom = domain_names.len();
    let a = &acts.data;
    let mut rows = Vec::new();
    for (b, leaf) in tree.leaves.iter().enumerate() {
        let mut mass = vec![0.0f64; n_dom];
        for &m in leaf {
            let neuron: usize = tree.node_ids[m as usize].parse().expect("neuron index ids");
            for t in 0..acts.rows {
                mass[domain[t] as usize] += a[t * acts.cols + neuron].max(0.0) as f64;
            }
        }
        let total: f64 = mass.iter().sum::<f64>().max(1e-300);
        let top = (0..n_dom)
            .max_by(|&x, &y| mass[x].total_cmp(&mass[y]))
            .unwrap_or(0);
        rows.push((b, leaf.len(), top, mass[top] / total));
    }
    let order = tree.leaf_order();
    println!("\nbrick  size  top domain   share of mass");
    for &b in &order {
        let (_, size, top, share) = rows[b];
        println!("{b:>5}  {size:>4}  {:<11}  {share:.2}", domain_names[top]);
    }
    let specialised = rows.iter().filter(|r| r.3 >= 0.5).count();
    println!("{specialised} of {BRICKS} bricks put at least half of their activation mass on one domain (of {n_dom})");

    // 5. Dendrogram coloured by each brick's top domain.
    let classes = LeafClasses::new(
        "top domain",
        domain_names.clone(),
        rows.iter().map(|r| Some(r.2 as u32)).collect(),
    );
    let png = out.join("dendrogram.png");
    DendrogramPlot::default()
        .title("MiniLM layer 5: co-activation bricks (bottom-up)")
        .leaf_classes(classes)
        .cut(4)
        .render(tree, &png)?;

    // 6. The brick atlas of layer 5 as one HTML page (bricks rebuilt on the calibration half of
    //    the tokens, every statistic measured on the other half and on held-out documents).
    let data = root.join("data/minilm-l6");
    let vocab = Vocab::load(&data.join("vocab.txt"))?;
    let heldout = load_heldout(&data)?;
    let p = AtlasParams::default();
    let layer = layer_report(
        &data,
        layer_atlas(&data, 5, &vocab, Some(&heldout), &p)?,
        &p,
    )?;
    let report = out.join("report.html");
    html_report(std::slice::from_ref(&layer)).write(&report)?;
    let s = layer.summary();
    println!(
        "\nheld-out routing error at {:.0}% of the neurons: {:.3} (random same-size bricks {:.3}, weight k-means {:.3})",
        100.0 * s.budget,
        s.error,
        s.random_mean,
        s.weight_kmeans
    );
    let mut cards: Vec<_> = layer
        .atlas
        .cards
        .iter()
        .filter(|c| c.lift_significant)
        .collect();
    cards.sort_by(|a, b| b.lift.value.total_cmp(&a.lift.value));
    println!(
        "{} of {} bricks have a significant top-context lift; the most distinctive:",
        cards.len(),
        layer.atlas.summary.lift_tested
    );
    for c in cards.iter().take(4) {
        let pieces: Vec<&str> = c
            .top_pieces
            .iter()
            .take(4)
            .map(|x| x.piece.as_str())
            .collect();
        let w = &c.top_contexts[0];
        let ctx = format!(
            "{}[{}]{}",
            w.chunks[..w.firing].concat(),
            w.chunks[w.firing].trim_start(),
            w.chunks[w.firing + 1..].concat()
        );
        println!(
            "  brick {:>2} ({:>3} neurons): {}  e.g. \"{}\"",
            c.brick,
            c.size,
            pieces.join(" "),
            ctx.replace('\n', " ").trim()
        );
    }
    println!(
        "\nwrote {}/{{tree.json, dendrogram.png}} in {:.1} s",
        out.display(),
        t0.elapsed().as_secs_f64()
    );
    println!("report: {}", report.display());
    Ok(())
}
