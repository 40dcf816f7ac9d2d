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

pub use canvas::Colormap;
pub use curves::{CurvesPlot, Marker, Series};
pub use dendrogram::{DendrogramPlot, LeafClasses};
pub use grid::GridPlot;
pub use heatmap::{Aggregate, ColorScale, HeatmapPlot};

use crate::error::{Error, Result};
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
        let bad = || Error::param("color", format!("`{s}` is not a #rrggbb colour"));
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

/// Check a figure size, naming the offending parameter: each side in `100..=16000` pixels and
/// at most 64 megapixels in all (a 192 MB RGB buffer).
fn check_size(width: u32, height: u32) -> Result<()> {
    for (name, v) in [("width", width), ("height", height)] {
        if !(100..=16_000).contains(&v) {
            return Err(Error::param(
                name,
                format!("{v} pixels is outside 100..=16000"),
            ));
        }
    }
    if width as u64 * height as u64 > 64_000_000 {
        return Err(Error::param(
            "width",
            format!("{width}x{height} is more than 64 megapixels"),
        ));
    }
    Ok(())
}

/// Check a font size, naming the parameter.
fn check_font(size: f64) -> Result<()> {
    if !(size.is_finite() && (4.0..=200.0).contains(&size)) {
        return Err(Error::param(
            "font_size",
            format!("{size} is outside 4..=200 pixels"),
        ));
    }
    Ok(())
}

/// Render a figure and write it to `out` atomically, in the format of its extension.
fn write_figure<F: canvas::Figure>(fig: &F, out: &Path) -> Result<()> {
    let format = ImageFormat::from_path(out)?;
    let bytes = canvas::render(fig, format)?;
    crate::util::write_atomic(out, |w| {
        std::io::Write::write_all(w, &bytes).map_err(crate::util::wio(out))
    })
}
