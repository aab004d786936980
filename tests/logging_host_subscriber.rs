//! A host program with its own `tracing` subscriber keeps it (SPEC §10): `CHM_Initialize`
//! with a configuration whose `logging` section names a file neither replaces the host's
//! subscriber nor opens the file, and the library's events go to the host's. The
//! subscriber is the process's, so this file holds one test.

use std::ffi::CString;
use std::io::Write;
use std::sync::{Arc, Mutex};

use cloudhsm_mfa::ffi::*;
use cloudhsm_mfa::logging::{Destination, Installed, Interval, LogSettings};

/// The host's log: every line its subscriber writes.
#[derive(Clone, Default)]
struct HostLog(Arc<Mutex<Vec<u8>>>);

impl Write for HostLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl HostLog {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[test]
fn a_host_subscriber_stays_in_place_and_receives_the_library_events() {
    let host = HostLog::default();
    let writer = host.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("library.log");
    let config = serde_json::json!({
        "clusters": [{"cluster": {"cluster_id": "c", "hsm_ca_file": "ca.crt",
                                  "servers": [{"hostname": "127.0.0.1", "port": 1}]}}],
        "logging": {"log_type": "file", "log_file": log, "log_level": "trace",
                    "log_interval": "never"},
    });
    let config_path = dir.path().join("cloudhsm-cli.cfg");
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let path = CString::new(config_path.to_str().unwrap()).unwrap();
    let args = CHM_INITIALIZE_ARGS {
        config_path: path.as_ptr(),
        flags: 0,
    };
    let mut info = std::mem::MaybeUninit::<CHM_INFO>::uninit();
    // SAFETY: a valid structure with a NUL-terminated string; a writable output.
    unsafe {
        assert_eq!(CHM_Initialize(&args), CHMR_OK);
        assert_eq!(CHM_GetInfo(info.as_mut_ptr()), CHMR_OK);
    }
    tracing::info!("the host logs after CHM_Initialize");
    assert_eq!(CHM_Finalize(), CHMR_OK);
    tracing::info!("the host logs after CHM_Finalize");

    let text = host.text();
    for line in [
        "function=CHM_Initialize rv=CHMR_OK",
        "function=CHM_GetInfo rv=CHMR_OK",
        "the host logs after CHM_Initialize",
        "the host logs after CHM_Finalize",
    ] {
        assert!(
            text.contains(line),
            "the host's log lacks {line:?}:\n{text}"
        );
    }
    assert!(!log.exists(), "the library opened its own log file");
    let settings = LogSettings {
        destination: Destination::File {
            path: log.clone(),
            interval: Interval::Never,
        },
        level: tracing::Level::TRACE,
    };
    assert_eq!(
        cloudhsm_mfa::logging::install(&settings).unwrap(),
        Installed::Host
    );
    assert!(!log.exists());
}
