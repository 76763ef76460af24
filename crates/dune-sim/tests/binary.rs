//! The `dune-sim` binary: prints its URL, serves, exits cleanly on SIGTERM.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

#[test]
fn lists_builtins() {
    let out = Command::new(env!("CARGO_BIN_EXE_dune-sim"))
        .arg("--list")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text.lines().collect();
    assert_eq!(names, dune_sim::Scenario::builtin_names());
}

#[test]
fn rejects_unknown_builtin() {
    let out = Command::new(env!("CARGO_BIN_EXE_dune-sim"))
        .args(["--builtin", "nope"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown built-in scenario"));
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_until_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dune-sim"))
        .args(["--builtin", "single", "--time-scale", "1000"])
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("dune-sim listening on ")
        .unwrap()
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/query/1111/pipeline/execute"))
        .header("X-Dune-Api-Key", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
