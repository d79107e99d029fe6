//! Reading a reviewer's verdict, and classifying why an invocation failed. Pure text rules.

/// What a review concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Approved { summary: String },
    Rejected { feedback: String },
}

/// Phrases upstream's `parse_review_outcome` looked for when no verdict line is given.
const REJECTION_PHRASES: [&str; 10] = [
    "rejected",
    "changes requested",
    "needs work",
    "please fix",
    "issues found",
    "not approved",
    "review failed",
    "failing tests",
    "tests fail",
    "must be fixed",
];
const APPROVAL_PHRASES: [&str; 7] =
    ["approved", "lgtm", "looks good", "review complete", "review passed", "all tests pass", "no issues found"];

/// The verdict in a reviewer's answer: the last line starting with `APPROVED` or `REJECTED` (the form the
/// review prompt asks for; markdown emphasis and list markers allowed), else upstream's phrase rules when
/// exactly one side matches. `None` when the answer has no readable verdict: unlike upstream, a clean
/// exit alone does not approve work.
pub fn parse_verdict(answer: &str) -> Option<Verdict> {
    let lines: Vec<&str> = answer.lines().collect();
    for (index, line) in lines.iter().enumerate().rev() {
        let bare = line.trim().trim_start_matches(['*', '#', '-', '>', '`', ' ', '_']);
        let upper = bare.to_ascii_uppercase();
        for (word, approved) in [("APPROVED", true), ("REJECTED", false)] {
            let Some(rest) = upper.strip_prefix(word) else { continue };
            if rest.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) {
                continue; // APPROVEDX is not a verdict
            }
            let reason = bare[word.len()..].trim_start_matches(['*', '_', '`', ' ', '-', '–', '—', ':']).trim();
            return Some(if approved {
                Verdict::Approved { summary: reason.to_owned() }
            } else {
                // The reason may continue on the following lines.
                let mut feedback = reason.to_owned();
                let rest: Vec<&str> = lines[index + 1..].to_vec();
                let more = rest.join("\n");
                if !more.trim().is_empty() {
                    feedback = format!("{feedback}\n{}", more.trim_end()).trim().to_owned();
                }
                Verdict::Rejected { feedback }
            });
        }
    }
    let lower = answer.to_lowercase();
    let rejects = REJECTION_PHRASES.iter().any(|p| lower.contains(p));
    // "not approved" contains "approved": only count approval phrases that are not part of a rejection.
    let approves = APPROVAL_PHRASES.iter().any(|p| lower.replace("not approved", "").contains(p));
    match (approves, rejects) {
        (true, false) => Some(Verdict::Approved { summary: first_line(answer).to_owned() }),
        (false, true) => Some(Verdict::Rejected { feedback: answer.trim().to_owned() }),
        _ => None,
    }
}

/// Why an invocation failed, for the retry decision (upstream's `monitor.py` categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Exit code 124: the agent ran past its timeout.
    Timeout,
    /// Credentials are missing or wrong: retrying or another agent will not help the same way, and each
    /// attempt may cost money, so the work package fails at once.
    Auth,
    RateLimit,
    General,
}

/// Classifies a failure from the exit code and the agent's own error text (stderr and reported errors;
/// not stdout, whose JSON is full of numbers like `401` in token counts).
pub fn classify(exit_code: i64, error_text: &str) -> FailureKind {
    if exit_code == super::invoke::EXIT_TIMEOUT {
        return FailureKind::Timeout;
    }
    let lower = error_text.to_lowercase();
    let has_word = |needle: &str| {
        lower.match_indices(needle).any(|(at, _)| {
            let before = lower[..at].chars().next_back();
            let after = lower[at + needle.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_alphanumeric())
        })
    };
    if ["api key", "unauthorized", "authentication"].iter().any(|p| lower.contains(p)) || has_word("401") {
        FailureKind::Auth
    } else if ["rate limit", "too many requests"].iter().any(|p| lower.contains(p)) || has_word("429") {
        FailureKind::RateLimit
    } else {
        FailureKind::General
    }
}

fn first_line(text: &str) -> &str {
    text.trim().lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approved(summary: &str) -> Option<Verdict> {
        Some(Verdict::Approved { summary: summary.into() })
    }

    fn rejected(feedback: &str) -> Option<Verdict> {
        Some(Verdict::Rejected { feedback: feedback.into() })
    }

    #[test]
    fn verdict_lines() {
        assert_eq!(parse_verdict("APPROVED - review complete"), approved("review complete"));
        assert_eq!(parse_verdict("Checked it.\n**APPROVED** – tests pass"), approved("tests pass"));
        assert_eq!(
            parse_verdict("REJECTED - missing tests\n- add a test for x\n"),
            rejected("missing tests\n- add a test for x")
        );
        assert_eq!(parse_verdict("rejected: no docs"), rejected("no docs"));
        assert_eq!(
            parse_verdict("REJECTED - first pass\nthen\nAPPROVED - fixed on re-read"),
            approved("fixed on re-read"),
            "the last verdict line wins"
        );
        assert_eq!(parse_verdict("REJECTED - y\nAPPROVEDX"), rejected("y\nAPPROVEDX"), "APPROVEDX is no verdict line");
    }

    #[test]
    fn phrases_when_there_is_no_verdict_line() {
        assert_eq!(parse_verdict("LGTM, nice work"), approved("LGTM, nice work"));
        assert_eq!(parse_verdict("Changes requested: rename foo"), rejected("Changes requested: rename foo"));
        assert_eq!(parse_verdict("This is not approved yet"), rejected("This is not approved yet"));
        assert_eq!(parse_verdict("Looks good but needs work"), None, "both sides: no verdict");
        assert_eq!(parse_verdict("I read the code."), None);
        assert_eq!(parse_verdict(""), None);
    }

    #[test]
    fn failures_are_classified() {
        assert_eq!(classify(124, "whatever"), FailureKind::Timeout);
        assert_eq!(classify(1, "Error: Invalid API key · Please run /login"), FailureKind::Auth);
        assert_eq!(classify(1, "HTTP 401 Unauthorized"), FailureKind::Auth);
        assert_eq!(classify(1, "authentication_error"), FailureKind::Auth);
        assert_eq!(classify(1, "used 14017 tokens"), FailureKind::General, "401 inside a number is not a status");
        assert_eq!(classify(1, "429 Too Many Requests"), FailureKind::RateLimit);
        assert_eq!(classify(2, "segfault"), FailureKind::General);
    }
}
