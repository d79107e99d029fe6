//! `spec-kitty init`: creates a minimal project, is idempotent, never clobbers existing files.

use crate::support::TestEnv;

#[test]
fn creates_a_project_with_an_identity() {
    let env = TestEnv::bare();
    let run = env.run(&["init", "--json"]).ok();
    let result: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(result["created"], serde_json::json!([".kittify/", "kitty-specs/", ".kittify/config.yaml"]));
    let uuid = result["project"]["uuid"].as_str().unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(result["project"]["slug"], "project");
    assert_eq!(result["project"]["node_id"].as_str().unwrap().len(), 12);
    assert_eq!(
        env.read(".kittify/config.yaml"),
        format!(
            "project:\n  uuid: {uuid}\n  slug: project\n  node_id: {}\n",
            result["project"]["node_id"].as_str().unwrap()
        )
    );
    assert!(env.path("kitty-specs").is_dir());

    let again = env.run(&["init"]).ok();
    assert!(again.stdout.starts_with("✓ spec-kitty project already initialized in "), "{}", again.stdout);
    assert!(env.read(".kittify/config.yaml").contains(uuid), "the identity is stable");
}

#[test]
fn keeps_an_existing_config_byte_for_byte_and_only_adds_missing_keys() {
    let env = TestEnv::bare();
    let original = "# Our team's settings\r\nvcs:\r\n  type: git  # required\r\nproject:\r\n  slug: widgets\r\nagents:\r\n  available: [claude, codex]\r\n";
    env.write(".kittify/config.yaml", original);
    env.write("kitty-specs/001-x/spec.md", "keep me");
    let run = env.run(&["init"]).ok();
    assert!(!run.stdout.contains("created kitty-specs/") && run.stdout.contains("project identity"), "{}", run.stdout);
    let updated = env.read(".kittify/config.yaml");
    let added: Vec<&str> = updated.lines().filter(|l| !original.contains(l.trim_end_matches('\r'))).collect();
    assert_eq!(added.len(), 2, "only uuid and node_id are added: {updated}");
    assert!(updated.starts_with(
        "# Our team's settings\r\nvcs:\r\n  type: git  # required\r\nproject:\r\n  slug: widgets\r\n  uuid: "
    ));
    assert!(updated.ends_with("agents:\r\n  available: [claude, codex]\r\n"));
    assert_eq!(env.read("kitty-specs/001-x/spec.md"), "keep me");
}

#[test]
fn a_slug_flag_and_a_broken_config() {
    let env = TestEnv::bare();
    env.run(&["init", "--slug", "my-slug"]).ok();
    assert!(env.read(".kittify/config.yaml").contains("slug: my-slug"));

    let env = TestEnv::bare();
    env.write(".kittify/config.yaml", "project: [unclosed\n");
    let run = env.run(&["init"]).expect_code(1);
    assert!(run.stderr.contains("invalid YAML in") && run.stderr.contains("config.yaml"), "{}", run.stderr);
    assert_eq!(env.read(".kittify/config.yaml"), "project: [unclosed\n", "never rewritten");
}
