//! Writes each target's seeds to `corpus/<target>/seed-N`:
//! `cargo +nightly run --bin write_seeds` in `fuzz/`, before `cargo fuzz run`.

fn main() -> std::io::Result<()> {
    for target in splade_fuzz::TARGETS {
        let dir = std::path::Path::new("corpus").join(target);
        std::fs::create_dir_all(&dir)?;
        for (i, seed) in splade_fuzz::seeds(target).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed)?;
        }
    }
    Ok(())
}
