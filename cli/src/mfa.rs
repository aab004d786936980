//! MFA preferences in Cognito's model (SPEC §11.4): `user set-mfa-preference` (settings
//! in the AWS CLI shorthand or JSON, `--cli-input-json`, `--generate-cli-skeleton`),
//! `user get-mfa-preference`, `user associate-software-token`, `user
//! verify-software-token` and `user update-attributes`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use cloudhsm_mfa::client::{MfaPreferenceView, SoftwareTokenSecret};
use cloudhsm_mfa::mfa::{Factor, Request, Setting};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::output::{emit, Outcome};
use crate::session::{Context, Identity, RoleArg, TargetArgs};

/// The largest `--cli-input-json` read.
const INPUT_LIMIT: u64 = 64 * 1024;

#[derive(Args)]
pub struct SetArgs {
    /// Username of the user whose MFA preferences are set
    #[arg(long, value_name = "USERNAME", required_unless_present_any = ["generate_cli_skeleton", "cli_input_json"])]
    username: Option<String>,
    /// Role the user has in the cluster
    #[arg(
        long,
        value_name = "ROLE",
        required_unless_present = "generate_cli_skeleton"
    )]
    role: Option<RoleArg>,
    /// SMS settings: Enabled=boolean,PreferredMfa=boolean, or the same as JSON
    #[arg(long, value_name = "SETTINGS")]
    sms_mfa_settings: Option<String>,
    /// Software token settings: Enabled=boolean,PreferredMfa=boolean, or JSON
    #[arg(long, value_name = "SETTINGS")]
    software_token_mfa_settings: Option<String>,
    /// Email settings: Enabled=boolean,PreferredMfa=boolean, or JSON
    #[arg(long, value_name = "SETTINGS")]
    email_mfa_settings: Option<String>,
    /// Token-sign settings: Enabled=boolean,PreferredMfa=boolean, or JSON
    #[arg(long, value_name = "SETTINGS")]
    token_sign_mfa_settings: Option<String>,
    /// The whole request as JSON (or file://PATH): {"Username", "SMSMfaSettings",
    /// "SoftwareTokenMfaSettings", "EmailMfaSettings", "TokenSignMfaSettings"}; a setting
    /// given on the command line replaces its structure
    #[arg(long, value_name = "JSON")]
    cli_input_json: Option<String>,
    /// Print a JSON template of the input (or, with `output`, a sample of the output)
    /// and do nothing else
    #[arg(long, value_name = "KIND", num_args = 0..=1, default_missing_value = "input")]
    generate_cli_skeleton: Option<SkeletonKind>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SkeletonKind {
    Input,
    Output,
}

#[derive(Args)]
pub struct GetArgs {
    /// Username of the user whose MFA preferences are shown
    #[arg(long, value_name = "USERNAME")]
    username: String,
    /// Role the user has in the cluster (optional)
    #[arg(long, value_name = "ROLE")]
    role: Option<RoleArg>,
}

#[derive(Args)]
pub struct AssociateArgs {
    /// Username of the logged-in user
    #[arg(long, value_name = "USERNAME")]
    username: String,
    /// Role the user has in the cluster
    #[arg(long, value_name = "ROLE")]
    role: RoleArg,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// Username of the logged-in user
    #[arg(long, value_name = "USERNAME")]
    username: String,
    /// Role the user has in the cluster
    #[arg(long, value_name = "ROLE")]
    role: RoleArg,
    /// The 6-digit code the authenticator app shows now
    #[arg(long, value_name = "CODE")]
    user_code: String,
    /// A name for the device
    #[arg(long, value_name = "NAME")]
    friendly_device_name: Option<String>,
}

#[derive(Args)]
pub struct AttributesArgs {
    /// Username of the user to change
    #[arg(long, value_name = "USERNAME")]
    username: String,
    /// Role the user has in the cluster
    #[arg(long, value_name = "ROLE")]
    role: RoleArg,
    /// Phone number for SMS codes, E.164 (+14155550100)
    #[arg(long, value_name = "NUMBER")]
    phone_number: Option<String>,
    /// Email address for email codes
    #[arg(long, value_name = "ADDRESS")]
    email: Option<String>,
}

/// The settings of one factor from the AWS CLI shorthand (`Enabled=true,PreferredMfa=false`,
/// booleans in any case, a key left out stays left out) or JSON.
fn setting_arg(option: &str, text: &str) -> Result<Setting, String> {
    let text = text.trim();
    if text.starts_with('{') {
        return serde_json::from_str(text)
            .map_err(|e| format!("--{option}: not valid settings JSON: {e}"));
    }
    let mut setting = Setting::default();
    for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--{option}: {:?} is not Key=value", pair.trim()))?;
        let value = match value.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                return Err(format!(
                    "--{option}: {} is {:?}, not true or false",
                    key.trim(),
                    value.trim()
                ))
            }
        };
        let slot = match key.trim() {
            "Enabled" => &mut setting.enabled,
            "PreferredMfa" => &mut setting.preferred,
            other => {
                return Err(format!(
                    "--{option}: unknown key {other:?}; the keys are Enabled and PreferredMfa"
                ))
            }
        };
        if slot.replace(value).is_some() {
            return Err(format!("--{option}: {} is given twice", key.trim()));
        }
    }
    Ok(setting)
}

/// `--cli-input-json`: the username it names, if any, and its settings.
fn input_json(text: &str) -> Result<(Option<String>, BTreeMap<Factor, Setting>), String> {
    let text = match text.strip_prefix("file://") {
        Some(path) => String::from_utf8(
            cloudhsm_mfa::fs_atomic::read_limited(Path::new(path), INPUT_LIMIT)
                .map_err(|e| format!("--cli-input-json: {e}"))?,
        )
        .map_err(|_| format!("--cli-input-json: {path} is not UTF-8 text"))?,
        None => text.to_string(),
    };
    let object: Map<String, Value> = serde_json::from_str(&text)
        .map_err(|e| format!("--cli-input-json: not a JSON object: {e}"))?;
    let mut username = None;
    let mut settings = BTreeMap::new();
    for (key, value) in object {
        if key == "Username" {
            username = Some(
                value
                    .as_str()
                    .ok_or("--cli-input-json: Username is not a string")?
                    .to_string(),
            );
            continue;
        }
        let factor = Factor::ALL
            .into_iter()
            .find(|f| f.settings_key() == key)
            .ok_or_else(|| {
                format!(
                    "--cli-input-json: unknown key {key:?}; the keys are Username, {}",
                    Factor::ALL.map(|f| f.settings_key()).join(", ")
                )
            })?;
        let setting: Setting =
            serde_json::from_value(value).map_err(|e| format!("--cli-input-json: {key}: {e}"))?;
        settings.insert(factor, setting);
    }
    Ok((username, settings))
}

fn skeleton(kind: SkeletonKind) -> Value {
    match kind {
        SkeletonKind::Input => {
            let mut object = Map::new();
            object.insert("Username".into(), json!(""));
            for f in [
                Factor::Sms,
                Factor::SoftwareToken,
                Factor::Email,
                Factor::TokenSign,
            ] {
                object.insert(
                    f.settings_key().into(),
                    json!({"Enabled": true, "PreferredMfa": true}),
                );
            }
            Value::Object(object)
        }
        SkeletonKind::Output => json!({
            "UserMFASettingList": ["SOFTWARE_TOKEN_MFA"],
            "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA"
        }),
    }
}

/// `user set-mfa-preference`: prints the resulting preferences, or with
/// `--generate-cli-skeleton` the raw template (no envelope, nothing sent).
pub fn set_command(ctx: &mut Context, target: &TargetArgs, args: SetArgs) -> ExitCode {
    if let Some(kind) = args.generate_cli_skeleton {
        println!(
            "{}",
            serde_json::to_string_pretty(&skeleton(kind)).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    emit(set(ctx, target, args))
}

fn set(ctx: &mut Context, target: &TargetArgs, args: SetArgs) -> Outcome<MfaPreferenceView> {
    let (from_json, mut settings) = match &args.cli_input_json {
        Some(text) => input_json(text)?,
        None => (None, BTreeMap::new()),
    };
    for (factor, option, value) in [
        (Factor::Sms, "sms-mfa-settings", &args.sms_mfa_settings),
        (
            Factor::SoftwareToken,
            "software-token-mfa-settings",
            &args.software_token_mfa_settings,
        ),
        (
            Factor::Email,
            "email-mfa-settings",
            &args.email_mfa_settings,
        ),
        (
            Factor::TokenSign,
            "token-sign-mfa-settings",
            &args.token_sign_mfa_settings,
        ),
    ] {
        if let Some(text) = value {
            settings.insert(factor, setting_arg(option, text)?);
        }
    }
    let username = args
        .username
        .or(from_json)
        .ok_or("set-mfa-preference needs --username (or Username in --cli-input-json)")?;
    let role = args.role.ok_or("set-mfa-preference needs --role")?.into();
    ctx.clusters.check(target, true)?;
    let request = Request { settings };
    let preferences = ctx
        .clusters
        .logged_in(target)?
        .run(async |s| s.set_mfa_preference(&username, role, &request).await)
        .map_err(|e| e.to_string())?;
    Ok(MfaPreferenceView::new(&preferences))
}

/// `user get-mfa-preference`.
pub fn get(ctx: &mut Context, target: &TargetArgs, args: GetArgs) -> Outcome<MfaPreferenceView> {
    ctx.clusters.check(target, true)?;
    let role = args.role.map(Into::into);
    let preferences = ctx
        .clusters
        .logged_in(target)?
        .run(async |s| s.get_mfa_preference(&args.username, role).await)
        .map_err(|e| e.to_string())?;
    Ok(MfaPreferenceView::new(&preferences))
}

/// Refuses a software-token command for another user than the one logged in: only the
/// user itself associates and verifies its software token.
fn own_user(session: &cloudhsm_mfa::blocking::Session, username: &str) -> Result<(), String> {
    let wanted = cloudhsm_mfa::user::normalize_username(username)?;
    match session.logged_in() {
        Some((user, _)) if user == wanted => Ok(()),
        Some((user, _)) => Err(format!(
            "only the user itself manages its software token; {user} is logged in, not {wanted}"
        )),
        None => Err("log in first: the user itself manages its software token".into()),
    }
}

/// `user associate-software-token`: `{"secret-code", "otpauth-uri"}`, shown once.
pub fn associate(
    ctx: &mut Context,
    target: &TargetArgs,
    args: AssociateArgs,
) -> Outcome<SoftwareTokenSecret> {
    ctx.clusters.check(target, true)?;
    let account_cluster = target.cluster_label()?;
    let _role: cloudhsm_mfa::proto::Role = args.role.into();
    let session = ctx.clusters.logged_in(target)?;
    own_user(session, &args.username)?;
    let account = format!(
        "{}@{account_cluster}",
        cloudhsm_mfa::user::normalize_username(&args.username)?
    );
    session
        .run(async |s| s.associate_software_token(&account).await)
        .map_err(|e| e.to_string())
}

#[derive(Serialize)]
pub struct Status {
    status: &'static str,
}

/// `user verify-software-token`: `{"status": "SUCCESS"}`.
pub fn verify(ctx: &mut Context, target: &TargetArgs, args: VerifyArgs) -> Outcome<Status> {
    ctx.clusters.check(target, true)?;
    let session = ctx.clusters.logged_in(target)?;
    own_user(session, &args.username)?;
    session
        .run(async |s| {
            s.verify_software_token(args.user_code.trim(), args.friendly_device_name.as_deref())
                .await
        })
        .map_err(|e| e.to_string())?;
    Ok(Status { status: "SUCCESS" })
}

/// `user update-attributes`.
pub fn update_attributes(
    ctx: &mut Context,
    target: &TargetArgs,
    args: AttributesArgs,
) -> Outcome<Identity> {
    ctx.clusters.check(target, true)?;
    if args.phone_number.is_none() && args.email.is_none() {
        return Err("update-attributes needs --phone-number or --email".into());
    }
    let role = args.role.into();
    ctx.clusters
        .logged_in(target)?
        .run(async |s| {
            s.update_attributes(
                &args.username,
                role,
                args.phone_number.as_deref(),
                args.email.as_deref(),
            )
            .await
        })
        .map_err(|e| e.to_string())?;
    Ok(Identity::new(&args.username, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shorthand_takes_either_key_in_any_boolean_case() {
        assert_eq!(
            setting_arg("x", "Enabled=true,PreferredMfa=FALSE").unwrap(),
            Setting {
                enabled: Some(true),
                preferred: Some(false)
            }
        );
        assert_eq!(
            setting_arg("x", "Enabled=True").unwrap(),
            Setting {
                enabled: Some(true),
                preferred: None
            }
        );
        assert_eq!(
            setting_arg("x", r#"{"PreferredMfa": true}"#).unwrap(),
            Setting {
                enabled: None,
                preferred: Some(true)
            }
        );
        assert!(setting_arg("x", "enabled=true")
            .unwrap_err()
            .contains("unknown key"));
        assert!(setting_arg("x", "Enabled=yes")
            .unwrap_err()
            .contains("not true or false"));
        assert!(setting_arg("x", "Enabled")
            .unwrap_err()
            .contains("Key=value"));
        assert!(setting_arg("x", "Enabled=true,Enabled=false")
            .unwrap_err()
            .contains("twice"));
        assert!(setting_arg("x", r#"{"Enabled": 1}"#).is_err());
    }

    #[test]
    fn cli_input_json_names_the_user_and_the_settings_by_cognitos_keys() {
        let (user, settings) = input_json(
            r#"{"Username": "alice", "SMSMfaSettings": {"Enabled": false}, "SoftwareTokenMfaSettings": {"Enabled": true, "PreferredMfa": true}}"#,
        )
        .unwrap();
        assert_eq!(user.as_deref(), Some("alice"));
        assert_eq!(
            settings[&Factor::Sms],
            Setting {
                enabled: Some(false),
                preferred: None
            }
        );
        assert_eq!(settings.len(), 2);
        assert!(input_json(r#"{"SmsMfaSettings": {}}"#)
            .unwrap_err()
            .contains("unknown key"));
        assert!(input_json("[]").unwrap_err().contains("not a JSON object"));
    }

    #[test]
    fn the_skeleton_has_every_setting() {
        let s = skeleton(SkeletonKind::Input);
        for key in [
            "Username",
            "SMSMfaSettings",
            "SoftwareTokenMfaSettings",
            "EmailMfaSettings",
            "TokenSignMfaSettings",
        ] {
            assert!(s.get(key).is_some(), "{key}");
        }
    }
}
