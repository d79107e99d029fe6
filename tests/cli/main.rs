//! One integration-test binary for the whole CLI (faster to link than one per file). Every test drives
//! the real `spec-kitty` binary in a hermetic `TestEnv`.

mod support;

/// The reference sync server, compiled into the tests from the example that developers run.
#[path = "../../examples/sync-server/server.rs"]
#[allow(dead_code)]
pub mod server;

mod concurrency;
mod dashboard;
mod diagnostics;
mod hardening;
mod help;
mod init;
mod multi_feature;
mod orchestrate;
mod readme;
mod review_lanes;
mod roundtrip;
mod sync_concurrency;
mod sync_daemon;
mod sync_delivery;
mod sync_queue;
mod sync_server;
mod sync_support;
mod telemetry_bad_input;
mod telemetry_cost;
mod telemetry_emit;
mod template_commands;
mod upstream_fixtures;
mod upstream_templates;
mod usage_fixtures;
mod usage_hooks;
mod usage_import;
mod workflow_concurrency;
mod workflow_implement;
mod workflow_lifecycle;
mod workflow_merge_accept;
mod workflow_tasks;

/// Every `tests/cli/*.rs` file must be declared above, or its tests would silently never run.
#[test]
fn no_forgotten_test_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(module) = name.strip_suffix(".rs").filter(|m| *m != "main") {
            assert!(main.contains(&format!("mod {module};")), "tests/cli/{name} is not declared in main.rs");
        }
    }
}
