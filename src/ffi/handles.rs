//! Library state behind the C ABI: whether it is initialised, and the table of handles.
//! Handles are integers from 1, checked for their kind, and never reused, not even after
//! `CHM_Finalize` and a new `CHM_Initialize`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::codes::FfiError;
use super::types::*;
use crate::blocking::{Runtime, Session};
use crate::crypto::PublicKey;
use crate::signer::SigningKey;
use crate::token_file::TokenFile;

/// What a handle refers to.
enum Object {
    TokenFile(Arc<Mutex<TokenFile>>),
    PrivateKey(Arc<SigningKey>),
    PublicKey(Arc<PublicKey>),
    Session(Arc<Mutex<Session>>),
}

struct State {
    objects: HashMap<u64, Object>,
    config_path: Option<std::path::PathBuf>,
    runtime: Runtime,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

/// Locks a mutex, going on with its content if a panic poisoned it: the panic was already
/// turned into an error, and the tables stay consistent (each change is one insert/remove).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn not_initialized() -> FfiError {
    FfiError::new(
        CHMR_NOT_INITIALIZED,
        "the library is not initialised; call CHM_Initialize first",
    )
}

fn with_state<T>(f: impl FnOnce(&mut State) -> Result<T, FfiError>) -> Result<T, FfiError> {
    let mut guard = lock(&STATE);
    let state = guard.as_mut().ok_or_else(not_initialized)?;
    f(state)
}

/// Starts the library: the handle table, the configuration path (None: from the
/// environment at each `CHM_OpenSession`) and the I/O runtime of the sessions.
pub fn initialize(config_path: Option<std::path::PathBuf>) -> Result<(), FfiError> {
    let mut guard = lock(&STATE);
    if guard.is_some() {
        return Err(FfiError::new(
            CHMR_ALREADY_INITIALIZED,
            "the library is already initialised",
        ));
    }
    let runtime = Runtime::new()?;
    start_logging(config_path.as_deref())?;
    *guard = Some(State {
        objects: HashMap::new(),
        config_path,
        runtime,
    });
    Ok(())
}

/// Sends the library's events where the configuration's `logging` section says (SPEC
/// §10), unless the host has a `tracing` subscriber of its own, which is left in place.
/// A configuration that cannot be read now is not an error here: `CHM_OpenSession`
/// reports it, as without logging. A log file that cannot be opened is
/// `CHMR_CONFIG_INVALID`.
fn start_logging(config_path: Option<&std::path::Path>) -> Result<(), FfiError> {
    let Ok(config) = crate::config::Config::load(config_path) else {
        return Ok(());
    };
    crate::logging::install_from(&config)?;
    Ok(())
}

/// What a new session needs: the configuration path given at initialisation and the
/// runtime.
pub fn session_context() -> Result<(Option<std::path::PathBuf>, Runtime), FfiError> {
    with_state(|s| Ok((s.config_path.clone(), s.runtime.clone())))
}

/// Ends the library's state; every open handle becomes invalid, and every open session
/// logs out on every HSM before this returns.
pub fn finalize() -> Result<(), FfiError> {
    refuse_in_callback("CHM_Finalize")?;
    let state = lock(&STATE).take().ok_or_else(not_initialized)?;
    // Outside the lock: the logouts talk to the clusters.
    for object in state.objects.values() {
        if let Object::Session(session) = object {
            lock(session).close();
        }
    }
    drop(state);
    crate::logging::stop();
    Ok(())
}

pub fn require_initialized() -> Result<(), FfiError> {
    with_state(|_| Ok(()))
}

fn insert(object: Object) -> Result<u64, FfiError> {
    with_state(|s| {
        let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
        s.objects.insert(handle, object);
        Ok(handle)
    })
}

pub fn insert_token_file(file: TokenFile) -> Result<CHM_TOKEN_FILE_HANDLE, FfiError> {
    insert(Object::TokenFile(Arc::new(Mutex::new(file))))
}

pub fn insert_private_key(key: impl Into<SigningKey>) -> Result<CHM_KEY_HANDLE, FfiError> {
    insert(Object::PrivateKey(Arc::new(key.into())))
}

pub fn insert_public_key(key: PublicKey) -> Result<CHM_KEY_HANDLE, FfiError> {
    insert(Object::PublicKey(Arc::new(key)))
}

pub fn insert_session(session: Session) -> Result<CHM_SESSION_HANDLE, FfiError> {
    insert(Object::Session(Arc::new(Mutex::new(session))))
}

fn bad_session_handle(h: u64) -> FfiError {
    FfiError::new(
        CHMR_SESSION_HANDLE_INVALID,
        format!("{h} is not an open session handle"),
    )
}

thread_local! {
    /// The sessions whose operation is calling a signing callback on this thread, innermost
    /// last (a callback may open and use other sessions, whose callbacks stack up here).
    static IN_CALLBACK: RefCell<Vec<CHM_SESSION_HANDLE>> = const { RefCell::new(Vec::new()) };
}

/// Runs `callback`, a caller's signing callback for an operation of session `h`, marked so
/// that a call back into that session from inside it is refused instead of deadlocking.
pub fn in_callback<T>(h: CHM_SESSION_HANDLE, callback: impl FnOnce() -> T) -> T {
    struct Unmark;
    impl Drop for Unmark {
        fn drop(&mut self) {
            IN_CALLBACK.with(|c| c.borrow_mut().pop());
        }
    }
    IN_CALLBACK.with(|c| c.borrow_mut().push(h));
    let _unmark = Unmark;
    callback()
}

fn operation_active(what: &str) -> FfiError {
    FfiError::new(
        CHMR_OPERATION_ACTIVE,
        format!("{what} was called from a signing callback of an operation that is still running; call it after the operation returns"),
    )
}

/// Refuses a call from inside any signing callback (`CHM_Finalize`).
pub fn refuse_in_callback(function: &str) -> Result<(), FfiError> {
    if IN_CALLBACK.with(|c| !c.borrow().is_empty()) {
        return Err(operation_active(function));
    }
    Ok(())
}

/// Locks session `h` for one call. From inside a signing callback, the session whose
/// operation called the callback, or one that another call is using, answers
/// `CHMR_OPERATION_ACTIVE` at once; elsewhere the call waits its turn.
pub fn lock_session(
    h: CHM_SESSION_HANDLE,
    session: &Mutex<Session>,
) -> Result<MutexGuard<'_, Session>, FfiError> {
    let (own, inside) = IN_CALLBACK.with(|c| {
        let c = c.borrow();
        (c.contains(&h), !c.is_empty())
    });
    if own {
        return Err(operation_active(&format!("session {h}")));
    }
    if !inside {
        return Ok(lock(session));
    }
    match session.try_lock() {
        Ok(guard) => Ok(guard),
        Err(std::sync::TryLockError::Poisoned(p)) => Ok(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => Err(operation_active(&format!(
            "session {h}, in use by another call,"
        ))),
    }
}

pub fn session(h: CHM_SESSION_HANDLE) -> Result<Arc<Mutex<Session>>, FfiError> {
    with_state(|s| match s.objects.get(&h) {
        Some(Object::Session(x)) => Ok(x.clone()),
        _ => Err(bad_session_handle(h)),
    })
}

/// Closes a session: its login ends on every HSM before this returns.
pub fn close_session(h: CHM_SESSION_HANDLE) -> Result<(), FfiError> {
    // From a callback: refused before anything is removed, if the session is busy.
    drop(lock_session(h, &*session(h)?)?);
    let removed = with_state(|s| match s.objects.remove(&h) {
        Some(Object::Session(session)) => Ok(session),
        Some(other) => {
            s.objects.insert(h, other);
            Err(bad_session_handle(h))
        }
        None => Err(bad_session_handle(h)),
    })?;
    // Outside the table's lock: the logout talks to the cluster.
    lock(&removed).close();
    Ok(())
}

fn bad_file_handle(h: u64) -> FfiError {
    FfiError::new(
        CHMR_OBJECT_HANDLE_INVALID,
        format!("{h} is not an open token file handle"),
    )
}

fn bad_key_handle(h: u64, wanted: &str) -> FfiError {
    FfiError::new(
        CHMR_KEY_HANDLE_INVALID,
        format!("{h} is not an open {wanted} key handle"),
    )
}

pub fn token_file(h: CHM_TOKEN_FILE_HANDLE) -> Result<Arc<Mutex<TokenFile>>, FfiError> {
    with_state(|s| match s.objects.get(&h) {
        Some(Object::TokenFile(f)) => Ok(f.clone()),
        _ => Err(bad_file_handle(h)),
    })
}

pub fn private_key(h: CHM_KEY_HANDLE) -> Result<Arc<SigningKey>, FfiError> {
    with_state(|s| match s.objects.get(&h) {
        Some(Object::PrivateKey(k)) => Ok(k.clone()),
        _ => Err(bad_key_handle(h, "private")),
    })
}

pub fn public_key(h: CHM_KEY_HANDLE) -> Result<Arc<PublicKey>, FfiError> {
    with_state(|s| match s.objects.get(&h) {
        Some(Object::PublicKey(k)) => Ok(k.clone()),
        _ => Err(bad_key_handle(h, "public")),
    })
}

/// Applies `on_private` or `on_public` to the key behind `h`, whichever kind it is.
pub fn any_key<T>(
    h: CHM_KEY_HANDLE,
    on_private: impl FnOnce(&SigningKey) -> T,
    on_public: impl FnOnce(&PublicKey) -> T,
) -> Result<T, FfiError> {
    let object = with_state(|s| match s.objects.get(&h) {
        Some(Object::PrivateKey(k)) => Ok(Ok(k.clone())),
        Some(Object::PublicKey(k)) => Ok(Err(k.clone())),
        _ => Err(bad_key_handle(h, "private or public")),
    })?;
    Ok(match object {
        Ok(private) => on_private(&private),
        Err(public) => on_public(&public),
    })
}

pub fn close_token_file(h: CHM_TOKEN_FILE_HANDLE) -> Result<(), FfiError> {
    let removed = with_state(|s| match s.objects.get(&h) {
        Some(Object::TokenFile(_)) => Ok(s.objects.remove(&h)),
        _ => Err(bad_file_handle(h)),
    })?;
    drop(removed);
    Ok(())
}

pub fn close_key(h: CHM_KEY_HANDLE) -> Result<(), FfiError> {
    let removed = with_state(|s| match s.objects.get(&h) {
        Some(Object::PrivateKey(_) | Object::PublicKey(_)) => Ok(s.objects.remove(&h)),
        _ => Err(bad_key_handle(h, "private or public")),
    })?;
    drop(removed);
    Ok(())
}
