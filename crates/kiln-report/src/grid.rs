//! Grids of small grey images, such as a GAN's samples after each epoch, as PNG.

use std::path::Path;

use plotters::prelude::*;

use crate::ReportError;

/// Pixels per image pixel and between images.
const ZOOM: usize = 2;
const GAP: usize = 2;

/// Draws `images` (`count` of `height x width` values in `[0, 1]`, one after another, 0
/// black) into `path` as a PNG grid of `columns` per row, each pixel a `ZOOM`-wide square.
pub fn image_grid(
    path: &Path,
    images: &[f32],
    (height, width): (usize, usize),
    columns: usize,
) -> Result<(), ReportError> {
    let size = height * width;
    if size == 0 || columns == 0 || !images.len().is_multiple_of(size) || images.is_empty() {
        return Err(ReportError::Chart(format!(
            "{}: {} values are not whole {height}x{width} images",
            path.display(),
            images.len()
        )));
    }
    let count = images.len() / size;
    let rows = count.div_ceil(columns);
    let cols = columns.min(count);
    let cell = |n: usize, side: usize| GAP + n * (side * ZOOM + GAP);
    let dims = (cell(cols, width) as u32, cell(rows, height) as u32);
    let fail = |e: String| ReportError::Chart(format!("{}: {e}", path.display()));
    let area = BitMapBackend::new(path, dims).into_drawing_area();
    area.fill(&RGBColor(40, 40, 40))
        .map_err(|e| fail(e.to_string()))?;
    for (i, image) in images.chunks(size).enumerate() {
        let (x0, y0) = (cell(i % columns, width), cell(i / columns, height));
        for (p, &v) in image.iter().enumerate() {
            let grey = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            let (x, y) = (x0 + (p % width) * ZOOM, y0 + (p / width) * ZOOM);
            let square = [(x as i32, y as i32), ((x + ZOOM) as i32, (y + ZOOM) as i32)];
            area.draw(&Rectangle::new(square, RGBColor(grey, grey, grey).filled()))
                .map_err(|e| fail(e.to_string()))?;
        }
    }
    area.present().map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_is_a_png_of_the_expected_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        let images: Vec<f32> = (0..5 * 4 * 3).map(|i| (i % 7) as f32 / 6.0).collect();
        image_grid(&path, &images, (4, 3), 2).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        // IHDR: width and height, big-endian, at bytes 16..24.
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!(width as usize, GAP + 2 * (3 * ZOOM + GAP));
        assert_eq!(height as usize, GAP + 3 * (4 * ZOOM + GAP));
        assert!(image_grid(&path, &images[..7], (4, 3), 2).is_err());
    }
}
