//! CLI tests of index/search/eval (see below).
