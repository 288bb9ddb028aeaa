#!/usr/bin/env python3
"""Real passages and queries for search benchmarks at scale (issue #17).

    benches/real_corpus.py --debs DIR --out DIR [--docs 250000] [--long-queries 1000] [--seed 42]

Passages come from two kinds of real text:

- the shared collections' documents (../shared/data/*/corpus.jsonl and
  data/speed/passages*.jsonl), as they are: abstracts, MS MARCO passages,
  web pages;
- English documentation from Debian packages (DIR holds the .deb files that
  benches/real_vectors.sh downloads with apt-get: the Linux kernel's,
  Python's, Django's, Ruby's, PostgreSQL's, Perl's, git's and Apache's
  manuals and the Debian reference; English pages only): each
  file is turned into plain text (reStructuredText and POD markup stripped,
  HTML parsed), split into paragraphs, and paragraphs are packed into
  passages of 50 to 150 words (a longer paragraph is cut into windows of at
  most 150 words). Passages that are mostly not words (code, tables) are
  dropped, and so are exact duplicates.

A seeded sample of `--docs` passages is written, shuffled, to
`OUT/docs.jsonl` (`{"id", "text"}`). Queries: `OUT/queries_short.jsonl`
holds every shared query (the six collections' and data/speed's; real user
questions and information needs), `OUT/queries_long.jsonl` holds
`--long-queries` passages drawn (same seed) from the text not sampled as
documents, for long-query behaviour. Statistics go to stderr and to
`OUT/corpus_stats.json`.
"""

import argparse
import gzip
import html.parser
import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
COLLECTIONS = ["trec-dl-2020-passage-pool", "cranfield", "cisi", "npl", "cacm", "lisa"]
MIN_WORDS, MAX_WORDS = 50, 150
WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


class Text(html.parser.HTMLParser):
    """Visible text of an HTML page, paragraphs separated by blank lines;
    script, style, pre and navigation left out."""

    SKIP = {"script", "style", "pre", "code", "nav", "head", "table"}
    BLOCK = {"p", "div", "li", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "br", "tr", "section"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        elif tag in self.BLOCK:
            self.out.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.out.append("\n\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_text(raw):
    p = Text()
    p.feed(raw)
    return "".join(p.out)


def rst_text(raw):
    """reStructuredText without directives, literal blocks, roles and
    section underlines."""
    out, literal = [], False
    for line in raw.splitlines():
        s = line.strip()
        if literal:
            if s and not line[:1].isspace():
                literal = False
            else:
                continue
        if s.startswith(".. ") or re.fullmatch(r"[=\-~^*#+`:.'\"]{3,}", s):
            out.append("")
            continue
        if s.endswith("::"):
            literal = True
            line = line.rstrip(":") + "."
        line = re.sub(r":[a-z:]+:`([^`<]*)(<[^>]*>)?`", r"\1", line)
        line = line.replace("``", "").replace("**", "").replace("`_", "").replace("`", "")
        out.append(line)
    return "\n".join(out)


def pod_text(raw):
    """POD without commands, verbatim (indented) blocks and formatting codes."""
    out = []
    for line in raw.splitlines():
        if line.startswith("="):
            head = re.match(r"=head\d\s+(.*)", line)
            out.extend(["", head.group(1) + "." if head else "", ""])
        elif line[:1].isspace() and line.strip():
            out.append("")
        else:
            out.append(re.sub(r"[A-Z]<+\s*([^<>]*?)\s*>+", r"\1", line))
    return "\n".join(out)


def read(path):
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def file_text(path):
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if name.endswith((".html", ".htm", ".html.en")):
        return html_text(read(path))
    if name.endswith((".rst", ".rst.txt")):
        return rst_text(read(path))
    if name.endswith(".pod"):
        return pod_text(read(path))
    if name.endswith(".txt"):
        return read(path)
    return None


def wordy(words):
    """Mostly prose: 70% of the whitespace tokens are plain words."""
    return sum(bool(WORD.fullmatch(w.strip(".,;:()!?\"'"))) for w in words) >= 0.7 * len(words)


def passages(text):
    """Paragraphs packed into passages of MIN_WORDS..MAX_WORDS words."""
    cur = []
    for para in re.split(r"\n\s*\n", text):
        words = para.split()
        if not words:
            continue
        while len(words) > MAX_WORDS:
            if cur:
                yield cur
                cur = []
            yield words[:MAX_WORDS]
            words = words[MAX_WORDS:]
        if len(cur) + len(words) > MAX_WORDS:
            yield cur
            cur = []
        cur += words
        if len(cur) >= MIN_WORDS:
            yield cur
            cur = []
    if cur:
        yield cur


def debian_passages(debs):
    """(source, passage text) for every kept passage of the .deb files,
    in a fixed order."""
    for deb in sorted(Path(debs).glob("*.deb")):
        package = deb.name.split("_")[0]
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
            for path in sorted(Path(tmp).rglob("*")):
                if not path.is_file() or "/html/_sources/" in str(path) and package.startswith("linux"):
                    continue  # the kernel's _sources repeat Documentation/
                text = file_text(path)
                if text is None:
                    continue
                for words in passages(text):
                    if len(words) >= MIN_WORDS and wordy(words):
                        yield package, " ".join(words)


def shared_passages():
    for name in COLLECTIONS:
        for line in open(SHARED / name / "corpus.jsonl", encoding="utf-8"):
            d = json.loads(line)
            text = " ".join(x for x in (d.get("title"), d.get("text")) if x)
            if text.strip():
                yield name, text
    for name in ["passages.jsonl", "passages_long.jsonl"]:
        for line in open(SHARED / "speed" / name, encoding="utf-8"):
            yield "speed", json.loads(line)["text"]


def shared_queries():
    for name in COLLECTIONS + ["speed"]:
        for line in open(SHARED / name / "queries.jsonl", encoding="utf-8"):
            q = json.loads(line)
            yield name, q.get("_id", q.get("id")), q["text"]


def quantiles(xs, qs=(0.1, 0.5, 0.9, 0.99)):
    xs = sorted(xs)
    return {str(q): xs[min(len(xs) - 1, int(q * len(xs)))] for q in qs}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--debs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--docs", type=int, default=250_000)
    ap.add_argument("--long-queries", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    seen, pool = set(), []
    for source, text in list(shared_passages()) + list(debian_passages(a.debs)):
        if text not in seen:
            seen.add(text)
            pool.append((source, text))
    rng = random.Random(a.seed)
    rng.shuffle(pool)
    if len(pool) < a.docs + a.long_queries:
        sys.exit(f"only {len(pool)} passages; asked for {a.docs} + {a.long_queries}")
    docs, rest = pool[: a.docs], pool[a.docs :]

    with open(out / "docs.jsonl", "w", encoding="utf-8") as f:
        for i, (source, text) in enumerate(docs):
            f.write(json.dumps({"id": f"p{i}", "source": source, "text": text}) + "\n")
    with open(out / "queries_short.jsonl", "w", encoding="utf-8") as f:
        for source, qid, text in shared_queries():
            f.write(json.dumps({"id": f"{source}/{qid}", "text": text}) + "\n")
    with open(out / "queries_long.jsonl", "w", encoding="utf-8") as f:
        for i, (source, text) in enumerate(rest[: a.long_queries]):
            f.write(json.dumps({"id": f"long{i}", "text": text}) + "\n")

    by_source = {}
    for source, _ in docs:
        by_source[source] = by_source.get(source, 0) + 1
    stats = {
        "pool": len(pool),
        "docs": len(docs),
        "docs_by_source": dict(sorted(by_source.items())),
        "doc_words": quantiles([len(t.split()) for _, t in docs]),
        "short_queries": sum(1 for _ in shared_queries()),
        "long_queries": min(a.long_queries, len(rest)),
        "debs": sorted(p.name for p in Path(a.debs).glob("*.deb")),
    }
    (out / "corpus_stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    json.dump(stats, sys.stderr, indent=1)
    print(file=sys.stderr)


if __name__ == "__main__":
    main()
