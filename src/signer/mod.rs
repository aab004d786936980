//! What signs tokens (SPEC §3): the [`Signer`] trait, used alike by token-file signing and
//! by the cluster flows, [`sign_many`] (the one signing loop), and [`KeySpec`], the way
//! every face names a private key.

use std::path::{Path, PathBuf};

use crate::crypto::{PrivateKey, PublicKey, Token};
use crate::error::{Error, Result};

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

/// How a private key is named on the command line, in the C ABI and in Python: a path to
/// a PEM file, or (SPEC §12) a `pkcs11:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySpec {
    /// A PEM file.
    File(PathBuf),
    /// A key on a PKCS#11 token, as an RFC 7512 URI.
    Pkcs11(String),
}

/// The scheme of a PKCS#11 URI (RFC 7512), compared without case.
const PKCS11_SCHEME: &str = "pkcs11:";

impl KeySpec {
    /// Reads a key name: a `pkcs11:` URI, else a path.
    pub fn parse(spec: &str) -> Result<KeySpec> {
        if spec.is_empty() {
            return Err(Error::invalid_argument("key", "the key name is empty"));
        }
        let is_uri = spec
            .get(..PKCS11_SCHEME.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(PKCS11_SCHEME));
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

    /// Opens the signer the name stands for.
    pub fn open(&self) -> Result<Box<dyn Signer + Send>> {
        match self {
            KeySpec::File(path) => Ok(Box::new(PrivateKey::load(path)?)),
            KeySpec::Pkcs11(_) => Err(Error::invalid_argument(
                "key",
                "keys on PKCS#11 tokens (pkcs11: URIs) are not supported by this build; \
                 give the path of a PEM private key file",
            )),
        }
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
