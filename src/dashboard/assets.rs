//! The page, embedded in the binary: one HTML file, one stylesheet, one script and an icon, all
//! written for this dashboard (no library, no CDN, no web font), so it works offline.

pub const INDEX_HTML: &str = include_str!("assets/index.html");
pub const APP_JS: &str = include_str!("assets/app.js");
pub const APP_CSS: &str = include_str!("assets/app.css");
pub const FAVICON_SVG: &str = include_str!("assets/favicon.svg");

/// A static file by name: its content type and bytes.
pub fn get(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "app.js" => Some(("text/javascript; charset=utf-8", APP_JS)),
        "app.css" => Some(("text/css; charset=utf-8", APP_CSS)),
        "favicon.svg" => Some(("image/svg+xml", FAVICON_SVG)),
        _ => None,
    }
}

/// The total size of the embedded assets in bytes.
pub fn total_size() -> usize {
    INDEX_HTML.len() + APP_JS.len() + APP_CSS.len() + FAVICON_SVG.len()
}
