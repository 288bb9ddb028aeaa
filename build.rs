//! Tells the tests what this machine can run them with, as `cfg`s, so that a
//! test that cannot run here is *ignored* (listed as such, with its reason,
//! in `cargo test`'s summary) rather than passing without checking anything:
//!
//! - `splade_real_model`: the real splade-tiny checkpoint is expected, because
//!   `SPLADE_TEST_MODEL` is set (then a missing folder fails those tests
//!   loudly) or `../shared/models/splade-tiny` exists;
//! - `splade_shared`: the shared collections and references (`../shared`, or
//!   `SPLADE_SHARED`) are there;
//! - `splade_cpu_bf16`: this CPU has AVX512_BF16 (tests build and run on the
//!   same machine);
//! - `splade_root`: the build runs as root, which may mount a tmpfs;
//! - `splade_script`: util-linux `script` is installed (a terminal for tests).
//!
//! Nothing here affects the library or the binary.

use std::path::{Path, PathBuf};

fn main() {
    for cfg in [
        "splade_real_model",
        "splade_shared",
        "splade_cpu_bf16",
        "splade_root",
        "splade_script",
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=SPLADE_TEST_MODEL");
    println!("cargo::rerun-if-env-changed=SPLADE_SHARED");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let shared = std::env::var_os("SPLADE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../shared"));
    let model = match std::env::var_os("SPLADE_TEST_MODEL") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => Some(shared.join("models/splade-tiny")).filter(|d| d.is_dir()),
    };
    if let Some(dir) = model {
        println!("cargo::rustc-cfg=splade_real_model");
        watch(&dir.join("model.safetensors"));
    }
    if shared.join("reference").is_dir() {
        println!("cargo::rustc-cfg=splade_shared");
    }
    watch(&shared);
    if cpu_has_bf16() {
        println!("cargo::rustc-cfg=splade_cpu_bf16");
    }
    if is_root() {
        println!("cargo::rustc-cfg=splade_root");
    }
    let script = std::process::Command::new("script")
        .arg("--version")
        .output();
    if script.is_ok_and(|o| o.status.success()) {
        println!("cargo::rustc-cfg=splade_script");
    }
}

/// Reruns this script when `path` changes, if it exists (a missing path
/// would rerun it on every build).
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo::rerun-if-changed={}", path.display());
    }
}

fn cpu_has_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}
