//! Plot rendering: every plot type to PNG and SVG, decoded and checked for size, content and
//! labels, with the embedded font only (no system font needed).
//!
//! Set `NEUROBRICKS_PLOT_DIR=/some/folder` to keep the rendered files for a visual check.

use neurobricks::graph::Labels;
use neurobricks::hierarchy::{Dendrogram, HeightMap};
use neurobricks::hsbm::HsbmParams;
use neurobricks::plot::{
    ColorScale, CurvesPlot, DendrogramPlot, HeatmapPlot, HeightScale, ImageFormat, LeafClasses,
    Series,
};
use neurobricks::{Error, Graph};
use std::collections::HashSet;
use std::path::PathBuf;

fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut r = dec.read_info().expect("PNG header");
    let mut buf = vec![0; r.output_buffer_size().expect("buffer size")];
    let info = r.next_frame(&mut buf).expect("PNG data");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Decode, check the size and that the image is not blank; returns the number of colours.
fn check_png(bytes: &[u8], w: u32, h: u32) -> usize {
    let (pw, ph, rgb) = decode_png(bytes);
    assert_eq!((pw, ph), (w, h));
    let colors: HashSet<[u8; 3]> = rgb.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
    assert!(colors.len() > 8, "only {} colours", colors.len());
    // Text and lines: a good share of non-white pixels, but not a filled canvas.
    let ink = rgb.chunks(3).filter(|c| c != &[255, 255, 255]).count();
    let frac = ink as f64 / (w * h) as f64;
    assert!(frac > 0.005 && frac < 0.95, "ink fraction {frac}");
    colors.len()
}

fn check_svg(bytes: &[u8], labels: &[&str]) -> String {
    let s = String::from_utf8(bytes.to_vec()).expect("UTF-8 SVG");
    assert!(
        s.trim_start().starts_with("<svg"),
        "{}",
        &s[..80.min(s.len())]
    );
    assert!(s.trim_end().ends_with("</svg>"));
    assert_eq!(s.matches("<text").count(), s.matches("</text>").count());
    assert!(s.matches("<text").count() >= 3);
    for l in labels {
        assert!(s.contains(l), "label `{l}` missing from the SVG");
    }
    s
}

fn keep(name: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("NEUROBRICKS_PLOT_DIR") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("n{i}")).collect()
}

/// 8 leaves of 3..=10 nodes: ((0,1),(2,3)),((4,5),(6,7)).
fn small_tree() -> Dendrogram {
    let mut leaves = Vec::new();
    let mut next = 0u32;
    for a in 0..8u32 {
        let size = 3 + a;
        leaves.push((next..next + size).collect());
        next += size;
    }
    Dendrogram::from_tree(
        ids(next as usize),
        leaves,
        &[
            (0, 1, 0.62),
            (2, 3, 0.55),
            (4, 5, 0.70),
            (6, 7, 0.48),
            (8, 9, 0.30),
            (10, 11, 0.22),
            (12, 13, 0.04),
        ],
        HeightMap::OneMinus,
        "test",
    )
    .unwrap()
}

/// A deterministic, roughly balanced monotone tree over `k` leaves of 2 nodes.
fn big_tree(k: usize) -> Dendrogram {
    let leaves: Vec<Vec<u32>> = (0..k as u32).map(|a| vec![2 * a, 2 * a + 1]).collect();
    let mut level: Vec<usize> = (0..k).collect();
    let mut internal = Vec::new();
    let mut depth = 0;
    while level.len() > 1 {
        let mut next = Vec::new();
        for (j, pair) in level.chunks(2).enumerate() {
            if pair.len() == 2 {
                let s = 0.95 / (depth as f64 + 1.2) - 0.001 * ((j * 7) % 11) as f64;
                internal.push((pair[0], pair[1], s));
                next.push(k + internal.len() - 1);
            } else {
                next.push(pair[0]);
            }
        }
        level = next;
        depth += 1;
    }
    Dendrogram::from_tree(ids(2 * k), leaves, &internal, HeightMap::OneMinus, "test").unwrap()
}

/// Six leaves; the root (0.30) has a child (0.12) less similar than itself: an inversion.
fn inverted_tree() -> Dendrogram {
    let leaves: Vec<Vec<u32>> = (0..6u32)
        .map(|a| vec![3 * a, 3 * a + 1, 3 * a + 2])
        .collect();
    Dendrogram::from_tree(
        ids(18),
        leaves,
        &[
            (0, 1, 0.12), // 6: inverted (below the root's 0.30)
            (2, 3, 0.60), // 7
            (4, 5, 0.55), // 8
            (7, 8, 0.35), // 9
            (6, 9, 0.30), // 10: root
        ],
        HeightMap::OneMinus,
        "top_down",
    )
    .unwrap()
}

fn classes_for(tree: &Dendrogram, n_classes: usize) -> LeafClasses {
    let names = (0..n_classes).map(|c| format!("class {c}")).collect();
    let node_class: Vec<Option<u32>> = (0..tree.node_ids.len())
        .map(|i| Some(((i / 7) % n_classes) as u32))
        .collect();
    LeafClasses::majority(tree, &node_class, names, "truth").unwrap()
}

#[test]
fn dendrogram_small_png_and_svg() {
    let t = small_tree();
    let p = DendrogramPlot::default()
        .title("Small dendrogram")
        .cut(3)
        .leaf_classes(classes_for(&t, 3));
    let png = p.render_to_bytes(&t, ImageFormat::Png).unwrap();
    keep("dendrogram_small.png", &png);
    check_png(&png, 1000, 600);
    let svg = p.render_to_bytes(&t, ImageFormat::Svg).unwrap();
    keep("dendrogram_small.svg", &svg);
    check_svg(
        &svg,
        &[
            "Small dendrogram",
            "L0 (3)",
            "L7 (10)",
            "class 1",
            "truth",
            "cut into 3 clusters",
            "similarity (edge density), log scale",
        ],
    );
    // The stored heights on a linear axis, on request.
    let svg = p
        .clone()
        .scale(HeightScale::Height)
        .render_to_bytes(&t, ImageFormat::Svg)
        .unwrap();
    check_svg(&svg, &["height (1 − density)"]);
    // Log axis too.
    let png = p
        .clone()
        .log(true)
        .render_to_bytes(&t, ImageFormat::Png)
        .unwrap();
    keep("dendrogram_small_log.png", &png);
    check_png(&png, 1000, 600);
}

#[test]
fn dendrogram_many_leaves_is_aggregated() {
    let t = big_tree(500);
    let p = DendrogramPlot::default()
        .title("500 leaves, collapsed")
        .leaf_classes(classes_for(&t, 6))
        .max_leaves(40)
        .cut(8);
    let png = p.render_to_bytes(&t, ImageFormat::Png).unwrap();
    keep("dendrogram_500.png", &png);
    check_png(&png, 1000, 600);
    let svg = p.render_to_bytes(&t, ImageFormat::Svg).unwrap();
    keep("dendrogram_500.svg", &svg);
    let s = check_svg(&svg, &["collapsed subtree", "leaves ("]);
    // 40 drawn leaves: 40 leaf labels, each a collapsed subtree or a single leaf.
    let leaf_labels = s.matches(" leaves (").count() + s.matches(">L").count();
    assert!(leaf_labels >= 40, "{leaf_labels}");
    // Default: at most 60 drawn leaves.
    let svg = DendrogramPlot::default()
        .render_to_bytes(&t, ImageFormat::Svg)
        .unwrap();
    let s = String::from_utf8(svg).unwrap();
    assert_eq!(s.matches(" leaves (").count() + s.matches(">L").count(), 60);
}

#[test]
fn dendrogram_inversions_are_drawn_not_fixed() {
    let t = inverted_tree();
    assert_eq!(t.inversions(), 1);
    let p = DendrogramPlot::default().title("Top-down tree with an inversion");
    let png = p.render_to_bytes(&t, ImageFormat::Png).unwrap();
    keep("dendrogram_inversion.png", &png);
    check_png(&png, 1000, 600);
    // The inversion colour is present in the image.
    let (_, _, rgb) = decode_png(&png);
    let red = p.inversion_color;
    assert!(rgb.chunks(3).any(|c| c == [red.0, red.1, red.2]));
    let svg = p.render_to_bytes(&t, ImageFormat::Svg).unwrap();
    keep("dendrogram_inversion.svg", &svg);
    check_svg(&svg, &["inversions (1)"]);
}

#[test]
fn dendrogram_from_labels_uses_majority() {
    let t = small_tree();
    // Node i of leaf a gets class "c<a % 2>" except one minority node.
    let mut rows = Vec::new();
    for (a, leaf) in t.leaves.iter().enumerate() {
        for (j, &m) in leaf.iter().enumerate() {
            let c = if j == 0 { (a + 1) % 2 } else { a % 2 };
            rows.push((t.node_ids[m as usize].clone(), c));
        }
    }
    let labels = Labels::from_partitions(
        vec!["group".into()],
        rows.iter().map(|r| r.0.clone()).collect(),
        vec![rows.iter().map(|r| r.1).collect()],
    )
    .unwrap();
    let lc = LeafClasses::from_labels(&t, &labels, "group").unwrap();
    let names = &lc.names;
    let of: Vec<&str> = lc
        .of_leaf
        .iter()
        .map(|c| names[c.unwrap() as usize].as_str())
        .collect();
    assert_eq!(of, ["0", "1", "0", "1", "0", "1", "0", "1"]);
    let e = LeafClasses::from_labels(&t, &labels, "nope").unwrap_err();
    assert!(
        matches!(e, Error::Param { ref name, .. } if name == "column"),
        "{e}"
    );
    assert!(e.to_string().contains("group"), "{e}");
}

#[test]
fn dendrogram_bad_inputs_are_clear_errors() {
    let single =
        Dendrogram::from_tree(ids(2), vec![vec![0, 1]], &[], HeightMap::OneMinus, "t").unwrap();
    let e = DendrogramPlot::default()
        .render_to_bytes(&single, ImageFormat::Png)
        .unwrap_err();
    assert!(e.to_string().contains("single leaf"), "{e}");

    let mut nan = small_tree();
    nan.merges[2].height = f64::NAN;
    let e = DendrogramPlot::default()
        .render_to_bytes(&nan, ImageFormat::Png)
        .unwrap_err();
    assert!(e.to_string().contains("non-finite"), "{e}");

    let zero = Dendrogram::from_tree(
        ids(2),
        vec![vec![0], vec![1]],
        &[(0, 1, 1.0)],
        HeightMap::OneMinus,
        "t",
    )
    .unwrap();
    let e = DendrogramPlot::default()
        .log(true)
        .render_to_bytes(&zero, ImageFormat::Png)
        .unwrap_err();
    assert!(
        matches!(e, Error::Param { ref name, .. } if name == "DendrogramPlot.log"),
        "{e}"
    );

    let t = small_tree();
    for p in [
        DendrogramPlot::default().cut(9),
        DendrogramPlot::default().cut(0),
        DendrogramPlot::default().max_leaves(1),
        DendrogramPlot::default().width(10),
        DendrogramPlot::default().font_size(f64::NAN),
        DendrogramPlot::default().leaf_names(vec!["a".into()]),
    ] {
        let e = p.render_to_bytes(&t, ImageFormat::Svg).unwrap_err();
        assert!(matches!(e, Error::Param { .. }), "{e}");
    }

    // Unknown extension: an error naming the parameter, and no file.
    let dir = std::env::temp_dir().join(format!("nb-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("tree.jpg");
    let e = DendrogramPlot::default().render(&t, &out).unwrap_err();
    assert!(
        matches!(e, Error::Param { ref name, .. } if name == "out"),
        "{e}"
    );
    assert!(e.to_string().contains(".jpg"), "{e}");
    assert!(!out.exists());
    // A failed render leaves no partial file; a good one writes the file.
    let out = dir.join("tree.png");
    assert!(DendrogramPlot::default().render(&single, &out).is_err());
    assert!(!out.exists());
    DendrogramPlot::default().render(&t, &out).unwrap();
    check_png(&std::fs::read(&out).unwrap(), 1000, 600);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "tree.png")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A BTSBM graph with its planted tree as a dendrogram over its communities.
fn planted(depth: usize, per_leaf: usize, seed: u64) -> (Graph, Dendrogram) {
    // p[l] = 0.01 * 2^l, as log-degree coefficients a[l] = p[l] N / ln N.
    let n = (per_leaf << depth) as f64;
    let a = (0..=depth)
        .map(|l| 0.01 * (1u64 << l) as f64 * n / n.ln())
        .collect();
    let h = HsbmParams::btsbm_log(depth, per_leaf, a, seed)
        .generate()
        .unwrap();
    let k = 1usize << depth;
    let mut leaves = vec![Vec::new(); k];
    for (i, &l) in h.leaf.iter().enumerate() {
        leaves[l as usize].push(i as u32);
    }
    // Balanced binary tree over leaves 0..k; similarity = edge probability at the LCA depth.
    let mut internal = Vec::new();
    let mut level: Vec<usize> = (0..k).collect();
    let mut d = depth;
    while level.len() > 1 {
        d -= 1;
        let mut next = Vec::new();
        for pair in level.chunks(2) {
            internal.push((pair[0], pair[1], h.probs[d]));
            next.push(k + internal.len() - 1);
        }
        level = next;
    }
    let tree = Dendrogram::from_tree(
        h.graph.ids().to_vec(),
        leaves,
        &internal,
        HeightMap::OneMinus,
        "planted",
    )
    .unwrap();
    (h.graph, tree)
}

#[test]
fn heatmap_small_png_and_svg() {
    let (g, t) = planted(3, 40, 1);
    let p = HeatmapPlot::default()
        .title("Planted BTSBM, 320 nodes")
        .leaf_classes(classes_for(&t, 3));
    let png = p.render_to_bytes(&g, &t, ImageFormat::Png).unwrap();
    keep("heatmap_small.png", &png);
    check_png(&png, 900, 800);
    let svg = p.render_to_bytes(&g, &t, ImageFormat::Svg).unwrap();
    keep("heatmap_small.svg", &svg);
    let s = check_svg(
        &svg,
        &[
            "Planted BTSBM",
            "320 nodes, 8 leaves",
            "data:image/png;base64,",
            "class 2",
        ],
    );
    assert!(!s.contains("NB-RASTER"));
    // The embedded image is small: one PNG, not one element per cell.
    assert!(s.len() < 400_000, "{} bytes", s.len());
}

#[test]
fn heatmap_large_is_binned_with_log_and_rank_scales() {
    let (g, t) = planted(4, 200, 2);
    assert_eq!(g.n(), 3200);
    for (scale, name) in [(ColorScale::Log, "log"), (ColorScale::Rank, "rank")] {
        let p = HeatmapPlot::default()
            .scale(scale)
            .title(format!("3200 nodes, {name} scale"));
        let png = p.render_to_bytes(&g, &t, ImageFormat::Png).unwrap();
        keep(&format!("heatmap_large_{name}.png"), &png);
        check_png(&png, 900, 800);
        let svg = p.render_to_bytes(&g, &t, ImageFormat::Svg).unwrap();
        keep(&format!("heatmap_large_{name}.svg"), &svg);
        check_svg(&svg, &["per pixel", &format!("({name} scale)")]);
    }
}

#[test]
fn heatmap_rejects_foreign_tree() {
    let (g, _) = planted(2, 10, 3);
    let t = small_tree();
    let e = HeatmapPlot::default()
        .render_to_bytes(&g, &t, ImageFormat::Png)
        .unwrap_err();
    assert!(e.to_string().contains("another graph"), "{e}");
}

#[test]
fn curves_png_and_svg() {
    let xs: Vec<f64> = (0..11).map(|i| 0.25 * i as f64).collect();
    let sig = |x: f64, c: f64| 1.0 / (1.0 + (-(x - c) * 6.0).exp());
    let series = vec![
        Series::new("bottom-up", xs.iter().map(|&x| (x, sig(x, 1.0))).collect()),
        Series::new("top-down", xs.iter().map(|&x| (x, sig(x, 1.6))).collect()),
        Series::new(
            "top-down, depth 3",
            xs.iter().map(|&x| (x, sig(x, 2.0) * 0.8)).collect(),
        )
        .color(neurobricks::plot::category_color(1))
        .marker(neurobricks::plot::Marker::Square)
        .dashed(true),
    ];
    let p = CurvesPlot::default()
        .title("Exact recovery at depth 2")
        .x_label("CH_1")
        .y_label("exact recovery rate")
        .y_range(0.0, 1.0)
        .vline(1.0, "CH_1 = 1")
        .vline(1.6, "TD_1 = 1");
    let png = p.render_to_bytes(&series, ImageFormat::Png).unwrap();
    keep("curves.png", &png);
    check_png(&png, 800, 500);
    let svg = p.render_to_bytes(&series, ImageFormat::Svg).unwrap();
    keep("curves.svg", &svg);
    check_svg(
        &svg,
        &[
            "bottom-up",
            "top-down",
            "CH_1 = 1",
            "TD_1 = 1",
            "exact recovery rate",
        ],
    );

    let bad = vec![Series::new("s", vec![(0.0, f64::NAN)])];
    let e = p.render_to_bytes(&bad, ImageFormat::Png).unwrap_err();
    assert!(e.to_string().contains("series `s`"), "{e}");
    let e = p.render_to_bytes(&[], ImageFormat::Png).unwrap_err();
    assert!(e.to_string().contains("no points"), "{e}");
    let e = p
        .clone()
        .log_x(true)
        .render_to_bytes(&series, ImageFormat::Png)
        .unwrap_err();
    assert!(
        matches!(e, Error::Param { ref name, .. } if name == "CurvesPlot.log_x"),
        "{e}"
    );
}

#[test]
fn cli_plot_dendrogram_and_heatmap() {
    use neurobricks::graph::{write_edge_list, write_labels};
    use std::process::Command;
    let dir = std::env::temp_dir().join(format!("nb-plot-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (g, t) = planted(3, 30, 5);
    let (edges, tree, labels) = (
        dir.join("g.edges.tsv"),
        dir.join("tree.json"),
        dir.join("g.labels.tsv"),
    );
    write_edge_list(&g, &edges).unwrap();
    t.write(&tree).unwrap();
    // Ground truth at depths 1..3: leaf a of the planted tree is community a >> (3 - l).
    let mut leaf_of = vec![0usize; g.n()];
    for (a, leaf) in t.leaves.iter().enumerate() {
        for &m in leaf {
            leaf_of[m as usize] = a;
        }
    }
    let lab = Labels::from_partitions(
        vec!["depth1".into(), "depth2".into(), "depth3".into()],
        t.node_ids.clone(),
        (1..=3)
            .map(|l| leaf_of.iter().map(|&a| a >> (3 - l)).collect())
            .collect(),
    )
    .unwrap();
    write_labels(&lab, &labels).unwrap();

    let bin = env!("CARGO_BIN_EXE_neurobricks");
    let run = |args: &[&str]| Command::new(bin).args(args).output().unwrap();
    let s = |p: &PathBuf| p.to_string_lossy().into_owned();

    let out = dir.join("tree.png");
    let o = run(&[
        "plot",
        "dendrogram",
        "--tree",
        &s(&tree),
        "--labels",
        &s(&labels),
        "--column",
        "depth2",
        "--cut",
        "4",
        "--out",
        &s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    keep("cli_dendrogram.png", &std::fs::read(&out).unwrap());
    check_png(&std::fs::read(&out).unwrap(), 1000, 600);

    let out = dir.join("tree.svg");
    let o = run(&[
        "plot",
        "dendrogram",
        "--tree",
        &s(&tree),
        "--labels",
        &s(&labels),
        "--out",
        &s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_svg(
        &std::fs::read(&out).unwrap(),
        &["depth3", "planted dendrogram, 8 leaves, 240 nodes"],
    );

    let out = dir.join("adj.png");
    let o = run(&[
        "plot",
        "heatmap",
        "--graph",
        &s(&edges),
        "--tree",
        &s(&tree),
        "--log",
        "--labels",
        &s(&labels),
        "--column",
        "depth1",
        "--out",
        &s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    keep("cli_heatmap.png", &std::fs::read(&out).unwrap());
    check_png(&std::fs::read(&out).unwrap(), 900, 800);

    // Errors name the flag or the file, and leave no output.
    let bad = dir.join("adj.jpg");
    let o = run(&[
        "plot",
        "heatmap",
        "--graph",
        &s(&edges),
        "--tree",
        &s(&tree),
        "--out",
        &s(&bad),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--out") && err.contains(".jpg"), "{err}");
    assert!(!bad.exists());
    let o = run(&[
        "plot",
        "dendrogram",
        "--tree",
        &s(&tree),
        "--labels",
        &s(&labels),
        "--column",
        "depth9",
        "--out",
        &s(&dir.join("x.png")),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--column") && err.contains("depth1, depth2, depth3"),
        "{err}"
    );
    let o = run(&[
        "plot",
        "dendrogram",
        "--tree",
        &s(&tree),
        "--cut",
        "9",
        "--out",
        &s(&dir.join("x.png")),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--cut"), "{err}");
    assert!(!dir.join("x.png").exists());
    let o = run(&["plot", "dendrogram", "--help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("Examples:"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn large_inputs_render() {
    // 20000 leaves collapse to 60 drawn ones; a 40000-node heat map is binned per pixel.
    let t = big_tree(20_000);
    let png = DendrogramPlot::default()
        .leaf_classes(classes_for(&t, 12))
        .render_to_bytes(&t, ImageFormat::Png)
        .unwrap();
    check_png(&png, 1000, 600);
    let n = t.node_ids.len();
    let edges: Vec<(u32, u32, f64)> = (0..n as u32)
        .flat_map(|i| {
            [1u32, 2, 5, 97]
                .into_iter()
                .map(move |d| (i, (i + d) % n as u32, 1.0))
        })
        .collect();
    let g = Graph::from_edges(n, &edges, neurobricks::graph::Duplicates::One)
        .unwrap()
        .with_ids(t.node_ids.clone())
        .unwrap();
    let png = HeatmapPlot::default()
        .render_to_bytes(&g, &t, ImageFormat::Png)
        .unwrap();
    keep("heatmap_40000.png", &png);
    check_png(&png, 900, 800);
}

#[test]
fn inverted_and_collapsed_with_names() {
    // Inversions inside collapsed subtrees are counted but not all shown.
    let leaves: Vec<Vec<u32>> = (0..6u32).map(|a| vec![a]).collect();
    let t = Dendrogram::from_tree(
        ids(6),
        leaves,
        &[
            (0, 1, 0.10), // 6: inverted under 8
            (2, 3, 0.60), // 7
            (6, 7, 0.30), // 8
            (4, 5, 0.20), // 9: inverted under 10
            (8, 9, 0.25), // 10: root
        ],
        HeightMap::OneMinus,
        "t",
    )
    .unwrap();
    assert_eq!(t.inversions(), 2);
    let names: Vec<String> = (0..6).map(|i| format!("brick-{i}")).collect();
    let svg = DendrogramPlot::default()
        .leaf_names(names.clone())
        .max_leaves(4)
        .render_to_bytes(&t, ImageFormat::Svg)
        .unwrap();
    keep("dendrogram_inverted_collapsed.svg", &svg);
    let s = check_svg(&svg, &["inversions (", "collapsed subtree", "2 leaves ("]);
    assert!(
        s.contains("of 2)"),
        "not all inversions are visible once collapsed"
    );
    let png = DendrogramPlot::default()
        .leaf_names(names)
        .render_to_bytes(&t, ImageFormat::Png)
        .unwrap();
    keep("dendrogram_inverted_named.png", &png);
    check_png(&png, 1000, 600);
}

#[test]
fn many_classes_and_long_names_stay_inside() {
    // 40 classes with long names: the legend is cut to what fits, labels are ellipsized.
    let t = big_tree(50);
    let names: Vec<String> = (0..50)
        .map(|i| format!("a rather long brick name number {i}"))
        .collect();
    let of_leaf = (0..50).map(|a| Some((a % 40) as u32)).collect();
    let lc = LeafClasses::new(
        "dominant domain of the brick",
        (0..40)
            .map(|c| format!("domain {c} with a long name"))
            .collect(),
        of_leaf,
    );
    let p = DendrogramPlot::default()
        .title("Long names")
        .leaf_names(names)
        .leaf_classes(lc);
    let png = p.render_to_bytes(&t, ImageFormat::Png).unwrap();
    keep("dendrogram_long_names.png", &png);
    check_png(&png, 1000, 600);
    let svg = p.render_to_bytes(&t, ImageFormat::Svg).unwrap();
    let s = check_svg(&svg, &["more", "…"]);
    assert!(!s.contains("domain 39 with"), "the legend should be cut");
}

#[test]
fn grid_phase_diagram_png_and_svg() {
    use neurobricks::plot::GridPlot;
    // Recovery rate over (a1, a2) with a smooth boundary, one missing cell.
    let xs: Vec<f64> = (0..15).map(|i| 40.0 + 2.0 * i as f64).collect();
    let ys: Vec<f64> = (0..12).map(|i| 40.0 + 5.0 * i as f64).collect();
    let z: Vec<Vec<f64>> = ys
        .iter()
        .map(|&y| {
            xs.iter()
                .map(|&x| {
                    if x > y {
                        f64::NAN
                    } else {
                        1.0 / (1.0 + (-(y - 1.2 * x) / 4.0).exp())
                    }
                })
                .collect()
        })
        .collect();
    let ch = Series::new("CH_1 = 1", xs.iter().map(|&x| (x, 1.2 * x)).collect());
    let td = Series::new(
        "TD_1 = 1",
        xs.iter().map(|&x| (x, 1.2 * x + 12.0)).collect(),
    )
    .color(neurobricks::plot::Rgb(255, 255, 255))
    .dashed(true);
    let p = GridPlot::default()
        .title("Exact recovery, depth 1")
        .x_label("a1")
        .y_label("a2")
        .z_label("exact recovery rate")
        .z_range(0.0, 1.0);
    let png = p
        .render_to_bytes(&xs, &ys, &z, &[ch.clone(), td.clone()], ImageFormat::Png)
        .unwrap();
    keep("grid.png", &png);
    check_png(&png, 800, 600);
    let svg = p
        .render_to_bytes(&xs, &ys, &z, &[ch, td], ImageFormat::Svg)
        .unwrap();
    keep("grid.svg", &svg);
    check_svg(&svg, &["CH_1 = 1", "TD_1 = 1", "exact recovery rate", "a2"]);
    let e = p
        .render_to_bytes(&xs, &ys, &z[1..], &[], ImageFormat::Png)
        .unwrap_err();
    assert!(
        matches!(e, Error::Param { ref name, .. } if name == "z"),
        "{e}"
    );
    let e = p
        .render_to_bytes(&[1.0, 1.0], &ys, &z, &[], ImageFormat::Png)
        .unwrap_err();
    assert!(
        matches!(e, Error::Param { ref name, .. } if name == "xs"),
        "{e}"
    );
}

#[test]
fn dendrogram_sideways() {
    // Rotated: names horizontal on the right, heights on the bottom axis.
    let t = small_tree();
    let p = DendrogramPlot::default()
        .title("Sideways")
        .rotate(true)
        .cut(3)
        .leaf_classes(classes_for(&t, 3));
    let png = p.render_to_bytes(&t, ImageFormat::Png).unwrap();
    keep("dendrogram_sideways.png", &png);
    check_png(&png, 1000, 600);
    let svg = p.render_to_bytes(&t, ImageFormat::Svg).unwrap();
    let s = check_svg(
        &svg,
        &[
            "L7 (10)",
            "similarity (edge density), log scale",
            "cut into 3 clusters",
        ],
    );
    assert!(!s.contains("rotate(270"), "leaf names are horizontal");
    for (name, tree) in [("inversion", inverted_tree()), ("500", big_tree(500))] {
        let png = DendrogramPlot::default()
            .rotate(true)
            .leaf_classes(classes_for(&tree, 4))
            .render_to_bytes(&tree, ImageFormat::Png)
            .unwrap();
        keep(&format!("dendrogram_sideways_{name}.png"), &png);
        check_png(&png, 1000, 600);
    }
}

#[test]
fn heatmap_with_unplaced_and_isolated_nodes() {
    // The graph has 10 nodes outside the tree's leaves (drawn last); the tree has 2 nodes
    // that are not in the graph (isolated, empty rows).
    let (g, t) = planted(2, 20, 9);
    let n = g.n();
    let mut edges: Vec<(u32, u32, f64)> =
        g.edges().map(|(i, j, w)| (i as u32, j as u32, w)).collect();
    for e in 0..10u32 {
        edges.push((n as u32 + e, (e * 7) % n as u32, 1.0));
    }
    let mut ids = g.ids().to_vec();
    ids.extend((0..10).map(|e| format!("extra{e}")));
    // Rename two tree nodes so that they are absent from the graph.
    let g2 = Graph::from_edges(n + 10, &edges, neurobricks::graph::Duplicates::One)
        .unwrap()
        .with_ids(ids)
        .unwrap();
    let mut t2 = t.clone();
    t2.node_ids[0] = "isolated-a".into();
    t2.node_ids[1] = "isolated-b".into();
    let p = HeatmapPlot::default()
        .boundary_k(2)
        .title("unplaced and isolated nodes");
    let png = p.render_to_bytes(&g2, &t2, ImageFormat::Png).unwrap();
    keep("heatmap_unplaced.png", &png);
    check_png(&png, 900, 800);
    let svg = p.render_to_bytes(&g2, &t2, ImageFormat::Svg).unwrap();
    // 80 tree rows (2 of them isolated) + 12 graph nodes outside the leaves (the 10 extra
    // ones and the 2 whose tree ids were renamed).
    check_svg(&svg, &["92 nodes, 4 leaves"]);
    let e = HeatmapPlot::default()
        .boundary_k(5)
        .render_to_bytes(&g2, &t2, ImageFormat::Png)
        .unwrap_err();
    assert!(
        matches!(e, Error::Param { ref name, .. } if name == "HeatmapPlot.boundary_k"),
        "{e}"
    );
}

/// Issue 14, item 4: on the shipped MiniLM layer-5 bricks (the quickstart's tree), the stored
/// heights `1 / (1 + w)` crowd the merges at the top of a height axis; the default
/// log-similarity axis spreads them. Measured as the share of merges drawn in the top 2% of
/// the span between the leaves and the highest merge.
#[test]
fn default_scale_spreads_the_merges_of_real_bricks() {
    use neurobricks::activations::ffn::FfnLayer;
    use neurobricks::coactivation::CoactivationParams;
    use neurobricks::hierarchy::BottomUp;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (_, acts) =
        FfnLayer::read_activations(&root.join("data/minilm-l6/layer5.safetensors")).unwrap();
    let co = CoactivationParams::default()
        .binarize("topk:10%".parse().unwrap())
        .weight("phi".parse().unwrap())
        .sparsify("knn:10".parse().unwrap())
        .fit(&acts)
        .unwrap();
    let tree = BottomUp::new()
        .k(Some(32))
        .seed(0)
        .fit(&co.graph)
        .unwrap()
        .dendrogram;
    let json = tree.to_json();
    let p = DendrogramPlot::default().cut(4);
    assert_eq!(p.resolved_scale(&tree), HeightScale::LogSimilarity);
    assert_eq!(
        "height".parse::<HeightScale>().unwrap(),
        HeightScale::Height
    );
    let e = "log".parse::<HeightScale>().unwrap_err();
    assert!(matches!(e, Error::Param { ref name, .. } if name == "DendrogramPlot.scale"));
    let new = p.merge_positions(&tree).unwrap();
    let old = p
        .clone()
        .scale(HeightScale::Height)
        .merge_positions(&tree)
        .unwrap();
    let (top_new, top_old) = (new.share_in_top(0.02), old.share_in_top(0.02));
    eprintln!(
        "share of merges in the top 2% of the axis: height {top_old:.3}, log similarity {top_new:.3}"
    );
    eprintln!(
        "share in the top 10%: height {:.3}, log similarity {:.3}",
        old.share_in_top(0.10),
        new.share_in_top(0.10)
    );
    // Measured: height 0.16 / 0.68, log similarity 0.03 (the root alone) / 0.06.
    assert!(top_old >= 0.1 && old.share_in_top(0.10) >= 0.5, "{top_old}");
    assert!(
        top_new <= 0.05 && new.share_in_top(0.10) <= 0.15,
        "{top_new}"
    );
    // Merge positions follow the similarities: a bottom-up tree has no inversions, so every
    // merge is drawn at or below its parent, and the root is the top merge.
    let parent = tree.parents();
    let k = tree.num_leaves();
    for t in 0..tree.merges.len() - 1 {
        assert!(new.merges[t] <= new.merges[parent[k + t] - k] + 1e-12);
    }
    assert!(new.merges.iter().all(|f| (0.0..=1.0).contains(f)));
    // Ticks are labelled with similarities, falling up the axis.
    assert!(new.ticks.len() >= 3, "{:?}", new.ticks);
    let mut ticks = new.ticks.clone();
    ticks.sort_by(|a, b| a.0.total_cmp(&b.0));
    let v: Vec<f64> = ticks.iter().map(|t| t.1.parse::<f64>().unwrap()).collect();
    assert!(v.windows(2).all(|w| w[1] < w[0]), "{v:?}");
    assert!(new.cut.is_some_and(|c| c > 0.0 && c < 1.0));
    // The JSON keeps the exact values: drawing changes nothing in the tree.
    assert_eq!(tree.to_json(), json);
    // Leaf labels carry the size and the caller's tags.
    let tags: Vec<String> = (0..k).map(|i| format!("tag{i}")).collect();
    let svg = p
        .leaf_tags(tags)
        .render_to_bytes(&tree, ImageFormat::Svg)
        .unwrap();
    let s = check_svg(&svg, &["similarity (mean edge weight), log scale"]);
    let first = &tree.leaves[0];
    assert!(s.contains(&format!("L0 ({}) tag0", first.len())));
}

/// The HTML page (issue 14, item 3): one tree and one card per leaf per layer, leaves linking
/// to existing cards, text escaped, nothing fetched, the figures inline; bad input is an error
/// naming the parameter and writes nothing.
#[test]
fn html_report_structure() {
    use neurobricks::plot::html::{BrickCardView, CardContext, HtmlReport, LayerView};
    let t = small_tree();
    let k = t.num_leaves();
    let cards = |layer: usize| -> Vec<BrickCardView> {
        (0..k)
            .map(|b| {
                let mut c = BrickCardView::new(b, t.leaves[b].len());
                c.headline = format!("<b>{layer}-{b}</b>");
                c.contexts.push(CardContext {
                    left: "if a ".into(),
                    token: "<".into(),
                    right: " b:".into(),
                    mass: 1.5,
                    domain: "code".into(),
                });
                c.domains = vec![("code".into(), 0.6, Some(0.25))];
                c
            })
            .collect()
    };
    let (g, pt) = planted(2, 20, 9);
    let mut l0 = LayerView::new(0, &t, cards(0));
    l0.curves = vec![Series::new("bricks", vec![(0.1, 0.5), (0.25, 0.3)])];
    let mut l1 = LayerView::new(1, &pt, {
        (0..pt.num_leaves())
            .map(|b| BrickCardView::new(b, pt.leaves[b].len()))
            .collect()
    });
    l1.graph = Some(&g);
    let page = HtmlReport::new("Atlas & test").layer(l0).layer(l1);
    let html = page.render().unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("<title>Atlas &amp; test</title>"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert_eq!(html.matches("<svg class=\"tree\"").count(), 2);
    assert!(html.contains("data:image/png;base64,") && html.contains("data:image/svg+xml;base64,"));
    for (layer, kk) in [(0, k), (1, pt.num_leaves())] {
        for b in 0..kk {
            let id = format!("card-{layer}-{b}");
            assert_eq!(html.matches(&format!("id=\"{id}\"")).count(), 1, "{id}");
            assert!(html.contains(&format!("data-card=\"{id}\"")), "{id}");
        }
    }
    // Caller text is escaped.
    assert!(!html.contains("<b>0-1</b>") && html.contains("&lt;b&gt;0-1&lt;/b&gt;"));
    assert!(html.contains("<mark>&lt;</mark>"));
    // Errors: wrong card count, a layer twice; the writer refuses a folder and leaves nothing.
    let bad = HtmlReport::new("x").layer(LayerView::new(0, &t, cards(0)[1..].to_vec()));
    let e = bad.render().unwrap_err();
    assert!(
        matches!(e, Error::Param { ref name, .. } if name == "LayerView.cards"),
        "{e}"
    );
    let twice = HtmlReport::new("x")
        .layer(LayerView::new(3, &t, cards(3)))
        .layer(LayerView::new(3, &t, cards(3)));
    assert!(twice.render().is_err());
    let dir = std::env::temp_dir().join(format!("nb-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(page.write(&dir).is_err());
    let out = dir.join("r.html");
    bad.write(&out).unwrap_err();
    assert!(!out.exists());
    page.write(&out).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), html);
    std::fs::remove_dir_all(&dir).unwrap();
}
