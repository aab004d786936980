//! Logging (SPEC §10). The library, the CLI and the emulator emit [`tracing`] events; the
//! configuration's `logging` section says where they go and from which level:
//!
//! ```json
//! "logging": {"log_type": "file", "log_file": "/var/log/cloudhsm-mfa.log",
//!             "log_level": "info", "log_interval": "daily"}
//! ```
//!
//! - `log_type`: `file` or `term` (standard error). Left out: `file` when `log_file` is
//!   given, else `term`.
//! - `log_file`: the file, relative to the configuration's directory when not absolute.
//!   With rotation the file names get the period: `NAME.2024-05-31` (`daily`),
//!   `NAME.2024-05-31-13` (`hourly`); `never` writes `NAME` itself.
//! - `log_level`: `error`, `warn`, `info` (the default), `debug` or `trace`.
//! - `log_interval`: `daily` (the default), `hourly` or `never`.
//!
//! Any other value is a configuration error naming the field and the allowed values.
//!
//! The library never replaces a host's subscriber: [`install`] sets the library's own as
//! the global default only when no `tracing` dispatcher was ever set in the process, and
//! otherwise leaves the events to the host's. Lines are written as they happen (no
//! background thread), so nothing is lost when a host exits without `CHM_Finalize`.
//!
//! No event carries a password, PIN, signature, token, TOTP secret or code, or private
//! key: the client and the emulator log the operation's name, the users, the HSM and the
//! result code, never a request's arguments.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tracing::{Level, Metadata};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::config::{Config, Logging};
use crate::error::{Error, Result};
use crate::quote::quote;

/// The values of `log_type`.
pub const LOG_TYPES: &[&str] = &["file", "term"];
/// The values of `log_level`, from the fewest events to the most.
pub const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];
/// The values of `log_interval`.
pub const LOG_INTERVALS: &[&str] = &["daily", "hourly", "never"];

/// How often a log file starts anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Daily,
    Hourly,
    Never,
}

/// Where the events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Standard error (`log_type` `term`); never standard output, which carries results.
    Terminal,
    /// A file, rotated at `interval`.
    File { path: PathBuf, interval: Interval },
}

/// A checked `logging` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub destination: Destination,
    /// The most detailed level written.
    pub level: Level,
}

/// `value` if it is one of `allowed`, else the reason naming `field`.
fn one_of<'a>(
    field: &str,
    value: &'a str,
    allowed: &[&str],
) -> std::result::Result<&'a str, String> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "logging.{field}: {} is not one of {}",
            quote(value),
            allowed.join(", ")
        ))
    }
}

/// The level named `name` (one of [`LOG_LEVELS`]).
pub fn parse_level(name: &str) -> std::result::Result<Level, String> {
    Ok(match one_of("log_level", name, LOG_LEVELS)? {
        "error" => Level::ERROR,
        "warn" => Level::WARN,
        "debug" => Level::DEBUG,
        "trace" => Level::TRACE,
        _ => Level::INFO,
    })
}

/// The interval named `name` (one of [`LOG_INTERVALS`]).
pub fn parse_interval(name: &str) -> std::result::Result<Interval, String> {
    Ok(match one_of("log_interval", name, LOG_INTERVALS)? {
        "hourly" => Interval::Hourly,
        "never" => Interval::Never,
        _ => Interval::Daily,
    })
}

impl LogSettings {
    /// Checks a `logging` section; a relative `log_file` is taken from `base`. The error
    /// is the reason, naming the field and the values it may take.
    pub fn from_section(section: &Logging, base: &Path) -> std::result::Result<Self, String> {
        let log_type = match section.log_type.as_str() {
            "" if section.log_file.is_empty() => "term",
            "" => "file",
            other => one_of("log_type", other, LOG_TYPES)?,
        };
        let level = match section.log_level.as_str() {
            "" => Level::INFO,
            name => parse_level(name)?,
        };
        let interval = match section.log_interval.as_str() {
            "" => Interval::Daily,
            name => parse_interval(name)?,
        };
        let destination = match log_type {
            "term" => Destination::Terminal,
            _ => {
                if section.log_file.trim().is_empty() {
                    return Err(
                        "logging.log_file: is empty; log_type \"file\" needs the path of the log file"
                            .into(),
                    );
                }
                let path = base.join(&section.log_file);
                if path.file_name().is_none() || section.log_file.ends_with('/') {
                    return Err(format!(
                        "logging.log_file: {} names a directory, not a file",
                        quote(&section.log_file)
                    ));
                }
                Destination::File { path, interval }
            }
        };
        Ok(LogSettings { destination, level })
    }

    /// The settings of a loaded configuration's `logging` section, if it has one.
    pub fn of(config: &Config) -> Result<Option<Self>> {
        let Some(section) = &config.file.logging else {
            return Ok(None);
        };
        let base = config.path.parent().unwrap_or(Path::new("."));
        Self::from_section(section, base)
            .map(Some)
            .map_err(|reason| Error::Config {
                path: config.path.clone(),
                reason,
            })
    }
}

/// Who receives the library's events after [`install`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// The library's subscriber, as the settings say.
    Library,
    /// A subscriber the host program had set: it was left in place and gets the events.
    Host,
}

/// Where the library's subscriber writes now.
#[derive(Clone)]
enum Sink {
    Off,
    Stderr,
    File(Arc<RollingFileAppender>),
}

/// The most detailed level the library's subscriber writes: 0 for none, 1 (error) to 5
/// (trace).
static LEVEL: AtomicU8 = AtomicU8::new(0);
static SINK: RwLock<Sink> = RwLock::new(Sink::Off);
/// The library's subscriber is the process's global default.
static OURS: AtomicBool = AtomicBool::new(false);
/// One [`install`] at a time.
static INSTALLING: Mutex<()> = Mutex::new(());

fn rank(level: Level) -> u8 {
    match level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

fn set_sink(sink: Sink, level: u8) {
    let mut current = SINK.write().unwrap_or_else(|p| p.into_inner());
    *current = sink;
    LEVEL.store(level, Ordering::Release);
}

/// The writer of the library's subscriber: whatever [`SINK`] holds at each event.
struct SinkWriter;

enum LineWriter {
    Off,
    Stderr(std::io::Stderr),
    File(Arc<RollingFileAppender>),
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            LineWriter::Off => Ok(buf.len()),
            LineWriter::Stderr(e) => e.write(buf),
            LineWriter::File(f) => f.make_writer().write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            LineWriter::Off => Ok(()),
            LineWriter::Stderr(e) => e.lock().write_all(buf),
            LineWriter::File(f) => f.make_writer().write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            LineWriter::Off => Ok(()),
            LineWriter::Stderr(e) => e.flush(),
            LineWriter::File(f) => f.make_writer().flush(),
        }
    }
}

impl<'a> MakeWriter<'a> for SinkWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        match &*SINK.read().unwrap_or_else(|p| p.into_inner()) {
            Sink::Off => LineWriter::Off,
            Sink::Stderr => LineWriter::Stderr(std::io::stderr()),
            Sink::File(f) => LineWriter::File(f.clone()),
        }
    }
}

fn enabled(metadata: &Metadata<'_>) -> bool {
    rank(*metadata.level()) <= LEVEL.load(Ordering::Acquire)
}

/// Opens what `settings` name. The error is the reason, naming the file.
fn open(settings: &LogSettings) -> std::result::Result<Sink, String> {
    match &settings.destination {
        Destination::Terminal => Ok(Sink::Stderr),
        Destination::File { path, interval } => {
            let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
                return Err(format!("{} is not a file path", path.display()));
            };
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            let rotation = match interval {
                Interval::Daily => Rotation::DAILY,
                Interval::Hourly => Rotation::HOURLY,
                Interval::Never => Rotation::NEVER,
            };
            RollingFileAppender::builder()
                .rotation(rotation)
                .filename_prefix(name.to_string_lossy())
                .build(dir)
                .map(|f| Sink::File(Arc::new(f)))
                .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))
        }
    }
}

/// Sends the library's events where `settings` say, unless the host program has a
/// `tracing` subscriber of its own (then it is left in place: [`Installed::Host`]).
/// The library's subscriber becomes the global default the first time; later calls
/// change where it writes. The error is the reason, naming the file.
pub fn install(settings: &LogSettings) -> std::result::Result<Installed, String> {
    let _one = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    if OURS.load(Ordering::Acquire) {
        set_sink(open(settings)?, rank(settings.level));
        return Ok(Installed::Library);
    }
    if tracing::dispatcher::has_been_set() {
        return Ok(Installed::Host);
    }
    set_sink(open(settings)?, rank(settings.level));
    let subscriber = tracing_subscriber::fmt()
        .with_writer(SinkWriter)
        .with_max_level(Level::TRACE)
        .finish()
        .with(tracing_subscriber::filter::filter_fn(enabled));
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        // A host set one meanwhile.
        set_sink(Sink::Off, 0);
        return Ok(Installed::Host);
    }
    OURS.store(true, Ordering::Release);
    Ok(Installed::Library)
}

/// [`install`] from a loaded configuration's `logging` section; nothing without one. A
/// log file that cannot be opened is a configuration error.
pub fn install_from(config: &Config) -> Result<Option<Installed>> {
    let Some(settings) = LogSettings::of(config)? else {
        return Ok(None);
    };
    install(&settings)
        .map(Some)
        .map_err(|reason| Error::Config {
            path: config.path.clone(),
            reason: format!("logging.log_file: {reason}"),
        })
}

/// Stops the library's subscriber writing (the file is closed); a host's is not touched.
pub fn stop() {
    let _one = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    if OURS.load(Ordering::Acquire) {
        set_sink(Sink::Off, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(log_type: &str, log_file: &str, log_level: &str, log_interval: &str) -> Logging {
        Logging {
            log_type: log_type.into(),
            log_file: log_file.into(),
            log_level: log_level.into(),
            log_interval: log_interval.into(),
        }
    }

    #[test]
    fn a_file_section_is_read_with_its_path_from_the_config_directory() {
        let s = LogSettings::from_section(
            &section("file", "logs/cli.log", "debug", "hourly"),
            Path::new("/etc/cfg"),
        )
        .unwrap();
        assert_eq!(
            s.destination,
            Destination::File {
                path: PathBuf::from("/etc/cfg/logs/cli.log"),
                interval: Interval::Hourly
            }
        );
        assert_eq!(s.level, Level::DEBUG);
    }

    #[test]
    fn left_out_values_take_their_defaults() {
        let s = LogSettings::from_section(&section("", "", "", ""), Path::new("/")).unwrap();
        assert_eq!(
            (s.destination, s.level),
            (Destination::Terminal, Level::INFO)
        );
        let s =
            LogSettings::from_section(&section("", "/l/x.log", "", ""), Path::new("/")).unwrap();
        assert_eq!(
            s.destination,
            Destination::File {
                path: PathBuf::from("/l/x.log"),
                interval: Interval::Daily
            }
        );
        // A terminal ignores the file and the interval, as CloudHSM's default file has both.
        let s =
            LogSettings::from_section(&section("term", "/x.log", "error", "daily"), Path::new("/"))
                .unwrap();
        assert_eq!(
            (s.destination, s.level),
            (Destination::Terminal, Level::ERROR)
        );
    }

    #[test]
    fn every_level_name_is_known() {
        let levels: Vec<Level> = LOG_LEVELS.iter().map(|l| parse_level(l).unwrap()).collect();
        assert_eq!(
            levels,
            [
                Level::ERROR,
                Level::WARN,
                Level::INFO,
                Level::DEBUG,
                Level::TRACE
            ]
        );
    }

    fn parse_with(logging: &str) -> std::result::Result<Config, String> {
        let text = format!(
            r#"{{"clusters":[{{"cluster":{{"hsm_ca_file":"ca","servers":[{{"hostname":"h"}}]}}}}],"logging":{logging}}}"#
        );
        Config::parse(Path::new("/etc/c.cfg"), text.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn an_unknown_logging_value_is_a_configuration_error_naming_the_field_and_the_values() {
        let cases = [
            (
                r#"{"log_type":"syslog"}"#,
                r#"logging.log_type: "syslog" is not one of file, term"#,
            ),
            (
                r#"{"log_level":"verbose"}"#,
                r#"logging.log_level: "verbose" is not one of error, warn, info, debug, trace"#,
            ),
            (
                r#"{"log_level":"INFO"}"#,
                r#"logging.log_level: "INFO" is not one of"#,
            ),
            (
                r#"{"log_interval":"weekly"}"#,
                r#"logging.log_interval: "weekly" is not one of daily, hourly, never"#,
            ),
            (
                r#"{"log_type":"file","log_file":""}"#,
                "logging.log_file: is empty; log_type \"file\" needs the path",
            ),
            (
                r#"{"log_type":"file","log_file":"logs/"}"#,
                "names a directory",
            ),
            (r#"{"log_levels":"info"}"#, "unknown field `log_levels`"),
        ];
        for (logging, want) in cases {
            let err = parse_with(logging).unwrap_err();
            assert!(
                err.starts_with("/etc/c.cfg: ") && err.contains(want),
                "{err}"
            );
        }
        let good = parse_with(
            r#"{"log_type":"file","log_file":"x.log","log_level":"trace","log_interval":"never"}"#,
        )
        .unwrap();
        assert_eq!(
            LogSettings::of(&good).unwrap().unwrap().destination,
            Destination::File {
                path: PathBuf::from("/etc/x.log"),
                interval: Interval::Never
            }
        );
    }
}
