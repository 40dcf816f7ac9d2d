//! Dendrogram plot: leaves in tree order, U-shaped links at the merge heights, leaves coloured
//! by a category, an optional cut line, and subtrees collapsed when there are many leaves.

use super::canvas::{self, ellipsize, Axis, Canvas, Figure};
use super::{category_color, plot_options_setters, ImageFormat, Page, PlotOptions, Rgb};
use crate::error::{Error, Result};
use crate::graph::Labels;
use crate::hierarchy::{Dendrogram, HeightMap};
use crate::util::FxHashMap;
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};
use std::path::Path;

/// A category for every leaf of a dendrogram (e.g. the majority ground-truth class of its nodes
/// or the dominant domain of a brick), drawn as a colour strip under the leaves with a legend.
#[derive(Debug, Clone, PartialEq)]
pub struct LeafClasses {
    /// Legend title (e.g. the labels column name).
    pub title: String,
    /// Category names. The categories used by the drawn leaves are coloured in the natural
    /// order of their names (numbers numerically): the first gets [`category_color`]`(0)`.
    pub names: Vec<String>,
    /// Category of each leaf (`None`: unlabelled, drawn light grey).
    pub of_leaf: Vec<Option<u32>>,
}

impl LeafClasses {
    /// Categories given directly, one per leaf.
    pub fn new(title: impl Into<String>, names: Vec<String>, of_leaf: Vec<Option<u32>>) -> Self {
        LeafClasses {
            title: title.into(),
            names,
            of_leaf,
        }
    }

    /// Majority category of each leaf's nodes. `node_class[i]` is the category of node index
    /// `i` of the tree (`None`: unknown, not counted); ties go to the smaller category code.
    ///
    /// # Errors
    /// When `node_class` does not have one entry per tree node or a code is out of range.
    ///
    /// # Complexity
    /// O(number of nodes in leaves) time, O(number of categories) extra space.
    pub fn majority(
        tree: &Dendrogram,
        node_class: &[Option<u32>],
        names: Vec<String>,
        title: impl Into<String>,
    ) -> Result<Self> {
        if node_class.len() != tree.node_ids.len() {
            return Err(Error::Input(format!(
                "{} node categories for a tree over {} nodes",
                node_class.len(),
                tree.node_ids.len()
            )));
        }
        let mut count = vec![0usize; names.len()];
        let mut of_leaf = Vec::with_capacity(tree.num_leaves());
        for leaf in &tree.leaves {
            count.iter_mut().for_each(|c| *c = 0);
            for &m in leaf {
                if let Some(c) = node_class.get(m as usize).copied().flatten() {
                    let slot = count.get_mut(c as usize).ok_or_else(|| {
                        Error::Input(format!(
                            "node category {c} out of range ({} names)",
                            names.len()
                        ))
                    })?;
                    *slot += 1;
                }
            }
            let best = count
                .iter()
                .enumerate()
                .filter(|&(_, &n)| n > 0)
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
                .map(|(c, _)| c as u32);
            of_leaf.push(best);
        }
        Ok(LeafClasses::new(title, names, of_leaf))
    }

    /// Majority class per leaf from a labels table column, matching rows to tree nodes by node
    /// id. Tree nodes without a row are not counted.
    ///
    /// # Errors
    /// [`Error::Param`] naming `column` when the column does not exist (the message lists the
    /// columns); [`Error::Input`] when no node of the tree's leaves has a row in the table.
    pub fn from_labels(tree: &Dendrogram, labels: &Labels, column: &str) -> Result<Self> {
        let c = labels
            .columns
            .iter()
            .position(|x| x == column)
            .ok_or_else(|| {
                Error::param(
                    "column",
                    format!(
                        "no column `{column}` in the labels (columns: {})",
                        labels.columns.join(", ")
                    ),
                )
            })?;
        let mut row: FxHashMap<&str, usize> = FxHashMap::default();
        for (r, id) in labels.node_ids.iter().enumerate() {
            row.insert(id.as_str(), r);
        }
        let node_class: Vec<Option<u32>> = tree
            .node_ids
            .iter()
            .map(|id| row.get(id.as_str()).map(|&r| labels.codes[c][r]))
            .collect();
        let any = tree
            .leaves
            .iter()
            .flatten()
            .any(|&m| node_class[m as usize].is_some());
        if !any {
            return Err(Error::Input(format!(
                "no node of the tree's leaves has a row in the labels (e.g. tree node `{}`, labels row `{}`)",
                tree.leaves[0]
                    .first()
                    .map(|&m| tree.node_ids[m as usize].as_str())
                    .unwrap_or(""),
                labels.node_ids.first().map(|s| s.as_str()).unwrap_or("")
            )));
        }
        LeafClasses::majority(tree, &node_class, labels.names[c].clone(), column)
    }
}

/// Parameters of a dendrogram plot (after scikit-network's `svg_dendrogram`).
///
/// Leaves are drawn left to right in [`Dendrogram::leaf_order`], each merge as a U-shaped link
/// at its height. Links keep their heights as computed: in top-down trees with inversions (a
/// child merge less similar, hence higher, than its parent) the link goes *down* to the parent
/// and branches cross; those segments are drawn in `inversion_color`.
/// With more than `max_leaves` leaves, the first merges (in cut order) are
/// collapsed so that exactly `max_leaves` subtrees remain, each drawn as a grey wedge labelled
/// with its leaf and node counts.
///
/// # Reading the plot
/// - Each leaf at the bottom is a brick (primitive community), labelled `L<i> (<nodes>)`; a
///   wedge labelled `n leaves (nodes)` is a collapsed subtree.
/// - Two branches join at the level of their merge. By default ([`HeightScale::Auto`]) the
///   axis is the merge **similarity** (edge density between the two groups, or their mean edge
///   weight) on a reversed log scale: the lower the join, the more strongly connected the two
///   groups, and merges whose similarities differ by the same factor are the same distance
///   apart. (Heights such as `1 − density` or `1 / (1 + w)` of sparse graphs all lie near 1, so
///   a height axis puts most merges in a thin band at the top; [`HeightScale::Height`] draws
///   it anyway.) The tree's JSON keeps the exact heights and similarities.
/// - The colour strip under the leaves shows each leaf's category (e.g. majority ground-truth
///   class); a collapsed subtree shows its mix of categories, weighted by nodes.
/// - The dashed line is the cut into `k` clusters (`Dendrogram::cut_k`): the branches it
///   crosses are the clusters.
/// - Red segments are inversions: a child less dense than its parent, so its link goes down to
///   the parent and crosses other branches. Bottom-up (average-linkage) trees have none.
///
/// ```
/// use neurobricks::plot::DendrogramPlot;
/// let p = DendrogramPlot::default().width(800).height(500).log(true).cut(4).max_leaves(40);
/// assert_eq!(p.cut, Some(4));
/// ```
#[derive(Debug, Clone)]
pub struct DendrogramPlot {
    /// Size, title and font shared by all figures (default 1000 x 600 pixels, no title,
    /// 16-pixel font).
    pub options: PlotOptions,
    /// How merges are placed on the vertical axis (default [`HeightScale::Auto`]: log
    /// similarity when every merge similarity is positive).
    pub scale: HeightScale,
    /// Short text appended to each leaf's label, e.g. a few top word pieces of each brick
    /// (default none; one per leaf). Labels read `L<i> (<nodes>) <tag>`.
    pub leaf_tags: Option<Vec<String>>,
    /// Draw the cut line of `Dendrogram::cut_k(k)` (default none).
    pub cut: Option<usize>,
    /// Most drawn leaves before subtrees are collapsed (default 60, at least 2).
    pub max_leaves: usize,
    /// One name per leaf (default `L<i> (<nodes>)`).
    pub leaf_names: Option<Vec<String>>,
    /// Leaf categories for the colour strip and legend (default none).
    pub leaf_classes: Option<LeafClasses>,
    /// Category colours, in the legend's order (natural order of the category names in
    /// use), cycled when there are more categories (default [`super::PALETTE`]).
    pub class_colors: Option<Vec<Rgb>>,
    /// Link colour (default dark grey).
    pub link_color: Rgb,
    /// Colour of links that go down to their parent (inversions; default red).
    pub inversion_color: Rgb,
    /// Height axis label (default from the tree's height map, e.g. `height (1 − density)`).
    pub y_label: Option<String>,
    /// Draw the tree sideways: root on the left, leaves on the right with horizontal names,
    /// heights on the bottom axis (default false; suits many or long leaf names).
    pub rotate: bool,
    /// Bottom of a linear height axis, where leaves sit (default: 0, or just below the lowest
    /// merge when all merge heights lie within a quarter of the highest one, as `1 − density`
    /// of sparse graphs do). Must be below the lowest merge.
    pub y_min: Option<f64>,
}

impl Default for DendrogramPlot {
    fn default() -> Self {
        DendrogramPlot {
            options: PlotOptions::new(1000, 600),
            scale: HeightScale::Auto,
            leaf_tags: None,
            cut: None,
            max_leaves: 60,
            leaf_names: None,
            leaf_classes: None,
            class_colors: None,
            link_color: Rgb(0x33, 0x33, 0x33),
            inversion_color: Rgb(0xd6, 0x27, 0x28),
            y_label: None,
            rotate: false,
            y_min: None,
        }
    }
}

impl DendrogramPlot {
    plot_options_setters!();
    /// Use a logarithmic height axis ([`HeightScale::LogHeight`]); `false` undoes it (back to
    /// [`HeightScale::Auto`]) and leaves the other scales as they are.
    pub fn log(mut self, on: bool) -> Self {
        if on {
            self.scale = HeightScale::LogHeight;
        } else if self.scale == HeightScale::LogHeight {
            self.scale = HeightScale::Auto;
        }
        self
    }
    crate::util::setters! {
        /// Set how merges are placed on the vertical axis.
        scale: HeightScale,
        /// Append a short text to each leaf's label (e.g. its top word pieces).
        leaf_tags: Some(Vec<String>),
        /// Draw the cut line into `k` clusters.
        cut: Some(usize),
        /// Collapse subtrees when the tree has more than `n` leaves.
        max_leaves: usize,
        /// Name every leaf.
        leaf_names: Some(Vec<String>),
        /// Colour leaves by category.
        leaf_classes: Some(LeafClasses),
        /// Set the category colours.
        class_colors: Some(Vec<Rgb>),
        /// Set the link colour.
        link_color: Rgb,
        /// Set the colour of inverted links.
        inversion_color: Rgb,
        /// Draw the tree sideways (root left, leaves right).
        rotate: bool,
        /// Set the bottom of the linear height axis (e.g. `0.0` to always start at zero).
        y_min: Some(f64),
    }
    /// Set the height axis label.
    pub fn y_label(mut self, s: impl Into<String>) -> Self {
        self.y_label = Some(s.into());
        self
    }

    /// Draw `tree` into `out` (`.png` or `.svg`), atomically.
    ///
    /// # Errors
    /// An invalid tree, a tree with a single leaf, non-positive heights on a log axis, a cut
    /// outside `1..=K`, mismatched leaf names or classes, bad sizes, or an unknown extension
    /// (each naming the parameter), or an I/O error on `out`.
    pub fn render(&self, tree: &Dendrogram, out: &Path) -> Result<()> {
        let fig = self.prepare(tree)?;
        super::write_figure(&fig, &self.options, out)
    }

    /// Draw `tree` in memory as PNG or SVG bytes (same checks as [`DendrogramPlot::render`]).
    pub fn render_to_bytes(&self, tree: &Dendrogram, format: ImageFormat) -> Result<Vec<u8>> {
        let fig = self.prepare(tree)?;
        canvas::render(&fig, &self.options, format)
    }

    fn prepare<'a>(&'a self, tree: &'a Dendrogram) -> Result<DendroFig<'a>> {
        self.options.validate()?;
        tree.validate()?;
        let k = tree.num_leaves();
        if k < 2 {
            return Err(Error::Input(
                "cannot plot a dendrogram with a single leaf: it has no merges".into(),
            ));
        }
        if self.max_leaves < 2 {
            return Err(Error::param(
                "DendrogramPlot.max_leaves",
                format!("{} is too small (at least 2)", self.max_leaves),
            ));
        }
        let scale = self.resolved_scale(tree);
        if scale == HeightScale::LogHeight {
            if let Some((t, m)) = tree
                .merges
                .iter()
                .enumerate()
                .find(|(_, m)| m.height <= 0.0)
            {
                return Err(Error::param(
                    "DendrogramPlot.log",
                    format!(
                        "merge {t} has height {} but a log axis needs positive heights",
                        m.height
                    ),
                ));
            }
        }
        if let Some(v) = self.y_min {
            let hmin = tree
                .merges
                .iter()
                .map(|m| m.height)
                .fold(f64::INFINITY, f64::min);
            if !v.is_finite() || v >= hmin || scale != HeightScale::Height {
                return Err(Error::param(
                    "DendrogramPlot.y_min",
                    format!(
                        "{v} must be finite and below the lowest merge height {hmin}, on a linear axis"
                    ),
                ));
            }
        }
        if let Some(c) = self.cut {
            if c == 0 || c > k {
                return Err(Error::param(
                    "DendrogramPlot.cut",
                    format!("cannot cut a tree with {k} leaves into {c} clusters (1..={k})"),
                ));
            }
        }
        if matches!(&self.class_colors, Some(c) if c.is_empty()) {
            return Err(Error::param(
                "DendrogramPlot.class_colors",
                "give at least one colour",
            ));
        }
        if let Some(n) = &self.leaf_names {
            if n.len() != k {
                return Err(Error::param(
                    "DendrogramPlot.leaf_names",
                    format!("{} names for {k} leaves", n.len()),
                ));
            }
        }
        if let Some(n) = &self.leaf_tags {
            if n.len() != k {
                return Err(Error::param(
                    "DendrogramPlot.leaf_tags",
                    format!("{} tags for {k} leaves", n.len()),
                ));
            }
        }
        if scale == HeightScale::LogSimilarity {
            if let Some((t, m)) = tree
                .merges
                .iter()
                .enumerate()
                .find(|(_, m)| m.similarity.is_nan() || m.similarity <= 0.0)
            {
                return Err(Error::param(
                    "DendrogramPlot.scale",
                    format!(
                        "merge {t} has similarity {} but a log-similarity axis needs positive similarities",
                        m.similarity
                    ),
                ));
            }
        }
        if let Some(lc) = &self.leaf_classes {
            check_classes(lc, k)?;
        }
        Ok(DendroFig::new(self, tree, scale))
    }

    /// The scale actually drawn for `tree`: [`HeightScale::Auto`] becomes
    /// [`HeightScale::LogSimilarity`] when every merge similarity is positive and finite and no
    /// linear axis bottom (`y_min`) is set, else [`HeightScale::Height`].
    pub fn resolved_scale(&self, tree: &Dendrogram) -> HeightScale {
        match self.scale {
            HeightScale::Auto
                if self.y_min.is_none()
                    && tree
                        .merges
                        .iter()
                        .all(|m| m.similarity > 0.0 && m.similarity.is_finite()) =>
            {
                HeightScale::LogSimilarity
            }
            HeightScale::Auto => HeightScale::Height,
            s => s,
        }
    }

    /// Where the plot places each merge: for merge `t`, its position on the vertical axis as a
    /// fraction from the leaves (0) to the top of the axis (1), on the scale
    /// [`DendrogramPlot::resolved_scale`] (the same numbers the figure and the HTML report
    /// draw). With the tick values and labels of the axis, and its label.
    ///
    /// # Errors
    /// The checks of [`DendrogramPlot::render`].
    pub fn merge_positions(&self, tree: &Dendrogram) -> Result<MergePositions> {
        let fig = self.prepare(tree)?;
        let k = tree.num_leaves();
        Ok(MergePositions {
            scale: fig.scale,
            merges: (0..tree.merges.len())
                .map(|t| fig.axis.frac(fig.coord_of(k + t)))
                .collect(),
            ticks: fig
                .axis
                .ticks()
                .into_iter()
                .map(|(v, l)| (fig.axis.frac(v), l))
                .filter(|(f, _)| (-1e-9..=1.0 + 1e-9).contains(f))
                .collect(),
            cut: fig
                .p
                .cut
                .and_then(|kc| fig.cut_height(kc))
                .map(|v| fig.axis.frac(v)),
            label: fig.height_label(),
        })
    }
}

/// How a dendrogram plot places merges on its vertical axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeightScale {
    /// [`HeightScale::LogSimilarity`] when every merge similarity is positive, else
    /// [`HeightScale::Height`] (default).
    #[default]
    Auto,
    /// The merge heights on a linear axis (from 0, or from just below the lowest merge when
    /// all heights are bunched far from 0).
    Height,
    /// The merge heights on a logarithmic axis (positive heights).
    LogHeight,
    /// The merge similarities on a reversed logarithmic axis: the most similar merges at the
    /// bottom, ticks labelled with similarities (positive similarities). Spreads the merges of
    /// sparse graphs, whose similarities span decades while their heights all lie near 1.
    LogSimilarity,
}

/// The names of the scales (CLI `--scale`, [`HeightScale::from_str`](std::str::FromStr)).
const SCALE_NAMES: [(&str, HeightScale); 4] = [
    ("auto", HeightScale::Auto),
    ("height", HeightScale::Height),
    ("log-height", HeightScale::LogHeight),
    ("log-similarity", HeightScale::LogSimilarity),
];

impl std::str::FromStr for HeightScale {
    type Err = Error;
    /// `auto`, `height`, `log-height` or `log-similarity`.
    fn from_str(s: &str) -> Result<Self> {
        SCALE_NAMES
            .iter()
            .find(|(name, _)| *name == s)
            .map(|&(_, scale)| scale)
            .ok_or_else(|| {
                Error::param(
                    "DendrogramPlot.scale",
                    format!("unknown scale `{s}` (auto, height, log-height, log-similarity)"),
                )
            })
    }
}

/// The vertical placement of a dendrogram's merges ([`DendrogramPlot::merge_positions`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MergePositions {
    /// The scale drawn (never [`HeightScale::Auto`]).
    pub scale: HeightScale,
    /// Position of every merge, from the leaves (0) to the top of the axis (1).
    pub merges: Vec<f64>,
    /// Axis ticks: position and label.
    pub ticks: Vec<(f64, String)>,
    /// Position of the cut line, when a cut is drawn.
    pub cut: Option<f64>,
    /// Axis label.
    pub label: String,
}

impl MergePositions {
    /// Share of the merges drawn in the top `frac` of the axis span between the leaves and the
    /// highest merge (e.g. `0.02`: the top 2%): how crowded the top of the tree is.
    pub fn share_in_top(&self, frac: f64) -> f64 {
        let top = self
            .merges
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let n = self
            .merges
            .iter()
            .filter(|&&f| f >= top * (1.0 - frac))
            .count();
        n as f64 / self.merges.len().max(1) as f64
    }
}

/// A drawn leaf: a tree leaf or a collapsed subtree.
struct Shown {
    /// Cluster id (`< K` leaf, else merge `id - K`).
    id: usize,
    /// Leaves under it.
    leaves: Vec<usize>,
}

struct DendroFig<'a> {
    p: &'a DendrogramPlot,
    tree: &'a Dendrogram,
    /// Drawn leaves left to right.
    shown: Vec<Shown>,
    /// Horizontal slot (in drawn-leaf units) of every cluster id that is drawn.
    xpos: Vec<f64>,
    /// First drawn merge; merges before it are collapsed.
    first_drawn: usize,
    axis: Axis,
    /// The scale drawn (resolved).
    scale: HeightScale,
}

impl<'a> DendroFig<'a> {
    fn new(p: &'a DendrogramPlot, tree: &'a Dendrogram, scale: HeightScale) -> Self {
        let k = tree.num_leaves();
        let drawn = k.min(p.max_leaves);
        let first_drawn = k - drawn;
        let total = 2 * k - 1;
        let mut xpos = vec![f64::NAN; total];
        let mut shown = Vec::with_capacity(drawn);
        // Depth-first from the root, left child first; collapsed clusters become drawn leaves.
        let mut stack = vec![(total - 1, false)];
        while let Some((c, done)) = stack.pop() {
            let internal_drawn = c >= k + first_drawn;
            if !internal_drawn {
                xpos[c] = shown.len() as f64;
                shown.push(Shown {
                    id: c,
                    leaves: tree.leaves_under(c),
                });
            } else if done {
                let m = &tree.merges[c - k];
                xpos[c] = 0.5 * (xpos[m.left] + xpos[m.right]);
            } else {
                let m = &tree.merges[c - k];
                stack.push((c, true));
                stack.push((m.right, false));
                stack.push((m.left, false));
            }
        }
        let log_sim = scale == HeightScale::LogSimilarity;
        let hs: Vec<f64> = tree
            .merges
            .iter()
            .map(|m| if log_sim { m.similarity } else { m.height })
            .collect();
        let hmin = hs.iter().copied().fold(f64::INFINITY, f64::min);
        let hmax = hs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let axis = if scale != HeightScale::Height {
            let (lo, hi) = if hmax / hmin < 1.5 {
                (hmin / 1.5, hmax * 1.2)
            } else {
                let r = (hmax / hmin).powf(0.06);
                (hmin / r.max(1.1), hmax * r)
            };
            Axis {
                lo,
                hi: hi.min(f64::MAX),
                log: true,
                reversed: log_sim,
            }
        } else {
            let spread = hmax - hmin;
            let lo = match p.y_min {
                Some(v) => v,
                // Heights bunched far from zero (e.g. 1 - density of sparse graphs, all near
                // 1): start the axis just below the lowest merge so the tree is readable.
                None if hmin > 0.0 && spread > 0.0 && spread < 0.25 * hmax => {
                    (hmin - 0.15 * spread).max(0.0)
                }
                None => hmin.min(0.0),
            };
            let span = if hmax > lo { hmax - lo } else { 1.0 };
            Axis {
                lo,
                hi: hmax.max(lo) + 0.05 * span,
                log: false,
                reversed: false,
            }
        };
        DendroFig {
            p,
            tree,
            shown,
            xpos,
            first_drawn,
            axis,
            scale,
        }
    }

    /// The axis value of cluster `c`: the leaves' baseline for a leaf, else the merge's height
    /// or similarity (by the scale).
    fn coord_of(&self, c: usize) -> f64 {
        let k = self.tree.num_leaves();
        if c < k {
            self.axis.start()
        } else if self.scale == HeightScale::LogSimilarity {
            self.tree.merges[c - k].similarity
        } else {
            self.tree.merges[c - k].height
        }
    }

    /// Colours of a drawn leaf's strip and their shares: one colour for a leaf, the
    /// node-weighted mix of categories for a collapsed subtree (largest first).
    fn strip_parts(
        &self,
        s: &Shown,
        lc: &LeafClasses,
        class_color: &FxHashMap<u32, Rgb>,
    ) -> Vec<(Rgb, f64)> {
        let mut parts: Vec<(Option<u32>, usize)> = Vec::new();
        for &l in &s.leaves {
            let cl = lc.of_leaf[l];
            let nodes = self.tree.leaves[l].len();
            match parts.iter_mut().find(|(c2, _)| *c2 == cl) {
                Some(e) => e.1 += nodes,
                None => parts.push((cl, nodes)),
            }
        }
        parts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let total = parts.iter().map(|x| x.1).sum::<usize>().max(1) as f64;
        parts
            .into_iter()
            .map(|(cl, nodes)| {
                let col = cl
                    .and_then(|c2| class_color.get(&c2).copied())
                    .unwrap_or(UNLABELLED);
                (col, nodes as f64 / total)
            })
            .collect()
    }

    /// The sideways layout: leaves top to bottom on the right, height axis at the bottom
    /// increasing to the left, plot box `[left, plot_right] x [top, bottom]`.
    fn draw_sideways<DB: DrawingBackend>(
        &self,
        c: &Canvas<DB>,
        top: f64,
        right: f64,
        class_color: &FxHashMap<u32, Rgb>,
    ) -> Result<()> {
        let p = self.p;
        let f = p.options.font_size;
        let h = p.options.height as f64;
        let pad = (0.8 * f).max(8.0);
        let x_label = self.height_label();
        let cap_h = c.text_size(&x_label, f).1;
        let bottom = h - pad - cap_h - 0.6 * pad - f - 10.0;
        let n = self.shown.len() as f64;
        if bottom - top < 20.0 {
            return Err(p.options.no_room("PlotOptions.height", "the plot"));
        }
        let slot = (bottom - top) / n;
        let labels: Vec<String> = self.shown.iter().map(|s| self.label_of(s)).collect();
        let lab_f = (0.85 * f).min(slot / 1.15);
        let show_labels = lab_f >= 7.0;
        let max_lab_w = 0.3 * p.options.width as f64;
        let (max_chars, lab_w) = fit_labels(c, &labels, lab_f, show_labels, 40, max_lab_w);
        let strip_w = if p.leaf_classes.is_some() {
            (0.9 * f).max(6.0)
        } else {
            0.0
        };
        let left = pad + 0.5 * f;
        let plot_right = right - if show_labels { lab_w + 4.0 } else { 0.0 } - strip_w - 3.0;
        if plot_right - left < 20.0 {
            return Err(p.options.no_room("PlotOptions.width", "the plot"));
        }
        let y_of = |slot_pos: f64| top + (slot_pos + 0.5) * slot;
        let x_of = |v: f64| plot_right - self.axis.frac(v) * (plot_right - left);

        // Height axis at the bottom with light vertical grid lines.
        canvas::bottom_ticks(c, &self.axis, x_of, bottom, f, Some(top))?;
        c.line(&[(left, bottom), (plot_right, bottom)], canvas::AXIS, 1.0)?;
        let plot_box = (left, plot_right, top, bottom);
        canvas::axis_titles(c, &x_label, None, plot_box, h, pad, f)?;
        if let Some(hc) = p.cut.and_then(|kc| self.cut_height(kc)) {
            let x = x_of(hc);
            c.dashed(&[(x, top), (x, bottom)], CUT, 1.0, 6.0)?;
        }

        // Links: a vertical bar at the parent's height, horizontal arms to the children.
        self.draw_links(c, slot, |pos, height, off| (x_of(height), y_of(pos) + off))?;
        c.line(
            &[(plot_right, top), (plot_right, bottom)],
            canvas::AXIS,
            1.0,
        )?;

        // Colour strip and names to the right of the leaves.
        let sx = plot_right + 3.0;
        if let Some(lc) = &p.leaf_classes {
            for (i, s) in self.shown.iter().enumerate() {
                let gap = if slot >= 4.0 { 1.0 } else { 0.0 };
                let mut y = top + i as f64 * slot + gap;
                let len = slot - 2.0 * gap;
                for (col, share) in self.strip_parts(s, lc, class_color) {
                    c.rect((sx, y), (sx + strip_w, y + len * share), col)?;
                    y += len * share;
                }
            }
        }
        if show_labels {
            for (i, l) in labels.iter().enumerate() {
                c.label(
                    &ellipsize(l, max_chars),
                    (sx + strip_w + 4.0, y_of(i as f64)),
                    lab_f,
                    (HPos::Left, VPos::Center),
                )?;
            }
        }
        Ok(())
    }

    /// Is cluster `c` drawn above cluster `parent` (an inversion)?
    fn above(&self, c: usize, parent: usize) -> bool {
        self.axis.frac(self.coord_of(c)) > self.axis.frac(self.coord_of(parent))
    }

    /// The links of the drawn merges: a bar at the parent's level between its children and an
    /// arm from each child's level up to it (in the inversion colour when the child is higher);
    /// then a wedge per collapsed subtree from its root level to the baseline. `pt(slot
    /// position, axis value, offset)` places a point, `offset` pixels along the leaf axis, so
    /// one drawing serves both orientations.
    fn draw_links<DB: DrawingBackend>(
        &self,
        c: &Canvas<DB>,
        slot: f64,
        pt: impl Fn(f64, f64, f64) -> (f64, f64),
    ) -> Result<()> {
        let p = self.p;
        let k = self.tree.num_leaves();
        let lw = if slot >= 12.0 { 2.0 } else { 1.0 };
        for (t, m) in self.tree.merges.iter().enumerate().skip(self.first_drawn) {
            let level = self.coord_of(k + t);
            let bar = [
                pt(self.xpos[m.left], level, 0.0),
                pt(self.xpos[m.right], level, 0.0),
            ];
            c.line(&bar, p.link_color, lw)?;
            for ch in [m.left, m.right] {
                let col = if self.above(ch, k + t) {
                    p.inversion_color
                } else {
                    p.link_color
                };
                let arm = [
                    pt(self.xpos[ch], self.coord_of(ch), 0.0),
                    pt(self.xpos[ch], level, 0.0),
                ];
                c.line(&arm, col, lw)?;
            }
        }
        for s in self.shown.iter().filter(|s| s.id >= k) {
            let (pos, half) = (self.xpos[s.id], (0.35 * slot).min(10.0));
            let tip = pt(pos, self.coord_of(s.id), 0.0);
            let base0 = self.axis.start();
            let base = (pt(pos, base0, -half), pt(pos, base0, half));
            c.polygon(&[tip, base.0, base.1], WEDGE)?;
            c.line(&[tip, base.0, base.1, tip], p.link_color, 1.0)?;
        }
        Ok(())
    }

    /// The height axis label (from the height map and the scale unless set).
    fn height_label(&self) -> String {
        let p = self.p;
        p.y_label.clone().unwrap_or_else(|| match self.scale {
            HeightScale::LogSimilarity => match self.tree.height_map {
                HeightMap::OneMinus => "similarity (edge density), log scale",
                HeightMap::Reciprocal => "similarity (mean edge weight), log scale",
            }
            .to_string(),
            _ => {
                match self.tree.height_map {
                    HeightMap::OneMinus => "height (1 − density)",
                    HeightMap::Reciprocal => "height 1 / (1 + density)",
                }
                .to_string()
                    + if self.scale == HeightScale::LogHeight {
                        ", log scale"
                    } else {
                        ""
                    }
            }
        })
    }

    fn label_of(&self, s: &Shown) -> String {
        let k = self.tree.num_leaves();
        let nodes: usize = s.leaves.iter().map(|&l| self.tree.leaves[l].len()).sum();
        if s.id < k {
            let name = match &self.p.leaf_names {
                Some(n) => n[s.id].clone(),
                None => format!("L{} ({nodes})", s.id),
            };
            match self.p.leaf_tags.as_ref().map(|t| t[s.id].as_str()) {
                Some(tag) if !tag.is_empty() => format!("{name} {tag}"),
                _ => name,
            }
        } else {
            format!("{} leaves ({nodes})", s.leaves.len())
        }
    }

    /// Height of the cut line for `cut_k(k)`: halfway between the last merge applied and the
    /// first merge kept (geometric mean on a log axis).
    fn cut_height(&self, kc: usize) -> Option<f64> {
        let k = self.tree.num_leaves();
        if kc <= 1 {
            return None;
        }
        let above = self.coord_of(2 * k - kc);
        let below = if kc == k {
            self.axis.start()
        } else {
            self.coord_of(2 * k - kc - 1)
        };
        Some(if self.axis.log {
            (above * below).sqrt()
        } else {
            0.5 * (above + below)
        })
    }
}

/// How many characters of the leaf labels fit in `max_len` pixels at `font` pixels: from
/// `max_chars`, two fewer at a time down to 6, until the longest ellipsized label fits. Returns
/// those characters and the longest label's length (`(max_chars, 0.0)` when `show` is off).
fn fit_labels<DB: DrawingBackend>(
    c: &Canvas<DB>,
    labels: &[String],
    font: f64,
    show: bool,
    mut max_chars: usize,
    max_len: f64,
) -> (usize, f64) {
    if !show {
        return (max_chars, 0.0);
    }
    loop {
        let len = labels
            .iter()
            .map(|l| c.text_size(&ellipsize(l, max_chars), font).0)
            .fold(0.0, f64::max);
        if len <= max_len || max_chars <= 6 {
            return (max_chars, len);
        }
        max_chars -= 2;
    }
}

/// Legend keys in a column from `(lx, top)`.
fn draw_legend<DB: DrawingBackend>(
    c: &Canvas<DB>,
    keys: &[Key],
    lx: f64,
    top: f64,
    lf: f64,
    key_w: f64,
) -> Result<()> {
    let row = 1.5 * lf;
    let mut y = top;
    for key in keys {
        let yc = y + 0.5 * row;
        let tx = lx + key_w + 0.5 * lf;
        match key {
            Key::Header(s) => {
                c.label(s, (lx, yc), lf, (HPos::Left, VPos::Center))?;
            }
            Key::Swatch(col, s) => {
                c.rect((lx, yc - 0.4 * lf), (lx + key_w, yc + 0.4 * lf), *col)?;
                c.label(s, (tx, yc), lf, (HPos::Left, VPos::Center))?;
            }
            Key::Line(col, dashed, s) => {
                if *dashed {
                    c.dashed(&[(lx, yc), (lx + key_w, yc)], *col, 1.0, 4.0)?;
                } else {
                    c.line(&[(lx, yc), (lx + key_w, yc)], *col, 2.0)?;
                }
                c.label(s, (tx, yc), lf, (HPos::Left, VPos::Center))?;
            }
            Key::Wedge(s) => {
                let xm = lx + 0.5 * key_w;
                c.polygon(
                    &[
                        (xm, yc - 0.45 * lf),
                        (xm - 0.35 * key_w, yc + 0.45 * lf),
                        (xm + 0.35 * key_w, yc + 0.45 * lf),
                    ],
                    WEDGE,
                )?;
                c.label(s, (tx, yc), lf, (HPos::Left, VPos::Center))?;
            }
        }
        y += row;
    }
    Ok(())
}

/// Colours of the categories used by some leaf, in the natural order of their names (numbers
/// numerically), so that trees drawn with the same labels get the same colours: the `r`-th
/// gets `custom[r % len]` or [`category_color`]`(r)`.
pub(crate) fn class_colors(lc: &LeafClasses, custom: Option<&[Rgb]>) -> Vec<(u32, Rgb)> {
    let mut used: Vec<u32> = lc.of_leaf.iter().flatten().copied().collect();
    used.sort_unstable();
    used.dedup();
    used.sort_by(|&a, &b| natural_cmp(&lc.names[a as usize], &lc.names[b as usize]));
    used.into_iter()
        .enumerate()
        .map(|(r, code)| {
            let col = match custom {
                Some(cs) if !cs.is_empty() => cs[r % cs.len()],
                _ => category_color(r),
            };
            (code, col)
        })
        .collect()
}

/// Check leaf categories against a tree with `k` leaves.
pub(crate) fn check_classes(lc: &LeafClasses, k: usize) -> Result<()> {
    if lc.of_leaf.len() != k {
        return Err(Error::param(
            "LeafClasses.of_leaf",
            format!("{} leaf categories for {k} leaves", lc.of_leaf.len()),
        ));
    }
    if let Some(c) = lc
        .of_leaf
        .iter()
        .flatten()
        .find(|&&c| c as usize >= lc.names.len())
    {
        return Err(Error::param(
            "LeafClasses.of_leaf",
            format!("category {c} out of range ({} names)", lc.names.len()),
        ));
    }
    Ok(())
}

/// Natural order: numbers numerically (and before text); text chunk by chunk, digit runs
/// compared as numbers (`domain 2` < `domain 10`).
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => return x.total_cmp(&y),
        (Ok(_), Err(_)) => return Ordering::Less,
        (Err(_), Ok(_)) => return Ordering::Greater,
        (Err(_), Err(_)) => {}
    }
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut digit = None;
        for (i, ch) in s.char_indices() {
            let d = ch.is_ascii_digit();
            if digit.is_some_and(|x| x != d) {
                out.push((digit.unwrap_or(false), &s[start..i]));
                start = i;
            }
            digit = Some(d);
        }
        if start < s.len() {
            out.push((digit.unwrap_or(false), &s[start..]));
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let o = match (x, y) {
            ((true, p), (true, q)) => {
                let (p, q) = (p.trim_start_matches('0'), q.trim_start_matches('0'));
                p.len().cmp(&q.len()).then_with(|| p.cmp(q))
            }
            ((_, p), (_, q)) => p.cmp(q),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

enum Key {
    Header(String),
    Swatch(Rgb, String),
    Line(Rgb, bool, String),
    Wedge(String),
}

const UNLABELLED: Rgb = Rgb(0xe8, 0xe8, 0xe8);
const WEDGE: Rgb = Rgb(0xdd, 0xdd, 0xdd);
const CUT: Rgb = Rgb(0x1f, 0x77, 0xb4);

impl Figure for DendroFig<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<DB>, page: Page) -> Result<()> {
        let p = self.p;
        let tree = self.tree;
        let k = tree.num_leaves();
        let Page { f, w, h, pad, top } = page;

        // Legend entries.
        let parent = tree.parents();
        let mut keys = Vec::new();
        let mut class_color: FxHashMap<u32, Rgb> = FxHashMap::default();
        let lf = 0.9 * f;
        let row = 1.5 * lf;
        if let Some(lc) = &p.leaf_classes {
            let used = class_colors(lc, p.class_colors.as_deref());
            let unlabelled = self
                .shown
                .iter()
                .any(|s| s.leaves.iter().any(|&l| lc.of_leaf[l].is_none()));
            // As many class entries as fit in the height, keeping 4 rows for the title, the
            // unlabelled swatch and the other keys (inversions, cut, collapsed subtrees).
            let rows = ((h - top - pad) / row).floor() as usize;
            let room = rows.saturating_sub(4 + usize::from(unlabelled)).max(1);
            keys.push(Key::Header(ellipsize(&lc.title, 28)));
            let shown_classes = if used.len() > room {
                room - 1
            } else {
                used.len()
            };
            for (r, &(code, col)) in used.iter().enumerate() {
                class_color.insert(code, col);
                if r < shown_classes {
                    keys.push(Key::Swatch(col, ellipsize(&lc.names[code as usize], 28)));
                }
            }
            if used.len() > shown_classes {
                keys.push(Key::Header(format!(
                    "… {} more",
                    used.len() - shown_classes
                )));
            }
            if unlabelled {
                keys.push(Key::Swatch(UNLABELLED, "unlabelled".into()));
            }
        }
        let drawn_inversions = (self.first_drawn..tree.merges.len())
            .filter(|&t| {
                let pc = parent[k + t];
                pc != usize::MAX && tree.merges[t].height > tree.merges[pc - k].height
            })
            .count();
        let total_inv = tree.inversions();
        if total_inv > 0 {
            let label = if drawn_inversions == total_inv {
                format!("inversions ({total_inv})")
            } else {
                format!("inversions ({drawn_inversions} shown of {total_inv})")
            };
            keys.push(Key::Line(p.inversion_color, false, label));
        }
        if let Some(kc) = p.cut.filter(|&kc| kc > 1) {
            keys.push(Key::Line(CUT, true, format!("cut into {kc} clusters")));
        }
        if self.first_drawn > 0 {
            keys.push(Key::Wedge("collapsed subtree".into()));
        }
        let key_w = 1.6 * lf;
        let legend_w = if keys.is_empty() {
            0.0
        } else {
            keys.iter()
                .map(|key| match key {
                    Key::Header(s) => c.text_size(s, lf).0,
                    Key::Swatch(_, s) | Key::Line(_, _, s) | Key::Wedge(s) => {
                        key_w + 0.5 * lf + c.text_size(s, lf).0
                    }
                })
                .fold(0.0, f64::max)
                + pad
        };
        let right = w - pad - legend_w;
        if p.rotate {
            self.draw_sideways(c, top, right, &class_color)?;
            return draw_legend(c, &keys, right + pad, top, lf, key_w);
        }

        // Vertical layout: caption, leaf labels and colour strip below the plot.
        let caption = if p.leaf_names.is_some() && self.first_drawn == 0 {
            "leaves in tree order"
        } else {
            "leaves in tree order (number of nodes)"
        };
        let cap_h = c.text_size(caption, f).1;
        let strip_h = if p.leaf_classes.is_some() {
            (0.9 * f).max(6.0)
        } else {
            0.0
        };

        // Left: axis label (rotated) and tick labels.
        let y_label = self.height_label();
        let yl_h = c.text_size(&y_label, f).1;
        let tick_w = canvas::tick_label_width(c, &self.axis, f);
        let left = pad + yl_h + pad + tick_w + 10.0;
        let plot_w = (right - left).max(10.0);
        let n = self.shown.len() as f64;
        let slot = plot_w / n;

        // Leaf labels: shrink the font to fit the slot; drop them when it would be unreadable.
        let labels: Vec<String> = self.shown.iter().map(|s| self.label_of(s)).collect();
        let lab_f = (0.85 * f).min(slot / 1.2);
        let show_labels = lab_f >= 7.0;
        let max_lab_h = 0.33 * h;
        let (max_chars, lab_h) = fit_labels(c, &labels, lab_f, show_labels, 28, max_lab_h);
        let bottom = h
            - pad
            - cap_h
            - 0.5 * pad
            - if show_labels { lab_h + 6.0 } else { 0.0 }
            - strip_h
            - 3.0;
        if bottom - top < 20.0 {
            return Err(p.options.no_room("PlotOptions.height", "the plot"));
        }
        let x_of = |slot_pos: f64| left + (slot_pos + 0.5) * slot;
        let y_of = |v: f64| bottom - self.axis.frac(v) * (bottom - top);

        canvas::left_axis(c, &self.axis, left, top, bottom, f, Some(right))?;
        c.label_up(
            &y_label,
            (pad, 0.5 * (top + bottom)),
            f,
            (HPos::Center, VPos::Top),
        )?;

        // Cut line (under the links).
        if let Some(hc) = p.cut.and_then(|kc| self.cut_height(kc)) {
            let y = y_of(hc);
            c.dashed(&[(left, y), (right, y)], CUT, 1.0, 6.0)?;
        }

        // Links and collapsed subtrees.
        self.draw_links(c, slot, |pos, height, off| (x_of(pos) + off, y_of(height)))?;
        // Baseline.
        c.line(&[(left, bottom), (right, bottom)], canvas::AXIS, 1.0)?;

        // Colour strip: one colour per leaf, or the node-weighted mix of a collapsed subtree.
        let strip_top = bottom + 3.0;
        if let Some(lc) = &p.leaf_classes {
            for (i, s) in self.shown.iter().enumerate() {
                let x0 = left + i as f64 * slot;
                let gap = if slot >= 4.0 { 1.0 } else { 0.0 };
                let mut x = x0 + gap;
                let width = slot - 2.0 * gap;
                for (col, share) in self.strip_parts(s, lc, &class_color) {
                    let dx = width * share;
                    c.rect((x, strip_top), (x + dx, strip_top + strip_h), col)?;
                    x += dx;
                }
            }
        }

        // Leaf labels, reading bottom to top, ending under the strip.
        let lab_top = strip_top + strip_h + 4.0;
        if show_labels {
            for (i, l) in labels.iter().enumerate() {
                c.label_up(
                    &ellipsize(l, max_chars),
                    (x_of(i as f64), lab_top),
                    lab_f,
                    (HPos::Right, VPos::Center),
                )?;
            }
        }
        c.label(
            caption,
            (0.5 * (left + right), h - pad),
            f,
            (HPos::Center, VPos::Bottom),
        )?;

        draw_legend(c, &keys, right + pad, top, lf, key_w)
    }
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;

    #[test]
    fn natural_order() {
        let mut v = vec!["domain 10", "b", "domain 2", "10", "2.5", "domain 02x", "a"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            ["2.5", "10", "a", "b", "domain 2", "domain 02x", "domain 10"]
        );
    }
}
