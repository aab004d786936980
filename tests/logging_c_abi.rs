//! The C ABI's log (SPEC §10): with the configuration's `logging` section at `debug`, each
//! call leaves a trace line with its function and the name of its result code, and a
//! login through the ABI is logged with its user and operation, never its password. The
//! subscriber is the process's, so this file holds one test.

mod common;

use std::ffi::CString;

use cloudhsm_mfa::ffi::*;
use common::*;

#[test]
fn each_c_call_leaves_a_debug_line_and_a_login_is_logged_without_its_password() {
    let c = TestCluster::start(2);
    let log = c.path("logs/library.log");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.cluster.config_path()).unwrap()).unwrap();
    config["logging"] = serde_json::json!({
        "log_type": "file",
        "log_file": log,
        "log_level": "debug",
        "log_interval": "never",
    });
    let config_path = c.path("logged.cfg");
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let path = CString::new(config_path.to_str().unwrap()).unwrap();
    let args = CHM_INITIALIZE_ARGS {
        config_path: path.as_ptr(),
        flags: 0,
    };
    let password = CString::new(ADMIN_PASSWORD).unwrap();
    let wrong = c"wrong-password-7";
    // SAFETY: valid, NUL-terminated strings and writable outputs.
    unsafe {
        assert_eq!(CHM_Initialize(&args), CHMR_OK);
        let mut session = 0;
        assert_eq!(CHM_OpenSession(std::ptr::null(), &mut session), CHMR_OK);
        assert_eq!(
            CHM_Login(session, c"admin".as_ptr(), CHM_ROLE_ADMIN, wrong.as_ptr()),
            CHMR_PIN_INCORRECT
        );
        assert_eq!(
            CHM_Login(
                session,
                c"admin".as_ptr(),
                CHM_ROLE_ADMIN,
                password.as_ptr()
            ),
            CHMR_OK
        );
        assert_eq!(CHM_Logout(session), CHMR_OK);
        assert_eq!(CHM_CloseSession(session), CHMR_OK);
        assert_eq!(CHM_CloseSession(session), CHMR_SESSION_HANDLE_INVALID);
        assert_eq!(CHM_Finalize(), CHMR_OK);
    }
    let text = std::fs::read_to_string(&log).unwrap();
    for line in [
        "function=CHM_Initialize rv=CHMR_OK",
        "function=CHM_OpenSession rv=CHMR_OK",
        "function=CHM_Login rv=CHMR_PIN_INCORRECT",
        "function=CHM_Login rv=CHMR_OK",
        "function=CHM_Logout rv=CHMR_OK",
        "function=CHM_CloseSession rv=CHMR_SESSION_HANDLE_INVALID",
    ] {
        let found = text
            .lines()
            .any(|l| l.contains(" DEBUG ") && l.contains("C call") && l.contains(line));
        assert!(found, "no debug line with {line:?}:\n{text}");
    }
    let logins: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("cluster request") && l.contains("op=login"))
        .collect();
    assert_eq!(logins.len(), 2, "{text}");
    assert!(
        logins[0].contains(" WARN ") && logins[0].contains("result=invalid_credentials"),
        "{}",
        logins[0]
    );
    assert!(
        logins[1].contains(" INFO ") && logins[1].contains("result=ok"),
        "{}",
        logins[1]
    );
    assert!(
        logins.iter().all(|l| l.contains("user=\"admin\"")),
        "{text}"
    );
    assert!(text.contains("logged in"), "{text}");
    for secret in [ADMIN_PASSWORD, "wrong-password-7"] {
        assert!(!text.contains(secret), "the log shows a password:\n{text}");
    }

    // After CHM_Finalize a new CHM_Initialize writes where its configuration says now.
    let second = c.path("logs/second.log");
    config["logging"]["log_file"] = serde_json::json!(second);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let mut info = std::mem::MaybeUninit::<CHM_INFO>::uninit();
    // SAFETY: as above.
    unsafe {
        assert_eq!(CHM_Initialize(&args), CHMR_OK);
        assert_eq!(CHM_GetInfo(info.as_mut_ptr()), CHMR_OK);
        assert_eq!(CHM_Finalize(), CHMR_OK);
    }
    let again = std::fs::read_to_string(&second).unwrap();
    assert!(again.contains("function=CHM_GetInfo rv=CHMR_OK"), "{again}");
    assert!(
        !std::fs::read_to_string(&log)
            .unwrap()
            .contains("CHM_GetInfo"),
        "the first file is no longer written"
    );
}
