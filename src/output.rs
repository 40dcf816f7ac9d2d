//! The one output mechanism of every writer (library and command-line tool).
//!
//! **The rule.** Every file the crate writes goes through an [`Outputs`] transaction:
//!
//! - A regular file (or a new path) is written into a temporary `.NAME.tmpPID` in the target's
//!   own folder; the temporaries of all parts of a transaction are renamed over their targets
//!   only after every part has been written ([`Outputs::commit`]). On an error, or if the
//!   transaction is dropped without a commit, the temporaries are removed and no target is
//!   touched. An existing target keeps its permissions.
//! - A symbolic link is followed to its final target (the link itself stays); a dangling link
//!   creates its target.
//! - A FIFO or a character device (such as `/dev/null`) is written through, never replaced; the
//!   path `-` is the standard output. These cannot be rolled back: they receive their bytes when
//!   the part is written.
//! - A directory, a block device or a socket is refused, and so is a missing folder.
//! - The same file named for two outputs is refused ([`Outputs::check`] before the work starts,
//!   [`Outputs::write`] again when the part is written); character devices may be repeated.
//! - Temporaries `.NAME.tmpPID` left next to a target by a run that was killed (SIGKILL, power
//!   loss) are removed when the same target is written again, if process PID no longer runs
//!   (Linux, through `/proc`).
//! - With [`remove_temporaries_on_signal`] installed (the command-line tool does), SIGINT,
//!   SIGTERM and SIGHUP remove the run's temporaries before the process dies of the signal. A
//!   commit in progress finishes first, so a multi-file output is never half renamed by a signal.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, Permissions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The writer a part is written into: buffered, over the temporary file or the special file.
pub type Sink = BufWriter<Box<dyn Write + Send>>;

/// Temporaries of all live transactions of this process (removed on a signal).
static TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn temps() -> MutexGuard<'static, Vec<PathBuf>> {
    TEMPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the bytes of an output path go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A regular file (existing or new) at this path, symbolic links resolved; replaced by a
    /// rename. `existed` tells whether it exists now.
    File {
        /// The resolved path.
        path: PathBuf,
        /// Whether a file exists there now.
        existed: bool,
    },
    /// A FIFO, written through.
    Fifo(PathBuf),
    /// A character device (such as `/dev/null`), written through.
    CharDevice(PathBuf),
    /// The standard output (`-`).
    Stdout,
}

impl Target {
    /// Resolve `path`: follow symbolic links, classify what is there, refuse a directory, a
    /// block device, a socket or a missing folder. Cost: a few `stat` calls.
    pub fn resolve(path: &Path) -> Result<Target> {
        if path.as_os_str() == "-" {
            return Ok(Target::Stdout);
        }
        if path.as_os_str().is_empty() {
            return Err(Error::io(path, std::io::Error::other("empty output path")));
        }
        let mut p = path.to_path_buf();
        for _ in 0..40 {
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    let t = std::fs::read_link(&p).map_err(|e| Error::io(&p, e))?;
                    p = if t.is_absolute() {
                        t
                    } else {
                        p.parent().unwrap_or(Path::new("")).join(t)
                    };
                }
                Ok(m) => return classify(path, p, &m),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let dir = parent_dir(&p);
                    return match std::fs::metadata(&dir) {
                        Ok(d) if d.is_dir() => Ok(Target::File {
                            path: p,
                            existed: false,
                        }),
                        _ => Err(Error::io(
                            path,
                            std::io::Error::new(
                                std::io::ErrorKind::NotFound,
                                format!("the folder `{}` does not exist", dir.display()),
                            ),
                        )),
                    };
                }
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        Err(Error::io(
            path,
            std::io::Error::other("too many levels of symbolic links"),
        ))
    }

    /// A key that is equal for two paths naming the same output; `None` for targets that may
    /// be named several times (character devices).
    fn key(&self) -> Option<PathBuf> {
        match self {
            Target::Stdout => Some(PathBuf::from("-")),
            Target::CharDevice(_) => None,
            Target::Fifo(p) => Some(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
            Target::File { path, .. } => {
                let dir = parent_dir(path);
                let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
                Some(dir.join(path.file_name().unwrap_or_default()))
            }
        }
    }
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn classify(shown: &Path, p: PathBuf, m: &std::fs::Metadata) -> Result<Target> {
    let ft = m.file_type();
    if ft.is_file() {
        return Ok(Target::File {
            path: p,
            existed: true,
        });
    }
    let refuse = |what: &str| Err(Error::io(shown, std::io::Error::other(what.to_string())));
    if ft.is_dir() {
        return refuse("is a directory; give a file name");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return Ok(Target::Fifo(p));
        }
        if ft.is_char_device() {
            return Ok(Target::CharDevice(p));
        }
    }
    refuse("is not a regular file, a FIFO or a character device (a block device or a socket); refusing to write there")
}

/// A file written into its temporary, waiting for the commit.
struct Pending {
    tmp: PathBuf,
    target: PathBuf,
    shown: PathBuf,
}

/// An output transaction: parts written into temporaries, renamed together by
/// [`Outputs::commit`]; dropping it without a commit removes the temporaries. See the module
/// docs for the rule.
#[derive(Default)]
pub struct Outputs {
    pending: Vec<Pending>,
    keys: Vec<(PathBuf, PathBuf)>,
    remove: Vec<PathBuf>,
}

impl Outputs {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Run `parts` (writes into a fresh transaction) and commit it: the one-call form of the
    /// `write_*_to` functions (`write_labels(l, p)` is `Outputs::run(|o| write_labels_to(o, l,
    /// p))`). Nothing is renamed when `parts` fails.
    pub fn run(parts: impl FnOnce(&mut Outputs) -> Result<()>) -> Result<()> {
        let mut out = Outputs::new();
        parts(&mut out)?;
        out.commit()
    }

    /// Check output paths before any work: each resolves ([`Target::resolve`]: no directory,
    /// no missing folder) and no file is named twice. Call it with every output of a command.
    pub fn check(paths: &[&Path]) -> Result<()> {
        let mut keys: Vec<(PathBuf, &Path)> = Vec::new();
        for &p in paths {
            if let Some(k) = Target::resolve(p)?.key() {
                if let Some((_, q)) = keys.iter().find(|(k2, _)| *k2 == k) {
                    return Err(same_file(q, p));
                }
                keys.push((k, p));
            }
        }
        Ok(())
    }

    /// Write one part: `f` writes the bytes of `path` into a [`Sink`]. A regular file is
    /// written into a temporary that [`Outputs::commit`] renames; a FIFO, a character device or
    /// `-` (standard output) is written now. Refuses a path already written in this
    /// transaction. Errors of `f` are returned as they are; the temporary is removed.
    pub fn write<F>(&mut self, path: &Path, f: F) -> Result<()>
    where
        F: FnOnce(&mut Sink) -> Result<()>,
    {
        let target = Target::resolve(path)?;
        if let Some(k) = target.key() {
            if let Some((_, q)) = self.keys.iter().find(|(k2, _)| *k2 == k) {
                return Err(same_file(q, path));
            }
            self.keys.push((k, path.to_path_buf()));
        }
        let wio = |e| Error::io(path, e);
        match target {
            Target::Stdout => {
                let mut w: Sink = BufWriter::new(Box::new(std::io::stdout()));
                f(&mut w)?;
                w.flush().map_err(wio)
            }
            Target::Fifo(p) | Target::CharDevice(p) => {
                let file = OpenOptions::new().write(true).open(&p).map_err(wio)?;
                let mut w: Sink = BufWriter::with_capacity(1 << 16, Box::new(file));
                f(&mut w)?;
                w.flush().map_err(wio)
            }
            Target::File { path: p, existed } => {
                remove_stale_temporaries(&p);
                let perms = if existed {
                    std::fs::metadata(&p).ok().map(|m| m.permissions())
                } else {
                    None
                };
                let (tmp, file) = create_temporary(&p).map_err(wio)?;
                self.pending.push(Pending {
                    tmp: tmp.clone(),
                    target: p,
                    shown: path.to_path_buf(),
                });
                let mut w: Sink = BufWriter::with_capacity(1 << 20, Box::new(file));
                f(&mut w)?;
                w.flush().map_err(wio)?;
                drop(w);
                if let Some(perms) = perms {
                    set_permissions(&tmp, perms).map_err(wio)?;
                }
                Ok(())
            }
        }
    }

    /// Remove `path` (a file of an earlier run that this output replaces) when the transaction
    /// commits; a missing file is fine.
    pub fn remove_on_commit(&mut self, path: &Path) {
        self.remove.push(path.to_path_buf());
    }

    /// Rename every temporary over its target, then remove the files given to
    /// [`Outputs::remove_on_commit`]. Signals wait until the renames are done. A rename fails
    /// only if the target changed meanwhile (e.g. became a directory); the parts not yet
    /// renamed are then removed and the error names the path.
    pub fn commit(mut self) -> Result<()> {
        let mut reg = temps();
        let pending = std::mem::take(&mut self.pending);
        let mut res = Ok(());
        for p in &pending {
            if res.is_ok() {
                if let Err(e) = std::fs::rename(&p.tmp, &p.target) {
                    res = Err(Error::io(&p.shown, e));
                    let _ = std::fs::remove_file(&p.tmp);
                }
            } else {
                let _ = std::fs::remove_file(&p.tmp);
            }
            reg.retain(|t| *t != p.tmp);
        }
        drop(reg);
        res?;
        for r in std::mem::take(&mut self.remove) {
            match std::fs::remove_file(&r) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(&r, e));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut reg = temps();
        for p in self.pending.drain(..) {
            let _ = std::fs::remove_file(&p.tmp);
            reg.retain(|t| *t != p.tmp);
        }
    }
}

fn same_file(a: &Path, b: &Path) -> Error {
    Error::param(
        "output",
        format!(
            "`{}` and `{}` name the same file; give each output its own path",
            a.display(),
            b.display()
        ),
    )
}

#[cfg(unix)]
fn set_permissions(p: &Path, perms: Permissions) -> std::io::Result<()> {
    std::fs::set_permissions(p, perms)
}
#[cfg(not(unix))]
fn set_permissions(_p: &Path, _perms: Permissions) -> std::io::Result<()> {
    Ok(())
}

/// The prefix `.NAME.tmp` of the temporaries of `target` (a long name is shortened so that the
/// temporary's name stays within the usual 255-byte limit).
fn temp_prefix(target: &Path) -> String {
    let mut name = target
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.len() > 200 {
        let mut cut = 200;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    format!(".{name}.tmp")
}

/// Create a new temporary next to `target` (never opening an existing file or a link) and
/// register it for removal on a signal. Holding the registry lock while creating means a
/// signal's cleanup never misses a temporary.
fn create_temporary(target: &Path) -> std::io::Result<(PathBuf, File)> {
    let dir = parent_dir(target);
    let prefix = temp_prefix(target);
    let pid = std::process::id();
    let mut reg = temps();
    for seq in 0..1000u32 {
        let name = if seq == 0 {
            format!("{prefix}{pid}")
        } else {
            format!("{prefix}{pid}.{seq}")
        };
        let tmp = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => {
                reg.push(tmp.clone());
                return Ok((tmp, f));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(
        "cannot create a temporary file next to the output",
    ))
}

/// The PID in a temporary's name `.NAME.tmpPID` or `.NAME.tmpPID.SEQ` (after the prefix).
fn temp_pid(rest: &str) -> Option<u32> {
    let pid = rest.split('.').next()?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let tail = &rest[pid.len()..];
    if !(tail.is_empty() || (tail.len() > 1 && tail[1..].bytes().all(|b| b.is_ascii_digit()))) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` runs; `None` when this cannot be told (no `/proc`).
fn process_alive(pid: u32) -> Option<bool> {
    if cfg!(target_os = "linux") && Path::new("/proc/self").exists() {
        Some(Path::new("/proc").join(pid.to_string()).exists())
    } else {
        None
    }
}

/// Remove the temporaries of `target` left by processes that no longer run (a run killed
/// with SIGKILL cannot remove its own). Only regular files named `.NAME.tmpPID[.SEQ]` are
/// touched; returns how many were removed. Cost: one listing of the target's folder.
pub fn remove_stale_temporaries(target: &Path) -> usize {
    let prefix = temp_prefix(target);
    let dir = parent_dir(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let me = std::process::id();
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let Some(pid) = temp_pid(rest) else { continue };
        if pid == me || process_alive(pid) != Some(false) {
            continue;
        }
        if e.file_type().map(|t| t.is_file()).unwrap_or(false)
            && std::fs::remove_file(e.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// Write one file through a transaction of one part: see [`Outputs::write`] and the module
/// docs. A failed write leaves nothing behind.
pub fn write_atomic<F>(path: &Path, f: F) -> Result<()>
where
    F: FnOnce(&mut Sink) -> Result<()>,
{
    Outputs::run(|out| out.write(path, f))
}

/// Install the handler that removes this process's temporaries on SIGINT, SIGTERM and SIGHUP,
/// then lets the signal end the process as it would have (exit status of the signal). Safe to
/// call more than once. Library users who handle signals themselves need not call it.
#[cfg(unix)]
pub fn remove_temporaries_on_signal() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::Input(format!("cannot install the signal handler: {e}")))?;
    std::thread::Builder::new()
        .name("neurobricks-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                // Keep the lock: no temporary is created or renamed after this cleanup.
                let reg = temps();
                for t in reg.iter() {
                    let _ = std::fs::remove_file(t);
                }
                let _ = signal_hook::low_level::emulate_default_handler(sig);
                std::process::exit(128 + sig);
            }
        })
        .map_err(|e| Error::Input(format!("cannot start the signal thread: {e}")))?;
    let _ = INSTALLED.set(());
    Ok(())
}

/// Without Unix signals there is nothing to install.
#[cfg(not(unix))]
pub fn remove_temporaries_on_signal() -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nb-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A fresh folder `dir(name)` holding `file` with the text `old`: (folder, file path).
    #[cfg(unix)]
    fn dir_with_old_file(name: &str, file: &str) -> (PathBuf, PathBuf) {
        let d = dir(name);
        let t = d.join(file);
        std::fs::write(&t, "old").unwrap();
        (d, t)
    }

    fn names(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn put(w: &mut Sink, s: &str) -> Result<()> {
        w.write_all(s.as_bytes()).map_err(|e| Error::io("x", e))
    }

    #[test]
    fn parts_are_renamed_only_at_commit_and_removed_on_error() {
        let d = dir("txn");
        let (a, b) = (d.join("a.tsv"), d.join("b.tsv"));
        std::fs::write(&a, "old a").unwrap();
        {
            let mut o = Outputs::new();
            o.write(&a, |w| put(w, "new a")).unwrap();
            // Not yet visible.
            assert_eq!(std::fs::read_to_string(&a).unwrap(), "old a");
            let e = o.write(&b, |_| Err(Error::Input("boom".into())));
            assert!(e.is_err());
            // Dropped without commit.
        }
        assert_eq!(names(&d), ["a.tsv"]);
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "old a");
        let mut o = Outputs::new();
        o.write(&a, |w| put(w, "new a")).unwrap();
        o.write(&b, |w| put(w, "new b")).unwrap();
        o.commit().unwrap();
        assert_eq!(names(&d), ["a.tsv", "b.tsv"]);
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "new a");
        assert!(temps().is_empty() || !temps().iter().any(|t| t.starts_with(&d)));
    }

    #[test]
    fn the_same_file_twice_is_refused() {
        let d = dir("same");
        let a = d.join("a.tsv");
        let a2 = d.join(".").join("a.tsv");
        assert!(Outputs::check(&[&a, &a2]).is_err());
        let mut o = Outputs::new();
        o.write(&a, |w| put(w, "1")).unwrap();
        let e = o.write(&a2, |w| put(w, "2")).unwrap_err().to_string();
        assert!(e.contains("same file"), "{e}");
        // /dev/null may be named twice.
        assert!(Outputs::check(&[Path::new("/dev/null"), Path::new("/dev/null")]).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn links_are_followed_and_special_files_written_through() {
        let (d, t) = dir_with_old_file("special", "target.json");
        let l = d.join("link.json");
        std::os::unix::fs::symlink("target.json", &l).unwrap();
        write_atomic(&l, |w| put(w, "new")).unwrap();
        assert!(std::fs::symlink_metadata(&l)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&t).unwrap(), "new");
        // A dangling link creates its target.
        let l2 = d.join("dangling");
        std::os::unix::fs::symlink("made.json", &l2).unwrap();
        write_atomic(&l2, |w| put(w, "x")).unwrap();
        assert_eq!(std::fs::read_to_string(d.join("made.json")).unwrap(), "x");
        // A character device (a private copy of /dev/null when we may make one) stays one.
        use std::os::unix::fs::FileTypeExt;
        let null = d.join("null");
        let made = std::process::Command::new("mknod")
            .arg(&null)
            .args(["c", "1", "3"])
            .status();
        if made.map(|s| s.success()).unwrap_or(false) {
            write_atomic(&null, |w| put(w, "gone")).unwrap();
            assert!(std::fs::metadata(&null)
                .unwrap()
                .file_type()
                .is_char_device());
        }
        // A directory is refused, and so is a missing folder.
        let e = write_atomic(&d, |w| put(w, "x")).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        let e = write_atomic(&d.join("no/such/f.tsv"), |w| put(w, "x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
        // A FIFO is written through (a reader thread drains it).
        let f = d.join("fifo");
        let st = std::process::Command::new("mkfifo").arg(&f).status();
        if st.map(|s| s.success()).unwrap_or(false) {
            let f2 = f.clone();
            let reader = std::thread::spawn(move || std::fs::read_to_string(f2).unwrap());
            write_atomic(&f, |w| put(w, "through")).unwrap();
            assert_eq!(reader.join().unwrap(), "through");
            assert!(std::fs::metadata(&f).unwrap().file_type().is_fifo());
        }
        let left: Vec<String> = names(&d)
            .into_iter()
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let d = dir("stale");
        let t = d.join("g.tsv");
        // A PID above the kernel's maximum (4194304) never runs.
        let dead = d.join(".g.tsv.tmp4294967");
        let dead2 = d.join(".g.tsv.tmp4294967.3");
        let mine = d.join(format!(".g.tsv.tmp{}", std::process::id()));
        let other = d.join(".g.tsv.tmpnotapid");
        let alive = d.join(".g.tsv.tmp1");
        for p in [&dead, &dead2, &mine, &other, &alive] {
            std::fs::write(p, "x").unwrap();
        }
        write_atomic(&t, |w| put(w, "ok")).unwrap();
        let n = names(&d);
        assert!(!n.contains(&".g.tsv.tmp4294967".to_string()), "{n:?}");
        assert!(!n.contains(&".g.tsv.tmp4294967.3".to_string()), "{n:?}");
        assert!(n.contains(&".g.tsv.tmpnotapid".to_string()));
        if Path::new("/proc/1").exists() {
            assert!(n.contains(&".g.tsv.tmp1".to_string()));
        }
        assert_eq!(std::fs::read_to_string(&t).unwrap(), "ok");
    }

    #[cfg(unix)]
    #[test]
    fn permissions_of_a_replaced_file_are_kept() {
        use std::os::unix::fs::PermissionsExt;
        let (_, t) = dir_with_old_file("perms", "x.tsv");
        std::fs::set_permissions(&t, Permissions::from_mode(0o640)).unwrap();
        write_atomic(&t, |w| put(w, "new")).unwrap();
        let m = std::fs::metadata(&t).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o640);
    }
}
