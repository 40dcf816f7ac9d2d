//! Drawing plumbing shared by the plots: the embedded font, a thin pixel-coordinate canvas over
//! any plotters backend, PNG / SVG rendering, axes with "nice" ticks and colour maps.

use super::{ImageFormat, Rgb};
use crate::error::{Error, Result};
use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;
use std::cell::RefCell;
use std::sync::OnceLock;

/// DejaVu Sans (Bitstream Vera licence, see `assets/fonts/DejaVuSans-LICENSE.txt`).
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Family name written into SVG files: a CSS font list with a generic fallback.
pub(crate) const FAMILY: &str = "DejaVu Sans, sans-serif";

/// Ratio of a text "size" to its em, as plotters' SVG backend writes `font-size = size / 1.24`.
const SIZE_PER_EM: f64 = 1.24;

/// The embedded font, parsed once.
fn font() -> Result<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).ok())
        .as_ref()
        .ok_or_else(|| Error::Input("plot: the embedded font could not be loaded".into()))
}

/// Glyphs of a line of text laid out with kerning at sub-pixel positions, in em-relative
/// pixels: `(glyph, pen x)`, and the advance width.
fn layout(f: &FontRef<'static>, s: &str, size: f64) -> (Vec<(GlyphId, f32)>, f32, PxScale) {
    let em = (size / SIZE_PER_EM) as f32;
    let units = f.units_per_em().unwrap_or(2048.0);
    let scale = PxScale::from(em * f.height_unscaled() / units);
    let sf = f.as_scaled(scale);
    let mut pen = 0f32;
    let mut prev: Option<GlyphId> = None;
    let mut out = Vec::with_capacity(s.len());
    for ch in s.chars() {
        let g = sf.glyph_id(ch);
        if let Some(p) = prev {
            pen += sf.kern(p, g);
        }
        out.push((g, pen));
        pen += sf.h_advance(g);
        prev = Some(g);
    }
    (out, pen, scale)
}

/// How a line of text is drawn: its colour, which point of its box sits at the anchor, and
/// whether it is turned to read bottom to top (the anchor then refers to the unrotated box).
#[derive(Clone, Copy)]
pub(crate) struct Look {
    /// Text colour.
    pub color: Rgb,
    /// The point of the text box placed at the anchor.
    pub anchor: (HPos, VPos),
    /// Read bottom to top.
    pub rotate: bool,
}

impl Look {
    /// The text colour at `anchor`, reading left to right.
    pub fn plain(anchor: (HPos, VPos)) -> Look {
        Look {
            color: TEXT,
            anchor,
            rotate: false,
        }
    }
}

/// Map any plotters drawing error into the crate error.
pub(crate) fn perr<E: std::fmt::Debug>(e: E) -> Error {
    Error::Input(format!("plot: drawing failed: {e:?}"))
}

/// Something that can be drawn on a canvas of a fixed size.
pub(crate) trait Figure {
    /// Draw everything below the title on `page` (the background is white, the title drawn).
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<DB>, page: super::Page) -> Result<()>;
}

/// An RGB raster (row-major, 3 bytes per cell) to be stretched over a pixel box.
pub(crate) struct Raster {
    pub w: usize,
    pub h: usize,
    pub rgb: Vec<u8>,
}

/// A raster placed on an SVG canvas, embedded after drawing.
struct PlacedRaster {
    x: i32,
    y: i32,
    w: i32,
    h: i32,
    png: Vec<u8>,
}

const RASTER_MARK: &str = "NB-RASTER-MARK-";

/// Pixel-coordinate drawing over a plotters drawing area.
pub(crate) struct Canvas<DB: DrawingBackend> {
    area: DrawingArea<DB, Shift>,
    svg: bool,
    rasters: RefCell<Vec<PlacedRaster>>,
}

fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// Pixel coordinate from a float.
pub(crate) fn px(v: f64) -> i32 {
    v.round() as i32
}

impl<DB: DrawingBackend> Canvas<DB> {
    fn font(&self, size: f64) -> FontDesc<'static> {
        (FAMILY, size).into_font()
    }

    /// Rasterise text with the embedded font (bitmap backends): anchors as in SVG viewers
    /// (`Top`: baseline 0.76 em below, `Center`: 0.5 ex, `Bottom`: 0.5 ex above).
    fn raster_text(&self, s: &str, at: (f64, f64), size: f64, look: Look) -> Result<()> {
        let Look {
            color,
            anchor: (h, v),
            rotate,
        } = look;
        let f = font()?;
        let (glyphs, width, scale) = layout(f, s, size);
        let em = size / SIZE_PER_EM;
        let u0 = match h {
            HPos::Left => 0.0,
            HPos::Center => -0.5 * width as f64,
            HPos::Right => -(width as f64),
        };
        let ex = 0.55 * em;
        let base = match v {
            VPos::Top => 0.76 * em,
            VPos::Center => 0.5 * ex,
            VPos::Bottom => -0.5 * ex,
        };
        // Text-local coordinates (u along the text, v downwards) relative to the anchor.
        let (ax, ay) = (at.0.round(), at.1.round());
        let mut err = None;
        for (g, pen) in glyphs {
            let glyph = g.with_scale_and_position(
                scale,
                ab_glyph::point((u0 + pen as f64) as f32, base as f32),
            );
            if let Some(og) = f.outline_glyph(glyph) {
                let b = og.px_bounds();
                og.draw(|gx, gy, cov| {
                    if cov <= 0.0 || err.is_some() {
                        return;
                    }
                    let (u, w) = (b.min.x as f64 + gx as f64, b.min.y as f64 + gy as f64);
                    let (x, y) = if rotate {
                        (ax + w, ay - u - 1.0)
                    } else {
                        (ax + u, ay + w)
                    };
                    // A slight boost: linear coverage blended in sRGB looks too thin.
                    let a = (cov.min(1.0) as f64).powf(0.8);
                    let c = RGBAColor(color.0, color.1, color.2, a);
                    if let Err(e) = self.area.draw_pixel((x as i32, y as i32), &c) {
                        err = Some(perr(e));
                    }
                });
            }
        }
        err.map_or(Ok(()), Err)
    }

    /// Polyline.
    pub fn line(&self, pts: &[(f64, f64)], color: Rgb, width: f64) -> Result<()> {
        let p: Vec<(i32, i32)> = pts.iter().map(|&(x, y)| (px(x), px(y))).collect();
        let style = ShapeStyle::from(&rgb(color)).stroke_width(width.round().max(1.0) as u32);
        self.area.draw(&PathElement::new(p, style)).map_err(perr)
    }

    /// Polyline blended over what is below with opacity `alpha`.
    pub fn line_alpha(&self, pts: &[(f64, f64)], color: Rgb, width: f64, alpha: f64) -> Result<()> {
        let p: Vec<(i32, i32)> = pts.iter().map(|&(x, y)| (px(x), px(y))).collect();
        let c = RGBAColor(color.0, color.1, color.2, alpha.clamp(0.0, 1.0));
        let style = ShapeStyle::from(&c).stroke_width(width.round().max(1.0) as u32);
        self.area.draw(&PathElement::new(p, style)).map_err(perr)
    }

    /// Dashed polyline.
    pub fn dashed(&self, pts: &[(f64, f64)], color: Rgb, width: f64, dash: f64) -> Result<()> {
        let p: Vec<(i32, i32)> = pts.iter().map(|&(x, y)| (px(x), px(y))).collect();
        let style = ShapeStyle::from(&rgb(color)).stroke_width(width.round().max(1.0) as u32);
        let d = px(dash).max(1);
        self.area
            .draw(&DashedPathElement::new(p, d, d, style))
            .map_err(perr)
    }

    /// Filled rectangle between two corners.
    pub fn rect(&self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), fill: Rgb) -> Result<()> {
        self.area
            .draw(&Rectangle::new(
                [(px(x0), px(y0)), (px(x1), px(y1))],
                rgb(fill).filled(),
            ))
            .map_err(perr)
    }

    /// Rectangle outline.
    pub fn rect_outline(
        &self,
        (x0, y0): (f64, f64),
        (x1, y1): (f64, f64),
        color: Rgb,
        width: f64,
    ) -> Result<()> {
        let style = ShapeStyle::from(&rgb(color)).stroke_width(width.round().max(1.0) as u32);
        self.area
            .draw(&Rectangle::new([(px(x0), px(y0)), (px(x1), px(y1))], style))
            .map_err(perr)
    }

    /// Filled polygon.
    pub fn polygon(&self, pts: &[(f64, f64)], fill: Rgb) -> Result<()> {
        let p: Vec<(i32, i32)> = pts.iter().map(|&(x, y)| (px(x), px(y))).collect();
        self.area
            .draw(&Polygon::new(p, rgb(fill).filled()))
            .map_err(perr)
    }

    /// Filled circle.
    pub fn circle(&self, (x, y): (f64, f64), r: f64, fill: Rgb) -> Result<()> {
        self.area
            .draw(&Circle::new(
                (px(x), px(y)),
                px(r).max(1),
                rgb(fill).filled(),
            ))
            .map_err(perr)
    }

    /// Text of `size` anchored at `at`, drawn as `look` says.
    pub fn text(&self, s: &str, at: (f64, f64), size: f64, look: Look) -> Result<()> {
        if !self.svg {
            return self.raster_text(s, at, size, look);
        }
        let mut font = self.font(size);
        if look.rotate {
            font = font.transform(FontTransform::Rotate270);
        }
        let col = rgb(look.color);
        let (h, v) = look.anchor;
        let style = TextStyle::from(font).color(&col).pos(Pos::new(h, v));
        self.area
            .draw_text(s, &style, (px(at.0), px(at.1)))
            .map_err(perr)
    }

    /// [`Canvas::text`] in the text colour, reading left to right: what most labels are.
    pub fn label(&self, s: &str, at: (f64, f64), size: f64, anchor: (HPos, VPos)) -> Result<()> {
        self.text(s, at, size, Look::plain(anchor))
    }

    /// [`Canvas::text`] in the text colour, reading bottom to top (rotated axis titles).
    pub fn label_up(&self, s: &str, at: (f64, f64), size: f64, anchor: (HPos, VPos)) -> Result<()> {
        let look = Look {
            rotate: true,
            ..Look::plain(anchor)
        };
        self.text(s, at, size, look)
    }

    /// Width (advance) and height (one em plus a little) of a line of text in pixels, as the
    /// embedded font lays it out; SVG viewers with DejaVu Sans lay it out the same way.
    pub fn text_size(&self, s: &str, size: f64) -> (f64, f64) {
        match font() {
            Ok(f) => (layout(f, s, size).1 as f64, 1.05 * size / SIZE_PER_EM),
            Err(_) => (s.chars().count() as f64 * size * 0.6, size),
        }
    }

    /// Stretch a raster over the pixel box `[x0, x1) x [y0, y1)`, cell edges rounded to pixels.
    pub fn raster(&self, r: &Raster, (x0, y0): (f64, f64), (x1, y1): (f64, f64)) -> Result<()> {
        if r.w == 0 || r.h == 0 {
            return Ok(());
        }
        if self.svg {
            let png = encode_png(&r.rgb, r.w as u32, r.h as u32)?;
            let mut rs = self.rasters.borrow_mut();
            let id = rs.len();
            rs.push(PlacedRaster {
                x: px(x0),
                y: px(y0),
                w: px(x1) - px(x0),
                h: px(y1) - px(y0),
                png,
            });
            // A marker text element, replaced by an <image> once the SVG is complete.
            let style = TextStyle::from(self.font(1.0)).color(&BLACK);
            return self
                .area
                .draw_text(&format!("{RASTER_MARK}{id}"), &style, (px(x0), px(y0)))
                .map_err(perr);
        }
        let (w, h) = (x1 - x0, y1 - y0);
        let xe: Vec<i32> = (0..=r.w)
            .map(|j| px(x0 + w * j as f64 / r.w as f64))
            .collect();
        let ye: Vec<i32> = (0..=r.h)
            .map(|i| px(y0 + h * i as f64 / r.h as f64))
            .collect();
        for i in 0..r.h {
            for j in 0..r.w {
                let (xa, xb, ya, yb) = (xe[j], xe[j + 1], ye[i], ye[i + 1]);
                if xb <= xa || yb <= ya {
                    continue;
                }
                let o = 3 * (i * r.w + j);
                let c = RGBColor(r.rgb[o], r.rgb[o + 1], r.rgb[o + 2]);
                if c == WHITE {
                    continue;
                }
                self.area
                    .draw(&Rectangle::new([(xa, ya), (xb, yb)], c.filled()))
                    .map_err(perr)?;
            }
        }
        Ok(())
    }
}

/// Draw a figure of the size, title and font of `options` in memory as PNG or SVG bytes.
pub(crate) fn render<F: Figure>(
    fig: &F,
    options: &super::PlotOptions,
    format: ImageFormat,
) -> Result<Vec<u8>> {
    font()?;
    let (w, h) = (options.width, options.height);
    match format {
        ImageFormat::Png => {
            let mut buf = vec![255u8; w as usize * h as usize * 3];
            {
                let area = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
                draw_on(area, false, fig, options)?;
            }
            encode_png(&buf, w, h)
        }
        ImageFormat::Svg => {
            let mut s = String::new();
            let rasters = {
                let area = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
                area.fill(&WHITE).map_err(perr)?;
                draw_on(area, true, fig, options)?
            };
            for (id, r) in rasters.iter().enumerate() {
                s = embed_raster(&s, id, r)?;
            }
            Ok(s.into_bytes())
        }
    }
}

/// Draw `fig` (title first) on a canvas over `area` and present it; returns the rasters placed
/// on an SVG canvas (`svg`), still to be embedded.
fn draw_on<DB: DrawingBackend, F: Figure>(
    area: DrawingArea<DB, Shift>,
    svg: bool,
    fig: &F,
    options: &super::PlotOptions,
) -> Result<Vec<PlacedRaster>> {
    let c = Canvas {
        area,
        svg,
        rasters: RefCell::new(Vec::new()),
    };
    fig.draw(&c, options.page(&c)?)?;
    c.area.present().map_err(perr)?;
    Ok(c.rasters.into_inner())
}

/// Replace the marker text of raster `id` by an `<image>` element holding its PNG.
fn embed_raster(s: &str, id: usize, r: &PlacedRaster) -> Result<String> {
    let mark = format!("{RASTER_MARK}{id}\n");
    let missing = || Error::Input("plot: internal error placing a raster in the SVG".into());
    let m = s.find(&mark).ok_or_else(missing)?;
    let start = s[..m].rfind("<text").ok_or_else(missing)?;
    let end = m + s[m..].find("</text>").ok_or_else(missing)? + "</text>".len();
    let image = format!(
        "<image x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" preserveAspectRatio=\"none\" \
         style=\"image-rendering:pixelated;image-rendering:crisp-edges\" \
         href=\"data:image/png;base64,{}\"/>",
        r.x,
        r.y,
        r.w,
        r.h,
        base64(&r.png)
    );
    Ok(format!("{}{}{}", &s[..start], image, &s[end..]))
}

/// Encode an RGB8 buffer as PNG.
pub(crate) fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::High);
        let mut wr = enc
            .write_header()
            .map_err(|e| Error::Input(format!("plot: PNG encoding failed: {e}")))?;
        wr.write_image_data(rgb)
            .map_err(|e| Error::Input(format!("plot: PNG encoding failed: {e}")))?;
        wr.finish()
            .map_err(|e| Error::Input(format!("plot: PNG encoding failed: {e}")))?;
    }
    Ok(out)
}

/// Standard base64 with padding.
pub(crate) fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                s.push(T[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// A numeric axis mapping data values to `[0, 1]`, linear or logarithmic, increasing or
/// reversed (`hi` at 0 and `lo` at 1, e.g. similarities that decrease up a dendrogram).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
    pub reversed: bool,
}

impl Axis {
    /// Fraction of the axis at value `v` (0 at `lo`, 1 at `hi`; the other way when reversed).
    pub fn frac(&self, v: f64) -> f64 {
        let f = if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        if self.reversed {
            1.0 - f
        } else {
            f
        }
    }

    /// The value at fraction 0 of the axis (`lo`, or `hi` when reversed).
    pub fn start(&self) -> f64 {
        if self.reversed {
            self.hi
        } else {
            self.lo
        }
    }

    /// Tick positions and labels: steps of 1, 2, 2.5 or 5 times a power of ten (linear);
    /// decades, plus 2x and 5x below three decades and every 1x..9x below one decade (log).
    pub fn ticks(&self) -> Vec<(f64, String)> {
        if self.log {
            // An axis end that overflowed (a height near f64::MAX times a margin) or is not
            // positive would give billions of decades: clamp to the finite range first.
            let (lo, hi) = (self.lo.max(f64::MIN_POSITIVE), self.hi.min(f64::MAX));
            if !(lo.is_finite() && hi.is_finite() && hi > lo) {
                return vec![(self.lo, fmt_log_tick(self.lo))];
            }
            let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
            let ratio = hi / lo;
            let mantissas: &[f64] = if ratio < 10.0 {
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
            } else if ratio < 1e3 {
                &[1.0, 2.0, 5.0]
            } else {
                &[1.0]
            };
            // At most about 12 decade ticks: every `step`-th decade on a wide axis.
            let step = ((b - a) as usize).div_ceil(12).max(1);
            let mut out = Vec::new();
            for e in (a..=b).step_by(step) {
                for &m in mantissas {
                    let v = m * 10f64.powi(e);
                    if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                        out.push((v, fmt_log_tick(v)));
                    }
                }
            }
            out
        } else {
            nice_ticks(self.lo, self.hi, 6)
        }
    }
}

/// Linear ticks with a 1-2-2.5-5 step, about `target` of them.
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<(f64, String)> {
    let span = hi - lo;
    if !span.is_finite() || span <= 0.0 {
        return vec![(lo, fmt_num(lo, 2))];
    }
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    // The 1-2-2.5-5 step whose tick count is closest to the target.
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .min_by(|a, b| {
            let da = (span / a - target as f64).abs();
            let db = (span / b - target as f64).abs();
            da.total_cmp(&db)
        })
        .unwrap_or(mag);
    let mut dec = (-(step.log10().floor())).max(0.0) as usize;
    if ((step / 10f64.powf(step.log10().floor())) - 2.5).abs() < 1e-9 {
        dec += 1;
    }
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|i| {
            let v = i as f64 * step;
            let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
            (v, fmt_num(v, dec))
        })
        .collect()
}

fn fmt_num(v: f64, dec: usize) -> String {
    format!("{v:.dec$}")
}

/// Tick label of a log axis: plain decimals between 1e-3 and 1e4, else `1e-5` style.
pub(crate) fn fmt_log_tick(v: f64) -> String {
    if (1e-3..1e4).contains(&v) {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        let e = v.log10().floor() as i32;
        let m = v / 10f64.powi(e);
        if (m - 1.0).abs() < 1e-9 {
            format!("1e{e}")
        } else {
            format!("{}e{e}", m.round())
        }
    }
}

/// Shorten a label to at most `max` characters, ending with an ellipsis when cut.
pub(crate) fn ellipsize(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A label on at most `lines` lines of at most `max` characters: broken at spaces (a word
/// longer than a line is cut), the last line ellipsized when the label does not fit.
pub(crate) fn wrap_label(s: &str, max: usize, lines: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() && out.len() + 1 < lines && rest.chars().count() > max {
        // The last space within the first `max + 1` characters, if there is one.
        let head: String = rest.chars().take(max + 1).collect();
        let cut = head.rfind(' ').filter(|&i| i > 0);
        let (line, tail) = match cut {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => {
                let end = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
                (&rest[..end], &rest[end..])
            }
        };
        out.push(line.trim_end().to_string());
        rest = tail.trim_start();
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(ellipsize(rest, max));
    }
    out
}

pub(crate) const TEXT: Rgb = Rgb(0x22, 0x22, 0x22);
pub(crate) const AXIS: Rgb = Rgb(0x44, 0x44, 0x44);
pub(crate) const GRID: Rgb = Rgb(0xe6, 0xe6, 0xe6);

/// Draw a vertical axis on the left edge `x` of a plot box spanning `[top, bottom]`: spine,
/// ticks, tick labels and (optionally) light horizontal grid lines up to `grid_right`.
/// Tick labels are right-aligned 8 pixels left of the spine.
#[allow(clippy::too_many_arguments)]
pub(crate) fn left_axis<DB: DrawingBackend>(
    c: &Canvas<DB>,
    axis: &Axis,
    x: f64,
    top: f64,
    bottom: f64,
    font: f64,
    grid_right: Option<f64>,
) -> Result<()> {
    let y_of = |v: f64| bottom - axis.frac(v) * (bottom - top);
    for (v, label) in axis.ticks() {
        let y = y_of(v);
        if let Some(r) = grid_right {
            c.line(&[(x + 1.0, y), (r, y)], GRID, 1.0)?;
        }
        c.line(&[(x - 5.0, y), (x, y)], AXIS, 1.0)?;
        c.label(&label, (x - 8.0, y), font, (HPos::Right, VPos::Center))?;
    }
    c.line(&[(x, top), (x, bottom)], AXIS, 1.0)
}

/// The ticks of a horizontal axis along `bottom`: a 5-pixel tick and a centred label 8 pixels
/// below it per tick (`x_of` places a value), and light vertical grid lines up from `bottom`
/// to `grid_top` when given.
pub(crate) fn bottom_ticks<DB: DrawingBackend>(
    c: &Canvas<DB>,
    axis: &Axis,
    x_of: impl Fn(f64) -> f64,
    bottom: f64,
    font: f64,
    grid_top: Option<f64>,
) -> Result<()> {
    for (v, label) in axis.ticks() {
        let x = x_of(v);
        if let Some(top) = grid_top {
            c.line(&[(x, top), (x, bottom - 1.0)], GRID, 1.0)?;
        }
        c.line(&[(x, bottom), (x, bottom + 5.0)], AXIS, 1.0)?;
        c.label(&label, (x, bottom + 8.0), font, (HPos::Center, VPos::Top))?;
    }
    Ok(())
}

/// The axis titles of a plot box `[left, right] x [top, bottom]` on a page of height `h`:
/// `x_label` centred under the box at the page's bottom padding, `y_label` (when given) read
/// bottom to top at the left padding.
pub(crate) fn axis_titles<DB: DrawingBackend>(
    c: &Canvas<DB>,
    x_label: &str,
    y_label: Option<&str>,
    (left, right, top, bottom): (f64, f64, f64, f64),
    h: f64,
    pad: f64,
    font: f64,
) -> Result<()> {
    c.label(
        x_label,
        (0.5 * (left + right), h - pad),
        font,
        (HPos::Center, VPos::Bottom),
    )?;
    if let Some(y_label) = y_label {
        c.label_up(
            y_label,
            (pad, 0.5 * (top + bottom)),
            font,
            (HPos::Center, VPos::Top),
        )?;
    }
    Ok(())
}

/// One legend entry with its key's left end at `(x, y)` (`y` the centre line): a `key_w`-pixel
/// line in `color`, `width` pixels wide, dashed or solid; then `on_key` (e.g. a marker drawn
/// over the key); then `name` in `font` pixels to the right of the key.
pub(crate) fn legend_entry<DB: DrawingBackend>(
    c: &Canvas<DB>,
    name: &str,
    (x, y): (f64, f64),
    key_w: f64,
    font: f64,
    (color, width, dashed): (Rgb, f64, bool),
    on_key: impl FnOnce(&Canvas<DB>) -> Result<()>,
) -> Result<()> {
    let key = [(x, y), (x + key_w, y)];
    if dashed {
        c.dashed(&key, color, width, 5.0)?;
    } else {
        c.line(&key, color, width)?;
    }
    on_key(c)?;
    let at = (x + key_w + 0.5 * font, y);
    c.label(name, at, font, (HPos::Left, VPos::Center))
}

/// Widest tick label of an axis, in pixels.
pub(crate) fn tick_label_width<DB: DrawingBackend>(c: &Canvas<DB>, axis: &Axis, font: f64) -> f64 {
    axis.ticks()
        .iter()
        .map(|(_, l)| c.text_size(l, font).0)
        .fold(0.0, f64::max)
}

/// Sequential colour maps for heat maps, from low to high values. Empty cells stay white, so
/// every map starts at a visible colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colormap {
    /// Light blue to dark navy (ColorBrewer `Blues`, without its white end).
    Blues,
    /// Yellow to dark purple (`viridis`, reversed so that high values are dark).
    Viridis,
    /// Light grey to black.
    Greys,
}

impl Colormap {
    /// The map's anchor colours from low to high, as `0xRRGGBB` codes.
    fn anchors(self) -> &'static [u32] {
        match self {
            Colormap::Blues => &[0xdeebf7, 0x9ecae1, 0x4292c6, 0x2171b5, 0x084594, 0x081d58],
            Colormap::Viridis => &[0xfde725, 0x5ec962, 0x21918c, 0x3b528b, 0x440154],
            Colormap::Greys => &[0xd9d9d9, 0x000000],
        }
    }

    /// Colour at `t` in `[0, 1]` (clamped; NaN gives the low end).
    pub fn at(self, t: f64) -> Rgb {
        let a = self.anchors();
        let t = if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let x = t * (a.len() - 1) as f64;
        let i = (x.floor() as usize).min(a.len() - 2);
        let code = |c: u32| Rgb((c >> 16) as u8, (c >> 8) as u8, c as u8);
        code(a[i]).mix(code(a[i + 1]), x - i as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn labels_wrap_at_spaces_and_ellipsize_the_last_line() {
        assert_eq!(wrap_label("short", 24, 2), ["short"]);
        assert_eq!(
            wrap_label("min TD_m<2 = 1 (top-down)", 24, 2),
            ["min TD_m<2 = 1", "(top-down)"]
        );
        assert_eq!(
            wrap_label("CH_0 = 1: none (CH_0 >= 1.69 > 1 here)", 24, 2),
            ["CH_0 = 1: none (CH_0 >=", "1.69 > 1 here)"]
        );
        // Too long for two lines: the second is cut with an ellipsis; a word longer than a
        // line is cut too.
        let w = wrap_label("aaaa bbbb cccc dddd eeee ffff", 9, 2);
        assert_eq!(w, ["aaaa bbbb", "cccc ddd…"]);
        assert_eq!(wrap_label("abcdefghijkl", 5, 2), ["abcde", "fghi…"]);
        assert_eq!(wrap_label("", 5, 2), [""]);
        assert!(wrap_label("x y z w v u", 3, 3)
            .iter()
            .all(|l| l.chars().count() <= 3));
    }

    #[test]
    fn ticks_are_nice() {
        let t: Vec<String> = nice_ticks(0.0, 1.05, 6).into_iter().map(|x| x.1).collect();
        assert_eq!(t, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let t: Vec<String> = nice_ticks(0.3, 0.92, 6).into_iter().map(|x| x.1).collect();
        assert_eq!(t, ["0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]);
        let a = Axis {
            lo: 0.004,
            hi: 0.9,
            log: true,
            reversed: false,
        };
        let t: Vec<String> = a.ticks().into_iter().map(|x| x.1).collect();
        assert_eq!(t, ["0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5"]);
        assert_eq!(fmt_log_tick(1e-5), "1e-5");
    }

    #[test]
    fn ramps_interpolate() {
        assert_eq!(Colormap::Greys.at(0.0), Rgb(0xd9, 0xd9, 0xd9));
        assert_eq!(Colormap::Greys.at(1.0), Rgb(0, 0, 0));
        assert_eq!(Colormap::Viridis.at(f64::NAN), Rgb(0xfd, 0xe7, 0x25));
    }

    /// Issue 13, defect 2: a log axis whose end overflowed (a merge height of 1e300 times a
    /// margin) gives a handful of ticks, not one per decade of 2^31.
    #[test]
    fn log_ticks_of_a_huge_or_overflowed_axis_are_bounded() {
        for (lo, hi) in [
            (1e-300, 1e300),
            (0.5, f64::INFINITY),
            (1e-3, 1e308),
            (0.0, 1.0),
        ] {
            let t = Axis {
                lo,
                hi,
                log: true,
                reversed: false,
            }
            .ticks();
            assert!(
                !t.is_empty() && t.len() <= 40,
                "{lo} {hi}: {} ticks",
                t.len()
            );
            assert!(t.iter().all(|(v, _)| v.is_finite()));
        }
        let t = Axis {
            lo: 1e-3,
            hi: 1e3,
            log: true,
            reversed: false,
        }
        .ticks();
        assert_eq!(t.len(), 7);
    }
}
