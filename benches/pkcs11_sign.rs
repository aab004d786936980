//! Token signatures on a PKCS#11 token, measured (never asserted): RSA-2048 signatures per
//! second through the library's PKCS#11 signer (`SigningKey` opened from a `pkcs11:` URI)
//! against a raw `cryptoki` loop (`C_Sign` with `CKM_RSA_PKCS` over DigestInfo ‖ token, one
//! session, no library in between) on the same SoftHSM2 token, in the same run. Target:
//! ratio ≥ 0.95. For scale, `openssl speed -seconds 3 rsa2048` (signatures per second in
//! software, one core) is run too.
//!
//! Each side signs for `SECONDS` (default 3; `cargo bench --bench pkcs11_sign -- 5`), the
//! two sides alternating three times; the best round of each counts.
//!
//! Run: `cargo bench --bench pkcs11_sign`

use std::process::Command;
use std::time::{Duration, Instant};

use cloudhsm_mfa::crypto::{digest_info, sha256};
use cloudhsm_mfa::KeySpec;
use cloudhsm_mfa_test_support::keys::{self, Encoding};
use cloudhsm_mfa_test_support::softhsm::{self, SoftHsm, PIN};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

/// Signatures per second of `sign` over distinct tokens for `span`.
fn rate(span: Duration, mut sign: impl FnMut(&[u8; 32])) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < span {
        let token = sha256(&n.to_le_bytes());
        sign(&token);
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// `openssl speed`'s RSA-2048 signatures per second, if it runs.
fn openssl_speed() -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "rsa 2048 bits 0.000597s 0.000017s   1675.2  58823.5": the sign/s column.
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("rsa 2048"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    fields.get(fields.len().checked_sub(2)?)?.parse().ok()
}

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let span = Duration::from_secs(seconds);
    let store = SoftHsm::new();
    store.init_token("bench");
    store.import(
        "bench",
        "mfa",
        "01",
        &keys::private_key_path(2048, 0, Encoding::Pkcs8),
    );

    // The library's signer.
    let ours = KeySpec::parse(&store.uri_with_pin("bench", "mfa"))
        .unwrap()
        .open()
        .unwrap();

    // The raw loop, through the same module instance (already initialised by the library:
    // tolerated, as a host program would).
    let raw = Pkcs11::new(softhsm::module()).unwrap();
    match raw.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(
            cryptoki::error::RvError::CryptokiAlreadyInitialized,
            _,
        )) => {}
        Err(e) => panic!("C_Initialize: {e}"),
    }
    let slot = raw
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| raw.get_token_info(*s).unwrap().label() == "bench")
        .unwrap();
    let session = raw.open_ro_session(slot).unwrap();
    match session.login(UserType::User, Some(&AuthPin::new(PIN.into()))) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {
        }
        Err(e) => panic!("C_Login: {e}"),
    }
    let key = session
        .find_objects(&[Attribute::Label(b"mfa".to_vec()), Attribute::Sign(true)])
        .unwrap()[0];

    // Both make the same signature.
    let probe = [0x42u8; 32];
    assert_eq!(
        ours.sign_token(&probe).unwrap(),
        session
            .sign(&Mechanism::RsaPkcs, key, &digest_info(&probe))
            .unwrap()
    );

    let (mut best_ours, mut best_raw) = (0f64, 0f64);
    for round in 1..=3 {
        let r = rate(span, |t| {
            session
                .sign(&Mechanism::RsaPkcs, key, &digest_info(t))
                .unwrap();
        });
        let o = rate(span, |t| {
            ours.sign_token(t).unwrap();
        });
        println!("round {round}: raw cryptoki {r:.1}/s, library signer {o:.1}/s");
        best_raw = best_raw.max(r);
        best_ours = best_ours.max(o);
    }
    let ratio = best_ours / best_raw;
    println!(
        "RSA-2048 token signatures on SoftHSM2: library {best_ours:.1}/s, raw cryptoki loop \
         {best_raw:.1}/s, ratio {ratio:.3} (target >= 0.95: {})",
        if ratio >= 0.95 { "met" } else { "NOT met" }
    );
    match openssl_speed() {
        Some(speed) => println!(
            "for scale: openssl speed rsa2048 {speed:.1} sign/s; the library on SoftHSM2 is \
             {:.2} of it",
            best_ours / speed
        ),
        None => println!("for scale: openssl speed rsa2048 did not run"),
    }
    drop(session);
}
