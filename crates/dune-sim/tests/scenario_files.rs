//! Scenario files written in today's shape keep loading, to the same value, and serialise back to the same
//! text. The fixtures in `tests/scenarios/` were written by the code of issue 18's start, before the
//! scenario module was split by concern: every built-in scenario (as JSON and as YAML) and
//! `every-field.yaml` (hand-written, every field set away from its default) with its JSON serialisation.
//! A fixture changes only when the scenario format changes on purpose.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use dune_sim::{FaultEndpoint, Outcome, Scenario};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

fn read(name: &str) -> String {
    let path = dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(name: &str) -> Scenario {
    Scenario::from_yaml_or_json(&read(name)).unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

fn json(s: &Scenario) -> String {
    serde_json::to_string_pretty(s).unwrap() + "\n"
}

#[test]
fn every_builtin_has_fixtures() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| {
            Some(
                f.strip_prefix("builtin-")?
                    .strip_suffix(".json")?
                    .to_owned(),
            )
        })
        .collect();
    let builtins: BTreeSet<String> = Scenario::builtin_names()
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    assert_eq!(on_disk, builtins);
}

#[test]
fn builtins_load_from_their_fixtures_and_serialise_the_same() {
    for name in Scenario::builtin_names() {
        let builtin = Scenario::builtin(name).unwrap();
        for ext in ["json", "yaml"] {
            let file = format!("builtin-{name}.{ext}");
            let loaded = load(&file);
            assert_eq!(loaded, builtin, "{file} loads to the built-in");
        }
        assert_eq!(
            json(&builtin),
            read(&format!("builtin-{name}.json")),
            "{name} serialises to JSON as before"
        );
        assert_eq!(
            serde_yaml_ng::to_string(&builtin).unwrap(),
            read(&format!("builtin-{name}.yaml")),
            "{name} serialises to YAML as before"
        );
    }
}

#[test]
fn every_field_loads_and_round_trips() {
    let from_yaml = load("every-field.yaml");
    let from_json = load("every-field.json");
    assert_eq!(from_yaml, from_json);
    assert_eq!(json(&from_yaml), read("every-field.json"));
    let yaml = serde_yaml_ng::to_string(&from_yaml).unwrap();
    assert_eq!(Scenario::from_yaml_or_json(&yaml).unwrap(), from_yaml);
    // The file really sets what it claims to.
    assert_eq!(from_yaml.api_key.as_deref(), Some("sim-key"));
    assert_eq!(from_yaml.status_names.blocked.as_deref(), Some("skipped"));
    assert_eq!(from_yaml.max_datapoints_per_request, 1200);
    assert_eq!(from_yaml.latest_results.len(), 2);
    assert_eq!(from_yaml.materialized_views.len(), 2);
    assert_eq!(from_yaml.materialized_views[0].credits, Some(2.5));
    let nodes = &from_yaml.queries[0].nodes;
    assert_eq!(nodes[1].columns, Some(7));
    assert_eq!(nodes[2].outcome, Outcome::CompletedPartial);
    let endpoints: BTreeSet<String> = from_yaml
        .faults
        .iter()
        .map(|f| format!("{:?}", f.endpoint))
        .collect();
    assert_eq!(endpoints.len(), 14, "every fault endpoint: {endpoints:?}");
    assert_eq!(from_yaml.saved_queries[0].version, 4);
    assert!(!from_yaml.key_can_write);
    assert_eq!(from_yaml.faults[0].responses.len(), 11);
    assert_eq!(from_yaml.faults[2].node, Some(2));
    assert!(
        from_yaml
            .faults
            .iter()
            .any(|f| f.endpoint == FaultEndpoint::Any)
    );
}

#[tokio::test]
async fn every_field_scenario_serves() {
    let sim = dune_sim::Simulator::start(load("every-field.yaml"))
        .await
        .unwrap();
    assert_eq!(sim.scenario(), &load("every-field.json"));
    sim.shutdown().await;
}
