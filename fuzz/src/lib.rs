//! Fuzz targets of `splade`, shared by the cargo-fuzz binaries in
//! `fuzz_targets/` (nightly, libFuzzer) and by the stable smoke driver in
//! `tests/it/fuzz_smoke.rs`, which includes this file with `#[path]`; so it
//! depends only on what the integration tests have (`splade`, `tempfile`).
//!
//! Every target takes arbitrary bytes and must return without a panic, an
//! unbounded allocation or a hang; where the library promises more (a record
//! it accepts has a non-empty id, metrics lie in [0, 1], an index that passes
//! `verify` answers in rank order), the target asserts it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufReader, Cursor};
use std::path::Path;
use std::sync::OnceLock;

use splade::eval::{Qrels, Run, evaluate};
use splade::internal::Meta;
use splade::internal::VectorReader;
use splade::internal::{FieldNames, InputFormat, RecordReader};
use splade::search;
use splade::{Index, IndexWriter, Query, StoredDoc, WriterOptions};

/// The files of a small valid index, built once: name -> bytes, plus its
/// parsed `meta.json`.
pub struct Template {
    /// Every file of the index, `meta.json` included.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The parsed `meta.json`.
    pub meta: Meta,
}

/// Tokens of the template index; `common` is in every document, so its list
/// spans two blocks.
pub const TERMS: [&str; 8] = ["common", "rust", "law", "##s", "é", "日本", "a", "zz"];
/// Documents of the template index.
pub const DOCS: u32 = 200;

/// The `(token, weight)` pairs of template document `d`.
pub fn template_terms(d: u32) -> Vec<(&'static str, f32)> {
    TERMS
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || (d as usize + i).is_multiple_of(i + 1))
        .map(|(i, t)| (*t, 0.05 + ((d as usize * 7 + i * 13) % 97) as f32 / 31.0))
        .collect()
}

/// The template, built on first use.
pub fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = WriterOptions {
            store: true,
            ..WriterOptions::default()
        };
        let mut w = IndexWriter::create(dir.path(), options).expect("writer");
        for d in 0..DOCS {
            let title = (d % 3 == 0).then(|| format!("title {d}"));
            let stored = StoredDoc {
                title,
                text: format!("text of document {d}"),
            };
            w.add_stored(&format!("doc-{d}"), &template_terms(d), &stored)
                .expect("add");
        }
        w.commit().expect("commit");
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(dir.path()).expect("read dir") {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().into_owned();
            files.insert(name, std::fs::read(e.path()).expect("read"));
        }
        let meta = serde_json::from_slice(&files["meta.json"]).expect("meta");
        Template { files, meta }
    })
}

/// Names of the template's files in selector order (`meta.json` last).
pub fn file_names() -> Vec<String> {
    let t = template();
    let mut names: Vec<String> = t
        .meta
        .segments
        .iter()
        .flat_map(|s| s.files.iter().map(|f| f.name.clone()))
        .collect();
    names.push("meta.json".into());
    names
}

/// Appends the page table of format 6 and the 16-byte footer (length,
/// CRC32, `SPLE`) to a file body.
pub fn with_footer(body: &[u8]) -> Vec<u8> {
    // The page table of format 6 (CRC32 of each 4 KiB page, then body
    // length, page size and `SPLP`), which a file of an older version in
    // its header carries as bytes its footer's CRC covers.
    let mut out = body.to_vec();
    for page in body.chunks(PAGE) {
        out.extend_from_slice(&crc32(page).to_le_bytes());
    }
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&(PAGE as u32).to_le_bytes());
    out.extend_from_slice(b"SPLP");
    let total = out.len() as u64 + 16;
    let crc = crc32(&out);
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(b"SPLE");
    out
}

/// The page size of format 6.
const PAGE: usize = 4096;

/// CRC32 (IEEE), as the index computes it; bitwise so that this file needs
/// no dependency beyond the test's.
pub fn crc32(bytes: &[u8]) -> u32 {
    static TABLE: OnceLock<[u32; 256]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    !bytes.iter().fold(!0u32, |c, &b| {
        table[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8)
    })
}

thread_local! {
    static DIR: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's scratch directory (created once).
fn with_scratch<R>(f: impl FnOnce(&Path) -> R) -> R {
    DIR.with(|d| {
        let mut d = d.borrow_mut();
        let dir = d.get_or_insert_with(|| tempfile::tempdir().expect("temp dir"));
        f(dir.path())
    })
}

/// Index reader target. `data[0]` picks the file to replace (the segment
/// files, then `meta.json`), `data[1]` holds flags, the rest is the new
/// content:
/// - flag 1: the content is a file body; append a valid footer;
/// - flag 2: update `meta.json`'s length and CRC of the file to match.
///
/// With both flags a binary file is checksum-valid garbage: `open` and
/// `verify` must accept its frame and every lookup must still be safe.
pub fn index_files(data: &[u8]) {
    let [sel, flags, payload @ ..] = data else {
        return;
    };
    let t = template();
    let names = file_names();
    let target = &names[*sel as usize % names.len()];
    let is_meta = target == "meta.json";
    let content = if flags & 1 != 0 && !is_meta {
        with_footer(payload)
    } else {
        payload.to_vec()
    };
    let mut meta = t.meta.clone();
    if flags & 2 != 0 && !is_meta {
        for f in meta.segments.iter_mut().flat_map(|s| s.files.iter_mut()) {
            if &f.name == target {
                f.len = content.len() as u64;
                f.crc32 = crc32(&content[..content.len().saturating_sub(16)]);
            }
        }
    }
    with_scratch(|dir| {
        for (name, bytes) in &t.files {
            let bytes: &[u8] = if name == target {
                &content
            } else if name == "meta.json" && flags & 2 != 0 {
                &[]
            } else {
                bytes
            };
            if name == "meta.json" && flags & 2 != 0 && !is_meta {
                let text = serde_json::to_vec(&meta).expect("meta json");
                std::fs::write(dir.join(name), text).expect("write");
            } else {
                std::fs::write(dir.join(name), bytes).expect("write");
            }
        }
        let Ok(index) = Index::open(dir) else {
            return;
        };
        let verified = index.verify().is_ok();
        if flags & 3 == 3 && !is_meta && content.len() >= 16 {
            // Our own footer and meta entry: only the body can be wrong, and
            // the body is not what verify checks.
            assert!(verified, "verify rejects a file with a valid frame");
        }
        exercise(&index, payload);
    });
}

/// Searches and reads an open index the way the CLI does; asserts what holds
/// for any index, damaged or not.
pub fn exercise(index: &Index, payload: &[u8]) {
    let n = index.num_docs();
    let _ = index.stats();
    let extra = String::from_utf8_lossy(&payload[..payload.len().min(8)]).into_owned();
    let mut queries: Vec<Vec<(&str, f32)>> = TERMS.iter().map(|t| vec![(*t, 1.0)]).collect();
    queries.push(TERMS.iter().map(|t| (*t, 0.5)).collect());
    queries.push(vec![(extra.as_str(), 2.0), ("", 1.0), ("common", f32::NAN)]);
    for q in &queries {
        // A damaged page read is refused, never answered from.
        let Ok(hits) = search(index, &Query::new(q.iter().copied()), 10) else {
            continue;
        };
        assert!(hits.len() <= 10);
        for w in hits.windows(2) {
            let ordered =
                w[0].score > w[1].score || (w[0].score == w[1].score && w[0].doc < w[1].doc);
            assert!(ordered, "hits out of rank order: {w:?}");
        }
        for h in &hits {
            assert!(h.doc < n, "hit {} of {n} documents", h.doc);
            assert!(h.score > 0.0, "non-positive hit score {}", h.score);
            let _ = index.doc_id(h.doc);
            let _ = index.stored(h.doc);
        }
    }
    for d in [0, n / 2, n.saturating_sub(1)] {
        if d < n {
            let _ = index.doc_id(d);
            let _ = index.stored(d);
            let _ = index.doc_vector(d);
        }
    }
}

/// Document and query reader target: every line through [`RecordReader`].
pub fn records(format: InputFormat, data: &[u8]) {
    let reader = Box::new(BufReader::new(Cursor::new(data.to_vec())));
    let mut last_line = 0;
    for r in RecordReader::new("fuzz".into(), reader, format, FieldNames::default()) {
        match r {
            Ok(doc) => {
                assert!(!doc.id.is_empty(), "accepted an empty id");
                assert!(doc.line > last_line, "line numbers go backwards");
                last_line = doc.line;
                let _ = doc.full_text();
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with("fuzz:"), "error without location: {msg}");
            }
        }
    }
}

/// Vector reader target; what the reader accepts, the index writer must
/// accept too (unless the id repeats), and the index must then verify.
pub fn vectors(data: &[u8]) {
    let reader = Box::new(BufReader::new(Cursor::new(data.to_vec())));
    let mut accepted = Vec::new();
    for r in VectorReader::new("fuzz".into(), reader) {
        match r {
            Ok(rec) => {
                assert!(!rec.id.is_empty(), "accepted an empty id");
                for (t, w) in &rec.terms {
                    assert!(w.is_finite() && *w > 0.0, "term {t:?} has weight {w}");
                }
                accepted.push(rec);
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with("fuzz:"), "error without location: {msg}");
            }
        }
    }
    if accepted.is_empty() {
        return;
    }
    with_scratch(|dir| {
        let _ = std::fs::remove_dir_all(dir);
        let mut w = IndexWriter::create(dir, WriterOptions::default()).expect("writer");
        let mut added = Vec::new();
        for rec in &accepted {
            let terms: Vec<(&str, f32)> = rec.terms.iter().map(|(t, w)| (t.as_str(), *w)).collect();
            match w.add(&rec.id, &terms) {
                Ok(()) => added.push(rec),
                Err(splade::IndexError::DuplicateId { .. }) => {}
                Err(splade::IndexError::InvalidVector { message, .. })
                    if message.contains("empty term") => {}
                Err(e) => panic!("reader accepted what the writer refuses: {e}"),
            }
        }
        w.commit().expect("commit");
        let index = Index::open(dir).expect("open what was just written");
        index.verify().expect("verify what was just written");
        assert_eq!(index.num_docs() as usize, added.len());
        for (d, rec) in added.iter().enumerate().take(20) {
            assert_eq!(
                index.doc_id(d as u32).expect("id of what was just written"),
                rec.id
            );
            let terms: Vec<(&str, f32)> = rec.terms.iter().map(|(t, w)| (t.as_str(), *w)).collect();
            let hits = search(&index, &Query::new(terms.iter().copied()), 3)
                .expect("search what was just written");
            // Weights far below f32's normal range may underflow to a zero
            // score; anything reasonable must find its own document.
            if terms.iter().any(|(t, w)| !t.is_empty() && *w >= 1e-3) {
                assert!(
                    !hits.is_empty(),
                    "document {d} finds nothing with its own terms"
                );
            }
        }
    });
}

/// Qrels and run reader target: both parsers over the same bytes, then
/// evaluation; every measure must be finite and in [0, 1].
pub fn qrels_run(data: &[u8]) {
    let qrels = Qrels::parse(Cursor::new(data), "fuzz");
    let run = Run::parse(Cursor::new(data), "fuzz");
    for e in [qrels.as_ref().err(), run.as_ref().err()]
        .into_iter()
        .flatten()
    {
        let msg = e.to_string();
        assert!(msg.starts_with("fuzz:"), "error without location: {msg}");
    }
    let (Ok(qrels), Ok(run)) = (qrels, run) else {
        return;
    };
    for min_rel in [1, 0, 2] {
        let ev = evaluate(&run, &qrels, min_rel);
        for m in ev.per_query.values().chain([&ev.mean]) {
            for v in [
                m.ndcg_at_10,
                m.rr_at_10,
                m.recall_at_100,
                m.recall_at_1000,
                m.map,
            ] {
                assert!(
                    (0.0..=1.0 + 1e-9).contains(&v),
                    "measure {v} out of [0, 1]: {m:?}"
                );
            }
        }
    }
}

/// Names of the targets, as [`run_target`] and `fuzz_targets/` know them.
pub const TARGETS: [&str; 5] = [
    "index_files",
    "jsonl_docs",
    "queries",
    "vectors",
    "qrels_run",
];

/// Runs target `name` on `data`.
pub fn run_target(name: &str, data: &[u8]) {
    match name {
        "index_files" => index_files(data),
        "jsonl_docs" => records(InputFormat::Jsonl, data),
        "queries" => records(InputFormat::Auto, data),
        "vectors" => vectors(data),
        "qrels_run" => qrels_run(data),
        other => panic!("no fuzz target {other}"),
    }
}

/// Valid (and nearly valid) inputs to start each target's corpus from.
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    let text = |s: &str| s.as_bytes().to_vec();
    match name {
        "index_files" => {
            let t = template();
            let mut out = Vec::new();
            for (i, file) in file_names().iter().enumerate() {
                let bytes = &t.files[file];
                out.push([&[i as u8, 0][..], bytes].concat());
                if file != "meta.json" {
                    let body = &bytes[..bytes.len() - 16];
                    out.push([&[i as u8, 3][..], body].concat());
                }
            }
            out
        }
        "jsonl_docs" => vec![
            text(
                "{\"_id\":\"a\",\"title\":\"T\",\"text\":\"body\"}\n{\"id\":7,\"contents\":\"c\"}\n",
            ),
            text(
                "\u{feff}{\"id\":\"x\",\"text\":\"crlf\"}\r\n\r\n{\"id\":\"y\",\"text\":\"\",\"title\":null}\n",
            ),
            text(
                "{\"id\":\"a\"}\n{\"id\":\"\",\"text\":\"e\"}\n{\"id\":[1],\"text\":2}\nnot json\n",
            ),
        ],
        "queries" => vec![
            text("q1\twhat is rust\nq 2\thello world\n"),
            text("{\"id\":\"q3\",\"text\":\"x\"}\n\tno id\nnotab\n"),
        ],
        "vectors" => vec![
            text(
                "{\"id\":\"a\",\"vector\":{\"rust\":1.5,\"law\":0.25,\"##s\":0}}\n{\"id\":2,\"vector\":{}}\n",
            ),
            text(
                "{\"_id\":\"b\",\"vector\":{\"x\":-1}}\n{\"id\":\"c\",\"vector\":{\"y\":1e-50,\"z\":1e300}}\n",
            ),
        ],
        "qrels_run" => vec![
            text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\nq2\td3\t0\n"),
            text("q1 0 d1 1\nq1 Q0 d2 1 0.5 run\nq1 Q0 d1 2 0.25 run\n"),
            text("q1 Q0 d1 1 NaN run\nq1 Q0 d2 2 inf run\nq1 0 d2 -3\n"),
        ],
        other => panic!("no fuzz target {other}"),
    }
}
