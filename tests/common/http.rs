//! A tiny threaded HTTP/1.1 server on 127.0.0.1 for tests and benches: std
//! only, one thread per connection, `Connection: close` on every answer.
//!
//! ```ignore
//! let s = HttpServer::start();
//! s.route("/", Reply::ok("<p>hi</p>"));
//! s.route_seq("/flaky", vec![Reply::status(503, ""), Reply::status(503, ""), Reply::ok("ok")]);
//! s.route("/hang", Reply::hang());
//! s.route("/away", Reply::redirect(302, "http://elsewhere.invalid/"));
//! let url = s.url();                      // http://127.0.0.1:<port>
//! assert_eq!(s.hits("/flaky"), 3);
//! let d = HttpServer::serve_dir(path);    // files under `path`; `/` is index.html
//! let posted = s.requests("/hook");       // every request: method, path, body
//! ```
//!
//! A path's replies are served in order, the last one repeating. Unknown
//! paths get 404 (or, with `serve_dir`, the file). Hanging connections are
//! held until the server is dropped.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Never answer (hold the connection until the server is dropped).
    pub hang: bool,
    pub location: Option<String>,
    pub content_type: String,
}

impl Reply {
    pub fn ok(body: impl AsRef<[u8]>) -> Reply {
        Reply::status(200, body)
    }
    pub fn status(status: u16, body: impl AsRef<[u8]>) -> Reply {
        Reply {
            status,
            body: body.as_ref().to_vec(),
            delay: Duration::ZERO,
            hang: false,
            location: None,
            content_type: "text/html; charset=utf-8".into(),
        }
    }
    pub fn hang() -> Reply {
        Reply {
            hang: true,
            ..Reply::status(200, "")
        }
    }
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply {
            location: Some(location.to_string()),
            ..Reply::status(status, "")
        }
    }
    pub fn delayed(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

#[derive(Default)]
struct Route {
    replies: Vec<Reply>,
    hits: usize,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// `name: value` lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The body as JSON (panics when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the body of {} {} is not JSON ({e}): {}",
                self.method,
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Shared {
    /// Every request received, in order.
    log: Mutex<Vec<Recorded>>,
    routes: Mutex<HashMap<String, Route>>,
    dir: Option<PathBuf>,
    stop: AtomicBool,
    /// Requests to paths with no route, by path.
    other_hits: Mutex<HashMap<String, usize>>,
}

/// A running server; stops (and releases hanging connections) on drop.
pub struct HttpServer {
    pub port: u16,
    shared: Arc<Shared>,
    accept: Option<thread::JoinHandle<()>>,
}

impl HttpServer {
    /// No routes yet: every path is 404.
    pub fn start() -> HttpServer {
        HttpServer::spawn(None)
    }

    /// Serves the files under `dir` (`/` and `/x/` are `index.html`); routes
    /// added later take precedence.
    pub fn serve_dir(dir: impl AsRef<Path>) -> HttpServer {
        HttpServer::spawn(Some(dir.as_ref().to_path_buf()))
    }

    fn spawn(dir: Option<PathBuf>) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            routes: Mutex::new(HashMap::new()),
            dir,
            stop: AtomicBool::new(false),
            other_hits: Mutex::new(HashMap::new()),
        });
        let s2 = shared.clone();
        let accept = thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s3 = s2.clone();
                thread::spawn(move || handle(conn, &s3));
            }
        });
        HttpServer {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Answer `path` with `reply` from now on.
    pub fn route(&self, path: &str, reply: Reply) -> &Self {
        self.route_seq(path, vec![reply])
    }

    /// Answer `path` with these replies in order, the last one repeating.
    /// Resets the path's hit count.
    pub fn route_seq(&self, path: &str, replies: Vec<Reply>) -> &Self {
        assert!(!replies.is_empty());
        self.shared
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), Route { replies, hits: 0 });
        self
    }

    /// Every request to `path` so far (method, headers, body), in order.
    pub fn requests(&self, path: &str) -> Vec<Recorded> {
        self.shared
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// How many requests `path` has had.
    pub fn hits(&self, path: &str) -> usize {
        if let Some(r) = self.shared.routes.lock().unwrap().get(path) {
            return r.hits;
        }
        *self
            .shared
            .other_hits
            .lock()
            .unwrap()
            .get(path)
            .unwrap_or(&0)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then closed).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Reads one request: the head, then a `Content-Length` body.
fn read_request(conn: &mut TcpStream) -> Option<Recorded> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = text.lines();
    let first = lines.next()?;
    let mut parts = first.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?;
    let path = target.split('?').next().unwrap_or(target).to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn handle(mut conn: TcpStream, shared: &Shared) {
    let Some(req) = read_request(&mut conn) else {
        return;
    };
    let path = req.path.clone();
    shared.log.lock().unwrap().push(req);
    let reply = {
        let mut routes = shared.routes.lock().unwrap();
        match routes.get_mut(&path) {
            Some(r) => {
                let i = r.hits.min(r.replies.len() - 1);
                r.hits += 1;
                Some(r.replies[i].clone())
            }
            None => None,
        }
    };
    let reply = reply.unwrap_or_else(|| {
        *shared
            .other_hits
            .lock()
            .unwrap()
            .entry(path.clone())
            .or_default() += 1;
        match &shared.dir {
            Some(dir) => file_reply(dir, &path),
            None => Reply::status(404, "not found\n"),
        }
    });
    if reply.hang {
        while !shared.stop.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(20));
        }
        let _ = conn.shutdown(Shutdown::Both);
        return;
    }
    if !reply.delay.is_zero() {
        thread::sleep(reply.delay);
    }
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
        reply.body.len()
    );
    if let Some(l) = &reply.location {
        head.push_str(&format!("Location: {l}\r\n"));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&reply.body);
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Write);
}

fn file_reply(dir: &Path, path: &str) -> Reply {
    let rel = path.trim_start_matches('/');
    if rel.split('/').any(|s| s == "..") {
        return Reply::status(404, "not found\n");
    }
    let mut p = dir.join(rel);
    if p.is_dir() {
        p = p.join("index.html");
    }
    match std::fs::read(&p) {
        Ok(body) => {
            let mut r = Reply::ok(body);
            if !rel.ends_with(".html") && !rel.is_empty() && !rel.ends_with('/') {
                r.content_type = "application/octet-stream".into();
            }
            r
        }
        Err(_) => Reply::status(404, "not found\n"),
    }
}

/// A plain HTTP/1.0 GET of `url` (`http://host:port/path`): (status, body).
pub fn get(url: &str) -> std::io::Result<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut s = std::net::TcpStream::connect(host)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(buf.len());
    let status = String::from_utf8_lossy(&buf[..head_end])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, buf[head_end..].to_vec()))
}
