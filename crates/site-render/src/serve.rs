//! A small static file server on the loopback address for `check-site`: the page under test, the
//! site's figures and the local npm install of MathJax and Mermaid, served over HTTP so the browser
//! loads them as a real site would (fonts and dynamically loaded MathJax extensions included).
//!
//! It answers `GET` and `HEAD` only, one thread per connection, and stops when dropped. Paths with
//! `..` are refused; requests for missing files are recorded so the check can report them.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the server answers.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    /// In-memory documents by exact path (`/post.html`).
    pub pages: BTreeMap<String, Vec<u8>>,
    /// Folders by URL prefix (`/assets/` to `site/assets`), longest prefix first is not needed:
    /// prefixes must not overlap.
    pub mounts: Vec<(String, PathBuf)>,
}

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    not_found: Arc<Mutex<Vec<String>>>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts serving `routes` on `127.0.0.1` at a free port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn start(routes: Routes) -> std::io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let not_found = Arc::new(Mutex::new(Vec::new()));
        let routes = Arc::new(routes);
        let (stop2, nf2) = (Arc::clone(&stop), Arc::clone(&not_found));
        let handle = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let (routes, nf) = (Arc::clone(&routes), Arc::clone(&nf2));
                std::thread::spawn(move || {
                    let _ = handle_connection(stream, &routes, &nf);
                });
            }
        });
        Ok(Server {
            addr,
            stop,
            not_found,
            handle: Some(handle),
        })
    }

    /// The URL of `path` (which starts with `/`) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The paths requested so far that do not exist.
    pub fn not_found(&self) -> Vec<String> {
        self.not_found
            .lock()
            .map(|v| v.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The file a URL path maps to, if it is under a mount and does not climb out of it.
pub fn resolve(routes: &Routes, path: &str) -> Option<PathBuf> {
    for (prefix, dir) in &routes.mounts {
        if let Some(rest) = path.strip_prefix(prefix.as_str()) {
            let rel = Path::new(rest);
            if rel
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
            {
                return Some(dir.join(rel));
            }
            return None;
        }
    }
    None
}

/// The Content-Type of a file name.
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" | "scss" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "otf" => "font/otf",
        "ttf" => "font/ttf",
        _ => "application/octet-stream",
    }
}

fn handle_connection(
    mut stream: TcpStream,
    routes: &Routes,
    not_found: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("/");
    let path = percent_decode(target.split(['?', '#']).next().unwrap_or("/"));
    let (status, body, ctype) = if method != "GET" && method != "HEAD" {
        ("405 Method Not Allowed", Vec::new(), "text/plain")
    } else if let Some(page) = routes.pages.get(&path) {
        ("200 OK", page.clone(), content_type(&path))
    } else if let Some(bytes) = resolve(routes, &path).and_then(|f| std::fs::read(f).ok()) {
        ("200 OK", bytes, content_type(&path))
    } else {
        if path != "/favicon.ico"
            && let Ok(mut v) = not_found.lock()
        {
            v.push(path.clone());
        }
        ("404 Not Found", b"not found".to_vec(), "text/plain")
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    if method == "GET" {
        stream.write_all(&body)?;
    }
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(url_path: &str, server: &Server) -> (String, Vec<u8>) {
        let addr = server.url("").trim_start_matches("http://").to_owned();
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {url_path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (
            String::from_utf8_lossy(&out[..split]).into_owned(),
            out[split + 4..].to_vec(),
        )
    }

    #[test]
    fn serves_pages_and_mounted_files_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("assets/img")).unwrap();
        std::fs::write(dir.path().join("assets/img/a b.svg"), b"<svg/>").unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"no").unwrap();
        let routes = Routes {
            pages: [("/post.html".to_owned(), b"<p>hi</p>".to_vec())].into(),
            mounts: vec![("/assets/".into(), dir.path().join("assets"))],
        };
        let server = Server::start(routes).unwrap();
        let (h, b) = get("/post.html", &server);
        assert!(h.starts_with("HTTP/1.1 200"), "{h}");
        assert!(h.contains("text/html"));
        assert_eq!(b, b"<p>hi</p>");
        let (h, b) = get("/assets/img/a%20b.svg?v=1", &server);
        assert!(h.contains("image/svg+xml"), "{h}");
        assert_eq!(b, b"<svg/>");
        let (h, _) = get("/assets/../secret.txt", &server);
        assert!(h.starts_with("HTTP/1.1 404"), "{h}");
        let (h, _) = get("/assets/img/missing.svg", &server);
        assert!(h.starts_with("HTTP/1.1 404"), "{h}");
        assert_eq!(
            server.not_found(),
            vec!["/assets/../secret.txt", "/assets/img/missing.svg"]
        );
    }

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(content_type("/a/b.woff"), "font/woff");
        assert_eq!(content_type("/x.JS"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("/x"), "application/octet-stream");
    }
}
