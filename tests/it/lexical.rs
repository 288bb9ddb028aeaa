//! Lexical (BM25) postings in the index, through the binary: what
//! `--no-lexical`, `--lexical-only`, `--bm25-k1/-b` and vectors with texts
//! build; BM25 scores equal to an in-memory computation with
//! `splade::lexical` (itself bit for bit bm25s's); the three claims of
//! `docs/format.md` on append, delete and compact, compared on the `f32`
//! bits of every hit; older formats refused for BM25 with the way to
//! rebuild; `verify` catching damage in each lexical file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use splade::lexical::bm25::{TermMatch, score};
use splade::lexical::{Analyzer, Bm25Params, CollectionStats};
use splade::{Index, IndexError};
use splade::{explain_bm25, search_bm25};

use crate::fixtures::{fails, jsonl, meta_json, ok, run_splade, stderr, with_docs};

/// Words of the test corpus: stems that merge (`river`/`rivers`,
/// `running`/`runs`), stopwords, non-ASCII letters, a one-letter token.
const WORDS: [&str; 24] = [
    "river", "rivers", "running", "runs", "stone", "stones", "bridge", "flood", "the", "and", "of",
    "café", "naïve", "x", "water", "mill", "valley", "ancient", "road", "law", "implied",
    "warranty", "rust", "index",
];

/// Queries: single stems, repeats, stopwords only, unknown words.
const QUERIES: [&str; 8] = [
    "river",
    "running stones",
    "the bridge of the river valley",
    "flood flood water",
    "café naïve",
    "the and of",
    "zebra unicorn",
    "ancient road mill law warranty rust index",
];

/// A document: id, title, text.
type Doc = (String, Option<String>, String);

/// `n` documents from a fixed pseudo-random draw of [`WORDS`]: lengths 0 to
/// 29, every fourth with a title, one of only stopwords (length 0).
fn corpus(n: usize) -> Vec<Doc> {
    let mut s: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |m: usize| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as usize % m
    };
    (0..n)
        .map(|i| {
            let len = next(30);
            let words: Vec<&str> = (0..len)
                .map(|_| WORDS[next(WORDS.len()).min(next(WORDS.len()))])
                .collect();
            let text = if i == 5 {
                "the and of".to_owned()
            } else {
                words.join(" ")
            };
            let title = (i % 4 == 0).then(|| format!("{} {}", WORDS[i % 8], WORDS[(i / 3) % 24]));
            (format!("d{i}"), title, text)
        })
        .collect()
}

fn to_jsonl(docs: &[Doc]) -> String {
    docs.iter()
        .map(|(id, title, text)| {
            let mut v = serde_json::json!({"id": id, "text": text});
            if let Some(t) = title {
                v["title"] = t.clone().into();
            }
            v.to_string() + "\n"
        })
        .collect()
}

/// `title + " " + text`, as the index analyzes it.
fn full_text(d: &Doc) -> String {
    splade::lexical::document_text(d.1.as_deref().unwrap_or(""), &d.2)
}

/// A ranked hit: external id and the bits of its `f32` score.
type Ranked = Vec<(String, u32)>;

/// BM25 of `query` over `docs`, computed in memory with `splade::lexical`:
/// every document with a score > 0, by score descending, ties by order.
fn reference(docs: &[Doc], query: &str, params: Bm25Params) -> Ranked {
    let analyzer = Analyzer::english();
    let analyzed: Vec<Vec<String>> = docs
        .iter()
        .map(|d| analyzer.analyze(&full_text(d)))
        .collect();
    let stats = CollectionStats::from_lengths(analyzed.iter().map(|t| t.len() as u32));
    let mut df: HashMap<&str, u64> = HashMap::new();
    for terms in &analyzed {
        let mut seen: Vec<&str> = terms.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for t in seen {
            *df.entry(t).or_default() += 1;
        }
    }
    let q = analyzer.analyze(query);
    let mut scored: Vec<(usize, f32)> = analyzed
        .iter()
        .enumerate()
        .map(|(i, terms)| {
            let matches = q.iter().filter_map(|t| {
                let tf = terms.iter().filter(|u| *u == t).count() as u32;
                (tf > 0).then(|| TermMatch {
                    tf,
                    df: df[t.as_str()],
                })
            });
            (i, score(params, stats, terms.len() as u32, matches))
        })
        .filter(|&(_, s)| s > 0.0)
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored
        .into_iter()
        .map(|(i, s)| (docs[i].0.clone(), s.to_bits()))
        .collect()
}

/// `search_bm25` of every query over the index at `dir`: all hits.
fn bm25_runs(dir: &Path) -> Vec<Ranked> {
    let index = Index::open(dir).unwrap();
    QUERIES
        .iter()
        .map(|q| {
            search_bm25(&index, q, 100_000)
                .unwrap()
                .iter()
                .map(|h| (index.doc_id(h.doc).unwrap().to_owned(), h.score.to_bits()))
                .collect()
        })
        .collect()
}

fn references(docs: &[Doc], params: Bm25Params) -> Vec<Ranked> {
    QUERIES.iter().map(|q| reference(docs, q, params)).collect()
}

/// A temp dir holding `docs` as `docs.jsonl` (and no model).
fn dir_with(docs: &[Doc]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("docs.jsonl"), to_jsonl(docs)).unwrap();
    tmp
}

/// Writes `docs` to `dir/name` and builds or appends it, BM25 only.
fn lexical_only(dir: &Path, name: &str, docs: &[Doc], append: bool) {
    std::fs::write(dir.join(name), to_jsonl(docs)).unwrap();
    let mut args = vec!["index", name, "--index", "idx", "--lexical-only", "-q"];
    if append {
        args.push("--append");
    }
    ok(dir, &args);
}

fn extensions(dir: &Path) -> Vec<String> {
    let mut ext: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().unwrap();
            n.starts_with("seg-")
                .then(|| n.rsplit('.').next().unwrap().to_owned())
        })
        .collect();
    ext.sort();
    ext.dedup();
    ext
}

#[test]
fn lexical_only_builds_bm25_without_reading_a_model() {
    let docs = corpus(60);
    let tmp = dir_with(&docs);
    let dir = tmp.path();
    // A model path that does not exist: it is never read.
    ok(
        dir,
        &[
            "index",
            "docs.jsonl",
            "--index",
            "idx",
            "--lexical-only",
            "--model",
            "no/such/model",
            "-q",
        ],
    );
    let index = Index::open(&dir.join("idx")).unwrap();
    assert!(index.has_lexical() && !index.has_splade());
    assert!(index.model().is_none());
    assert_eq!(index.stats().postings, 0, "no SPLADE postings");
    drop(index);
    assert_eq!(
        bm25_runs(&dir.join("idx")),
        references(&docs, Bm25Params::default())
    );
    assert_eq!(
        extensions(&dir.join("idx")),
        ["doc", "lxd", "lxp", "lxt", "pst", "ter"]
    );
    ok(dir, &["verify", "--index", "idx"]);
    let info: serde_json::Value =
        serde_json::from_str(&ok(dir, &["info", "--index", "idx", "--json"])).unwrap();
    assert_eq!(info["splade"], false, "{info}");
    assert_eq!(info["lexical"]["analyzer"], "bm25s-en-snowball3", "{info}");
    assert_eq!(info["lexical"]["k1"], 1.5, "{info}");
    // A SPLADE search says what the index lacks.
    let err = fails(
        dir,
        &["search", "river", "--index", "idx", "--mode", "splade"],
    );
    assert!(err.contains("only BM25 ones"), "{err}");
    assert!(err.contains("--lexical-only"), "{err}");
    // Appending to it loads no model either.
    lexical_only(dir, "more.jsonl", &corpus(70)[60..], true);
    assert_eq!(
        bm25_runs(&dir.join("idx")),
        references(&corpus(70), Bm25Params::default())
    );
}

#[test]
fn default_build_writes_both_and_no_lexical_only_splade() {
    let docs = corpus(40);
    let (tmp, model) = with_docs(&to_jsonl(&docs));
    let dir = tmp.path();
    let index = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "index",
            "docs.jsonl",
            "--index",
            name,
            "--model",
            &model,
            "-q",
        ];
        args.extend_from_slice(extra);
        ok(dir, &args);
        Index::open(&dir.join(name)).unwrap()
    };
    let hybrid = index("hybrid", &[]);
    let splade = index("splade", &["--no-lexical"]);
    assert!(hybrid.has_lexical() && hybrid.has_splade());
    assert!(!splade.has_lexical() && splade.has_splade());
    assert_eq!(extensions(&dir.join("splade")), ["doc", "pst", "ter"]);
    // The SPLADE part is the same index.
    assert_eq!(hybrid.stats().postings, splade.stats().postings);
    assert!(hybrid.stats().bytes > splade.stats().bytes);
    let search = |name: &str| {
        ok(
            dir,
            &["search", "river stones", "--index", name, "-k", "40"],
        )
    };
    assert_eq!(search("hybrid"), search("splade"));
    assert!(!jsonl(&search("hybrid")).is_empty());
    // BM25: as computed in memory; refused on the SPLADE-only index.
    assert_eq!(
        bm25_runs(&dir.join("hybrid")),
        references(&docs, Bm25Params::default())
    );
    let err = search_bm25(&splade, "river", 10).unwrap_err();
    assert!(matches!(err, IndexError::NoLexical { .. }), "{err}");
    assert!(err.to_string().contains("without --no-lexical"), "{err}");
    // An append to the hybrid index writes lexical postings too (the
    // model comes from the index), and one to the SPLADE-only none.
    let more = corpus(55);
    std::fs::write(dir.join("more.jsonl"), to_jsonl(&more[40..])).unwrap();
    for name in ["hybrid", "splade"] {
        ok(
            dir,
            &["index", "--append", "more.jsonl", "--index", name, "-q"],
        );
    }
    assert_eq!(
        bm25_runs(&dir.join("hybrid")),
        references(&more, Bm25Params::default())
    );
    assert!(!Index::open(&dir.join("splade")).unwrap().has_lexical());
    let err = fails(
        dir,
        &[
            "index",
            "--append",
            "more.jsonl",
            "--index",
            "hybrid",
            "--no-lexical",
        ],
    );
    assert!(
        err.contains("--no-lexical") && err.contains("lexical postings"),
        "{err}"
    );
}

#[test]
fn appends_score_as_one_build_bit_for_bit() {
    let docs = corpus(90);
    let tmp = tempfile::tempdir().unwrap();
    let (one, parts) = (tmp.path().join("one"), tmp.path().join("parts"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&parts).unwrap();
    lexical_only(&one, "all.jsonl", &docs, false);
    lexical_only(&parts, "a.jsonl", &docs[..30], false);
    lexical_only(&parts, "b.jsonl", &docs[30..31], true);
    lexical_only(&parts, "c.jsonl", &docs[31..], true);
    assert_eq!(
        meta_json(&parts.join("idx"))["segments"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let whole = bm25_runs(&one.join("idx"));
    assert_eq!(bm25_runs(&parts.join("idx")), whole);
    assert_eq!(whole, references(&docs, Bm25Params::default()));
    assert!(
        whole.iter().filter(|r| r.len() > 5).count() >= 5,
        "{whole:?}"
    );
}

#[test]
fn deletes_leave_other_scores_until_compact() {
    let docs = corpus(80);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    lexical_only(dir, "a.jsonl", &docs[..50], false);
    lexical_only(dir, "b.jsonl", &docs[50..], true);
    let before = bm25_runs(&dir.join("idx"));
    let deleted = ["d3", "d17", "d52", "d79"];
    let mut args = vec!["delete"];
    args.extend_from_slice(&deleted);
    args.extend_from_slice(&["--index", "idx", "-q"]);
    ok(dir, &args);
    let after = bm25_runs(&dir.join("idx"));
    let mut dropped = 0;
    for (b, a) in before.iter().zip(&after) {
        let kept: Ranked = b
            .iter()
            .filter(|(id, _)| !deleted.contains(&id.as_str()))
            .cloned()
            .collect();
        dropped += b.len() - kept.len();
        assert_eq!(*a, kept);
    }
    assert!(dropped > 0, "the deleted documents were hits before");
}

#[test]
fn compact_scores_as_a_fresh_build_of_the_survivors() {
    let docs = corpus(80);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    lexical_only(dir, "a.jsonl", &docs[..35], false);
    lexical_only(dir, "b.jsonl", &docs[35..], true);
    let deleted = ["d0", "d4", "d36", "d60", "d61"];
    let mut args = vec!["delete"];
    args.extend_from_slice(&deleted);
    args.extend_from_slice(&["--index", "idx", "-q"]);
    ok(dir, &args);
    let before = bm25_runs(&dir.join("idx"));
    ok(dir, &["compact", "--index", "idx", "-q"]);
    let survivors: Vec<Doc> = docs
        .iter()
        .filter(|d| !deleted.contains(&d.0.as_str()))
        .cloned()
        .collect();
    let fresh = tempfile::tempdir().unwrap();
    lexical_only(fresh.path(), "s.jsonl", &survivors, false);
    let compacted = bm25_runs(&dir.join("idx"));
    assert_eq!(compacted, bm25_runs(&fresh.path().join("idx")));
    assert_eq!(compacted, references(&survivors, Bm25Params::default()));
    // Compaction changed the statistics: scores moved.
    assert_ne!(compacted, before);
    let meta = meta_json(&dir.join("idx"));
    assert_eq!(meta["segments"].as_array().unwrap().len(), 1);
    let lexical = &meta["segments"][0]["lexical"];
    let analyzer = Analyzer::english();
    let tokens: usize = survivors
        .iter()
        .map(|d| analyzer.analyze(&full_text(d)).len())
        .sum();
    assert_eq!(lexical["tokens"].as_u64(), Some(tokens as u64));
}

#[test]
fn reorder_keeps_every_bm25_score() {
    let docs = corpus(50);
    let (tmp, model) = with_docs(&to_jsonl(&docs));
    let dir = tmp.path();
    for (name, extra) in [("plain", None), ("reordered", Some("--reorder"))] {
        let mut args = vec![
            "index",
            "docs.jsonl",
            "--index",
            name,
            "--model",
            &model,
            "-q",
        ];
        args.extend(extra);
        ok(dir, &args);
        ok(dir, &["verify", "--index", name]);
    }
    let sorted = |name: &str| -> Vec<Ranked> {
        bm25_runs(&dir.join(name))
            .into_iter()
            .map(|mut r| {
                r.sort();
                r
            })
            .collect()
    };
    assert_eq!(
        meta_json(&dir.join("reordered"))["segments"][0]["reordered"],
        true
    );
    assert_eq!(sorted("reordered"), sorted("plain"));
    // A lexical-only index has nothing to reorder by (a usage error).
    let out = run_splade(
        dir,
        &[
            "index",
            "docs.jsonl",
            "--index",
            "lex",
            "--lexical-only",
            "--reorder",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--reorder"), "{}", stderr(&out));
    assert!(!dir.join("lex").exists());
}

fn fixture_copy(name: &str) -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let n = e.file_name().into_string().unwrap();
        if n == "meta.json" || n.starts_with("seg-") {
            std::fs::copy(e.path(), tmp.path().join(n)).unwrap();
        }
    }
    tmp
}

#[test]
fn older_formats_open_and_refuse_bm25_with_the_way_to_rebuild() {
    for (name, version) in [("index-v2", 2), ("index-v3", 3), ("index-v4", 4)] {
        let tmp = fixture_copy(name);
        let index = Index::open(tmp.path()).unwrap();
        assert_eq!(meta_json(tmp.path())["format_version"], version);
        assert!(index.has_splade() && !index.has_lexical(), "{name}");
        index.verify().unwrap();
        let err = search_bm25(&index, "flow plate", 10).unwrap_err();
        assert!(matches!(err, IndexError::NoLexical { .. }), "{name}: {err}");
        let msg = err.to_string();
        assert!(
            msg.contains("no lexical (BM25) postings")
                && msg.contains("rebuild it with `splade index` without --no-lexical"),
            "{name}: {msg}"
        );
        assert!(explain_bm25(&index, "flow", 0).is_err());
    }
}

#[test]
fn verify_catches_a_flipped_byte_in_each_lexical_file() {
    let docs = corpus(60);
    let tmp = dir_with(&docs);
    let dir = tmp.path();
    ok(
        dir,
        &[
            "index",
            "docs.jsonl",
            "--index",
            "idx",
            "--lexical-only",
            "-q",
        ],
    );
    for ext in ["lxp", "lxt", "lxd"] {
        let copy = dir.join(format!("copy-{ext}"));
        std::fs::create_dir(&copy).unwrap();
        let mut target = PathBuf::new();
        for e in std::fs::read_dir(dir.join("idx")).unwrap().flatten() {
            let to = copy.join(e.file_name());
            std::fs::copy(e.path(), &to).unwrap();
            if to.extension().is_some_and(|x| x == ext) {
                target = to;
            }
        }
        let mut bytes = std::fs::read(&target).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x10;
        std::fs::write(&target, bytes).unwrap();
        let out = run_splade(dir, &["verify", "--index", copy.to_str().unwrap()], b"");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{ext}: {err}");
        let file = target.file_name().unwrap().to_str().unwrap();
        assert!(err.contains(file) && err.contains("CRC32"), "{ext}: {err}");
    }
}

#[test]
fn vectors_with_texts_get_lexical_postings() {
    let docs = corpus(30);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let line = |d: &Doc, text: bool| {
        let mut v = serde_json::json!({"id": d.0, "vector": {"river": 1.0, "x": 0.5}});
        if text {
            v["text"] = d.2.clone().into();
            if let Some(t) = &d.1 {
                v["title"] = t.clone().into();
            }
        }
        v.to_string() + "\n"
    };
    let write = |name: &str, text: &dyn Fn(usize) -> bool| {
        let lines: String = docs
            .iter()
            .enumerate()
            .map(|(i, d)| line(d, text(i)))
            .collect();
        std::fs::write(dir.join(name), lines).unwrap();
    };
    write("with.jsonl", &|_| true);
    write("without.jsonl", &|_| false);
    write("mixed.jsonl", &|i| i != 2);
    let build = |name: &str, input: &str, extra: &[&str]| {
        let mut args = vec!["index", "--vectors", input, "--index", name, "-q"];
        args.extend_from_slice(extra);
        ok(dir, &args);
        Index::open(&dir.join(name)).unwrap()
    };
    let with = build("with", "with.jsonl", &[]);
    assert!(with.has_lexical() && with.has_splade());
    assert_eq!(
        bm25_runs(&dir.join("with")),
        references(&docs, Bm25Params::default())
    );
    assert!(!build("without", "without.jsonl", &[]).has_lexical());
    assert!(!build("no-lexical", "with.jsonl", &["--no-lexical"]).has_lexical());
    let err = fails(
        dir,
        &["index", "--vectors", "mixed.jsonl", "--index", "mixed"],
    );
    assert!(
        err.contains("mixed.jsonl:3") && err.contains("text"),
        "{err}"
    );
    // Appending vectors without texts to an index with lexical postings.
    let err = fails(
        dir,
        &[
            "index",
            "--vectors",
            "--append",
            "--upsert",
            "without.jsonl",
            "--index",
            "with",
        ],
    );
    assert!(
        err.contains("without.jsonl:1") && err.contains("text"),
        "{err}"
    );
}

#[test]
fn bm25_parameters_are_recorded_validated_and_used() {
    let docs = corpus(40);
    let tmp = dir_with(&docs);
    let dir = tmp.path();
    ok(
        dir,
        &[
            "index",
            "docs.jsonl",
            "--index",
            "idx",
            "--lexical-only",
            "--bm25-k1",
            "0.9",
            "--bm25-b",
            "0.4",
            "-q",
        ],
    );
    let lexical = &meta_json(&dir.join("idx"))["lexical"];
    assert_eq!(
        (lexical["k1"].as_f64(), lexical["b"].as_f64()),
        (Some(0.9), Some(0.4))
    );
    let params = Bm25Params::new(0.9, 0.4).unwrap();
    let runs = bm25_runs(&dir.join("idx"));
    assert_eq!(runs, references(&docs, params));
    assert_ne!(runs, references(&docs, Bm25Params::default()));
    let err = fails(
        dir,
        &[
            "index",
            "docs.jsonl",
            "--index",
            "bad",
            "--lexical-only",
            "--bm25-b",
            "1.5",
        ],
    );
    assert!(
        err.contains("--bm25-b") && err.contains("between 0 and 1"),
        "{err}"
    );
    let err = fails(
        dir,
        &[
            "index",
            "docs.jsonl",
            "--index",
            "bad",
            "--lexical-only",
            "--bm25-k1",
            "-1",
        ],
    );
    assert!(err.contains("--bm25-k1"), "{err}");
    // The parameters are the index's: an append cannot change them.
    let err = fails(
        dir,
        &[
            "index",
            "docs.jsonl",
            "--index",
            "idx",
            "--append",
            "--bm25-k1",
            "1.2",
        ],
    );
    assert!(
        err.contains("--bm25-k1 1.2") && err.contains("0.9"),
        "{err}"
    );
}

#[test]
fn explain_bm25_terms_add_up_to_the_score() {
    let docs = corpus(60);
    let tmp = dir_with(&docs);
    let dir = tmp.path();
    ok(
        dir,
        &[
            "index",
            "docs.jsonl",
            "--index",
            "idx",
            "--lexical-only",
            "-q",
        ],
    );
    let index = Index::open(&dir.join("idx")).unwrap();
    assert_eq!(
        index.lexical_terms("The Rivers of the ancient valleys"),
        ["river", "ancient", "valley"]
    );
    let analyzer = Analyzer::english();
    for q in QUERIES {
        for hit in search_bm25(&index, q, 5).unwrap() {
            let terms = explain_bm25(&index, q, hit.doc).unwrap();
            assert_eq!(terms.len(), index.lexical_terms(q).len());
            let sum = terms.iter().fold(0.0f32, |acc, t| acc + t.weight);
            assert_eq!(sum.to_bits(), hit.score.to_bits(), "{q}");
            let doc = &docs[hit.doc as usize];
            let analyzed = analyzer.analyze(&full_text(doc));
            for t in &terms {
                let tf = analyzed.iter().filter(|u| **u == t.term).count() as u32;
                assert_eq!(t.tf, tf, "{q} {}", t.term);
                assert_eq!(t.doc_len, analyzed.len() as u32);
                assert!(t.df >= u64::from(tf > 0) && t.idf > 0.0);
                assert_eq!(t.weight == 0.0, tf == 0);
            }
        }
    }
}
