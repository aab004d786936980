// Uses chm::Session of cloudhsm_mfa.hpp against a live emulator cluster, as an application
// would: an admin creates a user, registers its MFA key with a C++ lambda as the signer,
// the user logs in with a signer and in two phases, rotates and removes the key; a signer
// that throws stops the login and its exception comes out of login_mfa; RAII closes
// sessions. run-tests.sh starts the clusters: CLOUDHSM_MFA_CONFIG names the activated one,
// CHM_TEST_ADMIN_PASSWORD holds its admin's password (never printed), and
// CHM_TEST_NEW_CLUSTER_CONFIG names one to activate. Prints
// "CHECKS test_cluster_cpp passed=N failed=M" at the end and exits non-zero on a failure.
#include "cloudhsm_mfa.hpp"
#include "test_check.hpp"

#include <stdlib.h>  // mkdtemp, setenv

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace chm = cloudhsm_mfa;
namespace fs = std::filesystem;

namespace {

using test_check::record;
using test_check::section;

// The row CHM_ListUsers shows for a user on which every HSM agrees.
std::string row(const std::string &name, const std::string &role, bool locked, bool mfa,
                bool quorum) {
    const std::string enabled = "[{\"strategy\":\"token-sign\",\"status\":\"enabled\"}]";
    return "{\"username\":\"" + name + "\",\"role\":\"" + role + "\",\"locked\":\"" +
           (locked ? "true" : "false") + "\",\"mfa\":" + (mfa ? enabled : "[]") +
           ",\"quorum\":" + (quorum ? enabled : "[]") + ",\"cluster-coverage\":\"full\"}";
}

// What a signer throws in the tests: not a chm::Error, to show any exception comes through.
struct TokenRefused : std::runtime_error {
    explicit TokenRefused(const std::string &what) : std::runtime_error(what) {}
};

static_assert(!std::is_copy_constructible_v<chm::Session>);
static_assert(!std::is_copy_assignable_v<chm::Session>);
static_assert(std::is_nothrow_move_constructible_v<chm::Session>);
static_assert(std::is_nothrow_move_assignable_v<chm::Session>);
static_assert(std::is_same_v<chm::Signer,
                             std::function<std::vector<std::uint8_t>(
                                 const std::array<std::uint8_t, 32> &)>>);
static_assert(static_cast<std::uint32_t>(chm::Role::CryptoUser) == CHM_ROLE_CRYPTO_USER);

struct Env {
    std::string dir, config, new_config, admin_password;
    std::string key, pub, key2, pub2, token, signed_token;
};

// Whether no HSM sees `user` logged in, asked without changing anything: an admin may
// begin changing the MFA of a user only when it is logged in nowhere.
bool logged_out_everywhere(chm::Session &admin, const std::string &user, const Env &env) {
    try {
        admin.change_mfa_begin(user, chm::Role::CryptoUser, env.dir + "/probe.json");
        return true;
    } catch (const chm::Error &e) {
        if (e.code() != CHMR_USER_LOGGED_IN) {
            throw;
        }
        return false;
    }
}

// After a Session's destructor ran, its user is logged in on no HSM: closing waits for
// every HSM to end the login.
void check_logged_out_after_close(chm::Session &admin, const std::string &user, const Env &env) {
    CHECK(logged_out_everywhere(admin, user, env));
}

void test_open(const Env &) {
    section("Session::open: the only cluster, or one by its id");
    chm::Session s = chm::Session::open();
    CHECK(static_cast<bool>(s));
    CHECK(s.handle() != CHM_INVALID_HANDLE);
    chm::Session by_id = chm::Session::open("cluster-local");
    CHECK(by_id.handle() != s.handle());
    CHECK_THROWS(chm::Session::open("no-such-cluster"), CHMR_CLUSTER_UNKNOWN,
                 "no cluster has cluster_id \"no-such-cluster\"");
    CHECK_THROWS(chm::Session::open(std::string("cluster\0local", 13)), CHMR_ARGUMENTS_BAD,
                 "cluster_id contains a NUL byte");
    const std::string users = s.list_users();  // no login needed
    CHECK_CONTAINS(users, "{\"users\":[" + row("admin", "admin", false, false, false));
}

void test_users_and_mfa(const Env &env) {
    chm::Session admin = chm::Session::open();
    chm::PrivateKey key = chm::PrivateKey::load(env.key);
    chm::PrivateKey key2 = chm::PrivateKey::load(env.key2);
    std::atomic<int> calls{0};
    const chm::Signer sign_with_key = [&](const chm::Token &token) {
        ++calls;
        return key.sign(token);
    };

    section("an admin logs in and creates a user");
    try {
        admin.login("admin", chm::Role::Admin, "not-the-password");
        record(false, __FILE__, __LINE__, "a wrong password was accepted");
    } catch (const chm::Error &e) {
        CHECK_EQ(e.code(), static_cast<CHM_RV>(CHMR_PIN_INCORRECT));
        CHECK(e.function() == "CHM_Login");
        CHECK_CONTAINS(e.message(), "invalid user name, role or password");
    }
    CHECK_NOTHROW(admin.login("admin", chm::Role::Admin, env.admin_password));
    CHECK_THROWS(admin.login("admin", chm::Role::Admin, env.admin_password),
                 CHMR_USER_ALREADY_LOGGED_IN, "already logged in");
    CHECK_NOTHROW(admin.create_user("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-1"));
    CHECK_THROWS(admin.create_user("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-1"),
                 CHMR_USER_EXISTS, "user cpp_user already exists");
    CHECK_CONTAINS(admin.list_users(), row("cpp_user", "crypto-user", false, false, false));

    section("change_mfa: an admin registers the user's key with a lambda as the signer");
    CHECK_NOTHROW(admin.change_mfa("cpp_user", chm::Role::CryptoUser, env.pub, "cpp-user-pw-2",
                                   sign_with_key));
    CHECK_EQ(calls.load(), 3);
    CHECK_CONTAINS(admin.list_users(), row("cpp_user", "crypto-user", false, true, false));
    CHECK_CONTAINS(admin.list_users(),
                   "\"mfa\":[{\"strategy\":\"token-sign\",\"status\":\"enabled\"}]");

    section("login_mfa with a signer; a password login is refused");
    chm::Session user = chm::Session::open();
    CHECK_THROWS(user.login("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-2"),
                 CHMR_MFA_REQUIRED, "user cpp_user has MFA registered");
    calls = 0;
    CHECK_NOTHROW(user.login_mfa("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-2",
                                 sign_with_key));
    CHECK_EQ(calls.load(), 3);
    CHECK_NOTHROW(user.logout());
    CHECK_THROWS(user.logout(), CHMR_USER_NOT_LOGGED_IN, "needs a login");

    section("a signer that throws: its exception comes out of login_mfa, not logged in");
    calls = 0;
    try {
        user.login_mfa("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-2",
                       [&](const chm::Token &) -> chm::Bytes {
                           ++calls;
                           throw TokenRefused("the hardware token was unplugged");
                       });
        record(false, __FILE__, __LINE__, "login_mfa did not throw");
    } catch (const TokenRefused &e) {
        CHECK(std::string(e.what()) == "the hardware token was unplugged");
    } catch (const std::exception &e) {
        record(false, __FILE__, __LINE__, std::string("login_mfa threw another exception: ") +
                                              e.what());
    }
    CHECK(calls.load() >= 1);
    CHECK_THROWS(user.logout(), CHMR_USER_NOT_LOGGED_IN, "needs a login");
    // A chm::Error thrown by the signer comes out as it was.
    CHECK_THROWS(user.login_mfa("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-2",
                                [&](const chm::Token &) -> chm::Bytes {
                                    throw chm::Error(CHMR_DEVICE_ERROR, "my_signer",
                                                     "the smart card did not answer");
                                }),
                 CHMR_DEVICE_ERROR, "the smart card did not answer");
    // A signature that does not fit: the bridge refuses it.
    CHECK_THROWS(user.login_mfa("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-2",
                                [&](const chm::Token &) {
                                    return chm::Bytes(CHM_MAX_SIGNATURE_LEN + 1, 0x11);
                                }),
                 CHMR_ARGUMENTS_BAD, "the signer returned a signature of 513 bytes; 1 to 512 fit");
    CHECK_THROWS(user.login_mfa("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-2",
                                [&](const chm::Token &) { return chm::Bytes(); }),
                 CHMR_ARGUMENTS_BAD, "the signer returned a signature of 0 bytes");
    // A signature by another key: the HSMs refuse it.
    CHECK_THROWS(user.login_mfa("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-2",
                                [&](const chm::Token &t) { return key2.sign(t); }),
                 CHMR_SIGNATURE_INVALID, "does not verify with the MFA key registered");
    CHECK_THROWS(user.logout(), CHMR_USER_NOT_LOGGED_IN, "needs a login");

    section("login in two phases: login_mfa_begin, sign_token_file, login_mfa_finish");
    CHECK_NOTHROW(user.login_mfa_begin("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-2",
                                       env.token));
    CHECK_EQ(chm::TokenFile::load(env.token).entry_count(), static_cast<std::size_t>(3));
    CHECK_THROWS(user.login_mfa_finish(), CHMR_TOKEN_NOT_SIGNED, "tokens[0].signed: not signed");
    chm::sign_token_file(env.token, env.key, env.signed_token);
    CHECK_NOTHROW(user.login_mfa_finish(env.signed_token));
    CHECK_THROWS(user.login_mfa_finish(env.signed_token), CHMR_OPERATION_NOT_INITIALIZED,
                 "no login is waiting for a signed token file");
    CHECK_THROWS(admin.delete_user("cpp_user", chm::Role::CryptoUser), CHMR_USER_LOGGED_IN,
                 "user cpp_user is logged in");

    section("rotation in two phases by the user, with the quorum key");
    CHECK_NOTHROW(user.change_mfa_begin("cpp_user", chm::Role::CryptoUser, env.token));
    chm::sign_token_file(env.token, env.key2);
    CHECK_NOTHROW(user.change_mfa_finish(std::nullopt, env.pub2, "cpp-user-pw-3", true));
    CHECK_CONTAINS(admin.list_users(), row("cpp_user", "crypto-user", false, true, true));
    CHECK_NOTHROW(user.logout());
    CHECK_THROWS(user.login_mfa("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-3",
                                sign_with_key),
                 CHMR_SIGNATURE_INVALID, "does not verify");
    CHECK_NOTHROW(user.login_mfa("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-3",
                                 [&](const chm::Token &t) { return key2.sign(t); }));

    section("a signer that throws during change_mfa: nothing changes");
    CHECK_THROWS(user.change_mfa("cpp_user", chm::Role::CryptoUser, env.pub, "cpp-user-pw-4",
                                 [&](const chm::Token &) -> chm::Bytes {
                                     throw chm::Error(CHMR_FUNCTION_FAILED, "my_signer",
                                                      "signing refused");
                                 }),
                 CHMR_FUNCTION_FAILED, "signing refused");
    CHECK_CONTAINS(admin.list_users(), row("cpp_user", "crypto-user", false, true, true));

    section("deregister_mfa and change_password");
    CHECK_NOTHROW(user.deregister_mfa("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-4"));
    CHECK_CONTAINS(admin.list_users(), row("cpp_user", "crypto-user", false, false, false));
    CHECK_THROWS(user.deregister_mfa("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-5"),
                 CHMR_MFA_NOT_REGISTERED, "there is nothing to deregister");
    CHECK_NOTHROW(user.change_password("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-5"));
    CHECK_NOTHROW(user.logout());
    CHECK_THROWS(user.login("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-4"),
                 CHMR_PIN_INCORRECT, "invalid user name, role or password");
    CHECK_NOTHROW(user.login("cpp_user", chm::Role::CryptoUser, "cpp-user-pw-5"));

    section("RAII: the destructor closes the session, which ends its login");
    const CHM_SESSION_HANDLE raw = user.handle();
    {
        chm::Session moved = std::move(user);
        CHECK(!user);
        CHECK_EQ(moved.handle(), raw);
        CHECK_THROWS(user.logout(), CHMR_SESSION_HANDLE_INVALID, "0 is not an open session");
    }
    CHECK_EQ(CHM_Logout(raw), static_cast<CHM_RV>(CHMR_SESSION_HANDLE_INVALID));
    check_logged_out_after_close(admin, "cpp_user", env);
    CHECK_NOTHROW(admin.delete_user("cpp_user", chm::Role::CryptoUser));
    CHECK(admin.list_users().find("cpp_user") == std::string::npos);
    CHECK_THROWS(admin.delete_user("cpp_user", chm::Role::CryptoUser), CHMR_USER_NOT_FOUND,
                 "no user cpp_user with role crypto-user");

    section("RAII: move assignment closes the session it replaces; close() and release()");
    chm::Session a = chm::Session::open();
    const CHM_SESSION_HANDLE old = a.handle();
    a = chm::Session::open();
    CHECK(a.handle() != old);
    CHECK_EQ(CHM_Logout(old), static_cast<CHM_RV>(CHMR_SESSION_HANDLE_INVALID));
    CHECK_CONTAINS(a.list_users(), "\"cluster-coverage\":\"full\"");
    a.close();
    CHECK(!a);
    CHECK_NOTHROW(a.close());  // closing an empty session does nothing
    chm::Session b = chm::Session::open();
    const CHM_SESSION_HANDLE kept = b.release();
    CHECK(!b);
    CHECK_EQ(CHM_CloseSession(kept), static_cast<CHM_RV>(CHMR_OK));
    chm::Session adopted(kept);  // a closed handle: closing it fails
    CHECK_THROWS(adopted.close(), CHMR_SESSION_HANDLE_INVALID, "is not an open session handle");
}

// Quorum from C++: three admins with quorum keys (two from a signer lambda, one in two
// phases), the user service at 2, a creation refused with the counts on the exception,
// accepted with two approvals, and the approval used up.
void test_quorum(const Env &env) {
    section("quorum: keys, a value of 2, approvals");
    chm::Session admin = chm::Session::open();
    admin.login("admin", chm::Role::Admin, env.admin_password);
    const std::string key3 = env.dir + "/key3.pem", pub3 = env.dir + "/key3.pub";
    chm::generate_key_pair(2048, key3, pub3);
    const chm::PrivateKey k1 = chm::PrivateKey::load(env.key);
    const chm::PrivateKey k2 = chm::PrivateKey::load(env.key2);
    const chm::PrivateKey k3 = chm::PrivateKey::load(key3);
    admin.register_quorum_key(env.pub, [&](const chm::Token &t) { return k1.sign(t); });
    const std::string pw = "approver-pw-1";
    for (const char *name : {"q2", "q3"}) {
        admin.create_user(name, chm::Role::Admin, pw);
    }
    {
        chm::Session q2 = chm::Session::open();
        q2.login("q2", chm::Role::Admin, pw);
        q2.register_quorum_key(env.pub2, [&](const chm::Token &t) { return k2.sign(t); });
        chm::Session q3 = chm::Session::open();
        q3.login("q3", chm::Role::Admin, pw);
        const std::string reg = env.dir + "/reg.json";
        q3.generate_quorum_token(chm::Service::Registration, reg);
        chm::TokenFile file = chm::TokenFile::load(reg);
        CHECK(file.kind() == chm::TokenFileKind::Registration);
        file.sign(k3);
        file.write(reg);
        q3.register_quorum_key(pub3, reg);
    }
    CHECK(admin.quorum_value(chm::Service::User) == 1);
    admin.set_quorum_value(chm::Service::User, 2);
    CHECK(admin.quorum_value(chm::Service::User) == 2);
    try {
        admin.create_user("bob", chm::Role::CryptoUser, pw);
        CHECK(false);
    } catch (const chm::Error &e) {
        CHECK(e.code() == CHMR_QUORUM_APPROVAL_REQUIRED);
        CHECK(e.approvals_present() == 0 && e.approvals_required() == 2);
    }
    const std::string approval_path = env.dir + "/approval.json";
    admin.generate_quorum_token(chm::Service::User, approval_path);
    CHECK_CONTAINS(admin.list_quorum_tokens(), "\"username\":\"admin\",\"service\":\"user\"");
    chm::TokenFile approval = chm::TokenFile::load(approval_path);
    approval.sign(k2, "q2");
    admin.set_approval(approval);
    try {
        admin.create_user("bob", chm::Role::CryptoUser, pw);
        CHECK(false);
    } catch (const chm::Error &e) {
        CHECK(e.code() == CHMR_QUORUM_TOO_FEW);
        CHECK(e.approvals_present() == 1 && e.approvals_required() == 2);
        CHECK_CONTAINS(e.message(), "currently 1 approvals, but 2 approvals required");
    }
    approval.sign(k3, "q3");
    admin.set_approval(approval);
    admin.create_user("bob", chm::Role::CryptoUser, pw);
    CHECK_CONTAINS(admin.list_users(), row("bob", "crypto-user", false, false, false));
    admin.set_approval(approval);
    CHECK_THROWS(admin.delete_user("bob", chm::Role::CryptoUser), CHMR_QUORUM_TOKEN_INVALID,
                 "already used");
    admin.clear_approval();
    admin.delete_quorum_tokens(chm::QuorumScope::All);
}

// MFA factors from C++: a phone number, SMS preferred, a login whose code comes from the
// cluster's outbox, and a preference request refused with its code.
void test_factors(const Env &env) {
    section("MFA factors: SMS preferred, the code from the outbox");
    chm::Session admin = chm::Session::open();
    admin.login("admin", chm::Role::Admin, env.admin_password);
    admin.create_user("cpp_sms", chm::Role::CryptoUser, "cpp-sms-pw-1");
    chm::Session s = chm::Session::open();
    s.login("cpp_sms", chm::Role::CryptoUser, "cpp-sms-pw-1");
    s.update_attributes("cpp_sms", chm::Role::CryptoUser, std::string("+14155550177"), std::nullopt);
    CHM_MFA_SETTINGS settings{};
    settings.sms.enabled = CHM_SETTING_TRUE;
    settings.sms.preferred = CHM_SETTING_TRUE;
    const chm::MfaPreferences prefs = s.set_mfa_preference("cpp_sms", chm::Role::CryptoUser, settings);
    CHECK(prefs.enabled == CHM_FACTOR_SMS && prefs.preferred == CHM_FACTOR_SMS);
    settings.email.enabled = CHM_SETTING_TRUE;
    settings.email.preferred = CHM_SETTING_TRUE;
    CHECK_THROWS(s.set_mfa_preference("cpp_sms", chm::Role::CryptoUser, settings),
                 CHMR_MFA_PREFERENCE_INVALID, "only one MFA factor may be preferred");
    s.logout();
    const chm::LoginStep step = s.login_start("cpp_sms", chm::Role::CryptoUser, "cpp-sms-pw-1");
    CHECK(step.kind == chm::LoginStep::Kind::Code);
    CHECK(step.factor == CHM_FACTOR_SMS);
    CHECK(step.destination == "+*******0177");
    const fs::path outbox = fs::path(env.config).parent_path() / "outbox.jsonl";
    std::ifstream in(outbox);
    std::string line, code;
    while (std::getline(in, line)) {
        if (line.find("+14155550177") != std::string::npos) {
            const auto at = line.find("\"code\":\"");
            if (at != std::string::npos) {
                code = line.substr(at + 8, 6);
            }
        }
    }
    CHECK(code.size() == 6);
    CHECK_THROWS(s.login_code("000000"), CHMR_CODE_MISMATCH, "Invalid code");
    s.login_code(code);
    CHECK(s.get_mfa_preference("cpp_sms").enabled == CHM_FACTOR_SMS);
}

void test_activation(const Env &env) {
    section("activate_cluster on a new cluster (Library with an explicit configuration)");
    chm::Library library(env.new_config);
    chm::Session s = chm::Session::open();
    CHECK_CONTAINS(s.list_users(), row("admin", "unactivated-admin", false, false, false));
    CHECK_THROWS(s.login("admin", chm::Role::UnactivatedAdmin, "anything-1"), CHMR_CLUSTER_STATE,
                 "cluster is not activated");
    CHECK_NOTHROW(s.activate_cluster("cpp-admin-pw-1"));
    CHECK_THROWS(s.activate_cluster("cpp-admin-pw-2"), CHMR_CLUSTER_STATE,
                 "the cluster is already activated");
    CHECK_NOTHROW(s.login("admin", chm::Role::Admin, "cpp-admin-pw-1"));
    CHECK_CONTAINS(s.list_users(), row("admin", "admin", false, false, false));
}

}  // namespace

int main() {
    const char *config = std::getenv("CLOUDHSM_MFA_CONFIG");
    const char *new_config = std::getenv("CHM_TEST_NEW_CLUSTER_CONFIG");
    const char *admin_password = std::getenv("CHM_TEST_ADMIN_PASSWORD");
    std::cout << "== test_cluster_cpp" << std::endl;
    if (config == nullptr || new_config == nullptr || admin_password == nullptr) {
        std::cerr << "test_cluster_cpp needs a running cluster: run it through run-tests.sh "
                     "(make -C c-tests test)\n";
        std::cout << "CHECKS test_cluster_cpp passed=0 failed=1" << std::endl;
        return 1;
    }
    const char *base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/chm-cpp-cluster-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
        std::perror("mkdtemp");
        return 2;
    }
    Env env;
    env.dir = buf.data();
    env.config = config;
    env.new_config = new_config;
    env.admin_password = admin_password;
    env.key = env.dir + "/key.pem";
    env.pub = env.dir + "/key.pub";
    env.key2 = env.dir + "/key2.pem";
    env.pub2 = env.dir + "/key2.pub";
    env.token = env.dir + "/token.json";
    env.signed_token = env.dir + "/token-signed.json";

    try {
        {
            chm::Library library;  // the configuration from CLOUDHSM_MFA_CONFIG
            chm::generate_key_pair(2048, env.key, env.pub);
            chm::generate_key_pair(2048, env.key2, env.pub2);
            test_open(env);
            test_users_and_mfa(env);
            test_factors(env);
            test_quorum(env);  // last: it leaves user management gated by quorum
        }
        test_activation(env);
    } catch (const std::exception &e) {
        record(false, __FILE__, __LINE__, std::string("unexpected exception: ") + e.what());
    }

    std::error_code ec;
    fs::remove_all(env.dir, ec);
    CHECK(!fs::exists(env.dir));
    return test_check::finish("test_cluster_cpp");
}
