//! The prompts agents get on stdin: the work package's prompt file for implementation (with the reviewer's
//! feedback on top when work comes back), and a fixed review prompt that asks for a one-line verdict.

/// The implementation prompt: the WP prompt file, preceded on rework by the feedback to address first.
pub fn implementation(wp_prompt: &str, wp_id: &str, rework: Option<(u32, &str)>) -> String {
    match rework {
        None => wp_prompt.to_owned(),
        Some((attempt, feedback)) => format!(
            "## RE-IMPLEMENTATION REQUIRED (attempt {attempt})\n\n\
             A review rejected the previous implementation of {wp_id}. Address this feedback first, then \
             complete the work package below.\n\n\
             ### Review feedback\n\n{}\n\n---\n\n{wp_prompt}",
            feedback.trim()
        ),
    }
}

/// What a review prompt is about.
#[derive(Debug, Clone, Copy)]
pub struct ReviewSubject<'a> {
    pub wp_id: &'a str,
    pub title: &'a str,
    pub feature_slug: &'a str,
    /// The workspace branch holding the work (git only).
    pub branch: Option<&'a str>,
    pub wp_prompt: &'a str,
}

/// The review prompt. It starts with a fixed heading so tools (and test agents) can tell it from an
/// implementation prompt, and it asks for a verdict line the orchestrator can read.
pub fn review(subject: &ReviewSubject<'_>) -> String {
    let location = match subject.branch {
        Some(branch) => format!("The implementation is in the current directory, on branch `{branch}`."),
        None => "The implementation is in the current directory.".to_owned(),
    };
    format!(
        "# Review of work package {wp} – {title}\n\n\
         You are reviewing the implementation of work package {wp} of feature {feature}. {location} \
         Check it against the work package's objectives, subtasks and success criteria below: read the \
         changes, run the tests, and look for missing pieces. Do not modify files.\n\n\
         End your answer with exactly one verdict line:\n\n\
         APPROVED - <one-line summary>\n\n\
         or\n\n\
         REJECTED - <what is wrong and what must change>\n\n\
         (The text after REJECTED is sent to the implementer as review feedback.)\n\n\
         ---\n\n{prompt}",
        wp = subject.wp_id,
        title = subject.title,
        feature = subject.feature_slug,
        prompt = subject.wp_prompt,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rework_puts_the_feedback_first() {
        assert_eq!(
            implementation("---\nwork_package_id: WP01\n---\nBody\n", "WP01", None),
            "---\nwork_package_id: WP01\n---\nBody\n"
        );
        let text = implementation("PROMPT\n", "WP01", Some((2, "  add tests\n")));
        assert!(text.starts_with("## RE-IMPLEMENTATION REQUIRED (attempt 2)\n"), "{text}");
        assert!(text.contains("### Review feedback\n\nadd tests\n\n---\n\nPROMPT\n"), "{text}");
    }

    #[test]
    fn review_asks_for_a_verdict_line() {
        let subject = ReviewSubject {
            wp_id: "WP03",
            title: "Cost",
            feature_slug: "001-demo",
            branch: Some("001-demo-WP03"),
            wp_prompt: "PROMPT",
        };
        let text = review(&subject);
        assert!(text.starts_with("# Review of work package WP03 – Cost\n"));
        assert!(text.contains("on branch `001-demo-WP03`"));
        assert!(text.contains("\nAPPROVED - <one-line summary>\n") && text.contains("\nREJECTED - <what is wrong"));
        assert!(text.ends_with("---\n\nPROMPT"));
    }
}
