//! Legends, laid out in rows below the plot so that they never cover data.

use crate::spec::{Glyph, LegendEntry, Stroke};
use crate::style::{FONT, LEGEND_PX, LEGEND_ROW, font_size, text_width};
use crate::{Area, FigureError, drawing};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width of a glyph and the gap after it, pixels.
const GLYPH: u32 = 26;
/// Gap between entries, pixels.
const GAP: u32 = 18;
/// Left and right padding of the legend, pixels.
const PAD: u32 = 12;

/// Entry positions: (row, x offset) for each entry, in an area `width` wide.
pub fn layout(entries: &[LegendEntry], width: u32) -> Vec<(u32, u32)> {
    let usable = width.saturating_sub(2 * PAD).max(1);
    let mut row = 0;
    let mut x = 0;
    entries
        .iter()
        .map(|e| {
            let w = GLYPH + text_width(&e.label, LEGEND_PX);
            if x > 0 && x + w > usable {
                row += 1;
                x = 0;
            }
            let at = (row, PAD + x);
            x += w + GAP;
            at
        })
        .collect()
}

/// The height a legend needs in an area `width` wide, pixels (0 without entries).
pub fn height(entries: &[LegendEntry], width: u32) -> u32 {
    layout(entries, width)
        .last()
        .map_or(0, |(row, _)| (row + 1) * LEGEND_ROW + 6)
}

fn glyph(area: &Area, e: &LegendEntry, x: i32, y: i32) -> Result<(), FigureError> {
    let style = e.color.stroke_width(2);
    match e.glyph {
        Glyph::Line(Stroke::Solid) => area
            .draw(&PathElement::new(vec![(x, y), (x + 20, y)], style))
            .map_err(drawing),
        Glyph::Line(stroke) => {
            let (dash, gap) = if stroke == Stroke::Dashed {
                (6, 3)
            } else {
                (2, 3)
            };
            area.draw(&DashedPathElement::new(
                vec![(x, y), (x + 20, y)],
                dash,
                gap,
                style,
            ))
            .map_err(drawing)
        }
        Glyph::Marker => {
            area.draw(&PathElement::new(
                vec![(x + 10, y - 6), (x + 10, y + 6)],
                e.color.stroke_width(1),
            ))
            .map_err(drawing)?;
            area.draw(&Circle::new((x + 10, y), 4, e.color.filled()))
                .map_err(drawing)
        }
        Glyph::Swatch => area
            .draw(&Rectangle::new(
                [(x + 2, y - 7), (x + 18, y + 7)],
                e.color.filled(),
            ))
            .map_err(drawing),
    }
}

/// Draws the legend into `area` (its top edge is the first row's top).
///
/// # Errors
/// When plotters fails.
pub fn draw(area: &Area, entries: &[LegendEntry]) -> Result<(), FigureError> {
    let (width, _) = area.dim_in_pixel();
    let text = (FONT, font_size(LEGEND_PX))
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (e, (row, x)) in entries.iter().zip(layout(entries, width)) {
        let y = (row * LEGEND_ROW + LEGEND_ROW / 2) as i32;
        let x = x as i32;
        glyph(area, e, x, y)?;
        area.draw(&Text::new(
            e.label.clone(),
            (x + GLYPH as i32, y),
            text.clone(),
        ))
        .map_err(drawing)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::style::RGBColor;

    #[test]
    fn entries_wrap_into_rows() {
        let e = |label: &str| LegendEntry {
            glyph: Glyph::Marker,
            color: RGBColor(0, 0, 0),
            label: label.into(),
        };
        let long = "x".repeat(40); // 40 * 7.2 = 288 px + glyph
        let entries = vec![e(&long), e(&long), e("short")];
        let at = layout(&entries, 740);
        assert_eq!(at[0], (0, PAD));
        assert_eq!(at[1].0, 0);
        assert_eq!(
            at[2].0, 1,
            "the third entry no longer fits on the first row"
        );
        assert_eq!(height(&entries, 740), 2 * LEGEND_ROW + 6);
        assert_eq!(height(&[], 740), 0);
    }
}
