//! What signs the tokens of a login or an MFA registration: any closure
//! `Fn(&Token) -> Result<Vec<u8>>`, or a type that says it must be called one token at a
//! time (a C callback, a person, a hardware token).

use crate::crypto::{PrivateKey, Token};
use crate::error::Result;

/// Signs tokens (SPEC §3: RSASSA-PKCS1-v1_5 over the token as a SHA-256 digest).
pub trait Signer: Sync {
    /// Signs one token.
    fn sign(&self, token: &Token) -> Result<Vec<u8>>;

    /// Whether several tokens may be signed at once, from several threads. Closures and
    /// keys say yes; a signer that says no is called on the caller's thread, one token
    /// after the other.
    fn concurrent(&self) -> bool {
        true
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
}
