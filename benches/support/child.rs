//! Runs the action's release binary as a child process the way GitHub's runner does (a clean environment,
//! fresh file-command files in a workspace), and measures it: wall time and peak resident memory (the
//! child's maximum RSS from GNU time's wait4(2), else `VmHWM` sampled from `/proc`).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::file_commands::parse_file_commands;

/// What one run of the action left.
pub struct ChildRun {
    pub log: String,
    pub outputs: Vec<(String, String)>,
    pub peak_kib: u64,
    pub wall: Duration,
}

impl ChildRun {
    /// An output parsed as JSON.
    pub fn json(&self, name: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        let raw = self
            .outputs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| format!("no {name} output"))?;
        Ok(serde_json::from_str(raw)?)
    }
}

/// Runs the action in workspace `ws` with `env` (inputs and the like) on top of the runner's variables,
/// at 1000x compressed time against a loopback simulator; an exit other than 0 is an error with the log.
pub fn run_action(
    ws: &Path,
    env: &[(&str, String)],
) -> Result<ChildRun, Box<dyn std::error::Error>> {
    let file = |name: &str| ws.join(name);
    let rss_file = file("rss");
    let action = env!("CARGO_BIN_EXE_dune-pipeline-action");
    // GNU time reports the child's maximum RSS from wait4(2): exact, whenever the peak happened.
    let gnu_time = Path::new("/usr/bin/time").exists();
    let mut cmd = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(action);
        c
    } else {
        Command::new(action)
    };
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_BACKTRACE", "0")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", file("output"))
        .env("GITHUB_STEP_SUMMARY", file("summary"))
        .env("GITHUB_STATE", file("state"))
        .env("GITHUB_WORKSPACE", ws)
        .env("DUNE_ACTION_TIME_SCALE", "1000")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = stdout.read_to_string(&mut log);
        log
    });
    // Without GNU time: sample the child's high-water mark until it exits.
    let mut peak_kib = 0;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if !gnu_time {
            peak_kib = peak_kib.max(vm_hwm_kib(child.id()).unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let wall = started.elapsed();
    let log = reader.join().map_err(|_| "log reader panicked")?;
    if !status.success() {
        return Err(format!("the action failed ({status}):\n{log}").into());
    }
    if gnu_time {
        peak_kib = std::fs::read_to_string(&rss_file)?
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .ok_or("no maximum RSS from /usr/bin/time")?;
    }
    let outputs = parse_file_commands(&std::fs::read_to_string(file("output"))?)?;
    Ok(ChildRun {
        log,
        outputs,
        peak_kib,
        wall,
    })
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
