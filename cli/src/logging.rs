//! The CLI's log (SPEC §10): from the `logging` section of the configuration that a
//! cluster command uses, to a file or to stderr (`term`), never to stdout, which carries
//! the JSON results. Without a `logging` section nothing is logged. Commands that use no
//! cluster configuration (`tokens`, `keygen`, `quickstart`) log nothing.

use cloudhsm_mfa::config::Config;

use crate::session::TargetArgs;

/// Starts logging from the configuration `target` names (`None`: a command that uses
/// none). A configuration that cannot be read is left for the command to report, as
/// without logging; a log file that cannot be opened is an error.
pub fn start(target: Option<TargetArgs>) -> Result<(), String> {
    let Some(target) = target else {
        return Ok(());
    };
    let Ok(config) = Config::load(target.config.as_deref()) else {
        return Ok(());
    };
    cloudhsm_mfa::logging::install_from(&config)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
