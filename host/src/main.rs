//! The `sluice` command: serve, check a config, hash a password.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use sluice::config::Config;
use sluice::dkim::Algorithm;
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
    /// Validate a config file; on error, name the offending key. Every plugin is loaded as
    /// `serve` would load it, from the compiled-plugin cache where it is there; nothing is
    /// written unless --fill-cache is given.
    CheckConfig {
        file: PathBuf,
        /// Write what had to be compiled to `[plugins] cache_dir`, so the next start or
        /// reload loads it at once (a large component takes tens of seconds to compile).
        #[arg(long)]
        fill_cache: bool,
    },
    /// Print every table and key of the config file with its type, default and meaning
    /// (Markdown), or with --schema the file's JSON Schema (for editors such as taplo).
    ConfigReference {
        #[arg(long)]
        schema: bool,
    },
    /// Read a password from stdin and print its argon2 hash for `password_hash`.
    HashPassword,
    /// Plugin tooling: validate a component, or dry-run it against a message.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Messages held by a policy.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// The queue: list and show (through the running relay, else from the spool files),
    /// retry, hold, release and delete (carried out by the running relay).
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// A tenant's suppression list, through the running relay: list, add, remove, export
    /// and import CSV.
    Suppression {
        #[command(subcommand)]
        command: SuppressionCommand,
        /// The tenant whose list it is.
        #[arg(long, global = true)]
        tenant: Option<String>,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// DKIM keys.
    Dkim {
        #[command(subcommand)]
        command: DkimCommand,
    },
    /// Check what a sending domain publishes (SPF, DKIM, DMARC) for mail through this relay.
    Domain {
        #[command(subcommand)]
        command: DomainCommand,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// Ask the running relay to reload its whole config file (as SIGHUP does) and wait for
    /// the outcome: exits non-zero with the reason when the reload is refused.
    Reload {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The admin API: make a bearer token.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The application API: make a tenant's key.
    Api {
        #[command(subcommand)]
        command: ApiCommand,
    },
    /// Run saved messages through each tenant's plugin chain as the relay would, under a
    /// candidate config (and the current one): verdicts, what changed, precision and recall
    /// against labels, and plugin time. Nothing is queued or sent.
    Replay {
        /// The config to try.
        #[arg(long)]
        config: PathBuf,
        /// The config in force, to compare with.
        #[arg(long)]
        against: Option<PathBuf>,
        /// CSV of `file,marketing|transactional`: prints precision and recall.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// The tenant for messages whose sidecar names none (default: the tenant owning the
        /// sender's domain, else the config's only tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
        /// .eml files and directories of them (with optional FILE.eml.json envelopes).
        #[arg(required = true)]
        messages: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ApiCommand {
    /// Make a random key for a tenant's application; print the `[[tenant.api_key]]` table
    /// (its SHA-256) to add under that tenant, and the key itself (or write it to --out).
    Key {
        #[arg(long, default_value = "app")]
        name: String,
        /// `send`, `events`, `suppressions` (repeatable or comma-separated).
        #[arg(long = "scope", value_delimiter = ',', default_value = "send")]
        scopes: Vec<String>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Make a random token; print the `[[admin.token]]` table (its SHA-256) to add to the
    /// config, and the token itself (or write it to --out, mode 0600, for `admin.token_file`).
    Token {
        #[arg(long, default_value = "operator")]
        name: String,
        /// `read` (status, metrics, queue listing) or `admin` (also reload, retry, delete).
        #[arg(long, default_value = "admin")]
        scope: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Validate FILE.wasm against the sluice:policy world; list its hooks and compile time.
    Check { file: PathBuf },
    /// Run every hook of FILE.wasm against a message and print verdicts, actions and time.
    Run {
        file: PathBuf,
        #[arg(long)]
        eml: PathBuf,
        #[arg(long, default_value = "sender@example.com")]
        from: String,
        #[arg(long = "to", default_value = "rcpt@example.net")]
        to: Vec<String>,
        /// Plugin config as KEY=VALUE (repeatable).
        #[arg(long = "set", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
        #[arg(long, default_value = "dry-run")]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum QueueCommand {
    /// One line per queued message: state, next attempt, last error.
    List {
        /// One JSON object per message instead, as a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// A message's state, attempts with each remote reply, envelope and headers.
    Show { id: String },
    /// Retry a message waiting for its next attempt now (or every one, with --all).
    Retry {
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Delete a queued message without delivering it (no DSN is sent).
    Delete { id: String },
    /// Keep a message waiting for a retry from delivery until released (survives a restart).
    Hold { id: String },
    /// Let a held message go: it is attempted at once.
    Release { id: String },
}

#[derive(Subcommand)]
enum SuppressionCommand {
    /// Every suppressed address with its reason, time and detail.
    List {
        /// Only `hard_bounce`, `complaint`, `manual` or `unsubscribe`.
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Suppress an address (or replace its entry).
    Add {
        address: String,
        /// `manual`, `unsubscribe`, `hard_bounce` or `complaint`.
        #[arg(long, default_value = "manual")]
        reason: String,
        #[arg(long)]
        detail: Option<String>,
        /// When the entry stops applying (RFC 3339).
        #[arg(long)]
        expires: Option<String>,
    },
    /// Take an address off the list.
    Remove { address: String },
    /// The list as CSV (address,reason,created_at,expires_at,detail).
    Export {
        /// A new file to write (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Add every row of a CSV file (`-`: stdin); one bad row refuses the whole file.
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum DkimCommand {
    /// Write a new private key for DOMAIN and SELECTOR and print the DNS TXT record to publish.
    Keygen {
        domain: String,
        selector: String,
        #[arg(long, value_enum, default_value_t = Algorithm::Rsa2048)]
        algorithm: Algorithm,
        /// Where to write the PEM key (default: SELECTOR.DOMAIN.pem); never overwritten.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DomainCommand {
    /// Report SPF, DKIM and DMARC for DOMAIN as the configured resolver sees them.
    Check { domain: String },
}

#[derive(Subcommand)]
enum QuarantineCommand {
    /// List held messages.
    List,
    /// A held message's reason, envelope and headers.
    Show { id: String },
    /// Release a held message for delivery.
    Release { id: String },
    /// Delete a held message for good (no delivery, no DSN).
    Delete { id: String },
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

fn load_or_quickstart(config: Option<PathBuf>) -> anyhow::Result<Config> {
    Ok(match config {
        Some(path) => Config::load(&path)?,
        None => Config::quickstart(),
    })
}

fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match run(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            match cli.log_format {
                LogFormat::Text => eprintln!("sluice: error: {e:#}"),
                // One JSON line, like every other line of a JSON log.
                LogFormat::Json => tracing::error!(target: "sluice", "{e:#}"),
            }
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
        Command::ConfigReference { schema } => {
            if schema {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&sluice::config::reference::schema())?
                );
            } else {
                print!("{}", sluice::config::reference::markdown());
            }
            Ok(())
        }
        Command::CheckConfig { file, fill_cache } => {
            let config = Config::load(&file)?;
            let plugins: usize = config.tenants.iter().map(|t| t.plugins.len()).sum();
            if plugins > 0 {
                // Every plugin must load and fit the world, as it must for `serve` or a reload.
                block_on(async {
                    let settings = sluice::plugin::engine::EngineSettings {
                        cache_writes: fill_cache,
                        ..sluice::plugin::engine_settings(&config)
                    };
                    let engine = sluice::plugin::engine::PluginEngine::new(settings)
                        .map_err(|e| anyhow::anyhow!("starting the plugin runtime: {e:#}"))?;
                    sluice::plugin::load_policies(&engine, &config).await?;
                    Ok(())
                })?;
            }
            println!(
                "{}: ok ({} tenant(s), {} listener(s), {plugins} plugin(s))",
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
        Command::Plugin {
            command: PluginCommand::Check { file },
        } => block_on(sluice::cli::plugin::check(&file)),
        Command::Plugin {
            command:
                PluginCommand::Run {
                    file,
                    eml,
                    from,
                    to,
                    set,
                    tenant,
                },
        } => {
            let dry = sluice::cli::plugin::DryRun {
                eml,
                from,
                to,
                config: set,
                tenant,
            };
            block_on(sluice::cli::plugin::run(&file, dry))
        }
        Command::Quarantine { command, config } => {
            let config = load_or_quickstart(config)?;
            block_on(async {
                match command {
                    QuarantineCommand::List => sluice::cli::quarantine::list(&config).await,
                    QuarantineCommand::Show { id } => {
                        sluice::cli::quarantine::show(&config, &id).await
                    }
                    QuarantineCommand::Release { id } => {
                        sluice::cli::quarantine::release(&config, &id).await
                    }
                    QuarantineCommand::Delete { id } => {
                        sluice::cli::quarantine::delete(&config, &id).await
                    }
                }
            })
        }
        Command::Queue { command, config } => {
            let config = load_or_quickstart(config)?;
            block_on(async {
                match command {
                    QueueCommand::List { json } => sluice::cli::queue::list(&config, json).await,
                    QueueCommand::Show { id } => sluice::cli::queue::show(&config, &id).await,
                    QueueCommand::Retry { id, .. } => {
                        sluice::cli::queue::retry(&config, id.as_deref()).await
                    }
                    QueueCommand::Delete { id } => sluice::cli::queue::delete(&config, &id).await,
                    QueueCommand::Hold { id } => sluice::cli::queue::hold(&config, &id).await,
                    QueueCommand::Release { id } => sluice::cli::queue::release(&config, &id).await,
                }
            })
        }
        Command::Suppression {
            command,
            tenant,
            config,
        } => {
            let config = load_or_quickstart(config)?;
            let tenant = tenant.context("name the tenant: --tenant NAME")?;
            let t = tenant.as_str();
            use sluice::cli::suppression as s;
            block_on(async {
                match command {
                    SuppressionCommand::List { reason, json } => {
                        s::list(&config, t, reason.as_deref(), json).await
                    }
                    SuppressionCommand::Add {
                        address,
                        reason,
                        detail,
                        expires,
                    } => {
                        s::add(
                            &config,
                            t,
                            &address,
                            &reason,
                            detail.as_deref(),
                            expires.as_deref(),
                        )
                        .await
                    }
                    SuppressionCommand::Remove { address } => s::remove(&config, t, &address).await,
                    SuppressionCommand::Export { out } => {
                        s::export(&config, t, out.as_deref()).await
                    }
                    SuppressionCommand::Import { file } => s::import(&config, t, &file).await,
                }
            })
        }
        Command::Dkim {
            command:
                DkimCommand::Keygen {
                    domain,
                    selector,
                    algorithm,
                    out,
                },
        } => sluice::cli::dkim::keygen(&domain, &selector, algorithm, out),
        Command::Domain {
            command: DomainCommand::Check { domain },
            config,
        } => {
            let config = load_or_quickstart(config)?;
            block_on(async {
                if sluice::cli::domain::check(&config, &domain).await? {
                    Ok(())
                } else {
                    anyhow::bail!("{domain} needs attention (see above)")
                }
            })
        }
        Command::Reload { config } => {
            let config = load_or_quickstart(config)?;
            block_on(sluice::cli::admin::reload(&config))
        }
        Command::Admin {
            command: AdminCommand::Token { name, scope, out },
        } => sluice::cli::admin::generate(&name, &scope, out.as_deref()),
        Command::Api {
            command: ApiCommand::Key { name, scopes, out },
        } => sluice::cli::admin::generate_api_key(&name, &scopes, out.as_deref()),
        Command::Replay {
            config,
            against,
            labels,
            tenant,
            json,
            messages,
        } => {
            let opts = sluice::cli::replay::Options {
                config,
                against,
                labels,
                tenant,
                json,
                inputs: messages,
            };
            block_on(async {
                if sluice::cli::replay::run(opts).await? {
                    Ok(())
                } else {
                    anyhow::bail!("some messages could not be replayed (see above)")
                }
            })
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

/// The log on stderr, filtered by `SLUICE_LOG`; and, whatever that filter says, every
/// `sluice::event` event into the event journal (once `serve` opened it) and into the
/// outcome counts of the admin console.
fn init_tracing(format: LogFormat) {
    use sluice::console::series;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter = EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let log = match format {
        LogFormat::Text => log.with_filter(filter).boxed(),
        LogFormat::Json => log.json().flatten_event(true).with_filter(filter).boxed(),
    };
    tracing_subscriber::registry()
        .with(log)
        .with(sluice::events::layer())
        .with(series::layer().with_filter(series::layer_filter()))
        .init();
}
