//! Keys on PKCS#11 tokens (SPEC §12), against a real SoftHSM2 with a private store per
//! test: signatures byte-identical to `openssl pkeyutl -sign -pkeyopt digest:sha256`, every
//! PIN source, wrong PINs, URIs that match no key or several, keys made on the token, a
//! host that initialised the module itself, keys that ask for the PIN at every signature,
//! and 16 threads signing through one token.

use std::path::Path;
use std::sync::Arc;

use cloudhsm_mfa::signer::pkcs11::PIN_ENV;
use cloudhsm_mfa::{Error, KeySpec, Pkcs11Problem, PublicKey, SigningKey, TokenKey};
use cloudhsm_mfa_test_support::keys::{self, Encoding};
use cloudhsm_mfa_test_support::openssl::pkeyutl_sign;
use cloudhsm_mfa_test_support::softhsm::{self, SoftHsm, PIN};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

/// A store with token `t` holding fixture key `which` of `bits` as `mfa` (CKA_ID 01).
fn store_with_key(bits: u32, which: usize) -> SoftHsm {
    let hsm = SoftHsm::new();
    hsm.init_token("t");
    hsm.import(
        "t",
        "mfa",
        "01",
        &keys::private_key_path(bits, which, Encoding::Pkcs8),
    );
    hsm
}

fn open(uri: &str) -> Result<SigningKey, Error> {
    KeySpec::parse(uri).unwrap().open()
}

fn problem(e: Error) -> (Pkcs11Problem, String) {
    let text = e.to_string();
    match e {
        Error::Pkcs11 { problem, .. } => (problem, text),
        other => panic!("not a PKCS#11 error: {other:?}"),
    }
}

fn tokens(n: u8) -> Vec<[u8; 32]> {
    (0..n)
        .map(|i| cloudhsm_mfa::crypto::sha256(&[i, 0x5a]))
        .collect()
}

#[test]
fn token_signatures_are_byte_identical_to_openssl_for_2048_3072_and_4096_bit_keys() {
    for bits in [2048, 3072, 4096] {
        let hsm = store_with_key(bits, 0);
        let pem = keys::private_key_path(bits, 0, Encoding::Pkcs8);
        let key = open(&hsm.uri_with_pin("t", "mfa")).unwrap();
        assert_eq!(key.bits(), bits as usize);
        assert_eq!(key.public_key().unwrap(), keys::public_key(bits, 0));
        let SigningKey::Token(token_key) = key else {
            panic!("a URI opens a key on a token")
        };
        assert!(
            !token_key.signs_raw_blocks(),
            "SoftHSM2 offers CKM_RSA_PKCS"
        );
        let raw = TokenKey::open(&hsm.uri_with_pin("t", "mfa"), None)
            .unwrap()
            .prefer_raw_blocks();
        for token in tokens(3) {
            let expected = pkeyutl_sign(&pem, &token);
            assert_eq!(
                token_key.sign_token(&token).unwrap(),
                expected,
                "{bits} bits"
            );
            assert_eq!(
                raw.sign_token(&token).unwrap(),
                expected,
                "{bits} bits, CKM_RSA_X_509 over the padded block"
            );
        }
        drop((token_key, raw));
    }
}

#[test]
fn the_pin_comes_from_the_caller_a_file_the_uri_or_the_environment_in_that_order() {
    let hsm = store_with_key(2048, 0);
    let expected = keys::private_key(2048, 0).sign_token(&[7; 32]).unwrap();
    let signs = |key: SigningKey| assert_eq!(key.sign_token(&[7; 32]).unwrap(), expected);

    // pin-source: one trailing newline is not part of the PIN.
    let pin_file = hsm.dir().join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    signs(
        open(&hsm.uri(
            "t",
            "mfa",
            &format!("&pin-source=file:{}", pin_file.display()),
        ))
        .unwrap(),
    );
    // pin-value.
    signs(open(&hsm.uri_with_pin("t", "mfa")).unwrap());
    // The environment.
    std::env::set_var(PIN_ENV, PIN);
    signs(open(&hsm.uri("t", "mfa", "")).unwrap());
    // The URI comes before the environment: a wrong environment PIN is not used.
    std::env::set_var(PIN_ENV, "not-the-pin");
    signs(open(&hsm.uri_with_pin("t", "mfa")).unwrap());
    std::env::remove_var(PIN_ENV);
    // The caller's PIN comes before the URI's.
    let uri = hsm.uri("t", "mfa", "&pin-value=not-the-pin");
    signs(
        KeySpec::parse(&uri)
            .unwrap()
            .open_with_pin(Some(Zeroizing::new(PIN.to_string())))
            .unwrap(),
    );
    // A PIN file with two newlines keeps the second: it is part of the PIN, and wrong.
    std::fs::write(&pin_file, format!("{PIN}\n\n")).unwrap();
    let (p, _) = problem(
        open(&hsm.uri(
            "t",
            "mfa",
            &format!("&pin-source=file:{}", pin_file.display()),
        ))
        .unwrap_err(),
    );
    assert!(matches!(p, Pkcs11Problem::PinIncorrect(_)), "{p:?}");
}

#[test]
fn a_wrong_pin_is_refused_once_and_no_message_shows_a_pin() {
    let hsm = store_with_key(2048, 0);
    let uri = hsm.uri("t", "mfa", "&pin-value=wrong-pin-1234");
    let (p, text) = problem(open(&uri).unwrap_err());
    assert!(matches!(p, Pkcs11Problem::PinIncorrect(_)), "{p:?}");
    assert!(
        text.contains("refused the PIN (the URI's pin-value)"),
        "{text}"
    );
    assert!(text.contains("not tried again"), "{text}");
    assert!(!text.contains("wrong-pin-1234"), "{text}");
    assert!(text.contains("pin-value=***"), "{text}");
    // The right PIN still works: one wrong try did not lock the token.
    open(&hsm.uri_with_pin("t", "mfa")).unwrap();
    // The debug form of a key shows no PIN either.
    let key = open(&hsm.uri_with_pin("t", "mfa")).unwrap();
    let shown = format!("{key:?}");
    assert!(!shown.contains(PIN), "{shown}");
}

#[test]
fn unknown_uri_attributes_and_a_missing_module_are_errors() {
    let hsm = store_with_key(2048, 0);
    let (p, text) = problem(open(&hsm.uri("t", "mfa", "&colour=blue")).unwrap_err());
    assert!(matches!(p, Pkcs11Problem::Uri(_)), "{p:?}");
    assert!(text.contains("unknown attribute \"colour\""), "{text}");
    let (p, text) = problem(open("pkcs11:token=t;object=mfa?pin-value=1").unwrap_err());
    assert!(matches!(p, Pkcs11Problem::Module(_)), "{p:?}");
    assert!(text.contains("CLOUDHSM_MFA_PKCS11_MODULE"), "{text}");
    let (p, text) =
        problem(open("pkcs11:token=t?module-path=/nonexistent/module.so&pin-value=1").unwrap_err());
    assert!(matches!(p, Pkcs11Problem::Module(_)), "{p:?}");
    assert!(text.contains("/nonexistent/module.so"), "{text}");
    // $CLOUDHSM_MFA_PKCS11_MODULE names the module when the URI does not.
    std::env::set_var("CLOUDHSM_MFA_PKCS11_MODULE", softhsm::module());
    let key = open(&format!("pkcs11:token=t;object=mfa?pin-value={PIN}"));
    std::env::remove_var("CLOUDHSM_MFA_PKCS11_MODULE");
    assert_eq!(key.unwrap().bits(), 2048);
}

#[test]
fn exactly_one_token_and_one_key_must_match() {
    let hsm = store_with_key(2048, 0);
    hsm.init_token("u");
    hsm.import(
        "t",
        "twin",
        "02",
        &keys::private_key_path(2048, 1, Encoding::Pkcs8),
    );
    hsm.import(
        "t",
        "twin",
        "03",
        &keys::private_key_path(2048, 2, Encoding::Pkcs8),
    );
    let module = softhsm::module();
    let m = module.display();

    let (p, text) = problem(
        open(&format!(
            "pkcs11:object=mfa?module-path={m}&pin-value={PIN}"
        ))
        .unwrap_err(),
    );
    assert!(matches!(p, Pkcs11Problem::Match(_)), "{p:?}");
    assert!(text.contains("2 tokens match"), "{text}");
    let (_, text) = problem(open(&hsm.uri_with_pin("nope", "mfa")).unwrap_err());
    assert!(
        text.contains("no token matches (0 of the module's"),
        "{text}"
    );
    assert!(text.contains("\"t\"") && text.contains("\"u\""), "{text}");

    let (p, text) = problem(open(&hsm.uri_with_pin("t", "twin")).unwrap_err());
    assert!(matches!(p, Pkcs11Problem::Match(_)), "{p:?}");
    assert!(
        text.contains("2 private keys on token \"t\" match object=\"twin\""),
        "{text}"
    );
    let (_, text) = problem(open(&hsm.uri_with_pin("t", "absent")).unwrap_err());
    assert!(
        text.contains("0 private keys on token \"t\" match"),
        "{text}"
    );
    // The id tells the twins apart; so does the serial with the label.
    let twin = open(&format!(
        "pkcs11:token=t;object=twin;id=%03?module-path={m}&pin-value={PIN}"
    ))
    .unwrap();
    assert_eq!(twin.public_key().unwrap(), keys::public_key(2048, 2));
    // type=public names no private key.
    let (p, _) = problem(
        open(&format!(
            "pkcs11:token=t;object=mfa;type=public?module-path={m}&pin-value={PIN}"
        ))
        .unwrap_err(),
    );
    assert!(matches!(p, Pkcs11Problem::Uri(_)), "{p:?}");
}

/// The other RFC 7512 path attributes filter too: the token's serial, manufacturer and
/// model, the slot's id, the module's manufacturer and version.
#[test]
fn every_token_attribute_filters() {
    let hsm = store_with_key(2048, 0);
    hsm.init_token("u");
    hsm.import(
        "u",
        "mfa",
        "01",
        &keys::private_key_path(2048, 1, Encoding::Pkcs8),
    );
    let (serial, slot_id, version) = {
        let host = Pkcs11::new(softhsm::module()).unwrap();
        host.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .unwrap();
        let slot = host
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|s| host.get_token_info(*s).unwrap().label() == "u")
            .unwrap();
        let serial = host
            .get_token_info(slot)
            .unwrap()
            .serial_number()
            .to_string();
        let v = host.get_library_info().unwrap().library_version();
        let version = format!("{}.{}", v.major(), v.minor());
        host.finalize().unwrap();
        (serial, slot.id(), version)
    };
    let m = softhsm::module();
    let with = |path: &str| {
        open(&format!(
            "pkcs11:{path};object=mfa?module-path={}&pin-value={PIN}",
            m.display()
        ))
    };
    let u_key = keys::public_key(2048, 1);
    assert_eq!(
        with(&format!("serial={serial}"))
            .unwrap()
            .public_key()
            .unwrap(),
        u_key
    );
    assert_eq!(
        with(&format!("slot-id={slot_id}"))
            .unwrap()
            .public_key()
            .unwrap(),
        u_key
    );
    assert_eq!(
        with(&format!(
            "manufacturer=SoftHSM%20project;model=SoftHSM%20v2;token=u;\
             library-manufacturer=SoftHSM;library-version={version}"
        ))
        .unwrap()
        .public_key()
        .unwrap(),
        u_key
    );
    let (_, text) = problem(with("manufacturer=SoftHSM%20project").unwrap_err());
    assert!(text.contains("2 tokens match"), "{text}");
    let (_, text) = problem(with("library-manufacturer=Someone%20else").unwrap_err());
    assert!(text.contains("no token matches"), "{text}");
    let (_, text) = problem(with("slot-id=999999").unwrap_err());
    assert!(text.contains("no token matches"), "{text}");
}

#[test]
fn the_public_key_is_read_from_the_token() {
    let hsm = store_with_key(3072, 1);
    let expected = keys::public_key(3072, 1);
    // From the public-key object, without a PIN.
    let public = KeySpec::parse(&hsm.uri("t", "mfa", ""))
        .unwrap()
        .open_public()
        .unwrap();
    assert_eq!(public, expected);
    // type=private reads it from the private key (after a login).
    let m = softhsm::module();
    let uri = format!(
        "pkcs11:token=t;object=mfa;type=private?module-path={}&pin-value={PIN}",
        m.display()
    );
    assert_eq!(
        KeySpec::parse(&uri).unwrap().open_public().unwrap(),
        expected
    );
    // A URI of nothing: an error with the count.
    let err = KeySpec::parse(&hsm.uri_with_pin("t", "absent"))
        .unwrap()
        .open_public()
        .unwrap_err()
        .to_string();
    assert!(err.contains("0 private keys"), "{err}");
}

#[test]
fn a_key_made_on_the_token_signs_and_a_second_with_its_label_is_refused() {
    let hsm = SoftHsm::new();
    hsm.init_token("t");
    let public_path = hsm.dir().join("new.pub");
    let spec = KeySpec::parse(&hsm.uri_with_pin("t", "made-here")).unwrap();
    let key = spec.generate_pair(2048, &public_path).unwrap();
    let written = PublicKey::load(&public_path).unwrap();
    assert_eq!(key.public_key().unwrap(), written);
    let token = [9u8; 32];
    let sig = key.sign_token(&token).unwrap();
    assert!(written.verify_token(&token, &sig));
    // openssl agrees.
    let dir = hsm.dir();
    std::fs::write(dir.join("token.bin"), token).unwrap();
    std::fs::write(dir.join("token.sig"), &sig).unwrap();
    cloudhsm_mfa_test_support::openssl::openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        public_path.to_str().unwrap(),
        "-pkeyopt",
        "digest:sha256",
        "-in",
        dir.join("token.bin").to_str().unwrap(),
        "-sigfile",
        dir.join("token.sig").to_str().unwrap(),
    ]);
    // The key is on the token: opening it by its URI finds it.
    assert_eq!(
        open(&hsm.uri_with_pin("t", "made-here"))
            .unwrap()
            .public_key()
            .unwrap(),
        written
    );
    drop(key);

    let other_public = hsm.dir().join("other.pub");
    let (p, text) = problem(spec.generate_pair(2048, &other_public).unwrap_err());
    assert!(matches!(p, Pkcs11Problem::Exists(_)), "{p:?}");
    assert!(
        text.contains("already holds a key with object=\"made-here\""),
        "{text}"
    );
    assert!(
        !other_public.exists(),
        "no public key file for a refused key"
    );

    // A public key file that cannot be written: the new pair is destroyed again.
    let spec = KeySpec::parse(&hsm.uri_with_pin("t", "unwritten")).unwrap();
    let err = spec
        .generate_pair(2048, &hsm.dir().join("no/such/dir/k.pub"))
        .unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err:?}");
    let (_, text) = problem(open(&hsm.uri_with_pin("t", "unwritten")).unwrap_err());
    assert!(text.contains("0 private keys"), "{text}");
    // Without object= there is no label for the new key.
    let m = softhsm::module();
    let spec = KeySpec::parse(&format!(
        "pkcs11:token=t?module-path={}&pin-value={PIN}",
        m.display()
    ))
    .unwrap();
    let (p, _) = problem(spec.generate_pair(2048, &other_public).unwrap_err());
    assert!(matches!(p, Pkcs11Problem::Uri(_)), "{p:?}");
}

/// The host program initialised the module and logged in itself: the library uses the
/// module as it is, and after its key closes the host's session still works (the library
/// did not finalise the module or log the host out).
#[test]
fn a_host_that_initialised_the_module_is_not_disturbed() {
    let hsm = store_with_key(2048, 0);
    let host = Pkcs11::new(softhsm::module()).unwrap();
    host.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = host.get_slots_with_token().unwrap()[0];
    let session = host.open_ro_session(slot).unwrap();
    session
        .login(UserType::User, Some(&AuthPin::new(PIN.into())))
        .unwrap();

    let key = open(&hsm.uri_with_pin("t", "mfa")).unwrap();
    let token = [3u8; 32];
    assert_eq!(
        key.sign_token(&token).unwrap(),
        keys::private_key(2048, 0).sign_token(&token).unwrap()
    );
    drop(key);

    // Still initialised and logged in: the host finds its private key and signs.
    let found = session
        .find_objects(&[Attribute::Label(b"mfa".to_vec()), Attribute::Sign(true)])
        .unwrap();
    assert_eq!(found.len(), 1);
    let digest_info = cloudhsm_mfa::crypto::digest_info(&token);
    let sig = session
        .sign(&Mechanism::RsaPkcs, found[0], &digest_info)
        .unwrap();
    assert!(keys::public_key(2048, 0).verify_token(&token, &sig));
    drop(session);
    host.finalize().unwrap();
}

/// A key marked CKA_ALWAYS_AUTHENTICATE wants the PIN between C_SignInit and C_Sign, at
/// every signature: the library gives it.
#[test]
fn a_key_that_asks_for_the_pin_at_every_signature_gets_it() {
    let hsm = SoftHsm::new();
    hsm.init_token("t");
    {
        let host = Pkcs11::new(softhsm::module()).unwrap();
        host.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .unwrap();
        let slot = host.get_slots_with_token().unwrap()[0];
        let session = host.open_rw_session(slot).unwrap();
        session
            .login(UserType::User, Some(&AuthPin::new(PIN.into())))
            .unwrap();
        let label = || Attribute::Label(b"always".to_vec());
        let (_, private) = session
            .generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &[
                    Attribute::Token(true),
                    Attribute::Verify(true),
                    Attribute::ModulusBits(2048.into()),
                    Attribute::PublicExponent(vec![1, 0, 1]),
                    label(),
                ],
                &[
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Sign(true),
                    Attribute::AlwaysAuthenticate(true),
                    label(),
                ],
            )
            .unwrap();
        // Signing without the context-specific login is refused: the token means it.
        let refused = session.sign(&Mechanism::RsaPkcs, private, &[0u8; 51]);
        assert!(
            matches!(
                refused,
                Err(cryptoki::error::Error::Pkcs11(
                    cryptoki::error::RvError::UserNotLoggedIn,
                    _
                ))
            ),
            "{refused:?}"
        );
        drop(session);
        host.finalize().unwrap();
    }
    let key = open(&hsm.uri_with_pin("t", "always")).unwrap();
    let public = key.public_key().unwrap();
    for token in tokens(3) {
        let sig = key.sign_token(&token).unwrap();
        assert!(public.verify_token(&token, &sig));
    }
}

#[test]
fn sixteen_threads_sign_through_one_token() {
    let hsm = store_with_key(2048, 0);
    let key = Arc::new(open(&hsm.uri_with_pin("t", "mfa")).unwrap());
    let reference = keys::private_key(2048, 0);
    let threads: Vec<_> = (0..16u8)
        .map(|t| {
            let key = key.clone();
            std::thread::spawn(move || {
                (0..8u8)
                    .map(|i| {
                        let token = cloudhsm_mfa::crypto::sha256(&[t, i]);
                        (token, key.sign_token(&token).unwrap())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut signed = 0;
    for t in threads {
        for (token, sig) in t.join().unwrap() {
            assert_eq!(sig, reference.sign_token(&token).unwrap());
            signed += 1;
        }
    }
    assert_eq!(signed, 128);
    // sign_many spreads a token file's tokens over threads through the same key.
    let many = tokens(16);
    let sigs = cloudhsm_mfa::signer::sign_many(&many, &*key).unwrap();
    for (token, sig) in many.iter().zip(sigs) {
        assert_eq!(sig, reference.sign_token(token).unwrap());
    }
}

#[test]
fn a_token_file_is_signed_with_a_key_on_a_token() {
    let hsm = store_with_key(2048, 0);
    let dir = hsm.dir();
    let file = dir.join("login.json");
    let token_list = tokens(3);
    let unsigned = cloudhsm_mfa::TokenFile::new_mfa(&token_list).unwrap();
    unsigned.write(&file).unwrap();
    let uri = hsm.uri_with_pin("t", "mfa");
    cloudhsm_mfa::sign_file(&file, Path::new(&uri), None, None).unwrap();
    let signed = cloudhsm_mfa::TokenFile::load(&file).unwrap();
    signed.verify(&keys::public_key(2048, 0), None).unwrap();
}
