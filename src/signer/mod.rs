//! What signs tokens (SPEC §3): the [`Signer`] trait, used alike by token-file signing and
//! by the cluster flows, [`sign_many`] (the one signing loop), [`KeySpec`], the way every
//! face names a key (a PEM file or, SPEC §12, a `pkcs11:` URI), and [`SigningKey`], what
//! such a name opens.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::crypto::{PrivateKey, PublicKey, Token};
use crate::error::{Error, Result};

pub mod pkcs11;
pub mod uri;

pub use pkcs11::TokenKey;
pub use uri::Pkcs11Uri;

/// Signs tokens: RSASSA-PKCS1-v1_5 over the token as a SHA-256 digest.
pub trait Signer: Sync {
    /// Signs one token.
    fn sign(&self, token: &Token) -> Result<Vec<u8>>;

    /// Whether several tokens may be signed at once, from several threads. Keys and
    /// closures say yes; a signer that says no (a C callback, a person, a device) is
    /// called on the caller's thread, one token after the other.
    fn concurrent(&self) -> bool {
        true
    }

    /// The public key of the signing key, when the signer knows it without signing (a key
    /// does; a callback does not). Size queries are answered from it.
    fn public_key(&self) -> Result<Option<PublicKey>> {
        Ok(None)
    }
}

impl<F> Signer for F
where
    F: Fn(&Token) -> Result<Vec<u8>> + Sync,
{
    fn sign(&self, token: &Token) -> Result<Vec<u8>> {
        self(token)
    }
}

impl Signer for PrivateKey {
    fn sign(&self, token: &Token) -> Result<Vec<u8>> {
        self.sign_token(token)
    }

    fn public_key(&self) -> Result<Option<PublicKey>> {
        PrivateKey::public_key(self).map(Some)
    }
}

/// Signs every token with `signer`, in order: spread over the machine's cores when the
/// signer allows it (a cluster may issue 16 tokens), else one after the other on this
/// thread. After one failure no further token is signed, since a signer may ask a person
/// or a device.
pub fn sign_many(tokens: &[Token], signer: &dyn Signer) -> Result<Vec<Vec<u8>>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stopped = AtomicBool::new(false);
    // A part ends with its first failure (`Some`), or with `None` when it stopped because
    // another part failed.
    let sign_part = |part: &[Token]| -> std::result::Result<Vec<Vec<u8>>, Option<Error>> {
        let mut signed = Vec::with_capacity(part.len());
        for token in part {
            if stopped.load(Ordering::SeqCst) {
                return Err(None);
            }
            match signer.sign(token) {
                Ok(signature) => signed.push(signature),
                Err(e) => {
                    stopped.store(true, Ordering::SeqCst);
                    return Err(Some(e));
                }
            }
        }
        Ok(signed)
    };
    let workers = if signer.concurrent() {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(tokens.len())
    } else {
        1
    };
    let results: Vec<_> = if workers <= 1 {
        vec![sign_part(tokens)]
    } else {
        let per_worker = tokens.len().div_ceil(workers);
        std::thread::scope(|scope| {
            let parts: Vec<_> = tokens
                .chunks(per_worker)
                .map(|part| scope.spawn(move || sign_part(part)))
                .collect();
            parts
                .into_iter()
                .map(|p| {
                    p.join().unwrap_or_else(|_| {
                        Err(Some(Error::Signer {
                            reason: "the signer panicked".into(),
                        }))
                    })
                })
                .collect()
        })
    };
    let mut signed = Vec::with_capacity(tokens.len());
    for result in results {
        match result {
            Ok(part) => signed.extend(part),
            Err(Some(e)) => return Err(e),
            Err(None) => {}
        }
    }
    if signed.len() != tokens.len() {
        return Err(Error::Signer {
            reason: "signing stopped after a failure".into(),
        });
    }
    Ok(signed)
}

/// Runs `f`, which may block (a signer asking a person or a device), without holding up
/// an async worker thread: on a multi-threaded runtime's worker the worker's other tasks
/// move elsewhere first; anywhere else `f` simply runs.
pub(crate) fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// How a key is named on the command line, in the C ABI and in Python: a path to a PEM
/// file, or (SPEC §12) a `pkcs11:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySpec {
    /// A PEM file.
    File(PathBuf),
    /// A key on a PKCS#11 token, as an RFC 7512 URI.
    Pkcs11(String),
}

impl KeySpec {
    /// Reads a key name: a `pkcs11:` URI, else a path.
    pub fn parse(spec: &str) -> Result<KeySpec> {
        if spec.is_empty() {
            return Err(Error::invalid_argument("key", "the key name is empty"));
        }
        let is_uri = spec
            .get(..uri::SCHEME.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(uri::SCHEME));
        Ok(if is_uri {
            KeySpec::Pkcs11(spec.to_string())
        } else {
            KeySpec::File(PathBuf::from(spec))
        })
    }

    /// A key name from a path given by the caller (a path that reads as a URI is a URI).
    pub fn from_path(path: &Path) -> Result<KeySpec> {
        match path.to_str() {
            Some(s) => KeySpec::parse(s),
            None => Ok(KeySpec::File(path.to_path_buf())),
        }
    }

    /// Opens the private key the name stands for; a token's PIN comes from the URI, the
    /// environment or a prompt (SPEC §12).
    pub fn open(&self) -> Result<SigningKey> {
        self.open_with_pin(None)
    }

    /// As [`KeySpec::open`], with the PIN of a token key given by the caller (`None`: the
    /// URI, the environment, a prompt). A key file ignores `pin`.
    pub fn open_with_pin(&self, pin: Option<Zeroizing<String>>) -> Result<SigningKey> {
        Ok(match self {
            KeySpec::File(path) => SigningKey::File(PrivateKey::load(path)?),
            KeySpec::Pkcs11(uri) => SigningKey::Token(Box::new(TokenKey::open(uri, pin)?)),
        })
    }

    /// The public key the name stands for: a PEM public key file, or the public half of
    /// the key pair on a token.
    pub fn open_public(&self) -> Result<PublicKey> {
        match self {
            KeySpec::File(path) => PublicKey::load(path),
            KeySpec::Pkcs11(uri) => pkcs11::public_key(uri, None),
        }
    }

    /// Makes a new RSA key pair of `bits` and writes its public key as PEM to
    /// `public_path` (mode 0644): for a path, the private key goes there (mode 0600), both
    /// files staged so that a failure leaves both paths as they were; for a URI, the pair
    /// is made on the token (labelled with the URI's `object`; refused when such a key
    /// exists there, and destroyed again if the public key cannot be written).
    pub fn generate_pair(&self, bits: usize, public_path: &Path) -> Result<SigningKey> {
        Ok(match self {
            KeySpec::File(path) => {
                let key = PrivateKey::generate(bits)?;
                key.write_pair(path, public_path)?;
                SigningKey::File(key)
            }
            KeySpec::Pkcs11(uri) => {
                let key = TokenKey::generate(uri, bits, None, |public| {
                    crate::fs_atomic::write_atomic(
                        public_path,
                        public.to_pem()?.as_bytes(),
                        crate::fs_atomic::PUBLIC_MODE,
                    )
                })?;
                SigningKey::Token(Box::new(key))
            }
        })
    }
}

/// A private key that signs tokens: in memory (from a PEM file or made here), or on a
/// PKCS#11 token.
#[derive(Debug)]
pub enum SigningKey {
    /// A key held in memory, inside aws-lc.
    File(PrivateKey),
    /// A key on a PKCS#11 token.
    Token(Box<TokenKey>),
}

impl From<PrivateKey> for SigningKey {
    fn from(key: PrivateKey) -> Self {
        SigningKey::File(key)
    }
}

impl SigningKey {
    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        match self {
            SigningKey::File(k) => k.bits(),
            SigningKey::Token(k) => k.bits(),
        }
    }

    /// The length in bytes of this key's signatures.
    pub fn signature_len(&self) -> usize {
        match self {
            SigningKey::File(k) => k.signature_len(),
            SigningKey::Token(k) => k.signature_len(),
        }
    }

    /// Signs a 32-byte token as a SHA-256 digest (RSASSA-PKCS1-v1_5).
    pub fn sign_token(&self, token: &Token) -> Result<Vec<u8>> {
        match self {
            SigningKey::File(k) => k.sign_token(token),
            SigningKey::Token(k) => k.sign_token(token),
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> Result<PublicKey> {
        match self {
            SigningKey::File(k) => k.public_key(),
            SigningKey::Token(k) => Ok(k.public_key().clone()),
        }
    }
}

impl Signer for SigningKey {
    fn sign(&self, token: &Token) -> Result<Vec<u8>> {
        self.sign_token(token)
    }

    fn public_key(&self) -> Result<Option<PublicKey>> {
        SigningKey::public_key(self).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn key_names_are_paths_unless_they_are_pkcs11_uris() {
        assert_eq!(
            KeySpec::parse("keys/mfa.pem").unwrap(),
            KeySpec::File("keys/mfa.pem".into())
        );
        assert_eq!(
            KeySpec::parse("PKCS11:token=a;object=b").unwrap(),
            KeySpec::Pkcs11("PKCS11:token=a;object=b".into())
        );
        assert!(KeySpec::parse("").is_err());
    }

    #[test]
    fn sign_many_keeps_the_order_and_stops_after_a_failure() {
        let tokens: Vec<Token> = (0..16u8).map(|i| [i; 32]).collect();
        let echo = |t: &Token| Ok(t.to_vec());
        let signed = sign_many(&tokens, &echo).unwrap();
        assert_eq!(signed.len(), 16);
        assert!(signed.iter().zip(&tokens).all(|(s, t)| s[..] == t[..]));

        struct OneAtATime(AtomicUsize);
        impl Signer for OneAtATime {
            fn sign(&self, _: &Token) -> Result<Vec<u8>> {
                if self.0.fetch_add(1, Ordering::SeqCst) == 2 {
                    return Err(Error::Signer {
                        reason: "no".into(),
                    });
                }
                Ok(vec![1])
            }
            fn concurrent(&self) -> bool {
                false
            }
        }
        let signer = OneAtATime(AtomicUsize::new(0));
        let err = sign_many(&tokens, &signer).unwrap_err();
        assert!(err.to_string().contains("no"));
        assert_eq!(
            signer.0.load(Ordering::SeqCst),
            3,
            "no call after the failure"
        );
    }
}
