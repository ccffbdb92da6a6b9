//! The `sluice` command: serve, check a config, hash a password.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use sluice::config::Config;
use std::io::BufRead;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Transactional-email SMTP relay with WebAssembly policies"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay. Without --config, the built-in quickstart (loopback, ./data).
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate a config file; on error, name the offending key.
    CheckConfig { file: PathBuf },
    /// Read a password from stdin and print its argon2 hash for `password_hash`.
    HashPassword,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match run(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { config } => {
            let config = match config {
                Some(path) => Config::load(&path)?,
                None => {
                    tracing::info!("no --config given: running the built-in quickstart");
                    Config::quickstart()
                }
            };
            // A spool write past a file-size limit must fail as an error (451), not kill us.
            // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
            unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(sluice::server::serve(config, shutdown_signal()))
        }
        Command::CheckConfig { file } => {
            let config = Config::load(&file)?;
            println!(
                "{}: ok ({} tenant(s), {} listener(s))",
                file.display(),
                config.tenants.len(),
                config.listen.len() + config.listen_tls.len()
            );
            Ok(())
        }
        Command::HashPassword => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            let password = line.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!password.is_empty(), "empty password");
            let hash = sluice::auth::hash_password(password)
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
            println!("{hash}");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
