//! Where a benchmark's figures go besides its markdown table: one JSON file per benchmark in
//! the results folder (`BENCH_RESULTS_DIR`, default `target/bench-results`), each with the
//! machine it ran on and when, so a run can be compared, charted and kept.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The results folder.
pub fn dir() -> PathBuf {
    std::env::var_os("BENCH_RESULTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/bench-results"))
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    bench: &'a str,
    machine: String,
    finished_at: chrono::DateTime<chrono::Utc>,
    figures: &'a T,
}

/// Writes `figures` as `<dir>/<bench>.json` and says where.
pub fn write<T: Serialize>(bench: &str, figures: &T) -> anyhow::Result<PathBuf> {
    write_to(&dir(), bench, figures)
}

fn write_to<T: Serialize>(dir: &Path, bench: &str, figures: &T) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{bench}.json"));
    let envelope = Envelope {
        bench,
        machine: super::harness::machine(),
        finished_at: chrono::Utc::now(),
        figures,
    };
    std::fs::write(&path, serde_json::to_vec_pretty(&envelope)?)?;
    println!();
    println!("(figures written to `{}`)", path.display());
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_written_with_the_machine_and_read_back() {
        let dir = std::env::temp_dir().join(format!("bench-results-{}", uuid::Uuid::new_v4()));
        let path = write_to(&dir, "unit", &serde_json::json!({"p50_ms": 1.5})).expect("written");
        let back: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(back["bench"], "unit");
        assert_eq!(back["figures"]["p50_ms"], 1.5);
        assert!(
            back["machine"]
                .as_str()
                .is_some_and(|m| m.contains("cores"))
        );
    }
}
