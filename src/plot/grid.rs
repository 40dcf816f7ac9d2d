//! Phase diagrams: a value (exact-recovery rate, ARI) over a two-parameter grid, drawn as
//! coloured cells with a colour bar, and overlay curves such as theoretical recovery
//! boundaries (`CH_1 = 1`, `TD_1 = 1`).

use super::canvas::{self, nice_ticks, Axis, Canvas, Colormap, Figure};
use super::curves::Series;
use super::{category_color, plot_options_setters, ImageFormat, Page, PlotOptions, Rgb};
use crate::error::{Error, Result};
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};
use std::path::Path;

/// Parameters of a grid heat map (phase diagram).
///
/// `z[i][j]` is the value at `(xs[j], ys[i])`; each cell spans halfway to its neighbours, so
/// grids need not be uniform. NaN cells are missing (drawn light grey). Overlay curves are
/// drawn on top in their [`Series`] style (default colours: [`category_color`] by index) with
/// a dark halo, and listed in a legend under the colour bar.
///
/// ```
/// use neurobricks::plot::{GridPlot, ImageFormat, Series};
/// let xs = [40.0, 45.0, 50.0];
/// let ys = [60.0, 80.0];
/// let z = vec![vec![0.0, 0.5, 1.0], vec![0.2, 0.9, 1.0]];
/// let boundary = Series::new("CH_1 = 1", vec![(42.0, 60.0), (46.0, 80.0)]);
/// let svg = GridPlot::default()
///     .x_label("a1")
///     .y_label("a2")
///     .z_label("exact recovery rate")
///     .z_range(0.0, 1.0)
///     .render_to_bytes(&xs, &ys, &z, &[boundary], ImageFormat::Svg)
///     .unwrap();
/// assert!(String::from_utf8(svg).unwrap().contains("CH_1 = 1"));
/// ```
#[derive(Debug, Clone)]
pub struct GridPlot {
    /// Size, title and font shared by all figures (default 800 x 600 pixels, no title,
    /// 16-pixel font).
    pub options: PlotOptions,
    /// X axis label (default `x`).
    pub x_label: String,
    /// Y axis label (default `y`).
    pub y_label: String,
    /// Colour bar label (default `value`).
    pub z_label: String,
    /// Value range of the colour map (default: the data range; e.g. `0..1` for rates).
    pub z_range: Option<(f64, f64)>,
    /// Colour map (default [`Colormap::Viridis`]).
    pub colormap: Colormap,
}

impl Default for GridPlot {
    fn default() -> Self {
        GridPlot {
            options: PlotOptions::new(800, 600),
            x_label: "x".into(),
            y_label: "y".into(),
            z_label: "value".into(),
            z_range: None,
            colormap: Colormap::Viridis,
        }
    }
}

impl GridPlot {
    plot_options_setters!();
    crate::util::setters! {
        /// Set the x axis label.
        x_label: Into<String>,
        /// Set the y axis label.
        y_label: Into<String>,
        /// Set the colour bar label.
        z_label: Into<String>,
    }
    /// Fix the value range of the colour map.
    pub fn z_range(mut self, lo: f64, hi: f64) -> Self {
        self.z_range = Some((lo, hi));
        self
    }
    crate::util::setters! {
        /// Set the colour map.
        colormap: Colormap,
    }
    /// Draw `z` over the grid `xs` x `ys` with overlay `curves` into `out` (`.png` or
    /// `.svg`), atomically.
    ///
    /// # Errors
    /// Empty or non-increasing `xs` / `ys`, `z` not `ys.len()` rows of `xs.len()` values,
    /// infinite values, no finite value, non-finite curve points, an invalid `z_range`, bad
    /// sizes or an unknown extension.
    pub fn render(
        &self,
        xs: &[f64],
        ys: &[f64],
        z: &[Vec<f64>],
        curves: &[Series],
        out: &Path,
    ) -> Result<()> {
        let fig = self.prepare(xs, ys, z, curves)?;
        super::write_figure(&fig, &self.options, out)
    }

    /// Draw in memory as PNG or SVG bytes (same checks as [`GridPlot::render`]).
    pub fn render_to_bytes(
        &self,
        xs: &[f64],
        ys: &[f64],
        z: &[Vec<f64>],
        curves: &[Series],
        format: ImageFormat,
    ) -> Result<Vec<u8>> {
        let fig = self.prepare(xs, ys, z, curves)?;
        canvas::render(&fig, &self.options, format)
    }

    fn prepare<'a>(
        &'a self,
        xs: &'a [f64],
        ys: &'a [f64],
        z: &'a [Vec<f64>],
        curves: &'a [Series],
    ) -> Result<GridFig<'a>> {
        self.options.validate()?;
        for (name, v) in [("xs", xs), ("ys", ys)] {
            if v.is_empty() {
                return Err(Error::param(name, "the grid needs at least one value"));
            }
            if let Some(i) = (0..v.len()).find(|&i| !v[i].is_finite()) {
                return Err(Error::param(
                    name,
                    format!("value {i} ({}) is not finite", v[i]),
                ));
            }
            if let Some(i) = (1..v.len()).find(|&i| v[i] <= v[i - 1]) {
                return Err(Error::param(
                    name,
                    format!(
                        "values must increase: {} then {} at position {i}",
                        v[i - 1],
                        v[i]
                    ),
                ));
            }
        }
        if z.len() != ys.len() || z.iter().any(|r| r.len() != xs.len()) {
            return Err(Error::param(
                "z",
                format!(
                    "expected {} rows (one per y) of {} values (one per x)",
                    ys.len(),
                    xs.len()
                ),
            ));
        }
        if z.iter().flatten().any(|v| v.is_infinite()) {
            return Err(Error::param(
                "z",
                "values must be finite (NaN marks a missing cell)",
            ));
        }
        let finite = || z.iter().flatten().copied().filter(|v| v.is_finite());
        if finite().next().is_none() {
            return Err(Error::param("z", "no finite value to draw"));
        }
        let (lo, hi) = match self.z_range {
            Some((lo, hi)) => {
                if !lo.is_finite() || !hi.is_finite() || lo >= hi {
                    return Err(Error::param(
                        "GridPlot.z_range",
                        format!("{lo}..{hi} is not a valid range"),
                    ));
                }
                (lo, hi)
            }
            None => {
                let lo = finite().fold(f64::INFINITY, f64::min);
                let hi = finite().fold(f64::NEG_INFINITY, f64::max);
                if hi > lo {
                    (lo, hi)
                } else {
                    (lo - 0.5, hi + 0.5)
                }
            }
        };
        for s in curves {
            if let Some((i, _)) = s
                .points
                .iter()
                .enumerate()
                .find(|(_, p)| !p.0.is_finite() || !p.1.is_finite())
            {
                return Err(Error::Input(format!(
                    "curve `{}`: point {i} is not finite",
                    s.name
                )));
            }
        }
        let edges = |v: &[f64]| -> Vec<f64> {
            if v.len() == 1 {
                return vec![v[0] - 0.5, v[0] + 0.5];
            }
            let mut e = Vec::with_capacity(v.len() + 1);
            e.push(v[0] - 0.5 * (v[1] - v[0]));
            for w in v.windows(2) {
                e.push(0.5 * (w[0] + w[1]));
            }
            let n = v.len();
            e.push(v[n - 1] + 0.5 * (v[n - 1] - v[n - 2]));
            e
        };
        Ok(GridFig {
            p: self,
            xe: edges(xs),
            ye: edges(ys),
            z,
            curves,
            zlo: lo,
            zhi: hi,
        })
    }
}

struct GridFig<'a> {
    p: &'a GridPlot,
    /// Cell edges along x and y.
    xe: Vec<f64>,
    ye: Vec<f64>,
    z: &'a [Vec<f64>],
    curves: &'a [Series],
    zlo: f64,
    zhi: f64,
}

const MISSING: Rgb = Rgb(0xee, 0xee, 0xee);
const HALO: Rgb = Rgb(0x22, 0x22, 0x22);

impl Figure for GridFig<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<DB>, page: Page) -> Result<()> {
        let p = self.p;
        let Page { f, w, h, pad, top } = page;
        let x_axis = Axis {
            lo: self.xe[0],
            hi: self.xe[self.xe.len() - 1],
            log: false,
            reversed: false,
        };
        let y_axis = Axis {
            lo: self.ye[0],
            hi: self.ye[self.ye.len() - 1],
            log: false,
            reversed: false,
        };
        let lab_h = c.text_size(&p.y_label, f).1;
        let tick_w = canvas::tick_label_width(c, &y_axis, f);
        let left = pad + lab_h + pad + tick_w + 10.0;
        // Right column: colour bar with ticks and a rotated label, legend below it.
        let bar_w = (1.2 * f).max(12.0);
        let zticks = nice_ticks(self.zlo, self.zhi, 5);
        let zt_w = zticks
            .iter()
            .map(|(_, l)| c.text_size(l, f).0)
            .fold(0.0, f64::max);
        let lf = 0.9 * f;
        // Legend names on up to two lines of 24 characters (a boundary's name, say).
        let names: Vec<Vec<String>> = self
            .curves
            .iter()
            .map(|s| canvas::wrap_label(&s.name, 24, 2))
            .collect();
        let key_w = 2.2 * lf;
        let legend_w = names
            .iter()
            .flatten()
            .map(|n| key_w + 0.5 * lf + c.text_size(n, lf).0)
            .fold(0.0, f64::max);
        let cb_w = (bar_w + 8.0 + zt_w + pad + lab_h).max(legend_w);
        let right = w - pad - cb_w - 2.0 * pad;
        let bottom = h - pad - c.text_size(&p.x_label, f).1 - 0.6 * pad - f - 10.0;
        if bottom - top < 20.0 || right - left < 20.0 {
            return Err(p.options.no_room("PlotOptions.width", "the plot"));
        }
        let x_of = |v: f64| left + x_axis.frac(v) * (right - left);
        let y_of = |v: f64| bottom - y_axis.frac(v) * (bottom - top);
        let t_of = |v: f64| (v - self.zlo) / (self.zhi - self.zlo);

        // Cells.
        for (i, row) in self.z.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let col = if v.is_nan() {
                    MISSING
                } else {
                    p.colormap.at(t_of(v))
                };
                let (xa, xb) = (x_of(self.xe[j]), x_of(self.xe[j + 1]));
                let (ya, yb) = (y_of(self.ye[i + 1]), y_of(self.ye[i]));
                c.rect((xa, ya), (xb, yb), col)?;
            }
        }
        // Overlay curves, clipped to the grid.
        for (i, s) in self.curves.iter().enumerate() {
            let col = s.color.unwrap_or(category_color(i));
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .map(|&(x, y)| (x_of(x).clamp(left, right), y_of(y).clamp(top, bottom)))
                .collect();
            if pts.len() > 1 {
                // A dark halo keeps light curves visible on light cells.
                c.line_alpha(&pts, HALO, 5.0, 0.6)?;
                if s.dashed {
                    c.dashed(&pts, col, 3.0, 8.0)?;
                } else {
                    c.line(&pts, col, 3.0)?;
                }
            }
        }
        c.rect_outline((left, top), (right, bottom), canvas::AXIS, 1.0)?;

        // Axes.
        canvas::bottom_ticks(c, &x_axis, x_of, bottom, f, None)?;
        canvas::left_axis(c, &y_axis, left, top, bottom, f, None)?;
        let plot_box = (left, right, top, bottom);
        canvas::axis_titles(c, &p.x_label, Some(&p.y_label), plot_box, h, pad, f)?;

        // Colour bar (upper part of the right column when there is a legend).
        let bx0 = right + 2.0 * pad;
        let bx1 = bx0 + bar_w;
        let cb0 = top;
        let cb1 = if self.curves.is_empty() {
            bottom
        } else {
            top + 0.6 * (bottom - top)
        };
        let steps = 128;
        for s in 0..steps {
            let (ya, yb) = (
                cb1 - (cb1 - cb0) * (s + 1) as f64 / steps as f64,
                cb1 - (cb1 - cb0) * s as f64 / steps as f64,
            );
            let col = p.colormap.at((s as f64 + 0.5) / steps as f64);
            c.rect((bx0, ya.floor()), (bx1, yb.ceil()), col)?;
        }
        c.rect_outline((bx0, cb0), (bx1, cb1), canvas::AXIS, 1.0)?;
        for (v, label) in zticks {
            let y = cb1 - t_of(v) * (cb1 - cb0);
            c.line(&[(bx1, y), (bx1 + 5.0, y)], canvas::AXIS, 1.0)?;
            c.label(&label, (bx1 + 8.0, y), f, (HPos::Left, VPos::Center))?;
        }
        c.label_up(
            &p.z_label,
            (bx1 + 8.0 + zt_w + pad, 0.5 * (cb0 + cb1)),
            f,
            (HPos::Center, VPos::Top),
        )?;

        // Legend of the overlay curves.
        let (row, line) = (1.6 * lf, 1.2 * lf);
        let mut yc = cb1 + 2.0 * pad + 0.5 * row;
        for (i, lines) in names.iter().enumerate() {
            let col = self.curves[i].color.unwrap_or(category_color(i));
            c.line_alpha(&[(bx0, yc), (bx0 + key_w, yc)], HALO, 5.0, 0.6)?;
            let style = (col, 3.0, self.curves[i].dashed);
            canvas::legend_entry(c, &lines[0], (bx0, yc), key_w, lf, style, |_| Ok(()))?;
            for more in &lines[1..] {
                yc += line;
                let at = (bx0 + key_w + 0.5 * lf, yc);
                c.label(more, at, lf, (HPos::Left, VPos::Center))?;
            }
            yc += row;
        }
        Ok(())
    }
}
