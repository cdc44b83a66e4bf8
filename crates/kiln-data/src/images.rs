//! A folder of images sorted into class folders, as torchvision's `ImageFolder` reads it:
//! `root/<class>/**/<file>.png`, or `root/train/<class>/...` beside `root/test/<class>/...`
//! (and optionally `root/validation/`). Every image is decoded once (PNG or JPEG, grey,
//! colour, with alpha or a palette), laid on white where it is transparent, brought to one
//! size and kept as bytes; a cache keyed by the files' names, sizes and times and the
//! settings makes the next run skip the decoding.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

use image::DynamicImage;
use image::imageops::FilterType;
#[cfg(test)]
use image::{ImageBuffer, Luma, Rgb};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::{Budget, DataError, Digits};

/// How an image of another shape becomes `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fit {
    /// Stretched to the size, whatever its aspect.
    #[default]
    Resize,
    /// Scaled to cover the size, then its centre cut out.
    Crop,
    /// Scaled to fit inside the size, centred, the rest filled with 0.
    Pad,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderSettings {
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// `[height, width]`.
    pub size: [usize; 2],
    pub fit: Fit,
    /// Skip (and count) files that do not decode, instead of refusing the folder.
    pub skip_unreadable: bool,
}

/// The splits a folder holds: `train` always; `validation` and `test` when it has those
/// folders.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFolder {
    pub classes: Vec<String>,
    pub train: Digits,
    pub validation: Option<Digits>,
    pub test: Option<Digits>,
    /// Files that did not decode, with why (only with `skip_unreadable`).
    pub skipped: Vec<(PathBuf, String)>,
    /// Whether the images came from the cache rather than being decoded.
    pub cached: bool,
    /// Files decoded (or read from the cache), and the seconds that took.
    pub images: usize,
    pub seconds: f64,
}

const EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];
/// The names a folder's validation split may go by, the first found used.
pub const VALIDATION_FOLDERS: [&str; 3] = ["validation", "val", "valid"];
const CACHE_VERSION: &str = "kiln-images-1";

/// One split's files with their class ids.
struct Listing {
    files: Vec<(PathBuf, u8)>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DataError + '_ {
    move |e| DataError::io(path, e)
}

fn invalid(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Invalid {
        what: path.display().to_string(),
        message: message.into(),
    }
}

/// The sub-folders of `dir`, sorted, hidden ones left out.
fn subfolders(dir: &Path) -> Result<Vec<(String, PathBuf)>, DataError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.path().is_dir() {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Every image file under `dir`, sorted, at any depth.
fn image_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.path()).map_err(io(dir)))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            image_files(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| EXTENSIONS.contains(&e.to_string_lossy().to_lowercase().as_str()))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn list(dir: &Path, classes: &[String]) -> Result<Listing, DataError> {
    let mut files = Vec::new();
    let found = subfolders(dir)?;
    if let Some((name, _)) = found.iter().find(|(n, _)| !classes.contains(n)) {
        return Err(invalid(
            dir,
            format!(
                "class folder `{name}` is not among the training classes ({})",
                classes.join(", ")
            ),
        ));
    }
    for (name, path) in found {
        let class = classes.iter().position(|c| *c == name).unwrap_or(0) as u8;
        let mut images = Vec::new();
        image_files(&path, &mut images)?;
        if images.is_empty() {
            return Err(invalid(
                &path,
                format!(
                    "the class folder `{name}` holds no image ({} files)",
                    EXTENSIONS.join(", ")
                ),
            ));
        }
        files.extend(images.into_iter().map(|f| (f, class)));
    }
    Ok(Listing { files })
}

/// The folder's layout: its splits' folders, train first.
fn layout(root: &Path) -> Result<Vec<(&'static str, PathBuf)>, DataError> {
    if !root.is_dir() {
        return Err(DataError::Io {
            path: root.into(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
        });
    }
    let train = root.join("train");
    if !train.is_dir() {
        return Ok(vec![("train", root.to_path_buf())]);
    }
    let mut splits = vec![("train", train)];
    for name in VALIDATION_FOLDERS {
        if root.join(name).is_dir() {
            splits.push(("validation", root.join(name)));
            break;
        }
    }
    if root.join("test").is_dir() {
        splits.push(("test", root.join("test")));
    }
    Ok(splits)
}

/// Reads the folder at `root` (see the module's doc), from `cache` when it holds these
/// files decoded with these settings, and writes the cache otherwise.
pub fn load_folder(
    root: &Path,
    settings: &FolderSettings,
    cache: Option<&Path>,
    budget: Option<&Budget>,
) -> Result<ImageFolder, DataError> {
    let clock = Instant::now();
    let splits = layout(root)?;
    let classes: Vec<String> = subfolders(&splits[0].1)?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    if classes.len() < 2 {
        return Err(invalid(
            &splits[0].1,
            format!(
                "needs a folder per class, two or more; found {}",
                if classes.is_empty() {
                    "none".to_string()
                } else {
                    format!("only `{}`", classes[0])
                }
            ),
        ));
    }
    if classes.len() > 256 {
        return Err(invalid(
            &splits[0].1,
            format!("{} class folders; kiln takes at most 256", classes.len()),
        ));
    }
    let listings: Vec<(&str, Listing)> = splits
        .iter()
        .map(|(name, dir)| list(dir, &classes).map(|l| (*name, l)))
        .collect::<Result<_, _>>()?;
    let folder = decode_listings(root, settings, (cache, budget), classes, listings, clock)?;
    let counts =
        folder
            .train
            .labels
            .iter()
            .fold(vec![0usize; folder.classes.len()], |mut counts, &l| {
                counts[l as usize] += 1;
                counts
            });
    if let Some(c) = counts.iter().position(|&n| n == 0) {
        return Err(invalid(
            &splits[0].1.join(&folder.classes[c]),
            format!("no image of the class `{}` decodes", folder.classes[c]),
        ));
    }
    Ok(folder)
}

/// Images named by lists rather than sorted into class folders (a regression's, whose
/// values come from a table): each split's files (`train`, `validation`, `test`) decoded
/// and cached as [`load_folder`] does, every label 0 and no classes. A file that does not
/// decode is refused, or with `skip_unreadable` left out and listed in `skipped`.
pub fn load_files(
    root: &Path,
    splits: &[(&'static str, Vec<PathBuf>)],
    settings: &FolderSettings,
    cache: Option<&Path>,
    budget: Option<&Budget>,
) -> Result<ImageFolder, DataError> {
    let clock = Instant::now();
    let listings = splits
        .iter()
        .map(|(name, files)| {
            (
                *name,
                Listing {
                    files: files.iter().map(|f| (f.clone(), 0)).collect(),
                },
            )
        })
        .collect();
    decode_listings(root, settings, (cache, budget), Vec::new(), listings, clock)
}

/// Refuses listings whose decoded images would not fit in `budget`.
fn within(
    root: &Path,
    settings: &FolderSettings,
    listings: &[(&str, Listing)],
    budget: &Budget,
) -> Result<(), DataError> {
    let count: usize = listings.iter().map(|(_, l)| l.files.len()).sum();
    let [rows, cols] = settings.size;
    let need = count as u128 * (settings.channels * rows * cols) as u128;
    let Some(short) = budget.shortfall(need) else {
        return Ok(());
    };
    Err(invalid(
        root,
        format!(
            "{count} images of {}x{rows}x{cols} take {} decoded, {short}; use a smaller \
             data.size, grey images (data.channels = 1) or fewer files",
            settings.channels,
            crate::budget::bytes(need),
        ),
    ))
}

/// Decodes every listed file in parallel (or reads them all from the cache).
fn decode_listings(
    root: &Path,
    settings: &FolderSettings,
    (cache, budget): (Option<&Path>, Option<&Budget>),
    classes: Vec<String>,
    listings: Vec<(&str, Listing)>,
    clock: Instant,
) -> Result<ImageFolder, DataError> {
    if ![1, 3].contains(&settings.channels) {
        return Err(invalid(root, "channels must be 1 or 3"));
    }
    if let Some(budget) = budget {
        within(root, settings, &listings, budget)?;
    }
    let key = cache_key(root, settings, &classes, &listings)?;
    let cache_file = cache.map(|dir| dir.join(format!("images-{}.bin", &key[..24])));
    if let Some(file) = &cache_file
        && let Some(mut folder) = read_cache(file, &key)
    {
        folder.seconds = clock.elapsed().as_secs_f64();
        return Ok(folder);
    }
    let mut skipped = Vec::new();
    let mut sets: Vec<(&str, Digits)> = Vec::new();
    let mut images = 0;
    for (name, listing) in &listings {
        let decoded: Vec<Result<Vec<u8>, String>> = listing
            .files
            .par_iter()
            .map(|(path, _)| decode(path, settings))
            .collect();
        let [rows, cols] = settings.size;
        let mut digits = Digits {
            images: Vec::with_capacity(listing.files.len() * settings.channels * rows * cols),
            labels: Vec::with_capacity(listing.files.len()),
            channels: settings.channels,
            rows,
            cols,
        };
        for ((path, class), result) in listing.files.iter().zip(decoded) {
            match result {
                Ok(pixels) => {
                    digits.images.extend(pixels);
                    digits.labels.push(*class);
                    images += 1;
                }
                Err(why) if settings.skip_unreadable => skipped.push((path.clone(), why)),
                Err(why) => {
                    return Err(invalid(
                        path,
                        format!(
                            "does not decode as an image ({why}); remove it, or set data.skip_unreadable = true to skip such files"
                        ),
                    ));
                }
            }
        }
        if digits.is_empty() && !listing.files.is_empty() {
            let folder = listing.files[0].0.parent().unwrap_or(root);
            return Err(invalid(
                folder,
                format!("no image of the {name} split decodes"),
            ));
        }
        sets.push((name, digits));
    }
    let take = |want: &str, sets: &mut Vec<(&str, Digits)>| {
        sets.iter()
            .position(|(n, _)| *n == want)
            .map(|i| sets.remove(i).1)
    };
    let train = take("train", &mut sets).ok_or_else(|| invalid(root, "no training images"))?;
    let folder = ImageFolder {
        classes,
        train,
        validation: take("validation", &mut sets),
        test: take("test", &mut sets),
        skipped,
        cached: false,
        images,
        seconds: clock.elapsed().as_secs_f64(),
    };
    if let Some(file) = &cache_file {
        // A cache that cannot be written costs the next run time, not this run.
        if let Err(e) = write_cache(file, &key, &folder) {
            tracing::warn!("could not cache the decoded images: {e}");
        }
    }
    Ok(folder)
}

/// The image at `path` as `[channels, rows, cols]` bytes, prepared as a folder's images are:
/// what `kiln predict` does to new images too.
pub fn decode(path: &Path, settings: &FolderSettings) -> Result<Vec<u8>, String> {
    let image = image::io::Reader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| match e {
            // The decoder's guard against decompression bombs (512 MiB), as PIL has one.
            image::ImageError::Limits(_) => match image::image_dimensions(path) {
                Ok((w, h)) => {
                    format!("{w}x{h} pixels, more than the 512 MiB one image may take to decode")
                }
                Err(_) => e.to_string(),
            },
            e => e.to_string(),
        })?;
    let [rows, cols] = settings.size;
    // Transparent pixels over white, as a viewer shows them; then grey by the image crate's
    // own weights.
    let mut rgba = image.to_rgba8();
    for p in rgba.pixels_mut() {
        let a = p.0[3] as u32;
        for c in &mut p.0[..3] {
            *c = ((*c as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        }
        p.0[3] = 255;
    }
    let opaque = DynamicImage::ImageRgba8(rgba);
    let flat = if settings.channels == 1 {
        DynamicImage::ImageLuma8(opaque.to_luma8())
    } else {
        DynamicImage::ImageRgb8(opaque.to_rgb8())
    };
    let fitted = fit(flat, rows as u32, cols as u32, settings.fit);
    let bytes = fitted.as_bytes();
    let c = settings.channels;
    // Interleaved (HWC) to planes (CHW).
    let mut out = vec![0u8; c * rows * cols];
    for (i, px) in bytes.chunks(c).enumerate() {
        for (k, &v) in px.iter().enumerate() {
            out[k * rows * cols + i] = v;
        }
    }
    Ok(out)
}

fn fit(image: DynamicImage, rows: u32, cols: u32, how: Fit) -> DynamicImage {
    let (w, h) = (image.width().max(1), image.height().max(1));
    if (w, h) == (cols, rows) {
        return image;
    }
    let filter = FilterType::Triangle;
    match how {
        Fit::Resize => image.resize_exact(cols, rows, filter),
        Fit::Crop => {
            let scale = (cols as f64 / w as f64).max(rows as f64 / h as f64);
            let (sw, sh) = (
                ((w as f64 * scale).round() as u32).max(cols),
                ((h as f64 * scale).round() as u32).max(rows),
            );
            image.resize_exact(sw, sh, filter).crop_imm(
                (sw - cols) / 2,
                (sh - rows) / 2,
                cols,
                rows,
            )
        }
        Fit::Pad => {
            let scale = (cols as f64 / w as f64).min(rows as f64 / h as f64);
            let (sw, sh) = (
                ((w as f64 * scale).round() as u32).clamp(1, cols),
                ((h as f64 * scale).round() as u32).clamp(1, rows),
            );
            let small = image.resize_exact(sw, sh, filter);
            let mut canvas = match &small {
                DynamicImage::ImageLuma8(_) => DynamicImage::new_luma8(cols, rows),
                _ => DynamicImage::new_rgb8(cols, rows),
            };
            image::imageops::overlay(
                &mut canvas,
                &small,
                ((cols - sw) / 2) as i64,
                ((rows - sh) / 2) as i64,
            );
            canvas
        }
    }
}

fn cache_key(
    root: &Path,
    settings: &FolderSettings,
    classes: &[String],
    listings: &[(&str, Listing)],
) -> Result<String, DataError> {
    let mut h = Sha256::new();
    h.update(CACHE_VERSION);
    h.update(format!("{settings:?}"));
    h.update(format!("{classes:?}"));
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    h.update(root.to_string_lossy().as_bytes());
    for (split, listing) in listings {
        h.update(split.as_bytes());
        for (path, class) in &listing.files {
            let meta = std::fs::metadata(path).map_err(io(path))?;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            h.update(path.to_string_lossy().as_bytes());
            h.update([*class]);
            h.update(meta.len().to_le_bytes());
            h.update(mtime.to_le_bytes());
        }
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Layout: the key line, a JSON header line, then each split's labels and pixels.
fn write_cache(file: &Path, key: &str, folder: &ImageFolder) -> Result<(), DataError> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let splits: Vec<(&str, &Digits)> = [
        Some(("train", &folder.train)),
        folder.validation.as_ref().map(|d| ("validation", d)),
        folder.test.as_ref().map(|d| ("test", d)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let header = serde_json::json!({
        "classes": folder.classes,
        "splits": splits.iter().map(|(n, d)| serde_json::json!({
            "name": n, "len": d.len(), "channels": d.channels, "rows": d.rows, "cols": d.cols,
        })).collect::<Vec<_>>(),
        "skipped": folder.skipped.iter().map(|(p, w)| (p.display().to_string(), w.clone())).collect::<Vec<_>>(),
    });
    let mut bytes = format!("{key}\n{header}\n").into_bytes();
    for (_, d) in &splits {
        bytes.extend(&d.labels);
        bytes.extend(&d.images);
    }
    crate::download::write_atomically(file, &bytes)
}

fn read_cache(file: &Path, key: &str) -> Option<ImageFolder> {
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .ok()?
        .read_to_end(&mut bytes)
        .ok()?;
    let first = bytes.iter().position(|&b| b == b'\n')?;
    if &bytes[..first] != key.as_bytes() {
        return None;
    }
    let second = first + 1 + bytes[first + 1..].iter().position(|&b| b == b'\n')?;
    let header: serde_json::Value = serde_json::from_slice(&bytes[first + 1..second]).ok()?;
    let mut at = second + 1;
    let mut folder = ImageFolder {
        classes: serde_json::from_value(header["classes"].clone()).ok()?,
        train: Digits {
            images: Vec::new(),
            labels: Vec::new(),
            channels: 1,
            rows: 0,
            cols: 0,
        },
        validation: None,
        test: None,
        skipped: serde_json::from_value::<Vec<(String, String)>>(header["skipped"].clone())
            .ok()?
            .into_iter()
            .map(|(p, w)| (PathBuf::from(p), w))
            .collect(),
        cached: true,
        images: 0,
        seconds: 0.0,
    };
    for split in header["splits"].as_array()? {
        let n = split["len"].as_u64()? as usize;
        let (c, r, w) = (
            split["channels"].as_u64()? as usize,
            split["rows"].as_u64()? as usize,
            split["cols"].as_u64()? as usize,
        );
        let pixels = n * c * r * w;
        let labels = bytes.get(at..at + n)?.to_vec();
        let images = bytes.get(at + n..at + n + pixels)?.to_vec();
        at += n + pixels;
        folder.images += n;
        let d = Digits {
            images,
            labels,
            channels: c,
            rows: r,
            cols: w,
        };
        match split["name"].as_str()? {
            "train" => folder.train = d,
            "validation" => folder.validation = Some(d),
            "test" => folder.test = Some(d),
            _ => return None,
        }
    }
    (at == bytes.len()).then_some(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(path: &Path, image: DynamicImage) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image.save(path).unwrap();
    }

    fn settings(channels: usize, fit: Fit) -> FolderSettings {
        FolderSettings {
            channels,
            size: [4, 6],
            fit,
            skip_unreadable: false,
        }
    }

    #[test]
    fn folders_of_mixed_modes_and_sizes_become_one_shape() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // A red RGB image, a transparent RGBA one (white once flattened), a grey JPEG.
        save(
            &root.join("a/red.png"),
            DynamicImage::ImageRgb8(ImageBuffer::from_pixel(10, 7, Rgb([255, 0, 0]))),
        );
        save(
            &root.join("b/deep/clear.png"),
            DynamicImage::ImageRgba8(ImageBuffer::from_pixel(3, 9, image::Rgba([0, 0, 0, 0]))),
        );
        save(
            &root.join("b/grey.jpg"),
            DynamicImage::ImageLuma8(ImageBuffer::from_pixel(20, 20, Luma([100]))),
        );
        std::fs::write(root.join("b/notes.txt"), "not an image").unwrap();
        let f = load_folder(root, &settings(3, Fit::Resize), None, None).unwrap();
        assert_eq!(f.classes, ["a", "b"]);
        assert_eq!(f.train.labels, [0, 1, 1]);
        assert_eq!((f.train.channels, f.train.rows, f.train.cols), (3, 4, 6));
        let red = f.train.image(0);
        assert!(red[..24].iter().all(|&v| v == 255) && red[24..].iter().all(|&v| v == 0));
        // Sorted: b/deep/clear.png before b/grey.jpg.
        assert!(f.train.image(1).iter().all(|&v| v == 255));
        assert!(f.train.image(2).iter().all(|&v| (95..=105).contains(&v)));
        // 3 images of 3x4x6 bytes: 216 fit in 216 bytes, not in 215.
        let room = |bytes| Budget {
            bytes,
            limited_by: "its memory cgroup (/sys/fs/cgroup/job/memory.max)".into(),
        };
        assert!(load_folder(root, &settings(3, Fit::Resize), None, Some(&room(216))).is_ok());
        let err = load_folder(root, &settings(3, Fit::Resize), None, Some(&room(215)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("3 images of 3x4x6")
                && err.contains("its memory cgroup (/sys/fs/cgroup/job/memory.max)")
                && err.contains("data.size"),
            "{err}"
        );
        let grey = load_folder(root, &settings(1, Fit::Pad), None, None).unwrap();
        // Red is dark in grey; padded 10x7 in 6x4: a 6x4 image with no bars... the 3x9 one
        // is padded left and right with 0.
        assert_eq!(grey.train.channels, 1);
        let clear = grey.train.image(1);
        assert_eq!(clear[0], 0, "padding");
        assert!(clear.contains(&255));
    }

    #[test]
    fn the_cache_gives_back_the_same_images_until_a_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (root, cache) = (dir.path().join("data"), dir.path().join("cache"));
        for (class, v) in [("x", 10u8), ("y", 200)] {
            for i in 0..3 {
                save(
                    &root.join(format!("train/{class}/{i}.png")),
                    DynamicImage::ImageLuma8(ImageBuffer::from_pixel(5, 5, Luma([v + i]))),
                );
            }
            save(
                &root.join(format!("test/{class}/t.png")),
                DynamicImage::ImageLuma8(ImageBuffer::from_pixel(8, 8, Luma([v]))),
            );
        }
        let s = settings(1, Fit::Crop);
        let first = load_folder(&root, &s, Some(&cache), None).unwrap();
        assert!(!first.cached);
        assert_eq!(first.test.as_ref().unwrap().len(), 2);
        let second = load_folder(&root, &s, Some(&cache), None).unwrap();
        assert!(second.cached);
        assert_eq!((&second.train, &second.test), (&first.train, &first.test));
        // Other settings, or a file changed: decoded again.
        assert!(
            !load_folder(&root, &settings(3, Fit::Crop), Some(&cache), None)
                .unwrap()
                .cached
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        save(
            &root.join("train/x/0.png"),
            DynamicImage::ImageLuma8(ImageBuffer::from_pixel(5, 5, Luma([99]))),
        );
        let third = load_folder(&root, &s, Some(&cache), None).unwrap();
        assert!(!third.cached);
        assert_eq!(third.train.image(0)[0], 99);
    }

    #[test]
    fn bad_folders_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        save(&root.join("a/1.png"), DynamicImage::new_luma8(2, 2));
        std::fs::create_dir_all(root.join("b")).unwrap();
        let err = load_folder(root, &settings(1, Fit::Resize), None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("the class folder `b` holds no image"), "{err}");
        std::fs::write(root.join("b/broken.png"), b"\x89PNG not really").unwrap();
        let err = load_folder(root, &settings(1, Fit::Resize), None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("broken.png: does not decode"), "{err}");
        save(&root.join("b/ok.png"), DynamicImage::new_luma8(2, 2));
        let mut s = settings(1, Fit::Resize);
        s.skip_unreadable = true;
        let f = load_folder(root, &s, None, None).unwrap();
        assert_eq!(f.skipped.len(), 1);
        assert_eq!(f.train.len(), 2);
        let err = load_folder(&root.join("a"), &s, None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs a folder per class"), "{err}");
    }
}
