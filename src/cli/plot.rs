//! `plot dendrogram` and `plot heatmap`.

use clap::{Args, Subcommand};
use neurobricks::graph::{read_edge_list, read_labels, EdgeListOptions};
use neurobricks::plot::{Aggregate, ColorScale, DendrogramPlot, HeatmapPlot, LeafClasses};
use neurobricks::{Dendrogram, Error, Result};
use std::path::PathBuf;

/// Draw dendrograms and reordered heat maps as PNG or SVG.
#[derive(Args)]
#[command(after_help = "Examples:
  neurobricks plot dendrogram --tree tree.json --out tree.png
  neurobricks plot dendrogram --tree tree.json --labels g.labels.tsv --cut 4 --out tree.svg
  neurobricks plot heatmap --graph g.edges.tsv --tree tree.json --log --out adjacency.png
The format follows the extension of --out (.png or .svg).")]
pub struct PlotArgs {
    #[command(subcommand)]
    what: PlotCommand,
}

#[derive(Subcommand)]
enum PlotCommand {
    Dendrogram(DendrogramArgs),
    Heatmap(HeatmapArgs),
}

/// Draw a dendrogram: leaves in tree order, merge heights, optional leaf colours and cut line.
#[derive(Args)]
#[command(after_help = "Examples:
  neurobricks plot dendrogram --tree tree.json --out tree.png
  neurobricks plot dendrogram --tree tree.json --labels g.labels.tsv --column depth2 --out tree.svg
      colours every leaf by the majority depth2 label of its nodes, with a legend
  neurobricks plot dendrogram --tree tree.json --cut 8 --log --max-leaves 40 --out tree.png
      draws the cut into 8 clusters on a log height axis; trees with more than 40 leaves
      are drawn with their lowest subtrees collapsed into wedges labelled 'n leaves (nodes)'
  neurobricks plot dendrogram --tree tree.json --rotate --max-leaves 120 --height 1800 --out t.png
      sideways: root on the left, leaf names horizontal on the right
Reading the plot: links join at the merge similarity (edge density, or mean edge weight, between
the two children), most similar at the bottom, on a log scale by default (--scale height draws
the stored heights, e.g. 1 - density). In top-down trees a child can be less dense than its parent (an
inversion); its link then goes down to the parent, drawn in red.")]
pub struct DendrogramArgs {
    #[command(flatten)]
    io: TreeImageArgs,
    /// Draw the cut line into K clusters (as `neurobricks cut --k K`).
    #[arg(long, value_name = "K")]
    cut: Option<usize>,
    /// Vertical axis: `auto` (log similarity when every merge similarity is positive, else
    /// height), `height`, `log-height` or `log-similarity`.
    #[arg(long, default_value = "auto")]
    scale: String,
    /// Logarithmic height axis (the same as `--scale log-height`).
    #[arg(long)]
    log: bool,
    /// Bottom of the height axis (default: 0, or just below the lowest merge when all merges
    /// are bunched far from 0, as 1 - density of sparse graphs is).
    #[arg(long, conflicts_with = "log")]
    y_min: Option<f64>,
    /// Draw sideways: root on the left, leaves on the right with horizontal names.
    #[arg(long)]
    rotate: bool,
    /// Collapse subtrees when the tree has more leaves than this.
    #[arg(long, default_value_t = 60)]
    max_leaves: usize,
    /// Title (default: the method and number of leaves).
    #[arg(long)]
    title: Option<String>,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1000)]
    width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 600)]
    height: u32,
    /// Base font size in pixels.
    #[arg(long, default_value_t = 16.0)]
    font_size: f64,
}

/// The tree, output image and leaf colours of both plots.
#[derive(Args)]
struct TreeImageArgs {
    /// Dendrogram JSON.
    #[arg(long)]
    tree: PathBuf,
    /// Output image (.png or .svg), the only file written. Written through the output rule (README, "Outputs"): a temporary in the same folder renamed at the end, links followed, FIFOs and devices written through.
    #[arg(long)]
    out: PathBuf,
    /// Labels TSV (node id, then one column per level): colour the leaves by the majority
    /// label of their nodes.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Labels column to colour by (default: the last, finest column).
    #[arg(long, requires = "labels")]
    column: Option<String>,
}

/// Draw the adjacency matrix with rows and columns in dendrogram leaf order.
#[derive(Args)]
#[command(after_help = "Examples:
  neurobricks plot heatmap --graph g.edges.tsv --tree tree.json --out adjacency.png
  neurobricks plot heatmap --graph coact.tsv --tree tree.json --rank --out coact.svg
  neurobricks plot heatmap --graph g.edges.tsv --tree tree.json --bins 100 --out blocks.png
      aggregates cells into 100 x 100 bins (mean weight, i.e. edge density for 0/1 graphs)
  neurobricks plot heatmap --graph g.edges.tsv --tree tree.json --labels g.labels.tsv --out a.png
      adds strips along the matrix coloured by the majority label of each leaf
Bricks show as blocks on the diagonal; red lines mark leaf boundaries (or the clusters of
--boundary-k). Graphs with more nodes than pixels are aggregated into one bin per pixel.")]
pub struct HeatmapArgs {
    /// Edge list (the graph the tree was built on; nodes matched by id).
    #[arg(long)]
    graph: PathBuf,
    #[command(flatten)]
    io: TreeImageArgs,
    /// Logarithmic colour scale.
    #[arg(long, conflicts_with = "rank")]
    log: bool,
    /// Colour by rank of the value (shows structure in heavy-tailed weights).
    #[arg(long)]
    rank: bool,
    /// Sum the cells of a bin instead of averaging them.
    #[arg(long)]
    sum: bool,
    /// Bins per side (default: one per node, at most one per pixel).
    #[arg(long)]
    bins: Option<usize>,
    /// Mark the boundaries of the cut into K clusters instead of the leaves.
    #[arg(long, value_name = "K")]
    boundary_k: Option<usize>,
    /// Title (default: the graph file and the tree's method).
    #[arg(long)]
    title: Option<String>,
    /// Image width in pixels.
    #[arg(long, default_value_t = 900)]
    width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 800)]
    height: u32,
    /// Base font size in pixels.
    #[arg(long, default_value_t = 16.0)]
    font_size: f64,
}

pub fn plot(a: PlotArgs) -> Result<()> {
    match a.what {
        PlotCommand::Dendrogram(d) => dendrogram(d),
        PlotCommand::Heatmap(h) => heatmap(h),
    }
}

fn dendrogram(a: DendrogramArgs) -> Result<()> {
    let tree = Dendrogram::read(&a.io.tree)?;
    let title = a.title.unwrap_or_else(|| {
        format!(
            "{} dendrogram, {} leaves, {} nodes",
            tree.method,
            tree.num_leaves(),
            tree.leaves.iter().map(|l| l.len()).sum::<usize>()
        )
    });
    let mut p = DendrogramPlot::default()
        .title(title)
        .scale(a.scale.parse()?)
        .log(a.log)
        .rotate(a.rotate)
        .max_leaves(a.max_leaves)
        .width(a.width)
        .height(a.height)
        .font_size(a.font_size);
    p.cut = a.cut;
    p.y_min = a.y_min;
    p.leaf_classes = a.io.leaf_classes(&tree)?;
    p.render(&tree, &a.io.out)?;
    eprintln!(
        "plot dendrogram: {} leaves -> {}",
        tree.num_leaves(),
        a.io.out.display()
    );
    Ok(())
}

impl TreeImageArgs {
    /// Majority label per leaf from `--labels` (default column: the last one), if given.
    fn leaf_classes(&self, tree: &Dendrogram) -> Result<Option<LeafClasses>> {
        let Some(path) = &self.labels else {
            return Ok(None);
        };
        let labels = read_labels(path)?;
        let column = match &self.column {
            Some(c) => c.clone(),
            None => labels
                .columns
                .last()
                .cloned()
                .ok_or_else(|| Error::parse(path, 1, "the labels file has no label column"))?,
        };
        let classes = LeafClasses::from_labels(tree, &labels, &column).map_err(|e| match e {
            Error::Param { msg, .. } => {
                Error::param("--column", format!("{}: {msg}", path.display()))
            }
            Error::Input(msg) => Error::Input(format!(
                "{} vs {}: {msg}",
                self.tree.display(),
                path.display()
            )),
            other => other,
        })?;
        Ok(Some(classes))
    }
}

fn heatmap(a: HeatmapArgs) -> Result<()> {
    let tree = Dendrogram::read(&a.io.tree)?;
    let (graph, _) = read_edge_list(&a.graph, &EdgeListOptions::default())?;
    let scale = if a.log {
        ColorScale::Log
    } else if a.rank {
        ColorScale::Rank
    } else {
        ColorScale::Linear
    };
    let mut p = HeatmapPlot::default()
        .scale(scale)
        .aggregate(if a.sum {
            Aggregate::Sum
        } else {
            Aggregate::Mean
        })
        .width(a.width)
        .height(a.height)
        .font_size(a.font_size);
    let title = a.title.unwrap_or_else(|| {
        let name = a
            .graph
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{name}, in {} leaf order", tree.method)
    });
    p = p.title(title);
    p.bins = a.bins;
    p.boundary_k = a.boundary_k;
    p.leaf_classes = a.io.leaf_classes(&tree)?;
    p.render(&graph, &tree, &a.io.out).map_err(|e| match e {
        Error::Input(msg) => Error::Input(format!(
            "{} vs {}: {msg}",
            a.io.tree.display(),
            a.graph.display()
        )),
        other => other,
    })?;
    eprintln!(
        "plot heatmap: {} nodes, {} leaves -> {}",
        graph.n(),
        tree.num_leaves(),
        a.io.out.display()
    );
    Ok(())
}
