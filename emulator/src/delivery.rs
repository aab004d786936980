//! Delivering SMS and email codes (SPEC §11.3). A node decides what to send; this module
//! sends it through the channel chosen at `init`: the outbox (`outbox.jsonl` in the cluster
//! directory, one JSON line per message: `{time, channel, to, purpose, code}`; the default,
//! so that tests and demos can read codes), SMTP for email, a command for SMS (run with the
//! destination as its argument and the text on standard input).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cloudhsm_mfa::mfa::Factor;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// How long an SMS command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// A code to send.
#[derive(Clone)]
pub struct Message {
    /// [`Factor::Sms`] or [`Factor::Email`].
    pub channel: Factor,
    /// The phone number or email address.
    pub to: String,
    /// What the code is for: `login`.
    pub purpose: &'static str,
    pub code: Zeroizing<String>,
    /// When the node decided to send it, in Unix seconds.
    pub time: u64,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("channel", &self.channel)
            .field("to", &self.to)
            .field("purpose", &self.purpose)
            .field("code", &"***")
            .finish()
    }
}

/// How email codes leave the emulator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum EmailChannel {
    /// A line in the outbox.
    #[default]
    Outbox,
    /// A mail through an SMTP server (`host:port`, no TLS: a local relay), from `from`.
    Smtp { server: String, from: String },
}

/// How SMS codes leave the emulator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SmsChannel {
    /// A line in the outbox.
    #[default]
    Outbox,
    /// A command run with the phone number appended to `argv`, the text on standard input.
    Command { argv: Vec<String> },
}

/// The channels of a cluster, kept in its manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    #[serde(default)]
    pub email: EmailChannel,
    #[serde(default)]
    pub sms: SmsChannel,
}

impl DeliveryConfig {
    /// Says what is wrong with the channels, if anything.
    pub fn validate(&self) -> Result<(), String> {
        if let EmailChannel::Smtp { server, from } = &self.email {
            if server
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_none()
            {
                return Err(format!("the SMTP server {server:?} is not host:port"));
            }
            cloudhsm_mfa::mfa::check_email(from).map_err(|e| format!("the SMTP sender: {e}"))?;
        }
        if let SmsChannel::Command { argv } = &self.sms {
            if argv.first().is_none_or(|a| a.is_empty()) {
                return Err("the SMS command is empty".into());
            }
        }
        Ok(())
    }
}

/// Sends messages through a cluster's channels.
#[derive(Debug, Clone)]
pub struct Deliverer {
    outbox: PathBuf,
    config: DeliveryConfig,
}

impl Deliverer {
    /// Delivers through `config`, with the outbox at `outbox`.
    pub fn new(outbox: PathBuf, config: DeliveryConfig) -> Self {
        Deliverer { outbox, config }
    }

    /// Sends `message`; the error says why it could not be sent (the code is never in it).
    pub fn deliver(&self, message: &Message) -> Result<(), String> {
        match (message.channel, &self.config.email, &self.config.sms) {
            (Factor::Email, EmailChannel::Smtp { server, from }, _) => smtp(server, from, message),
            (Factor::Sms, _, SmsChannel::Command { argv }) => command(argv, message),
            _ => self.append_to_outbox(message),
        }
    }

    fn append_to_outbox(&self, m: &Message) -> Result<(), String> {
        let line = serde_json::json!({
            "time": m.time,
            "channel": m.channel.as_str(),
            "to": m.to,
            "purpose": m.purpose,
            "code": m.code.as_str(),
        });
        let mut text = Zeroizing::new(line.to_string());
        text.push('\n');
        // One write of a whole line with O_APPEND: lines of several nodes never interleave.
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.outbox)
            .map_err(|e| format!("cannot open the outbox {}: {e}", self.outbox.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| format!("cannot write to the outbox {}: {e}", self.outbox.display()))
    }
}

fn text_of(m: &Message) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "Your cloudhsm-mfa {} code is {}. It expires in 3 minutes.",
        m.purpose,
        m.code.as_str()
    ))
}

fn smtp(server: &str, from: &str, m: &Message) -> Result<(), String> {
    use lettre::message::header::ContentType;
    use lettre::{SmtpTransport, Transport};
    let (host, port) = server
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("the SMTP server {server:?} is not host:port"))?;
    let email = lettre::Message::builder()
        .from(
            from.parse()
                .map_err(|e| format!("the SMTP sender {from:?}: {e}"))?,
        )
        .to(m
            .to
            .parse()
            .map_err(|e| format!("the address {:?}: {e}", m.to))?)
        .subject(format!("Your cloudhsm-mfa {} code", m.purpose))
        .header(ContentType::TEXT_PLAIN)
        .body(text_of(m).to_string())
        .map_err(|e| format!("cannot build the email: {e}"))?;
    let transport = SmtpTransport::builder_dangerous(host)
        .port(port)
        .timeout(Some(COMMAND_TIMEOUT))
        .build();
    transport
        .send(&email)
        .map(drop)
        .map_err(|e| format!("the SMTP server {server} did not take the email: {e}"))
}

fn command(argv: &[String], m: &Message) -> Result<(), String> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| "the SMS command is empty".to_string())?;
    let mut child = Command::new(program)
        .args(args)
        .arg(&m.to)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run the SMS command {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text_of(m).as_bytes());
    }
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("the SMS command {program} failed: {status}")),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the SMS command {program} did not finish within {} s",
                    COMMAND_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("the SMS command {program}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(channel: Factor, to: &str) -> Message {
        Message {
            channel,
            to: to.into(),
            purpose: "login",
            code: Zeroizing::new("123456".into()),
            time: 1_700_000_000,
        }
    }

    #[test]
    fn the_outbox_gets_one_json_line_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox.jsonl");
        let d = Deliverer::new(outbox.clone(), DeliveryConfig::default());
        d.deliver(&message(Factor::Sms, "+14155550100")).unwrap();
        d.deliver(&message(Factor::Email, "alice@example.com"))
            .unwrap();
        let text = std::fs::read_to_string(&outbox).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines[0],
            serde_json::json!({"time": 1_700_000_000u64, "channel": "sms", "to": "+14155550100",
                               "purpose": "login", "code": "123456"})
        );
        assert_eq!(lines[1]["channel"], "email");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&outbox).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn an_sms_command_gets_the_number_and_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sms.txt");
        let script = format!("echo \"$1\" > '{0}'; cat >> '{0}'", out.display());
        let d = Deliverer::new(
            dir.path().join("outbox.jsonl"),
            DeliveryConfig {
                sms: SmsChannel::Command {
                    argv: vec!["sh".into(), "-c".into(), script, "sms".into()],
                },
                ..DeliveryConfig::default()
            },
        );
        d.deliver(&message(Factor::Sms, "+14155550100")).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        assert!(
            got.starts_with("+14155550100\n") && got.contains("code is 123456"),
            "{got}"
        );
        assert!(!dir.path().join("outbox.jsonl").exists());
        let failing = Deliverer::new(
            dir.path().join("outbox.jsonl"),
            DeliveryConfig {
                sms: SmsChannel::Command {
                    argv: vec!["false".into()],
                },
                ..DeliveryConfig::default()
            },
        );
        let e = failing
            .deliver(&message(Factor::Sms, "+14155550100"))
            .unwrap_err();
        assert!(e.contains("failed") && !e.contains("123456"), "{e}");
    }

    #[test]
    fn channels_are_validated() {
        assert!(DeliveryConfig::default().validate().is_ok());
        let bad = DeliveryConfig {
            email: EmailChannel::Smtp {
                server: "localhost".into(),
                from: "hsm@example.com".into(),
            },
            ..DeliveryConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("host:port"));
        let empty = DeliveryConfig {
            sms: SmsChannel::Command { argv: vec![] },
            ..DeliveryConfig::default()
        };
        assert!(empty.validate().unwrap_err().contains("empty"));
    }
}
