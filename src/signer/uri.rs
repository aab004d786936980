//! PKCS#11 URIs (RFC 7512, SPEC §12): what a `pkcs11:` key name says, parsed and checked
//! here once for every face. Pure: nothing here loads a module or reads a file.
//!
//! `pkcs11:token=LABEL;object=LABEL?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/path`
//! - path attributes (separated by `;`) filter tokens (`token`, `manufacturer`, `model`,
//!   `serial`, `slot-id`, `slot-description`, `slot-manufacturer`, `library-manufacturer`,
//!   `library-description`, `library-version`) and objects (`object`, `id`, `type`);
//! - query attributes (separated by `&`): `module-path`, `pin-source` (`file:`), `pin-value`
//!   (not both);
//! - values are percent-decoded; an unknown or repeated attribute is an error.
//!
//! A URI shown anywhere (`Display`, `Debug`, errors) has its `pin-value` replaced by `***`.

use std::fmt;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;
use zeroize::Zeroizing;

use crate::error::{Error, Pkcs11Problem, Result};

/// The object classes a URI's `type` attribute names (RFC 7512 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    Private,
    Public,
    Cert,
    SecretKey,
    Data,
}

impl ObjectType {
    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "private" => ObjectType::Private,
            "public" => ObjectType::Public,
            "cert" => ObjectType::Cert,
            "secret-key" => ObjectType::SecretKey,
            "data" => ObjectType::Data,
            _ => return None,
        })
    }

    /// The attribute's value, as written in a URI.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Private => "private",
            ObjectType::Public => "public",
            ObjectType::Cert => "cert",
            ObjectType::SecretKey => "secret-key",
            ObjectType::Data => "data",
        }
    }
}

/// What a `pkcs11:` URI names: the filters on tokens and objects, and where the module and
/// the PIN are.
#[derive(Clone, Default)]
pub struct Pkcs11Uri {
    /// The URI as shown: `pin-value` replaced by `***`.
    shown: String,
    /// `token`: the token label.
    pub token: Option<String>,
    /// `manufacturer`: the token's manufacturer id.
    pub manufacturer: Option<String>,
    /// `model`: the token's model.
    pub model: Option<String>,
    /// `serial`: the token's serial number.
    pub serial: Option<String>,
    /// `slot-id`: the slot's number.
    pub slot_id: Option<u64>,
    /// `slot-description`.
    pub slot_description: Option<String>,
    /// `slot-manufacturer`.
    pub slot_manufacturer: Option<String>,
    /// `library-manufacturer`: the module's manufacturer id.
    pub library_manufacturer: Option<String>,
    /// `library-description`: the module's description.
    pub library_description: Option<String>,
    /// `library-version`: `MAJOR` or `MAJOR.MINOR` of the module.
    pub library_version: Option<(u8, Option<u8>)>,
    /// `object`: the key's label (`CKA_LABEL`).
    pub object: Option<String>,
    /// `id`: the key's `CKA_ID` bytes.
    pub id: Option<Vec<u8>>,
    /// `type`: the object class.
    pub object_type: Option<ObjectType>,
    /// `module-path`: the module to load.
    pub module_path: Option<PathBuf>,
    /// `pin-source`: the file that holds the PIN (from `file:PATH`).
    pub pin_source: Option<PathBuf>,
    /// `pin-value`: the PIN itself.
    pub pin_value: Option<Zeroizing<String>>,
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs11Uri({})", self.shown)
    }
}

/// The scheme, compared without case.
pub const SCHEME: &str = "pkcs11:";

/// The query attribute that carries a PIN, hidden wherever a URI is shown.
const PIN_VALUE: &str = "pin-value";

/// `uri` with the value of every `pin-value` replaced by `***`, for messages about a URI
/// that could not be parsed (a parsed one shows itself that way).
pub fn redact(uri: &str) -> String {
    let Some((path, query)) = uri.split_once('?') else {
        return uri.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|attr| match attr.split_once('=') {
            Some((name, _)) if name == PIN_VALUE => format!("{name}=***"),
            _ => attr.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

fn invalid(shown: &str, reason: impl Into<String>) -> Error {
    Error::pkcs11(shown, Pkcs11Problem::Uri(reason.into()))
}

impl Pkcs11Uri {
    /// Parses a `pkcs11:` URI.
    pub fn parse(text: &str) -> Result<Self> {
        let shown = crate::quote::shorten(&redact(text)).into_owned();
        let rest = text
            .get(..SCHEME.len())
            .filter(|s| s.eq_ignore_ascii_case(SCHEME))
            .map(|_| &text[SCHEME.len()..])
            .ok_or_else(|| invalid(&shown, "a PKCS#11 URI begins with \"pkcs11:\""))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri {
            shown: shown.clone(),
            ..Pkcs11Uri::default()
        };
        let mut seen: Vec<String> = Vec::new();
        for (attr, in_query) in path.split(';').map(|a| (a, false)).chain(
            query
                .into_iter()
                .flat_map(|q| q.split('&'))
                .map(|a| (a, true)),
        ) {
            if attr.is_empty() {
                continue;
            }
            let Some((name, raw)) = attr.split_once('=') else {
                return Err(invalid(
                    &shown,
                    format!(
                        "attribute {} has no \"=\"",
                        crate::quote::quote(attr.split('=').next().unwrap_or(attr))
                    ),
                ));
            };
            if seen.iter().any(|s| s == name) {
                return Err(invalid(
                    &shown,
                    format!("attribute {} is given twice", crate::quote::quote(name)),
                ));
            }
            seen.push(name.to_string());
            let bytes = Zeroizing::new(percent_decode_str(raw).collect::<Vec<u8>>());
            let value = || -> Result<String> {
                String::from_utf8(bytes.to_vec()).map_err(|_| {
                    invalid(
                        &shown,
                        format!("attribute {name}: the value is not UTF-8 text once decoded"),
                    )
                })
            };
            match (name, in_query) {
                ("token", false) => uri.token = Some(value()?),
                ("manufacturer", false) => uri.manufacturer = Some(value()?),
                ("model", false) => uri.model = Some(value()?),
                ("serial", false) => uri.serial = Some(value()?),
                ("slot-description", false) => uri.slot_description = Some(value()?),
                ("slot-manufacturer", false) => uri.slot_manufacturer = Some(value()?),
                ("library-manufacturer", false) => uri.library_manufacturer = Some(value()?),
                ("library-description", false) => uri.library_description = Some(value()?),
                ("object", false) => uri.object = Some(value()?),
                ("id", false) => uri.id = Some(bytes.to_vec()),
                ("slot-id", false) => {
                    let v = value()?;
                    uri.slot_id = Some(v.parse().map_err(|_| {
                        invalid(
                            &shown,
                            format!("slot-id {} is not a number", crate::quote::quote(&v)),
                        )
                    })?);
                }
                ("library-version", false) => {
                    let v = value()?;
                    uri.library_version = Some(parse_version(&v).ok_or_else(|| {
                        invalid(
                            &shown,
                            format!(
                                "library-version {} is not MAJOR or MAJOR.MINOR",
                                crate::quote::quote(&v)
                            ),
                        )
                    })?);
                }
                ("type", false) => {
                    let v = value()?;
                    uri.object_type = Some(ObjectType::parse(&v).ok_or_else(|| {
                        invalid(
                            &shown,
                            format!(
                                "type {} is not one of private, public, cert, secret-key, data",
                                crate::quote::quote(&v)
                            ),
                        )
                    })?);
                }
                ("module-path", true) => uri.module_path = Some(PathBuf::from(value()?)),
                ("pin-source", true) => {
                    let v = value()?;
                    // `file:/path`, `file:relative` or `file:///path` (no host).
                    let path = match v.strip_prefix("file://") {
                        Some(rest) => Some(rest).filter(|p| p.starts_with('/')),
                        None => v.strip_prefix("file:").filter(|p| !p.is_empty()),
                    }
                    .ok_or_else(|| {
                        invalid(
                            &shown,
                            format!(
                                "pin-source {} is not a file: URI (pin-source=file:/path/to/pin)",
                                crate::quote::quote(&v)
                            ),
                        )
                    })?;
                    uri.pin_source = Some(PathBuf::from(path));
                }
                (PIN_VALUE, true) => {
                    let pin = String::from_utf8(bytes.to_vec())
                        .map_err(|_| invalid(&shown, "pin-value is not UTF-8 text once decoded"))?;
                    uri.pin_value = Some(Zeroizing::new(pin));
                }
                ("module-name", true) => {
                    return Err(invalid(
                        &shown,
                        "module-name is not supported: name the module with module-path \
                         (or $CLOUDHSM_MFA_PKCS11_MODULE)",
                    ))
                }
                (other, false) if is_query_attribute(other) => {
                    return Err(invalid(
                        &shown,
                        format!("{other} is a query attribute: put it after \"?\""),
                    ))
                }
                (other, true) if is_path_attribute(other) => {
                    return Err(invalid(
                        &shown,
                        format!("{other} is a path attribute: put it before \"?\""),
                    ))
                }
                (other, _) => {
                    return Err(invalid(
                        &shown,
                        format!(
                            "unknown attribute {}; the attributes are token, manufacturer, \
                             model, serial, slot-id, slot-description, slot-manufacturer, \
                             library-manufacturer, library-description, library-version, \
                             object, id and type, then after \"?\" module-path, pin-source \
                             and pin-value",
                            crate::quote::quote(other)
                        ),
                    ))
                }
            }
        }
        if uri.pin_source.is_some() && uri.pin_value.is_some() {
            return Err(invalid(
                &shown,
                "pin-source and pin-value are both given; give one",
            ));
        }
        Ok(uri)
    }

    /// Whether this URI names public-key objects only (`type=public`).
    pub fn names_public_key(&self) -> bool {
        self.object_type == Some(ObjectType::Public)
    }
}

fn is_path_attribute(name: &str) -> bool {
    [
        "token",
        "manufacturer",
        "model",
        "serial",
        "slot-id",
        "slot-description",
        "slot-manufacturer",
        "library-manufacturer",
        "library-description",
        "library-version",
        "object",
        "id",
        "type",
    ]
    .contains(&name)
}

fn is_query_attribute(name: &str) -> bool {
    ["module-path", "module-name", "pin-source", PIN_VALUE].contains(&name)
}

fn parse_version(v: &str) -> Option<(u8, Option<u8>)> {
    match v.split_once('.') {
        Some((major, minor)) => Some((major.parse().ok()?, Some(minor.parse().ok()?))),
        None => Some((v.parse().ok()?, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> String {
        Pkcs11Uri::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn every_attribute_is_read_and_values_are_percent_decoded() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=My%20Token;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;\
             serial=abc;slot-id=7;slot-description=d;slot-manufacturer=m;\
             library-manufacturer=lm;library-description=ld;library-version=2.6;\
             object=mfa;id=%01%ff;type=private\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
        )
        .unwrap();
        assert_eq!(uri.token.as_deref(), Some("My Token"));
        assert_eq!(uri.manufacturer.as_deref(), Some("SoftHSM project"));
        assert_eq!(uri.model.as_deref(), Some("SoftHSM v2"));
        assert_eq!(uri.serial.as_deref(), Some("abc"));
        assert_eq!(uri.slot_id, Some(7));
        assert_eq!(uri.slot_description.as_deref(), Some("d"));
        assert_eq!(uri.slot_manufacturer.as_deref(), Some("m"));
        assert_eq!(uri.library_manufacturer.as_deref(), Some("lm"));
        assert_eq!(uri.library_description.as_deref(), Some("ld"));
        assert_eq!(uri.library_version, Some((2, Some(6))));
        assert_eq!(uri.object.as_deref(), Some("mfa"));
        assert_eq!(uri.id.as_deref(), Some(&[1u8, 0xff][..]));
        assert_eq!(uri.object_type, Some(ObjectType::Private));
        assert_eq!(
            uri.module_path.as_deref(),
            Some(std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(
            uri.pin_source.as_deref(),
            Some(std::path::Path::new("/run/pin"))
        );
        assert!(uri.pin_value.is_none());
        assert_eq!(
            Pkcs11Uri::parse("pkcs11:?pin-source=file:///run/pin")
                .unwrap()
                .pin_source
                .as_deref(),
            Some(std::path::Path::new("/run/pin"))
        );
        assert_eq!(
            Pkcs11Uri::parse("PKCS11:library-version=3")
                .unwrap()
                .library_version,
            Some((3, None))
        );
    }

    #[test]
    fn a_pin_value_is_never_shown() {
        let text = "pkcs11:token=t;object=k?pin-value=s3cr%65t&module-path=/m.so";
        let uri = Pkcs11Uri::parse(text).unwrap();
        assert_eq!(uri.pin_value.as_deref().map(String::as_str), Some("s3cret"));
        for shown in [uri.to_string(), format!("{uri:?}")] {
            assert!(!shown.contains("s3cr"), "{shown}");
            assert!(shown.contains("pin-value=***"), "{shown}");
        }
        let bad = problem("pkcs11:token=t;bogus=1?pin-value=s3cret");
        assert!(!bad.contains("s3cret"), "{bad}");
        assert!(bad.contains("pin-value=***"), "{bad}");
        assert_eq!(redact("pkcs11:token=t"), "pkcs11:token=t");
    }

    #[test]
    fn unknown_misplaced_repeated_and_conflicting_attributes_are_errors() {
        let unknown = problem("pkcs11:token=t;colour=blue");
        assert!(
            unknown.contains("unknown attribute \"colour\""),
            "{unknown}"
        );
        assert!(problem("pkcs11:token=t?x-vendor=1").contains("unknown attribute \"x-vendor\""));
        assert!(problem("pkcs11:module-path=/m.so").contains("put it after \"?\""));
        assert!(problem("pkcs11:?token=t").contains("put it before \"?\""));
        assert!(problem("pkcs11:token=a;token=b").contains("\"token\" is given twice"));
        assert!(problem("pkcs11:?pin-source=file:/p&pin-value=1").contains("give one"));
        assert!(problem("pkcs11:?pin-source=https://x/pin").contains("not a file: URI"));
        assert!(problem("pkcs11:?module-name=softhsm2").contains("module-path"));
        assert!(problem("pkcs11:type=key").contains("not one of private"));
        assert!(problem("pkcs11:slot-id=x").contains("not a number"));
        assert!(problem("pkcs11:library-version=a.b").contains("MAJOR.MINOR"));
        assert!(problem("pkcs11:token").contains("has no \"=\""));
        assert!(problem("pkcs11:object=%ff%fe").contains("not UTF-8"));
        assert!(problem("file:key.pem").contains("begins with \"pkcs11:\""));
    }
}
