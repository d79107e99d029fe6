//! Encoding checks for a feature's planning documents (`spec-kitty validate-encoding`).
//!
//! Two kinds of findings:
//!
//! - **Encoding errors**: bytes that are not valid UTF-8 — typically Windows-1252 "smart" punctuation
//!   (`0x91`–`0x94` quotes, `0x96`/`0x97` dashes, `0x85` ellipsis) pasted into an otherwise UTF-8 file.
//!   They break every UTF-8 reader (upstream's dashboard renders blank pages). A repair decodes each invalid
//!   byte as Windows-1252 (the five bytes that code page leaves undefined as Latin-1, as upstream's fallback
//!   does) and then applies upstream's ASCII normalisation to the character it stands for, so `0x93 … 0x94`
//!   becomes `"…"` exactly as upstream's `--fix` writes it. Valid UTF-8 around them is kept as is (upstream
//!   decodes the whole file as cp1252, which turns every correct `é` of such a file into `Ã©`).
//! - **Typographic characters**: the valid UTF-8 characters upstream's `text_sanitization.PROBLEMATIC_CHARS`
//!   replaces with ASCII (smart quotes, en/em dashes, `…`, `±`, `×`, `÷`, `•`, `‣`, `°`, no-break space,
//!   `™`, `©`, `®`). Upstream counts every one of them as an issue; spec-kitty's own templates and Activity
//!   Log lines contain en dashes, so that rule fails every generated work package and its repair breaks the
//!   Activity Log (whose parser needs ` – ` or ` - `, not ` -- `). Here they are problems only in ASCII mode
//!   ([`Options::ascii`]), and even then the en dashes of Activity Log entry lines are left alone.
//!
//! Everything here is pure except [`markdown_files`] (a directory walk) and [`write_repair`].

mod feature;

pub use feature::{EncodingReport, FeatureOutcome, FileOutcome, all_feature_dirs, check_feature, relative};

use std::path::{Path, PathBuf};

/// The characters upstream normalises, with their ASCII replacements (upstream's table, in its order).
pub const TYPOGRAPHIC: [(char, &str); 17] = [
    ('\u{2018}', "'"),
    ('\u{2019}', "'"),
    ('\u{201C}', "\""),
    ('\u{201D}', "\""),
    ('\u{2013}', "--"),
    ('\u{2014}', "---"),
    ('\u{00B1}', "+/-"),
    ('\u{00D7}', "x"),
    ('\u{00F7}', "/"),
    ('\u{2026}', "..."),
    ('\u{2022}', "*"),
    ('\u{2023}', ">"),
    ('\u{00B0}', " degrees"),
    ('\u{00A0}', " "),
    ('\u{2122}', "(TM)"),
    ('\u{00A9}', "(C)"),
    ('\u{00AE}', "(R)"),
];

/// Windows-1252 bytes 0x80–0x9F (`None`: undefined in the code page, decoded as Latin-1 instead).
const CP1252_HIGH: [Option<char>; 32] = [
    Some('\u{20AC}'),
    None,
    Some('\u{201A}'),
    Some('\u{0192}'),
    Some('\u{201E}'),
    Some('\u{2026}'),
    Some('\u{2020}'),
    Some('\u{2021}'),
    Some('\u{02C6}'),
    Some('\u{2030}'),
    Some('\u{0160}'),
    Some('\u{2039}'),
    Some('\u{0152}'),
    None,
    Some('\u{017D}'),
    None,
    None,
    Some('\u{2018}'),
    Some('\u{2019}'),
    Some('\u{201C}'),
    Some('\u{201D}'),
    Some('\u{2022}'),
    Some('\u{2013}'),
    Some('\u{2014}'),
    Some('\u{02DC}'),
    Some('\u{2122}'),
    Some('\u{0161}'),
    Some('\u{203A}'),
    Some('\u{0153}'),
    None,
    Some('\u{017E}'),
    Some('\u{0178}'),
];

const BOM: &str = "\u{FEFF}";

/// The character a byte stands for in Windows-1252 (Latin-1 where the code page has no character).
pub fn cp1252_char(byte: u8) -> char {
    match byte {
        0x80..=0x9F => CP1252_HIGH[usize::from(byte - 0x80)].unwrap_or(char::from(byte)),
        _ => char::from(byte),
    }
}

/// The ASCII replacement upstream writes for `c`, when it has one.
pub fn ascii_replacement(c: char) -> Option<&'static str> {
    TYPOGRAPHIC.iter().find(|(from, _)| *from == c).map(|(_, to)| *to)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Treat (and repair) the typographic characters as upstream does: replace them with ASCII.
    pub ascii: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueKind {
    /// A byte that is not valid UTF-8.
    InvalidUtf8,
    /// A valid UTF-8 character upstream replaces with ASCII.
    Typographic,
}

impl IssueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::InvalidUtf8 => "invalid_utf8",
            IssueKind::Typographic => "typographic",
        }
    }
}

/// One finding, located in the original bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub kind: IssueKind,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters of the decoded line.
    pub column: usize,
    /// Byte offset in the file.
    pub offset: usize,
    /// `0x92` for an invalid byte, `U+2019` for a character.
    pub found: String,
    /// The character it stands for (the Windows-1252 reading of an invalid byte).
    pub character: char,
    /// What a repair writes in its place.
    pub replacement: String,
}

/// The findings for one file's bytes, and the repaired bytes when a repair would change anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// Problems: invalid bytes, and typographic characters in ASCII mode.
    pub problems: Vec<Issue>,
    /// Typographic characters left alone outside ASCII mode (reported as a count only).
    pub typographic_notes: usize,
    /// The repaired file, `Some` exactly when there are problems.
    pub repaired: Option<Vec<u8>>,
}

/// A decoded character and where it came from.
struct Decoded {
    ch: char,
    offset: usize,
    /// The byte, when the character is the Windows-1252 reading of an invalid UTF-8 byte.
    invalid: Option<u8>,
}

/// Checks one file's bytes.
pub fn check_bytes(bytes: &[u8], options: Options) -> Checked {
    let decoded = decode(bytes);
    let mut checked = Checked::default();
    let mut out = String::with_capacity(bytes.len() + 16);
    let mut line_start = 0;
    let mut line_no = 1;
    while line_start < decoded.len() {
        let line_end =
            decoded[line_start..].iter().position(|d| d.ch == '\n').map_or(decoded.len(), |i| line_start + i + 1);
        let line = &decoded[line_start..line_end];
        let text: String = line.iter().map(|d| d.ch).collect();
        let activity_entry = !crate::workflow::activity::parse_activity(&text).is_empty();
        for (index, d) in line.iter().enumerate() {
            let issue = |kind, found: String, replacement: &str| Issue {
                kind,
                line: line_no,
                column: index + 1,
                offset: d.offset,
                found,
                character: d.ch,
                replacement: replacement.to_owned(),
            };
            if let Some(byte) = d.invalid {
                let replacement = ascii_replacement(d.ch).map_or_else(|| d.ch.to_string(), str::to_owned);
                out.push_str(&replacement);
                checked.problems.push(issue(IssueKind::InvalidUtf8, format!("0x{byte:02X}"), &replacement));
                continue;
            }
            match ascii_replacement(d.ch) {
                Some(_) if d.ch == '\u{2013}' && activity_entry => out.push(d.ch),
                Some(replacement) if options.ascii => {
                    out.push_str(replacement);
                    checked.problems.push(issue(
                        IssueKind::Typographic,
                        format!("U+{:04X}", u32::from(d.ch)),
                        replacement,
                    ));
                }
                Some(_) => {
                    checked.typographic_notes += 1;
                    out.push(d.ch);
                }
                None => out.push(d.ch),
            }
        }
        line_start = line_end;
        line_no += 1;
    }
    if !checked.problems.is_empty() {
        // As upstream, a rewritten file loses its byte-order mark.
        let text = out.strip_prefix(BOM).unwrap_or(&out);
        checked.repaired = Some(text.as_bytes().to_vec());
    }
    checked
}

/// UTF-8 where the bytes are valid, Windows-1252 byte by byte where they are not.
fn decode(bytes: &[u8]) -> Vec<Decoded> {
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let (valid, invalid_len) = match std::str::from_utf8(&bytes[at..]) {
            Ok(text) => (text, 0),
            Err(e) => {
                let valid = std::str::from_utf8(&bytes[at..at + e.valid_up_to()]).unwrap_or_default();
                (valid, e.error_len().unwrap_or(bytes.len() - at - e.valid_up_to()))
            }
        };
        decoded.extend(valid.char_indices().map(|(i, ch)| Decoded { ch, offset: at + i, invalid: None }));
        at += valid.len();
        for (offset, &byte) in bytes.iter().enumerate().skip(at).take(invalid_len) {
            decoded.push(Decoded { ch: cp1252_char(byte), offset, invalid: Some(byte) });
        }
        at += invalid_len;
    }
    decoded
}

/// The `*.md` files under `dir` and its subdirectories (as upstream's `**/*.md`), sorted. Symbolic links
/// are not followed: a repair never writes outside the feature directory.
pub fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).into_iter().flatten().flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The backup a repair keeps of `path`: `<name>.bak` beside it (upstream's name).
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".bak");
    path.with_file_name(name)
}

/// Writes a repair: the original bytes to the backup first (when asked), then the repaired bytes over the
/// file, atomically, keeping its permissions. Returns the backup's path.
pub fn write_repair(path: &Path, original: &[u8], repaired: &[u8], backup: bool) -> std::io::Result<Option<PathBuf>> {
    let permissions = std::fs::metadata(path)?.permissions();
    let backup_file = if backup {
        let target = backup_path(path);
        crate::fsutil::write_atomic(&target, original)?;
        Some(target)
    } else {
        None
    };
    crate::fsutil::write_atomic(path, repaired)?;
    std::fs::set_permissions(path, permissions)?;
    Ok(backup_file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Options = Options { ascii: false };
    const ASCII: Options = Options { ascii: true };

    #[test]
    fn clean_utf8_has_nothing_to_repair() {
        let checked = check_bytes("# Spec\n\nCafé, naïve, 🚀, √ ≠ ≤\n".as_bytes(), PLAIN);
        assert_eq!(checked, Checked::default());
        assert_eq!(check_bytes(b"", ASCII), Checked::default());
    }

    #[test]
    fn cp1252_bytes_in_utf8_are_located_and_repaired_as_upstream_writes_them() {
        // "User’s “test” — café…" with cp1252 punctuation around a correctly encoded é.
        let mut bytes = b"# T\nUser\x92s \x93test\x94 \x97 caf".to_vec();
        bytes.extend_from_slice("é".as_bytes());
        bytes.extend_from_slice(b"\x85\n");
        let checked = check_bytes(&bytes, PLAIN);
        let found: Vec<(usize, usize, usize, &str, char, &str)> = checked
            .problems
            .iter()
            .map(|i| (i.line, i.column, i.offset, i.found.as_str(), i.character, i.replacement.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (2, 5, 8, "0x92", '\u{2019}', "'"),
                (2, 8, 11, "0x93", '\u{201C}', "\""),
                (2, 13, 16, "0x94", '\u{201D}', "\""),
                (2, 15, 18, "0x97", '\u{2014}', "---"),
                (2, 21, 25, "0x85", '\u{2026}', "..."),
            ]
        );
        assert!(checked.problems.iter().all(|i| i.kind == IssueKind::InvalidUtf8));
        assert_eq!(checked.repaired.as_deref(), Some("# T\nUser's \"test\" --- café...\n".as_bytes()));
    }

    #[test]
    fn other_invalid_bytes_read_as_windows_1252_or_latin_1() {
        let checked = check_bytes(b"na\xefve \x80 \x81 \xe2\x80x", PLAIN);
        assert_eq!(checked.repaired.as_deref(), Some("naïve € \u{81} â€x".as_bytes()));
        assert_eq!(checked.problems.len(), 5);
        assert_eq!(checked.problems[3].found, "0xE2");
    }

    #[test]
    fn typographic_characters_are_problems_only_in_ascii_mode() {
        let text = "User’s “test” – 3 × 4 ± 1 … 72° ©\n";
        let plain = check_bytes(text.as_bytes(), PLAIN);
        assert!(plain.problems.is_empty() && plain.repaired.is_none());
        assert_eq!(plain.typographic_notes, 9);
        let ascii = check_bytes(text.as_bytes(), ASCII);
        assert_eq!(ascii.problems.len(), 9);
        assert_eq!(ascii.problems[0].found, "U+2019");
        assert_eq!(ascii.repaired.as_deref(), Some("User's \"test\" -- 3 x 4 +/- 1 ... 72 degrees (C)\n".as_bytes()));
    }

    #[test]
    fn activity_log_separators_survive_ascii_mode() {
        let text = "# WP01 – Store\n\n## Activity Log\n\n- 2026-02-16T10:00:00Z – claude – lane=doing – “Started”\n";
        let checked = check_bytes(text.as_bytes(), ASCII);
        assert_eq!(
            String::from_utf8(checked.repaired.unwrap()).unwrap(),
            "# WP01 -- Store\n\n## Activity Log\n\n- 2026-02-16T10:00:00Z – claude – lane=doing – \"Started\"\n"
        );
    }

    #[test]
    fn a_bom_is_dropped_only_when_the_file_is_rewritten() {
        let mut bytes = BOM.as_bytes().to_vec();
        bytes.extend_from_slice(b"ok\n");
        assert!(check_bytes(&bytes, ASCII).repaired.is_none());
        bytes.extend_from_slice(b"\x92\n");
        assert_eq!(check_bytes(&bytes, PLAIN).repaired.as_deref(), Some("ok\n'\n".as_bytes()));
    }

    #[test]
    fn crlf_lines_are_counted_and_kept() {
        let checked = check_bytes(b"a\r\nb\x96c\r\n", PLAIN);
        assert_eq!((checked.problems[0].line, checked.problems[0].column), (2, 2));
        assert_eq!(checked.repaired.as_deref(), Some(b"a\r\nb--c\r\n".as_slice()));
    }

    #[test]
    fn walks_markdown_files_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("tasks")).unwrap();
        std::fs::write(root.join("spec.md"), "x").unwrap();
        std::fs::write(root.join("tasks/WP01-a.md"), "x").unwrap();
        std::fs::write(root.join("notes.txt"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("spec.md"), root.join("link.md")).unwrap();
        let names: Vec<String> =
            markdown_files(root).iter().map(|p| p.strip_prefix(root).unwrap().display().to_string()).collect();
        assert_eq!(names, ["spec.md", "tasks/WP01-a.md"]);
    }

    #[test]
    fn a_repair_keeps_a_backup_and_the_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spec.md");
        std::fs::write(&path, b"a\x92b").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let backup = write_repair(&path, b"a\x92b", b"a'b", true).unwrap().unwrap();
        assert_eq!(backup, dir.path().join("spec.md.bak"));
        assert_eq!(std::fs::read(&backup).unwrap(), b"a\x92b");
        assert_eq!(std::fs::read(&path).unwrap(), b"a'b");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
