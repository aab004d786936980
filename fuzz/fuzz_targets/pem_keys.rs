//! PEM key loading (SPEC §3) on any bytes: never a panic; a private key that loads signs a
//! token that its public key verifies.
#![no_main]

use cloudhsm_mfa::{PrivateKey, PublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = PrivateKey::from_pem(data) {
        let token = [0x5a; 32];
        let signature = key.sign_token(&token).expect("a loaded key signs");
        let public = key.public_key().expect("a loaded key has a public key");
        assert!(public.verify_token(&token, &signature));
    }
    if let Ok(public) = PublicKey::from_pem(data) {
        assert!(matches!(public.bits(), 2048 | 3072 | 4096));
    }
});
