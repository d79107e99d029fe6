//! The prompt files `next` hands to the agent: what to do for a step, or for one work package, and how to
//! report back. The command template of the action is included when the project has one
//! (`.kittify/overrides/command-templates/`, `.kittify/command-templates/`,
//! `.kittify/missions/<mission>/command-templates/`); otherwise short built-in instructions stand in.

use super::mission::Step;
use super::packages::Package;
use std::path::{Path, PathBuf};

const RULE: &str = "================================================================================";

/// Where the prompt is about.
#[derive(Debug, Clone, Copy)]
pub struct PromptContext<'a> {
    pub project_root: &'a Path,
    pub feature_slug: &'a str,
    pub feature_dir: &'a Path,
    pub mission: &'a str,
    pub agent: &'a str,
}

impl PromptContext<'_> {
    fn next_command(&self) -> String {
        format!("spec-kitty next --agent {} --feature {}", shell_word(self.agent), self.feature_slug)
    }

    fn report_back(&self, text: &mut String) {
        text.push_str("\nWHEN DONE, report back and get the next step:\n");
        text.push_str(&format!("  {} --result success\n", self.next_command()));
        text.push_str("IF YOU CANNOT FINISH:\n");
        text.push_str(&format!("  {} --result failed    (or --result blocked)\n", self.next_command()));
    }
}

/// `agent` as one shell word.
fn shell_word(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@/:".contains(c)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The project's command template for `action`, with its path.
pub fn command_template(root: &Path, mission: &str, action: &str) -> Option<(PathBuf, String)> {
    let name = format!("{action}.md");
    let kittify = root.join(".kittify");
    [
        kittify.join("overrides/command-templates").join(&name),
        kittify.join("command-templates").join(&name),
        kittify.join("missions").join(mission).join("command-templates").join(&name),
    ]
    .into_iter()
    .find_map(|path| std::fs::read_to_string(&path).ok().map(|text| (path, text)))
}

/// The prompt of a planning step (anything but a work package).
pub fn step_prompt(ctx: &PromptContext<'_>, step: &Step, action: &str, guard_failures: &[String]) -> String {
    let mut text = format!(
        "{RULE}\nFeature: {}\nAgent: {}\nFeature directory: {}\n{RULE}\n\n",
        ctx.feature_slug,
        ctx.agent,
        ctx.feature_dir.display()
    );
    text.push_str(&format!("STEP {}: {} (mission {})\n", step.id, step.title, ctx.mission));
    if !step.description.is_empty() {
        text.push_str(&format!("{}\n", step.description));
    }
    if !guard_failures.is_empty() {
        text.push_str("\nNOT DONE YET — the step completes when:\n");
        for failure in guard_failures {
            text.push_str(&format!("  - {failure}\n"));
        }
    }
    text.push('\n');
    match command_template(ctx.project_root, ctx.mission, action) {
        Some((path, template)) => {
            let shown = path.strip_prefix(ctx.project_root).unwrap_or(&path);
            text.push_str(&format!("Command template: {}\n\n{template}", shown.display()));
            if !template.ends_with('\n') {
                text.push('\n');
            }
        }
        None => {
            text.push_str(&builtin_instructions(ctx, step, action));
            if let Some(prompt) = &step.prompt {
                text.push_str(&format!("\n{prompt}\n"));
            }
        }
    }
    ctx.report_back(&mut text);
    text
}

fn builtin_instructions(ctx: &PromptContext<'_>, step: &Step, action: &str) -> String {
    let f = ctx.feature_slug;
    let dir = format!("kitty-specs/{f}");
    match action {
        "research" => format!(
            "Research the technologies, constraints and open questions of this feature. `spec-kitty research \
             --feature {f}` scaffolds {dir}/research.md, {dir}/data-model.md and the evidence logs under \
             {dir}/research/; record decisions, entities and sources there.\n"
        ),
        "specify" => format!(
            "Write the specification in {dir}/spec.md: user scenarios, functional requirements and measurable \
             acceptance criteria. Mark anything undecided with [NEEDS CLARIFICATION: question].\n"
        ),
        "plan" => format!(
            "Write the implementation plan: `spec-kitty agent feature setup-plan --feature {f}` creates \
             {dir}/plan.md from the project's template; fill in the technical context, the architecture and the \
             project structure.\n"
        ),
        "tasks-outline" => format!(
            "Break the plan into work packages in {dir}/tasks.md: one `## Work Package WPxx: Title` section per \
             package, with its subtasks (`- [ ] T001 …`) and its dependencies (`Depends on WP01`).\n"
        ),
        "tasks-packages" => format!(
            "Write one prompt file per work package of {dir}/tasks.md: {dir}/tasks/WPxx-short-name.md, with YAML \
             frontmatter (work_package_id, title, lane: planned, subtasks) and everything an implementer needs.\n"
        ),
        "tasks-finalize" => format!(
            "Run `spec-kitty agent feature finalize-tasks --feature {f}`: it checks the dependencies declared in \
             tasks.md and writes them into every work package file.\n"
        ),
        "accept" => format!(
            "Check that the feature is complete: `spec-kitty accept --feature {f}` verifies every work package \
             and records the acceptance. Then merge it: `spec-kitty merge --feature {f}`.\n"
        ),
        _ => format!("Carry out step '{}': {}.\n", step.id, step.title),
    }
}

/// The prompt for implementing or reviewing one work package.
pub fn package_prompt(
    ctx: &PromptContext<'_>,
    step_id: &str,
    action: &str,
    package: &Package,
    workspace: &Path,
) -> String {
    let wp = &package.id;
    let f = ctx.feature_slug;
    let agent = shell_word(ctx.agent);
    let verb = if action == "review" { "REVIEWING" } else { "IMPLEMENTING" };
    let mut text = format!("{RULE}\n{}: {wp} – {}\n{RULE}\n\n", action.to_uppercase(), package.title);
    text.push_str(&format!(
        "Agent: {}\nFeature: {f}\nMission: {} (step {step_id})\nWorkspace: {}\n\n",
        ctx.agent,
        ctx.mission,
        workspace.display()
    ));
    text.push_str(&format!(
        "{RULE}\n  WORK PACKAGE ISOLATION\n  You are {verb} {wp}. Change the status of {wp} only; other agents may be\n  \
         working on other work packages at the same time: leave their files and lanes alone.\n{RULE}\n\n"
    ));
    text.push_str("START:\n");
    text.push_str(&format!("  spec-kitty agent workflow {action} {wp} --agent {agent} --feature {f}\n"));
    text.push_str(&format!(
        "  (claims {wp} for you{}, and records the start)\n",
        if action == "implement" { ", creates its workspace when it does not exist yet" } else { "" }
    ));
    text.push_str(&format!("  cd {}\n", workspace.display()));
    if action == "review" {
        text.push_str("  git log --oneline HEAD --not main\n  git diff main...HEAD --stat\n");
    }
    if !package.dependencies.is_empty() {
        text.push_str(&format!("Depends on: {} (done)\n", package.dependencies.join(", ")));
    }
    let relative = package.path.strip_prefix(ctx.project_root).unwrap_or(&package.path);
    text.push_str(&format!("\n{RULE}\n  WORK PACKAGE PROMPT ({})\n{RULE}\n\n", relative.display()));
    match std::fs::read_to_string(&package.path) {
        Ok(content) => {
            text.push_str(&content);
            if !content.ends_with('\n') {
                text.push('\n');
            }
        }
        Err(e) => text.push_str(&format!("[cannot read {}: {e}]\n", package.path.display())),
    }
    text.push_str(&format!("\n{RULE}\n  END OF WORK PACKAGE PROMPT\n{RULE}\n"));
    if let Some((path, template)) = command_template(ctx.project_root, ctx.mission, action) {
        let shown = path.strip_prefix(ctx.project_root).unwrap_or(&path);
        text.push_str(&format!("\nCommand template ({}):\n\n{template}", shown.display()));
        if !template.ends_with('\n') {
            text.push('\n');
        }
    }
    text.push_str("\nWHEN DONE:\n");
    if action == "review" {
        text.push_str(&format!(
            "  APPROVE: spec-kitty agent tasks move-task {wp} --to done --note \"Review passed\" --feature {f}\n"
        ));
        text.push_str(&format!(
            "  REJECT:  write the feedback to a file, then\n           spec-kitty agent tasks move-task {wp} --to planned \
             --review-feedback-file <file> --feature {f}\n"
        ));
    } else {
        text.push_str(&format!(
            "  spec-kitty agent tasks move-task {wp} --to for_review --note \"Ready for review\" --feature {f}\n"
        ));
    }
    text.push_str(&format!("  then: {}\n", ctx.next_command()));
    text.push_str(&format!(
        "IF YOU CANNOT FINISH:\n  {} --result failed    (or --result blocked)\n",
        ctx.next_command()
    ));
    text
}

/// The prompt of a decision the mission needs before it can go on.
pub fn decision_prompt(ctx: &PromptContext<'_>, decision_id: &str, question: &str, options: &[String]) -> String {
    let mut text = format!(
        "{RULE}\nDECISION REQUIRED\n{RULE}\n\nFeature: {}\nAgent: {}\nDecision ID: {decision_id}\n\nQuestion: {question}\n\n",
        ctx.feature_slug, ctx.agent
    );
    if !options.is_empty() {
        text.push_str("Options:\n");
        for (i, option) in options.iter().enumerate() {
            text.push_str(&format!("  {}. {option}\n", i + 1));
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "To answer:\n  {} --answer \"<your answer>\" --decision-id \"{decision_id}\"\n",
        ctx.next_command()
    ));
    text
}

/// A file name fragment from an agent name (anything unusual becomes `_`).
pub fn file_safe(text: &str) -> String {
    let safe: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if safe.is_empty() { "agent".to_owned() } else { safe }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_names_are_quoted_and_made_file_safe() {
        assert_eq!(shell_word("claude"), "claude");
        assert_eq!(shell_word("my agent"), "'my agent'");
        assert_eq!(file_safe("../evil agent"), "___evil_agent");
        assert_eq!(file_safe(""), "agent");
    }

    #[test]
    fn the_project_command_template_is_preferred_in_tier_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(command_template(root, "software-dev", "plan"), None);
        let mission = root.join(".kittify/missions/software-dev/command-templates");
        std::fs::create_dir_all(&mission).unwrap();
        std::fs::write(mission.join("plan.md"), "mission plan").unwrap();
        assert_eq!(command_template(root, "software-dev", "plan").unwrap().1, "mission plan");
        let overrides = root.join(".kittify/overrides/command-templates");
        std::fs::create_dir_all(&overrides).unwrap();
        std::fs::write(overrides.join("plan.md"), "override plan").unwrap();
        assert_eq!(command_template(root, "software-dev", "plan").unwrap().1, "override plan");
    }
}
