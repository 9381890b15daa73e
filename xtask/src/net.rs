//! Loopback plumbing for the end-to-end suite and the benchmarks: free
//! ports, a raw HTTP/1.1 client (so tests can send any `Host`, a lying
//! `content-length` or a malformed header), and child processes stopped by
//! their process group when the guard drops — also when a test panics.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port the OS says is free on 127.0.0.1 right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A response as received.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Lowercased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("body is not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// Send one request (`Connection: close`) and read the whole response.
/// `headers` are sent as given, in order; `body` follows them.
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Reply> {
    request_within(port, method, path, headers, body, Duration::from_secs(30))
}

/// [`request`] with another read and write timeout (slow operations in
/// the benchmarks: a large index loaded into memory).
pub fn request_within(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<Reply> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    s.write_all(head.as_bytes())?;
    // The server may answer (413) and close before reading a large body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse(&raw).ok_or_else(|| {
        std::io::Error::other(format!(
            "malformed response: {:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(300)])
        ))
    })
}

fn parse(raw: &[u8]) -> Option<Reply> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body)?;
    }
    Some(Reply { status, headers, body })
}

/// A whole chunked body; `None` unless it ends with the last chunk.
fn dechunk(b: &[u8]) -> Option<Vec<u8>> {
    match dechunk_prefix(b) {
        (out, true) => Some(out),
        (_, false) => None,
    }
}

/// As much of a chunked body as has arrived (a partial chunk included),
/// and whether the last chunk was seen: for streams read while they come.
pub fn dechunk_prefix(mut b: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(nl) = b.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size = std::str::from_utf8(&b[..nl])
            .ok()
            .and_then(|l| usize::from_str_radix(l.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size else { return (out, false) };
        b = &b[nl + 2..];
        if size == 0 {
            return (out, true);
        }
        if b.len() < size {
            out.extend_from_slice(b);
            return (out, false);
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or_default();
    }
}

/// A child process in its own process group, stopped (TERM, then KILL)
/// with everything it started when dropped.
pub struct Guard {
    pub child: Child,
    pub name: String,
}

impl Guard {
    /// Spawn `cmd` in a new process group with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> std::io::Result<Guard> {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
        Ok(Guard {
            child: cmd.spawn()?,
            name: name.to_string(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn signal_group(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, "--", &format!("-{}", self.pid())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.signal_group("-TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Whatever the group started may outlive its leader.
        self.signal_group("-KILL");
        let _ = self.child.wait();
    }
}

/// Poll until `ready` returns true, the process exits, or `timeout` passes.
pub fn wait_ready(g: &mut Guard, timeout: Duration, mut ready: impl FnMut() -> bool) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        if let Some(s) = g.exited() {
            return Err(format!("{} exited before it was ready ({s})", g.name));
        }
        if ready() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            return Err(format!("{} was not ready after {}s", g.name, timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A loopback HTTP server answering every request with one JSON document
/// (the test identity provider's JWKS); counts requests; stops when dropped.
pub struct JsonServer {
    pub port: u16,
    pub requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl JsonServer {
    pub fn start(body: String) -> std::io::Result<JsonServer> {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = conn else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                r.fetch_add(1, Ordering::SeqCst);
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                    body.len(),
                    body
                );
                let _ = c.write_all(resp.as_bytes());
            }
        });
        Ok(JsonServer {
            port,
            requests,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for JsonServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], self.port)));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_whole_and_partial() {
        let whole = b"5\r\nhello\r\n3;x=1\r\nabc\r\n0\r\n\r\n";
        assert_eq!(dechunk(whole), Some(b"helloabc".to_vec()));
        assert_eq!(dechunk_prefix(&whole[..12]), (b"hello".to_vec(), false));
        assert_eq!(dechunk_prefix(&whole[..18]), (b"helloa".to_vec(), false));
        assert_eq!(dechunk(&whole[..20]), None);
    }
}
