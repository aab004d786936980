//! Fixture RSA keys, committed under `test-support/keys/`: `rsa<BITS>-<n>.pkcs8.pem`,
//! `.pkcs1.pem` and `.pub.pem` (SPKI). Four 2048-bit keys (`a` to `d`) and two each of
//! 3072 and 4096 bits (`a`, `b`). They are test keys only: never use them for anything.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cloudhsm_mfa::{PrivateKey, PublicKey};

/// How a private key file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `BEGIN PRIVATE KEY` (what `openssl genpkey` writes).
    Pkcs8,
    /// `BEGIN RSA PRIVATE KEY` (what `openssl genrsa -traditional` writes).
    Pkcs1,
}

/// The names of the fixture keys of a size.
fn names(bits: u32) -> &'static [&'static str] {
    match bits {
        2048 => &["a", "b", "c", "d"],
        3072 | 4096 => &["a", "b"],
        _ => panic!("no fixture keys of {bits} bits; there are 2048, 3072 and 4096"),
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("keys")
}

/// The committed file of fixture key `which` (0-based) of `bits` bits.
pub fn private_key_path(bits: u32, which: usize, encoding: Encoding) -> PathBuf {
    let name = names(bits).get(which).unwrap_or_else(|| {
        panic!(
            "there are {} fixture keys of {bits} bits",
            names(bits).len()
        )
    });
    let ext = match encoding {
        Encoding::Pkcs8 => "pkcs8",
        Encoding::Pkcs1 => "pkcs1",
    };
    dir().join(format!("rsa{bits}-{name}.{ext}.pem"))
}

/// The committed public key (SPKI PEM) of fixture key `which` of `bits` bits.
pub fn public_key_path(bits: u32, which: usize) -> PathBuf {
    let name = names(bits)[which];
    dir().join(format!("rsa{bits}-{name}.pub.pem"))
}

/// Fixture key `which` of `bits` bits, loaded.
pub fn private_key(bits: u32, which: usize) -> PrivateKey {
    PrivateKey::load(&private_key_path(bits, which, Encoding::Pkcs8)).expect("fixture key loads")
}

/// The public key of fixture key `which` of `bits` bits, loaded.
pub fn public_key(bits: u32, which: usize) -> PublicKey {
    PublicKey::load(&public_key_path(bits, which)).expect("fixture public key loads")
}

/// A distinct fixture key for each distinct `name` a test process asks for, in the order
/// asked (so that "old" and "new" in one test are different keys), copied into `dir` as
/// `<name>.pem` (mode 0600, PKCS#8) and `<name>.pub`: (private path, public path). A size
/// with no fixture keys (1024 bits, to see it refused) is made by `openssl genpkey`.
pub fn pair_in(dir: &Path, name: &str, bits: u32) -> (PathBuf, PathBuf) {
    if !matches!(bits, 2048 | 3072 | 4096) {
        return generated_pair(dir, name, bits);
    }
    static GIVEN: Mutex<Option<HashMap<(u32, String), usize>>> = Mutex::new(None);
    let which = {
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        let given = given.get_or_insert_with(HashMap::new);
        let next = given.keys().filter(|(b, _)| *b == bits).count();
        *given
            .entry((bits, name.to_string()))
            .or_insert(next % names(bits).len())
    };
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    copy_private(&private_key_path(bits, which, Encoding::Pkcs8), &private);
    std::fs::copy(public_key_path(bits, which), &public).expect("copy the fixture public key");
    (private, public)
}

fn generated_pair(dir: &Path, name: &str, bits: u32) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    let (p, q) = (private.to_str().unwrap(), public.to_str().unwrap());
    let bits = format!("rsa_keygen_bits:{bits}");
    crate::openssl::openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", &bits, "-out", p]);
    crate::openssl::openssl(&["pkey", "-in", p, "-pubout", "-out", q]);
    (private, public)
}

/// Copies a private key file, readable by its owner only.
fn copy_private(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(from, to).expect("copy the fixture key");
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)).expect("chmod 0600");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_key_loads_in_both_encodings_and_matches_its_public_key() {
        for bits in [2048u32, 3072, 4096] {
            for which in 0..names(bits).len() {
                let pkcs8 =
                    PrivateKey::load(&private_key_path(bits, which, Encoding::Pkcs8)).unwrap();
                let pkcs1 =
                    PrivateKey::load(&private_key_path(bits, which, Encoding::Pkcs1)).unwrap();
                assert_eq!(pkcs8.bits(), bits as usize);
                let public = public_key(bits, which);
                assert_eq!(
                    pkcs8.public_key().unwrap().to_spki_der(),
                    public.to_spki_der()
                );
                assert_eq!(
                    pkcs1.public_key().unwrap().to_spki_der(),
                    public.to_spki_der()
                );
            }
        }
    }

    #[test]
    fn distinct_names_get_distinct_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = pair_in(dir.path(), "first", 2048);
        let (b, _) = pair_in(dir.path(), "second", 2048);
        let (a2, _) = pair_in(dir.path(), "first", 2048);
        assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&a2).unwrap());
    }
}
