//! Content types by file name extension.

/// The `Content-Type` of a file named `path` ('/'-separated), by the extension of its last
/// segment, case-insensitive; `application/octet-stream` when unknown or absent (a name
/// such as `.profile` has no extension). Text types say `charset=utf-8`.
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return OCTET_STREAM;
    };
    if stem.is_empty() || ext.len() > 8 {
        return OCTET_STREAM;
    }
    let ext = ext.to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/vnd.microsoft.icon",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "iso" => "application/x-iso9660-image",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        _ => OCTET_STREAM,
    }
}

const OCTET_STREAM: &str = "application/octet-stream";

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn by_extension_case_insensitive() {
        let table = [
            ("index.html", "text/html; charset=utf-8"),
            ("a/b/PAGE.HTM", "text/html; charset=utf-8"),
            ("notes.txt", "text/plain; charset=utf-8"),
            ("s.css", "text/css; charset=utf-8"),
            ("app.js", "text/javascript; charset=utf-8"),
            ("m.mjs", "text/javascript; charset=utf-8"),
            ("d.json", "application/json"),
            ("d.xml", "application/xml"),
            ("i.svg", "image/svg+xml"),
            ("i.PNG", "image/png"),
            ("i.jpg", "image/jpeg"),
            ("i.JPEG", "image/jpeg"),
            ("i.gif", "image/gif"),
            ("i.webp", "image/webp"),
            ("favicon.ico", "image/vnd.microsoft.icon"),
            ("doc.pdf", "application/pdf"),
            ("m.wasm", "application/wasm"),
            ("v.mp4", "video/mp4"),
            ("v.webm", "video/webm"),
            ("a.mp3", "audio/mpeg"),
            ("z.zip", "application/zip"),
            ("x.tar.gz", "application/gzip"),
            ("x.tar", "application/x-tar"),
            ("cd.iso", "application/x-iso9660-image"),
            ("f.woff", "font/woff"),
            ("f.woff2", "font/woff2"),
            ("unknown.xyz", "application/octet-stream"),
            ("noext", "application/octet-stream"),
            (".html", "application/octet-stream"),
            ("dir.html/file", "application/octet-stream"),
            ("", "application/octet-stream"),
            ("trailing.", "application/octet-stream"),
        ];
        for (path, want) in table {
            assert_eq!(content_type(path), want, "{path}");
        }
    }
}
