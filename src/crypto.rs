//! RSA keys and token signatures (SPEC §3).
//!
//! A token is signed as a ready-made SHA-256 digest: RSASSA-PKCS1-v1_5 with the SHA-256
//! DigestInfo around the 32 token bytes and no second hash, which is what
//! `openssl pkeyutl -sign -pkeyopt digest:sha256` does. PKCS#1 v1.5 is deterministic, so
//! our signatures are byte-identical to OpenSSL's. Every private-key operation runs in
//! aws-lc (constant time); key files are decoded with the RustCrypto format crates.

use std::fmt;
use std::path::Path;

use aws_lc_rs::digest::{Digest, SHA256};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{
    KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use der::asn1::ObjectIdentifier;
use der::Decode;
use zeroize::Zeroizing;

use crate::error::{Error, KeyProblem, Origin, Result};
use crate::fs_atomic::{self, PRIVATE_MODE, PUBLIC_MODE};

/// Length of every token (challenge) that is signed.
pub const TOKEN_LEN: usize = 32;
/// A token: 32 bytes that are signed as a SHA-256 digest.
pub type Token = [u8; TOKEN_LEN];

/// The RSA modulus sizes accepted for MFA and quorum keys.
pub const SUPPORTED_BITS: [usize; 3] = [2048, 3072, 4096];
/// The largest key file read.
const KEY_FILE_LIMIT: u64 = 64 * 1024;

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// The number of bits of a big-endian unsigned integer.
fn bit_len(be: &[u8]) -> usize {
    let trimmed: &[u8] = {
        let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
        &be[start..]
    };
    match trimmed.first() {
        None => 0,
        Some(&top) => (trimmed.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

pub(crate) fn check_bits(origin: &Origin, bits: usize) -> Result<()> {
    if bits < SUPPORTED_BITS[0] {
        Err(Error::key(origin, KeyProblem::TooSmall { bits }))
    } else if !SUPPORTED_BITS.contains(&bits) {
        Err(Error::key(origin, KeyProblem::UnsupportedSize { bits }))
    } else {
        Ok(())
    }
}

fn algorithm_name(oid: ObjectIdentifier) -> String {
    if oid == OID_EC {
        "an EC".into()
    } else if oid == OID_ED25519 {
        "an Ed25519".into()
    } else if oid == OID_RSA_PSS {
        "an RSA-PSS-only".into()
    } else {
        format!("an unsupported (algorithm {oid})")
    }
}

/// PEM labels of blocks that hold a key (others, such as "EC PARAMETERS", are skipped).
const KEY_LABELS: [&str; 6] = [
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "EC PRIVATE KEY",
    "PUBLIC KEY",
    "RSA PUBLIC KEY",
];

/// Splits PEM text into its blocks, each from its BEGIN line to its END line.
fn pem_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let Some(end_at) = block.find("-----END ") else {
            blocks.push(block);
            break;
        };
        let end = block[end_at + 9..]
            .find("-----")
            .map_or(block.len(), |e| end_at + 9 + e + 5);
        blocks.push(&block[..end]);
        rest = &block[end..];
    }
    blocks
}

/// Decodes the key block of a key file (skipping parameter blocks such as the "EC
/// PARAMETERS" that `openssl ecparam -genkey` writes first), answering clear errors for
/// encrypted keys.
fn decode_pem(origin: &Origin, pem: &[u8]) -> Result<(String, Zeroizing<Vec<u8>>)> {
    let text = std::str::from_utf8(pem)
        .map_err(|_| Error::key(origin, KeyProblem::NotAKey("the file is not text".into())))?;
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(Error::key(origin, KeyProblem::Encrypted));
    }
    let blocks = pem_blocks(text);
    let Some(first) = blocks.first() else {
        return Err(Error::key(
            origin,
            KeyProblem::NotAKey("no \"-----BEGIN\" line found".into()),
        ));
    };
    let chosen = blocks
        .iter()
        .find(|b| pem_rfc7468::decode_label(b.as_bytes()).is_ok_and(|l| KEY_LABELS.contains(&l)))
        .unwrap_or(first);
    let (label, der) = pem_rfc7468::decode_vec(chosen.as_bytes())
        .map_err(|e| Error::key(origin, KeyProblem::NotAKey(format!("bad PEM: {e}"))))?;
    Ok((label.to_string(), Zeroizing::new(der)))
}

/// An RSA private key, held inside aws-lc. It never appears in `Debug` output.
pub struct PrivateKey {
    pair: KeyPair,
    bits: usize,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(RSA-{})", self.bits)
    }
}

impl PrivateKey {
    /// Reads a PEM private key file: PKCS#8 ("BEGIN PRIVATE KEY") or PKCS#1
    /// ("BEGIN RSA PRIVATE KEY"), unencrypted, RSA 2048, 3072 or 4096 bits.
    pub fn load(path: &Path) -> Result<Self> {
        let pem = Zeroizing::new(fs_atomic::read_limited(path, KEY_FILE_LIMIT)?);
        Self::from_pem_with_origin(&pem, &Origin::file(path))
    }

    /// Parses a PEM private key held in memory.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        Self::from_pem_with_origin(pem, &Origin::Buffer)
    }

    fn from_pem_with_origin(pem: &[u8], origin: &Origin) -> Result<Self> {
        let (label, der) = decode_pem(origin, pem)?;
        let not_a_key = |why: String| Error::key(origin, KeyProblem::NotAKey(why));
        let rejected =
            |e: aws_lc_rs::error::KeyRejected| not_a_key(format!("the RSA key was rejected ({e})"));
        match label.as_str() {
            "PRIVATE KEY" => {
                let info = pkcs8::PrivateKeyInfoRef::from_der(&der)
                    .map_err(|e| not_a_key(format!("bad PKCS#8 structure: {e}")))?;
                if info.algorithm.oid != OID_RSA {
                    return Err(Error::key(
                        origin,
                        KeyProblem::NotRsa(algorithm_name(info.algorithm.oid)),
                    ));
                }
                let rsa = pkcs1::RsaPrivateKey::<der::asn1::UintRef>::from_der(
                    info.private_key.as_bytes(),
                )
                .map_err(|e| not_a_key(format!("bad RSA private key: {e}")))?;
                let bits = bit_len(rsa.modulus.as_bytes());
                check_bits(origin, bits)?;
                let pair = KeyPair::from_pkcs8(&der).map_err(rejected)?;
                Ok(PrivateKey { pair, bits })
            }
            "RSA PRIVATE KEY" => {
                let rsa = pkcs1::RsaPrivateKey::<der::asn1::UintRef>::from_der(&der)
                    .map_err(|e| not_a_key(format!("bad RSA private key: {e}")))?;
                let bits = bit_len(rsa.modulus.as_bytes());
                check_bits(origin, bits)?;
                let pair = KeyPair::from_der(&der).map_err(rejected)?;
                Ok(PrivateKey { pair, bits })
            }
            "ENCRYPTED PRIVATE KEY" => Err(Error::key(origin, KeyProblem::Encrypted)),
            "EC PRIVATE KEY" => Err(Error::key(origin, KeyProblem::NotRsa("an EC".into()))),
            "PUBLIC KEY" | "RSA PUBLIC KEY" => Err(Error::key(
                origin,
                KeyProblem::WrongKind("this is a public key; a private key is needed here".into()),
            )),
            other => Err(not_a_key(format!(
                "PEM block {} holds no private key",
                crate::quote::quote(other)
            ))),
        }
    }

    /// Generates a new key pair of `bits` (2048, 3072 or 4096).
    pub fn generate(bits: usize) -> Result<Self> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => {
                return Err(Error::invalid_argument(
                    "bits",
                    format!("cannot generate an RSA key of {bits} bits; choose 2048, 3072 or 4096"),
                ))
            }
        };
        let pair =
            KeyPair::generate(size).map_err(|_| Error::crypto("RSA key generation failed"))?;
        Ok(PrivateKey { pair, bits })
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The length in bytes of this key's signatures.
    pub fn signature_len(&self) -> usize {
        self.pair.public_modulus_len()
    }

    /// Signs a 32-byte token as a SHA-256 digest (RSASSA-PKCS1-v1_5).
    pub fn sign_token(&self, token: &Token) -> Result<Vec<u8>> {
        let digest = Digest::import_less_safe(token, &SHA256)
            .map_err(|_| Error::crypto("bad digest length"))?;
        let mut sig = vec![0u8; self.signature_len()];
        self.pair
            .sign_digest(&RSA_PKCS1_SHA256, &digest, &mut sig)
            .map_err(|_| Error::crypto("RSA signing failed"))?;
        Ok(sig)
    }

    /// The matching public key.
    pub fn public_key(&self) -> Result<PublicKey> {
        let spki = self
            .pair
            .public_key()
            .as_der()
            .map_err(|_| Error::crypto("cannot encode the public key"))?;
        PublicKey::from_spki_der(spki.as_ref(), &Origin::Buffer)
    }

    /// The private key as PKCS#8 PEM ("BEGIN PRIVATE KEY").
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        let der = self
            .pair
            .as_der()
            .map_err(|_| Error::crypto("cannot encode the private key"))?;
        let pem =
            pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, der.as_ref())
                .map_err(|e| Error::crypto(format!("cannot encode PEM: {e}")))?;
        Ok(Zeroizing::new(pem))
    }

    /// Writes the private key (mode 0600) and its public key (mode 0644) as PEM files: both
    /// are staged first, so a failure leaves both paths as they were.
    pub fn write_pair(&self, private_path: &Path, public_path: &Path) -> Result<()> {
        if private_path == public_path {
            return Err(Error::invalid_argument(
                "path",
                "the private and public key paths must differ",
            ));
        }
        let private_pem = self.to_pkcs8_pem()?;
        let public_pem = self.public_key()?.to_pem()?;
        fs_atomic::write_all_atomic(&[
            (private_path, private_pem.as_bytes(), PRIVATE_MODE),
            (public_path, public_pem.as_bytes(), PUBLIC_MODE),
        ])
    }
}

/// An RSA public key, for verifying token signatures.
#[derive(Clone)]
pub struct PublicKey {
    parsed: ParsedPublicKey,
    spki_der: Vec<u8>,
    bits: usize,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(RSA-{})", self.bits)
    }
}

impl PublicKey {
    /// Reads a PEM public key file: SubjectPublicKeyInfo ("BEGIN PUBLIC KEY") or PKCS#1
    /// ("BEGIN RSA PUBLIC KEY").
    pub fn load(path: &Path) -> Result<Self> {
        let pem = fs_atomic::read_limited(path, KEY_FILE_LIMIT)?;
        Self::from_pem_with_origin(&pem, &Origin::file(path))
    }

    /// Parses a PEM public key held in memory.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        Self::from_pem_with_origin(pem, &Origin::Buffer)
    }

    fn from_pem_with_origin(pem: &[u8], origin: &Origin) -> Result<Self> {
        let (label, der) = decode_pem(origin, pem)?;
        match label.as_str() {
            "PUBLIC KEY" => Self::from_spki_der(&der, origin),
            "RSA PUBLIC KEY" => {
                let rsa =
                    pkcs1::RsaPublicKey::<der::asn1::UintRef>::from_der(&der).map_err(|e| {
                        Error::key(
                            origin,
                            KeyProblem::NotAKey(format!("bad RSA public key: {e}")),
                        )
                    })?;
                check_bits(origin, bit_len(rsa.modulus.as_bytes()))?;
                Self::from_pkcs1_der(&der, origin)
            }
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" | "EC PRIVATE KEY" => {
                Err(Error::key(
                    origin,
                    KeyProblem::WrongKind(
                        "this is a private key; give the public key here \
                         (openssl rsa -in KEY -pubout -out key.pub)"
                            .into(),
                    ),
                ))
            }
            other => Err(Error::key(
                origin,
                KeyProblem::NotAKey(format!(
                    "PEM block {} holds no public key",
                    crate::quote::quote(other)
                )),
            )),
        }
    }

    /// The public key of modulus `n` and exponent `e` (big-endian unsigned integers), as a
    /// PKCS#11 token gives them (`CKA_MODULUS`, `CKA_PUBLIC_EXPONENT`).
    pub fn from_modulus_exponent(n: &[u8], e: &[u8], origin: &Origin) -> Result<Self> {
        let not_a_key = |why: String| Error::key(origin, KeyProblem::NotAKey(why));
        fn trimmed(bytes: &[u8]) -> &[u8] {
            &bytes[bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len())..]
        }
        check_bits(origin, bit_len(n))?;
        let rsa = pkcs1::RsaPublicKey {
            modulus: der::asn1::UintRef::new(trimmed(n))
                .map_err(|e| not_a_key(format!("bad RSA modulus: {e}")))?,
            public_exponent: der::asn1::UintRef::new(trimmed(e))
                .map_err(|e| not_a_key(format!("bad RSA public exponent: {e}")))?,
        };
        let der = der::Encode::to_der(&rsa).map_err(|e| not_a_key(e.to_string()))?;
        Self::from_pkcs1_der(&der, origin)
    }

    /// The key of a PKCS#1 RSAPublicKey, wrapped as SubjectPublicKeyInfo.
    fn from_pkcs1_der(der: &[u8], origin: &Origin) -> Result<Self> {
        let spki = spki::SubjectPublicKeyInfoRef {
            algorithm: spki::AlgorithmIdentifierRef {
                oid: OID_RSA,
                parameters: Some(der::asn1::AnyRef::NULL),
            },
            subject_public_key: der::asn1::BitStringRef::from_bytes(der)
                .map_err(|e| Error::key(origin, KeyProblem::NotAKey(e.to_string())))?,
        };
        let spki_der = der::Encode::to_der(&spki)
            .map_err(|e| Error::key(origin, KeyProblem::NotAKey(e.to_string())))?;
        Self::from_spki_der(&spki_der, origin)
    }

    fn from_spki_der(der: &[u8], origin: &Origin) -> Result<Self> {
        let not_a_key = |why: String| Error::key(origin, KeyProblem::NotAKey(why));
        let info = spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| not_a_key(format!("bad SubjectPublicKeyInfo: {e}")))?;
        if info.algorithm.oid != OID_RSA {
            return Err(Error::key(
                origin,
                KeyProblem::NotRsa(algorithm_name(info.algorithm.oid)),
            ));
        }
        let key_bytes = info
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| not_a_key("bad public key bit string".into()))?;
        let rsa = pkcs1::RsaPublicKey::<der::asn1::UintRef>::from_der(key_bytes)
            .map_err(|e| not_a_key(format!("bad RSA public key: {e}")))?;
        let bits = bit_len(rsa.modulus.as_bytes());
        check_bits(origin, bits)?;
        let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
            .map_err(|e| not_a_key(format!("the RSA key was rejected ({e})")))?;
        Ok(PublicKey {
            parsed,
            spki_der: der.to_vec(),
            bits,
        })
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The length in bytes of signatures made by the matching private key.
    pub fn signature_len(&self) -> usize {
        self.bits.div_ceil(8)
    }

    /// Checks `signature` over the 32-byte `token`. `Ok(false)` when it does not verify.
    /// The caller checks the length first (see [`PublicKey::signature_len`]).
    pub fn verify_token(&self, token: &Token, signature: &[u8]) -> bool {
        let Ok(digest) = Digest::import_less_safe(token, &SHA256) else {
            return false;
        };
        self.parsed.verify_digest_sig(&digest, signature).is_ok()
    }

    /// The key as SubjectPublicKeyInfo DER.
    pub fn to_spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key as PEM ("BEGIN PUBLIC KEY").
    pub fn to_pem(&self) -> Result<String> {
        pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &self.spki_der)
            .map_err(|e| Error::crypto(format!("cannot encode PEM: {e}")))
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}
impl Eq for PublicKey {}

/// The DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2, note 1): a token signature is
/// RSASSA-PKCS1-v1_5 over this followed by the 32 token bytes.
const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The SHA-256 DigestInfo of a token: what a device signs with `CKM_RSA_PKCS` (which pads
/// but does not hash) to make the same signature as [`PrivateKey::sign_token`].
pub fn digest_info(token: &Token) -> [u8; 19 + TOKEN_LEN] {
    let mut out = [0u8; 19 + TOKEN_LEN];
    out[..19].copy_from_slice(&SHA256_DIGEST_INFO_PREFIX);
    out[19..].copy_from_slice(token);
    out
}

/// The EMSA-PKCS1-v1_5 block of a token for a modulus of `modulus_len` bytes
/// (`00 01 FF..FF 00 DigestInfo`): what a device signs with raw RSA (`CKM_RSA_X_509`) to
/// make the same signature.
pub fn pkcs1_v15_block(token: &Token, modulus_len: usize) -> Result<Vec<u8>> {
    let info = digest_info(token);
    // RFC 8017 §9.2: at least 8 bytes of 0xFF.
    if modulus_len < info.len() + 11 {
        return Err(Error::crypto(format!(
            "a {modulus_len}-byte modulus is too short for a SHA-256 signature"
        )));
    }
    let mut block = vec![0xffu8; modulus_len];
    block[0] = 0x00;
    block[1] = 0x01;
    let split = modulus_len - info.len();
    block[split - 1] = 0x00;
    block[split..].copy_from_slice(&info);
    Ok(block)
}

/// SHA-256 of `data`, as a token.
pub fn sha256(data: &[u8]) -> Token {
    let d = aws_lc_rs::digest::digest(&SHA256, data);
    let mut out = [0u8; TOKEN_LEN];
    out.copy_from_slice(d.as_ref());
    out
}

/// Fills a fresh token with random bytes.
pub fn random_token() -> Result<Token> {
    random_bytes()
}

/// `N` random bytes from the system's generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut t = [0u8; N];
    aws_lc_rs::rand::fill(&mut t).map_err(|_| Error::crypto("no randomness available"))?;
    Ok(t)
}

/// A private key file that its group or other users may read or write, as ssh warns of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyModeProblem {
    /// The key file.
    pub path: std::path::PathBuf,
    /// Its permission bits (`0o644`, say).
    pub mode: u32,
}

impl fmt::Display for KeyModeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.mode & 0o044 != 0 {
            "readable"
        } else {
            "accessible"
        };
        write!(
            f,
            "{} is {how} by group or others (mode {:04o}); keep private keys at mode 0600",
            crate::quote::path(&self.path),
            self.mode
        )
    }
}

/// The rule for private key files: only their owner may have any access (mode 0600 or
/// 0400). Answers the problem when group or others have some, `None` when the mode is
/// private or the file cannot be examined (loading it will say why).
pub fn private_key_mode_problem(path: &Path) -> Option<KeyModeProblem> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then(|| KeyModeProblem {
        path: path.to_path_buf(),
        mode,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_private_key_open_to_group_or_others_is_a_mode_problem() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mfa.pem");
        std::fs::write(&p, "x").unwrap();
        for (mode, problem) in [(0o600, false), (0o400, false), (0o644, true), (0o620, true)] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let found = super::private_key_mode_problem(&p);
            assert_eq!(found.is_some(), problem, "{mode:o}");
            if let Some(found) = found {
                let text = found.to_string();
                assert!(text.contains(&format!("(mode {mode:04o})")), "{text}");
                assert!(text.contains("mfa.pem") && text.contains("0600"), "{text}");
            }
        }
        assert!(super::private_key_mode_problem(&dir.path().join("none")).is_none());
    }

    use super::*;

    #[test]
    fn bit_len_counts_significant_bits() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[0, 0]), 0);
        assert_eq!(bit_len(&[1]), 1);
        assert_eq!(bit_len(&[0, 0x80, 0]), 16);
        assert_eq!(bit_len(&[0x7f, 0xff]), 15);
    }

    #[test]
    fn sign_then_verify_round_trips_and_detects_change() {
        let key = PrivateKey::generate(2048).unwrap();
        let public = key.public_key().unwrap();
        let token = random_token().unwrap();
        let sig = key.sign_token(&token).unwrap();
        assert_eq!(sig.len(), 256);
        assert!(public.verify_token(&token, &sig));
        let mut other = token;
        other[0] ^= 1;
        assert!(!public.verify_token(&other, &sig));
        // Deterministic: same key and token, same signature.
        assert_eq!(sig, key.sign_token(&token).unwrap());
    }

    #[test]
    fn pem_round_trip_keeps_the_key() {
        let key = PrivateKey::generate(2048).unwrap();
        let again = PrivateKey::from_pem(key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
        let token = random_token().unwrap();
        assert_eq!(
            key.sign_token(&token).unwrap(),
            again.sign_token(&token).unwrap()
        );
        let pub_pem = key.public_key().unwrap().to_pem().unwrap();
        assert_eq!(
            PublicKey::from_pem(pub_pem.as_bytes()).unwrap(),
            key.public_key().unwrap()
        );
    }

    #[test]
    fn parameter_blocks_before_the_key_are_skipped() {
        let key = PrivateKey::generate(2048).unwrap();
        let pem = format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
            key.to_pkcs8_pem().unwrap().as_str()
        );
        assert_eq!(PrivateKey::from_pem(pem.as_bytes()).unwrap().bits(), 2048);
    }

    #[test]
    fn generate_refuses_odd_sizes() {
        assert!(matches!(
            PrivateKey::generate(1024),
            Err(Error::InvalidArgument { .. })
        ));
    }
}
