//! Where the tests find build outputs and leave failure artifacts.
//!
//! Both are located from the test executable's own path, which works with any
//! `CARGO_TARGET_DIR`: a test binary lives in `<target>/<profile>/deps/`, the
//! examples cargo built alongside it in `<target>/<profile>/examples/`.

use std::path::{Path, PathBuf};

/// `<target>/<profile>`, the directory holding `deps/` and `examples/`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the running test executable");
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("test executable {} is not in <profile>/deps", exe.display()))
        .to_path_buf()
}

/// `<target>/test-artifacts/<test>/`, created on demand.
///
/// Screenshots, console logs and page sources of failed browser tests go
/// here; the directory is emptied first so a run never shows stale files.
pub fn dir_for(test: &str) -> PathBuf {
    let profile = profile_dir();
    let target = profile.parent().unwrap_or(&profile);
    let dir = target.join("test-artifacts").join(sanitize(test));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("create artifact directory {}: {e}", dir.display()));
    dir
}

/// A file-name-safe version of a test or page label.
pub fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
