//! The prompt `agent workflow implement|review` prints: the work package's prompt file between two
//! banners, with the commands to run when the phase is done.

use super::Phase;
use crate::project::{Feature, Project};
use crate::workflow::lanes::Lane;
use crate::workflow::workspace::Workspace;
use crate::workflow::wp::WorkPackage;
use std::path::PathBuf;

/// Writes the prompt to `<temp>/spec-kitty-<phase>-<feature>-<WP>.md` (upstream does this for agents whose
/// tool output is truncated). A write failure is a warning: the prompt is printed anyway.
pub(super) fn save(
    phase: Phase,
    feature_slug: &str,
    wp_id: &str,
    prompt: &str,
    warnings: &mut Vec<String>,
) -> Option<PathBuf> {
    let path = std::env::temp_dir().join(format!("spec-kitty-{}-{feature_slug}-{wp_id}.md", phase.name()));
    match crate::fsutil::write_atomic(&path, prompt.as_bytes()) {
        Ok(()) => Some(path),
        Err(e) => {
            warnings.push(format!("cannot save the prompt to {}: {e}", path.display()));
            None
        }
    }
}

const RULE: &str = "================================================================================";

/// What a phase's prompt shows.
pub(super) struct PromptContext<'a> {
    pub(super) project: &'a Project,
    pub(super) feature: &'a Feature,
    pub(super) wp: &'a WorkPackage,
    pub(super) workspace: Option<&'a Workspace>,
}

impl PromptContext<'_> {
    pub(super) fn render(&self, phase: Phase) -> String {
        let mut lines = self.header(phase);
        lines.push(box_line("WORK PACKAGE PROMPT BEGINS"));
        lines.push(String::new());
        let content = self.wp.doc.render();
        lines.push(content.strip_suffix('\n').unwrap_or(&content).to_owned());
        lines.push(String::new());
        lines.push(box_line("WORK PACKAGE PROMPT ENDS"));
        lines.push(String::new());
        lines.extend(match phase {
            Phase::Implement => self.implement_next_steps(),
            Phase::Review => self.review_next_steps(),
        });
        lines.join("\n") + "\n"
    }

    fn header(&self, phase: Phase) -> Vec<String> {
        let wp = self.wp;
        let mut lines = vec![
            RULE.to_owned(),
            format!("{}: {} – {}", phase.name().to_uppercase(), wp.id, wp.title()),
            RULE.to_owned(),
            String::new(),
            format!("Feature:   {}", self.feature.slug),
            format!("Source:    {}", wp.path.display()),
        ];
        match self.workspace {
            Some(ws) => lines.push(format!("Workspace: {}{}", ws.path.display(), branch_note(ws))),
            None => lines.push(format!("Workspace: none (work in {})", self.project.root.display())),
        }
        lines.push(String::new());
        if phase == Phase::Review {
            lines.extend(self.waiting_dependents());
        }
        lines.push(format!(
            "You own {0} only: change the status of no other work package, and ignore commits and status",
            wp.id
        ));
        lines.push("changes made by other agents working in parallel.".to_owned());
        if wp.doc.scalar("review_status").as_deref() == Some("has_feedback") {
            lines.push(String::new());
            lines.push("⚠️  This work package has review feedback: see its '## Review Feedback' section.".to_owned());
        }
        lines.push(String::new());
        lines
    }

    /// Work packages that depend on this one and are not done: a rejection delays them.
    fn waiting_dependents(&self) -> Vec<String> {
        let waiting: Vec<String> = WorkPackage::all(&self.feature.dir)
            .into_iter()
            .flatten()
            .filter(|other| other.dependencies().contains(&self.wp.id))
            .filter(|other| !matches!(other.lane(), Ok(Lane::Done | Lane::Canceled)))
            .map(|other| other.id)
            .collect();
        if waiting.is_empty() {
            return Vec::new();
        }
        let verbs = if waiting.len() == 1 { "depends on {} and is" } else { "depend on {} and are" };
        vec![
            format!("⚠️  {} {} not done yet.", waiting.join(", "), verbs.replace("{}", &self.wp.id)),
            "   If you request changes, tell their implementers to rebase once it is fixed.".to_owned(),
            String::new(),
        ]
    }

    fn implement_next_steps(&self) -> Vec<String> {
        let (wp, feature) = (&self.wp.id, &self.feature.slug);
        let subtasks =
            self.wp.doc.list("subtasks").filter(|s| !s.is_empty()).map_or("T001 T002 …".to_owned(), |s| s.join(" "));
        let mut steps: Vec<[String; 2]> = Vec::new();
        if let Some(ws) = self.workspace.filter(|ws| ws.branch.is_some()) {
            steps.push([
                "Commit your work in the workspace (not the work-package status files):".to_owned(),
                format!("cd {} && git add <files> && git commit -m \"feat({wp}): <summary>\"", ws.path.display()),
            ]);
        }
        steps.push([
            "Mark the subtasks done:".to_owned(),
            format!("spec-kitty agent tasks mark-status {subtasks} --status done --feature {feature}"),
        ]);
        steps.push([
            "Hand the work package to review:".to_owned(),
            format!("spec-kitty agent tasks move-task {wp} --to for_review --feature {feature} --note \"Ready for review: <summary>\""),
        ]);
        let mut lines = vec![RULE.to_owned(), "WHEN YOU ARE DONE".to_owned(), RULE.to_owned()];
        for (number, [what, command]) in steps.iter().enumerate() {
            lines.push(format!("{}. {what}", number + 1));
            lines.push(format!("     {command}"));
        }
        lines.push(String::new());
        lines.push("Blocked? Record why:".to_owned());
        lines.push(format!(
            "     spec-kitty agent tasks add-history {wp} --feature {feature} --note \"Blocked: <reason>\""
        ));
        lines.push(RULE.to_owned());
        lines
    }

    fn review_next_steps(&self) -> Vec<String> {
        let (wp, feature) = (&self.wp.id, &self.feature.slug);
        let feedback = review_feedback_path(feature, wp);
        vec![
            RULE.to_owned(),
            "WHEN YOU ARE DONE, RUN ONE OF THESE".to_owned(),
            RULE.to_owned(),
            "✅ Approve (no issues found):".to_owned(),
            format!(
                "     spec-kitty agent tasks move-task {wp} --to done --feature {feature} --note \"Review passed: <summary>\""
            ),
            String::new(),
            "❌ Request changes:".to_owned(),
            format!("     1. Write the feedback (what is wrong and how to fix it) to {}", feedback.display()),
            format!(
                "     2. spec-kitty agent tasks move-task {wp} --to planned --feature {feature} --review-feedback-file {}",
                feedback.display()
            ),
            RULE.to_owned(),
        ]
    }
}

fn branch_note(workspace: &Workspace) -> String {
    workspace.branch.as_ref().map_or(String::new(), |branch| format!(" (branch {branch})"))
}

/// Where the review prompt asks the reviewer to write feedback (per feature and WP, so agents working in
/// parallel do not overwrite each other's).
fn review_feedback_path(feature_slug: &str, wp_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("spec-kitty-review-feedback-{feature_slug}-{wp_id}.md"))
}

/// A three-line box around `title`, 80 columns wide.
fn box_line(title: &str) -> String {
    let inner = 78;
    let padded = format!("  {title}");
    let padding = inner - padded.chars().count().min(inner);
    format!("╔{0}╗\n║{padded}{1}║\n╚{0}╝", "═".repeat(inner), " ".repeat(padding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_are_eighty_columns() {
        let text = box_line("WORK PACKAGE PROMPT BEGINS");
        assert!(text.lines().all(|line| line.chars().count() == 80), "{text}");
    }
}
