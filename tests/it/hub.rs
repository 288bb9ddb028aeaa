//! The Hugging Face download path, against a server on 127.0.0.1 that
//! answers like the hub (`HF_ENDPOINT`), serving the tiny random checkpoint.
//!
//! What `hf-hub` asks of the hub: `GET /{repo}/resolve/{revision}/{file}`
//! with `Range: bytes=0-0` first (read `X-Repo-Commit`, `ETag` and the size
//! after the `/` of `Content-Range`), then the file with `Range: bytes=N-`.
//! The cache it fills (`$HF_HOME/hub/models--owner--name/{blobs,snapshots,
//! refs}`) is the one Python's `huggingface_hub` reads.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::fixtures::{Style, jsonl, stderr, stdout, write_tiny_model};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const PINNED: &str = "fedcba9876543210fedcba9876543210fedcba98";
const FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

/// How the server misbehaves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// Sends half of model.safetensors, announcing its full size in
    /// `Content-Range` but no `Content-Length`, then closes.
    TruncateUnannounced,
    /// Sends half of model.safetensors under a full `Content-Length`.
    TruncateAnnounced,
}

/// A repository: commit -> file -> bytes; `main` points at one commit.
struct FakeRepo {
    main: &'static str,
    commits: HashMap<&'static str, HashMap<String, Vec<u8>>>,
}

struct FakeHub {
    port: u16,
    stop: Arc<AtomicBool>,
    fault: Arc<Mutex<Fault>>,
    /// `"GET path range"` of every request.
    log: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeHub {
    fn start(repos: HashMap<&'static str, FakeRepo>) -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let fault = Arc::new(Mutex::new(Fault::None));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, f, l) = (stop.clone(), fault.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let fault = *f.lock().unwrap();
                    let _ = serve(stream, &repos, fault, &l);
                }
            }
        });
        FakeHub {
            port,
            stop,
            fault,
            log,
            thread: Some(thread),
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Stops the server; its port refuses connections afterwards.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A stand-in for the hub's ETag: a content hash (FNV-1a, 64 bits), so that
/// two different files never share a blob.
fn etag(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// Answers one request (one per connection, `Connection: close`).
fn serve(
    mut stream: TcpStream,
    repos: &HashMap<&'static str, FakeRepo>,
    fault: Fault,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_owned());
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_owned();
    log.lock()
        .unwrap()
        .push(format!("GET {path} {}", range.as_deref().unwrap_or("-")));
    let Some(bytes_and_commit) = lookup(repos, &path) else {
        let body = b"{\"error\":\"Repository Not Found\"}";
        write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nX-Error-Code: RepoNotFound\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        return stream.write_all(body);
    };
    let (bytes, commit, file) = bytes_and_commit;
    let start: usize = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let end = match range.as_deref() {
        Some("bytes=0-0") => 1,
        _ => bytes.len(),
    };
    let start = start.min(end);
    let mut body = &bytes[start..end];
    let truncate = end > 1 && file == "model.safetensors" && fault != Fault::None;
    let mut head = format!(
        "HTTP/1.1 206 Partial Content\r\nX-Repo-Commit: {commit}\r\nETag: \"{}\"\r\n\
         Content-Range: bytes {start}-{}/{}\r\nConnection: close\r\n",
        etag(bytes),
        end.saturating_sub(1),
        bytes.len()
    );
    if fault != Fault::TruncateUnannounced || !truncate {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if truncate {
        body = &body[..body.len() / 2];
    }
    stream.write_all(head.as_bytes())?;
    stream.write_all(b"\r\n")?;
    stream.write_all(body)?;
    stream.flush()
}

/// The bytes, commit and file name for `/{owner}/{name}/resolve/{rev}/{file}`.
fn lookup<'a>(
    repos: &'a HashMap<&'static str, FakeRepo>,
    path: &str,
) -> Option<(&'a [u8], &'static str, String)> {
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    let [owner, name, "resolve", rev, file] = parts.as_slice() else {
        return None;
    };
    let repo = repos.get(format!("{owner}/{name}").as_str())?;
    let commit = if *rev == "main" { repo.main } else { rev };
    let (commit, files) = repo.commits.get_key_value(commit)?;
    Some((files.get(*file)?.as_slice(), commit, file.to_string()))
}

fn model_files(dir: &Path) -> HashMap<String, Vec<u8>> {
    FILES
        .iter()
        .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap()))
        .collect()
}

/// A temp dir with the tiny model in `model/` and a hub serving it as
/// `fake/tiny` (`main` = [`COMMIT`]).
fn hub_with_tiny_model() -> (tempfile::TempDir, FakeHub) {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny_model(&tmp.path().join("model"), Style::default(), None, None);
    std::fs::write(tmp.path().join("docs.jsonl"), docs()).unwrap();
    let files = model_files(&tmp.path().join("model"));
    let repo = FakeRepo {
        main: COMMIT,
        commits: HashMap::from([(COMMIT, files)]),
    };
    (tmp, FakeHub::start(HashMap::from([("fake/tiny", repo)])))
}

fn docs() -> &'static str {
    "{\"id\":\"d1\",\"text\":\"the law implied warranty\"}\n\
     {\"id\":\"d2\",\"text\":\"sparse vector search index\"}\n"
}

/// Runs `splade` with the hub at `endpoint` and the cache in `home`, with
/// no proxy (ureq honours the proxy variables and has no `NO_PROXY`).
fn splade_hub(cwd: &Path, endpoint: &str, home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(crate::fixtures::splade_bin());
    cmd.args(args)
        .current_dir(cwd)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", home);
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HF_HUB_OFFLINE",
        "HF_TOKEN",
        "HF_HUB_CACHE",
        "SPLADE_MODEL",
        "SPLADE_INDEX",
    ] {
        cmd.env_remove(var);
    }
    cmd.output().expect("spawn splade")
}

fn encode_ok(cwd: &Path, endpoint: &str, home: &Path, extra: &[&str]) -> String {
    let mut args = vec!["encode", "docs.jsonl", "-q"];
    args.extend_from_slice(extra);
    let out = splade_hub(cwd, endpoint, home, &args);
    assert!(out.status.success(), "splade {args:?}: {}", stderr(&out));
    stdout(&out)
}

fn encode_fails(cwd: &Path, endpoint: &str, home: &Path, extra: &[&str]) -> String {
    let mut args = vec!["encode", "docs.jsonl", "-q"];
    args.extend_from_slice(extra);
    let out = splade_hub(cwd, endpoint, home, &args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "should fail: {err}");
    assert!(
        err.starts_with("splade: ") && !err.contains("panicked"),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "nothing encoded: {}", stdout(&out));
    err
}

/// What the local folder gives, to compare the hub's model with.
fn local_vectors(cwd: &Path) -> String {
    crate::fixtures::ok(cwd, &["encode", "docs.jsonl", "--model", "model", "-q"])
}

/// The error names the repo and says how to do without the hub.
fn assert_explains(err: &str, repo: &str) {
    assert!(err.contains(&format!("`{repo}`")), "names the repo: {err}");
    assert!(
        err.contains("local folder") && err.contains("--model DIR"),
        "says how to pass a local folder: {err}"
    );
}

fn cache_dir(home: &Path) -> PathBuf {
    home.join("hub/models--fake--tiny")
}

#[test]
fn download_fills_the_python_cache_and_a_second_run_needs_no_server() {
    let (tmp, mut hub) = hub_with_tiny_model();
    let home = tmp.path().join("hf");
    let expected = local_vectors(tmp.path());
    let got = encode_ok(
        tmp.path(),
        &hub.endpoint(),
        &home,
        &["--model", "fake/tiny"],
    );
    assert_eq!(got, expected, "the hub's model encodes like the folder");
    assert_eq!(jsonl(&got).len(), 2);

    let requests = hub.requests();
    for file in FILES {
        let url = format!("/fake/tiny/resolve/main/{file}");
        assert!(
            requests.contains(&format!("GET {url} bytes=0-0")),
            "{requests:?}"
        );
        assert!(
            requests.contains(&format!("GET {url} bytes=0-")),
            "{requests:?}"
        );
    }

    // The layout huggingface_hub reads: refs/main holds the commit,
    // snapshots/<commit>/<file> links to blobs/<etag>.
    let cache = cache_dir(&home);
    assert_eq!(
        std::fs::read_to_string(cache.join("refs/main")).unwrap(),
        COMMIT
    );
    let served = model_files(&tmp.path().join("model"));
    for file in FILES {
        let pointer = cache.join("snapshots").join(COMMIT).join(file);
        let target = std::fs::read_link(&pointer).expect("a symlink into blobs");
        assert_eq!(
            target,
            Path::new("../../blobs").join(etag(&served[file])),
            "{file}"
        );
        assert_eq!(std::fs::read(&pointer).unwrap(), served[file], "{file}");
    }
    // hf-hub leaves its (empty) `<etag>.lock` files next to the blobs;
    // huggingface_hub only follows the snapshot links.
    let mut blobs: Vec<String> = std::fs::read_dir(cache.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    blobs.sort();
    let mut etags: Vec<String> = FILES.iter().map(|f| etag(&served[*f])).collect();
    etags.sort();
    assert_eq!(blobs, etags, "one blob per file, no partial file left");

    hub.stop();
    let n = hub.requests().len();
    let again = encode_ok(
        tmp.path(),
        &hub.endpoint(),
        &home,
        &["--model", "fake/tiny"],
    );
    assert_eq!(again, expected, "the cache serves the second run");
    assert_eq!(hub.requests().len(), n, "no request to the stopped server");
}

#[test]
fn revision_pins_a_commit() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny_model(&tmp.path().join("model"), Style::default(), None, None);
    std::fs::write(tmp.path().join("docs.jsonl"), docs()).unwrap();
    let good = model_files(&tmp.path().join("model"));
    // `main` moved on to a commit whose config is broken: only the pinned
    // commit gives a model.
    let mut broken = good.clone();
    broken.insert(
        "config.json".into(),
        b"{\"not\": \"a bert config\"}".to_vec(),
    );
    let repo = FakeRepo {
        main: COMMIT,
        commits: HashMap::from([(COMMIT, broken), (PINNED, good)]),
    };
    let hub = FakeHub::start(HashMap::from([("fake/tiny", repo)]));
    let home = tmp.path().join("hf");
    let expected = local_vectors(tmp.path());
    let got = encode_ok(
        tmp.path(),
        &hub.endpoint(),
        &home,
        &["--model", "fake/tiny", "--revision", PINNED],
    );
    assert_eq!(got, expected);
    let requests = hub.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.contains(&format!("/resolve/{PINNED}/"))),
        "{requests:?}"
    );
    let snapshots = cache_dir(&home).join("snapshots");
    assert!(snapshots.join(PINNED).join("model.safetensors").is_file());
    assert!(!snapshots.join(COMMIT).exists());
    // Without the pin, main's broken config is what loads.
    encode_fails(
        tmp.path(),
        &hub.endpoint(),
        &home,
        &["--model", "fake/tiny"],
    );
}

#[test]
fn missing_repo_names_it_and_the_local_alternative() {
    let (tmp, hub) = hub_with_tiny_model();
    let home = tmp.path().join("hf");
    let err = encode_fails(
        tmp.path(),
        &hub.endpoint(),
        &home,
        &["--model", "fake/no-such-model"],
    );
    assert_explains(&err, "fake/no-such-model");
    assert!(
        err.contains("404") && err.contains("no such repository"),
        "{err}"
    );
}

#[test]
fn server_down_names_the_repo_and_the_local_alternative() {
    let (tmp, mut hub) = hub_with_tiny_model();
    hub.stop();
    let home = tmp.path().join("hf");
    let err = encode_fails(
        tmp.path(),
        &hub.endpoint(),
        &home,
        &["--model", "fake/tiny"],
    );
    assert_explains(&err, "fake/tiny");
    assert!(err.contains("cannot be reached"), "{err}");
    assert!(!cache_dir(&home).join("snapshots").exists());
}

/// A download cut short is never loaded, whether the server announced the
/// full length (the client notices) or not (only the size does); the next
/// run against a healthy server completes it.
#[test]
fn truncated_download_is_refused_and_the_next_run_completes_it() {
    for fault in [Fault::TruncateUnannounced, Fault::TruncateAnnounced] {
        let (tmp, hub) = hub_with_tiny_model();
        let home = tmp.path().join("hf");
        hub.set_fault(fault);
        let err = encode_fails(
            tmp.path(),
            &hub.endpoint(),
            &home,
            &["--model", "fake/tiny"],
        );
        assert_explains(&err, "fake/tiny");
        assert!(err.contains("model.safetensors"), "{err}");
        let pointer = cache_dir(&home)
            .join("snapshots")
            .join(COMMIT)
            .join("model.safetensors");
        assert!(!pointer.exists(), "no half file in the snapshot");

        hub.set_fault(Fault::None);
        let got = encode_ok(
            tmp.path(),
            &hub.endpoint(),
            &home,
            &["--model", "fake/tiny"],
        );
        assert_eq!(got, local_vectors(tmp.path()));
        let served = model_files(&tmp.path().join("model"));
        assert_eq!(
            std::fs::read(&pointer).unwrap(),
            served["model.safetensors"]
        );
    }
}
