//! Mission runtime templates: the ordered, dependency-linked steps `spec-kitty next` walks through.
//!
//! The software-dev mission is built in (its steps as upstream's `mission-runtime.yaml` v2.1.0 defines
//! them). A project can replace a mission, or add one, with a `mission-runtime.yaml` (or a `mission.yaml`
//! with `steps:`) in `.kittify/overrides/missions/<key>/` or `.kittify/missions/<key>/`, the project tiers of
//! upstream's discovery order. A file whose `mission.key` is another mission is passed over, as upstream
//! does; so is a v1 state-machine `mission.yaml` (no `steps:`).

use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// One step of a mission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: String,
    pub title: String,
    pub description: String,
    pub prompt: Option<String>,
    pub prompt_template: Option<String>,
    pub expected_output: Option<String>,
    /// Inputs that must be provided (answered) before the step is issued.
    pub requires_inputs: Vec<String>,
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissionTemplate {
    pub key: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub steps: Vec<Step>,
}

impl MissionTemplate {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
}

/// Where a mission's template was found (upstream's tier names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// `.kittify/overrides/missions/`
    Override,
    /// `.kittify/missions/`
    Legacy,
    /// Built into the binary.
    BuiltIn,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Override => "override",
            Tier::Legacy => "legacy",
            Tier::BuiltIn => "package_default",
        }
    }
}

/// A resolved template and the exact bytes a run freezes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub template: MissionTemplate,
    pub tier: Tier,
    /// The file it was read from (`None` for the built-in template).
    pub path: Option<PathBuf>,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MissionError {
    #[error(
        "no runtime template for mission '{0}' (built in: software-dev; a project can add one as .kittify/overrides/missions/{0}/mission-runtime.yaml)"
    )]
    Unknown(String),
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

pub const BUILTIN_KEY: &str = "software-dev";

/// The built-in software-dev mission.
pub fn software_dev() -> MissionTemplate {
    let step = |id: &str, title: &str, depends_on: Option<&str>, prompt_template: &str, description: &str| Step {
        id: id.to_owned(),
        title: title.to_owned(),
        description: description.to_owned(),
        prompt: None,
        prompt_template: Some(prompt_template.to_owned()),
        expected_output: None,
        requires_inputs: Vec::new(),
        depends_on: depends_on.map(|d| vec![d.to_owned()]).unwrap_or_default(),
    };
    MissionTemplate {
        key: BUILTIN_KEY.to_owned(),
        name: "Software Dev Kitty".to_owned(),
        version: "2.1.0".to_owned(),
        description: String::new(),
        steps: vec![
            step("discovery", "Discovery & Research", None, "research.md", "Research technologies and best practices"),
            step(
                "specify",
                "Specification",
                Some("discovery"),
                "specify.md",
                "Define user scenarios and acceptance criteria",
            ),
            step("plan", "Implementation Planning", Some("specify"), "plan.md", "Design technical architecture"),
            step(
                "tasks_outline",
                "Task Outline",
                Some("plan"),
                "tasks-outline.md",
                "Create task breakdown document (tasks.md)",
            ),
            step(
                "tasks_packages",
                "Work Package Creation",
                Some("tasks_outline"),
                "tasks-packages.md",
                "Generate individual WP prompt files (tasks/WP*.md)",
            ),
            step(
                "tasks_finalize",
                "Task Finalization",
                Some("tasks_packages"),
                "tasks-finalize.md",
                "Validate dependencies and finalize WP metadata",
            ),
            step("implement", "Implementation", Some("tasks_finalize"), "implement.md", "Execute implementation"),
            step("review", "Code Review", Some("implement"), "review.md", "Review and validate"),
            step("accept", "Acceptance", Some("review"), "accept.md", "Validate feature completeness"),
        ],
    }
}

/// The template of mission `key` for the project at `root`: the project's file when it has one, else the
/// built-in mission.
pub fn resolve(root: &Path, key: &str) -> Result<Resolved, MissionError> {
    let kittify = root.join(".kittify");
    let tiers = [(Tier::Override, kittify.join("overrides/missions")), (Tier::Legacy, kittify.join("missions"))];
    for (tier, base) in tiers {
        for name in ["mission-runtime.yaml", "mission.yaml"] {
            let path = base.join(key).join(name);
            let Ok(bytes) = std::fs::read(&path) else { continue };
            match parse(&String::from_utf8_lossy(&bytes), key) {
                Ok(template) if template.key == key => return Ok(Resolved { template, tier, path: Some(path), bytes }),
                Ok(_) => continue,
                // A v1 state-machine mission.yaml is not a runtime template; a broken runtime file is an error.
                Err(_) if name == "mission.yaml" => continue,
                Err(TemplateError(message)) => return Err(MissionError::Invalid { path, message }),
            }
        }
    }
    if key == BUILTIN_KEY {
        let template = software_dev();
        let bytes = render_yaml(&template).into_bytes();
        return Ok(Resolved { template, tier: Tier::BuiltIn, path: None, bytes });
    }
    Err(MissionError::Unknown(key.to_owned()))
}

/// Reads a runtime template. `fallback_key` names the mission of the shorthand form (top-level `key`,
/// `name`, `version`, `steps`) when it has neither key nor name, as upstream uses the directory name.
pub fn parse(text: &str, fallback_key: &str) -> Result<MissionTemplate, TemplateError> {
    parse_template(text, fallback_key).map_err(TemplateError)
}

/// Why a mission template cannot be used: its shape, a missing field, a step graph that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

fn parse_template(text: &str, fallback_key: &str) -> Result<MissionTemplate, String> {
    let raw: Option<Value> = serde_saphyr::from_str(text).map_err(|e| first_line(&e.to_string()))?;
    let Some(Value::Object(raw)) = raw else { return Err("a mission template must be a mapping".to_owned()) };
    let (meta, steps) = match raw.get("mission") {
        Some(Value::Object(meta)) => (meta.clone(), raw.get("steps")),
        Some(_) => return Err("`mission` must be a mapping".to_owned()),
        None => {
            let mut meta = Map::new();
            let key =
                string(raw.get("key")).or_else(|| string(raw.get("name"))).unwrap_or_else(|| fallback_key.to_owned());
            meta.insert("key".into(), Value::String(key.clone()));
            meta.insert("name".into(), Value::String(string(raw.get("name")).unwrap_or(key)));
            meta.insert("version".into(), Value::String(string(raw.get("version")).unwrap_or_else(|| "1.0.0".into())));
            if let Some(description) = string(raw.get("description")) {
                meta.insert("description".into(), Value::String(description));
            }
            (meta, raw.get("steps"))
        }
    };
    let required = |map: &Map<String, Value>, key: &str, what: &str| {
        string(map.get(key)).filter(|s| !s.is_empty()).ok_or_else(|| format!("{what} needs a non-empty `{key}`"))
    };
    let key = required(&meta, "key", "mission")?;
    let name = required(&meta, "name", "mission")?;
    let version = required(&meta, "version", "mission")?;
    let steps = match steps {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => return Err("the template has no steps".to_owned()),
        Some(_) => return Err("`steps` must be a list".to_owned()),
    };
    let mut parsed: Vec<Step> = Vec::with_capacity(steps.len());
    for (index, item) in steps.iter().enumerate() {
        let Value::Object(item) = item else { return Err(format!("step {} is not a mapping", index + 1)) };
        let what = format!("step {}", index + 1);
        let list = |field: &str| -> Result<Vec<String>, String> {
            match item.get(field) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(values)) => values
                    .iter()
                    .map(|v| string(Some(v)).ok_or_else(|| format!("{what}: `{field}` must list names")))
                    .collect(),
                Some(_) => Err(format!("{what}: `{field}` must be a list")),
            }
        };
        let step = Step {
            id: required(item, "id", &what)?,
            title: required(item, "title", &what)?,
            description: string(item.get("description")).unwrap_or_default(),
            prompt: string(item.get("prompt")),
            prompt_template: string(item.get("prompt_template")),
            expected_output: string(item.get("expected_output")),
            requires_inputs: list("requires_inputs")?,
            depends_on: list("depends_on")?,
        };
        if parsed.iter().any(|s| s.id == step.id) {
            return Err(format!("two steps are called '{}'", step.id));
        }
        parsed.push(step);
    }
    if parsed.is_empty() {
        return Err("the template has no steps".to_owned());
    }
    for step in &parsed {
        if let Some(unknown) = step.depends_on.iter().find(|d| !parsed.iter().any(|s| &s.id == *d)) {
            return Err(format!("step '{}' depends on '{unknown}', which is not a step of this mission", step.id));
        }
    }
    let description = string(meta.get("description")).unwrap_or_default();
    Ok(MissionTemplate { key, name, version, description, steps: parsed })
}

/// Strings as YAML gives them; numbers and booleans as their text (a `version: 2.1` stays usable).
fn string(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// The template as YAML (every string double-quoted, so any text reads back unchanged): what a run of
/// the built-in mission freezes, readable by upstream's runtime too.
pub fn render_yaml(template: &MissionTemplate) -> String {
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut out = format!(
        "# Runtime mission template (frozen by spec-kitty next)\nmission:\n  key: {}\n  name: {}\n  version: {}\n",
        quoted(&template.key),
        quoted(&template.name),
        quoted(&template.version)
    );
    if !template.description.is_empty() {
        out.push_str(&format!("  description: {}\n", quoted(&template.description)));
    }
    out.push_str("steps:\n");
    for step in &template.steps {
        out.push_str(&format!("  - id: {}\n    title: {}\n", quoted(&step.id), quoted(&step.title)));
        if !step.description.is_empty() {
            out.push_str(&format!("    description: {}\n", quoted(&step.description)));
        }
        for (key, value) in [
            ("prompt", &step.prompt),
            ("prompt_template", &step.prompt_template),
            ("expected_output", &step.expected_output),
        ] {
            if let Some(value) = value {
                out.push_str(&format!("    {key}: {}\n", quoted(value)));
            }
        }
        for (key, list) in [("requires_inputs", &step.requires_inputs), ("depends_on", &step.depends_on)] {
            if !list.is_empty() {
                let items: Vec<String> = list.iter().map(|s| quoted(s)).collect();
                out.push_str(&format!("    {key}: [{}]\n", items.join(", ")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_mission_round_trips_through_its_frozen_yaml() {
        let builtin = software_dev();
        let ids: Vec<&str> = builtin.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "discovery",
                "specify",
                "plan",
                "tasks_outline",
                "tasks_packages",
                "tasks_finalize",
                "implement",
                "review",
                "accept"
            ]
        );
        assert_eq!(parse(&render_yaml(&builtin), "x").unwrap(), builtin);
    }

    #[test]
    fn reads_upstream_shaped_templates_and_the_shorthand() {
        let text = "mission:\n  key: lite\n  name: Lite\n  version: 2.1\nsteps:\n  - id: a\n    title: A\n    requires_inputs: [goal]\n  - id: b\n    title: B\n    depends_on: [a]\n";
        let template = parse(text, "x").unwrap();
        assert_eq!((template.key.as_str(), template.version.as_str()), ("lite", "2.1"));
        assert_eq!(template.steps[0].requires_inputs, ["goal"]);
        assert_eq!(template.steps[1].depends_on, ["a"]);
        let shorthand = parse("steps:\n  - id: only\n    title: Only\n", "from-dir").unwrap();
        assert_eq!((shorthand.key.as_str(), shorthand.version.as_str()), ("from-dir", "1.0.0"));
    }

    #[test]
    fn rejects_templates_that_cannot_run() {
        assert!(parse("mission:\n  key: k\n  name: n\n  version: '1'\n", "k").unwrap_err().0.contains("no steps"));
        assert!(parse("mission:\n  key: k\n  name: n\n  version: '1'\nsteps:\n  - id: a\n    title: A\n    depends_on: [zz]\n", "k")
            .unwrap_err()
            .0
            .contains("depends on 'zz'"));
        assert!(parse("- a\n", "k").is_err());
        // A v1 state machine (upstream's research mission.yaml) has no steps.
        assert!(parse("mission:\n  name: research\n  version: '2.0.0'\nstates: []\n", "research").is_err());
    }

    #[test]
    fn resolution_prefers_the_project_and_falls_back_to_the_built_in_mission() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let builtin = resolve(root, "software-dev").unwrap();
        assert_eq!((builtin.tier, builtin.path.as_ref()), (Tier::BuiltIn, None));
        assert_eq!(resolve(root, "research"), Err(MissionError::Unknown("research".into())));

        let legacy = root.join(".kittify/missions/software-dev");
        std::fs::create_dir_all(&legacy).unwrap();
        std::fs::write(legacy.join("mission.yaml"), "mission:\n  name: software-dev\nstates: []\n").unwrap();
        assert_eq!(resolve(root, "software-dev").unwrap().tier, Tier::BuiltIn, "a v1 mission.yaml is passed over");
        let runtime = "mission:\n  key: software-dev\n  name: Mine\n  version: '9'\nsteps:\n  - id: x\n    title: X\n";
        std::fs::write(legacy.join("mission-runtime.yaml"), runtime).unwrap();
        let found = resolve(root, "software-dev").unwrap();
        assert_eq!((found.tier, found.template.name.as_str()), (Tier::Legacy, "Mine"));
        assert_eq!(found.bytes, runtime.as_bytes());

        let override_dir = root.join(".kittify/overrides/missions/software-dev");
        std::fs::create_dir_all(&override_dir).unwrap();
        std::fs::write(override_dir.join("mission-runtime.yaml"), "mission: [broken\n").unwrap();
        assert!(matches!(resolve(root, "software-dev"), Err(MissionError::Invalid { .. })));
        std::fs::write(override_dir.join("mission-runtime.yaml"), runtime.replace("software-dev", "other")).unwrap();
        assert_eq!(resolve(root, "software-dev").unwrap().tier, Tier::Legacy, "another mission's file is passed over");
    }
}
