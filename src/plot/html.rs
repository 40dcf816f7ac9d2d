//! The brick atlas as one self-contained HTML page: a layer-by-layer summary table, then per
//! layer a clickable dendrogram whose leaves open their brick cards, the reordered
//! co-activation heat map and the routing-error curves against the baselines.
//!
//! Everything is inline (CSS, a few lines of JavaScript, SVG, PNG as `data:` URLs): the page
//! loads nothing from the network and works from a file. Like the other figures it computes
//! nothing: callers hand it trees, graphs, curves and cards already computed
//! ([`crate::experiments::html_report`] builds them for the shipped MiniLM layers).
//!
//! Without JavaScript, a leaf is a link to its card (`#card-L-B`) and the card shows through
//! the CSS `:target` rule; with it, a click opens the card beside the tree and marks the leaf.
//!
//! ```
//! use neurobricks::hierarchy::{Dendrogram, HeightMap};
//! use neurobricks::plot::html::{BrickCardView, HtmlReport, LayerView};
//!
//! let ids: Vec<String> = (0..8).map(|i| format!("{i}")).collect();
//! let leaves = vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]];
//! let tree = Dendrogram::from_tree(
//!     ids, leaves, &[(0, 1, 0.9), (2, 3, 0.8), (4, 5, 0.1)], HeightMap::OneMinus, "example",
//! ).unwrap();
//! let cards = (0..4).map(|b| BrickCardView::new(b, 2)).collect();
//! let page = HtmlReport::new("Atlas").layer(LayerView::new(5, &tree, cards));
//! let html = page.render().unwrap();
//! assert!(html.contains("id=\"card-5-3\"") && html.contains("data-card=\"card-5-0\""));
//! assert!(!html.contains("http://") && !html.contains("https://"));
//! ```

use super::canvas::base64;
use super::dendrogram::class_colors;
use super::{
    CurvesPlot, DendrogramPlot, HeatmapPlot, ImageFormat, LeafClasses, PlotOptions, Rgb, Series,
};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::hierarchy::Dendrogram;
use std::fmt::Write as _;
use std::path::Path;

/// One statistic of a brick card beside the same statistic for random bricks of the same size.
#[derive(Debug, Clone, PartialEq)]
pub struct CardStat {
    /// What is measured (e.g. `routed at 25% budget`).
    pub name: String,
    /// The brick's value, formatted.
    pub value: String,
    /// The value of random same-size bricks, formatted (e.g. `0.12 ± 0.03`), if measured.
    pub random: Option<String>,
}

/// A top-activating token occurrence with its context.
#[derive(Debug, Clone, PartialEq)]
pub struct CardContext {
    /// Text before the firing token.
    pub left: String,
    /// The firing token.
    pub token: String,
    /// Text after it.
    pub right: String,
    /// The brick's mass on that token (sum of its neurons' contributions).
    pub mass: f64,
    /// Domain of the token (e.g. `code`).
    pub domain: String,
}

/// What a brick card shows (filled by the caller; every field but the brick number may be
/// empty).
#[derive(Debug, Clone, PartialEq)]
pub struct BrickCardView {
    /// Brick (leaf) index in the layer's tree.
    pub brick: usize,
    /// Size in neurons.
    pub size: usize,
    /// A one-line identity (e.g. its top word pieces); shown as the card's subtitle.
    pub headline: String,
    /// Statistics beside random same-size bricks.
    pub stats: Vec<CardStat>,
    /// Word pieces over-represented among the top activations, with their lift (formatted).
    pub pieces: Vec<(String, String)>,
    /// Share of the brick's mass per domain, beside the random bricks' share.
    pub domains: Vec<(String, f64, Option<f64>)>,
    /// Top-activating occurrences, strongest first.
    pub contexts: Vec<CardContext>,
}

impl BrickCardView {
    /// An empty card for brick `brick` of `size` neurons.
    pub fn new(brick: usize, size: usize) -> Self {
        BrickCardView {
            brick,
            size,
            headline: String::new(),
            stats: Vec::new(),
            pieces: Vec::new(),
            domains: Vec::new(),
            contexts: Vec::new(),
        }
    }
}

/// One row of the layer-by-layer summary (routing error at one budget, on held-out tokens).
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// Layer number.
    pub layer: usize,
    /// Number of bricks (leaves of the tree, without a set-aside brick).
    pub bricks: usize,
    /// Budget (fraction of neurons computed).
    pub budget: f64,
    /// Routing error of the bricks.
    pub error: f64,
    /// Mean routing error of random same-size bricks.
    pub random_mean: f64,
    /// Its standard deviation over seeds.
    pub random_std: f64,
    /// Routing error of weight k-means bricks.
    pub weight_kmeans: f64,
    /// Error of the per-token top neurons (no bricks; the unstructured bound), if measured.
    pub oracle_topk: Option<f64>,
    /// The same comparison on held-out documents (bricks, random mean, weight k-means), if
    /// measured.
    pub heldout: Option<(f64, f64, f64)>,
    /// Bricks whose top-context lift is significant against random same-size bricks, and
    /// bricks tested, if tested.
    pub significant: Option<(usize, usize)>,
}

/// One layer of the page.
#[derive(Debug, Clone)]
pub struct LayerView<'a> {
    /// Layer number (ids: `layer-L`, cards `card-L-B`).
    pub layer: usize,
    /// The brick dendrogram.
    pub tree: &'a Dendrogram,
    /// One card per leaf of the tree, in leaf order of the tree (`cards[b].brick == b`).
    pub cards: Vec<BrickCardView>,
    /// The co-activation graph, for the reordered heat map (none: no heat map).
    pub graph: Option<&'a Graph>,
    /// Leaf categories (e.g. top domain) for the colour strip under the leaves.
    pub leaf_classes: Option<LeafClasses>,
    /// Routing-error curves (x = budget, y = error), drawn as one figure.
    pub curves: Vec<Series>,
    /// Short paragraphs under the layer title.
    pub notes: Vec<String>,
}

impl<'a> LayerView<'a> {
    /// A layer with its tree and cards, no heat map, classes, curves or notes.
    pub fn new(layer: usize, tree: &'a Dendrogram, cards: Vec<BrickCardView>) -> Self {
        LayerView {
            layer,
            tree,
            cards,
            graph: None,
            leaf_classes: None,
            curves: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// The whole page: title, introduction, summary table, layers.
#[derive(Debug, Clone)]
pub struct HtmlReport<'a> {
    /// Page title.
    pub title: String,
    /// Paragraphs under the title.
    pub intro: Vec<String>,
    /// Layer-by-layer summary rows.
    pub summary: Vec<SummaryRow>,
    /// The layers, in order.
    pub layers: Vec<LayerView<'a>>,
    /// How to read a brick card (paragraphs shown before the layers).
    pub card_help: Vec<String>,
}

impl<'a> HtmlReport<'a> {
    /// An empty page with a title.
    pub fn new(title: impl Into<String>) -> Self {
        HtmlReport {
            title: title.into(),
            intro: Vec::new(),
            summary: Vec::new(),
            layers: Vec::new(),
            card_help: Vec::new(),
        }
    }
    /// Add a layer.
    pub fn layer(mut self, l: LayerView<'a>) -> Self {
        self.layers.push(l);
        self
    }

    /// The page as one HTML string. Cost: the heat maps and curves (see [`HeatmapPlot`],
    /// [`CurvesPlot`]) plus O(size of the page).
    ///
    /// # Errors
    /// Cards that do not match the tree's leaves (`LayerView.cards`), two layers with the same
    /// number, and the errors of the figures.
    pub fn render(&self) -> Result<String> {
        let mut h = String::with_capacity(1 << 20);
        let title = esc(&self.title);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<header>\n<h1>{title}</h1>\n"
        );
        for p in &self.intro {
            let _ = writeln!(h, "<p>{}</p>", esc(p));
        }
        h.push_str("<nav>");
        for l in &self.layers {
            let _ = write!(h, "<a href=\"#layer-{0}\">layer {0}</a>", l.layer);
        }
        h.push_str("</nav>\n</header>\n<main>\n");
        if !self.summary.is_empty() {
            self.summary_table(&mut h);
        }
        if !self.card_help.is_empty() {
            h.push_str("<section class=\"help\"><h2>How to read a brick card</h2>\n");
            for p in &self.card_help {
                let _ = writeln!(h, "<p>{}</p>", esc(p));
            }
            h.push_str("</section>\n");
        }
        for (i, l) in self.layers.iter().enumerate() {
            if self.layers[..i].iter().any(|o| o.layer == l.layer) {
                return Err(Error::param(
                    "HtmlReport.layers",
                    format!("layer {} is given twice", l.layer),
                ));
            }
            layer_section(&mut h, l)?;
        }
        let _ = write!(h, "</main>\n<script>{JS}</script>\n</body>\n</html>\n");
        Ok(h)
    }

    /// Render and write the page to `out` through the crate's output rule
    /// ([`crate::output`]: a temporary renamed at the end, devices and FIFOs written through,
    /// a failed run leaves no file).
    ///
    /// # Errors
    /// Those of [`HtmlReport::render`] and I/O errors on `out`.
    pub fn write(&self, out: &Path) -> Result<()> {
        let html = self.render()?;
        crate::output::write_atomic(out, |w| {
            std::io::Write::write_all(w, html.as_bytes()).map_err(crate::util::wio(out))
        })
    }

    fn summary_table(&self, h: &mut String) {
        h.push_str(
            "<section class=\"summary\"><h2>How brickable is each layer?</h2>\n\
             <p>Relative error of the FFN output when each held-out token computes only the \
             bricks an oracle router picks, within the budget (share of neurons). Lower is \
             better; a layer is brickable when its bricks beat random bricks of the same sizes \
             and bricks made by k-means on the neurons' weights.</p>\n\
             <table><thead><tr><th>layer</th><th>bricks</th><th>budget</th>\
             <th>co-activation bricks</th><th>random bricks (mean ± sd)</th>\
             <th>weight k-means</th><th>bricks / random</th>",
        );
        let topk = self.summary.iter().any(|r| r.oracle_topk.is_some());
        let held = self.summary.iter().any(|r| r.heldout.is_some());
        let sig = self.summary.iter().any(|r| r.significant.is_some());
        if topk {
            h.push_str("<th>per-token top neurons</th>");
        }
        if held {
            h.push_str("<th>held-out documents: bricks / random / k-means</th>");
        }
        if sig {
            h.push_str("<th>bricks with significant top-context lift</th>");
        }
        h.push_str("</tr></thead><tbody>\n");
        let dash = || "—".to_string();
        for r in &self.summary {
            let ratio = r.error / r.random_mean;
            let best = r.error < r.weight_kmeans && r.error < r.random_mean;
            let _ = write!(
                h,
                "<tr><td><a href=\"#layer-{l}\">{l}</a></td><td>{b}</td><td>{bud:.0}%</td>\
                 <td class=\"{cls}\">{e:.3}</td><td>{rm:.3} ± {rs:.3}</td><td>{km:.3}</td>\
                 <td>{ratio:.2}</td>",
                l = r.layer,
                b = r.bricks,
                bud = 100.0 * r.budget,
                cls = if best { "best" } else { "" },
                e = r.error,
                rm = r.random_mean,
                rs = r.random_std,
                km = r.weight_kmeans,
            );
            if topk {
                let v = r.oracle_topk.map_or_else(dash, |v| format!("{v:.3}"));
                let _ = write!(h, "<td>{v}</td>");
            }
            if held {
                let v = r
                    .heldout
                    .map_or_else(dash, |(b, rm, km)| format!("{b:.3} / {rm:.3} / {km:.3}"));
                let _ = write!(h, "<td>{v}</td>");
            }
            if sig {
                let v = r
                    .significant
                    .map_or_else(dash, |(s, n)| format!("{s} of {n}"));
                let _ = write!(h, "<td>{v}</td>");
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody></table></section>\n");
    }
}

/// One layer: title, notes, dendrogram with the card panel, heat map and curves.
fn layer_section(h: &mut String, l: &LayerView<'_>) -> Result<()> {
    let k = l.tree.num_leaves();
    if l.cards.len() != k || l.cards.iter().enumerate().any(|(b, c)| c.brick != b) {
        return Err(Error::param(
            "LayerView.cards",
            format!(
                "layer {}: {} cards for {k} leaves (one per leaf, in leaf order)",
                l.layer,
                l.cards.len()
            ),
        ));
    }
    let n = l.layer;
    let _ = writeln!(
        h,
        "<section class=\"layer\" id=\"layer-{n}\" data-layer=\"{n}\">\n<h2>Layer {n}</h2>"
    );
    for p in &l.notes {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", esc(p));
    }
    h.push_str("<div class=\"tree-and-card\">\n<figure class=\"dendrogram\">");
    dendrogram_svg(h, l)?;
    let _ = write!(
        h,
        "<figcaption>Bricks of layer {n}: click a leaf to open its card. Leaves show the \
         brick number, its size in neurons and its top word pieces.</figcaption></figure>\n\
         <aside class=\"cards\" id=\"cards-{n}\"><p class=\"hint\">Click a leaf of the tree to \
         see what its brick responds to.</p>\n"
    );
    for c in &l.cards {
        card_html(h, n, c);
    }
    h.push_str("</aside>\n</div>\n<div class=\"figures\">\n");
    if let Some(g) = l.graph {
        let mut p = HeatmapPlot::default().options(
            PlotOptions::new(620, 560)
                .font_size(13.0)
                .title(format!("Layer {n}: co-activation, neurons in tree order")),
        );
        if let Some(lc) = &l.leaf_classes {
            p = p.leaf_classes(lc.clone());
        }
        let png = p.render_to_bytes(g, l.tree, ImageFormat::Png)?;
        let _ = writeln!(
            h,
            "<figure class=\"heatmap\"><img alt=\"co-activation heat map of layer {n}\" \
             src=\"data:image/png;base64,{}\"><figcaption>Co-activation weights between neurons, \
             rows and columns in the order of the tree's leaves: bricks are the dark blocks on \
             the diagonal, lines mark the leaves.</figcaption></figure>",
            base64(&png)
        );
    }
    if !l.curves.is_empty() {
        let svg = CurvesPlot::default()
            .options(
                PlotOptions::new(620, 560)
                    .font_size(13.0)
                    .title(format!("Layer {n}: routing error on held-out tokens")),
            )
            .x_label("budget (share of neurons computed)")
            .y_label("relative error of the FFN output")
            .render_to_bytes(&l.curves, ImageFormat::Svg)?;
        let _ = writeln!(
            h,
            "<figure class=\"curves\"><img alt=\"routing error curves of layer {n}\" \
             src=\"data:image/svg+xml;base64,{}\"><figcaption>Each held-out token computes the \
             bricks with the most activation mass until the budget is spent; the error is the \
             relative error of the FFN output.</figcaption></figure>",
            base64(&svg)
        );
    }
    h.push_str("</div>\n</section>\n");
    Ok(())
}

/// The dendrogram as inline SVG: merges placed by [`DendrogramPlot::merge_positions`] (the
/// default log-similarity scale), leaves as links to their cards.
fn dendrogram_svg(h: &mut String, l: &LayerView<'_>) -> Result<()> {
    let tree = l.tree;
    let k = tree.num_leaves();
    if k < 2 {
        return Err(Error::Input(format!(
            "layer {}: a tree with a single leaf has no dendrogram",
            l.layer
        )));
    }
    let pos = DendrogramPlot::default().merge_positions(tree)?;
    let order = tree.leaf_order();
    let mut x = vec![0f64; 2 * k - 1];
    let mut y = vec![0f64; 2 * k - 1];
    let (w, top, bottom, left, right) = (760.0, 24.0, 330.0, 64.0, 748.0);
    let slot = (right - left) / k as f64;
    for (i, &b) in order.iter().enumerate() {
        x[b] = left + (i as f64 + 0.5) * slot;
        y[b] = bottom;
    }
    for (t, m) in tree.merges.iter().enumerate() {
        x[k + t] = 0.5 * (x[m.left] + x[m.right]);
        y[k + t] = bottom - pos.merges[t] * (bottom - top);
    }
    // Room for the slanted leaf labels (about 6 px per character at 11 px, sin 60°).
    let longest = l
        .cards
        .iter()
        .map(|c| leaf_label(c).chars().count())
        .max()
        .unwrap_or(8);
    let label_h = (5.4 * longest as f64 + 12.0).clamp(40.0, 190.0);
    let height = bottom + 14.0 + label_h;
    let _ = write!(
        h,
        "<svg class=\"tree\" viewBox=\"0 0 {w} {height}\" role=\"img\" \
         aria-label=\"dendrogram of layer {}\">",
        l.layer
    );
    // Axis: ticks and labels.
    let _ = write!(
        h,
        "<g class=\"axis\"><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{bottom}\"/>"
    );
    for (f, label) in &pos.ticks {
        let yy = bottom - f * (bottom - top);
        let _ = write!(
            h,
            "<line class=\"grid\" x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{right}\" y2=\"{yy:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            yy + 4.0,
            esc(label)
        );
    }
    let _ = write!(
        h,
        "<text class=\"axis-label\" transform=\"translate(14 {:.1}) rotate(-90)\" \
         text-anchor=\"middle\">{}</text></g>",
        0.5 * (top + bottom),
        esc(&pos.label)
    );
    // Links.
    h.push_str("<g class=\"links\">");
    for (t, m) in tree.merges.iter().enumerate() {
        let p = k + t;
        let _ = write!(
            h,
            "<path d=\"M{:.1} {:.1}V{:.1}H{:.1}V{:.1}\"><title>similarity {:.4e} ({} leaves, {} \
             neurons)</title></path>",
            x[m.left], y[m.left], y[p], x[m.right], y[m.right], m.similarity, m.leaf_count, m.size
        );
    }
    h.push_str("</g>");
    // Leaves: colour swatch, label, link to the card.
    let colors: Vec<Option<Rgb>> = match &l.leaf_classes {
        Some(lc) => {
            let cc = class_colors(lc, None);
            lc.of_leaf
                .iter()
                .map(|c| c.and_then(|c| cc.iter().find(|x| x.0 == c).map(|x| x.1)))
                .collect()
        }
        None => vec![None; k],
    };
    h.push_str("<g class=\"leaves\">");
    for &b in &order {
        let c = &l.cards[b];
        let id = format!("card-{}-{b}", l.layer);
        let fill = colors[b].map_or("#c8c8c8".to_string(), hex);
        let label = leaf_label(c);
        let _ = write!(
            h,
            "<a class=\"leaf\" href=\"#{id}\" data-card=\"{id}\" data-brick=\"{b}\">\
             <title>brick {b}: {} neurons{}</title>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"10\" fill=\"{fill}\"/>\
             <rect class=\"hit\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>\
             <text transform=\"translate({:.1} {:.1}) rotate(-60)\" text-anchor=\"end\">{}</text></a>",
            c.size,
            if c.headline.is_empty() { String::new() } else { format!(" — {}", esc(&c.headline)) },
            x[b] - 0.45 * slot,
            bottom + 2.0,
            0.9 * slot,
            x[b] - 0.5 * slot,
            bottom - 8.0,
            slot,
            24.0,
            x[b] + 3.0,
            bottom + 20.0,
            esc(&label)
        );
    }
    h.push_str("</g>");
    if let Some(f) = pos.cut {
        let yy = bottom - f * (bottom - top);
        let _ = write!(
            h,
            "<line class=\"cut\" x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{right}\" y2=\"{yy:.1}\"/>"
        );
    }
    h.push_str("</svg>");
    if let Some(lc) = &l.leaf_classes {
        h.push_str("<div class=\"legend\">");
        let _ = write!(h, "<span>{}:</span>", esc(&lc.title));
        for (code, col) in class_colors(lc, None) {
            let _ = write!(
                h,
                "<span><i style=\"background:{}\"></i>{}</span>",
                hex(col),
                esc(&lc.names[code as usize])
            );
        }
        h.push_str("</div>");
    }
    Ok(())
}

/// One brick card.
fn card_html(h: &mut String, layer: usize, c: &BrickCardView) {
    let b = c.brick;
    let _ = write!(
        h,
        "<article class=\"card\" id=\"card-{layer}-{b}\" data-brick=\"{b}\">\
         <h3>Layer {layer} · brick {b} <small>{} neurons</small></h3>",
        c.size
    );
    if !c.headline.is_empty() {
        let _ = write!(h, "<p class=\"headline\">{}</p>", esc(&c.headline));
    }
    if !c.stats.is_empty() {
        h.push_str(
            "<table class=\"stats\"><thead><tr><th></th><th>this brick</th>\
             <th>random, same size</th></tr></thead><tbody>",
        );
        for s in &c.stats {
            let _ = write!(
                h,
                "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
                esc(&s.name),
                esc(&s.value),
                s.random.as_deref().map_or("—".to_string(), esc)
            );
        }
        h.push_str("</tbody></table>");
    }
    if !c.pieces.is_empty() {
        h.push_str(
            "<h4>Over-represented word pieces <small>(lift)</small></h4><p class=\"pieces\">",
        );
        for (p, lift) in &c.pieces {
            let _ = write!(
                h,
                "<span class=\"piece\"><code>{}</code> {}</span>",
                esc(p),
                esc(lift)
            );
        }
        h.push_str("</p>");
    }
    if !c.domains.is_empty() {
        h.push_str("<h4>Mass per domain <small>(bar: this brick; tick: random bricks)</small></h4><div class=\"domains\">");
        for (name, share, rnd) in &c.domains {
            let _ = write!(
                h,
                "<div class=\"dom\"><span>{}</span><b style=\"width:{:.1}%\"></b>{}<em>{:.0}%</em></div>",
                esc(name),
                100.0 * share.clamp(0.0, 1.0),
                rnd.map_or(String::new(), |r| format!(
                    "<u style=\"left:calc(6.5em + {:.1}% * 0.6)\"></u>",
                    100.0 * r.clamp(0.0, 1.0)
                )),
                100.0 * share
            );
        }
        h.push_str("</div>");
    }
    if !c.contexts.is_empty() {
        h.push_str("<h4>Top-activating tokens <small>(context, firing token marked)</small></h4><ol class=\"contexts\">");
        for x in &c.contexts {
            let _ = write!(
                h,
                "<li><span class=\"ctx\">{}<mark>{}</mark>{}</span> <small>{} · {:.2}</small></li>",
                esc(&x.left),
                esc(&x.token),
                esc(&x.right),
                esc(&x.domain),
                x.mass
            );
        }
        h.push_str("</ol>");
    }
    h.push_str("</article>\n");
}

/// The label of a leaf: `B<brick> (<size>)` and the start of its headline.
fn leaf_label(c: &BrickCardView) -> String {
    let mut label = format!("B{} ({})", c.brick, c.size);
    if !c.headline.is_empty() {
        label.push(' ');
        label.push_str(&super::canvas::ellipsize(&c.headline, 24));
    }
    label
}

/// `#rrggbb`.
fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Escape text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = r#"
:root{--ink:#1d232a;--muted:#5b6670;--line:#d9dee3;--bg:#f6f7f9;--accent:#1f77b4;--mark:#ffe08a}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:var(--bg)}
header{background:#fff;border-bottom:1px solid var(--line);padding:18px 24px 10px}
header h1{margin:0 0 6px;font-size:26px}
header p{margin:4px 0;max-width:1100px;color:var(--muted)}
nav{margin-top:10px;display:flex;gap:6px;flex-wrap:wrap}
nav a{padding:3px 10px;border:1px solid var(--line);border-radius:14px;text-decoration:none;color:var(--accent);background:#fff}
nav a:hover{background:#eef5fb}
main{max-width:1240px;margin:0 auto;padding:8px 20px 40px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin:18px 0}
h2{margin:2px 0 8px;font-size:21px}
h3{margin:0 0 4px;font-size:17px}
h3 small,h4 small{color:var(--muted);font-weight:normal}
h4{margin:12px 0 4px;font-size:14px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
.summary table{width:100%}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:right}
th:first-child,td:first-child{text-align:left}
td.best{font-weight:bold;color:#1a7f37}
.note{color:var(--muted);margin:2px 0}
.tree-and-card{display:grid;grid-template-columns:minmax(0,1fr) 420px;gap:16px;align-items:start}
figure{margin:0}
figcaption{color:var(--muted);font-size:13px;margin-top:4px}
svg.tree{width:100%;height:auto;display:block}
svg.tree text{font-size:11px;fill:var(--ink)}
svg.tree .axis line{stroke:#888}
svg.tree .axis line.grid{stroke:#eceff2}
svg.tree .axis text{fill:var(--muted)}
svg.tree .axis-label{font-size:12px}
svg.tree .links path{fill:none;stroke:#3a3f44;stroke-width:1.4}
svg.tree .cut{stroke:var(--accent);stroke-dasharray:5 4}
svg.tree a.leaf{cursor:pointer}
svg.tree a.leaf .hit{fill:transparent}
svg.tree a.leaf:hover .hit,svg.tree a.leaf.active .hit{fill:rgba(31,119,180,.12)}
svg.tree a.leaf.active text{font-weight:bold;fill:var(--accent)}
.legend{display:flex;gap:12px;flex-wrap:wrap;font-size:13px;color:var(--muted)}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px;border-radius:2px}
aside.cards{position:sticky;top:8px;max-height:calc(100vh - 16px);overflow:auto;border-left:3px solid var(--line);padding-left:14px}
aside.cards .hint{color:var(--muted)}
aside.cards.has-card .hint{display:none}
.card{display:none}
.card.active,.card:target{display:block}
.card .headline{margin:0 0 6px;color:var(--muted)}
.card table.stats{width:100%;font-size:13px}
.card table.stats th{font-weight:normal;text-align:left}
.pieces{display:flex;flex-wrap:wrap;gap:4px 10px;margin:0}
.piece code{background:#eef2f6;padding:0 4px;border-radius:3px}
.piece{font-size:13px;color:var(--muted)}
.domains .dom{position:relative;display:flex;align-items:center;font-size:13px;height:20px}
.domains .dom span{width:6.5em;flex:none}
.domains .dom b{display:inline-block;height:11px;background:var(--accent);border-radius:2px;max-width:60%;margin-right:6px}
.domains .dom em{font-style:normal;color:var(--muted)}
.domains .dom u{position:absolute;top:2px;width:2px;height:16px;background:#d62728}
ol.contexts{padding-left:20px;margin:4px 0;font-size:13px}
ol.contexts li{margin:3px 0}
.ctx{font-family:"DejaVu Sans Mono",ui-monospace,Menlo,monospace;white-space:pre-wrap;word-break:break-word}
mark{background:var(--mark);padding:0 1px;border-radius:2px}
.figures{display:grid;grid-template-columns:1fr 1fr;gap:16px;margin-top:12px}
.figures img{width:100%;height:auto;border:1px solid var(--line);border-radius:4px}
.help p{max-width:1100px}
@media (max-width:1000px){.tree-and-card,.figures{grid-template-columns:1fr}aside.cards{position:static;max-height:none}}
"#;

const JS: &str = r#"
(function(){
  function open(id, scroll){
    var card=document.getElementById(id);
    if(!card||!card.classList.contains('card'))return;
    var sec=card.closest('section.layer');
    sec.querySelectorAll('.card.active').forEach(function(c){c.classList.remove('active');});
    sec.querySelectorAll('a.leaf.active').forEach(function(a){a.classList.remove('active');});
    card.classList.add('active');
    card.parentNode.classList.add('has-card');
    var leaf=sec.querySelector('a.leaf[data-card="'+id+'"]');
    if(leaf)leaf.classList.add('active');
    if(scroll)card.scrollIntoView({block:'nearest'});
  }
  document.addEventListener('click',function(e){
    var a=e.target.closest&&e.target.closest('a.leaf');
    if(!a)return;
    e.preventDefault();
    open(a.getAttribute('data-card'),false);
    if(history.replaceState)history.replaceState(null,'','#'+a.getAttribute('data-card'));
  });
  function fromHash(){var id=decodeURIComponent(location.hash.slice(1));if(id.indexOf('card-')===0)open(id,true);}
  window.addEventListener('hashchange',fromHash);
  fromHash();
})();
"#;
