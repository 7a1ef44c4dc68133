//! Attachment benchmark (issue 4): upload and download throughput for 20 files of 5 MB,
//! encrypted, next to a plain `cp` + `sync` (of those files and their folder: the same
//! durability as an upload) of the same files on the same disk; and the
//! server's memory during 8 concurrent 50 MB uploads. It prints figures and never fails
//! because of time.
//!
//! ```text
//! cargo bench --bench attachments               # full size
//! BENCH_QUICK=1 cargo bench --bench attachments # small sizes (CI smoke)
//! ```
//!
//! The server is the real binary (`consilium serve --demo`, SQLite, local folder store,
//! the default durability: every blob fsynced and renamed, its folder fsynced, then the
//! SQLite commit with `synchronous=FULL`) in its own process, so its resident memory can be
//! read from `/proc/<pid>/status`. Its data folder and the `cp` target are in the same
//! temporary folder, on the same disk. The client runs in this process, one request at a
//! time for throughput (the latency a user waits for, not a parallel best case).

use sha2::Digest;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "csl_demo_petit";

struct Sizes {
    files: usize,
    file_bytes: usize,
    runs: usize,
    concurrent: usize,
    big_bytes: usize,
}

fn sizes() -> Sizes {
    if std::env::var_os("BENCH_QUICK").is_some() {
        Sizes {
            files: 5,
            file_bytes: 1_000_000,
            runs: 1,
            concurrent: 4,
            big_bytes: 5_000_000,
        }
    } else {
        Sizes {
            files: 20,
            file_bytes: 5_000_000,
            runs: 3,
            concurrent: 8,
            big_bytes: 50_000_000,
        }
    }
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_consilium"))
            .args(["serve", "--demo"])
            .env("CONSILIUM_DATA_DIR", dir)
            .env("CONSILIUM_LISTEN", "127.0.0.1:0")
            .env("CONSILIUM_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start consilium serve");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let mut base = None;
        for line in lines.by_ref() {
            let line = line.expect("a line");
            if let Some(rest) = line.strip_prefix("Consilium is running on ") {
                base = Some(rest.trim().to_string());
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base: base.expect("the server printed its address"),
        }
    }

    /// Resident memory of the server process, in bytes.
    fn rss(pid: u32) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DICOM file (stored as sent, streamed) of pseudo-random bytes: incompressible, like
/// imaging data, and never re-encoded, so the figure is the store's own cost.
fn dicom(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; 128];
    v.extend_from_slice(b"DICM");
    let mut x = seed | 1;
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    v
}

fn multipart(name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----consiliumbench7f3a";
    let mut body = Vec::with_capacity(bytes.len() + 256);
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn draft(c: &reqwest::Client, base: &str) -> String {
    let r = c
        .post(format!("{base}/api/v1/cases"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "patient": {"birth_family_name": "Banc", "given_names": "Essai",
                        "birth_date": "1975-05-05", "sex": "M",
                        "identity_status": "provisional"},
            "reason": "Imagerie", "question": "Avis ?"
        }))
        .send()
        .await
        .expect("draft");
    assert_eq!(r.status().as_u16(), 201, "draft created");
    let v: serde_json::Value = r.json().await.expect("json");
    v["id"].as_str().expect("id").to_string()
}

async fn upload(c: &reqwest::Client, base: &str, case: &str, path: &Path) -> String {
    let bytes = tokio::fs::read(path).await.expect("read the file");
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("f.dcm");
    let (ct, body) = multipart(name, &bytes);
    let r = c
        .post(format!("{base}/api/v1/cases/{case}/attachments"))
        .bearer_auth(TOKEN)
        .header("Content-Type", ct)
        .body(body)
        .send()
        .await
        .expect("upload");
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(status, 201, "upload: {v}");
    v[0]["id"].as_str().expect("id").to_string()
}

fn mb_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn cp_sync(files: &[PathBuf], to: &Path) -> Duration {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).expect("target folder");
    let t = Instant::now();
    let st = Command::new("cp").args(files).arg(to).status().expect("cp");
    assert!(st.success());
    // `sync FILE…` fsyncs exactly these files (and the folder), the durability an upload
    // gives, without flushing the rest of the machine's dirty pages.
    let copies: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.file_name().map(|n| to.join(n)))
        .collect();
    let st = Command::new("sync")
        .args(&copies)
        .arg(to)
        .status()
        .expect("sync");
    assert!(st.success());
    t.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sz = sizes();
    let tmp = tempfile::tempdir().expect("temp dir");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    let mut files = Vec::new();
    for i in 0..sz.files {
        let p = src.join(format!("image-{i:02}.dcm"));
        std::fs::write(&p, dicom(i as u64 + 1, sz.file_bytes)).expect("write");
        files.push(p);
    }
    let total = sz.files * sz.file_bytes;
    let server = Server::start(&tmp.path().join("data"));
    let pid = server.child.id();
    let c = reqwest::Client::new();
    let base = server.base.clone();
    // Warm-up: one small upload and download (connection, page cache of the binary).
    let warm = draft(&c, &base).await;
    upload(&c, &base, &warm, &files[0]).await;

    println!(
        "attachments: {} files of {} bytes, {} run(s) each, median",
        sz.files, sz.file_bytes, sz.runs
    );
    let mut cps = Vec::new();
    let mut ups = Vec::new();
    let mut downs = Vec::new();
    for run in 0..sz.runs {
        cps.push(cp_sync(&files, &tmp.path().join(format!("cp-{run}"))));
        let case = draft(&c, &base).await;
        let t = Instant::now();
        let mut ids = Vec::new();
        for f in &files {
            ids.push(upload(&c, &base, &case, f).await);
        }
        ups.push(t.elapsed());
        let t = Instant::now();
        let mut got = 0usize;
        for id in &ids {
            let r = c
                .get(format!("{base}/api/v1/cases/{case}/attachments/{id}"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("download");
            assert_eq!(r.status().as_u16(), 200);
            got += r.bytes().await.expect("body").len();
        }
        downs.push(t.elapsed());
        assert_eq!(got, total, "every byte came back");
    }
    let (cp, up, down) = (median(cps), median(ups), median(downs));
    println!(
        "  cp + sync          {:>8.1} ms  {:>7.1} MB/s",
        cp.as_secs_f64() * 1e3,
        mb_s(total, cp)
    );
    println!(
        "  upload (encrypt)   {:>8.1} ms  {:>7.1} MB/s  ratio to cp+sync {:.2}",
        up.as_secs_f64() * 1e3,
        mb_s(total, up),
        up.as_secs_f64() / cp.as_secs_f64()
    );
    println!(
        "  download (decrypt) {:>8.1} ms  {:>7.1} MB/s  ratio to cp+sync {:.2}",
        down.as_secs_f64() * 1e3,
        mb_s(total, down),
        down.as_secs_f64() / cp.as_secs_f64()
    );

    // Where an upload's time goes, in this process: the cipher and the hash alone.
    let data = dicom(7, total);
    let key = consilium::attachments::crypto::Key::random();
    let t = Instant::now();
    let mut e = consilium::attachments::crypto::Encryptor::new(
        &key,
        consilium::attachments::crypto::BlobContext {
            case_id: "bench".into(),
            blob_id: "bench/main".into(),
        },
    );
    let mut n = 0usize;
    for piece in data.chunks(256 * 1024) {
        n += e.update(piece).len();
    }
    n += e.finish().len();
    let enc = t.elapsed();
    let t = Instant::now();
    let digest = sha2::Sha256::digest(&data);
    let hash = t.elapsed();
    println!(
        "  in-process: XChaCha20-Poly1305 {:.0} MB/s ({n} bytes out), SHA-256 {:.0} MB/s ({:02x}…)",
        mb_s(total, enc),
        mb_s(total, hash),
        digest[0]
    );

    // Memory: N concurrent big uploads, the server's RSS sampled every 5 ms.
    let big: Vec<PathBuf> = (0..sz.concurrent)
        .map(|i| {
            let p = src.join(format!("big-{i}.dcm"));
            std::fs::write(&p, dicom(100 + i as u64, sz.big_bytes)).expect("write");
            p
        })
        .collect();
    let mut cases = Vec::new();
    for _ in 0..sz.concurrent {
        cases.push(draft(&c, &base).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = Server::rss(pid);
    let peak = Arc::new(AtomicU64::new(idle));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(Server::rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (case, path) in cases.into_iter().zip(big) {
        let (c, base) = (c.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            upload(&c, &base, &case, &path).await;
        }));
    }
    for t in tasks {
        t.await.expect("upload task");
    }
    let took = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    let peak = peak.load(Ordering::Relaxed);
    println!(
        "  {} concurrent uploads of {} bytes: {:.1} s; server RSS idle {:.1} MB, peak {:.1} MB, above idle {:.1} MB",
        sz.concurrent,
        sz.big_bytes,
        took.as_secs_f64(),
        idle as f64 / 1e6,
        peak as f64 / 1e6,
        peak.saturating_sub(idle) as f64 / 1e6
    );
    drop(server);
}
