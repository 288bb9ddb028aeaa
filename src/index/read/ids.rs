//! From external ids to ordinals. The doc tables map ordinal -> id only
//! (that is all search needs); append, delete and explain need the other
//! direction over the *live* documents, so it is built on demand: a hash of
//! each live id to its ordinal, with the id itself kept only on a hash
//! collision, costs about 16 bytes per document.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::index::read::index::Index;

/// A stable hash of an external id (SipHash with fixed keys).
pub(crate) fn hash_id(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// The live documents of an index by external id.
pub(crate) struct LiveIds {
    first: HashMap<u64, u32>,
    collisions: HashMap<Box<str>, u32>,
}

impl LiveIds {
    /// Reads every live id of `index` (ids are unique among live documents).
    pub(crate) fn build(index: &Index) -> Self {
        let mut ids = LiveIds {
            first: HashMap::with_capacity(index.live_docs() as usize),
            collisions: HashMap::new(),
        };
        for doc in (0..index.num_docs()).filter(|&d| !index.is_deleted(d)) {
            let id = index.doc_id(doc);
            match ids.first.entry(hash_id(id)) {
                Entry::Vacant(v) => {
                    v.insert(doc);
                }
                Entry::Occupied(_) => {
                    ids.collisions.insert(id.into(), doc);
                }
            }
        }
        ids
    }

    /// The live ordinal of `id` in `index` (the index it was built from).
    pub(crate) fn get(&self, index: &Index, id: &str) -> Option<u32> {
        let first = *self.first.get(&hash_id(id))?;
        if index.doc_id(first) == id {
            return Some(first);
        }
        self.collisions.get(id).copied()
    }
}
