//! Heat map of a graph's adjacency (or co-activation) matrix with rows and columns in
//! dendrogram leaf order, so that bricks show as blocks on the diagonal; brick boundaries are
//! marked with lines. Large matrices are aggregated into pixel bins instead of drawing cells.

use super::canvas::{
    self, ellipsize, fmt_log_tick, nice_ticks, Axis, Canvas, Colormap, Figure, Raster,
};
use super::dendrogram::{check_classes, class_colors, LeafClasses};
use super::{plot_options_setters, ImageFormat, Page, PlotOptions, Rgb};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::hierarchy::Dendrogram;
use crate::util::FxHashMap;
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};
use std::path::Path;

/// How cell values map to colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorScale {
    /// Linear from `min(0, smallest value)` to the largest value.
    Linear,
    /// Logarithmic between the smallest and largest positive values (non-positive values get
    /// the low end of the colour map).
    Log,
    /// By rank among the distinct non-zero values (histogram equalisation): every colour is
    /// used equally often, which shows structure in heavy-tailed weights.
    Rank,
}

/// How the cells of a pixel bin combine when the matrix has more rows than pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Sum of the bin's cells divided by its number of cells (edge density for 0/1 graphs).
    Mean,
    /// Sum of the bin's cells.
    Sum,
}

/// Parameters of a reordered heat map.
///
/// Rows and columns are the graph's nodes grouped by dendrogram leaf, leaves in
/// [`Dendrogram::leaf_order`]; graph nodes in no leaf come last, tree nodes missing from the
/// graph (isolated nodes) are empty rows. Empty cells are white. When
/// the matrix has more rows than the plot has pixels, cells are aggregated into one bin per
/// pixel ([`Aggregate`]); SVG output embeds the cells as one PNG image, so files stay small.
///
/// ```
/// use neurobricks::plot::{ColorScale, HeatmapPlot};
/// let p = HeatmapPlot::default().scale(ColorScale::Log).title("co-activation");
/// assert_eq!(p.scale, ColorScale::Log);
/// ```
#[derive(Debug, Clone)]
pub struct HeatmapPlot {
    /// Size, title and font shared by all figures (default 900 x 800 pixels, no title,
    /// 16-pixel font).
    pub options: PlotOptions,
    /// Colour scale (default [`ColorScale::Linear`]).
    pub scale: ColorScale,
    /// Pixel-bin aggregation for large matrices (default [`Aggregate::Mean`]).
    pub aggregate: Aggregate,
    /// Colour map (default [`Colormap::Blues`]).
    pub colormap: Colormap,
    /// Bins per side (default: one per node, at most one per pixel). Fewer bins than nodes
    /// aggregate cells (`aggregate`), which shows block densities of small
    /// sparse graphs better than single edges.
    pub bins: Option<usize>,
    /// Mark brick boundaries (default true).
    pub boundaries: bool,
    /// Mark the boundaries of `cut_k(k)` clusters instead of leaves (default: leaves when
    /// they are at least 15 pixels apart on average, else the finest cut that is).
    pub boundary_k: Option<usize>,
    /// Boundary line colour (default red).
    pub boundary_color: Rgb,
    /// Leaf categories drawn as colour strips along the top and left, with a legend (default
    /// none); same colours as [`super::DendrogramPlot`] for the same categories.
    pub leaf_classes: Option<LeafClasses>,
    /// Category colours (default [`super::PALETTE`]).
    pub class_colors: Option<Vec<Rgb>>,
}

impl Default for HeatmapPlot {
    fn default() -> Self {
        HeatmapPlot {
            options: PlotOptions::new(900, 800),
            scale: ColorScale::Linear,
            aggregate: Aggregate::Mean,
            colormap: Colormap::Blues,
            bins: None,
            boundaries: true,
            boundary_k: None,
            boundary_color: Rgb(0xd6, 0x27, 0x28),
            leaf_classes: None,
            class_colors: None,
        }
    }
}

impl HeatmapPlot {
    plot_options_setters!();
    crate::util::setters! {
        /// Set the colour scale.
        scale: ColorScale,
        /// Set the pixel-bin aggregation.
        aggregate: Aggregate,
        /// Set the colour map.
        colormap: Colormap,
        /// Set the number of bins per side.
        bins: Some(usize),
        /// Mark brick boundaries or not.
        boundaries: bool,
        /// Mark the boundaries of the cut into `k` clusters.
        boundary_k: Some(usize),
        /// Set the boundary line colour.
        boundary_color: Rgb,
        /// Draw leaf-category strips along the matrix.
        leaf_classes: Some(LeafClasses),
        /// Set the category colours.
        class_colors: Some(Vec<Rgb>),
    }
    /// Draw the adjacency matrix of `graph` reordered by `tree` into `out` (`.png` or
    /// `.svg`), atomically. Tree nodes are matched to graph nodes by id.
    ///
    /// # Errors
    /// A tree that shares no node with the graph, an empty graph, a non-finite weight, a
    /// `boundary_k` outside `1..=K`, bad sizes or an unknown extension.
    ///
    /// # Complexity
    /// O(n + m + P^2) time and O(n + P^2) memory for n nodes, m edges and a P-pixel plot.
    pub fn render(&self, graph: &Graph, tree: &Dendrogram, out: &Path) -> Result<()> {
        let fig = self.prepare(graph, tree)?;
        super::write_figure(&fig, &self.options, out)
    }

    /// Draw in memory as PNG or SVG bytes (same checks as [`HeatmapPlot::render`]).
    pub fn render_to_bytes(
        &self,
        graph: &Graph,
        tree: &Dendrogram,
        format: ImageFormat,
    ) -> Result<Vec<u8>> {
        let fig = self.prepare(graph, tree)?;
        canvas::render(&fig, &self.options, format)
    }

    fn prepare<'a>(&'a self, graph: &'a Graph, tree: &'a Dendrogram) -> Result<HeatFig<'a>> {
        self.options.validate()?;
        tree.validate()?;
        let n = graph.n();
        if n == 0 {
            return Err(Error::Input(
                "cannot draw the heat map of an empty graph".into(),
            ));
        }
        let k = tree.num_leaves();
        if let Some(lc) = &self.leaf_classes {
            check_classes(lc, k)?;
        }
        if matches!(&self.class_colors, Some(c) if c.is_empty()) {
            return Err(Error::param(
                "HeatmapPlot.class_colors",
                "give at least one colour",
            ));
        }
        if self.bins == Some(0) {
            return Err(Error::param(
                "HeatmapPlot.bins",
                "need at least one bin per side",
            ));
        }
        if let Some(b) = self.boundary_k {
            if b == 0 || b > k {
                return Err(Error::param(
                    "HeatmapPlot.boundary_k",
                    format!("cannot cut a tree with {k} leaves into {b} clusters (1..={k})"),
                ));
            }
        }
        let mut index: FxHashMap<&str, u32> = FxHashMap::default();
        for (i, id) in graph.ids().iter().enumerate() {
            index.insert(id.as_str(), i as u32);
        }
        // Row of every graph node in the drawing order, and where each leaf ends. Tree nodes
        // absent from the graph (isolated nodes are not in an edge list) are empty rows.
        let mut pos = vec![u32::MAX; n];
        let mut rows = 0usize;
        let mut found = 0usize;
        let mut leaf_end = Vec::with_capacity(k);
        let leaf_order = tree.leaf_order();
        for &l in &leaf_order {
            for &m in &tree.leaves[l] {
                let id = &tree.node_ids[m as usize];
                if let Some(&g) = index.get(id.as_str()) {
                    pos[g as usize] = rows as u32;
                    found += 1;
                }
                rows += 1;
            }
            leaf_end.push(rows);
        }
        if found == 0 {
            return Err(Error::Input(format!(
                "no node of the tree's leaves is a node of the graph (e.g. tree node `{}`, graph node `{}`): is the tree from another graph?",
                tree.node_ids[tree.leaves[0][0] as usize],
                graph.ids()[0]
            )));
        }
        let in_leaves = rows;
        for p in pos.iter_mut().filter(|p| **p == u32::MAX) {
            *p = rows as u32;
            rows += 1;
        }
        for (i, _, w) in graph.edges() {
            if !w.is_finite() {
                return Err(Error::Input(format!(
                    "edge weight {w} at node `{}` is not finite",
                    graph.ids()[i]
                )));
            }
        }
        Ok(HeatFig {
            p: self,
            graph,
            tree,
            pos,
            leaf_order,
            leaf_end,
            in_leaves,
            rows,
        })
    }
}

struct HeatFig<'a> {
    p: &'a HeatmapPlot,
    graph: &'a Graph,
    tree: &'a Dendrogram,
    /// Drawing position of each graph node.
    pos: Vec<u32>,
    leaf_order: Vec<usize>,
    /// Cumulative end position of each leaf in `leaf_order`.
    leaf_end: Vec<usize>,
    /// Rows of the tree's leaves (graph nodes in no leaf come after).
    in_leaves: usize,
    /// Rows in all.
    rows: usize,
}

/// Binned matrix: `nb x nb` values and whether each bin holds any entry.
struct Binned {
    nb: usize,
    val: Vec<f64>,
    filled: Vec<bool>,
}

impl HeatFig<'_> {
    fn bin(&self, side: usize) -> Binned {
        let n = self.rows;
        let nb = n.min(side).min(self.p.bins.unwrap_or(usize::MAX)).max(1);
        let bin_of = |p: u32| (p as u64 * nb as u64 / n as u64) as usize;
        let mut val = vec![0.0; nb * nb];
        let mut filled = vec![false; nb * nb];
        let mut cnt = vec![0usize; nb];
        for p in 0..n as u32 {
            cnt[bin_of(p)] += 1;
        }
        for i in 0..self.graph.n() {
            let bi = bin_of(self.pos[i]);
            let (nbrs, ws) = self.graph.neighbors(i);
            for (&j, &w) in nbrs.iter().zip(ws) {
                let bj = bin_of(self.pos[j as usize]);
                val[bi * nb + bj] += w;
                filled[bi * nb + bj] = true;
            }
        }
        if self.p.aggregate == Aggregate::Mean && nb < n {
            for bi in 0..nb {
                for bj in 0..nb {
                    val[bi * nb + bj] /= (cnt[bi] * cnt[bj]).max(1) as f64;
                }
            }
        }
        Binned { nb, val, filled }
    }

    /// Boundary positions (in node positions) to mark.
    fn boundaries(&self, side: f64) -> Vec<usize> {
        let n = self.rows;
        let k = self.tree.num_leaves();
        let mut cuts: Vec<usize> = match self.p.boundary_k {
            Some(b) => self.cut_ends(b),
            None => {
                let min_gap = 15.0;
                if side / k as f64 >= min_gap || k == 1 {
                    self.leaf_end.clone()
                } else {
                    let b = ((side / min_gap) as usize).clamp(1, k);
                    self.cut_ends(b)
                }
            }
        };
        if self.in_leaves < n {
            cuts.push(self.in_leaves);
        }
        cuts.retain(|&c| c > 0 && c < n);
        cuts.dedup();
        cuts
    }

    /// End positions of the `cut_k(b)` clusters (contiguous in leaf order).
    fn cut_ends(&self, b: usize) -> Vec<usize> {
        let Ok(lab) = self.tree.cut_k(b) else {
            return self.leaf_end.clone();
        };
        let mut out = Vec::new();
        for i in 0..self.leaf_order.len() {
            let last = i + 1 == self.leaf_order.len();
            if last || lab[self.leaf_order[i]] != lab[self.leaf_order[i + 1]] {
                out.push(self.leaf_end[i]);
            }
        }
        out
    }
}

fn sig3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e4).contains(&a) {
        let dec = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.dec$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{v:.2e}")
    }
}

impl Figure for HeatFig<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<DB>, page: Page) -> Result<()> {
        let p = self.p;
        let Page { f, w, h, pad, top } = page;
        let n = self.rows;
        let k = self.tree.num_leaves();

        let axis_label = format!("nodes in dendrogram leaf order ({n} nodes, {k} leaves)");
        let lab_h = c.text_size(&axis_label, f).1;
        let left = pad + lab_h + pad;
        // Colour bar: gap, bar, ticks, labels, rotated title.
        let bar_w = (1.2 * f).max(12.0);
        let tick_lab_w = c.text_size("0.000e-10", f).0;
        let cb_w = 2.0 * pad + bar_w + 6.0 + tick_lab_w + pad + lab_h + pad;
        // Class strips along the top and left of the matrix.
        let classes = match &p.leaf_classes {
            Some(lc) => class_colors(lc, p.class_colors.as_deref()),
            None => Vec::new(),
        };
        let strip = if p.leaf_classes.is_some() {
            (0.7 * f).max(6.0)
        } else {
            0.0
        };
        let gap = if strip > 0.0 { 3.0 } else { 0.0 };
        let avail_w = w - left - strip - gap - cb_w;
        let avail_h = h - top - strip - gap - pad - lab_h - pad;
        let side = avail_w.min(avail_h).floor();
        if side < 20.0 {
            return Err(p.options.no_room("PlotOptions.width", "the heat map"));
        }
        let (x0, y0) = (left + strip + gap, top + strip + gap);
        let (x1, y1) = (x0 + side, y0 + side);
        if let Some(lc) = &p.leaf_classes {
            let color: FxHashMap<u32, Rgb> = classes.iter().copied().collect();
            let mut start = 0usize;
            for (i, &l) in self.leaf_order.iter().enumerate() {
                let end = self.leaf_end[i];
                let col = lc.of_leaf[l]
                    .and_then(|c2| color.get(&c2).copied())
                    .unwrap_or(Rgb(0xe8, 0xe8, 0xe8));
                let (a, b2) = (side * start as f64 / n as f64, side * end as f64 / n as f64);
                c.rect((x0 + a, top), (x0 + b2.max(a + 1.0), top + strip), col)?;
                c.rect((left, y0 + a), (left + strip, y0 + b2.max(a + 1.0)), col)?;
                start = end;
            }
        }

        // Values per pixel bin and their colours.
        let b = self.bin(side as usize);
        let nz: Vec<f64> = b
            .val
            .iter()
            .zip(&b.filled)
            .filter(|(_, &fl)| fl)
            .map(|(&v, _)| v)
            .collect();
        let vmax = nz.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let vmin = nz.iter().copied().fold(f64::INFINITY, f64::min);
        let pos_min = nz
            .iter()
            .copied()
            .filter(|&v| v > 0.0)
            .fold(f64::INFINITY, f64::min);
        let mut distinct = nz.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        let lin_lo = vmin.min(0.0);
        let frac = |v: f64| -> f64 {
            match p.scale {
                ColorScale::Linear => {
                    if vmax > lin_lo {
                        (v - lin_lo) / (vmax - lin_lo)
                    } else {
                        1.0
                    }
                }
                ColorScale::Log => {
                    if v <= 0.0 || vmax <= pos_min {
                        if v > 0.0 {
                            1.0
                        } else {
                            0.0
                        }
                    } else {
                        (v / pos_min).ln() / (vmax / pos_min).ln()
                    }
                }
                ColorScale::Rank => {
                    if distinct.len() < 2 {
                        1.0
                    } else {
                        let r = distinct.partition_point(|&x| x < v);
                        r as f64 / (distinct.len() - 1) as f64
                    }
                }
            }
        };
        let mut rgb = vec![255u8; b.nb * b.nb * 3];
        for (i, (&v, &fl)) in b.val.iter().zip(&b.filled).enumerate() {
            if fl {
                let col = p.colormap.at(frac(v));
                rgb[3 * i..3 * i + 3].copy_from_slice(&[col.0, col.1, col.2]);
            }
        }
        let raster = Raster {
            w: b.nb,
            h: b.nb,
            rgb,
        };
        c.raster(&raster, (x0, y0), (x1, y1))?;

        // Brick boundaries.
        if p.boundaries {
            for e in self.boundaries(side) {
                let t = x0 + side * e as f64 / n as f64;
                let u = y0 + side * e as f64 / n as f64;
                c.line_alpha(&[(t, y0), (t, y1)], p.boundary_color, 1.0, 0.75)?;
                c.line_alpha(&[(x0, u), (x1, u)], p.boundary_color, 1.0, 0.75)?;
            }
        }
        c.rect_outline((x0, y0), (x1, y1), canvas::AXIS, 1.0)?;
        c.label(
            &axis_label,
            (0.5 * (x0 + x1), y1 + pad),
            f,
            (HPos::Center, VPos::Top),
        )?;
        c.label_up(
            &axis_label,
            (pad, 0.5 * (y0 + y1)),
            f,
            (HPos::Center, VPos::Top),
        )?;

        // Colour bar beside the matrix (its upper part when a class legend goes below).
        let cb0 = y0;
        let cb1 = if classes.is_empty() {
            y1
        } else {
            y0 + 0.5 * side
        };
        let bx0 = x1 + 2.0 * pad;
        let bx1 = bx0 + bar_w;
        if distinct.len() == 1 {
            // One value (e.g. an unweighted graph drawn cell by cell): a swatch, not a scale.
            let col = p.colormap.at(frac(distinct[0]));
            c.rect((bx0, cb0), (bx1, cb0 + bar_w), col)?;
            c.rect_outline((bx0, cb0), (bx1, cb0 + bar_w), canvas::AXIS, 1.0)?;
            let label = if b.nb == n && !self.graph.is_weighted() {
                "edge".to_string()
            } else {
                format!("= {}", sig3(distinct[0]))
            };
            c.label(
                &label,
                (bx1 + 6.0, cb0 + 0.5 * bar_w),
                f,
                (HPos::Left, VPos::Center),
            )?;
        }
        // Colour bar with ticks.
        if distinct.len() > 1 {
            let steps = 256usize;
            let mut bar = Vec::with_capacity(steps * 3);
            for i in 0..steps {
                let col = p.colormap.at(1.0 - i as f64 / (steps - 1) as f64);
                bar.extend_from_slice(&[col.0, col.1, col.2]);
            }
            c.raster(
                &Raster {
                    w: 1,
                    h: steps,
                    rgb: bar,
                },
                (bx0, cb0),
                (bx1, cb1),
            )?;
            c.rect_outline((bx0, cb0), (bx1, cb1), canvas::AXIS, 1.0)?;
            let y_at = |t: f64| cb1 - t.clamp(0.0, 1.0) * (cb1 - cb0);
            let ticks: Vec<(f64, String)> = match p.scale {
                ColorScale::Linear => {
                    if vmax > lin_lo {
                        nice_ticks(lin_lo, vmax, 6)
                            .into_iter()
                            .map(|(v, l)| ((v - lin_lo) / (vmax - lin_lo), l))
                            .collect()
                    } else {
                        vec![(1.0, sig3(vmax))]
                    }
                }
                ColorScale::Log => {
                    if vmax > pos_min {
                        let a = Axis {
                            lo: pos_min,
                            hi: vmax,
                            log: true,
                            reversed: false,
                        };
                        let mut t: Vec<(f64, String)> = a
                            .ticks()
                            .into_iter()
                            .map(|(v, _)| (a.frac(v), fmt_log_tick(v)))
                            .collect();
                        if t.len() < 2 {
                            t = vec![(0.0, sig3(pos_min)), (1.0, sig3(vmax))];
                        }
                        t
                    } else {
                        vec![(1.0, sig3(vmax))]
                    }
                }
                ColorScale::Rank => {
                    let m = distinct.len();
                    [0.0, 0.25, 0.5, 0.75, 1.0]
                        .iter()
                        .map(|&q| {
                            let i = ((m - 1) as f64 * q).round() as usize;
                            let t = if m < 2 {
                                1.0
                            } else {
                                i as f64 / (m - 1) as f64
                            };
                            (t, sig3(distinct[i]))
                        })
                        .collect()
                }
            };
            let mut last_y = f64::INFINITY;
            for (t, label) in ticks {
                let y = y_at(t);
                c.line(&[(bx1, y), (bx1 + 5.0, y)], canvas::AXIS, 1.0)?;
                // Skip labels that would overlap the previous one.
                if (last_y - y).abs() >= 1.1 * f {
                    c.label(&label, (bx1 + 8.0, y), f, (HPos::Left, VPos::Center))?;
                    last_y = y;
                }
            }
        }
        if distinct.len() > 1 {
            let unit = if p.bins.is_some() { "bin" } else { "pixel" };
            let what = match (p.aggregate, b.nb < n, self.graph.is_weighted()) {
                (_, false, _) => "edge weight".to_string(),
                (Aggregate::Mean, true, true) => format!("mean edge weight per {unit}"),
                (Aggregate::Mean, true, false) => format!("edge density per {unit}"),
                (Aggregate::Sum, true, true) => format!("total edge weight per {unit}"),
                (Aggregate::Sum, true, false) => format!("edges per {unit}"),
            };
            let scale = match p.scale {
                ColorScale::Linear => "",
                ColorScale::Log => " (log scale)",
                ColorScale::Rank => " (rank scale)",
            };
            c.label_up(
                &format!("{what}{scale}"),
                (w - pad - lab_h, 0.5 * (cb0 + cb1)),
                f,
                (HPos::Center, VPos::Top),
            )?;
        }
        // Class legend under the colour bar.
        if let Some(lc) = &p.leaf_classes {
            let lf = 0.9 * f;
            let row = 1.5 * lf;
            let lx = bx0;
            let mut y = cb1 + 2.0 * pad;
            let max_w = w - pad - lx - bar_w - 0.5 * lf;
            let max_chars = ((max_w / (0.55 * lf)) as usize).max(4);
            c.label(
                &ellipsize(&lc.title, max_chars + 3),
                (lx, y),
                lf,
                (HPos::Left, VPos::Top),
            )?;
            y += row;
            let fit = (((y1 - y) / row).floor().max(0.0)) as usize;
            for (r, &(code, col)) in classes.iter().enumerate() {
                if r + 1 == fit && classes.len() > fit {
                    c.label(
                        &format!("… {} more", classes.len() - r),
                        (lx, y + 0.5 * row),
                        lf,
                        (HPos::Left, VPos::Center),
                    )?;
                    break;
                }
                let yc = y + 0.5 * row;
                c.rect((lx, yc - 0.4 * lf), (lx + bar_w, yc + 0.4 * lf), col)?;
                c.label(
                    &ellipsize(&lc.names[code as usize], max_chars),
                    (lx + bar_w + 0.5 * lf, yc),
                    lf,
                    (HPos::Left, VPos::Center),
                )?;
                y += row;
            }
        }
        Ok(())
    }
}
