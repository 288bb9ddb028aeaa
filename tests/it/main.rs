//! Integration tests: one binary, one module per area. Tests that need the
//! real splade-tiny weights find them through `SPLADE_TEST_MODEL` (set by
//! `.ci/run`) or `../shared/models/splade-tiny`, and say so when skipped.

mod bad_input;
mod cli_encode;
mod cli_export;
mod cli_flags;
mod cli_index;
mod cli_segments;
mod corruption;
mod fixtures;
mod fuzz_smoke;
mod hub;
mod index_lib;
mod lazy_checks;
mod lexical;
mod library;
mod license;
mod loading;
mod model_check;
mod model_errors;
mod modes;
mod old_formats;
mod parity;
mod pipes;
mod props;
mod reliability;
mod search_reentry;
mod tokenizer_cache;
mod writers;
