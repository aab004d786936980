//! Keys on PKCS#11 tokens (SPEC §12), through the `cryptoki` crate, which loads the module
//! at run time.
//!
//! - **Modules**: one instance per module path for the whole process. The library calls
//!   `C_Initialize` when its first key of a module opens; a module that the host program
//!   initialised already (`CKR_CRYPTOKI_ALREADY_INITIALIZED`) is used as it is, and only a
//!   module the library initialised is finalised, when its last key closes. Modules stay
//!   loaded.
//! - **Tokens and keys**: the URI must match exactly one token and one RSA private key; the
//!   errors say how many did.
//! - **PIN**: the caller's, else `pin-source`, `pin-value`, `$CLOUDHSM_MFA_PKCS11_PIN`, then
//!   a prompt without echo when standard input is a terminal. Held in a zeroizing string
//!   for the key's life (keys marked `CKA_ALWAYS_AUTHENTICATE` need it for every
//!   signature), never shown, never tried twice after the token refused it. PKCS#11 logs
//!   in the application, not a session: while another key of the same token is open (or
//!   the host program is logged in), the token does not check the PIN again.
//! - **Signing**: `CKM_RSA_PKCS` over the SHA-256 DigestInfo and the 32 token bytes (never
//!   `CKM_SHA256_RSA_PKCS`, which would hash again), or `CKM_RSA_X_509` over the padded
//!   block when the token lacks `CKM_RSA_PKCS`: the signature is OpenSSL's, byte for byte.
//!   Each token session serves one signature at a time; a key keeps a few sessions so
//!   that threads can sign at once.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::uri::Pkcs11Uri;
use crate::crypto::{self, PublicKey, Token, SUPPORTED_BITS};
use crate::error::{Error, KeyProblem, Origin, Pkcs11Problem, Result};

/// The environment variable naming the module when the URI has no `module-path`.
pub const MODULE_ENV: &str = "CLOUDHSM_MFA_PKCS11_MODULE";
/// The environment variable holding the PIN when the URI gives none.
pub const PIN_ENV: &str = "CLOUDHSM_MFA_PKCS11_PIN";
/// The most sessions a key opens on its token, for signatures from several threads.
const MAX_SESSIONS: usize = 8;
/// The largest PIN file read.
const PIN_FILE_LIMIT: u64 = 4096;

/// A loaded module, kept for the life of the process.
struct Loaded {
    path: PathBuf,
    ctx: Pkcs11,
    /// The module's own C functions, for the one sequence `cryptoki` does not offer:
    /// `C_SignInit`, `C_Login(CKU_CONTEXT_SPECIFIC)`, `C_Sign`.
    raw: cryptoki_sys::Pkcs11,
    uses: Mutex<Uses>,
}

#[derive(Default)]
struct Uses {
    /// Open keys (and key lookups) of this module.
    count: usize,
    /// Whether the library's `C_Initialize` is the one in force.
    ours: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One use of a module: initialised while any use lasts.
pub(crate) struct Module {
    loaded: Arc<Loaded>,
}

impl Module {
    /// The module at `path`, loaded once per process and initialised if need be.
    fn open(path: &Path, shown: &str) -> Result<Module> {
        static MODULES: OnceLock<Mutex<Vec<Arc<Loaded>>>> = OnceLock::new();
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let loaded = {
            let mut modules = lock(MODULES.get_or_init(Default::default));
            match modules.iter().find(|m| m.path == key) {
                Some(m) => m.clone(),
                None => {
                    let cannot = |e: String| {
                        Error::pkcs11(
                            shown,
                            Pkcs11Problem::Module(format!(
                                "cannot load the PKCS#11 module {}: {e}",
                                crate::quote::path(path)
                            )),
                        )
                    };
                    let ctx = Pkcs11::new(&key).map_err(|e| cannot(e.to_string()))?;
                    // SAFETY: the same library `cryptoki` has just loaded (dlopen counts
                    // references, so this is the same instance); its functions are only
                    // called with the arguments PKCS#11 defines.
                    let raw = unsafe { cryptoki_sys::Pkcs11::new(&key) }
                        .map_err(|e| cannot(e.to_string()))?;
                    let loaded = Arc::new(Loaded {
                        path: key,
                        ctx,
                        raw,
                        uses: Mutex::default(),
                    });
                    modules.push(loaded.clone());
                    loaded
                }
            }
        };
        let mut uses = lock(&loaded.uses);
        if uses.count == 0 {
            match loaded
                .ctx
                .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            {
                Ok(()) => uses.ours = true,
                // The host program initialised it: use it as it is, and leave it be.
                Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => uses.ours = false,
                Err(e) => {
                    return Err(Error::pkcs11(
                        shown,
                        Pkcs11Problem::Module(format!(
                            "the PKCS#11 module {} failed to initialise: {e}",
                            crate::quote::path(path)
                        )),
                    ))
                }
            }
        }
        uses.count += 1;
        drop(uses);
        Ok(Module { loaded })
    }

    fn ctx(&self) -> &Pkcs11 {
        &self.loaded.ctx
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        let mut uses = lock(&self.loaded.uses);
        uses.count -= 1;
        if uses.count == 0 && uses.ours {
            uses.ours = false;
            // Finalising clears every session of the module; none of ours is left.
            let _ = self.loaded.ctx.clone().finalize();
        }
    }
}

/// The module a URI names: its `module-path`, else `$CLOUDHSM_MFA_PKCS11_MODULE`.
fn module_path(uri: &Pkcs11Uri) -> Result<PathBuf> {
    if let Some(p) = &uri.module_path {
        return Ok(p.clone());
    }
    match std::env::var_os(MODULE_ENV) {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => Err(Error::pkcs11(
            &uri.to_string(),
            Pkcs11Problem::Module(format!(
                "no PKCS#11 module is named: add ?module-path=/path/to/module.so to the URI \
                 or set ${MODULE_ENV}"
            )),
        )),
    }
}

fn failed(shown: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::pkcs11(shown, Pkcs11Problem::Failed(format!("{what}: {e}")))
}

/// The one token (slot) the URI matches, with its label and token flags.
struct FoundToken {
    slot: Slot,
    label: String,
    login_required: bool,
    protected_path: bool,
}

fn text_matches(wanted: &Option<String>, actual: &str) -> bool {
    wanted.as_deref().is_none_or(|w| w == actual.trim_end())
}

fn find_token(module: &Module, uri: &Pkcs11Uri, shown: &str) -> Result<FoundToken> {
    let ctx = module.ctx();
    let info = ctx
        .get_library_info()
        .map_err(|e| failed(shown, "C_GetInfo", e))?;
    let version = info.library_version();
    let library_matches = text_matches(&uri.library_manufacturer, info.manufacturer_id())
        && text_matches(&uri.library_description, info.library_description())
        && uri.library_version.is_none_or(|(major, minor)| {
            major == version.major() && minor.is_none_or(|m| m == version.minor())
        });
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| failed(shown, "C_GetSlotList", e))?;
    let mut all = Vec::new();
    let mut found = Vec::new();
    for slot in slots {
        let (Ok(token), Ok(slot_info)) = (ctx.get_token_info(slot), ctx.get_slot_info(slot)) else {
            continue;
        };
        let label = token.label().trim_end().to_string();
        let matches = library_matches
            && text_matches(&uri.token, &label)
            && text_matches(&uri.manufacturer, token.manufacturer_id())
            && text_matches(&uri.model, token.model())
            && text_matches(&uri.serial, token.serial_number())
            && text_matches(&uri.slot_description, slot_info.slot_description())
            && text_matches(&uri.slot_manufacturer, slot_info.manufacturer_id())
            && uri.slot_id.is_none_or(|id| id == slot.id());
        all.push(crate::quote::quote(&label));
        if matches && token.token_initialized() {
            found.push(FoundToken {
                slot,
                label,
                login_required: token.login_required(),
                protected_path: token.protected_authentication_path(),
            });
        }
    }
    match found.len() {
        1 => Ok(found.pop().expect("one token")),
        0 => Err(Error::pkcs11(
            shown,
            Pkcs11Problem::Match(format!(
                "no token matches (0 of the module's {} tokens{}{})",
                all.len(),
                if all.is_empty() { "" } else { ": " },
                all.join(", ")
            )),
        )),
        n => Err(Error::pkcs11(
            shown,
            Pkcs11Problem::Match(format!(
                "{n} tokens match ({}); add token=, serial= or slot-id= to choose one",
                found
                    .iter()
                    .map(|t| format!("{} in slot {}", crate::quote::quote(&t.label), t.slot.id()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        )),
    }
}

/// Where a PIN came from, for messages (never the PIN itself).
#[derive(Clone, Copy)]
enum PinFrom {
    Caller,
    File,
    Uri,
    Environment,
    Prompt,
}

impl PinFrom {
    fn describe(self, uri: &Pkcs11Uri) -> String {
        match self {
            PinFrom::Caller => "given by the caller".into(),
            PinFrom::File => format!(
                "read from {}",
                crate::quote::path(uri.pin_source.as_deref().unwrap_or(Path::new("")))
            ),
            PinFrom::Uri => "the URI's pin-value".into(),
            PinFrom::Environment => format!("from ${PIN_ENV}"),
            PinFrom::Prompt => "typed at the prompt".into(),
        }
    }
}

/// The PIN, in SPEC §12's order; `None` for a token that needs none (or that reads it on
/// its own PIN pad).
fn resolve_pin(
    uri: &Pkcs11Uri,
    shown: &str,
    token: &FoundToken,
    given: Option<Zeroizing<String>>,
) -> Result<Option<(Zeroizing<String>, PinFrom)>> {
    if let Some(pin) = given {
        return Ok(Some((pin, PinFrom::Caller)));
    }
    if let Some(path) = &uri.pin_source {
        let bytes = Zeroizing::new(crate::fs_atomic::read_limited(path, PIN_FILE_LIMIT)?);
        let mut text = Zeroizing::new(String::from_utf8(bytes.to_vec()).map_err(|_| {
            Error::pkcs11(
                shown,
                Pkcs11Problem::PinRequired(format!(
                    "the PIN file {} is not UTF-8 text",
                    crate::quote::path(path)
                )),
            )
        })?);
        // One trailing newline (as `echo PIN > file` writes) is not part of the PIN.
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        return Ok(Some((text, PinFrom::File)));
    }
    if let Some(pin) = &uri.pin_value {
        return Ok(Some((pin.clone(), PinFrom::Uri)));
    }
    if let Some(pin) = std::env::var_os(PIN_ENV) {
        let pin = Zeroizing::new(pin.into_string().map_err(|_| {
            Error::pkcs11(
                shown,
                Pkcs11Problem::PinRequired(format!("${PIN_ENV} is not UTF-8 text")),
            )
        })?);
        return Ok(Some((pin, PinFrom::Environment)));
    }
    if !token.login_required || token.protected_path {
        return Ok(None);
    }
    if std::io::stdin().is_terminal() {
        let prompt = format!("Enter PIN for PKCS#11 token {}: ", token.label);
        let pin = rpassword::prompt_password(prompt).map_err(|e| {
            Error::pkcs11(
                shown,
                Pkcs11Problem::PinRequired(format!("cannot read the PIN from the terminal: {e}")),
            )
        })?;
        return Ok(Some((Zeroizing::new(pin), PinFrom::Prompt)));
    }
    Err(Error::pkcs11(
        shown,
        Pkcs11Problem::PinRequired(format!(
            "token {} needs a PIN and none was given: add pin-source=file:/path/to/pin (or \
             pin-value=) to the URI, set ${PIN_ENV}, or run on a terminal to be asked",
            crate::quote::quote(&token.label)
        )),
    ))
}

fn auth_pin(pin: &Zeroizing<String>) -> AuthPin {
    AuthPin::new(pin.as_str().into())
}

/// Logs the application in to the token (a login shared by all its sessions).
fn login(
    session: &Session,
    pin: Option<&(Zeroizing<String>, PinFrom)>,
    uri: &Pkcs11Uri,
    shown: &str,
    label: &str,
) -> Result<()> {
    let auth = pin.map(|(p, _)| auth_pin(p));
    match session.login(UserType::User, auth.as_ref()) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(
            rv @ (RvError::PinIncorrect | RvError::PinLenRange | RvError::PinLocked),
            _,
        )) => {
            let from = pin.map_or("none".into(), |(_, from)| from.describe(uri));
            let why = if matches!(rv, RvError::PinLocked) {
                "the PIN is locked"
            } else {
                "the PIN is wrong"
            };
            Err(Error::pkcs11(
                shown,
                Pkcs11Problem::PinIncorrect(format!(
                    "token {} refused the PIN ({from}): {why}; it was not tried again, since \
                     a token locks after a few wrong PINs",
                    crate::quote::quote(label)
                )),
            ))
        }
        Err(e) => Err(failed(shown, "C_Login", e)),
    }
}

/// How the token is asked to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Raw {
    /// `CKM_RSA_PKCS` over DigestInfo ‖ token.
    Pkcs1,
    /// `CKM_RSA_X_509` over the whole padded block.
    X509,
}

/// Sessions of one key: each serves one signature at a time.
#[derive(Default)]
struct Pool {
    idle: Vec<Session>,
    open: usize,
}

/// An RSA private key on a PKCS#11 token, logged in and ready to sign tokens.
pub struct TokenKey {
    sessions: Mutex<Pool>,
    returned: Condvar,
    key: ObjectHandle,
    always_authenticate: bool,
    pin: Option<(Zeroizing<String>, PinFrom)>,
    mechanism: Raw,
    public: PublicKey,
    slot: Slot,
    shown: String,
    uri: Pkcs11Uri,
    label: String,
    /// Dropped last, after the sessions: the module may be finalised then.
    module: Module,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKey(RSA-{}, {})", self.public.bits(), self.shown)
    }
}

/// The search template of the key objects a URI names, of `class`.
fn template(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut t = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        t.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    t
}

fn what_is_named(uri: &Pkcs11Uri) -> String {
    let mut parts = Vec::new();
    if let Some(o) = &uri.object {
        parts.push(format!("object={}", crate::quote::quote(o)));
    }
    if let Some(id) = &uri.id {
        parts.push(format!(
            "id={}",
            id.iter().map(|b| format!("%{b:02x}")).collect::<String>()
        ));
    }
    if parts.is_empty() {
        "no object or id".into()
    } else {
        parts.join(" and ")
    }
}

/// The RSA public key of a key object, from its modulus and exponent.
fn read_public(
    session: &Session,
    object: ObjectHandle,
    shown: &str,
    what: &str,
) -> Result<PublicKey> {
    let origin = Origin::Token(shown.to_string());
    let attrs = session
        .get_attributes(
            object,
            &[
                AttributeType::KeyType,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
            ],
        )
        .map_err(|e| failed(shown, "C_GetAttributeValue", e))?;
    let (mut key_type, mut n, mut e) = (None, None, None);
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::Modulus(v) => n = Some(v),
            Attribute::PublicExponent(v) => e = Some(v),
            _ => {}
        }
    }
    if key_type != Some(KeyType::RSA) {
        let kind = key_type.map_or("an unknown".to_string(), |t| format!("a {t}"));
        return Err(Error::key(&origin, KeyProblem::NotRsa(kind)));
    }
    let (Some(n), Some(e)) = (n, e) else {
        return Err(failed(
            shown,
            "reading the public key",
            format!("the token does not show the modulus and exponent of the {what}"),
        ));
    };
    PublicKey::from_modulus_exponent(&n, &e, &origin)
}

/// What `open` needs of a key lookup: the module, token, a logged-in session and the PIN.
struct Opened {
    session: Session,
    token: FoundToken,
    pin: Option<(Zeroizing<String>, PinFrom)>,
    uri: Pkcs11Uri,
    shown: String,
    /// Dropped last.
    module: Module,
}

/// Parses the URI, loads the module, finds the token, logs in.
fn open_token(text: &str, pin: Option<Zeroizing<String>>, read_write: bool) -> Result<Opened> {
    let uri = Pkcs11Uri::parse(text)?;
    let shown = uri.to_string();
    let module = Module::open(&module_path(&uri)?, &shown)?;
    let token = find_token(&module, &uri, &shown)?;
    let session = if read_write {
        module.ctx().open_rw_session(token.slot)
    } else {
        module.ctx().open_ro_session(token.slot)
    }
    .map_err(|e| failed(&shown, "C_OpenSession", e))?;
    let pin = if token.login_required {
        let pin = resolve_pin(&uri, &shown, &token, pin)?;
        login(&session, pin.as_ref(), &uri, &shown, &token.label)?;
        pin
    } else {
        None
    };
    Ok(Opened {
        module,
        token,
        session,
        pin,
        uri,
        shown,
    })
}

fn check_private_type(uri: &Pkcs11Uri, shown: &str) -> Result<()> {
    match uri.object_type {
        None | Some(super::uri::ObjectType::Private) => Ok(()),
        Some(other) => Err(Error::pkcs11(
            shown,
            Pkcs11Problem::Uri(format!(
                "type={} does not name a private key; use type=private or leave type out",
                other.as_str()
            )),
        )),
    }
}

impl TokenKey {
    /// Opens the one RSA private key `uri` names; `pin` (if given) comes before the URI's
    /// and the environment's.
    pub fn open(uri: &str, pin: Option<Zeroizing<String>>) -> Result<TokenKey> {
        let opened = open_token(uri, pin, false)?;
        check_private_type(&opened.uri, &opened.shown)?;
        Self::from_opened(opened)
    }

    fn from_opened(o: Opened) -> Result<TokenKey> {
        let shown = o.shown.clone();
        let keys = o
            .session
            .find_objects(&template(&o.uri, ObjectClass::PRIVATE_KEY))
            .map_err(|e| failed(&shown, "C_FindObjects", e))?;
        let key = match keys.as_slice() {
            [one] => *one,
            found => {
                return Err(Error::pkcs11(
                    &shown,
                    Pkcs11Problem::Match(format!(
                        "{} private keys on token {} match {}; exactly one must",
                        found.len(),
                        crate::quote::quote(&o.token.label),
                        what_is_named(&o.uri)
                    )),
                ))
            }
        };
        let public = read_public(&o.session, key, &shown, "private key")?;
        let always_authenticate = o
            .session
            .get_attributes(key, &[AttributeType::AlwaysAuthenticate])
            .ok()
            .and_then(|a| {
                a.into_iter().find_map(|a| match a {
                    Attribute::AlwaysAuthenticate(b) => Some(b),
                    _ => None,
                })
            })
            .unwrap_or(false);
        let mechanisms = o
            .module
            .ctx()
            .get_mechanism_list(o.token.slot)
            .map_err(|e| failed(&shown, "C_GetMechanismList", e))?;
        let mechanism = if mechanisms.contains(&MechanismType::RSA_PKCS) {
            Raw::Pkcs1
        } else if mechanisms.contains(&MechanismType::RSA_X_509) {
            Raw::X509
        } else {
            return Err(failed(
                &shown,
                "choosing a mechanism",
                format!(
                    "token {} offers neither CKM_RSA_PKCS nor CKM_RSA_X_509",
                    crate::quote::quote(&o.token.label)
                ),
            ));
        };
        Ok(TokenKey {
            sessions: Mutex::new(Pool {
                idle: vec![o.session],
                open: 1,
            }),
            returned: Condvar::new(),
            key,
            always_authenticate,
            pin: o.pin,
            mechanism,
            public,
            slot: o.token.slot,
            shown,
            uri: o.uri,
            label: o.token.label,
            module: o.module,
        })
    }

    /// Makes a new RSA key pair of `bits` on the token `uri` names, labelled with its
    /// `object` (and its `id`, else a random one), hands its public key to `publish` (which
    /// writes it somewhere) and opens its private key. Refused when a key with that label
    /// (or id) exists there; when `publish` fails, the new pair is destroyed again.
    pub fn generate(
        uri: &str,
        bits: usize,
        pin: Option<Zeroizing<String>>,
        publish: impl FnOnce(&PublicKey) -> Result<()>,
    ) -> Result<TokenKey> {
        let o = open_token(uri, pin, true)?;
        check_private_type(&o.uri, &o.shown)?;
        let shown = o.shown.clone();
        if !SUPPORTED_BITS.contains(&bits) {
            return Err(Error::invalid_argument(
                "bits",
                format!("cannot generate an RSA key of {bits} bits; choose 2048, 3072 or 4096"),
            ));
        }
        let Some(label) = o.uri.object.clone() else {
            return Err(Error::pkcs11(
                &shown,
                Pkcs11Problem::Uri("a new key needs a label: add object=LABEL to the URI".into()),
            ));
        };
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            let mut by_label = vec![
                Attribute::Class(class),
                Attribute::Label(label.as_bytes().to_vec()),
            ];
            let mut found = o
                .session
                .find_objects(&by_label)
                .map_err(|e| failed(&shown, "C_FindObjects", e))?;
            if let Some(id) = &o.uri.id {
                by_label[1] = Attribute::Id(id.clone());
                found.extend(
                    o.session
                        .find_objects(&by_label)
                        .map_err(|e| failed(&shown, "C_FindObjects", e))?,
                );
            }
            if !found.is_empty() {
                return Err(Error::pkcs11(
                    &shown,
                    Pkcs11Problem::Exists(format!(
                        "token {} already holds a key with {}; choose another label or \
                         delete that key first",
                        crate::quote::quote(&o.token.label),
                        what_is_named(&o.uri)
                    )),
                ));
            }
        }
        let id = match &o.uri.id {
            Some(id) => id.clone(),
            None => {
                let mut id = vec![0u8; 16];
                aws_lc_rs::rand::fill(&mut id)
                    .map_err(|_| Error::crypto("cannot draw a random key id"))?;
                id
            }
        };
        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::ModulusBits((bits as cryptoki_sys::CK_ULONG).into()),
            Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
        ];
        let (public_object, private_object) = o
            .session
            .generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &public_template,
                &private_template,
            )
            .map_err(|e| failed(&shown, "C_GenerateKeyPair", e))?;
        let published = read_public(&o.session, private_object, &shown, "new private key")
            .and_then(|public| publish(&public));
        if let Err(e) = published {
            for object in [private_object, public_object] {
                let _ = o.session.destroy_object(object);
            }
            return Err(e);
        }
        let mut uri = o.uri;
        uri.id = Some(id);
        Self::from_opened(Opened { uri, ..o })
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.public.bits()
    }

    /// The length in bytes of this key's signatures.
    pub fn signature_len(&self) -> usize {
        self.public.signature_len()
    }

    /// The public key, as read from the token.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The URI the key was opened with, as shown (its `pin-value` hidden).
    pub fn uri(&self) -> &str {
        &self.shown
    }

    /// Whether the token signs raw RSA blocks (`CKM_RSA_X_509`) for this key, because it
    /// lacks `CKM_RSA_PKCS`.
    pub fn signs_raw_blocks(&self) -> bool {
        self.mechanism == Raw::X509
    }

    /// Signs raw RSA blocks (`CKM_RSA_X_509`) even though the token offers `CKM_RSA_PKCS`:
    /// how a token without it is driven. For tests of that path.
    #[doc(hidden)]
    pub fn prefer_raw_blocks(mut self) -> Self {
        self.mechanism = Raw::X509;
        self
    }

    /// Signs a 32-byte token as a SHA-256 digest (RSASSA-PKCS1-v1_5), on the token.
    pub fn sign_token(&self, token: &Token) -> Result<Vec<u8>> {
        let (mechanism, data) = match self.mechanism {
            Raw::Pkcs1 => (
                Mechanism::RsaPkcs,
                Zeroizing::new(crypto::digest_info(token).to_vec()),
            ),
            Raw::X509 => (
                Mechanism::RsaX509,
                Zeroizing::new(crypto::pkcs1_v15_block(token, self.signature_len())?),
            ),
        };
        let session = self.take_session()?;
        let mut result = self.sign_in(&session, &mechanism, &data);
        if matches!(result, Err(CkError::Pkcs11(RvError::UserNotLoggedIn, _))) {
            // Someone logged the application out (the host program, or a token reset):
            // log in again with the PIN the token accepted before, and sign once more.
            login(
                &session,
                self.pin.as_ref(),
                &self.uri,
                &self.shown,
                &self.label,
            )?;
            result = self.sign_in(&session, &mechanism, &data);
        }
        match result {
            Ok(sig) if sig.len() == self.signature_len() => {
                self.give_back(session);
                Ok(sig)
            }
            Ok(sig) => {
                self.give_back(session);
                Err(failed(
                    &self.shown,
                    "C_Sign",
                    format!(
                        "the token made a {}-byte signature with a {}-bit key",
                        sig.len(),
                        self.bits()
                    ),
                ))
            }
            // A session whose operation may still be active is closed, not reused.
            Err(e) => {
                self.discard(session);
                Err(failed(&self.shown, "C_Sign", e))
            }
        }
    }

    fn sign_in(
        &self,
        session: &Session,
        mechanism: &Mechanism,
        data: &[u8],
    ) -> std::result::Result<Vec<u8>, CkError> {
        if !self.always_authenticate {
            return session.sign(mechanism, self.key, data);
        }
        // CKA_ALWAYS_AUTHENTICATE: the PIN again, between C_SignInit and C_Sign.
        use cryptoki::context::Function;
        use cryptoki::error::Rv;
        use cryptoki_sys::{CKU_CONTEXT_SPECIFIC, CK_MECHANISM, CK_ULONG};
        let raw = &self.module.loaded.raw;
        let mut ck_mechanism: CK_MECHANISM = mechanism.into();
        let (pin_ptr, pin_len) = match &self.pin {
            Some((pin, _)) => (pin.as_ptr() as *mut u8, pin.len() as CK_ULONG),
            None => (std::ptr::null_mut(), 0),
        };
        let mut sig = vec![0u8; self.signature_len()];
        let mut sig_len = sig.len() as CK_ULONG;
        // SAFETY: every pointer is valid for the call: the mechanism and PIN live across
        // it, `sig` has `sig_len` writable bytes; the session and key handles are this
        // module's.
        unsafe {
            Rv::from(raw.C_SignInit(session.handle(), &mut ck_mechanism, self.key.handle()))
                .into_result(Function::SignInit)?;
            Rv::from(raw.C_Login(session.handle(), CKU_CONTEXT_SPECIFIC, pin_ptr, pin_len))
                .into_result(Function::Login)?;
            Rv::from(raw.C_Sign(
                session.handle(),
                data.as_ptr() as *mut u8,
                data.len() as CK_ULONG,
                sig.as_mut_ptr(),
                &mut sig_len,
            ))
            .into_result(Function::Sign)?;
        }
        sig.truncate(sig_len as usize);
        Ok(sig)
    }

    /// An idle session, or a new one while fewer than [`MAX_SESSIONS`] are open.
    fn take_session(&self) -> Result<Session> {
        let mut pool = lock(&self.sessions);
        loop {
            if let Some(s) = pool.idle.pop() {
                return Ok(s);
            }
            if pool.open < MAX_SESSIONS {
                pool.open += 1;
                drop(pool);
                return self.module.ctx().open_ro_session(self.slot).map_err(|e| {
                    lock(&self.sessions).open -= 1;
                    self.returned.notify_one();
                    failed(&self.shown, "C_OpenSession", e)
                });
            }
            pool = self.returned.wait(pool).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn give_back(&self, session: Session) {
        lock(&self.sessions).idle.push(session);
        self.returned.notify_one();
    }

    fn discard(&self, session: Session) {
        drop(session);
        lock(&self.sessions).open -= 1;
        self.returned.notify_one();
    }
}

/// The public key of the key pair `uri` names: its public-key object when the token shows
/// one without a login, else the modulus and exponent of its private key (after a login).
pub fn public_key(uri: &str, pin: Option<Zeroizing<String>>) -> Result<PublicKey> {
    let parsed = Pkcs11Uri::parse(uri)?;
    let shown = parsed.to_string();
    if parsed.object_type != Some(super::uri::ObjectType::Private) {
        let module = Module::open(&module_path(&parsed)?, &shown)?;
        let token = find_token(&module, &parsed, &shown)?;
        let session = module
            .ctx()
            .open_ro_session(token.slot)
            .map_err(|e| failed(&shown, "C_OpenSession", e))?;
        let found = session
            .find_objects(&template(&parsed, ObjectClass::PUBLIC_KEY))
            .map_err(|e| failed(&shown, "C_FindObjects", e))?;
        match found.as_slice() {
            [one] => return read_public(&session, *one, &shown, "public key"),
            [] if !parsed.names_public_key() => {}
            found => {
                return Err(Error::pkcs11(
                    &shown,
                    Pkcs11Problem::Match(format!(
                        "{} public keys on token {} match {}; exactly one must",
                        found.len(),
                        crate::quote::quote(&token.label),
                        what_is_named(&parsed)
                    )),
                ))
            }
        }
    }
    Ok(TokenKey::open(uri, pin)?.public)
}
