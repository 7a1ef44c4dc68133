//! A real SMTP server for tests: Python `aiosmtpd` (PyPI) on a loopback port.
//!
//! Reusable by any test that sends mail (invitations, password resets, reports):
//!
//! ```ignore
//! let smtp = SmtpSink::start().await;                       // installs aiosmtpd on first use
//! let app = TestApp::start_with(backend, |c| smtp.configure(c)).await;
//! // … do what sends mail, then run the queue: app.run_jobs().await;
//! let mails = smtp.wait_for(1).await;                       // what was actually delivered
//! assert!(mails[0].to("x@example.org") && mails[0].body().contains("CAS-"));
//! ```
//!
//! `aiosmtpd` is installed once, idempotently, in a virtual environment under
//! `$HOME/.cache/consilium-test/venv-smtp` (or `$CONSILIUM_TEST_CACHE/venv-smtp`); a test
//! fails with a clear message when it cannot be (no `python3`, no network to PyPI).

#![allow(dead_code)]

use consilium::config::Config;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cache directory of test tools.
pub fn cache_dir() -> PathBuf {
    if let Ok(d) = std::env::var("CONSILIUM_TEST_CACHE") {
        return PathBuf::from(d);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    PathBuf::from(home).join(".cache/consilium-test")
}

static INSTALL: Mutex<()> = Mutex::new(());

/// The Python interpreter of a venv holding aiosmtpd, installing it on first use.
fn python() -> PathBuf {
    let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = cache_dir();
    let venv = dir.join("venv-smtp");
    let py = venv.join("bin/python");
    let ready = |py: &Path| {
        Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&py) {
        return py;
    }
    std::fs::create_dir_all(&dir).expect("create the test cache directory");
    // Other test processes may install at the same time: one at a time (flock).
    let script = format!(
        "set -e; [ -x '{py}' ] || python3 -m venv '{venv}'; '{py}' -c 'import aiosmtpd' 2>/dev/null \
         || '{py}' -m pip install --quiet --disable-pip-version-check aiosmtpd",
        py = py.display(),
        venv = venv.display()
    );
    let out = Command::new("flock")
        .arg(dir.join(".venv-smtp.lock"))
        .args(["sh", "-c", &script])
        .output();
    match out {
        Ok(o) if o.status.success() && ready(&py) => py,
        Ok(o) => panic!(
            "cannot install the test SMTP server (aiosmtpd from PyPI) in {}: {}\n\
             install it by hand with: python3 -m venv {} && {}/bin/pip install aiosmtpd",
            venv.display(),
            String::from_utf8_lossy(&o.stderr),
            venv.display(),
            venv.display()
        ),
        Err(e) => {
            panic!("cannot install the test SMTP server: {e} (needs python3 with venv, and flock)")
        }
    }
}

/// A running SMTP server that keeps every message delivered to it.
pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

/// One delivered message.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Delivered {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The whole message as received (headers and body, as sent on the wire).
    pub data: String,
}

impl Delivered {
    pub fn to(&self, addr: &str) -> bool {
        self.rcpt_tos.iter().any(|r| r.eq_ignore_ascii_case(addr))
    }
    /// The value of a header (first occurrence), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
    /// The body, with quoted-printable soft breaks and escapes decoded (what a reader sees).
    pub fn body(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        decode_qp(body)
    }
}

fn decode_qp(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if let (b'=', Some(b)) = (bytes[i], hex) {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        tokio::task::spawn_blocking(Self::start_blocking)
            .await
            .expect("SMTP sink starts")
    }

    fn start_blocking() -> SmtpSink {
        let py = python();
        let dir = tempfile::tempdir().expect("temp dir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/smtp_sink.py");
        let mut child = Command::new(py)
            .arg(&script)
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the test SMTP server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the SMTP server prints its port");
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the test SMTP server did not start: {line:?}"));
        SmtpSink { port, dir, child }
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Points a test server's configuration at this SMTP server.
    pub fn configure(&self, c: &mut Config) {
        c.smtp_url = Some(self.url());
    }

    /// Every message delivered so far, in order of delivery.
    pub fn messages(&self) -> Vec<Delivered> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).expect("read a delivered message");
                serde_json::from_str(&text).expect("a delivered message record")
            })
            .collect()
    }

    /// Waits (up to 10 s) until at least `n` messages were delivered; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Delivered> {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > until {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
