#![no_main]

use libfuzzer_sys::fuzz_target;
use splade::io::InputFormat;

fuzz_target!(|data: &[u8]| splade_fuzz::records(InputFormat::Jsonl, data));
