//! The cluster configuration parser (SPEC §10) on any bytes: never a panic, and a parsed
//! configuration always answers cluster selection without a panic.
#![no_main]

use std::path::Path;

use cloudhsm_mfa::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = Config::parse(Path::new("/fuzz/cloudhsm-cli.cfg"), data) {
        let _ = config.select(None);
        let _ = config.select(Some("cluster-1"));
    }
});
