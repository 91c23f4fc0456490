//! `cargo xtask corpus [--sync]`: keeps `tests/corpus/asterisk-22/` byte-identical to
//! the shared capture set in `../shared/corpus/asterisk-22/` (a sibling of the
//! workspace root), when that folder exists.
//!
//! Without `--sync` it lists every file that differs, is missing here, or exists
//! only here, and fails if there is any. With `--sync` it copies the shared files
//! in, byte for byte: no line-ending or encoding conversion, and the shared files'
//! read-only permissions are not copied along.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::{project_root, Result};

/// The corpus inside the workspace, relative to its root.
const LOCAL: &str = "tests/corpus/asterisk-22";
/// The shared corpus, relative to the directory that holds the workspace root.
const SHARED: &str = "shared/corpus/asterisk-22";

/// Compares the two corpora, or with `sync` copies the shared one in.
pub(crate) fn run(sync: bool) -> Result<()> {
    let root = project_root();
    let local = root.join(LOCAL);
    let shared = match root.parent() {
        Some(parent) => parent.join(SHARED),
        None => PathBuf::from("..").join(SHARED),
    };
    if !shared.is_dir() {
        println!(
            "shared corpus not found; nothing to compare ({} is not a folder)",
            shared.display()
        );
        return Ok(());
    }
    if sync {
        copy_in(&shared, &local)
    } else {
        check(&shared, &local)
    }
}

/// One way a local corpus file fails to match the shared one.
#[derive(Debug, PartialEq, Eq)]
enum Difference {
    /// Both have the file, with different bytes.
    Differs(PathBuf),
    /// Only the shared corpus has the file.
    Missing(PathBuf),
    /// Only the local corpus has the file.
    Extra(PathBuf),
}

/// Lists the differences and fails if there is any.
fn check(shared: &Path, local: &Path) -> Result<()> {
    let differences = compare(shared, local)?;
    if differences.is_empty() {
        println!("corpus matches {}", shared.display());
        return Ok(());
    }
    for difference in &differences {
        match difference {
            Difference::Differs(path) => println!("differs:        {}", path.display()),
            Difference::Missing(path) => println!("missing here:   {}", path.display()),
            Difference::Extra(path) => println!("not in shared:  {}", path.display()),
        }
    }
    Err(format!(
        "{LOCAL} differs from {} in {} file(s); `cargo xtask corpus --sync` \
         copies the shared files in (files only here are kept)",
        shared.display(),
        differences.len()
    ))
}

/// Every difference between the two folders, in path order.
fn compare(shared: &Path, local: &Path) -> Result<Vec<Difference>> {
    let shared_files = files_under(shared)?;
    let local_files = files_under(local)?;
    let mut differences = Vec::new();
    for path in shared_files.union(&local_files) {
        let difference = match (shared_files.contains(path), local_files.contains(path)) {
            (true, false) => Difference::Missing(path.clone()),
            (false, true) => Difference::Extra(path.clone()),
            _ if read(&shared.join(path))? != read(&local.join(path))? => {
                Difference::Differs(path.clone())
            }
            _ => continue,
        };
        differences.push(difference);
    }
    Ok(differences)
}

/// Copies every shared file that is missing or different here; leaves the rest alone.
fn copy_in(shared: &Path, local: &Path) -> Result<()> {
    let mut copied = 0;
    for difference in compare(shared, local)? {
        match difference {
            Difference::Differs(path) | Difference::Missing(path) => {
                let target = local.join(&path);
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent)
                        .map_err(|err| format!("cannot create {}: {err}", parent.display()))?;
                }
                // read + write, not fs::copy: the bytes only, not the read-only mode.
                let bytes = read(&shared.join(&path))?;
                fs::write(&target, bytes)
                    .map_err(|err| format!("cannot write {}: {err}", target.display()))?;
                println!("copied:         {}", path.display());
                copied += 1;
            }
            Difference::Extra(path) => {
                println!("kept (not in shared): {}", path.display());
            }
        }
    }
    println!("{copied} file(s) copied from {}", shared.display());
    Ok(())
}

/// Reads a whole file, naming it in the error.
fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
}

/// The files under `dir` (recursively, dotfiles included), relative to it; an empty
/// set when `dir` does not exist.
fn files_under(dir: &Path) -> Result<BTreeSet<PathBuf>> {
    let mut files = BTreeSet::new();
    if dir.exists() {
        walk(dir, Path::new(""), &mut files)
            .map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
    }
    Ok(files)
}

/// Adds the files under `root/relative` to `files`, as paths relative to `root`.
fn walk(root: &Path, relative: &Path, files: &mut BTreeSet<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(root.join(relative))? {
        let entry = entry?;
        let path = relative.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            walk(root, &path, files)?;
        } else {
            files.insert(path);
        }
    }
    Ok(())
}

/// Comparison and sync on scratch folders.
#[cfg(test)]
mod tests {
    use super::{compare, copy_in, Difference};
    use std::fs;
    use std::path::{Path, PathBuf};

    /// A fresh scratch folder under the system temp dir.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-corpus-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Writes `bytes` to `dir/name`.
    fn put(dir: &Path, name: &str, bytes: &[u8]) {
        fs::write(dir.join(name), bytes).unwrap();
    }

    /// Differences are found, and a sync leaves only the local-only file.
    #[test]
    fn compare_then_sync() {
        let base = scratch("sync");
        let (shared, local) = (base.join("shared"), base.join("local"));
        fs::create_dir_all(&shared).unwrap();
        fs::create_dir_all(&local).unwrap();
        put(&shared, "same.raw", b"Response: Success\r\n\r\n");
        put(&local, "same.raw", b"Response: Success\r\n\r\n");
        put(&shared, "crlf.raw", b"Event: Hangup\r\n\r\n");
        put(&local, "crlf.raw", b"Event: Hangup\n\n");
        put(&shared, ".gitattributes", b"* -text\n");
        put(&local, "extra.raw", b"x");

        assert_eq!(
            compare(&shared, &local).unwrap(),
            vec![
                Difference::Missing(".gitattributes".into()),
                Difference::Differs("crlf.raw".into()),
                Difference::Extra("extra.raw".into()),
            ]
        );
        copy_in(&shared, &local).unwrap();
        assert_eq!(
            fs::read(local.join("crlf.raw")).unwrap(),
            b"Event: Hangup\r\n\r\n"
        );
        assert_eq!(
            compare(&shared, &local).unwrap(),
            vec![Difference::Extra("extra.raw".into())]
        );
        fs::remove_dir_all(&base).unwrap();
    }

    /// A missing local folder means every shared file is missing, and sync creates it.
    #[test]
    fn missing_local_folder() {
        let base = scratch("missing");
        let (shared, local) = (base.join("shared"), base.join("local"));
        fs::create_dir_all(&shared).unwrap();
        put(&shared, "a.raw", b"a");
        assert_eq!(
            compare(&shared, &local).unwrap(),
            vec![Difference::Missing("a.raw".into())]
        );
        copy_in(&shared, &local).unwrap();
        assert!(compare(&shared, &local).unwrap().is_empty());
        fs::remove_dir_all(&base).unwrap();
    }
}
