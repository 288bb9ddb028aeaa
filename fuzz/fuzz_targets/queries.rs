#![no_main]

use libfuzzer_sys::fuzz_target;
use splade::internal::InputFormat;

fuzz_target!(|data: &[u8]| splade_fuzz::records(InputFormat::Auto, data));
