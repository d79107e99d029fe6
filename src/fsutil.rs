//! File-system helpers shared by the stores, and the file-safety rules every write follows (DESIGN §1.1):
//!
//! - **Replacement** ([`write_atomic`], [`write_private`]): the new content goes to a temp file created
//!   exclusively (`O_EXCL`, so never through a symlink) under a unique name in the target's directory,
//!   then is renamed over the target; on failure the temp file is removed.
//! - **Symlinks**: a file we replace or append to may be a symbolic link only if it resolves inside its
//!   own directory ([`refuse_escaping_link`]); directories on the way (`kitty-specs/`, a feature
//!   directory) may be links only if they stay inside the project ([`ensure_within`]). Anything else is
//!   refused with an error naming the link.
//! - **Reads of small inputs** ([`read_small`]) are limited to regular files under a size cap, so a
//!   device, a FIFO or a runaway file can neither hang a command nor exhaust its memory.
//! - **Lock waits** ([`lock_exclusive`], [`lock_shared`]) are bounded: `try_lock` polling with a short
//!   backoff, and an error naming the holder's pid when the kernel tells it.

use std::fs::{File, OpenOptions, TryLockError};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// The size cap of most small inputs: configuration, credentials, clocks, meta.json, state files.
pub const SMALL_FILE_CAP: u64 = 1 << 20;
/// The size cap of pricing files (a LiteLLM price list is a few hundred KiB today), CA bundles and the
/// project documents commands edit (WP prompts, tasks.md).
pub const LARGE_FILE_CAP: u64 = 16 << 20;

/// Replaces `path` atomically with `bytes`: readers see the old or the new content, never a mix. The temp
/// file is created exclusively under a unique name beside `path`, so concurrent writers never share one
/// and a planted symlink is never followed. No fsync, as upstream: these are project files under git, and
/// ext4 and its peers flush a replaced file's data before the rename becomes durable.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, 0o666, false)
}

/// As [`write_atomic_locked`] for secrets: the file is 0600 from its first byte and synced before the
/// rename. The caller holds the lock that serialises writers of `path`.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    remove_stale_temps(path);
    replace(path, bytes, 0o600, true)
}

/// As [`write_atomic`] for a file whose writers are serialised by a lock the caller holds (the clock
/// under its log's lock, `status.json` under the status lock): temp files that writers killed between
/// creating and renaming them left behind are removed first, so they never accumulate.
pub fn write_atomic_locked(path: &Path, bytes: &[u8]) -> io::Result<()> {
    remove_stale_temps(path);
    write_atomic(path, bytes)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The name part of `path`'s temp files, cut to keep them within NAME_MAX whatever the target's name.
fn temp_stem(path: &Path) -> String {
    let name = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy());
    name.chars()
        .scan(0, |len, c| {
            *len += c.len_utf8();
            (*len <= 200).then_some(c)
        })
        .collect()
}

/// Removes `.<name>.<pid>.<16 hex>.tmp` files of `path` (only names of exactly that shape).
fn remove_stale_temps(path: &Path) {
    let prefix = format!(".{}.", temp_stem(path));
    let Ok(entries) = std::fs::read_dir(parent_dir(path)) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(middle) = name.to_str().and_then(|n| n.strip_prefix(&prefix)).and_then(|n| n.strip_suffix(".tmp"))
        else {
            continue;
        };
        let ours = middle.split_once('.').is_some_and(|(pid, random)| {
            !pid.is_empty()
                && pid.bytes().all(|b| b.is_ascii_digit())
                && random.len() == 16
                && random.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if ours {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn replace(path: &Path, bytes: &[u8], mode: u32, sync: bool) -> io::Result<()> {
    refuse_escaping_link(path)?;
    let dir = parent_dir(path);
    let short = temp_stem(path);
    for _ in 0..32 {
        let temp = dir.join(format!(".{short}.{}.{:016x}.tmp", std::process::id(), random_u64()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp);
        let mut file = match file {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let result = file
            .write_all(bytes)
            .and_then(|()| if sync { file.sync_all() } else { Ok(()) })
            .and_then(|()| std::fs::rename(&temp, path));
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        return result;
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "could not create a unique temp file beside it"))
}

/// 64 bits that differ between calls and processes (temp-file names; not for secrets).
fn random_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.finish()
}

// ---------------------------------------------------------------------------------------------------
// symlinks

/// Refuses `path` when it is a symbolic link that resolves outside the directory holding it (an error
/// naming the link and its target). A missing file, a regular file and a link to a sibling pass.
pub fn refuse_escaping_link(path: &Path) -> io::Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(()) };
    if !meta.file_type().is_symlink() {
        return Ok(());
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let dir = dir.canonicalize()?;
    let target = resolve_link(path)?;
    if target.starts_with(&dir) && target != dir {
        return Ok(());
    }
    Err(escape_error(path, &target, &dir))
}

/// Refuses a write to `path` when a symbolic link on its way from `root` (or `path` itself) leads outside
/// `root`, or when `path` is not inside `root` at all. Links that stay inside are fine. Components that
/// do not exist yet are taken as they are (creating them cannot leave `root`).
pub fn ensure_within(root: &Path, path: &Path) -> io::Result<()> {
    let canonical_root = root.canonicalize()?;
    let Ok(relative) = path.strip_prefix(root) else {
        let resolved = resolve_lexically(path)?;
        if resolved.starts_with(&canonical_root) {
            return Ok(());
        }
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is outside the project {}", path.display(), root.display()),
        ));
    };
    let mut prefix = root.to_path_buf();
    for component in relative.components() {
        match component {
            Component::Normal(part) => prefix.push(part),
            Component::CurDir => continue,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{} leaves the project {} through '..'", path.display(), root.display()),
                ));
            }
        }
        match std::fs::symlink_metadata(&prefix) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = resolve_link(&prefix)?;
                if !target.starts_with(&canonical_root) {
                    return Err(escape_error(&prefix, &target, root));
                }
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

fn escape_error(link: &Path, target: &Path, boundary: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "{} is a symbolic link to {}, outside {}; refusing to write through it (replace the link with a real \
             file or directory)",
            link.display(),
            target.display(),
            boundary.display()
        ),
    )
}

/// Where the link `path` points, with every existing component resolved (a dangling link resolves to
/// the path it would create).
fn resolve_link(path: &Path) -> io::Result<PathBuf> {
    match path.canonicalize() {
        Ok(target) => Ok(target),
        Err(_) => {
            let target = std::fs::read_link(path)?;
            let base = path.parent().unwrap_or(Path::new("/"));
            resolve_lexically(&base.join(target))
        }
    }
}

/// `path` with its longest existing prefix canonicalised and the rest applied lexically.
fn resolve_lexically(path: &Path) -> io::Result<PathBuf> {
    let absolute = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir()?.join(path) };
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    let base = loop {
        if let Ok(canonical) = existing.canonicalize() {
            break canonical;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break PathBuf::from("/"),
        }
    };
    let mut resolved = base;
    for part in rest.iter().rev() {
        if part == ".." {
            resolved.pop();
        } else if part != "." {
            resolved.push(part);
        }
    }
    Ok(resolved)
}

// ---------------------------------------------------------------------------------------------------
// bounded reads

/// The whole of a small input file: it must be a regular file of at most `cap` bytes. A FIFO or device
/// is refused without blocking; a missing file keeps its `NotFound` kind. Errors do not repeat the
/// path: callers name it.
pub fn read_small(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path, OpenOptions::new().read(true))?;
    let len = file.metadata()?.len();
    if len > cap {
        return Err(too_large(cap));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(too_large(cap));
    }
    Ok(bytes)
}

/// [`read_small`] as UTF-8 text.
pub fn read_small_string(path: &Path, cap: u64) -> io::Result<String> {
    String::from_utf8(read_small(path, cap)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not valid UTF-8 text"))
}

fn too_large(cap: u64) -> io::Error {
    io::Error::new(io::ErrorKind::FileTooLarge, format!("larger than the {} limit for this file", human_bytes(cap)))
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n.is_multiple_of(1 << 20) => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n.is_multiple_of(1 << 10) => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// Opens `path` with `options`, refusing anything but a regular file before and after opening (a FIFO
/// is opened non-blocking, so it never hangs us). For event logs and small inputs.
pub fn open_regular(path: &Path, options: &OpenOptions) -> io::Result<File> {
    if let Ok(meta) = std::fs::metadata(path) {
        check_regular(&meta)?;
    }
    let mut options = options.clone();
    options.custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC);
    let file = options.open(path)?;
    check_regular(&file.metadata()?)?;
    // Back to blocking mode (it changes nothing for regular files, but keeps later reads plain).
    // SAFETY: F_GETFL/F_SETFL on a descriptor we own.
    unsafe {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(file)
}

fn check_regular(meta: &std::fs::Metadata) -> io::Result<()> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(io::Error::new(io::ErrorKind::InvalidInput, format!("not a regular file ({what})")))
}

// ---------------------------------------------------------------------------------------------------
// bounded lock waits

/// A lock wait that ran out: who holds the lock (when the kernel says) and for how long we waited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockTimeout {
    pub path: PathBuf,
    pub waited: Duration,
    pub holder: Option<u32>,
}

impl std::fmt::Display for LockTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is locked by another process", self.path.display())?;
        if let Some(pid) = self.holder {
            write!(f, " (pid {pid})")?;
        }
        write!(f, "; gave up after {}", human_duration(self.waited))
    }
}

impl std::error::Error for LockTimeout {}

impl LockTimeout {
    /// The timeout inside an I/O error, if that is what it is.
    pub fn of(error: &io::Error) -> Option<&LockTimeout> {
        error.get_ref().and_then(|inner| inner.downcast_ref::<LockTimeout>())
    }
}

/// `2s`, `250ms`, `1.5s`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms > 1000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{ms}ms")
    }
}

/// Takes `file`'s exclusive advisory lock, waiting at most `timeout`; on timeout an error of kind
/// `TimedOut` carrying a [`LockTimeout`] for `path`.
pub fn lock_exclusive(file: &File, path: &Path, timeout: Duration) -> io::Result<()> {
    lock_bounded(file, path, timeout, false)
}

/// As [`lock_exclusive`], for the shared lock readers take.
pub fn lock_shared(file: &File, path: &Path, timeout: Duration) -> io::Result<()> {
    lock_bounded(file, path, timeout, true)
}

fn lock_bounded(file: &File, path: &Path, timeout: Duration, shared: bool) -> io::Result<()> {
    use crate::diagnostics::Ms;
    const MAX_PAUSE: Duration = Duration::from_millis(10);
    let mode = if shared { "shared" } else { "exclusive" };
    let start = Instant::now();
    let mut pause = Duration::from_micros(500);
    let mut contended = false;
    loop {
        let attempt = if shared { file.try_lock_shared() } else { file.try_lock() };
        match attempt {
            Ok(()) if contended => {
                let waited = Ms(start.elapsed());
                tracing::debug!(path = %path.display(), %waited, "{mode} lock acquired after waiting");
                return Ok(());
            }
            Ok(()) => {
                tracing::debug!(path = %path.display(), "{mode} lock acquired");
                return Ok(());
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(e),
        }
        if !contended {
            contended = true;
            // Reading /proc/locks costs a little: only when someone will see the answer.
            if tracing::enabled!(tracing::Level::DEBUG) {
                let holder_pid = lock_holder(file);
                let timeout = Ms(timeout);
                tracing::debug!(path = %path.display(), holder_pid, %timeout, "{mode} lock held by another process; waiting");
            }
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            let timeout = LockTimeout { path: path.to_owned(), waited: timeout, holder: lock_holder(file) };
            tracing::debug!(path = %path.display(), holder_pid = timeout.holder, waited = %Ms(elapsed), "{mode} lock wait timed out");
            return Err(io::Error::new(io::ErrorKind::TimedOut, timeout));
        }
        std::thread::sleep(pause.min(timeout - elapsed));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// The pid holding a `flock` on `file`, from `/proc/locks` (Linux; `None` elsewhere or when unknown).
pub fn lock_holder(file: &File) -> Option<u32> {
    let meta = file.metadata().ok()?;
    let (major, minor) = (libc::major(meta.dev()), libc::minor(meta.dev()));
    let wanted = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    // The kernel hands the list out a page per read() and numbers entries by position, so while other
    // processes lock and unlock, a read can skip a line (measured: 4.6 % of lookups under four processes
    // churning POSIX locks, as SQLite does): look again before concluding nobody holds it.
    (0..5).find_map(|_| {
        let text = read_small_string(Path::new("/proc/locks"), 16 << 20).ok()?;
        text.lines().find_map(|line| {
            // "1: FLOCK  ADVISORY  WRITE 23768 fe:00:10010706 0 EOF"; waiters have "->" after the number.
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [_, "FLOCK", _, _, pid, id, ..] if *id == wanted => pid.parse().ok().filter(|&p: &u32| p > 0),
                _ => None,
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["x.json"]);
        assert!(write_atomic(&dir.path().join("missing/view.json"), b"x").is_err());
    }

    #[test]
    fn a_planted_temp_symlink_is_never_followed() {
        // Upstream-style fixed temp names (`<file>.tmp`, `.<file>.<pid>.tmp`) pointing at a victim.
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let project = dir.path().join("p");
        std::fs::create_dir(&project).unwrap();
        let path = project.join("status.json");
        symlink(&victim, project.join("status.json.tmp")).unwrap();
        symlink(&victim, project.join(format!(".status.json.{}.tmp", std::process::id()))).unwrap();
        write_atomic(&path, b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
    }

    #[test]
    fn a_link_leaving_its_directory_is_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let project = dir.path().join("p");
        std::fs::create_dir(&project).unwrap();
        let link = project.join(".telemetry-clock.json");
        symlink(&victim, &link).unwrap();
        let err = write_atomic(&link, b"{}").unwrap_err();
        assert!(err.to_string().contains(".telemetry-clock.json is a symbolic link to"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        // A dangling link is judged by where it would write.
        let dangling = project.join("meta.json");
        symlink(dir.path().join("new-victim"), &dangling).unwrap();
        assert!(write_atomic(&dangling, b"{}").is_err());
        assert!(!dir.path().join("new-victim").exists());
        // A link to a sibling is replaced (the link itself, as rename does).
        std::fs::write(project.join("real.json"), "old").unwrap();
        let sibling = project.join("alias.json");
        symlink("real.json", &sibling).unwrap();
        write_atomic(&sibling, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(project.join("real.json")).unwrap(), "old");
        assert_eq!(std::fs::read_to_string(&sibling).unwrap(), "new");
    }

    #[test]
    fn locked_writers_remove_temp_files_left_by_killed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        for leftover in [".status.json.123.00000000deadbeef.tmp", ".status.json.9.0123456789abcdef.tmp"] {
            std::fs::write(dir.path().join(leftover), "half").unwrap();
        }
        // Names of another shape are not ours to remove.
        for other in
            [".status.json.mine.tmp", ".status.json.1.xyz.tmp", "status.json.tmp", ".other.1.0123456789abcdef.tmp"]
        {
            std::fs::write(dir.path().join(other), "keep").unwrap();
        }
        write_atomic_locked(&path, b"{}").unwrap();
        assert_eq!(
            names(dir.path()),
            [
                ".other.1.0123456789abcdef.tmp",
                ".status.json.1.xyz.tmp",
                ".status.json.mine.tmp",
                "status.json",
                "status.json.tmp"
            ]
        );
    }

    #[test]
    fn private_files_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        write_private(&path, b"secret").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn containment_allows_links_inside_and_names_links_outside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("specs-real/001-a")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        symlink(root.join("specs-real"), root.join("kitty-specs")).unwrap();
        ensure_within(&root, &root.join("kitty-specs/001-a/status.events.jsonl")).unwrap();
        ensure_within(&root, &root.join("kitty-specs/002-new/x")).unwrap();
        symlink(&outside, root.join("specs-real/003-out")).unwrap();
        let err = ensure_within(&root, &root.join("kitty-specs/003-out/execution.events.jsonl")).unwrap_err();
        assert!(err.to_string().contains("kitty-specs/003-out is a symbolic link to"), "{err}");
        symlink(outside.join("missing"), root.join("specs-real/004-dangling")).unwrap();
        assert!(ensure_within(&root, &root.join("kitty-specs/004-dangling")).is_err());
        assert!(ensure_within(&root, &outside.join("x")).is_err());
        assert!(ensure_within(&root, &root.join("kitty-specs/../../outside")).is_err());
    }

    #[test]
    fn small_reads_refuse_devices_fifos_and_big_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_small(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(err.to_string().contains("not a regular file (a device)"), "{err}");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_small(&fifo, 1024).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 2048]).unwrap();
        let err = read_small(&big, 1024).unwrap_err();
        assert_eq!(err.to_string(), "larger than the 1 KiB limit for this file");
        assert_eq!(read_small(&big, 2048).unwrap().len(), 2048);
        assert_eq!(read_small(&dir.path().join("none"), 1).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn lock_waits_are_bounded_and_name_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let held = File::create(&path).unwrap();
        held.lock().unwrap();
        let other = File::open(&path).unwrap();
        let err = lock_exclusive(&other, &path, Duration::from_millis(50)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let timeout = LockTimeout::of(&err).unwrap();
        assert_eq!(timeout.holder, Some(std::process::id()));
        assert!(err.to_string().ends_with(&format!("(pid {}); gave up after 50ms", std::process::id())), "{err}");
        assert!(lock_shared(&other, &path, Duration::from_millis(10)).is_err());
        drop(held);
        lock_exclusive(&other, &path, Duration::from_millis(50)).unwrap();
    }
}
