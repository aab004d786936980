// cloudhsm_mfa.hpp - a header-only C++17 wrapper over the C API of libcloudhsm_mfa
// (include/cloudhsm_mfa.h).
//
//  - `Library` initialises the library in its constructor and finalises it in its
//    destructor; create exactly one, before any other object of this header.
//  - Every failing call throws `Error`, which carries the CHM_RV code and the message of
//    CHM_GetLastError (naming the file, field and entry of a bad token file).
//  - `PrivateKey`, `PublicKey` and `TokenFile` own a handle: they are move-only, a
//    moved-from object is empty (handle CHM_INVALID_HANDLE), and the destructor closes
//    the handle.
//  - Variable-length outputs come back as std::vector<std::uint8_t> / std::string: the
//    two-call idiom of the C API is hidden.
//  - `Session` owns a session with a cluster (CHM_OpenSession ... CHM_CloseSession): it is
//    move-only and closes in its destructor, which ends its login on every HSM. A signer
//    given to `login_mfa` or `change_mfa` is any callable that signs a `Token`; an
//    exception it throws stops the operation and is rethrown once the C call returned.
//
// Link with libcloudhsm_mfa (shared or static; the static library also needs
// -lpthread -ldl -lm).
//
//     namespace chm = cloudhsm_mfa;
//     chm::Library library;
//     chm::sign_token_file("token.json", "mfa-key.pem");        // sign in place
//     chm::PublicKey pub = chm::PublicKey::load("mfa-key.pub");
//     try {
//         chm::TokenFile::load("token.json").verify(pub);
//     } catch (const chm::Error &e) {
//         // e.code() == CHMR_SIGNATURE_INVALID, e.message() names the entry, e.g.
//         // "token.json: tokens[1].signed: signature does not verify with the public key"
//     }
//
//     chm::Library library("/opt/cloudhsm/etc/cloudhsm-cli.cfg");
//     chm::PrivateKey mfa_key = chm::PrivateKey::load("mfa-key.pem");
//     chm::Session session = chm::Session::open();
//     session.login_mfa("alice", chm::Role::CryptoUser, password,
//                       [&](const chm::Token &token) { return mfa_key.sign(token); });
#ifndef CLOUDHSM_MFA_HPP
#define CLOUDHSM_MFA_HPP

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cloudhsm_mfa.h"

namespace cloudhsm_mfa {

/// A token: the 32 bytes that are signed.
using Token = std::array<std::uint8_t, CHM_TOKEN_LEN>;
/// Bytes in or out: signatures, approval data.
using Bytes = std::vector<std::uint8_t>;

/// The shape of a token file.
enum class TokenFileKind : std::uint32_t {
    Mfa = CHM_TOKEN_FILE_MFA,
    Registration = CHM_TOKEN_FILE_REGISTRATION,
    QuorumApproval = CHM_TOKEN_FILE_QUORUM_APPROVAL,
};

/// What `TokenFile::check_entry` finds for one entry.
enum class EntryStatus : std::uint32_t {
    Valid = CHM_ENTRY_VALID,
    Unsigned = CHM_ENTRY_UNSIGNED,
    Invalid = CHM_ENTRY_INVALID,
    WrongLength = CHM_ENTRY_WRONG_LENGTH,
};

/// The static text of a return code (CHM_GetReturnCodeText).
inline std::string return_code_text(CHM_RV rv) {
    const char *text = CHM_GetReturnCodeText(rv);
    return text != nullptr ? std::string(text) : std::string();
}

/// The message of this thread's last failure (CHM_GetLastError); "" if there is none.
inline std::string last_error_message() {
    for (int attempt = 0; attempt < 4; ++attempt) {
        std::size_t len = 0;
        if (CHM_GetLastError(nullptr, &len) != CHMR_OK || len == 0) {
            return std::string();
        }
        std::string text(len, '\0');
        std::size_t got = len;
        CHM_RV rv = CHM_GetLastError(&text[0], &got);
        if (rv == CHMR_OK) {
            text.resize(got > 0 ? got - 1 : 0);  // drop the NUL
            return text;
        }
        if (rv != CHMR_BUFFER_TOO_SMALL) {
            break;
        }
    }
    return std::string();
}

/// A failed call: the return code, the C function that failed and the library's message.
class Error : public std::runtime_error {
  public:
    Error(CHM_RV code, std::string function, std::string message,
          std::uint32_t approvals_present = 0, std::uint32_t approvals_required = 0)
        : std::runtime_error(describe(code, function, message)),
          code_(code),
          function_(std::move(function)),
          message_(std::move(message)),
          present_(approvals_present),
          required_(approvals_required) {}

    /// The CHM_RV code (CHMR_TOKEN_FILE_INVALID, CHMR_SIGNATURE_INVALID, ...).
    CHM_RV code() const noexcept { return code_; }
    /// The name of the C function that failed, such as "CHM_TokenFileLoad".
    const std::string &function() const noexcept { return function_; }
    /// The message of CHM_GetLastError for the failure.
    const std::string &message() const noexcept { return message_; }
    /// For a quorum refusal (CHMR_QUORUM_APPROVAL_REQUIRED, CHMR_QUORUM_TOO_FEW): the valid
    /// approvals an HSM counted; 0 otherwise.
    std::uint32_t approvals_present() const noexcept { return present_; }
    /// For a quorum refusal: the approvals the service requires; 0 otherwise.
    std::uint32_t approvals_required() const noexcept { return required_; }

  private:
    static std::string describe(CHM_RV code, const std::string &function,
                                const std::string &message) {
        static const char hex[] = "0123456789abcdef";
        std::string code_hex;
        for (int shift = 28; shift >= 0; shift -= 4) {
            code_hex += hex[(code >> shift) & 0xFu];
        }
        std::string text = function + " failed (" + return_code_text(code) + ", 0x" + code_hex + ")";
        if (!message.empty()) {
            text += ": " + message;
        }
        return text;
    }

    CHM_RV code_;
    std::string function_;
    std::string message_;
    std::uint32_t present_;
    std::uint32_t required_;
};

namespace detail {

inline void check(CHM_RV rv, const char *function) {
    if (rv != CHMR_OK) {
        std::string message = last_error_message();
        std::uint32_t present = 0, required = 0;
        if (CHM_GetLastErrorApprovals(&present, &required) != CHMR_OK) {
            present = required = 0;
        }
        throw Error(rv, function, std::move(message), present, required);
    }
}

/// A string for the C API: one with a NUL byte inside would be cut short, so refuse it.
inline const char *c_string(const std::string &s, const char *function, const char *what) {
    if (s.find('\0') != std::string::npos) {
        throw Error(CHMR_ARGUMENTS_BAD, function, std::string(what) + " contains a NUL byte");
    }
    return s.c_str();
}

inline const char *c_string_or_null(const std::optional<std::string> &s, const char *function,
                                    const char *what) {
    return s ? c_string(*s, function, what) : nullptr;
}

/// Runs a two-call-idiom function `call(buf, &len)` and returns all its bytes.
template <class Call>
Bytes read_bytes(const char *function, Call call) {
    for (int attempt = 0;; ++attempt) {
        std::size_t len = 0;
        check(call(nullptr, &len), function);
        Bytes out(len);
        if (len == 0) {
            return out;
        }
        CHM_RV rv = call(out.data(), &len);
        if (rv == CHMR_BUFFER_TOO_SMALL && attempt < 3) {
            continue;  // the object grew between the two calls (another thread)
        }
        check(rv, function);
        out.resize(len);
        return out;
    }
}

/// As read_bytes, for NUL-terminated text.
template <class Call>
std::string read_text(const char *function, Call call) {
    for (int attempt = 0;; ++attempt) {
        std::size_t len = 0;
        check(call(nullptr, &len), function);
        if (len == 0) {
            return std::string();
        }
        std::string out(len, '\0');
        CHM_RV rv = call(&out[0], &len);
        if (rv == CHMR_BUFFER_TOO_SMALL && attempt < 3) {
            continue;
        }
        check(rv, function);
        out.resize(len > 0 ? len - 1 : 0);
        return out;
    }
}

/// Owns one handle; `Closer::close` releases it. Move-only; moved-from holds
/// CHM_INVALID_HANDLE.
template <class Closer>
class UniqueHandle {
  public:
    UniqueHandle() noexcept = default;
    explicit UniqueHandle(std::uint64_t handle) noexcept : handle_(handle) {}
    UniqueHandle(const UniqueHandle &) = delete;
    UniqueHandle &operator=(const UniqueHandle &) = delete;
    UniqueHandle(UniqueHandle &&other) noexcept : handle_(other.release()) {}
    UniqueHandle &operator=(UniqueHandle &&other) noexcept {
        if (this != &other) {
            reset(other.release());
        }
        return *this;
    }
    ~UniqueHandle() { reset(); }

    std::uint64_t get() const noexcept { return handle_; }
    std::uint64_t release() noexcept { return std::exchange(handle_, CHM_INVALID_HANDLE); }
    /// Closes the handle held (errors ignored: a destructor must not throw) and holds `h`.
    void reset(std::uint64_t h = CHM_INVALID_HANDLE) noexcept {
        std::uint64_t old = std::exchange(handle_, h);
        if (old != CHM_INVALID_HANDLE) {
            (void)Closer::close(old);
        }
    }
    /// Closes the handle held, reporting a failure.
    void close(const char *function) {
        std::uint64_t old = release();
        if (old != CHM_INVALID_HANDLE) {
            check(Closer::close(old), function);
        }
    }

  private:
    std::uint64_t handle_ = CHM_INVALID_HANDLE;
};

struct KeyCloser {
    static CHM_RV close(std::uint64_t h) noexcept { return CHM_KeyClose(h); }
};
struct TokenFileCloser {
    static CHM_RV close(std::uint64_t h) noexcept { return CHM_TokenFileClose(h); }
};
struct SessionCloser {
    static CHM_RV close(std::uint64_t h) noexcept { return CHM_CloseSession(h); }
};

}  // namespace detail

/// The library's version and description (CHM_GetInfo).
struct Info {
    std::uint32_t major = 0;
    std::uint32_t minor = 0;
    std::uint32_t patch = 0;
    std::uint32_t function_list_version = 0;
    std::string description;
};

/// Initialises the library for its lifetime (CHM_Initialize / CHM_Finalize). Only one may
/// exist at a time: a second one throws Error with CHMR_ALREADY_INITIALIZED. Handles of
/// objects still alive when it ends become invalid.
class Library {
  public:
    Library() { detail::check(CHM_Initialize(nullptr), "CHM_Initialize"); }
    /// With an explicit cluster configuration file.
    explicit Library(const std::string &config_path) {
        CHM_INITIALIZE_ARGS args{};
        args.config_path = detail::c_string(config_path, "CHM_Initialize", "config_path");
        args.flags = 0;
        detail::check(CHM_Initialize(&args), "CHM_Initialize");
    }
    Library(const Library &) = delete;
    Library &operator=(const Library &) = delete;
    Library(Library &&) = delete;
    Library &operator=(Library &&) = delete;
    ~Library() { (void)CHM_Finalize(); }

    /// CHM_GetInfo.
    static Info info() {
        CHM_INFO raw{};
        detail::check(CHM_GetInfo(&raw), "CHM_GetInfo");
        Info out;
        out.major = raw.library_version.major;
        out.minor = raw.library_version.minor;
        out.patch = raw.library_version.patch;
        out.function_list_version = raw.function_list_version;
        std::size_t n = 0;
        while (n < sizeof raw.description && raw.description[n] != '\0') {
            ++n;
        }
        out.description.assign(raw.description, n);
        return out;
    }
};

/// An RSA public key (SubjectPublicKeyInfo or PKCS#1 PEM) for verifying signatures.
class PublicKey {
  public:
    /// An empty key (no handle).
    PublicKey() noexcept = default;
    /// Takes ownership of a handle from the C API.
    explicit PublicKey(CHM_KEY_HANDLE adopt) noexcept : handle_(adopt) {}

    /// CHM_PublicKeyLoad.
    static PublicKey load(const std::string &path) {
        CHM_KEY_HANDLE h = CHM_INVALID_HANDLE;
        detail::check(CHM_PublicKeyLoad(detail::c_string(path, "CHM_PublicKeyLoad", "path"), &h),
                      "CHM_PublicKeyLoad");
        return PublicKey(h);
    }
    /// CHM_PublicKeyFromPem.
    static PublicKey from_pem(const std::string &pem) {
        CHM_KEY_HANDLE h = CHM_INVALID_HANDLE;
        detail::check(CHM_PublicKeyFromPem(reinterpret_cast<const std::uint8_t *>(pem.data()),
                                           pem.size(), &h),
                      "CHM_PublicKeyFromPem");
        return PublicKey(h);
    }

    CHM_KEY_HANDLE handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_.get() != CHM_INVALID_HANDLE; }
    /// Gives up ownership: the caller must close the handle with CHM_KeyClose.
    CHM_KEY_HANDLE release() noexcept { return handle_.release(); }
    /// Closes the key now (CHM_KeyClose), reporting a failure; the object becomes empty.
    void close() { handle_.close("CHM_KeyClose"); }

    /// The modulus size (CHM_KeyGetBits).
    std::uint32_t bits() const {
        std::uint32_t bits = 0;
        detail::check(CHM_KeyGetBits(handle(), &bits), "CHM_KeyGetBits");
        return bits;
    }
    /// The key as SubjectPublicKeyInfo PEM, "BEGIN PUBLIC KEY" (CHM_PublicKeyToPem).
    std::string to_pem() const {
        const CHM_KEY_HANDLE key = handle();
        return detail::read_text("CHM_PublicKeyToPem", [&](char *buf, std::size_t *len) {
            return CHM_PublicKeyToPem(key, buf, len);
        });
    }
    /// Verifies a signature over a token (CHM_VerifyToken); throws Error with
    /// CHMR_SIGNATURE_INVALID or CHMR_SIGNATURE_LEN_RANGE when it does not verify.
    void verify(const Token &token, const Bytes &signature) const {
        detail::check(CHM_VerifyToken(handle(), token.data(), token.size(), signature.data(),
                                      signature.size()),
                      "CHM_VerifyToken");
    }
    /// As verify(), answering false for a signature that does not verify.
    bool verifies(const Token &token, const Bytes &signature) const {
        CHM_RV rv = CHM_VerifyToken(handle(), token.data(), token.size(), signature.data(),
                                    signature.size());
        if (rv == CHMR_SIGNATURE_INVALID || rv == CHMR_SIGNATURE_LEN_RANGE) {
            return false;
        }
        detail::check(rv, "CHM_VerifyToken");
        return true;
    }

  private:
    detail::UniqueHandle<detail::KeyCloser> handle_;
};

/// An RSA private key (2048, 3072 or 4096 bits): an unencrypted PKCS#8 or PKCS#1 PEM file,
/// or a key on a PKCS#11 token named by a `pkcs11:` URI.
class PrivateKey {
  public:
    PrivateKey() noexcept = default;
    explicit PrivateKey(CHM_KEY_HANDLE adopt) noexcept : handle_(adopt) {}

    /// CHM_PrivateKeyLoad: a PEM file, or a `pkcs11:` URI whose PIN comes from the URI,
    /// `$CLOUDHSM_MFA_PKCS11_PIN` or a prompt on a terminal.
    static PrivateKey load(const std::string &path) {
        CHM_KEY_HANDLE h = CHM_INVALID_HANDLE;
        detail::check(
            CHM_PrivateKeyLoad(detail::c_string(path, "CHM_PrivateKeyLoad", "path"), &h),
            "CHM_PrivateKeyLoad");
        return PrivateKey(h);
    }
    /// CHM_PrivateKeyOpen: as `load`, with the token's PIN given (used before the URI's
    /// and the environment's).
    static PrivateKey load(const std::string &name, const std::string &pin) {
        CHM_KEY_HANDLE h = CHM_INVALID_HANDLE;
        detail::check(CHM_PrivateKeyOpen(detail::c_string(name, "CHM_PrivateKeyOpen", "name"),
                                         detail::c_string(pin, "CHM_PrivateKeyOpen", "pin"), &h),
                      "CHM_PrivateKeyOpen");
        return PrivateKey(h);
    }
    /// CHM_PrivateKeyFromPem.
    static PrivateKey from_pem(const std::string &pem) {
        CHM_KEY_HANDLE h = CHM_INVALID_HANDLE;
        detail::check(CHM_PrivateKeyFromPem(reinterpret_cast<const std::uint8_t *>(pem.data()),
                                            pem.size(), &h),
                      "CHM_PrivateKeyFromPem");
        return PrivateKey(h);
    }

    CHM_KEY_HANDLE handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_.get() != CHM_INVALID_HANDLE; }
    CHM_KEY_HANDLE release() noexcept { return handle_.release(); }
    void close() { handle_.close("CHM_KeyClose"); }

    /// CHM_KeyGetBits.
    std::uint32_t bits() const {
        std::uint32_t bits = 0;
        detail::check(CHM_KeyGetBits(handle(), &bits), "CHM_KeyGetBits");
        return bits;
    }
    /// The public half, as a new key (CHM_PublicKeyFromPrivate).
    PublicKey public_key() const {
        CHM_KEY_HANDLE h = CHM_INVALID_HANDLE;
        detail::check(CHM_PublicKeyFromPrivate(handle(), &h), "CHM_PublicKeyFromPrivate");
        return PublicKey(h);
    }
    /// The public half as SubjectPublicKeyInfo PEM (CHM_PublicKeyToPem).
    std::string public_key_pem() const {
        const CHM_KEY_HANDLE key = handle();
        return detail::read_text("CHM_PublicKeyToPem", [&](char *buf, std::size_t *len) {
            return CHM_PublicKeyToPem(key, buf, len);
        });
    }
    /// Signs a token (CHM_SignToken); the signature is as long as the modulus.
    Bytes sign(const Token &token) const {
        const CHM_KEY_HANDLE key = handle();
        return detail::read_bytes("CHM_SignToken", [&](std::uint8_t *buf, std::size_t *len) {
            return CHM_SignToken(key, token.data(), token.size(), buf, len);
        });
    }

  private:
    detail::UniqueHandle<detail::KeyCloser> handle_;
};

/// Generates an RSA key pair and writes it as PEM files (CHM_GenerateKeyPair).
inline void generate_key_pair(std::uint32_t bits, const std::string &private_path,
                              const std::string &public_path) {
    const char *fn = "CHM_GenerateKeyPair";
    detail::check(CHM_GenerateKeyPair(bits, detail::c_string(private_path, fn, "private_path"),
                                      detail::c_string(public_path, fn, "public_path")),
                  fn);
}

/// A parsed token file: MFA, registration or quorum approval (SPEC section 2).
class TokenFile {
  public:
    TokenFile() noexcept = default;
    explicit TokenFile(CHM_TOKEN_FILE_HANDLE adopt) noexcept : handle_(adopt) {}

    /// CHM_TokenFileLoad.
    static TokenFile load(const std::string &path) {
        CHM_TOKEN_FILE_HANDLE h = CHM_INVALID_HANDLE;
        detail::check(
            CHM_TokenFileLoad(detail::c_string(path, "CHM_TokenFileLoad", "path"), &h),
            "CHM_TokenFileLoad");
        return TokenFile(h);
    }
    /// CHM_TokenFileParse, from JSON text in memory.
    static TokenFile parse(const std::string &json) {
        CHM_TOKEN_FILE_HANDLE h = CHM_INVALID_HANDLE;
        detail::check(CHM_TokenFileParse(reinterpret_cast<const std::uint8_t *>(json.data()),
                                         json.size(), &h),
                      "CHM_TokenFileParse");
        return TokenFile(h);
    }
    /// CHM_TokenFileCreateMfa: one unsigned entry per token, in order.
    static TokenFile create_mfa(const std::vector<Token> &tokens) {
        Bytes flat;
        flat.reserve(tokens.size() * CHM_TOKEN_LEN);
        for (const Token &t : tokens) {
            flat.insert(flat.end(), t.begin(), t.end());
        }
        CHM_TOKEN_FILE_HANDLE h = CHM_INVALID_HANDLE;
        detail::check(CHM_TokenFileCreateMfa(flat.data(), tokens.size(), &h),
                      "CHM_TokenFileCreateMfa");
        return TokenFile(h);
    }
    /// CHM_TokenFileCreateRegistration (1 to 245 bytes of approval data).
    static TokenFile create_registration(const Bytes &approval_data) {
        CHM_TOKEN_FILE_HANDLE h = CHM_INVALID_HANDLE;
        detail::check(
            CHM_TokenFileCreateRegistration(approval_data.data(), approval_data.size(), &h),
            "CHM_TokenFileCreateRegistration");
        return TokenFile(h);
    }
    /// CHM_TokenFileCreateApproval.
    static TokenFile create_approval(const Bytes &approval_data) {
        CHM_TOKEN_FILE_HANDLE h = CHM_INVALID_HANDLE;
        detail::check(CHM_TokenFileCreateApproval(approval_data.data(), approval_data.size(), &h),
                      "CHM_TokenFileCreateApproval");
        return TokenFile(h);
    }

    CHM_TOKEN_FILE_HANDLE handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_.get() != CHM_INVALID_HANDLE; }
    CHM_TOKEN_FILE_HANDLE release() noexcept { return handle_.release(); }
    /// Closes the file now (CHM_TokenFileClose); the object becomes empty.
    void close() { handle_.close("CHM_TokenFileClose"); }

    /// CHM_TokenFileGetKind.
    TokenFileKind kind() const {
        std::uint32_t kind = 0;
        detail::check(CHM_TokenFileGetKind(handle(), &kind), "CHM_TokenFileGetKind");
        return static_cast<TokenFileKind>(kind);
    }
    /// CHM_TokenFileGetEntryCount: tokens, or approvals of a quorum approval file.
    std::size_t entry_count() const {
        std::size_t count = 0;
        detail::check(CHM_TokenFileGetEntryCount(handle(), &count), "CHM_TokenFileGetEntryCount");
        return count;
    }
    /// CHM_TokenFileGetToken: the `unsigned` token of entry `index`.
    Token token(std::size_t index) const {
        Token t{};
        detail::check(CHM_TokenFileGetToken(handle(), index, t.data()), "CHM_TokenFileGetToken");
        return t;
    }
    /// CHM_TokenFileGetApprovalToken: what approvers of a quorum approval file sign.
    Token approval_token() const {
        Token t{};
        detail::check(CHM_TokenFileGetApprovalToken(handle(), t.data()),
                      "CHM_TokenFileGetApprovalToken");
        return t;
    }
    /// CHM_TokenFileGetSignature: empty for an unsigned token.
    Bytes signature(std::size_t index) const {
        const CHM_TOKEN_FILE_HANDLE file = handle();
        return detail::read_bytes("CHM_TokenFileGetSignature",
                                  [&](std::uint8_t *buf, std::size_t *len) {
                                      return CHM_TokenFileGetSignature(file, index, buf, len);
                                  });
    }
    /// CHM_TokenFileGetApprovalData.
    Bytes approval_data(std::size_t index = 0) const {
        const CHM_TOKEN_FILE_HANDLE file = handle();
        return detail::read_bytes("CHM_TokenFileGetApprovalData",
                                  [&](std::uint8_t *buf, std::size_t *len) {
                                      return CHM_TokenFileGetApprovalData(file, index, buf, len);
                                  });
    }
    /// CHM_TokenFileGetApprover: the (lower-case) user name of approval `index`.
    std::string approver(std::size_t index) const {
        const CHM_TOKEN_FILE_HANDLE file = handle();
        return detail::read_text("CHM_TokenFileGetApprover", [&](char *buf, std::size_t *len) {
            return CHM_TokenFileGetApprover(file, index, buf, len);
        });
    }

    /// CHM_TokenFileSign: signs every token of an MFA or registration file.
    void sign(const PrivateKey &key) {
        detail::check(CHM_TokenFileSign(handle(), key.handle(), nullptr), "CHM_TokenFileSign");
    }
    /// CHM_TokenFileSign: adds or replaces `approver`'s approval of a quorum approval file.
    void sign(const PrivateKey &key, const std::string &approver) {
        const char *fn = "CHM_TokenFileSign";
        detail::check(
            CHM_TokenFileSign(handle(), key.handle(), detail::c_string(approver, fn, "approver")),
            fn);
    }
    /// CHM_TokenFileSetSignature.
    void set_signature(std::size_t index, const Bytes &signature) {
        detail::check(
            CHM_TokenFileSetSignature(handle(), index, signature.data(), signature.size()),
            "CHM_TokenFileSetSignature");
    }
    /// CHM_TokenFileAddApproval.
    void add_approval(const std::string &approver, const Bytes &signature) {
        const char *fn = "CHM_TokenFileAddApproval";
        detail::check(CHM_TokenFileAddApproval(handle(), detail::c_string(approver, fn, "approver"),
                                               signature.data(), signature.size()),
                      fn);
    }
    /// CHM_TokenFileVerify: every token of an MFA or registration file; throws Error
    /// naming the first entry that fails.
    void verify(const PublicKey &key) const {
        detail::check(CHM_TokenFileVerify(handle(), key.handle(), nullptr),
                      "CHM_TokenFileVerify");
    }
    /// CHM_TokenFileVerify: `approver`'s approval of a quorum approval file.
    void verify(const PublicKey &key, const std::string &approver) const {
        const char *fn = "CHM_TokenFileVerify";
        detail::check(CHM_TokenFileVerify(handle(), key.handle(),
                                          detail::c_string(approver, fn, "approver")),
                      fn);
    }
    /// CHM_TokenFileCheckEntry.
    EntryStatus check_entry(const PublicKey &key, std::size_t index) const {
        std::uint32_t status = 0;
        detail::check(CHM_TokenFileCheckEntry(handle(), key.handle(), index, &status),
                      "CHM_TokenFileCheckEntry");
        return static_cast<EntryStatus>(status);
    }
    /// CHM_TokenFileWrite: atomically, mode 0600, never through a symbolic link.
    void write(const std::string &path) const {
        const char *fn = "CHM_TokenFileWrite";
        detail::check(CHM_TokenFileWrite(handle(), detail::c_string(path, fn, "path")), fn);
    }
    /// CHM_TokenFileToJson.
    std::string to_json() const {
        const CHM_TOKEN_FILE_HANDLE file = handle();
        return detail::read_text("CHM_TokenFileToJson", [&](char *buf, std::size_t *len) {
            return CHM_TokenFileToJson(file, buf, len);
        });
    }

  private:
    detail::UniqueHandle<detail::TokenFileCloser> handle_;
};

/// CHM_SignTokenFile: reads the token file at `token_path`, signs it with the private key
/// file at `key_path` (as `approver` for a quorum approval file) and writes it to
/// `output_path`, or back in place. On failure nothing is written.
inline void sign_token_file(const std::string &token_path, const std::string &key_path,
                            const std::optional<std::string> &output_path = std::nullopt,
                            const std::optional<std::string> &approver = std::nullopt) {
    const char *fn = "CHM_SignTokenFile";
    detail::check(CHM_SignTokenFile(detail::c_string(token_path, fn, "token_path"),
                                    detail::c_string(key_path, fn, "key_path"),
                                    detail::c_string_or_null(output_path, fn, "output_path"),
                                    detail::c_string_or_null(approver, fn, "approver")),
                  fn);
}

/// A quorum service (CHM_SERVICE_*).
enum class Service : std::uint32_t {
    User = CHM_SERVICE_USER,
    Quorum = CHM_SERVICE_QUORUM,
    Registration = CHM_SERVICE_REGISTRATION,
};

/// Whose quorum tokens Session::delete_quorum_tokens ends (CHM_QUORUM_SCOPE_*).
enum class QuorumScope : std::uint32_t {
    User = CHM_QUORUM_SCOPE_USER,
    All = CHM_QUORUM_SCOPE_ALL,
};

/// An MFA factor (CHM_FACTOR_*), usable as a bit of a mask.
enum class Factor : std::uint32_t {
    TokenSign = CHM_FACTOR_TOKEN_SIGN,
    SoftwareToken = CHM_FACTOR_SOFTWARE_TOKEN,
    Sms = CHM_FACTOR_SMS,
    Email = CHM_FACTOR_EMAIL,
};

/// Where a login stands after Session::login_start or login_select (CHM_LOGIN_STEP).
struct LoginStep {
    enum class Kind : std::uint32_t {
        Done = CHM_STEP_DONE,
        TokenSign = CHM_STEP_TOKEN_SIGN,
        Code = CHM_STEP_CODE,
        Select = CHM_STEP_SELECT,
    };
    Kind kind = Kind::Done;
    /// For Kind::Code: the factor whose code is asked for.
    std::uint32_t factor = 0;
    /// For Kind::Select: the CHM_FACTOR_* bits to choose from.
    std::uint32_t factors = 0;
    /// For an SMS or email code: where it went, masked.
    std::string destination;
};

/// A user's MFA preferences: a mask of CHM_FACTOR_* and the preferred one (0: none).
struct MfaPreferences {
    std::uint32_t enabled = 0;
    std::uint32_t preferred = 0;
};

/// A new software token: the base32 secret and the otpauth:// URI, shown once.
struct SoftwareTokenSecret {
    std::string secret;
    std::string uri;
};

/// A user's role (CHM_ROLE_*).
enum class Role : std::uint32_t {
    Admin = CHM_ROLE_ADMIN,
    CryptoUser = CHM_ROLE_CRYPTO_USER,
    UnactivatedAdmin = CHM_ROLE_UNACTIVATED_ADMIN,
};

/// Signs a token for `Session::login_mfa` and `Session::change_mfa`: returns the
/// RSASSA-PKCS1-v1_5 signature over the token as a SHA-256 digest (what
/// `PrivateKey::sign` makes), at most CHM_MAX_SIGNATURE_LEN bytes. It is called on the
/// thread of the call that uses it, once per token and one token at a time; from inside it
/// any function may be called except on the session whose operation called it and
/// CHM_Finalize, which answer CHMR_OPERATION_ACTIVE. It may throw to stop the operation.
using Signer = std::function<Bytes(const Token &)>;

namespace detail {

/// Carries a Signer through CHM_SIGN_CALLBACK's user_data. An exception the signer throws
/// is kept (the first one) and the callback answers CHMR_FUNCTION_FAILED, which stops the
/// C call; `rethrow_if_failed` throws it after the call returned. The library calls the
/// callback never twice at once, so the fields need no lock.
class SignerBridge {
  public:
    explicit SignerBridge(const Signer &signer) : signer_(signer) {}

    static CHM_RV callback(void *user_data, const std::uint8_t *token, std::size_t token_len,
                           std::uint8_t *sig, std::size_t sig_len,
                           std::size_t *sig_out_len) noexcept {
        auto *self = static_cast<SignerBridge *>(user_data);
        if (self->failure_) {
            return CHMR_FUNCTION_FAILED;  // stopped already: do not call the signer again
        }
        try {
            if (token == nullptr || token_len != CHM_TOKEN_LEN || sig == nullptr ||
                sig_out_len == nullptr) {
                throw Error(CHMR_ARGUMENTS_BAD, "CHM_SIGN_CALLBACK",
                            "the library passed a token of " + std::to_string(token_len) +
                                " bytes or a NULL pointer");
            }
            Token t{};
            std::copy(token, token + CHM_TOKEN_LEN, t.begin());
            const Bytes signature = self->signer_(t);
            if (signature.empty() || signature.size() > sig_len) {
                throw Error(CHMR_ARGUMENTS_BAD, "CHM_SIGN_CALLBACK",
                            "the signer returned a signature of " +
                                std::to_string(signature.size()) + " bytes; 1 to " +
                                std::to_string(sig_len) + " fit");
            }
            std::copy(signature.begin(), signature.end(), sig);
            *sig_out_len = signature.size();
            return CHMR_OK;
        } catch (...) {
            self->failure_ = std::current_exception();
            return CHMR_FUNCTION_FAILED;
        }
    }

    /// Rethrows what the signer threw, if it threw.
    void rethrow_if_failed() const {
        if (failure_) {
            std::rethrow_exception(failure_);
        }
    }

  private:
    const Signer &signer_;
    std::exception_ptr failure_;
};

inline std::uint32_t change_flags(bool change_quorum) {
    return change_quorum ? static_cast<std::uint32_t>(CHMF_CHANGE_QUORUM) : 0u;
}

}  // namespace detail

/// A session with a cluster (CHM_OpenSession): its login, user management and MFA keys.
/// Move-only; a moved-from Session is empty; the destructor closes the session
/// (CHM_CloseSession), which ends its login on every HSM. One session may be used from
/// several threads (the library runs one call at a time per session); use one session per
/// thread for parallel logins.
class Session {
  public:
    /// An empty session (no handle).
    Session() noexcept = default;
    /// Takes ownership of a handle from the C API.
    explicit Session(CHM_SESSION_HANDLE adopt) noexcept : handle_(adopt) {}

    /// CHM_OpenSession with the only cluster of the configuration.
    static Session open() {
        CHM_SESSION_HANDLE h = CHM_INVALID_HANDLE;
        detail::check(CHM_OpenSession(nullptr, &h), "CHM_OpenSession");
        return Session(h);
    }
    /// CHM_OpenSession with the cluster whose cluster_id is `cluster_id`.
    static Session open(const std::string &cluster_id) {
        const char *fn = "CHM_OpenSession";
        CHM_SESSION_HANDLE h = CHM_INVALID_HANDLE;
        detail::check(CHM_OpenSession(detail::c_string(cluster_id, fn, "cluster_id"), &h), fn);
        return Session(h);
    }

    CHM_SESSION_HANDLE handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_.get() != CHM_INVALID_HANDLE; }
    /// Gives up ownership: the caller must close the handle with CHM_CloseSession.
    CHM_SESSION_HANDLE release() noexcept { return handle_.release(); }
    /// Closes the session now (CHM_CloseSession), reporting a failure; the object becomes
    /// empty.
    void close() { handle_.close("CHM_CloseSession"); }

    /// CHM_Login: a password login. A user with MFA throws Error with CHMR_MFA_REQUIRED.
    void login(const std::string &username, Role role, const std::string &password) {
        const char *fn = "CHM_Login";
        detail::check(CHM_Login(handle(), detail::c_string(username, fn, "username"),
                                static_cast<std::uint32_t>(role),
                                detail::c_string(password, fn, "password")),
                      fn);
    }

    /// CHM_LoginMfaBegin: checks the password and writes the HSMs' tokens to `token_path`.
    void login_mfa_begin(const std::string &username, Role role, const std::string &password,
                         const std::string &token_path) {
        const char *fn = "CHM_LoginMfaBegin";
        detail::check(CHM_LoginMfaBegin(handle(), detail::c_string(username, fn, "username"),
                                        static_cast<std::uint32_t>(role),
                                        detail::c_string(password, fn, "password"),
                                        detail::c_string(token_path, fn, "token_path")),
                      fn);
    }

    /// CHM_LoginMfaFinish: returns the signatures of `signed_path`, or of the file that
    /// login_mfa_begin wrote.
    void login_mfa_finish(const std::optional<std::string> &signed_path = std::nullopt) {
        const char *fn = "CHM_LoginMfaFinish";
        detail::check(CHM_LoginMfaFinish(handle(),
                                         detail::c_string_or_null(signed_path, fn, "signed_path")),
                      fn);
    }

    /// CHM_LoginMfaWithSigner: a token-sign MFA login in one call; `signer` signs each
    /// HSM's token. An exception thrown by `signer` stops the login and is rethrown here.
    void login_mfa(const std::string &username, Role role, const std::string &password,
                   const Signer &signer) {
        const char *fn = "CHM_LoginMfaWithSigner";
        const char *user = detail::c_string(username, fn, "username");
        const char *pass = detail::c_string(password, fn, "password");
        detail::SignerBridge bridge(signer);
        const CHM_RV rv =
            CHM_LoginMfaWithSigner(handle(), user, static_cast<std::uint32_t>(role), pass,
                                   &detail::SignerBridge::callback, &bridge);
        bridge.rethrow_if_failed();
        detail::check(rv, fn);
    }

    /// CHM_Logout.
    void logout() { detail::check(CHM_Logout(handle()), "CHM_Logout"); }

    /// CHM_ChangeMfaBegin: writes the HSMs' registration tokens to `token_path`, to be
    /// signed with the NEW private key.
    void change_mfa_begin(const std::string &username, Role role, const std::string &token_path) {
        const char *fn = "CHM_ChangeMfaBegin";
        detail::check(CHM_ChangeMfaBegin(handle(), detail::c_string(username, fn, "username"),
                                         static_cast<std::uint32_t>(role),
                                         detail::c_string(token_path, fn, "token_path")),
                      fn);
    }

    /// CHM_ChangeMfaFinish: registers the key of `public_key_path` (PEM) with the
    /// signatures of `signed_path` (or of the file change_mfa_begin wrote), sets the
    /// user's password, and with `change_quorum` the quorum key too.
    void change_mfa_finish(const std::optional<std::string> &signed_path,
                           const std::string &public_key_path, const std::string &new_password,
                           bool change_quorum = false) {
        const char *fn = "CHM_ChangeMfaFinish";
        detail::check(
            CHM_ChangeMfaFinish(handle(), detail::c_string_or_null(signed_path, fn, "signed_path"),
                                detail::c_string(public_key_path, fn, "public_key_path"),
                                detail::c_string(new_password, fn, "new_password"),
                                detail::change_flags(change_quorum)),
            fn);
    }

    /// CHM_ChangeMfaWithSigner: registers or rotates the MFA key of `public_key_path` in
    /// one call; `signer` signs with its private key. An exception thrown by `signer` stops
    /// the change and is rethrown here.
    void change_mfa(const std::string &username, Role role, const std::string &public_key_path,
                    const std::string &new_password, const Signer &signer,
                    bool change_quorum = false) {
        const char *fn = "CHM_ChangeMfaWithSigner";
        const char *user = detail::c_string(username, fn, "username");
        const char *pub = detail::c_string(public_key_path, fn, "public_key_path");
        const char *pass = detail::c_string(new_password, fn, "new_password");
        detail::SignerBridge bridge(signer);
        const CHM_RV rv = CHM_ChangeMfaWithSigner(
            handle(), user, static_cast<std::uint32_t>(role), pub, pass,
            detail::change_flags(change_quorum), &detail::SignerBridge::callback, &bridge);
        bridge.rethrow_if_failed();
        detail::check(rv, fn);
    }

    /// CHM_DeregisterMfa: removes the user's MFA key (and quorum key) and sets its password.
    void deregister_mfa(const std::string &username, Role role, const std::string &new_password,
                        bool change_quorum = false) {
        const char *fn = "CHM_DeregisterMfa";
        detail::check(CHM_DeregisterMfa(handle(), detail::c_string(username, fn, "username"),
                                        static_cast<std::uint32_t>(role),
                                        detail::c_string(new_password, fn, "new_password"),
                                        detail::change_flags(change_quorum)),
                      fn);
    }

    /// CHM_CreateUser (an admin's session).
    void create_user(const std::string &username, Role role, const std::string &password) {
        const char *fn = "CHM_CreateUser";
        detail::check(CHM_CreateUser(handle(), detail::c_string(username, fn, "username"),
                                     static_cast<std::uint32_t>(role),
                                     detail::c_string(password, fn, "password")),
                      fn);
    }

    /// CHM_DeleteUser (an admin's session; not a user who is logged in).
    void delete_user(const std::string &username, Role role) {
        const char *fn = "CHM_DeleteUser";
        detail::check(CHM_DeleteUser(handle(), detail::c_string(username, fn, "username"),
                                     static_cast<std::uint32_t>(role)),
                      fn);
    }

    /// CHM_ChangePassword (the user itself, or an admin; an admin also unlocks the user).
    void change_password(const std::string &username, Role role, const std::string &password) {
        const char *fn = "CHM_ChangePassword";
        detail::check(CHM_ChangePassword(handle(), detail::c_string(username, fn, "username"),
                                         static_cast<std::uint32_t>(role),
                                         detail::c_string(password, fn, "password")),
                      fn);
    }

    /// CHM_ListUsers: the users of the cluster as the JSON of `user list`
    /// ({"users": [...]}). Needs no login.
    std::string list_users() const {
        const CHM_SESSION_HANDLE session = handle();
        return detail::read_text("CHM_ListUsers", [&](char *buf, std::size_t *len) {
            return CHM_ListUsers(session, buf, len);
        });
    }

    /// CHM_ChangePasswordEx: sets the password and, with `deregister_mfa`, removes the MFA
    /// key (and with it the quorum key), with `deregister_quorum` the quorum key.
    void change_password(const std::string &username, Role role, const std::string &password,
                         bool deregister_mfa, bool deregister_quorum) {
        const char *fn = "CHM_ChangePasswordEx";
        const std::uint32_t flags =
            (deregister_mfa ? static_cast<std::uint32_t>(CHMF_DEREGISTER_MFA) : 0u) |
            (deregister_quorum ? static_cast<std::uint32_t>(CHMF_DEREGISTER_QUORUM) : 0u);
        detail::check(CHM_ChangePasswordEx(handle(), detail::c_string(username, fn, "username"),
                                           static_cast<std::uint32_t>(role),
                                           detail::c_string(password, fn, "password"), flags),
                      fn);
    }

    /// CHM_SetApproval: the quorum approval file for the session's next gated operation;
    /// used up by the operation that succeeds with it.
    void set_approval(const TokenFile &approval) {
        detail::check(CHM_SetApproval(handle(), approval.handle()), "CHM_SetApproval");
    }

    /// CHM_ClearApproval.
    void clear_approval() { detail::check(CHM_ClearApproval(handle()), "CHM_ClearApproval"); }

    /// CHM_QuorumGenerate: writes an approval file (user, quorum) or a registration file
    /// (registration) to `token_path`; the token lasts as long as this login.
    void generate_quorum_token(Service service, const std::string &token_path) {
        const char *fn = "CHM_QuorumGenerate";
        detail::check(CHM_QuorumGenerate(handle(), static_cast<std::uint32_t>(service),
                                         detail::c_string(token_path, fn, "token_path")),
                      fn);
    }

    /// CHM_QuorumListTokens: the open quorum tokens as the JSON of `quorum token-sign list`.
    std::string list_quorum_tokens() const {
        const CHM_SESSION_HANDLE session = handle();
        return detail::read_text("CHM_QuorumListTokens", [&](char *buf, std::size_t *len) {
            return CHM_QuorumListTokens(session, buf, len);
        });
    }

    /// CHM_QuorumGetValue: the quorum value of the user or quorum service.
    std::uint32_t quorum_value(Service service) const {
        std::uint32_t value = 0;
        detail::check(CHM_QuorumGetValue(handle(), static_cast<std::uint32_t>(service), &value),
                      "CHM_QuorumGetValue");
        return value;
    }

    /// CHM_QuorumSetValue (admins; gated by the quorum service).
    void set_quorum_value(Service service, std::uint32_t value) {
        detail::check(CHM_QuorumSetValue(handle(), static_cast<std::uint32_t>(service), value),
                      "CHM_QuorumSetValue");
    }

    /// CHM_QuorumDeleteTokens.
    void delete_quorum_tokens(QuorumScope scope) {
        detail::check(CHM_QuorumDeleteTokens(handle(), static_cast<std::uint32_t>(scope)),
                      "CHM_QuorumDeleteTokens");
    }

    /// CHM_RegisterQuorumKey: the key of `public_key_path` from the signed registration
    /// file `signed_path`.
    void register_quorum_key(const std::string &public_key_path, const std::string &signed_path) {
        const char *fn = "CHM_RegisterQuorumKey";
        detail::check(CHM_RegisterQuorumKey(handle(),
                                            detail::c_string(public_key_path, fn, "public_key_path"),
                                            detail::c_string(signed_path, fn, "signed_path")),
                      fn);
    }

    /// CHM_RegisterQuorumKeyWithSigner: the key of `public_key_path` in one call; `signer`
    /// signs each HSM's registration token with its private key.
    void register_quorum_key(const std::string &public_key_path, const Signer &signer) {
        const char *fn = "CHM_RegisterQuorumKeyWithSigner";
        const char *pub = detail::c_string(public_key_path, fn, "public_key_path");
        detail::SignerBridge bridge(signer);
        const CHM_RV rv = CHM_RegisterQuorumKeyWithSigner(handle(), pub,
                                                          &detail::SignerBridge::callback, &bridge);
        bridge.rethrow_if_failed();
        detail::check(rv, fn);
    }

    /// CHM_SetMfaPreference: `settings` as Cognito's SetUserMFAPreference (each field
    /// CHM_SETTING_UNSET, _FALSE or _TRUE); returns the result.
    MfaPreferences set_mfa_preference(const std::string &username, Role role,
                                      const CHM_MFA_SETTINGS &settings) {
        const char *fn = "CHM_SetMfaPreference";
        MfaPreferences out;
        detail::check(CHM_SetMfaPreference(handle(), detail::c_string(username, fn, "username"),
                                           static_cast<std::uint32_t>(role), &settings,
                                           &out.enabled, &out.preferred),
                      fn);
        return out;
    }

    /// CHM_GetMfaPreference (role 0: whatever the user's role is).
    MfaPreferences get_mfa_preference(const std::string &username, std::uint32_t role = 0) const {
        const char *fn = "CHM_GetMfaPreference";
        MfaPreferences out;
        detail::check(CHM_GetMfaPreference(handle(), detail::c_string(username, fn, "username"),
                                           role, &out.enabled, &out.preferred),
                      fn);
        return out;
    }

    /// CHM_AssociateSoftwareToken: a new secret for the logged-in user; `account` names it
    /// in the URI.
    SoftwareTokenSecret associate_software_token(const std::string &account) {
        const char *fn = "CHM_AssociateSoftwareToken";
        const char *acc = detail::c_string(account, fn, "account");
        std::size_t secret_len = 0, uri_len = 0;
        detail::check(CHM_AssociateSoftwareToken(handle(), acc, nullptr, &secret_len, nullptr, &uri_len), fn);
        std::string secret(secret_len, '\0'), uri(uri_len, '\0');
        detail::check(CHM_AssociateSoftwareToken(handle(), acc, &secret[0], &secret_len, &uri[0], &uri_len), fn);
        secret.resize(secret_len - 1);
        uri.resize(uri_len - 1);
        return SoftwareTokenSecret{secret, uri};
    }

    /// CHM_VerifySoftwareToken.
    void verify_software_token(const std::string &code,
                               const std::optional<std::string> &device_name = std::nullopt) {
        const char *fn = "CHM_VerifySoftwareToken";
        detail::check(CHM_VerifySoftwareToken(handle(), detail::c_string(code, fn, "code"),
                                              detail::c_string_or_null(device_name, fn, "device_name")),
                      fn);
    }

    /// CHM_UpdateAttributes: the phone number and/or email of a user.
    void update_attributes(const std::string &username, Role role,
                           const std::optional<std::string> &phone_number,
                           const std::optional<std::string> &email) {
        const char *fn = "CHM_UpdateAttributes";
        detail::check(CHM_UpdateAttributes(handle(), detail::c_string(username, fn, "username"),
                                           static_cast<std::uint32_t>(role),
                                           detail::c_string_or_null(phone_number, fn, "phone_number"),
                                           detail::c_string_or_null(email, fn, "email")),
                      fn);
    }

    /// CHM_LoginStart: the password, then the next step.
    LoginStep login_start(const std::string &username, Role role, const std::string &password,
                          const std::optional<std::string> &token_path = std::nullopt) {
        const char *fn = "CHM_LoginStart";
        CHM_LOGIN_STEP raw{};
        detail::check(CHM_LoginStart(handle(), detail::c_string(username, fn, "username"),
                                     static_cast<std::uint32_t>(role),
                                     detail::c_string(password, fn, "password"),
                                     detail::c_string_or_null(token_path, fn, "token_path"), &raw),
                      fn);
        return step_of(raw);
    }

    /// CHM_LoginSelect: answers a selection step.
    LoginStep login_select(Factor factor, const std::optional<std::string> &token_path = std::nullopt) {
        const char *fn = "CHM_LoginSelect";
        CHM_LOGIN_STEP raw{};
        detail::check(CHM_LoginSelect(handle(), static_cast<std::uint32_t>(factor),
                                      detail::c_string_or_null(token_path, fn, "token_path"), &raw),
                      fn);
        return step_of(raw);
    }

    /// CHM_LoginCode: answers a code step and finishes the login.
    void login_code(const std::string &code) {
        const char *fn = "CHM_LoginCode";
        detail::check(CHM_LoginCode(handle(), detail::c_string(code, fn, "code")), fn);
    }

    /// CHM_LoginSignWith: answers a token-sign step with `signer`.
    void login_sign_with(const Signer &signer) {
        detail::SignerBridge bridge(signer);
        const CHM_RV rv = CHM_LoginSignWith(handle(), &detail::SignerBridge::callback, &bridge);
        bridge.rethrow_if_failed();
        detail::check(rv, "CHM_LoginSignWith");
    }

    /// CHM_ActivateCluster: the first admin of a new cluster gets `password`.
    void activate_cluster(const std::string &password) {
        const char *fn = "CHM_ActivateCluster";
        detail::check(CHM_ActivateCluster(handle(), detail::c_string(password, fn, "password")),
                      fn);
    }

  private:
    static LoginStep step_of(const CHM_LOGIN_STEP &raw) {
        LoginStep step;
        step.kind = static_cast<LoginStep::Kind>(raw.kind);
        step.factor = raw.factor;
        step.factors = raw.factors;
        std::size_t n = 0;
        while (n < sizeof raw.destination && raw.destination[n] != '\0') {
            ++n;
        }
        step.destination.assign(raw.destination, n);
        return step;
    }

    detail::UniqueHandle<detail::SessionCloser> handle_;
};

}  // namespace cloudhsm_mfa

#endif  // CLOUDHSM_MFA_HPP
