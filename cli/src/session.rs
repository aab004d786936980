//! Reaching a cluster: the options that choose it (`--config`, `--cluster-id`), the
//! library session that talks to it, and the login a command needs. In interactive mode
//! one session per cluster lives from command to command with its login; in
//! single-command mode each command opens its own and, when it needs a login, logs in
//! first with the credentials of `CLOUDHSM_ROLE` and `CLOUDHSM_PIN`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use cloudhsm_mfa::blocking::{Runtime, Session};
use cloudhsm_mfa::client::{LoginStep, SessionOptions};
use cloudhsm_mfa::config::{ClusterTarget, Config};
use cloudhsm_mfa::mfa::Factor;
use cloudhsm_mfa::proto::Role;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::prompt::Input;

/// The environment variable with the role of single-command mode's login.
pub const ROLE_ENV: &str = "CLOUDHSM_ROLE";
/// The environment variable with `user:password` for single-command mode's login.
pub const PIN_ENV: &str = "CLOUDHSM_PIN";
/// The environment variable with a software-token code for single-command mode's login.
pub const MFA_CODE_ENV: &str = "CLOUDHSM_MFA_CODE";

/// The options that choose the cluster, accepted by the commands that talk to one,
/// anywhere after the command's first word (AWS's CLI takes `--cluster-id` there).
#[derive(Args, Clone, Default)]
pub struct TargetArgs {
    /// The cluster configuration file [default: $CLOUDHSM_MFA_CONFIG, else
    /// /opt/cloudhsm/etc/cloudhsm-cli.cfg]
    #[arg(long, value_name = "PATH", global = true, display_order = 900)]
    pub config: Option<PathBuf>,
    /// Unique Id of the cluster in the config file to run the operation against. Without it:
    /// the one given when interactive mode was started, else the only cluster configured
    #[arg(long, value_name = "CLUSTER_ID", global = true, display_order = 0)]
    pub cluster_id: Option<String>,
}

/// `--config` and `--cluster-id` before the command (`cloudhsm-mfa --config PATH user
/// list`), kept for the command lines of earlier versions: allowed only before a command
/// that talks to a cluster, and not shown in the help.
#[derive(Args, Clone, Default)]
pub struct LeadingTarget {
    #[arg(long, value_name = "PATH", hide = true)]
    config: Option<PathBuf>,
    #[arg(long, value_name = "CLUSTER_ID", hide = true)]
    cluster_id: Option<String>,
}

impl LeadingTarget {
    /// Whether either option was given.
    pub fn given(&self) -> bool {
        self.config.is_some() || self.cluster_id.is_some()
    }

    /// The options as the command's own.
    pub fn target(&self) -> TargetArgs {
        TargetArgs {
            config: self.config.clone(),
            cluster_id: self.cluster_id.clone(),
        }
    }

    /// The error for these options before a command that uses no cluster.
    pub fn refuse(&self, command: &str) -> Result<(), String> {
        if self.given() {
            return Err(format!(
                "--config and --cluster-id choose a cluster; `{command}` uses none: leave them out"
            ));
        }
        Ok(())
    }
}

/// A group of cluster commands (`user`, `quorum`, `cluster`): the options that choose the
/// cluster, then the command.
#[derive(Args)]
pub struct OnCluster<C: Subcommand> {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(subcommand)]
    pub command: C,
}

/// A cluster command's own arguments, with the options that choose the cluster.
#[derive(Args)]
pub struct WithTarget<A: Args> {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub args: A,
}

/// A cluster command with no arguments of its own (`logout`, `interactive`).
#[derive(Args)]
pub struct TargetOnly {
    #[command(flatten)]
    pub target: TargetArgs,
}

impl TargetArgs {
    /// These options, with `defaults` for the ones not given.
    pub fn or(&self, defaults: &TargetArgs) -> TargetArgs {
        TargetArgs {
            config: self.config.clone().or_else(|| defaults.config.clone()),
            cluster_id: self
                .cluster_id
                .clone()
                .or_else(|| defaults.cluster_id.clone()),
        }
    }

    /// The cluster's id as a software token's URI names it (`cluster` when the
    /// configuration gives none).
    pub fn cluster_label(&self) -> Result<String, String> {
        Ok(self
            .select()?
            .cluster_id
            .unwrap_or_else(|| "cluster".into()))
    }

    /// Reads the configuration and chooses the cluster.
    fn select(&self) -> Result<ClusterTarget, String> {
        let config = Config::load(self.config.as_deref()).map_err(|e| e.to_string())?;
        config
            .select(self.cluster_id.as_deref())
            .map_err(|e| e.to_string())
    }
}

/// A role as typed on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// A CryptoUser has the ability to manage and use keys
    CryptoUser,
    /// An Admin has the ability to manage user accounts
    Admin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::CryptoUser => Role::CryptoUser,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// A user and role, the data most user commands answer with.
#[derive(Serialize)]
pub struct Identity {
    pub username: String,
    pub role: &'static str,
}

impl Identity {
    /// The user as the cluster shows it: the name in lower case.
    pub fn new(username: &str, role: Role) -> Self {
        Identity {
            username: cloudhsm_mfa::user::normalize_username(username)
                .unwrap_or_else(|_| username.to_string()),
            role: role.as_str(),
        }
    }
}

/// Whether commands run one per process or in interactive mode.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Single,
    Interactive,
}

/// Everything a cluster command works with: standard input for its questions and the
/// sessions it talks through.
pub struct Context {
    pub input: Input,
    pub clusters: Clusters,
}

impl Context {
    pub fn new(mode: Mode) -> Self {
        Context {
            input: Input::new(),
            clusters: Clusters {
                mode,
                runtime: None,
                sessions: Vec::new(),
            },
        }
    }
}

/// The open sessions, one per cluster.
pub struct Clusters {
    mode: Mode,
    runtime: Option<Runtime>,
    sessions: Vec<(SessionKey, Session)>,
}

#[derive(PartialEq, Eq)]
struct SessionKey {
    config: PathBuf,
    cluster_id: Option<String>,
}

/// The login of single-command mode, from the environment.
struct Credentials {
    username: String,
    role: Role,
    password: Zeroizing<String>,
}

impl Clusters {
    /// Whether commands run one per process or in interactive mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// What can be checked before anything is asked or sent: the configuration and the
    /// cluster, and in single-command mode the credentials of a command that needs a login.
    pub fn check(&self, target: &TargetArgs, needs_login: bool) -> Result<(), String> {
        target.select()?;
        if needs_login && self.mode == Mode::Single {
            credentials()?;
        }
        Ok(())
    }

    /// The session with the chosen cluster, opened (connected to every HSM) on first use.
    pub fn session(&mut self, target: &TargetArgs) -> Result<&mut Session, String> {
        let cluster = target.select()?;
        let key = SessionKey {
            config: cluster.config_path.clone(),
            cluster_id: cluster.cluster_id.clone(),
        };
        let index = match self.sessions.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let runtime = match &self.runtime {
                    Some(rt) => rt.clone(),
                    None => {
                        let rt = Runtime::new().map_err(|e| e.to_string())?;
                        self.runtime = Some(rt.clone());
                        rt
                    }
                };
                let session = Session::open(&runtime, &cluster, &SessionOptions::default())
                    .map_err(|e| e.to_string())?;
                self.sessions.push((key, session));
                self.sessions.len() - 1
            }
        };
        Ok(&mut self.sessions[index].1)
    }

    /// The session for a command that needs a login. In interactive mode, the session as it
    /// is (the cluster refuses the command when nobody is logged in); in single-command mode,
    /// logged in with `CLOUDHSM_ROLE` and `CLOUDHSM_PIN`.
    pub fn logged_in(&mut self, target: &TargetArgs) -> Result<&mut Session, String> {
        let mode = self.mode;
        let session = self.session(target)?;
        if mode == Mode::Single && session.logged_in().is_none() {
            let c = credentials()?;
            let step = session
                .run(async |ses| {
                    ses.login_start(&c.username, c.role, &c.password, None)
                        .await
                })
                .map_err(|e| format!("login with {ROLE_ENV} and {PIN_ENV} failed: {e}"))?;
            let hint = "single-command mode logs in with the password and, for a software \
                        token, the code in CLOUDHSM_MFA_CODE: log in in interactive mode \
                        (cloudhsm-mfa interactive)";
            match step {
                LoginStep::Done(_) => {}
                LoginStep::Code {
                    factor: Factor::SoftwareToken,
                    ..
                } => {
                    let code = std::env::var(MFA_CODE_ENV).map_err(|_| {
                        format!(
                            "login with {ROLE_ENV} and {PIN_ENV}: user {} needs a software-token \
                             code; set {MFA_CODE_ENV}, or {hint}",
                            c.username
                        )
                    })?;
                    session
                        .run(async |ses| ses.login_code(code.trim()).await)
                        .map_err(|e| format!("login with {MFA_CODE_ENV} failed: {e}"))?;
                }
                LoginStep::TokenSign(_) => {
                    return Err(format!(
                        "login with {ROLE_ENV} and {PIN_ENV} failed: user {} has MFA registered: \
                         {hint}, or run the command as an admin",
                        c.username
                    ))
                }
                LoginStep::Code { factor, .. } => {
                    return Err(format!(
                    "login with {ROLE_ENV} and {PIN_ENV}: user {} needs a {factor} code; {hint}",
                    c.username
                ))
                }
                LoginStep::Select { factors } => {
                    let names: Vec<&str> = factors.iter().map(|f| f.as_str()).collect();
                    return Err(format!(
                        "login with {ROLE_ENV} and {PIN_ENV}: user {} has to select an MFA type \
                         ({}); {hint}",
                        c.username,
                        names.join(", ")
                    ));
                }
            }
        }
        Ok(session)
    }
}

fn credentials() -> Result<Credentials, String> {
    let how = format!(
        "commands that need a login take it from {ROLE_ENV} (admin or crypto-user) and \
         {PIN_ENV} (user:password), or run them in interactive mode (cloudhsm-mfa interactive) \
         after login"
    );
    let role = match std::env::var(ROLE_ENV) {
        Ok(r) if !r.is_empty() => r,
        Ok(_) | Err(std::env::VarError::NotPresent) => {
            return Err(format!("{ROLE_ENV} is not set; {how}"))
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(format!("{ROLE_ENV} is not valid UTF-8; {how}"))
        }
    };
    let role = match Role::parse(&role) {
        Some(r @ (Role::Admin | Role::CryptoUser)) => r,
        _ => {
            return Err(format!(
                "{ROLE_ENV} is \"{role}\", not a role: use admin or crypto-user"
            ))
        }
    };
    let pin = match std::env::var(PIN_ENV) {
        Ok(p) if !p.is_empty() => Zeroizing::new(p),
        Ok(_) | Err(std::env::VarError::NotPresent) => {
            return Err(format!("{PIN_ENV} is not set; {how}"))
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(format!(
                "{PIN_ENV} is not valid UTF-8; it must be user:password"
            ))
        }
    };
    let Some((username, password)) = pin.split_once(':') else {
        return Err(format!(
            "{PIN_ENV} must be user:password (the user name, a colon, the password); \
             it has no colon"
        ));
    };
    if username.is_empty() {
        return Err(format!(
            "{PIN_ENV} must be user:password; the user name before the colon is empty"
        ));
    }
    Ok(Credentials {
        username: username.to_string(),
        role,
        password: Zeroizing::new(password.to_string()),
    })
}

/// A path given in answer to a prompt; empty means "the same file".
pub fn answered_path(answer: &str) -> Option<&Path> {
    if answer.is_empty() {
        None
    } else {
        Some(Path::new(answer))
    }
}
