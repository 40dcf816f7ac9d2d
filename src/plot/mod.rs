//! Figures: dendrograms, reordered adjacency / co-activation heat maps, experiment curves and
//! phase diagrams over a parameter grid, written as PNG or SVG.
//!
//! The module reads dendrograms, graphs and numbers computed elsewhere and computes nothing but
//! the drawing. Every plot is a params struct with [`Default`] and builder setters
//! ([`DendrogramPlot`], [`HeatmapPlot`], [`CurvesPlot`], [`GridPlot`]) whose `render` method
//! writes a file; the format follows the file extension (`.png` or `.svg`) and the file is
//! written atomically (a failed run leaves no partial file).
//!
//! Text is drawn with DejaVu Sans, embedded in the library (`assets/fonts/`, Bitstream Vera
//! licence), so figures render identically on machines without any system font. SVG files name
//! the font family `DejaVu Sans, sans-serif`, so viewers without DejaVu fall back to their sans
//! serif font.
//!
//! ```
//! use neurobricks::hierarchy::{Dendrogram, HeightMap};
//! use neurobricks::plot::{DendrogramPlot, ImageFormat};
//!
//! let ids: Vec<String> = (0..8).map(|i| format!("n{i}")).collect();
//! let leaves = vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]];
//! let tree = Dendrogram::from_tree(
//!     ids, leaves, &[(0, 1, 0.9), (2, 3, 0.8), (4, 5, 0.1)], HeightMap::OneMinus, "example",
//! ).unwrap();
//! let svg = DendrogramPlot::default()
//!     .title("Four bricks")
//!     .cut(2)
//!     .render_to_bytes(&tree, ImageFormat::Svg)
//!     .unwrap();
//! assert!(String::from_utf8(svg).unwrap().contains("Four bricks"));
//! ```

mod canvas;
mod curves;
mod dendrogram;
mod grid;
mod heatmap;
pub mod html;

pub use canvas::Colormap;
pub use curves::{CurvesPlot, Marker, Series};
pub use dendrogram::{DendrogramPlot, HeightScale, LeafClasses, MergePositions};
pub use grid::GridPlot;
pub use heatmap::{Aggregate, ColorScale, HeatmapPlot};

use crate::error::{Error, Result};
use plotters::style::text_anchor::{HPos, VPos};
use std::path::Path;

/// Output image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// PNG raster image (RGB, 8 bits per channel).
    Png,
    /// SVG vector image (heat maps embed their cells as one PNG image).
    Svg,
}

impl ImageFormat {
    /// The format named by a file extension (`.png` or `.svg`, any case).
    ///
    /// # Errors
    /// [`Error::Param`] naming `out` and the path when the extension is missing or unknown.
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("png") => Ok(ImageFormat::Png),
            Some("svg") => Ok(ImageFormat::Svg),
            Some(e) => Err(Error::param(
                "out",
                format!(
                    "unknown image format `.{e}` in `{}`: use a .png or .svg file name",
                    path.display()
                ),
            )),
            None => Err(Error::param(
                "out",
                format!(
                    "`{}` has no extension: use a .png or .svg file name",
                    path.display()
                ),
            )),
        }
    }
}

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Parse `#rrggbb` or `rrggbb`.
    ///
    /// # Errors
    /// [`Error::Param`] naming `color` when the text is not six hex digits.
    pub fn from_hex(s: &str) -> Result<Self> {
        let h = s.trim().trim_start_matches('#');
        let bad = || Error::param("Rgb::from_hex", format!("`{s}` is not a #rrggbb colour"));
        if h.len() != 6 || !h.is_ascii() {
            return Err(bad());
        }
        let p = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).map_err(|_| bad());
        Ok(Rgb(p(0)?, p(2)?, p(4)?))
    }

    /// Linear interpolation between two colours (`t` in `[0, 1]`).
    pub fn mix(self, other: Rgb, t: f64) -> Rgb {
        let t = t.clamp(0.0, 1.0);
        let f = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
        Rgb(f(self.0, other.0), f(self.1, other.1), f(self.2, other.2))
    }
}

/// The categorical palette (matplotlib's `tab10` followed by the light half of `tab20`). Class
/// `i` gets `PALETTE[i % 20]`.
pub const PALETTE: [Rgb; 20] = [
    Rgb(0x1f, 0x77, 0xb4),
    Rgb(0xff, 0x7f, 0x0e),
    Rgb(0x2c, 0xa0, 0x2c),
    Rgb(0xd6, 0x27, 0x28),
    Rgb(0x94, 0x67, 0xbd),
    Rgb(0x8c, 0x56, 0x4b),
    Rgb(0xe3, 0x77, 0xc2),
    Rgb(0x7f, 0x7f, 0x7f),
    Rgb(0xbc, 0xbd, 0x22),
    Rgb(0x17, 0xbe, 0xcf),
    Rgb(0xae, 0xc7, 0xe8),
    Rgb(0xff, 0xbb, 0x78),
    Rgb(0x98, 0xdf, 0x8a),
    Rgb(0xff, 0x98, 0x96),
    Rgb(0xc5, 0xb0, 0xd5),
    Rgb(0xc4, 0x9c, 0x94),
    Rgb(0xf7, 0xb6, 0xd2),
    Rgb(0xc7, 0xc7, 0xc7),
    Rgb(0xdb, 0xdb, 0x8d),
    Rgb(0x9e, 0xda, 0xe5),
];

/// Colour of category `i` in [`PALETTE`] (cycling after 20 categories).
pub fn category_color(i: usize) -> Rgb {
    PALETTE[i % PALETTE.len()]
}

/// What every figure has: its size, its title and its base font size. Each plot type holds one
/// (`options`) and has the setters [`width`](DendrogramPlot::width),
/// [`height`](DendrogramPlot::height), [`title`](DendrogramPlot::title),
/// [`font_size`](DendrogramPlot::font_size) and [`options`](DendrogramPlot::options), so one
/// style can be shared by several figures.
///
/// ```
/// use neurobricks::plot::{CurvesPlot, HeatmapPlot, PlotOptions};
///
/// let style = PlotOptions::new(1200, 700).font_size(20.0);
/// let curves = CurvesPlot::default().options(style.clone()).title("ARI by depth");
/// let heat = HeatmapPlot::default().options(style);
/// assert_eq!((curves.options.width, curves.options.font_size), (1200, 20.0));
/// assert_eq!(curves.options.title.as_deref(), Some("ARI by depth"));
/// assert_eq!(heat.options.height, 700);
/// assert!(PlotOptions::new(50, 700).validate().unwrap_err().to_string().contains("PlotOptions.width"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PlotOptions {
    /// Image width in pixels, `100..=16000`.
    pub width: u32,
    /// Image height in pixels, `100..=16000` (at most 64 megapixels in all).
    pub height: u32,
    /// Title above the plot (default none).
    pub title: Option<String>,
    /// Base font size in pixels, `4..=200` (default 16); other text scales with it.
    pub font_size: f64,
}

impl Default for PlotOptions {
    /// 800 x 600 pixels, no title, 16-pixel font.
    fn default() -> Self {
        PlotOptions::new(800, 600)
    }
}

impl PlotOptions {
    /// `width x height` pixels, no title, 16-pixel font.
    pub fn new(width: u32, height: u32) -> Self {
        PlotOptions {
            width,
            height,
            title: None,
            font_size: 16.0,
        }
    }
    crate::util::setters! {
        /// Set the image width in pixels.
        width: u32,
        /// Set the image height in pixels.
        height: u32,
        /// Set the base font size in pixels.
        font_size: f64,
    }
    /// Set the title.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.title = Some(t.into());
        self
    }

    /// Check the size (each side in `100..=16000` pixels, at most 64 megapixels: a 192 MB RGB
    /// buffer) and the font size (`4..=200` pixels). Every `render` calls it first.
    ///
    /// # Errors
    /// [`Error::Param`] naming `PlotOptions.width`, `PlotOptions.height` or
    /// `PlotOptions.font_size`.
    pub fn validate(&self) -> Result<()> {
        let (width, height) = (self.width, self.height);
        for (name, v) in [("PlotOptions.width", width), ("PlotOptions.height", height)] {
            if !(100..=16_000).contains(&v) {
                return Err(Error::param(
                    name,
                    format!("{v} pixels is outside 100..=16000"),
                ));
            }
        }
        if width as u64 * height as u64 > 64_000_000 {
            return Err(Error::param(
                "PlotOptions.width",
                format!("{width}x{height} is more than 64 megapixels"),
            ));
        }
        let size = self.font_size;
        if !(size.is_finite() && (4.0..=200.0).contains(&size)) {
            return Err(Error::param(
                "PlotOptions.font_size",
                format!("{size} is outside 4..=200 pixels"),
            ));
        }
        Ok(())
    }

    /// Start a page: the font size, the page size and padding, and the `y` where the plot
    /// may begin (below the title, with half a font size of room for a top tick label).
    fn page<DB: plotters::prelude::DrawingBackend>(&self, c: &canvas::Canvas<DB>) -> Result<Page> {
        let f = self.font_size;
        let pad = (0.8 * f).max(8.0);
        let top = self.draw_title(c, pad, pad)? + 0.5 * f;
        Ok(Page {
            f,
            w: self.width as f64,
            h: self.height as f64,
            pad,
            top,
        })
    }

    /// The error for a page too small for `what` (e.g. "the plot") at this font size, naming
    /// `param` (`PlotOptions.width` or `PlotOptions.height`, the side that ran out).
    fn no_room(&self, param: &str, what: &str) -> Error {
        let (w, h, f) = (self.width, self.height, self.font_size);
        Error::param(
            param,
            format!("{w}x{h} pixels leave no room for {what} with font size {f}"),
        )
    }

    /// Draw the title centred at `top` (1.25 x the font size) and return the `y` below it
    /// (`top` unchanged without a title).
    fn draw_title<DB: plotters::prelude::DrawingBackend>(
        &self,
        c: &canvas::Canvas<DB>,
        top: f64,
        pad: f64,
    ) -> Result<f64> {
        let Some(t) = &self.title else {
            return Ok(top);
        };
        let tf = 1.25 * self.font_size;
        c.label(
            t,
            (self.width as f64 / 2.0, top),
            tf,
            (HPos::Center, VPos::Top),
        )?;
        Ok(top + c.text_size(t, tf).1 + pad)
    }
}

/// What every figure's drawing starts from ([`PlotOptions::page`]).
struct Page {
    /// Base font size in pixels.
    f: f64,
    /// Page width in pixels.
    w: f64,
    /// Page height in pixels.
    h: f64,
    /// Padding around the page and between its parts.
    pad: f64,
    /// Where the plot may begin, below the title.
    top: f64,
}

/// The setters of a plot type's [`PlotOptions`] (`self.options`): one definition for the four
/// figure types.
macro_rules! plot_options_setters {
    () => {
        /// Set the size, title and font at once.
        pub fn options(mut self, o: PlotOptions) -> Self {
            self.options = o;
            self
        }
        /// Set the image width in pixels.
        pub fn width(mut self, w: u32) -> Self {
            self.options.width = w;
            self
        }
        /// Set the image height in pixels.
        pub fn height(mut self, h: u32) -> Self {
            self.options.height = h;
            self
        }
        /// Set the title.
        pub fn title(mut self, t: impl Into<String>) -> Self {
            self.options.title = Some(t.into());
            self
        }
        /// Set the base font size in pixels.
        pub fn font_size(mut self, s: f64) -> Self {
            self.options.font_size = s;
            self
        }
    };
}
use plot_options_setters;

/// Render a figure and write it to `out` atomically, in the format of its extension.
fn write_figure<F: canvas::Figure>(fig: &F, options: &PlotOptions, out: &Path) -> Result<()> {
    let format = ImageFormat::from_path(out)?;
    let bytes = canvas::render(fig, options, format)?;
    crate::util::write_atomic(out, |w| {
        std::io::Write::write_all(w, &bytes).map_err(crate::util::wio(out))
    })
}
