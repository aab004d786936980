//! `quickstart`: token-sign MFA from start to end on a local cluster in a fresh temporary
//! directory, told step by step on stderr with the command a user would type at each step.
//! A 3-HSM cluster starts in this process and is activated; the admin creates a crypto user;
//! the user makes a key pair, registers it (tokens signed by the library), logs in with MFA
//! (every signature also checked by the real `openssl pkeyutl -verify`), rotates the key and
//! logs in with the new one while the old one is refused; two admins register quorum keys
//! and a user creation then needs both their approvals; alice adds a software token (TOTP)
//! as her preferred factor and logs in with its code; `user list`; the cluster stops.
//! stdout keeps the one JSON envelope with the summary.

mod openssl;

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::Args;
use cloudhsm_mfa::blocking::{Runtime, Session};
use cloudhsm_mfa::client::{LoginStep, MfaPreferenceView, SessionOptions, UserList};
use cloudhsm_mfa::config::Config;
use cloudhsm_mfa::crypto::random_token;
use cloudhsm_mfa::proto::{Role, Service};
use cloudhsm_mfa::{sign_file, PrivateKey, PublicKey, TokenFile};
use cloudhsm_mfa_emulator::{EmbeddedCluster, InitOptions, NodeSettings};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::interactive::PROMPT;
use crate::output::{self, path_text, Outcome};
use crate::prompt::{CONFIRM_PASSWORD, PASSWORD, PUBLIC_KEY_FILE, SIGNED_TOKEN_FILE};
use crate::session::Identity;

const NODES: usize = 3;
const BITS: usize = 2048;
const STEPS: usize = 17;
const USER: &str = "alice";
const PRIVATE_KEY: &str = "mfa-private.pem";
const PUBLIC_KEY: &str = "mfa-public.pem";
const NEW_PRIVATE_KEY: &str = "mfa-private-2.pem";
const NEW_PUBLIC_KEY: &str = "mfa-public-2.pem";
/// The second admin who approves, and the user whose creation needs the approvals.
const APPROVER: &str = "approver";
const GATED_USER: &str = "bob";

#[derive(Args)]
pub struct QuickstartArgs {
    /// Keep the temporary directory (keys, token files, the stopped cluster) instead of
    /// removing it at the end
    #[arg(long)]
    keep: bool,
}

#[derive(Serialize)]
struct Summary {
    directory: String,
    kept: bool,
    openssl: String,
    cluster: ClusterSummary,
    username: &'static str,
    private_key: String,
    public_key: String,
    token_file: String,
    signed_token_file: String,
    kind: &'static str,
    tokens: usize,
    signatures: usize,
    verified_by_openssl: usize,
    rotated_private_key: String,
    rotated_public_key: String,
    old_key_refused: String,
    quorum: QuorumSummary,
    software_token: SoftwareTokenSummary,
    users: UserList,
}

#[derive(Serialize)]
struct SoftwareTokenSummary {
    otpauth_uri_issuer: &'static str,
    preferences: MfaPreferenceView,
    logged_in_with_code: bool,
}

#[derive(Serialize)]
struct QuorumSummary {
    approvers: Vec<&'static str>,
    user_quorum_value: u32,
    refused_without_approval: String,
    created_with_approval: &'static str,
}

#[derive(Serialize)]
struct ClusterSummary {
    directory: String,
    config: String,
    cluster_id: Option<String>,
    hsms: Vec<String>,
    stopped: bool,
}

/// Numbered steps on stderr, with the commands a user would type.
struct Steps {
    done: usize,
}

impl Steps {
    fn next(&mut self, title: &str) {
        self.done += 1;
        eprintln!("\n[{}/{STEPS}] {title}", self.done);
    }

    fn say(&self, line: impl AsRef<str>) {
        eprintln!("      {}", line.as_ref());
    }

    /// A shell command.
    fn run(&self, command: impl Display) {
        self.say(format!("$ {command}"));
    }

    /// A command typed at the interactive prompt.
    fn typed(&self, command: impl Display) {
        self.say(format!("{PROMPT}{command}"));
    }

    /// A prompt and what the user answers.
    fn answer(&self, prompt: &str, answer: impl Display) {
        self.say(format!("{prompt} {answer}"));
    }

    /// The JSON result the command prints, on one line.
    fn result(&self, data: impl Serialize) {
        self.envelope(0, data);
    }

    fn failure(&self, message: &str) {
        self.envelope(1, message);
    }

    fn envelope(&self, error_code: u8, data: impl Serialize) {
        #[derive(Serialize)]
        struct Envelope<T> {
            error_code: u8,
            data: T,
        }
        self.say(serde_json::to_string(&Envelope { error_code, data }).unwrap_or_default());
    }
}

pub fn run(args: QuickstartArgs) -> ExitCode {
    output::emit(walk_through(args))
}

fn fail(e: impl Display) -> String {
    e.to_string()
}

fn walk_through(args: QuickstartArgs) -> Outcome<Summary> {
    let mut steps = Steps { done: 0 };
    eprintln!(
        "cloudhsm-mfa quickstart: token-sign MFA on a local cluster of {NODES} HSMs, from \
         activation to key rotation"
    );

    steps.next("Looking for OpenSSL, which checks the library's signatures");
    let openssl = openssl::version()?;
    steps.say(format!("found: {openssl}"));

    steps.next("Creating a temporary working directory");
    let temp = tempfile::Builder::new()
        .prefix("cloudhsm-mfa-quickstart-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    // With --keep the directory is released at once, so it stays even if a step fails;
    // otherwise `_guard` removes it when this function returns, whatever the outcome.
    let (dir, _guard) = if args.keep {
        (temp.keep(), None)
    } else {
        (temp.path().to_path_buf(), Some(temp))
    };
    steps.say(dir.display().to_string());

    steps.next(&format!("Starting a local cluster of {NODES} HSMs"));
    let cluster_dir = dir.join("cluster");
    steps.run(format!(
        "cloudhsm-emulator init --dir {} --nodes {NODES} --argon2-memory-kib 64 --argon2-iterations 1",
        cluster_dir.display()
    ));
    steps.run(format!(
        "cloudhsm-emulator run --dir {} &",
        cluster_dir.display()
    ));
    let cluster = EmbeddedCluster::start(
        &cluster_dir,
        &InitOptions {
            nodes: NODES,
            settings: NodeSettings::low_cost(),
            ..InitOptions::default()
        },
    )
    .map_err(|e| format!("cannot start the local cluster: {e}"))?;
    let mut hsms = Vec::with_capacity(NODES);
    for i in 0..cluster.node_count() {
        let (id, addr) = (
            cluster.hsm_id(i).map_err(fail)?,
            cluster.addr(i).map_err(fail)?,
        );
        steps.say(format!("{id} listens on {addr} (TLS 1.3)"));
        hsms.push(format!("{id} {addr}"));
    }
    steps.say(format!(
        "every HSM certificate is signed by the cluster CA {}",
        cluster.ca_path().display()
    ));
    steps.say(
        "(the cheapest Argon2id password hashing keeps this fast; leave the default elsewhere)",
    );
    let config_path = cluster.config_path();
    steps.run(format!(
        "export CLOUDHSM_MFA_CONFIG={}",
        config_path.display()
    ));
    let target = Config::load(Some(&config_path))
        .and_then(|c| c.select(None))
        .map_err(fail)?;
    let runtime = Runtime::new().map_err(fail)?;
    let mut session = Session::open(&runtime, &target, &SessionOptions::default()).map_err(fail)?;

    steps.next("Activating the cluster: the first admin gets its password");
    let admin_password = generated_password()?;
    steps.run("cloudhsm-mfa cluster activate");
    steps.answer(PASSWORD, "(a generated password, not shown)");
    steps.answer(CONFIRM_PASSWORD, "(the same)");
    session
        .run(async |ses| ses.activate_cluster(&admin_password).await)
        .map_err(fail)?;
    steps.result("Cluster activation successful");

    steps.next("Logging in as admin, in interactive mode: the login lasts from command to command");
    steps.run("cloudhsm-mfa interactive");
    steps.typed("login --username admin --role admin");
    steps.answer(PASSWORD, "(not shown)");
    let report = session
        .run(async |ses| ses.login("admin", Role::Admin, &admin_password).await)
        .map_err(fail)?;
    steps.result(Identity::new(&report.username, report.role));

    steps.next(&format!("Creating the crypto user {USER}"));
    let password = generated_password()?;
    steps.typed(format!("user create --username {USER} --role crypto-user"));
    steps.answer(
        PASSWORD,
        format!("(a generated password for {USER}, not shown)"),
    );
    steps.answer(CONFIRM_PASSWORD, "(the same)");
    session
        .run(async |ses| ses.create_user(USER, Role::CryptoUser, &password).await)
        .map_err(fail)?;
    steps.result(Identity::new(USER, Role::CryptoUser));
    steps.typed("logout");
    session.run(async |ses| ses.logout().await).map_err(fail)?;
    steps.result("Logout successful");

    steps.next(&format!("Generating {USER}'s RSA-{BITS} key pair for MFA"));
    let (private_key, public_key) = key_pair(&steps, &dir, PRIVATE_KEY, PUBLIC_KEY)?;
    steps.say("The HSMs will keep only the public key.");

    steps.next(&format!(
        "Registering MFA: {USER} logs in with her password and registers her own key"
    ));
    steps.typed(format!("login --username {USER} --role crypto-user"));
    steps.answer(PASSWORD, "(not shown)");
    let report = session
        .run(async |ses| ses.login(USER, Role::CryptoUser, &password).await)
        .map_err(fail)?;
    steps.result(Identity::new(&report.username, report.role));
    let register = dir.join("register.json");
    steps.typed(format!(
        "user change-mfa token-sign --username {USER} --role crypto-user --token {}",
        register.display()
    ));
    steps.answer(PASSWORD, "(her password, kept as it is; not shown)");
    steps.answer(CONFIRM_PASSWORD, "(the same)");
    let issued = session
        .run(async |ses| {
            ses.change_mfa_begin(USER, Role::CryptoUser, &register)
                .await
        })
        .map_err(fail)?;
    steps.say(format!(
        "{} registration tokens written to {}, one per HSM",
        issued.tokens,
        issued.token_path.display()
    ));
    steps.say("In another terminal, she signs them with the new private key:");
    steps.run(format!(
        "cloudhsm-mfa tokens sign --token {} --private-key {}",
        register.display(),
        private_key.display()
    ));
    let signed = sign_file(&register, &private_key, None, None).map_err(fail)?;
    steps.say(format!(
        "{} signatures written to {}",
        signed.signatures,
        signed.path.display()
    ));
    steps.answer(SIGNED_TOKEN_FILE, "(enter: the same file)");
    steps.answer(PUBLIC_KEY_FILE, public_key.display());
    let public = PublicKey::load(&public_key).map_err(fail)?;
    session
        .run(async |ses| ses.change_mfa_finish(None, &public, &password, false).await)
        .map_err(fail)?;
    steps.result(Identity::new(USER, Role::CryptoUser));
    steps.say("Each HSM checked the signature over its token with the public key, then kept it.");
    steps.typed("logout");
    session.run(async |ses| ses.logout().await).map_err(fail)?;
    steps.result("Logout successful");

    steps.next("Logging in with MFA: the password, then one signed token per HSM");
    let token_file = dir.join("token.json");
    steps.typed(format!(
        "login --username {USER} --role crypto-user mfa-token-sign --token {}",
        token_file.display()
    ));
    steps.answer(PASSWORD, "(not shown)");
    session
        .run(async |ses| {
            ses.login_mfa_begin(USER, Role::CryptoUser, &password, &token_file)
                .await
        })
        .map_err(fail)?;
    let tokens = TokenFile::load(&token_file).map_err(fail)?;
    steps.say(format!(
        "{} tokens written to {}:",
        tokens.tokens().len(),
        token_file.display()
    ));
    for (i, entry) in tokens.tokens().iter().enumerate() {
        steps.say(format!(
            "tokens[{i}].unsigned = {}",
            B64.encode(entry.unsigned)
        ));
    }
    steps.say("She signs them into another file:");
    let signed_file = dir.join("token-signed.json");
    steps.run(format!(
        "cloudhsm-mfa tokens sign --token {} --private-key {} --output {}",
        token_file.display(),
        private_key.display(),
        signed_file.display()
    ));
    let signed = sign_file(&token_file, &private_key, Some(&signed_file), None).map_err(fail)?;
    steps.say(format!(
        "{} signatures written to {}",
        signed.signatures,
        signed.path.display()
    ));

    steps.next("Checking every signature with openssl pkeyutl -verify before answering");
    let verified = check_with_openssl(&steps, &dir, &signed.path, &public)?;

    steps.next("Finishing the MFA login with the signed file");
    steps.answer(SIGNED_TOKEN_FILE, signed_file.display());
    let report = session
        .run(async |ses| ses.login_mfa_finish(Some(&signed_file)).await)
        .map_err(fail)?;
    steps.result(Identity::new(&report.username, report.role));

    steps.next(&format!(
        "Rotating {USER}'s key: a new key pair, registered with the library signing in memory"
    ));
    let (new_private_key, new_public_key) =
        key_pair(&steps, &dir, NEW_PRIVATE_KEY, NEW_PUBLIC_KEY)?;
    steps.typed(format!(
        "user change-mfa token-sign --username {USER} --role crypto-user --sign-with {}",
        new_private_key.display()
    ));
    steps.answer(PASSWORD, "(her password, kept as it is; not shown)");
    steps.answer(CONFIRM_PASSWORD, "(the same)");
    let new_key = PrivateKey::load(&new_private_key).map_err(fail)?;
    let new_public = new_key.public_key().map_err(fail)?;
    session
        .run(async |ses| {
            ses.change_mfa_with(
                USER,
                Role::CryptoUser,
                &new_public,
                &password,
                false,
                &new_key,
            )
            .await
        })
        .map_err(fail)?;
    steps.result(Identity::new(USER, Role::CryptoUser));
    steps.typed("logout");
    session.run(async |ses| ses.logout().await).map_err(fail)?;
    steps.result("Logout successful");

    steps.next("Logging in with the new key; the old key is refused");
    let old_key = PrivateKey::load(&private_key).map_err(fail)?;
    let mfa_login = |key: &Path| {
        format!(
            "login --username {USER} --role crypto-user mfa-token-sign --sign-with {}",
            key.display()
        )
    };
    steps.typed(mfa_login(&private_key));
    steps.answer(PASSWORD, "(not shown)");
    let old_key_refused = match session.run(async |ses| {
        ses.login_mfa_with(USER, Role::CryptoUser, &password, &old_key)
            .await
    }) {
        Ok(_) => return Err("the cluster accepted the old key after the rotation".into()),
        Err(e) => e.to_string(),
    };
    steps.failure(&old_key_refused);
    steps.typed(mfa_login(&new_private_key));
    steps.answer(PASSWORD, "(not shown)");
    let report = session
        .run(async |ses| {
            ses.login_mfa_with(USER, Role::CryptoUser, &password, &new_key)
                .await
        })
        .map_err(fail)?;
    steps.result(Identity::new(&report.username, report.role));

    steps.next("Quorum: a user creation that needs the approval of 2 admins");
    steps.typed("logout");
    session.run(async |ses| ses.logout().await).map_err(fail)?;
    let approver_password = generated_password()?;
    let mut quorum_keys = Vec::new();
    for (name, password) in [("admin", &admin_password), (APPROVER, &approver_password)] {
        steps.typed(format!("login --username {name} --role admin"));
        steps.answer(PASSWORD, "(not shown)");
        session
            .run(async |ses| ses.login(name, Role::Admin, password).await)
            .map_err(fail)?;
        if name == "admin" {
            steps.typed(format!("user create --username {APPROVER} --role admin"));
            steps.answer(PASSWORD, "(a generated password, not shown)");
            steps.answer(CONFIRM_PASSWORD, "(the same)");
            session
                .run(async |ses| {
                    ses.create_user(APPROVER, Role::Admin, &approver_password)
                        .await
                })
                .map_err(fail)?;
        }
        let (key_path, pub_path) = key_pair(
            &steps,
            &dir,
            &format!("quorum-{name}.pem"),
            &format!("quorum-{name}.pub.pem"),
        )?;
        let registration = dir.join(format!("quorum-registration-{name}.json"));
        steps.typed(format!(
            "quorum token-sign generate --service registration --token {}",
            registration.display()
        ));
        session
            .run(async |ses| {
                ses.generate_quorum_token(Service::Registration, &registration)
                    .await
            })
            .map_err(fail)?;
        steps.result(serde_json::json!({ "filepath": path_text(&registration) }));
        steps.run(format!(
            "cloudhsm-mfa tokens sign --token {} --private-key {}",
            registration.display(),
            key_path.display()
        ));
        sign_file(&registration, &key_path, None, None).map_err(fail)?;
        steps.typed(format!(
            "user change-quorum token-sign register --public-key {} --signed-token {}",
            pub_path.display(),
            registration.display()
        ));
        let public = PublicKey::load(&pub_path).map_err(fail)?;
        session
            .run(async |ses| ses.register_quorum_key(&public, &registration).await)
            .map_err(fail)?;
        steps.result(Identity::new(name, Role::Admin));
        quorum_keys.push(key_path);
        if name == "admin" {
            steps.typed("logout");
            session.run(async |ses| ses.logout().await).map_err(fail)?;
        }
    }
    steps.typed("quorum token-sign set-quorum-value --service user --value 2");
    session
        .run(async |ses| ses.set_quorum_value(Service::User, 2).await)
        .map_err(fail)?;
    steps.result("Set Quorum Value successful");
    let create = format!("user create --username {GATED_USER} --role crypto-user");
    steps.typed(&create);
    let gated_password = generated_password()?;
    steps.answer(PASSWORD, "(a generated password, not shown)");
    steps.answer(CONFIRM_PASSWORD, "(the same)");
    let refused_without_approval = match session.run(async |ses| {
        ses.create_user(GATED_USER, Role::CryptoUser, &gated_password)
            .await
    }) {
        Ok(()) => return Err("the cluster created a user without the approvals".into()),
        Err(e) => e.to_string(),
    };
    steps.failure(&refused_without_approval);
    let approval = dir.join("quorum-approval.json");
    steps.typed(format!(
        "quorum token-sign generate --service user --token {}",
        approval.display()
    ));
    session
        .run(async |ses| ses.generate_quorum_token(Service::User, &approval).await)
        .map_err(fail)?;
    steps.result(serde_json::json!({ "filepath": path_text(&approval) }));
    steps.say("Each approver signs the token offline, with the key it registered:");
    for (name, key) in ["admin", APPROVER].into_iter().zip(&quorum_keys) {
        steps.run(format!(
            "cloudhsm-mfa tokens sign --token {} --private-key {} --username {name}",
            approval.display(),
            key.display()
        ));
        sign_file(&approval, key, None, Some(name)).map_err(fail)?;
    }
    steps.typed(format!("{create} --approval {}", approval.display()));
    steps.answer(PASSWORD, "(the same generated password, not shown)");
    steps.answer(CONFIRM_PASSWORD, "(the same)");
    let approval_file = TokenFile::load(&approval).map_err(fail)?;
    session
        .run(async |ses| {
            ses.set_approval(&approval_file)?;
            ses.create_user(GATED_USER, Role::CryptoUser, &gated_password)
                .await
        })
        .map_err(fail)?;
    steps.result(Identity::new(GATED_USER, Role::CryptoUser));
    let quorum = QuorumSummary {
        approvers: vec!["admin", APPROVER],
        user_quorum_value: 2,
        refused_without_approval,
        created_with_approval: GATED_USER,
    };

    steps.next(&format!(
        "A software token: {USER} adds an authenticator app (TOTP) and prefers it"
    ));
    steps.typed("logout");
    session.run(async |ses| ses.logout().await).map_err(fail)?;
    steps.typed(mfa_login(&new_private_key));
    steps.answer(PASSWORD, "(not shown)");
    session
        .run(async |ses| {
            ses.login_mfa_with(USER, Role::CryptoUser, &password, &new_key)
                .await
        })
        .map_err(fail)?;
    steps.result(Identity::new(USER, Role::CryptoUser));
    steps.typed(format!(
        "user associate-software-token --username {USER} --role crypto-user"
    ));
    let account = format!(
        "{USER}@{}",
        target.cluster_id.as_deref().unwrap_or("cluster")
    );
    let token = session
        .run(async |ses| ses.associate_software_token(&account).await)
        .map_err(fail)?;
    steps.say("{\"secret-code\": \"(shown once; not repeated here)\", \"otpauth-uri\": \"otpauth://totp/cloudhsm-mfa:...\"}");
    steps.say(
        "Her authenticator app reads the URI (as a QR code) and shows a new code every 30 seconds.",
    );
    let secret =
        Zeroizing::new(cloudhsm_mfa::mfa::totp::decode_secret(&token.secret_code).map_err(fail)?);
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(fail)?
        .as_secs();
    // The app's previous code verifies (one step of skew is allowed), so that the login
    // below can use the current one at once: a code is used only once.
    let verify_code = Zeroizing::new(cloudhsm_mfa::mfa::totp::code_at(
        &secret,
        unix - cloudhsm_mfa::mfa::totp::STEP_SECS,
    ));
    steps.typed(format!(
        "user verify-software-token --username {USER} --role crypto-user --user-code (the app's code)"
    ));
    session
        .run(async |ses| {
            ses.verify_software_token(&verify_code, Some("quickstart"))
                .await
        })
        .map_err(fail)?;
    steps.result(serde_json::json!({"status": "SUCCESS"}));
    steps.typed(format!(
        "user set-mfa-preference --username {USER} --role crypto-user --software-token-mfa-settings Enabled=true,PreferredMfa=true"
    ));
    let request = cloudhsm_mfa::mfa::Request {
        settings: [(
            cloudhsm_mfa::mfa::Factor::SoftwareToken,
            cloudhsm_mfa::mfa::Setting {
                enabled: Some(true),
                preferred: Some(true),
            },
        )]
        .into_iter()
        .collect(),
    };
    let preferences = session
        .run(async |ses| {
            ses.set_mfa_preference(USER, Role::CryptoUser, &request)
                .await
        })
        .map_err(fail)?;
    let view = MfaPreferenceView::new(&preferences);
    steps.result(&view);
    steps.typed("logout");
    session.run(async |ses| ses.logout().await).map_err(fail)?;
    steps.typed(format!("login --username {USER} --role crypto-user"));
    steps.answer(PASSWORD, "(not shown)");
    let step = session
        .run(async |ses| {
            ses.login_start(USER, Role::CryptoUser, &password, None)
                .await
        })
        .map_err(fail)?;
    if !matches!(
        step,
        LoginStep::Code {
            factor: cloudhsm_mfa::mfa::Factor::SoftwareToken,
            ..
        }
    ) {
        return Err(format!(
            "the login asked for {step:?}, not a software-token code"
        ));
    }
    steps.answer(crate::prompt::MFA_CODE, "(the app's current code)");
    let code = Zeroizing::new(cloudhsm_mfa::mfa::totp::code_at(&secret, unix));
    let report = session
        .run(async |ses| ses.login_code(&code).await)
        .map_err(fail)?;
    steps.result(Identity::new(&report.username, report.role));
    let software_token = SoftwareTokenSummary {
        otpauth_uri_issuer: cloudhsm_mfa::mfa::totp::ISSUER,
        preferences: view,
        logged_in_with_code: true,
    };

    steps.next("Listing the users");
    steps.typed("user list");
    let users = session
        .run(async |ses| ses.list_users().await)
        .map_err(fail)?;
    for row in &users.users {
        steps.say(serde_json::to_string(row).map_err(fail)?);
    }
    steps.typed("quit");
    // Closing the session logs out.
    drop(session);

    steps.next(if args.keep {
        "Stopping the cluster and keeping the working directory"
    } else {
        "Stopping the cluster and removing the working directory (pass --keep to keep it)"
    });
    steps.say("(the cloudhsm-emulator run above stops on Ctrl-C)");
    let cluster_summary = ClusterSummary {
        directory: path_text(cluster.dir()),
        config: path_text(&config_path),
        cluster_id: target.cluster_id.clone(),
        hsms,
        stopped: true,
    };
    cluster.shutdown().map_err(fail)?;
    steps.say(dir.display().to_string());
    if args.keep {
        steps.say(format!(
            "serve the cluster again with: cloudhsm-emulator run --dir {}",
            cluster_dir.display()
        ));
    }
    eprintln!();

    Ok(Summary {
        directory: path_text(&dir),
        kept: args.keep,
        openssl,
        cluster: cluster_summary,
        username: USER,
        private_key: path_text(&private_key),
        public_key: path_text(&public_key),
        token_file: path_text(&token_file),
        signed_token_file: path_text(&signed.path),
        kind: signed.kind.as_str(),
        tokens: tokens.tokens().len(),
        signatures: signed.signatures,
        verified_by_openssl: verified,
        rotated_private_key: path_text(&new_private_key),
        rotated_public_key: path_text(&new_public_key),
        old_key_refused,
        quorum,
        software_token,
        users,
    })
}

/// A random password of 24 characters, never shown.
fn generated_password() -> Result<Zeroizing<String>, String> {
    let bytes = Zeroizing::new(random_token().map_err(fail)?);
    let mut text = Zeroizing::new(B64.encode(*bytes));
    text.truncate(24);
    Ok(text)
}

/// Makes and writes a key pair in `dir`, as `cloudhsm-mfa keygen` does.
fn key_pair(
    steps: &Steps,
    dir: &Path,
    private_name: &str,
    public_name: &str,
) -> Result<(PathBuf, PathBuf), String> {
    let private_key = dir.join(private_name);
    let public_key = dir.join(public_name);
    steps.run(format!(
        "cloudhsm-mfa keygen --private-key {} --public-key {}",
        private_key.display(),
        public_key.display()
    ));
    let key = PrivateKey::generate(BITS).map_err(fail)?;
    key.write_pair(&private_key, &public_key).map_err(fail)?;
    steps.say(format!(
        "private key: {} (mode 0600)",
        private_key.display()
    ));
    steps.say(format!("public key:  {}", public_key.display()));
    Ok((private_key, public_key))
}

/// Verifies every signature of `signed_file` with `openssl pkeyutl -verify` and the public
/// key, and with the library; returns how many OpenSSL verified.
fn check_with_openssl(
    steps: &Steps,
    dir: &Path,
    signed_file: &Path,
    public: &PublicKey,
) -> Result<usize, String> {
    steps.say(format!("in {}:", dir.display()));
    let file = TokenFile::load(signed_file).map_err(fail)?;
    let mut verified = 0;
    for (i, entry) in file.tokens().iter().enumerate() {
        let signature = entry.signed.as_deref().ok_or_else(|| {
            format!(
                "{}: tokens[{i}].signed is empty after signing",
                signed_file.display()
            )
        })?;
        let token_bin = format!("token-{i}.bin");
        let sig_bin = format!("signature-{i}.bin");
        write_file(&dir.join(&token_bin), &entry.unsigned)?;
        write_file(&dir.join(&sig_bin), signature)?;
        let args = [
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            PUBLIC_KEY,
            "-pkeyopt",
            "digest:sha256",
            "-in",
            &token_bin,
            "-sigfile",
            &sig_bin,
        ];
        steps.say(format!("tokens[{i}]: openssl {}", args.join(" ")));
        let said = openssl::verify(dir, &args)
            .map_err(|why| format!("openssl did not verify tokens[{i}].signed: {why}"))?;
        steps.say(format!("           {said}"));
        verified += 1;
    }
    // The library's own check agrees with OpenSSL's.
    file.verify(public, None).map_err(fail)?;
    steps.say(format!(
        "{verified} of {} signatures verified by OpenSSL and by the library",
        file.tokens().len()
    ));
    Ok(verified)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
