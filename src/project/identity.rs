//! The project's sync identity: a random uuid, a slug and the machine's node id.

use super::config::ProjectIdentity;
use crate::context::Context;
use sha2::{Digest, Sha256};
use std::path::Path;

/// `sha256("hostname:username")`, first 12 hex digits: upstream's stable per-machine node id.
pub fn machine_node_id() -> String {
    node_id_for(&hostname(), &username())
}

pub fn node_id_for(host: &str, user: &str) -> String {
    let digest = Sha256::digest(format!("{host}:{user}").as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it on success.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if ok { String::from_utf8_lossy(&buf[..end]).into_owned() } else { "localhost".into() }
}

fn username() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| format!("uid{}", unsafe { libc::getuid() }))
}

/// A random (version 4) UUID from the context's id source, so tests can pin it.
pub fn new_uuid(ctx: &Context) -> String {
    let random = ctx.new_ulid().random() ^ (u128::from(ctx.new_ulid().random() as u64) << 64);
    let mut bytes = random.to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// Upstream's project slug: the last path segment of `origin`'s URL (without `.git`), else the
/// directory name; lower-cased with `_` and spaces turned into `-`.
pub fn project_slug(root: &Path, origin_url: Option<&str>) -> String {
    let raw = match origin_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => {
            let url = url.strip_suffix(".git").unwrap_or(url);
            let path = if url.contains("://") { url } else { url.rsplit(':').next().unwrap_or(url) };
            path.rsplit('/').next().unwrap_or(path).to_owned()
        }
        None => root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "project".into()),
    };
    raw.to_lowercase().replace(['_', ' '], "-")
}

/// A complete identity for a project, keeping any part it already has.
pub fn complete_identity(
    existing: &ProjectIdentity,
    ctx: &Context,
    root: &Path,
    origin_url: Option<&str>,
) -> ProjectIdentity {
    ProjectIdentity {
        uuid: existing.uuid.clone().or_else(|| Some(new_uuid(ctx))),
        slug: existing.slug.clone().or_else(|| Some(project_slug(root, origin_url))),
        node_id: existing.node_id.clone().or_else(|| Some(machine_node_id())),
        repo_slug: existing.repo_slug.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_matches_upstreams_example() {
        assert_eq!(node_id_for("alice-laptop", "alice"), "10de6763124b");
        assert_eq!(machine_node_id().len(), 12);
    }

    #[test]
    fn slugs_follow_the_remote_or_directory() {
        let root = Path::new("/work/My_Project");
        assert_eq!(project_slug(root, Some("git@github.com:acme/Spec_Kitty.git")), "spec-kitty");
        assert_eq!(project_slug(root, Some("https://github.com/acme/widgets.git")), "widgets");
        assert_eq!(project_slug(root, None), "my-project");
    }

    #[test]
    fn uuids_are_version_4() {
        let ctx = Context::from_vars(None, |k| (k == "SPEC_KITTY_ID_SEED").then(|| "5".into())).unwrap();
        let uuid = new_uuid(&ctx);
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"));
    }
}
