//! Argon2id password hashing (PHC strings with a random 16-byte salt, drawn by the
//! caller). The password rule itself lives in the library core.

use std::cell::RefCell;

use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};

use super::NodeSettings;

/// The password rule lives in the library core, shared with the client and the CLI.
pub use cloudhsm_mfa::user::{
    check_password as check_rule, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS,
};
/// The length of a password salt.
pub const SALT_LEN: usize = 16;
/// The length of an Argon2id output in a PHC string.
const OUTPUT_LEN: usize = 32;

/// Hashes a password with Argon2id at the node's cost, as a PHC string with `salt`.
pub fn hash(
    password: &str,
    settings: &NodeSettings,
    salt: &[u8; SALT_LEN],
) -> Result<String, String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params(settings)?);
    let mut out = zeroize::Zeroizing::new([0u8; OUTPUT_LEN]);
    run(&argon2, password.as_bytes(), salt, &mut *out)?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_lanes,
        b64.encode(salt),
        b64.encode(*out),
    ))
}

thread_local! {
    /// Argon2's working memory, kept by each thread from one hash to the next: allocating
    /// (and faulting in) 19 MiB afresh for every hash, from several threads at once, costs
    /// more than the hash itself. It is not wiped between uses: its blocks are BLAKE2b
    /// outputs over a digest of the password, from which the password cannot be had (and
    /// the final one gives no more than the stored hash does); every hash overwrites them
    /// before it reads them.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// One Argon2 computation into `out`, on this thread's working memory.
fn run(argon2: &Argon2, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), String> {
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        let blocks = argon2.params().block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        let result =
            argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks]);
        memory[..blocks]
            .iter_mut()
            .for_each(zeroize::Zeroize::zeroize);
        result.map_err(|e| format!("password hashing failed: {e}"))
    })
}

fn params(settings: &NodeSettings) -> Result<Params, String> {
    Params::new(
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_lanes,
        None,
    )
    .map_err(|e| format!("Argon2id cost is not usable: {e}"))
}

/// Checks a password against a PHC string made by [`hash`]; the cost comes from the string.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    if hash.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut out = zeroize::Zeroizing::new(vec![0u8; expected.len()]);
    if run(&argon2, password.as_bytes(), salt.as_ref(), &mut out).is_err() {
        return false;
    }
    // A comparison in constant time.
    argon2::password_hash::phc::Output::new(&out).is_ok_and(|o| o == *expected)
}

/// A PHC string at the node's cost that no password matches: checking a password against
/// it costs what a real check costs, so that an unknown user answers as slowly as a wrong
/// password. Made without hashing anything (a fixed salt and an output of zeros).
pub fn decoy(settings: &NodeSettings) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_lanes,
        b64.encode([0x5a; SALT_LEN]),
        b64.encode([0; OUTPUT_LEN]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_the_phc_strings_of_the_argon2_crate_and_verify_either_way() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let s = NodeSettings::low_cost();
        let salt = [9u8; SALT_LEN];
        let ours = hash("password1", &s, &salt).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params(&s).unwrap())
            .hash_password_with_salt(b"password1", &salt)
            .unwrap()
            .to_string();
        assert_eq!(ours, theirs);
        assert!(Argon2::default()
            .verify_password(b"password1", &PasswordHash::new(&ours).unwrap())
            .is_ok());
        // The working memory is reused: the same hash comes out again.
        assert_eq!(hash("password1", &s, &salt).unwrap(), ours);
        assert!(!verify("password1", "$argon2i$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    }

    #[test]
    fn hashes_are_salted_argon2id_and_verify_only_the_right_password() {
        let s = NodeSettings::low_cost();
        let a = hash("password1", &s, &[1; SALT_LEN]).unwrap();
        let b = hash("password1", &s, &[2; SALT_LEN]).unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert_eq!(a, hash("password1", &s, &[1; SALT_LEN]).unwrap());
        assert!(verify("password1", &a));
        assert!(verify("password1", &b));
        assert!(!verify("password2", &a));
        assert!(!verify("password1", "not a hash"));
    }

    #[test]
    fn the_decoy_has_the_shape_and_cost_of_a_real_hash_and_matches_nothing() {
        for s in [NodeSettings::low_cost(), NodeSettings::default()] {
            let decoy = decoy(&s);
            let real = hash("decoy-password", &s, &[0x5a; SALT_LEN]).unwrap();
            let head = |h: &str| h[..h.rfind('$').unwrap()].to_string();
            assert_eq!(head(&decoy), head(&real), "same algorithm, cost and salt");
            assert_eq!(decoy.len(), real.len(), "same output length");
            assert!(argon2::password_hash::phc::PasswordHash::new(&decoy).is_ok());
            assert!(!verify("decoy-password", &decoy));
        }
    }
}
