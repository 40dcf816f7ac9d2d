//! Brick atlas of all six MiniLM layers: the per-layer summary (routing error at 25% on
//! held-out tokens against random same-size bricks and weight k-means; bricks whose top-context
//! lift is significant against random bricks of the same size) and a few brick identities.
//!
//! `cargo run --release --example atlas [-- OUT.json]` (OUT.json: the whole atlas as JSON).
//! About 10 s per layer on 2 cores.

use neurobricks::atlas::minilm::{minilm_atlas, minilm_dir, MINILM_LAYERS};
use neurobricks::atlas::{AtlasParams, RoutingComparison};
use neurobricks::{Error, Result};
use std::time::Instant;

fn cmp(r: &RoutingComparison) -> String {
    format!(
        "{:.3}  {:.3} ± {:.3}  {:.3}",
        r.bricks, r.random_mean, r.random_std, r.weight_kmeans
    )
}

fn main() -> Result<()> {
    let t0 = Instant::now();
    let p = AtlasParams::default();
    let atlas = minilm_atlas(&minilm_dir(), &MINILM_LAYERS, &p)?;
    println!(
        "routing error at {:.0}% ({} router): bricks  random same sizes ({} seeds)  weight k-means",
        p.budget * 100.0,
        p.router.name(),
        p.random_routing
    );
    println!("layer  bricks  evaluation (odd windows, 1536 tok)  held-out documents (1024 tok)  significant lift");
    for la in &atlas.layers {
        let s = &la.summary;
        let h = s.heldout.as_ref().map_or("-".to_string(), cmp);
        println!(
            "{:>5}  {:>6}  {:<34}  {:<29}  {} of {}",
            s.layer,
            s.bricks,
            cmp(&s.evaluation),
            h,
            s.lift_significant,
            s.lift_tested
        );
    }
    println!(
        "significant lift: empirical p-value of the top-{} KL lift against {} random same-size \
         bricks, Benjamini-Hochberg at FDR {}",
        p.lift_occurrences, p.random_bricks, p.alpha
    );
    for la in &atlas.layers {
        let mut cards: Vec<_> = la.cards.iter().filter(|c| c.lift_significant).collect();
        cards.sort_by(|a, b| b.lift.value.total_cmp(&a.lift.value));
        println!("\nlayer {}: most distinctive bricks", la.layer);
        for c in cards.iter().take(3) {
            let pieces: Vec<&str> = c
                .top_pieces
                .iter()
                .take(5)
                .map(|x| x.piece.as_str())
                .collect();
            let ctx = &c.top_contexts[0];
            let marked = format!(
                "{}[[{}]]{}",
                ctx.chunks[..ctx.firing].concat(),
                ctx.chunks[ctx.firing],
                ctx.chunks[ctx.firing + 1..].concat()
            );
            println!(
                "  brick {:>2} ({:>3} neurons) lift {:.2} bits (random {:.2}); pieces {:?}; top: {}",
                c.brick,
                c.size,
                c.lift.value,
                c.lift.random_mean,
                pieces,
                marked.replace('\n', " ")
            );
        }
    }
    if let Some(out) = std::env::args().nth(1) {
        let json = serde_json::to_string(&atlas).map_err(|e| Error::Input(e.to_string()))?;
        std::fs::write(&out, json).map_err(|e| Error::io(std::path::Path::new(&out), e))?;
        println!("\nwrote {out}");
    }
    println!("\n{:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}
