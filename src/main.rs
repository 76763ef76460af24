//! The binary: read the environment once, pick the mode, run, exit with the action's code.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use dune_api::clock::Clock;
use dune_pipeline_action::app::{self, Runtime};
use dune_pipeline_action::cli::{Cli, Command};
use dune_pipeline_action::post;
use dune_pipeline_action::runner::console::Console;
use dune_pipeline_action::runner::env::Env;

fn main() -> ExitCode {
    let clock = Clock::real();
    let argv0 = std::env::args_os().next();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("::error::could not start the async runtime: {e}");
            return ExitCode::from(4);
        }
    };
    ExitCode::from(runtime.block_on(run(cli, argv0, clock)))
}

async fn run(cli: Cli, argv0: Option<OsString>, clock: Clock) -> u8 {
    if let Some(Command::Demo { name }) = &cli.command {
        return demo(name).await;
    }
    let mut env = Env::from_process();
    cli.apply_to(&mut env);
    let github = env.is_github_actions();
    let console = Console::stdout(github);
    let clock = dune_pipeline_action::app::test_clock(&env).unwrap_or(clock);
    if matches!(cli.command, Some(Command::Post)) || post::invoked_as_post(argv0.as_deref()) {
        post::run(&env, &console, clock).await;
        return 0; // the post step never fails the job
    }
    let (rt, stop) = Runtime::new(console.clone(), clock);
    tokio::spawn(async move {
        let name = wait_for_signal().await;
        console.line(&format!("Received {name}: stopping"));
        let _ = stop.send(true);
        // The run's budgets end it sooner; this is the guarantee that the runner's SIGTERM (7.5 s after
        // its SIGINT) never finds the step still running.
        tokio::time::sleep(app::SIGNAL_EXIT_BUDGET - std::time::Duration::from_millis(200)).await;
        console.line("Still running 7 s after the signal: exiting now");
        std::process::exit(1);
    });
    let report = app::run(&env, rt).await;
    if !github {
        dune_pipeline_action::cli::print_collected(&report.files, &mut std::io::stdout());
    }
    report.exit_code
}

#[cfg(feature = "demo")]
async fn demo(name: &str) -> u8 {
    match dune_pipeline_action::demo::run(name).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            4
        }
    }
}

#[cfg(not(feature = "demo"))]
async fn demo(_name: &str) -> u8 {
    eprintln!("this build has no demo (built without the `demo` feature)");
    2
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        _ => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}
