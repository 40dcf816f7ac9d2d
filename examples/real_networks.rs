//! Real networks from `../shared/data/` (skipped with a message when absent): the SocioPatterns
//! high-school contacts (9 classes in 4 specialisations) and the UCTE power grid. Both methods,
//! their dendrograms, AMI against the classes, and inversion counts.
//!
//! `cargo run --release --example real_networks` (writes under `out/real_networks/`).

use neurobricks::datasets::{high_school, power_grid};
use neurobricks::experiments::shared_data_dir;
use neurobricks::hierarchy::{BottomUp, TopDown};
use neurobricks::metrics::adjusted_mutual_info;
use neurobricks::plot::{DendrogramPlot, LeafClasses};
use neurobricks::{Error, Result};
use std::path::PathBuf;

fn main() -> Result<()> {
    let dir = shared_data_dir();
    let out = PathBuf::from("out/real_networks");
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    if dir.join("highschool-2013").exists() {
        let hs = high_school(&dir)?;
        let (class, names) = hs.class_codes();
        let node_class: Vec<Option<u32>> = class.iter().map(|&c| Some(c as u32)).collect();
        println!(
            "high school: {} students, {} contact pairs",
            hs.graph.n(),
            hs.graph.num_edges()
        );
        let bu = BottomUp::new()
            .k(Some(9))
            .seed(0)
            .fit(&hs.graph)?
            .dendrogram;
        let td = TopDown::new().seed(0).fit(&hs.graph)?.dendrogram;
        for (name, d) in [("bottom-up", &bu), ("top-down", &td)] {
            let ami = adjusted_mutual_info(&class, &d.node_clusters(9)?)?;
            println!(
                "  {name:<9} leaves {:>3}  AMI vs 9 classes {ami:.3}  inversions {}",
                d.num_leaves(),
                d.inversions()
            );
            let classes = LeafClasses::majority(d, &node_class, names.clone(), "class")?;
            DendrogramPlot::default()
                .title(format!("high school contacts: {name}"))
                .leaf_classes(classes)
                .render(d, &out.join(format!("highschool_{name}.png")))?;
        }
    } else {
        println!(
            "SKIPPED high school: {} not found",
            dir.join("highschool-2013").display()
        );
    }
    if dir.join("powergrid-ucte").exists() {
        let g = power_grid(&dir)?;
        println!("power grid: {} nodes, {} edges", g.n(), g.num_edges());
        let bu = BottomUp::new().seed(0).fit(&g)?;
        let td = TopDown::new().seed(0).fit(&g)?;
        println!(
            "  bottom-up estimated K = {}, inversions {}",
            bu.info.k,
            bu.dendrogram.inversions()
        );
        println!(
            "  top-down  leaves {}, inversions {}",
            td.info.leaves, td.info.inversions
        );
        for (name, d) in [("bottom-up", &bu.dendrogram), ("top-down", &td.dendrogram)] {
            DendrogramPlot::default()
                .title(format!(
                    "UCTE power grid: {name} ({} inversions)",
                    d.inversions()
                ))
                .render(d, &out.join(format!("powergrid_{name}.png")))?;
        }
    } else {
        println!(
            "SKIPPED power grid: {} not found",
            dir.join("powergrid-ucte").display()
        );
    }
    println!("wrote plots under {}", out.display());
    Ok(())
}
