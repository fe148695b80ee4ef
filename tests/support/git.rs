//! Real git repositories in temporary directories, served over HTTP by `git http-backend`
//! behind a small CGI server (optionally requiring Basic auth), or as `file://`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs git in `dir`, panicking with its stderr on failure; returns stdout trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_env(dir, args, &[])
}

/// `git` with extra environment (e.g. `GIT_COMMITTER_DATE`).
pub fn git_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .envs(env.iter().copied())
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository `name.git` (non-bare, served as is) under a root directory.
pub struct Repo {
    pub root: tempfile::TempDir,
    pub name: String,
}

impl Repo {
    /// A repository with one commit on `main`.
    pub fn new(name: &str) -> Repo {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join(format!("{name}.git"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        git(&dir, &["init", "-q", "-b", "main"]);
        git(&dir, &["config", "http.receivepack", "false"]);
        let repo = Repo {
            root,
            name: name.to_string(),
        };
        repo.commit("README.md", "hello\n");
        repo
    }

    pub fn dir(&self) -> PathBuf {
        self.root.path().join(format!("{}.git", self.name))
    }

    /// Writes `file` and commits it on the current branch; returns the commit id.
    pub fn commit(&self, file: &str, text: &str) -> String {
        let path = self.dir().join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
        git(&self.dir(), &["add", "-A"]);
        git(
            &self.dir(),
            &["commit", "-q", "-m", &format!("change {file}")],
        );
        git(&self.dir(), &["rev-parse", "HEAD"])
    }

    /// An annotated tag on HEAD, created at `date` (`2024-01-01T00:00:00Z`).
    pub fn tag(&self, name: &str, date: &str) {
        git_env(
            &self.dir(),
            &["tag", "-a", name, "-m", name],
            &[("GIT_COMMITTER_DATE", date)],
        );
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.dir().display())
    }
}

/// `git http-backend` over HTTP on loopback, serving every repository under `root`.
pub struct GitServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl GitServer {
    pub fn start(root: &Path, basic: Option<(&str, &str)>) -> GitServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let expected =
            basic.map(|(u, p)| format!("Basic {}", super::base64(format!("{u}:{p}").as_bytes())));
        let flag = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let root = root.clone();
                let expected = expected.clone();
                std::thread::spawn(move || cgi(conn, &root, expected.as_deref()));
            }
        });
        GitServer { port, stop }
    }

    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}.git", self.port)
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One request, one CGI run, then the connection closes.
fn cgi(conn: TcpStream, root: &Path, expected_auth: Option<&str>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(clone) = conn.try_clone() else { return };
    let mut reader = BufReader::new(clone);
    let mut out = conn;
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end().to_string();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(want) = expected_auth {
        if header("authorization").as_deref() != Some(want) {
            let _ = out.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        }
    }
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", length.to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(ct) = header("content-type") {
        cmd.env("CONTENT_TYPE", ct);
    }
    if let Some(ce) = header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", ce);
    }
    if let Some(p) = header("git-protocol") {
        cmd.env("GIT_PROTOCOL", p);
    }
    let Ok(mut child) = cmd.spawn() else { return };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&body);
    }
    let mut output = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_end(&mut output);
    }
    let _ = child.wait();
    // CGI: headers, a blank line, the body. `Status:` becomes the status line.
    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else { return };
    let head = String::from_utf8_lossy(&output[..end]).to_string();
    let rest = &output[end + sep..];
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for h in head.lines() {
        if let Some(s) = h.strip_prefix("Status:") {
            status = s.trim().to_string();
        } else if !h.trim().is_empty() {
            response.push_str(h.trim_end());
            response.push_str("\r\n");
        }
    }
    let _ = out.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
            rest.len()
        )
        .as_bytes(),
    );
    let _ = out.write_all(rest);
}
