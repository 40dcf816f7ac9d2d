//! Experiment curves: a score (accuracy, ARI, exact-recovery rate) against a parameter for
//! several named series, with markers, a legend and labelled vertical threshold lines.

use super::canvas::{self, ellipsize, Axis, Canvas, Figure, Look};
use super::{category_color, plot_options_setters, ImageFormat, Page, PlotOptions, Rgb};
use crate::error::{Error, Result};
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::{HPos, VPos};
use std::path::Path;

/// Marker shapes of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// Filled circle.
    Circle,
    /// Filled square.
    Square,
    /// Filled triangle pointing up.
    Triangle,
    /// Filled diamond.
    Diamond,
    /// Diagonal cross.
    Cross,
}

impl Marker {
    /// The `i`-th shape, cycling in declaration order.
    pub fn nth(i: usize) -> Marker {
        [
            Marker::Circle,
            Marker::Square,
            Marker::Triangle,
            Marker::Diamond,
            Marker::Cross,
        ][i % 5]
    }
}

/// One named curve: `(x, y)` points, drawn in the given order, with an optional style (e.g.
/// colour by depth and dashes for one of two methods).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points `(x, y)`.
    pub points: Vec<(f64, f64)>,
    /// Colour (default: by series index, see [`CurvesPlot`]).
    pub color: Option<Rgb>,
    /// Marker shape (default: by series index).
    pub marker: Option<Marker>,
    /// Dashed line (default false).
    pub dashed: bool,
}

impl Series {
    /// A series from a name and points, default style.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            color: None,
            marker: None,
            dashed: false,
        }
    }
    /// Set the colour.
    pub fn color(mut self, c: Rgb) -> Self {
        self.color = Some(c);
        self
    }
    /// Set the marker shape.
    pub fn marker(mut self, m: Marker) -> Self {
        self.marker = Some(m);
        self
    }
    /// Draw the line dashed.
    pub fn dashed(mut self, on: bool) -> Self {
        self.dashed = on;
        self
    }
}

/// Parameters of an experiment-curves plot.
///
/// Series `i` is drawn, unless it sets its own style, in [`category_color`]`(i)` (or the
/// `i`-th of `colors`) with [`Marker::nth`]`(i)`; vertical lines (e.g. theoretical recovery
/// thresholds) are dashed and labelled along the line.
///
/// ```
/// use neurobricks::plot::{CurvesPlot, ImageFormat, Series};
/// let s = vec![
///     Series::new("bottom-up", vec![(0.5, 0.0), (1.0, 0.4), (1.5, 1.0)]),
///     Series::new("top-down", vec![(0.5, 0.0), (1.0, 0.1), (1.5, 0.7)]),
/// ];
/// let svg = CurvesPlot::default()
///     .x_label("CH_1")
///     .y_label("exact recovery rate")
///     .y_range(0.0, 1.0)
///     .vline(1.0, "CH_1 = 1")
///     .render_to_bytes(&s, ImageFormat::Svg)
///     .unwrap();
/// assert!(String::from_utf8(svg).unwrap().contains("top-down"));
/// ```
#[derive(Debug, Clone)]
pub struct CurvesPlot {
    /// Size, title and font shared by all figures (default 800 x 500 pixels, no title,
    /// 16-pixel font).
    pub options: PlotOptions,
    /// X axis label (default `x`).
    pub x_label: String,
    /// Y axis label (default `y`).
    pub y_label: String,
    /// Logarithmic x axis (default false); needs positive x values.
    pub log_x: bool,
    /// Fixed x range (default: the data range).
    pub x_range: Option<(f64, f64)>,
    /// Fixed y range (default: the data range, padded).
    pub y_range: Option<(f64, f64)>,
    /// Vertical lines `(x, label)`.
    pub vlines: Vec<(f64, String)>,
    /// Series colours (default [`super::PALETTE`] in order).
    pub colors: Option<Vec<Rgb>>,
    /// Draw markers at the points (default true).
    pub markers: bool,
}

impl Default for CurvesPlot {
    fn default() -> Self {
        CurvesPlot {
            options: PlotOptions::new(800, 500),
            x_label: "x".into(),
            y_label: "y".into(),
            log_x: false,
            x_range: None,
            y_range: None,
            vlines: Vec::new(),
            colors: None,
            markers: true,
        }
    }
}

impl CurvesPlot {
    plot_options_setters!();
    crate::util::setters! {
        /// Set the x axis label.
        x_label: Into<String>,
        /// Set the y axis label.
        y_label: Into<String>,
        /// Use a logarithmic x axis.
        log_x: bool,
        /// Set the series colours (cycled when there are more series).
        colors: Some(Vec<Rgb>),
        /// Draw markers at the points or not.
        markers: bool,
    }
    /// Fix the x range.
    pub fn x_range(mut self, lo: f64, hi: f64) -> Self {
        self.x_range = Some((lo, hi));
        self
    }
    /// Fix the y range (e.g. `0..1` for rates).
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }
    /// Add a labelled vertical line at `x`.
    pub fn vline(mut self, x: f64, label: impl Into<String>) -> Self {
        self.vlines.push((x, label.into()));
        self
    }

    /// Draw `series` into `out` (`.png` or `.svg`), atomically.
    ///
    /// # Errors
    /// No series or no points, a non-finite value (naming the series and point), non-positive
    /// x on a log axis, an empty or inverted range, bad sizes or an unknown extension.
    pub fn render(&self, series: &[Series], out: &Path) -> Result<()> {
        let fig = self.prepare(series)?;
        super::write_figure(&fig, &self.options, out)
    }

    /// Draw `series` in memory as PNG or SVG bytes (same checks as [`CurvesPlot::render`]).
    pub fn render_to_bytes(&self, series: &[Series], format: ImageFormat) -> Result<Vec<u8>> {
        let fig = self.prepare(series)?;
        canvas::render(&fig, &self.options, format)
    }

    fn prepare<'a>(&'a self, series: &'a [Series]) -> Result<CurvesFig<'a>> {
        self.options.validate()?;
        if series.is_empty() || series.iter().all(|s| s.points.is_empty()) {
            return Err(Error::Input("no points to plot".into()));
        }
        if matches!(&self.colors, Some(c) if c.is_empty()) {
            return Err(Error::param(
                "CurvesPlot.colors",
                "give at least one colour",
            ));
        }
        for s in series {
            for (i, &(x, y)) in s.points.iter().enumerate() {
                if !x.is_finite() || !y.is_finite() {
                    return Err(Error::Input(format!(
                        "series `{}`: point {i} ({x}, {y}) is not finite",
                        s.name
                    )));
                }
                if self.log_x && x <= 0.0 {
                    return Err(Error::param(
                        "CurvesPlot.log_x",
                        format!(
                            "series `{}`: point {i} has x = {x} but a log axis needs x > 0",
                            s.name
                        ),
                    ));
                }
            }
        }
        for (x, l) in &self.vlines {
            if !x.is_finite() || (self.log_x && *x <= 0.0) {
                return Err(Error::param(
                    "CurvesPlot.vlines",
                    format!("line `{l}` at x = {x} cannot be drawn on this axis"),
                ));
            }
        }
        let pts = || series.iter().flat_map(|s| s.points.iter());
        let fold = |f: fn(f64, f64) -> f64, init: f64, sel: fn(&(f64, f64)) -> f64| {
            pts().map(sel).fold(init, f)
        };
        let (xmin, xmax) = (
            fold(f64::min, f64::INFINITY, |p| p.0),
            fold(f64::max, f64::NEG_INFINITY, |p| p.0),
        );
        let (ymin, ymax) = (
            fold(f64::min, f64::INFINITY, |p| p.1),
            fold(f64::max, f64::NEG_INFINITY, |p| p.1),
        );
        let x_axis = match self.x_range {
            Some((lo, hi)) => {
                if !lo.is_finite() || !hi.is_finite() || lo >= hi || (self.log_x && lo <= 0.0) {
                    return Err(Error::param(
                        "CurvesPlot.x_range",
                        format!("{lo}..{hi} is not a valid range for this axis"),
                    ));
                }
                Axis {
                    lo,
                    hi,
                    log: self.log_x,
                    reversed: false,
                }
            }
            None => {
                // Include the vertical lines so that thresholds are always visible.
                let (mut lo, mut hi) = (xmin, xmax);
                for (x, _) in &self.vlines {
                    lo = lo.min(*x);
                    hi = hi.max(*x);
                }
                if self.log_x {
                    let r = if hi > lo { (hi / lo).powf(0.04) } else { 2.0 };
                    Axis {
                        lo: lo / r,
                        hi: hi * r,
                        log: true,
                        reversed: false,
                    }
                } else {
                    let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
                    Axis {
                        lo: lo - 0.04 * span,
                        hi: hi + 0.04 * span,
                        log: false,
                        reversed: false,
                    }
                }
            }
        };
        let y_axis = match self.y_range {
            Some((lo, hi)) => {
                if !lo.is_finite() || !hi.is_finite() || lo >= hi {
                    return Err(Error::param(
                        "CurvesPlot.y_range",
                        format!("{lo}..{hi} is not a valid range"),
                    ));
                }
                // A little room so that points at the limits are not cut by the frame.
                let span = hi - lo;
                Axis {
                    lo: lo - 0.03 * span,
                    hi: hi + 0.03 * span,
                    log: false,
                    reversed: false,
                }
            }
            None => {
                let span = if ymax > ymin {
                    ymax - ymin
                } else {
                    ymin.abs().max(1.0)
                };
                Axis {
                    lo: ymin - 0.06 * span,
                    hi: ymax + 0.06 * span,
                    log: false,
                    reversed: false,
                }
            }
        };
        Ok(CurvesFig {
            p: self,
            series,
            x_axis,
            y_axis,
        })
    }
}

struct CurvesFig<'a> {
    p: &'a CurvesPlot,
    series: &'a [Series],
    x_axis: Axis,
    y_axis: Axis,
}

const VLINE: Rgb = Rgb(0x55, 0x55, 0x55);

impl CurvesFig<'_> {
    fn color(&self, i: usize) -> Rgb {
        if let Some(c) = self.series[i].color {
            return c;
        }
        match &self.p.colors {
            Some(c) => c[i % c.len()],
            None => category_color(i),
        }
    }
    fn marker(&self, i: usize) -> Marker {
        self.series[i].marker.unwrap_or(Marker::nth(i))
    }
}

fn marker<DB: DrawingBackend>(
    c: &Canvas<DB>,
    kind: Marker,
    (x, y): (f64, f64),
    r: f64,
    col: Rgb,
) -> Result<()> {
    match kind {
        Marker::Circle => c.circle((x, y), r, col),
        Marker::Square => c.rect((x - r, y - r), (x + r, y + r), col),
        Marker::Triangle => c.polygon(
            &[
                (x, y - 1.2 * r),
                (x - 1.1 * r, y + 0.8 * r),
                (x + 1.1 * r, y + 0.8 * r),
            ],
            col,
        ),
        Marker::Diamond => c.polygon(
            &[
                (x, y - 1.3 * r),
                (x + 1.3 * r, y),
                (x, y + 1.3 * r),
                (x - 1.3 * r, y),
            ],
            col,
        ),
        Marker::Cross => {
            c.line(&[(x - r, y - r), (x + r, y + r)], col, 2.0)?;
            c.line(&[(x - r, y + r), (x + r, y - r)], col, 2.0)
        }
    }
}

impl Figure for CurvesFig<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<DB>, page: Page) -> Result<()> {
        let p = self.p;
        let Page { f, w, h, pad, top } = page;

        // Legend on the right.
        let lf = 0.9 * f;
        let key_w = 2.2 * lf;
        let names: Vec<String> = self.series.iter().map(|s| ellipsize(&s.name, 32)).collect();
        let legend_w = names
            .iter()
            .map(|n| key_w + 0.5 * lf + c.text_size(n, lf).0)
            .fold(0.0, f64::max)
            + pad;
        let right = w - pad - legend_w;

        let yl_h = c.text_size(&p.y_label, f).1;
        let tick_w = canvas::tick_label_width(c, &self.y_axis, f);
        let left = pad + yl_h + pad + tick_w + 10.0;
        let xl_h = c.text_size(&p.x_label, f).1;
        let bottom = h - pad - xl_h - 0.6 * pad - f - 10.0;
        if bottom - top < 20.0 || right - left < 20.0 {
            return Err(p.options.no_room("PlotOptions.width", "the plot"));
        }
        let x_of = |v: f64| left + self.x_axis.frac(v) * (right - left);
        let y_of = |v: f64| bottom - self.y_axis.frac(v) * (bottom - top);

        // Grid and axes.
        canvas::bottom_ticks(c, &self.x_axis, x_of, bottom, f, Some(top))?;
        canvas::left_axis(c, &self.y_axis, left, top, bottom, f, Some(right))?;
        c.line(&[(left, bottom), (right, bottom)], canvas::AXIS, 1.0)?;
        let plot_box = (left, right, top, bottom);
        canvas::axis_titles(c, &p.x_label, Some(&p.y_label), plot_box, h, pad, f)?;

        // Vertical threshold lines (labelled after the series, on top of them).
        let vf = 0.85 * f;
        let shown_vlines: Vec<(f64, &String)> = p
            .vlines
            .iter()
            .filter(|(x, _)| *x >= self.x_axis.lo && *x <= self.x_axis.hi)
            .map(|(x, l)| (x_of(*x), l))
            .collect();
        for &(xp, _) in &shown_vlines {
            c.dashed(&[(xp, top), (xp, bottom)], VLINE, 1.0, 5.0)?;
        }

        // Series, clipped to the plot box.
        let clip = |(x, y): (f64, f64)| {
            (
                x.clamp(left, right),
                y.clamp(top, bottom),
                x >= left - 0.5 && x <= right + 0.5 && y >= top - 0.5 && y <= bottom + 0.5,
            )
        };
        let r = (0.3 * f).max(3.0);
        for (i, s) in self.series.iter().enumerate() {
            let col = self.color(i);
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .map(|&(x, y)| {
                    let (a, b, _) = clip((x_of(x), y_of(y)));
                    (a, b)
                })
                .collect();
            if pts.len() > 1 {
                if s.dashed {
                    c.dashed(&pts, col, 2.0, 7.0)?;
                } else {
                    c.line(&pts, col, 2.0)?;
                }
            }
            if p.markers || pts.len() == 1 {
                for &(x, y) in &s.points {
                    let (a, b, inside) = clip((x_of(x), y_of(y)));
                    if inside {
                        marker(c, self.marker(i), (a, b), r, col)?;
                    }
                }
            }
        }
        // Threshold labels along their lines, on a white box so that curves do not hide them.
        for &(xp, label) in &shown_vlines {
            let (tw, th) = c.text_size(label, vf);
            let (lx, ly) = (xp + 4.0, top + 6.0);
            c.rect(
                (lx - 1.0, ly - 2.0),
                (lx + th + 2.0, ly + tw + 2.0),
                Rgb(255, 255, 255),
            )?;
            let look = Look {
                color: VLINE,
                anchor: (HPos::Right, VPos::Top),
                rotate: true,
            };
            c.text(label, (lx, ly), vf, look)?;
        }
        // Frame on top of the data.
        c.rect_outline((left, top), (right, bottom), canvas::AXIS, 1.0)?;

        // Legend.
        let lx = right + pad;
        let row = 1.6 * lf;
        for (i, n) in names.iter().enumerate() {
            let yc = top + (i as f64 + 0.5) * row;
            let col = self.color(i);
            let style = (col, 2.0, self.series[i].dashed);
            canvas::legend_entry(c, n, (lx, yc), key_w, lf, style, |c| {
                if p.markers {
                    marker(c, self.marker(i), (lx + 0.5 * key_w, yc), r, col)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}
