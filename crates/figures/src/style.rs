//! The house style, defined once: the column width, panel heights, text sizes, the palette and the
//! estimate of text widths that layout uses.
//!
//! Text sizes are given as the pixel size a reader sees when the figure fills the post's 740 px
//! column; every one is at least 11 px. plotters' SVG backend writes `font-size` as the requested
//! size divided by 1.24, so [`font_size`] multiplies by that factor.

use plotters::style::RGBColor;

/// The width of every figure, pixels: the post's content column. The SVG's width equals its
/// viewBox width, so at column width one SVG pixel is one screen pixel.
pub const WIDTH: u32 = 740;
/// The height of the plotting part of a full-width panel (title, axes and plot), pixels.
pub const PANEL_HEIGHT: u32 = 300;
/// The same for each of two panels side by side.
pub const HALF_PANEL_HEIGHT: u32 = 280;
/// Tick labels and text inside cells, pixels at column width.
pub const TICK_PX: f64 = 12.0;
/// Axis labels, pixels.
pub const LABEL_PX: f64 = 13.0;
/// Panel titles, pixels.
pub const TITLE_PX: f64 = 14.0;
/// Legend labels, pixels.
pub const LEGEND_PX: f64 = 12.0;
/// The smallest text size used anywhere, pixels.
pub const MIN_TEXT_PX: f64 = 11.0;
/// Height of one legend row, pixels.
pub const LEGEND_ROW: u32 = 20;
/// Font family of all text.
pub const FONT: &str = "sans-serif";

/// The size to ask plotters for so that the SVG says `font-size="px"`.
pub fn font_size(px: f64) -> f64 {
    px * 1.24
}

/// A width estimate of `text` at `px`: sans-serif glyphs average about 0.6 em, and layout must
/// not depend on fonts, so this is the same on every machine.
pub fn text_width(text: &str, px: f64) -> u32 {
    (text.chars().count() as f64 * 0.6 * px).ceil() as u32
}

/// The Okabe–Ito palette (Okabe and Ito 2008), distinguishable with colour-vision deficiencies,
/// without its yellow, which is too pale on white. Group g is drawn in `PALETTE[g % 7]`.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(0, 0, 0),       // black
];

/// The colour of group `g`.
pub fn group_color(g: usize) -> RGBColor {
    PALETTE[g % PALETTE.len()]
}

/// A pale tint of group `g`'s colour, for the cells of a categorical grid (black text stays
/// readable on it).
pub fn tint(g: usize) -> RGBColor {
    let RGBColor(r, gr, b) = group_color(g);
    let mix = |c: u8| (255.0 - 0.3 * (255.0 - f64::from(c))).round() as u8;
    RGBColor(mix(r), mix(gr), mix(b))
}

/// The grey of individual units in paired panels and of grid lines.
pub const UNIT_GREY: RGBColor = RGBColor(175, 175, 175);
/// Bold mesh lines.
pub const MESH_BOLD: RGBColor = RGBColor(215, 215, 215);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_meet_the_reading_rule() {
        for px in [TICK_PX, LABEL_PX, TITLE_PX, LEGEND_PX] {
            assert!(px >= MIN_TEXT_PX);
            // What the SVG backend will write.
            assert!((font_size(px) / 1.24 - px).abs() < 1e-12);
        }
        assert_eq!(text_width("η = 0.01", 10.0), 48);
        assert_eq!(tint(0), RGBColor(179, 213, 232));
    }
}
