//! Page checksums (format 6, `docs/format.md`, "Page checksums"): every
//! binary file carries the CRC32 of each [`PAGE_SIZE`]-byte page of its
//! header and body, so that a reader checks only the pages it reads, once
//! per process, instead of the whole file when it opens it. Opening an
//! index then costs the same at any size, and a query pays for the bytes it
//! touches; a damaged page is never read: the checked accessor refuses it
//! and records the damage, which every search reports as an error.
//!
//! Files of older formats have no page table: their one "page" is the whole
//! file, checked by its footer's CRC32 the first time anything in it is
//! read (`Layout::Whole`), so an old index is never answered from damaged
//! bytes either, and pays only for the files a query reads.
//!
//! The table needs no checksum of its own: a damaged entry makes its page
//! fail, so damage to the table can only refuse a read, never let a
//! damaged page through (short of a CRC32 collision, as for any page).
//! `verify` still checks everything, the table included, through the
//! whole-file CRC32 of the footer and `meta.json`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::index::format::frame::{FOOTER_LEN, HEADER_LEN, le_u32, le_u64};

/// Bytes per checksummed page of the files this build writes: 4 KiB, the
/// operating system's page. A read of a few bytes (a dictionary entry, an
/// id) faults in such a page anyway, so checking it reads nothing more;
/// the table costs 4 bytes per page (0.1% of the index), and one check
/// about a microsecond. Measured against 16 and 64 KiB in
/// `docs/format.md`. Readers take the size from each file's trailer.
pub(crate) const PAGE_SIZE: usize = 4096;
/// The smallest and largest page sizes (log2) a reader accepts.
const PAGE_SHIFTS: std::ops::RangeInclusive<u32> = 9..=24;
/// The first format version whose files carry page checksums.
pub(crate) const PAGED_VERSION: u32 = 6;
/// Magic of the page trailer.
const TRAILER_MAGIC: &[u8; 4] = b"SPLP";
/// Bytes of the page trailer: body length, page size, magic.
pub(crate) const TRAILER_LEN: usize = 16;

/// Computes the page CRCs of the bytes of a file as they are written,
/// and the CRC32 of everything, in one pass.
pub(crate) struct PageHasher {
    whole: crc32fast::Hasher,
    page: crc32fast::Hasher,
    fill: usize,
    crcs: Vec<u32>,
}

impl PageHasher {
    pub(crate) fn new() -> Self {
        PageHasher {
            whole: crc32fast::Hasher::new(),
            page: crc32fast::Hasher::new(),
            fill: 0,
            crcs: Vec::new(),
        }
    }

    /// Adds bytes of the header or body.
    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let (now, later) = bytes.split_at((PAGE_SIZE - self.fill).min(bytes.len()));
            self.page.update(now);
            self.fill += now.len();
            if self.fill == PAGE_SIZE {
                self.end_page();
            }
            bytes = later;
        }
    }

    fn end_page(&mut self) {
        let page = std::mem::replace(&mut self.page, crc32fast::Hasher::new());
        self.whole.combine(&page);
        self.crcs.push(page.finalize());
        self.fill = 0;
    }

    /// The page table and trailer that follow a body of `body_len` bytes,
    /// and the CRC32 of the body, table and trailer: the footer's.
    pub(crate) fn finish(mut self, body_len: u64) -> (Vec<u8>, u32) {
        if self.fill > 0 {
            self.end_page();
        }
        let mut tail = Vec::with_capacity(self.crcs.len() * 4 + TRAILER_LEN);
        for crc in &self.crcs {
            tail.extend_from_slice(&crc.to_le_bytes());
        }
        tail.extend_from_slice(&body_len.to_le_bytes());
        tail.extend_from_slice(&(PAGE_SIZE as u32).to_le_bytes());
        tail.extend_from_slice(TRAILER_MAGIC);
        self.whole.update(&tail);
        (tail, self.whole.finalize())
    }
}

/// Where a file's checksums are.
enum Layout {
    /// Format 6: the CRC32 of page `p` (bytes `[p << shift, (p + 1) << shift)`
    /// of the body) at `table + 4 p`.
    Table { shift: u32, table: usize },
    /// Formats 1 to 5: one page, the whole file before its footer, whose
    /// CRC32 the footer holds and `meta.json` repeats.
    Whole { footer: u32, meta: u32 },
}

/// The checks of one mapped file: which pages have passed, and the first
/// damage found.
pub(crate) struct PageCheck {
    layout: Layout,
    /// Length of the header and body: what the format's offsets address.
    body: usize,
    /// One bit per page, set once its CRC32 matched. Pages are checked at
    /// most once per process (two threads may both check one: harmless).
    passed: Box<[AtomicU64]>,
    /// What the first failed page was, for the error every search returns.
    damage: OnceLock<String>,
    /// Bytes checksummed so far (tests and measurements).
    checked_bytes: AtomicU64,
}

impl PageCheck {
    /// The checks of the mapped bytes `map` (footer included) of a file of
    /// format `version`, whose CRC32 `meta.json` gives as `meta_crc`.
    /// Reads only the trailer; `Err` says what does not fit.
    pub(crate) fn open(map: &[u8], version: u32, meta_crc: u32) -> Result<PageCheck, String> {
        let n = map.len();
        let footer_at = n - FOOTER_LEN as usize;
        let (layout, body, pages) = if version < PAGED_VERSION {
            let footer = le_u32(map, n - 8).unwrap_or(0);
            let layout = Layout::Whole {
                footer,
                meta: meta_crc,
            };
            (layout, footer_at, 1)
        } else {
            let at = footer_at
                .checked_sub(TRAILER_LEN)
                .filter(|&at| at >= HEADER_LEN as usize)
                .ok_or("no room for the page table")?;
            let body = le_u64(map, at).unwrap_or(u64::MAX);
            let size = le_u32(map, at + 8).unwrap_or(0);
            let shift = size.trailing_zeros();
            let sane = &map[at + 12..at + 16] == TRAILER_MAGIC
                && size.is_power_of_two()
                && PAGE_SHIFTS.contains(&shift);
            // The table of `pages` entries fills the bytes from the body's
            // end to the trailer exactly.
            let fits = |body: usize| {
                let pages = body.div_ceil(size as usize);
                (body >= HEADER_LEN as usize && pages.checked_mul(4)?.checked_add(body)? == at)
                    .then_some((body, pages))
            };
            match usize::try_from(body).ok().filter(|_| sane).and_then(fits) {
                Some((body, pages)) => (Layout::Table { shift, table: body }, body, pages),
                None => {
                    return Err(format!(
                        "page trailer (body of {body} bytes, pages of {size}) does not fit \
                         a file of {n} bytes"
                    ));
                }
            }
        };
        Ok(PageCheck {
            layout,
            body,
            passed: (0..pages.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            damage: OnceLock::new(),
            checked_bytes: AtomicU64::new(0),
        })
    }

    /// Length of the header and body.
    pub(crate) fn body_len(&self) -> usize {
        self.body
    }

    /// Whether the file has a page table (format 6 and later).
    pub(crate) fn is_paged(&self) -> bool {
        matches!(self.layout, Layout::Table { .. })
    }

    fn page_of(&self, at: usize) -> usize {
        match self.layout {
            Layout::Table { shift, .. } => at >> shift,
            Layout::Whole { .. } => 0,
        }
    }

    fn pages(&self) -> usize {
        match self.layout {
            Layout::Table { shift, .. } => self.body.div_ceil(1 << shift),
            Layout::Whole { .. } => 1,
        }
    }

    /// The bytes of page `p`.
    fn page_range(&self, p: usize) -> std::ops::Range<usize> {
        match self.layout {
            Layout::Table { shift, .. } => p << shift..((p + 1) << shift).min(self.body),
            Layout::Whole { .. } => 0..self.body,
        }
    }

    /// Whether every page holding a byte of `[start, end)` of the body is
    /// intact, checking those not checked before. A failed page is
    /// recorded ([`damage`](Self::damage)). An empty range reads nothing.
    #[inline]
    pub(crate) fn check(&self, map: &[u8], start: usize, end: usize) -> bool {
        if start >= end {
            return true;
        }
        (self.page_of(start)..=self.page_of(end - 1)).all(|p| {
            let bit = 1u64 << (p % 64);
            self.passed
                .get(p / 64)
                .is_some_and(|w| w.load(Ordering::Relaxed) & bit != 0 || self.check_page(map, p))
        })
    }

    /// Computes page `p`'s CRC32 and compares it with the table (or the
    /// footer and `meta.json`); marks it passed or records the damage.
    #[cold]
    fn check_page(&self, map: &[u8], p: usize) -> bool {
        let range = self.page_range(p);
        let actual = crc32fast::hash(&map[range.clone()]);
        self.checked_bytes
            .fetch_add(range.len() as u64, Ordering::Relaxed);
        match self.mismatch(map, p, actual) {
            None => {
                self.passed[p / 64].fetch_or(1 << (p % 64), Ordering::Relaxed);
                true
            }
            Some(message) => {
                let _ = self.damage.set(message);
                false
            }
        }
    }

    /// What is wrong with page `p` whose bytes hash to `actual`, if anything.
    fn mismatch(&self, map: &[u8], p: usize, actual: u32) -> Option<String> {
        match self.layout {
            Layout::Table { table, .. } => {
                let stated = le_u32(map, table + 4 * p).unwrap_or(!actual);
                let range = self.page_range(p);
                (actual != stated).then(|| {
                    format!(
                        "page {p} (bytes {}..{}) fails its checksum: CRC32 computed \
                         {actual:08x}, page table says {stated:08x}",
                        range.start, range.end
                    )
                })
            }
            Layout::Whole { footer, meta } => whole_mismatch(actual, footer, meta),
        }
    }

    /// The first damage a read found, if any.
    pub(crate) fn damage(&self) -> Option<&str> {
        self.damage.get().map(String::as_str)
    }

    /// Bytes checksummed by reads so far.
    pub(crate) fn checked_bytes(&self) -> u64 {
        self.checked_bytes.load(Ordering::Relaxed)
    }

    /// The page size (the whole body in older formats), the number of
    /// pages and those that have passed, ascending.
    pub(crate) fn passed_pages(&self) -> (usize, usize, Vec<usize>) {
        let size = match self.layout {
            Layout::Table { shift, .. } => 1 << shift,
            Layout::Whole { .. } => self.body,
        };
        let passed = (0..self.pages())
            .filter(|&p| self.passed[p / 64].load(Ordering::Relaxed) & (1 << (p % 64)) != 0)
            .collect();
        (size, self.pages(), passed)
    }

    /// Checks every page and the CRC32 of the whole file (`map`, footer
    /// included) against the footer and `meta_crc`, in one pass; on
    /// success every page counts as checked.
    pub(crate) fn verify(&self, map: &[u8], meta_crc: u32) -> Result<(), String> {
        let n = map.len();
        let footer = le_u32(map, n - 8).unwrap_or(0);
        let mut whole = crc32fast::Hasher::new();
        for p in 0..self.pages() {
            let mut page = crc32fast::Hasher::new();
            page.update(&map[self.page_range(p)]);
            whole.combine(&page);
            if let Layout::Table { .. } = self.layout
                && let Some(message) = self.mismatch(map, p, page.finalize())
            {
                return Err(message);
            }
        }
        whole.update(&map[self.body..n - FOOTER_LEN as usize]);
        if let Some(message) = whole_mismatch(whole.finalize(), footer, meta_crc) {
            return Err(message);
        }
        for w in self.passed.iter() {
            w.store(u64::MAX, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// What is wrong with a file whose bytes before the footer hash to
/// `actual`, given its footer's and `meta.json`'s CRC32, if anything.
fn whole_mismatch(actual: u32, footer: u32, meta: u32) -> Option<String> {
    if actual != footer {
        Some(format!(
            "CRC32 mismatch: computed {actual:08x}, footer says {footer:08x}"
        ))
    } else if actual != meta {
        Some(format!(
            "CRC32 mismatch: computed {actual:08x}, meta.json says {meta:08x}"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `body` (header included) as a format-6 writer lays it out.
    fn file(body: &[u8]) -> Vec<u8> {
        let mut h = PageHasher::new();
        // Written in uneven pieces, as writers do.
        for chunk in body.chunks(1000) {
            h.update(chunk);
        }
        let (tail, crc) = h.finish(body.len() as u64);
        let mut out = body.to_vec();
        out.extend_from_slice(&tail);
        let total = (out.len() + FOOTER_LEN as usize) as u64;
        out.extend_from_slice(&total.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(b"SPLE");
        out
    }

    #[test]
    fn pages_are_checked_once_and_a_damaged_one_is_refused() {
        let body: Vec<u8> = (0..3 * PAGE_SIZE + 100).map(|i| (i * 7) as u8).collect();
        let mut map = file(&body);
        let whole = crc32fast::hash(&map[..map.len() - 16]);
        let check = PageCheck::open(&map, PAGED_VERSION, whole).unwrap();
        assert_eq!(check.body_len(), body.len());
        assert_eq!(check.pages(), 4);
        assert!(check.check(&map, 10, 20));
        assert!(check.check(&map, 10, 20));
        assert_eq!(check.checked_bytes(), PAGE_SIZE as u64);
        // A read across a boundary checks both pages; the last is short.
        assert!(check.check(&map, PAGE_SIZE - 1, 3 * PAGE_SIZE + 1));
        assert_eq!(check.checked_bytes(), body.len() as u64);
        assert_eq!(check.passed_pages(), (PAGE_SIZE, 4, vec![0, 1, 2, 3]));
        check.verify(&map, whole).unwrap();

        map[2 * PAGE_SIZE + 5] ^= 4;
        let check = PageCheck::open(&map, PAGED_VERSION, whole).unwrap();
        assert!(check.check(&map, 0, PAGE_SIZE));
        assert!(check.damage().is_none());
        assert!(!check.check(&map, 2 * PAGE_SIZE + 100, 2 * PAGE_SIZE + 101));
        let damage = check.damage().unwrap();
        assert!(damage.contains("page 2 (bytes 8192..12288)"), "{damage}");
        assert!(check.check(&map, 3 * PAGE_SIZE, 3 * PAGE_SIZE + 1));
        assert!(check.verify(&map, whole).unwrap_err().contains("page 2"));
    }

    #[test]
    fn a_damaged_table_entry_refuses_its_page_only() {
        let body = vec![9u8; 2 * PAGE_SIZE];
        let mut map = file(&body);
        map[body.len() + 4] ^= 1; // page 1's entry
        let check = PageCheck::open(&map, PAGED_VERSION, 0).unwrap();
        assert!(check.check(&map, 0, PAGE_SIZE));
        assert!(!check.check(&map, PAGE_SIZE, PAGE_SIZE + 1));
    }

    #[test]
    fn a_trailer_that_does_not_fit_is_refused() {
        let body = vec![1u8; PAGE_SIZE + 1];
        let good = file(&body);
        let at = good.len() - 16 - TRAILER_LEN;
        for (i, flip) in [(at, 1u8), (at + 8, 1), (at + 9, 0x10), (at + 12, 1)] {
            let mut bad = good.clone();
            bad[i] ^= flip;
            assert!(PageCheck::open(&bad, PAGED_VERSION, 0).is_err(), "{i}");
        }
        assert!(PageCheck::open(&good[..40], PAGED_VERSION, 0).is_err());
    }

    #[test]
    fn older_files_are_one_page_checked_by_the_footer() {
        let mut map = vec![3u8; 5000];
        let crc = crc32fast::hash(&map[..5000 - 16]);
        map[5000 - 8..5000 - 4].copy_from_slice(&crc.to_le_bytes());
        let check = PageCheck::open(&map, 5, crc).unwrap();
        assert_eq!(check.body_len(), 5000 - 16);
        assert!(check.check(&map, 100, 101));
        assert_eq!(check.checked_bytes(), 5000 - 16);
        // meta.json disagreeing is damage too.
        let check = PageCheck::open(&map, 5, crc ^ 1).unwrap();
        assert!(!check.check(&map, 0, 1));
        assert!(check.damage().unwrap().contains("meta.json says"));
    }
}
