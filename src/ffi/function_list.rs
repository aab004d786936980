//! `CHM_GetFunctionList`: a static table of every function, for callers that load the
//! library at run time. New functions are appended at the end, never inserted.

use std::ffi::{c_char, c_void};

use super::factors::*;
use super::general::*;
use super::guard::{boundary, write_out};
use super::keys::*;
use super::quorum::*;
use super::sessions::*;
use super::token_files::*;
use super::types::*;

/// Pointers to every function of the library, in a fixed order; `version` is
/// `CHM_FUNCTION_LIST_VERSION` of the library that filled it.
#[repr(C)]
pub struct CHM_FUNCTION_LIST {
    pub version: u32,
    pub CHM_Initialize: Option<unsafe extern "C" fn(args: *const CHM_INITIALIZE_ARGS) -> CHM_RV>,
    pub CHM_Finalize: Option<extern "C" fn() -> CHM_RV>,
    pub CHM_GetInfo: Option<unsafe extern "C" fn(info: *mut CHM_INFO) -> CHM_RV>,
    pub CHM_GetFunctionList:
        Option<unsafe extern "C" fn(list: *mut *const CHM_FUNCTION_LIST) -> CHM_RV>,
    pub CHM_GetLastError: Option<unsafe extern "C" fn(buf: *mut c_char, len: *mut usize) -> CHM_RV>,
    pub CHM_GetReturnCodeText: Option<extern "C" fn(rv: CHM_RV) -> *const c_char>,
    pub CHM_PrivateKeyLoad:
        Option<unsafe extern "C" fn(path: *const c_char, key: *mut CHM_KEY_HANDLE) -> CHM_RV>,
    pub CHM_PrivateKeyFromPem: Option<
        unsafe extern "C" fn(pem: *const u8, pem_len: usize, key: *mut CHM_KEY_HANDLE) -> CHM_RV,
    >,
    pub CHM_PublicKeyLoad:
        Option<unsafe extern "C" fn(path: *const c_char, key: *mut CHM_KEY_HANDLE) -> CHM_RV>,
    pub CHM_PublicKeyFromPem: Option<
        unsafe extern "C" fn(pem: *const u8, pem_len: usize, key: *mut CHM_KEY_HANDLE) -> CHM_RV,
    >,
    pub CHM_PublicKeyFromPrivate: Option<
        unsafe extern "C" fn(
            private_key: CHM_KEY_HANDLE,
            public_key: *mut CHM_KEY_HANDLE,
        ) -> CHM_RV,
    >,
    pub CHM_KeyGetBits: Option<unsafe extern "C" fn(key: CHM_KEY_HANDLE, bits: *mut u32) -> CHM_RV>,
    pub CHM_KeyClose: Option<extern "C" fn(key: CHM_KEY_HANDLE) -> CHM_RV>,
    pub CHM_GenerateKeyPair: Option<
        unsafe extern "C" fn(
            bits: u32,
            private_path: *const c_char,
            public_path: *const c_char,
        ) -> CHM_RV,
    >,
    pub CHM_SignToken: Option<
        unsafe extern "C" fn(
            key: CHM_KEY_HANDLE,
            token: *const u8,
            token_len: usize,
            sig: *mut u8,
            sig_len: *mut usize,
        ) -> CHM_RV,
    >,
    pub CHM_VerifyToken: Option<
        unsafe extern "C" fn(
            key: CHM_KEY_HANDLE,
            token: *const u8,
            token_len: usize,
            sig: *const u8,
            sig_len: usize,
        ) -> CHM_RV,
    >,
    pub CHM_TokenFileLoad: Option<
        unsafe extern "C" fn(path: *const c_char, file: *mut CHM_TOKEN_FILE_HANDLE) -> CHM_RV,
    >,
    pub CHM_TokenFileParse: Option<
        unsafe extern "C" fn(
            data: *const u8,
            len: usize,
            file: *mut CHM_TOKEN_FILE_HANDLE,
        ) -> CHM_RV,
    >,
    pub CHM_TokenFileCreateMfa: Option<
        unsafe extern "C" fn(
            tokens: *const u8,
            token_count: usize,
            file: *mut CHM_TOKEN_FILE_HANDLE,
        ) -> CHM_RV,
    >,
    pub CHM_TokenFileCreateRegistration: Option<
        unsafe extern "C" fn(
            data: *const u8,
            len: usize,
            file: *mut CHM_TOKEN_FILE_HANDLE,
        ) -> CHM_RV,
    >,
    pub CHM_TokenFileCreateApproval: Option<
        unsafe extern "C" fn(
            data: *const u8,
            len: usize,
            file: *mut CHM_TOKEN_FILE_HANDLE,
        ) -> CHM_RV,
    >,
    pub CHM_TokenFileGetKind:
        Option<unsafe extern "C" fn(file: CHM_TOKEN_FILE_HANDLE, kind: *mut u32) -> CHM_RV>,
    pub CHM_TokenFileGetEntryCount:
        Option<unsafe extern "C" fn(file: CHM_TOKEN_FILE_HANDLE, count: *mut usize) -> CHM_RV>,
    pub CHM_TokenFileGetToken: Option<
        unsafe extern "C" fn(file: CHM_TOKEN_FILE_HANDLE, index: usize, token: *mut u8) -> CHM_RV,
    >,
    pub CHM_TokenFileGetApprovalToken:
        Option<unsafe extern "C" fn(file: CHM_TOKEN_FILE_HANDLE, token: *mut u8) -> CHM_RV>,
    pub CHM_TokenFileGetSignature: Option<
        unsafe extern "C" fn(
            file: CHM_TOKEN_FILE_HANDLE,
            index: usize,
            buf: *mut u8,
            len: *mut usize,
        ) -> CHM_RV,
    >,
    pub CHM_TokenFileGetApprovalData: Option<
        unsafe extern "C" fn(
            file: CHM_TOKEN_FILE_HANDLE,
            index: usize,
            buf: *mut u8,
            len: *mut usize,
        ) -> CHM_RV,
    >,
    pub CHM_TokenFileGetApprover: Option<
        unsafe extern "C" fn(
            file: CHM_TOKEN_FILE_HANDLE,
            index: usize,
            buf: *mut c_char,
            len: *mut usize,
        ) -> CHM_RV,
    >,
    pub CHM_TokenFileSign: Option<
        unsafe extern "C" fn(
            file: CHM_TOKEN_FILE_HANDLE,
            key: CHM_KEY_HANDLE,
            approver: *const c_char,
        ) -> CHM_RV,
    >,
    pub CHM_TokenFileSetSignature: Option<
        unsafe extern "C" fn(
            file: CHM_TOKEN_FILE_HANDLE,
            index: usize,
            sig: *const u8,
            sig_len: usize,
        ) -> CHM_RV,
    >,
    pub CHM_TokenFileAddApproval: Option<
        unsafe extern "C" fn(
            file: CHM_TOKEN_FILE_HANDLE,
            approver: *const c_char,
            sig: *const u8,
            sig_len: usize,
        ) -> CHM_RV,
    >,
    pub CHM_TokenFileVerify: Option<
        unsafe extern "C" fn(
            file: CHM_TOKEN_FILE_HANDLE,
            key: CHM_KEY_HANDLE,
            approver: *const c_char,
        ) -> CHM_RV,
    >,
    pub CHM_TokenFileCheckEntry: Option<
        unsafe extern "C" fn(
            file: CHM_TOKEN_FILE_HANDLE,
            key: CHM_KEY_HANDLE,
            index: usize,
            status: *mut u32,
        ) -> CHM_RV,
    >,
    pub CHM_TokenFileWrite:
        Option<unsafe extern "C" fn(file: CHM_TOKEN_FILE_HANDLE, path: *const c_char) -> CHM_RV>,
    pub CHM_TokenFileToJson: Option<
        unsafe extern "C" fn(
            file: CHM_TOKEN_FILE_HANDLE,
            buf: *mut c_char,
            len: *mut usize,
        ) -> CHM_RV,
    >,
    pub CHM_TokenFileClose: Option<extern "C" fn(file: CHM_TOKEN_FILE_HANDLE) -> CHM_RV>,
    pub CHM_SignTokenFile: Option<
        unsafe extern "C" fn(
            token_path: *const c_char,
            key_path: *const c_char,
            output_path: *const c_char,
            approver: *const c_char,
        ) -> CHM_RV,
    >,
    pub CHM_PublicKeyToPem: Option<
        unsafe extern "C" fn(key: CHM_KEY_HANDLE, buf: *mut c_char, len: *mut usize) -> CHM_RV,
    >,
    pub CHM_OpenSession: Option<
        unsafe extern "C" fn(cluster_id: *const c_char, session: *mut CHM_SESSION_HANDLE) -> CHM_RV,
    >,
    pub CHM_CloseSession: Option<extern "C" fn(session: CHM_SESSION_HANDLE) -> CHM_RV>,
    pub CHM_Login: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            username: *const c_char,
            role: u32,
            password: *const c_char,
        ) -> CHM_RV,
    >,
    pub CHM_LoginMfaBegin: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            username: *const c_char,
            role: u32,
            password: *const c_char,
            token_path: *const c_char,
        ) -> CHM_RV,
    >,
    pub CHM_LoginMfaFinish: Option<
        unsafe extern "C" fn(session: CHM_SESSION_HANDLE, signed_path: *const c_char) -> CHM_RV,
    >,
    pub CHM_LoginMfaWithSigner: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            username: *const c_char,
            role: u32,
            password: *const c_char,
            callback: CHM_SIGN_CALLBACK,
            user_data: *mut c_void,
        ) -> CHM_RV,
    >,
    pub CHM_Logout: Option<extern "C" fn(session: CHM_SESSION_HANDLE) -> CHM_RV>,
    pub CHM_ChangeMfaBegin: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            username: *const c_char,
            role: u32,
            token_path: *const c_char,
        ) -> CHM_RV,
    >,
    pub CHM_ChangeMfaFinish: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            signed_path: *const c_char,
            public_key_path: *const c_char,
            new_password: *const c_char,
            flags: u32,
        ) -> CHM_RV,
    >,
    pub CHM_ChangeMfaWithSigner: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            username: *const c_char,
            role: u32,
            public_key_path: *const c_char,
            new_password: *const c_char,
            flags: u32,
            callback: CHM_SIGN_CALLBACK,
            user_data: *mut c_void,
        ) -> CHM_RV,
    >,
    pub CHM_DeregisterMfa: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            username: *const c_char,
            role: u32,
            new_password: *const c_char,
            flags: u32,
        ) -> CHM_RV,
    >,
    pub CHM_CreateUser: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            username: *const c_char,
            role: u32,
            password: *const c_char,
        ) -> CHM_RV,
    >,
    pub CHM_DeleteUser: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            username: *const c_char,
            role: u32,
        ) -> CHM_RV,
    >,
    pub CHM_ChangePassword: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            username: *const c_char,
            role: u32,
            password: *const c_char,
        ) -> CHM_RV,
    >,
    pub CHM_ListUsers: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            buf: *mut c_char,
            len: *mut usize,
        ) -> CHM_RV,
    >,
    pub CHM_ActivateCluster: Option<
        unsafe extern "C" fn(session: CHM_SESSION_HANDLE, password: *const c_char) -> CHM_RV,
    >,
    pub CHM_SetApproval: Option<
        extern "C" fn(session: CHM_SESSION_HANDLE, approval: CHM_TOKEN_FILE_HANDLE) -> CHM_RV,
    >,
    pub CHM_ClearApproval: Option<extern "C" fn(session: CHM_SESSION_HANDLE) -> CHM_RV>,
    pub CHM_QuorumGenerate: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            service: u32,
            token_path: *const c_char,
        ) -> CHM_RV,
    >,
    pub CHM_QuorumListTokens: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            buf: *mut c_char,
            len: *mut usize,
        ) -> CHM_RV,
    >,
    pub CHM_QuorumGetValue: Option<
        unsafe extern "C" fn(session: CHM_SESSION_HANDLE, service: u32, value: *mut u32) -> CHM_RV,
    >,
    pub CHM_QuorumSetValue:
        Option<extern "C" fn(session: CHM_SESSION_HANDLE, service: u32, value: u32) -> CHM_RV>,
    pub CHM_QuorumDeleteTokens:
        Option<extern "C" fn(session: CHM_SESSION_HANDLE, scope: u32) -> CHM_RV>,
    pub CHM_RegisterQuorumKey: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            public_key_path: *const c_char,
            signed_path: *const c_char,
        ) -> CHM_RV,
    >,
    pub CHM_RegisterQuorumKeyWithSigner: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            public_key_path: *const c_char,
            callback: CHM_SIGN_CALLBACK,
            user_data: *mut c_void,
        ) -> CHM_RV,
    >,
    pub CHM_ChangePasswordEx: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            username: *const c_char,
            role: u32,
            password: *const c_char,
            flags: u32,
        ) -> CHM_RV,
    >,
    pub CHM_GetLastErrorApprovals:
        Option<unsafe extern "C" fn(present: *mut u32, required: *mut u32) -> CHM_RV>,
    pub CHM_SetMfaPreference: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            username: *const c_char,
            role: u32,
            settings: *const CHM_MFA_SETTINGS,
            enabled: *mut u32,
            preferred: *mut u32,
        ) -> CHM_RV,
    >,
    pub CHM_GetMfaPreference: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            username: *const c_char,
            role: u32,
            enabled: *mut u32,
            preferred: *mut u32,
        ) -> CHM_RV,
    >,
    pub CHM_AssociateSoftwareToken: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            account: *const c_char,
            secret: *mut c_char,
            secret_len: *mut usize,
            uri: *mut c_char,
            uri_len: *mut usize,
        ) -> CHM_RV,
    >,
    pub CHM_VerifySoftwareToken: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            code: *const c_char,
            device_name: *const c_char,
        ) -> CHM_RV,
    >,
    pub CHM_UpdateAttributes: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            username: *const c_char,
            role: u32,
            phone_number: *const c_char,
            email: *const c_char,
        ) -> CHM_RV,
    >,
    pub CHM_LoginStart: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            username: *const c_char,
            role: u32,
            password: *const c_char,
            token_path: *const c_char,
            step: *mut CHM_LOGIN_STEP,
        ) -> CHM_RV,
    >,
    pub CHM_LoginSelect: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            factor: u32,
            token_path: *const c_char,
            step: *mut CHM_LOGIN_STEP,
        ) -> CHM_RV,
    >,
    pub CHM_LoginCode:
        Option<unsafe extern "C" fn(session: CHM_SESSION_HANDLE, code: *const c_char) -> CHM_RV>,
    pub CHM_LoginSignWith: Option<
        unsafe extern "C" fn(
            session: CHM_SESSION_HANDLE,
            callback: CHM_SIGN_CALLBACK,
            user_data: *mut c_void,
        ) -> CHM_RV,
    >,
    // Version 6: keys on PKCS#11 tokens.
    pub CHM_PrivateKeyOpen: Option<
        unsafe extern "C" fn(
            name: *const c_char,
            pin: *const c_char,
            key: *mut CHM_KEY_HANDLE,
        ) -> CHM_RV,
    >,
}

// The table's layout: `version`, then one pointer per function (75 at version 6; the
// count per version is frozen in tests/header.rs).
const _: () =
    assert!(std::mem::offset_of!(CHM_FUNCTION_LIST, CHM_Initialize) == size_of::<*const c_void>());
#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<CHM_FUNCTION_LIST>() == 8 + 75 * 8);

static FUNCTION_LIST: CHM_FUNCTION_LIST = CHM_FUNCTION_LIST {
    version: CHM_FUNCTION_LIST_VERSION,
    CHM_Initialize: Some(CHM_Initialize),
    CHM_Finalize: Some(CHM_Finalize),
    CHM_GetInfo: Some(CHM_GetInfo),
    CHM_GetFunctionList: Some(CHM_GetFunctionList),
    CHM_GetLastError: Some(CHM_GetLastError),
    CHM_GetReturnCodeText: Some(CHM_GetReturnCodeText),
    CHM_PrivateKeyLoad: Some(CHM_PrivateKeyLoad),
    CHM_PrivateKeyFromPem: Some(CHM_PrivateKeyFromPem),
    CHM_PublicKeyLoad: Some(CHM_PublicKeyLoad),
    CHM_PublicKeyFromPem: Some(CHM_PublicKeyFromPem),
    CHM_PublicKeyFromPrivate: Some(CHM_PublicKeyFromPrivate),
    CHM_KeyGetBits: Some(CHM_KeyGetBits),
    CHM_KeyClose: Some(CHM_KeyClose),
    CHM_GenerateKeyPair: Some(CHM_GenerateKeyPair),
    CHM_SignToken: Some(CHM_SignToken),
    CHM_VerifyToken: Some(CHM_VerifyToken),
    CHM_TokenFileLoad: Some(CHM_TokenFileLoad),
    CHM_TokenFileParse: Some(CHM_TokenFileParse),
    CHM_TokenFileCreateMfa: Some(CHM_TokenFileCreateMfa),
    CHM_TokenFileCreateRegistration: Some(CHM_TokenFileCreateRegistration),
    CHM_TokenFileCreateApproval: Some(CHM_TokenFileCreateApproval),
    CHM_TokenFileGetKind: Some(CHM_TokenFileGetKind),
    CHM_TokenFileGetEntryCount: Some(CHM_TokenFileGetEntryCount),
    CHM_TokenFileGetToken: Some(CHM_TokenFileGetToken),
    CHM_TokenFileGetApprovalToken: Some(CHM_TokenFileGetApprovalToken),
    CHM_TokenFileGetSignature: Some(CHM_TokenFileGetSignature),
    CHM_TokenFileGetApprovalData: Some(CHM_TokenFileGetApprovalData),
    CHM_TokenFileGetApprover: Some(CHM_TokenFileGetApprover),
    CHM_TokenFileSign: Some(CHM_TokenFileSign),
    CHM_TokenFileSetSignature: Some(CHM_TokenFileSetSignature),
    CHM_TokenFileAddApproval: Some(CHM_TokenFileAddApproval),
    CHM_TokenFileVerify: Some(CHM_TokenFileVerify),
    CHM_TokenFileCheckEntry: Some(CHM_TokenFileCheckEntry),
    CHM_TokenFileWrite: Some(CHM_TokenFileWrite),
    CHM_TokenFileToJson: Some(CHM_TokenFileToJson),
    CHM_TokenFileClose: Some(CHM_TokenFileClose),
    CHM_SignTokenFile: Some(CHM_SignTokenFile),
    CHM_PublicKeyToPem: Some(CHM_PublicKeyToPem),
    CHM_OpenSession: Some(CHM_OpenSession),
    CHM_CloseSession: Some(CHM_CloseSession),
    CHM_Login: Some(CHM_Login),
    CHM_LoginMfaBegin: Some(CHM_LoginMfaBegin),
    CHM_LoginMfaFinish: Some(CHM_LoginMfaFinish),
    CHM_LoginMfaWithSigner: Some(CHM_LoginMfaWithSigner),
    CHM_Logout: Some(CHM_Logout),
    CHM_ChangeMfaBegin: Some(CHM_ChangeMfaBegin),
    CHM_ChangeMfaFinish: Some(CHM_ChangeMfaFinish),
    CHM_ChangeMfaWithSigner: Some(CHM_ChangeMfaWithSigner),
    CHM_DeregisterMfa: Some(CHM_DeregisterMfa),
    CHM_CreateUser: Some(CHM_CreateUser),
    CHM_DeleteUser: Some(CHM_DeleteUser),
    CHM_ChangePassword: Some(CHM_ChangePassword),
    CHM_ListUsers: Some(CHM_ListUsers),
    CHM_ActivateCluster: Some(CHM_ActivateCluster),
    CHM_SetApproval: Some(CHM_SetApproval),
    CHM_ClearApproval: Some(CHM_ClearApproval),
    CHM_QuorumGenerate: Some(CHM_QuorumGenerate),
    CHM_QuorumListTokens: Some(CHM_QuorumListTokens),
    CHM_QuorumGetValue: Some(CHM_QuorumGetValue),
    CHM_QuorumSetValue: Some(CHM_QuorumSetValue),
    CHM_QuorumDeleteTokens: Some(CHM_QuorumDeleteTokens),
    CHM_RegisterQuorumKey: Some(CHM_RegisterQuorumKey),
    CHM_RegisterQuorumKeyWithSigner: Some(CHM_RegisterQuorumKeyWithSigner),
    CHM_ChangePasswordEx: Some(CHM_ChangePasswordEx),
    CHM_GetLastErrorApprovals: Some(CHM_GetLastErrorApprovals),
    CHM_SetMfaPreference: Some(CHM_SetMfaPreference),
    CHM_GetMfaPreference: Some(CHM_GetMfaPreference),
    CHM_AssociateSoftwareToken: Some(CHM_AssociateSoftwareToken),
    CHM_VerifySoftwareToken: Some(CHM_VerifySoftwareToken),
    CHM_UpdateAttributes: Some(CHM_UpdateAttributes),
    CHM_LoginStart: Some(CHM_LoginStart),
    CHM_LoginSelect: Some(CHM_LoginSelect),
    CHM_LoginCode: Some(CHM_LoginCode),
    CHM_LoginSignWith: Some(CHM_LoginSignWith),
    CHM_PrivateKeyOpen: Some(CHM_PrivateKeyOpen),
};

/// Sets `*list` to the library's static function table (never freed). Works before
/// `CHM_Initialize`.
///
/// # Safety
/// `list` must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_GetFunctionList(list: *mut *const CHM_FUNCTION_LIST) -> CHM_RV {
    boundary("CHM_GetFunctionList", || {
        // SAFETY: the caller promises `list` is writable.
        unsafe { write_out(list, &FUNCTION_LIST as *const CHM_FUNCTION_LIST, "list") }
    })
}
