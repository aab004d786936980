//! `cloudhsm-emulator`: creates and serves a local HSM cluster.
//!
//! ```text
//! cloudhsm-emulator init --dir DIR --nodes N [--admin-password PW] ...
//! cloudhsm-emulator run --dir DIR [--node I]... [--delay-ms D] [--refuse-node I]...
//!                       [--log-level LEVEL] [--log-file PATH [--log-interval daily|hourly|never]]
//! ```
//! Progress goes to stderr as one JSON object per line; secrets never appear. The request
//! log (`--log-level`, `--log-file`) is text, through `cloudhsm_mfa::logging`.

#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::PossibleValuesParser;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use cloudhsm_mfa::logging::{
    parse_interval, parse_level, Destination, LogSettings, LOG_INTERVALS, LOG_LEVELS,
};
use cloudhsm_mfa::proto::Secret;
use cloudhsm_mfa_emulator::delivery::{DeliveryConfig, EmailChannel, SmsChannel};
use cloudhsm_mfa_emulator::init::DEFAULT_CLUSTER_ID;
use cloudhsm_mfa_emulator::{
    init_cluster, EmbeddedCluster, Error, InitOptions, NodeSettings, ServerOptions,
};
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
#[command(
    name = "cloudhsm-emulator",
    version,
    about = "A local HSM cluster for libcloudhsm_mfa: users, MFA and quorum over TLS 1.3"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a cluster directory: CA, node certificates, node state, client configuration.
    Init(InitArgs),
    /// Serve the nodes of a cluster directory until SIGINT or SIGTERM.
    Run(RunArgs),
}

#[derive(Args)]
struct InitArgs {
    /// The cluster directory (created if missing; must not hold a cluster yet).
    #[arg(long)]
    dir: PathBuf,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// The address the nodes listen on, written into their certificates.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Node i listens on BASE_PORT + i; without it, free ports are chosen.
    #[arg(long)]
    base_port: Option<u16>,
    /// Start activated, with this password for `admin` (7 to 32 characters). It shows in
    /// the process list: for test clusters.
    #[arg(long)]
    admin_password: Option<String>,
    /// The cluster id in the client configuration.
    #[arg(long, default_value = DEFAULT_CLUSTER_ID)]
    cluster_id: String,
    /// Argon2id memory cost in KiB.
    #[arg(long)]
    argon2_memory_kib: Option<u32>,
    /// Argon2id passes.
    #[arg(long)]
    argon2_iterations: Option<u32>,
    /// Argon2id lanes.
    #[arg(long)]
    argon2_lanes: Option<u32>,
    /// Challenge lifetime in seconds.
    #[arg(long)]
    challenge_ttl_secs: Option<u64>,
    /// Failed logins after which a user is locked.
    #[arg(long)]
    lockout_threshold: Option<u32>,
    /// Quorum token lifetime in seconds.
    #[arg(long)]
    quorum_token_ttl_secs: Option<u64>,
    /// Send email codes through this SMTP server (HOST:PORT, no TLS: a local relay)
    /// instead of the outbox.
    #[arg(long, value_name = "HOST:PORT")]
    email_smtp: Option<String>,
    /// The sender of email codes sent by SMTP.
    #[arg(
        long,
        value_name = "ADDRESS",
        default_value = "cloudhsm-mfa@localhost.localdomain"
    )]
    email_from: String,
    /// Send SMS codes by running this command (repeat for each word), with the phone
    /// number appended and the text on standard input, instead of the outbox.
    #[arg(long = "sms-command", value_name = "WORD")]
    sms_command: Vec<String>,
}

#[derive(Args)]
struct RunArgs {
    /// The cluster directory made by `init`.
    #[arg(long)]
    dir: PathBuf,
    /// Serve only these nodes (0-based; repeatable). Default: every node.
    #[arg(long = "node")]
    nodes: Vec<usize>,
    /// Wait this long before every reply.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Do not listen for this node (repeatable): clients get "connection refused".
    #[arg(long = "refuse-node")]
    refuse: Vec<usize>,
    /// Accept and at once close every connection to this node (repeatable).
    #[arg(long = "close-node")]
    close: Vec<usize>,
    /// Seconds a client has to finish the TLS handshake.
    #[arg(long, default_value_t = 10)]
    handshake_timeout_secs: u64,
    /// Seconds a client has to send its first request.
    #[arg(long, default_value_t = 10)]
    first_message_timeout_secs: u64,
    /// Seconds a frame may take to arrive once its first byte has (and a reply to be taken).
    #[arg(long, default_value_t = 10)]
    frame_timeout_secs: u64,
    /// Seconds a connection may stay idle between requests.
    #[arg(long, default_value_t = 300)]
    idle_timeout_secs: u64,
    /// The most connections each node keeps open; more are closed as soon as they arrive.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Log every request a node handles (operation, user, node, result code; never a
    /// secret) and each node's start and stop, from this level on. Without it and
    /// without --log-file nothing is logged.
    #[arg(long, value_name = "LEVEL", value_parser = PossibleValuesParser::new(LOG_LEVELS))]
    log_level: Option<String>,
    /// Write the log to this file (level info unless --log-level says) instead of
    /// stderr, where it would come between the JSON event lines.
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// When the log file starts anew; a rotated file's name gets the date (and hour).
    #[arg(long, value_name = "INTERVAL", default_value = "never",
          value_parser = PossibleValuesParser::new(LOG_INTERVALS))]
    log_interval: String,
}

impl RunArgs {
    /// The log the options ask for, if any.
    fn log_settings(&self) -> Result<Option<LogSettings>, String> {
        if self.log_level.is_none() && self.log_file.is_none() {
            return Ok(None);
        }
        let level = parse_level(self.log_level.as_deref().unwrap_or("info"))?;
        let destination = match &self.log_file {
            None => Destination::Terminal,
            Some(path) => Destination::File {
                path: path.clone(),
                interval: parse_interval(&self.log_interval)?,
            },
        };
        Ok(Some(LogSettings { destination, level }))
    }
}

/// Passwords pass through this process: freed memory is wiped (see
/// `cloudhsm_mfa::process`).
#[global_allocator]
static ALLOCATOR: cloudhsm_mfa::process::WipingAllocator =
    cloudhsm_mfa::process::WipingAllocator::new(std::alloc::System);

fn main() -> ExitCode {
    // Best effort: without it the process still runs, as before.
    let _ = cloudhsm_mfa::process::forbid_core_dumps();
    let matches = cli_docs::with_generator(Cli::command()).get_matches();
    if let Some(dir) = cli_docs::requested(&matches) {
        // Hidden, for `make`: the man pages and completions.
        return match cli_docs::generate(Cli::command(), &dir) {
            Ok(files) => {
                eprintln!("{}", json!({"event": "generated", "files": files}));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}", json!({"event": "error", "message": e.to_string()}));
                ExitCode::FAILURE
            }
        };
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Init(args) => init(args),
        Command::Run(args) => run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", json!({"event": "error", "message": e.to_string()}));
            ExitCode::FAILURE
        }
    }
}

fn init(args: InitArgs) -> Result<(), Error> {
    let defaults = NodeSettings::default();
    let settings = NodeSettings {
        argon2_memory_kib: args.argon2_memory_kib.unwrap_or(defaults.argon2_memory_kib),
        argon2_iterations: args.argon2_iterations.unwrap_or(defaults.argon2_iterations),
        argon2_lanes: args.argon2_lanes.unwrap_or(defaults.argon2_lanes),
        challenge_ttl: args
            .challenge_ttl_secs
            .map(Duration::from_secs)
            .unwrap_or(defaults.challenge_ttl),
        lockout_threshold: args.lockout_threshold.unwrap_or(defaults.lockout_threshold),
        quorum_token_ttl: args
            .quorum_token_ttl_secs
            .map(Duration::from_secs)
            .unwrap_or(defaults.quorum_token_ttl),
    };
    let options = InitOptions {
        nodes: args.nodes,
        host: args.host,
        base_port: args.base_port,
        admin_password: args.admin_password.map(Secret::new),
        cluster_id: args.cluster_id,
        settings,
        delivery: DeliveryConfig {
            email: match args.email_smtp {
                Some(server) => EmailChannel::Smtp {
                    server,
                    from: args.email_from,
                },
                None => EmailChannel::Outbox,
            },
            sms: if args.sms_command.is_empty() {
                SmsChannel::Outbox
            } else {
                SmsChannel::Command {
                    argv: args.sms_command,
                }
            },
        },
    };
    let manifest = init_cluster(&args.dir, &options)?;
    let layout =
        cloudhsm_mfa_emulator::ClusterDir::new(args.dir.canonicalize().map_err(|e| Error::Io {
            context: format!("cannot resolve {}", args.dir.display()),
            source: e,
        })?);
    let nodes: Vec<_> = manifest
        .nodes
        .iter()
        .map(|n| json!({"hsm_id": n.hsm_id, "address": n.addr().to_string()}))
        .collect();
    eprintln!(
        "{}",
        json!({
            "event": "initialized",
            "dir": layout.root(),
            "config": layout.client_config(),
            "ca": layout.ca_cert(),
            "activated": options.admin_password.is_some(),
            "nodes": nodes,
        })
    );
    Ok(())
}

fn run(args: RunArgs) -> Result<(), Error> {
    if let Some(settings) = args.log_settings().map_err(Error::Invalid)? {
        cloudhsm_mfa::logging::install(&settings).map_err(Error::Invalid)?;
    }
    let options = ServerOptions {
        handshake_timeout: Duration::from_secs(args.handshake_timeout_secs),
        first_message_timeout: Duration::from_secs(args.first_message_timeout_secs),
        frame_timeout: Duration::from_secs(args.frame_timeout_secs),
        idle_timeout: Duration::from_secs(args.idle_timeout_secs),
        max_connections: args.max_connections as usize,
    };
    // Signals are caught from here on, so a signal after "ready" always stops cleanly.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            context: "cannot start the signal runtime".into(),
            source: e,
        })?;
    let (mut sigint, mut sigterm) = {
        let _guard = runtime.enter();
        let catch = |kind| {
            signal(kind).map_err(|e| Error::Io {
                context: "cannot catch signals".into(),
                source: e,
            })
        };
        (
            catch(SignalKind::interrupt())?,
            catch(SignalKind::terminate())?,
        )
    };

    let cluster = EmbeddedCluster::open(&args.dir, options)?;
    let mut wanted: Vec<usize> = if args.nodes.is_empty() {
        (0..cluster.node_count()).collect()
    } else {
        args.nodes.clone()
    };
    wanted.sort_unstable();
    wanted.dedup();
    for &i in wanted.iter().chain(&args.refuse).chain(&args.close) {
        cluster.addr(i)?;
    }
    let mut serving = Vec::new();
    for &i in &wanted {
        if args.refuse.contains(&i) {
            continue;
        }
        cluster.set_delay(i, Duration::from_millis(args.delay_ms))?;
        cluster.set_close_at_once(i, args.close.contains(&i))?;
        cluster.start_node(i)?;
        serving.push(json!({
            "index": i,
            "hsm_id": cluster.hsm_id(i)?,
            "address": cluster.addr(i)?.to_string(),
        }));
    }
    tracing::info!(dir = %cluster.dir().display(), nodes = serving.len(), "ready");
    eprintln!(
        "{}",
        json!({
            "event": "ready",
            "dir": cluster.dir(),
            "config": cluster.config_path(),
            "nodes": serving,
            "refused": wanted.iter().filter(|i| args.refuse.contains(i)).collect::<Vec<_>>(),
            "pid": std::process::id(),
        })
    );

    let which = runtime.block_on(async {
        tokio::select! {
            _ = sigint.recv() => "SIGINT",
            _ = sigterm.recv() => "SIGTERM",
        }
    });
    eprintln!("{}", json!({"event": "stopping", "signal": which}));
    tracing::info!(signal = which, "stopping");
    cluster.shutdown()?;
    tracing::info!("stopped");
    eprintln!("{}", json!({"event": "stopped"}));
    Ok(())
}
