// Uses cloudhsm_mfa.hpp as an application would: generate keys, sign a token file,
// verify it, catch Error for bad input, and rely on RAII to close handles. Prints
// "CHECKS test_cloudhsm_mfa_cpp passed=N failed=M" at the end and exits non-zero on a
// failure.
#include "cloudhsm_mfa.hpp"
#include "test_check.hpp"

#include <stdlib.h>  // mkdtemp

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace chm = cloudhsm_mfa;
namespace fs = std::filesystem;

namespace {

using test_check::record;
using test_check::section;

std::string read_all(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_all(const std::string &path, const std::string &text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

std::mt19937_64 &rng() {
    static std::mt19937_64 engine(std::random_device{}());
    return engine;
}

chm::Token random_token() {
    chm::Token t{};
    for (auto &b : t) {
        b = static_cast<std::uint8_t>(rng()());
    }
    return t;
}

chm::Bytes random_bytes(std::size_t n) {
    chm::Bytes out(n);
    for (auto &b : out) {
        b = static_cast<std::uint8_t>(rng()());
    }
    return out;
}

// The RAII classes are move-only.
static_assert(!std::is_copy_constructible_v<chm::PrivateKey>);
static_assert(!std::is_copy_assignable_v<chm::PrivateKey>);
static_assert(std::is_nothrow_move_constructible_v<chm::PrivateKey>);
static_assert(std::is_nothrow_move_assignable_v<chm::PrivateKey>);
static_assert(!std::is_copy_constructible_v<chm::PublicKey>);
static_assert(std::is_nothrow_move_constructible_v<chm::PublicKey>);
static_assert(!std::is_copy_constructible_v<chm::TokenFile>);
static_assert(std::is_nothrow_move_assignable_v<chm::TokenFile>);
static_assert(!std::is_copy_constructible_v<chm::Library>);
static_assert(!std::is_move_constructible_v<chm::Library>);
static_assert(std::is_base_of_v<std::runtime_error, chm::Error>);

struct Paths {
    std::string dir;
    std::string key, pub, other_key, other_pub, login, signed_login, bad;
};

void test_before_initialise(const Paths &p) {
    section("before a Library exists, calls throw CHMR_NOT_INITIALIZED");
    CHECK_THROWS(chm::PrivateKey::load(p.key), CHMR_NOT_INITIALIZED,
                 "call CHM_Initialize first");
    CHECK_THROWS(chm::Library::info(), CHMR_NOT_INITIALIZED, "not initialised");
}

void test_library(const Paths &) {
    section("Library: one at a time, info");
    try {
        chm::Library second;
        record(false, __FILE__, __LINE__, "a second Library was created");
    } catch (const chm::Error &e) {
        CHECK_EQ(e.code(), CHMR_ALREADY_INITIALIZED);
        CHECK(e.function() == "CHM_Initialize");
        CHECK(e.message() == "the library is already initialised");
        CHECK(std::string(e.what()).find("CHM_Initialize failed (library already initialized, "
                                         "0x00000191)") != std::string::npos);
    }
    // The failed second Library did not finalise the first one.
    chm::Info info = chm::Library::info();
    CHECK_EQ(info.major, CHM_VERSION_MAJOR);
    CHECK_EQ(info.minor, CHM_VERSION_MINOR);
    CHECK_EQ(info.patch, CHM_VERSION_PATCH);
    CHECK_EQ(info.function_list_version, CHM_FUNCTION_LIST_VERSION);
    CHECK(info.description.find("libcloudhsm_mfa") != std::string::npos);
    CHECK(chm::return_code_text(CHMR_SIGNATURE_INVALID) == "signature does not verify");
}

void test_sign_and_verify(const Paths &p) {
    section("keys and a signed MFA token file");
    chm::generate_key_pair(2048, p.key, p.pub);
    chm::generate_key_pair(2048, p.other_key, p.other_pub);
    chm::PrivateKey key = chm::PrivateKey::load(p.key);
    chm::PublicKey pub = chm::PublicKey::load(p.pub);
    chm::PublicKey other = chm::PublicKey::from_pem(read_all(p.other_pub));
    CHECK_EQ(key.bits(), 2048);
    CHECK_EQ(pub.bits(), 2048);
    // The PEM text of the public key is the file CHM_GenerateKeyPair wrote.
    CHECK(pub.to_pem() == read_all(p.pub));
    CHECK(key.public_key_pem() == read_all(p.pub));
    CHECK(other.to_pem() != pub.to_pem());
    CHECK(chm::PublicKey::from_pem(key.public_key_pem()).to_pem() == pub.to_pem());

    std::vector<chm::Token> tokens{random_token(), random_token(), random_token()};
    {
        chm::TokenFile file = chm::TokenFile::create_mfa(tokens);
        CHECK(file.kind() == chm::TokenFileKind::Mfa);
        CHECK_EQ(file.entry_count(), 3);
        CHECK(file.signature(0).empty());
        CHECK(file.check_entry(pub, 0) == chm::EntryStatus::Unsigned);
        CHECK_THROWS(file.verify(pub), CHMR_TOKEN_NOT_SIGNED, "tokens[0].signed: not signed yet");
        file.write(p.login);
    }
    CHECK_EQ(fs::status(p.login).permissions() & fs::perms::all,
             fs::perms::owner_read | fs::perms::owner_write);

    // Sign it in one call, to another file, and verify what was written.
    chm::sign_token_file(p.login, p.key, p.signed_login);
    chm::TokenFile signed_file = chm::TokenFile::load(p.signed_login);
    CHECK_NOTHROW(signed_file.verify(pub));
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        CHECK(signed_file.token(i) == tokens[i]);
        chm::Bytes sig = signed_file.signature(i);
        CHECK_EQ(sig.size(), 256);
        CHECK(sig == key.sign(tokens[i]));  // PKCS#1 v1.5 is deterministic
        CHECK(signed_file.check_entry(pub, i) == chm::EntryStatus::Valid);
        CHECK(signed_file.check_entry(other, i) == chm::EntryStatus::Invalid);
        CHECK_NOTHROW(pub.verify(tokens[i], sig));
        CHECK(pub.verifies(tokens[i], sig));
        CHECK(!other.verifies(tokens[i], sig));
    }
    CHECK_THROWS(signed_file.verify(other), CHMR_SIGNATURE_INVALID,
                 p.signed_login + ": tokens[0].signed: signature does not verify");
    // The original is still unsigned; signing in place changes it.
    CHECK_THROWS(chm::TokenFile::load(p.login).verify(pub), CHMR_TOKEN_NOT_SIGNED,
                 "tokens[0].signed");
    chm::sign_token_file(p.login, p.key);
    CHECK_NOTHROW(chm::TokenFile::load(p.login).verify(pub));
    CHECK(chm::TokenFile::load(p.login).to_json() == signed_file.to_json());

    // A signature set by hand; a changed one is caught, naming the entry.
    chm::TokenFile file = chm::TokenFile::parse(signed_file.to_json());
    chm::Bytes sig = key.sign(tokens[2]);
    sig[5] ^= 0x20;
    file.set_signature(2, sig);
    CHECK(file.check_entry(pub, 2) == chm::EntryStatus::Invalid);
    CHECK_THROWS(file.verify(pub), CHMR_SIGNATURE_INVALID,
                 "<buffer>: tokens[2].signed: signature does not verify");
    CHECK_THROWS(pub.verify(tokens[2], sig), CHMR_SIGNATURE_INVALID, "does not verify");
    sig.resize(255);
    CHECK_THROWS(pub.verify(tokens[2], sig), CHMR_SIGNATURE_LEN_RANGE,
                 "signature is 255 bytes; the 2048-bit key makes 256-byte signatures");
    CHECK(!pub.verifies(tokens[2], sig));
    CHECK_THROWS(file.set_signature(2, sig), CHMR_ARGUMENTS_BAD, "signature is 255 bytes");
    file.sign(key);
    CHECK_NOTHROW(file.verify(pub));

    // The public half of a private key verifies too.
    chm::PublicKey derived = key.public_key();
    CHECK_NOTHROW(file.verify(derived));
}

void test_quorum_and_registration(const Paths &p) {
    section("quorum approval and registration files");
    chm::PrivateKey a = chm::PrivateKey::load(p.key);
    chm::PrivateKey b = chm::PrivateKey::from_pem(read_all(p.other_key));
    chm::PublicKey a_pub = a.public_key();
    chm::PublicKey b_pub = b.public_key();

    chm::Bytes data = random_bytes(240);
    chm::TokenFile approval = chm::TokenFile::create_approval(data);
    CHECK(approval.kind() == chm::TokenFileKind::QuorumApproval);
    CHECK_EQ(approval.entry_count(), 0);
    CHECK(approval.approval_data() == data);
    CHECK_THROWS(approval.sign(a), CHMR_ARGUMENTS_BAD, "needs the approver's user name");
    approval.sign(a, "Alice");
    approval.add_approval("bob", b.sign(approval.approval_token()));
    CHECK_EQ(approval.entry_count(), 2);
    CHECK(approval.approver(0) == "alice");
    CHECK(approval.approver(1) == "bob");
    CHECK(approval.signature(0) == a.sign(approval.approval_token()));
    CHECK_NOTHROW(approval.verify(a_pub, "alice"));
    CHECK_NOTHROW(approval.verify(b_pub, "BOB"));
    CHECK_THROWS(approval.verify(b_pub, "alice"), CHMR_SIGNATURE_INVALID,
                 "signatures[0].signature: signature does not verify");
    CHECK_THROWS(approval.verify(a_pub, "carol"), CHMR_TOKEN_NOT_SIGNED,
                 "signatures (user \"carol\"): not signed yet");
    CHECK_THROWS(approval.approver(2), CHMR_ARGUMENTS_BAD, "approval index 2 is out of range");
    CHECK_THROWS(approval.sign(a, std::string("ali\0ce", 6)), CHMR_ARGUMENTS_BAD,
                 "approver contains a NUL byte");
    chm::TokenFile copy = chm::TokenFile::parse(approval.to_json());
    CHECK(copy.to_json() == approval.to_json());
    CHECK(copy.approval_token() == approval.approval_token());
    CHECK_THROWS(copy.token(0), CHMR_ARGUMENTS_BAD, "use CHM_TokenFileGetApprovalToken");

    chm::TokenFile registration = chm::TokenFile::create_registration(chm::Bytes(data.begin(), data.begin() + 100));
    CHECK(registration.kind() == chm::TokenFileKind::Registration);
    CHECK(registration.approval_data(0) == chm::Bytes(data.begin(), data.begin() + 100));
    registration.sign(b);
    CHECK_NOTHROW(registration.verify(b_pub));
    CHECK_THROWS(chm::TokenFile::create_registration(random_bytes(246)), CHMR_ARGUMENTS_BAD,
                 "registration approval data is 246 bytes; it must be 1 to 245");
    CHECK_THROWS(chm::TokenFile::create_mfa({}), CHMR_ARGUMENTS_BAD,
                 "a token file needs at least one token");
}

void test_bad_input(const Paths &p) {
    section("bad token files and key files throw Error with the right code");
    chm::Token t0 = random_token();
    std::string good = chm::TokenFile::create_mfa({t0}).to_json();
    // tokens[1].unsigned decodes to 16 bytes.
    std::string bad = "{\"version\": \"2.0\", \"tokens\": [{\"unsigned\": \"" +
                      good.substr(good.find("\"unsigned\": \"") + 13, 44) +
                      "\", \"signed\": \"\"}, {\"unsigned\": \"AAAAAAAAAAAAAAAAAAAAAA==\", "
                      "\"signed\": \"\"}]}";
    write_all(p.bad, bad);
    try {
        chm::TokenFile::load(p.bad);
        record(false, __FILE__, __LINE__, "a bad token file was loaded");
    } catch (const chm::Error &e) {
        CHECK_EQ(e.code(), CHMR_TOKEN_FILE_INVALID);
        CHECK(e.function() == "CHM_TokenFileLoad");
        CHECK(e.message() == p.bad + ": tokens[1].unsigned: decodes to 16 bytes; a token is 32 bytes");
        CHECK(std::string(e.what()).find("tokens[1].unsigned") != std::string::npos);
    }
    CHECK_THROWS(chm::sign_token_file(p.bad, p.key), CHMR_TOKEN_FILE_INVALID,
                 "tokens[1].unsigned: decodes to 16 bytes");
    CHECK(read_all(p.bad) == bad);  // nothing written
    CHECK_THROWS(chm::TokenFile::parse("{\"version\": \"1.0\", \"tokens\": []}"),
                 CHMR_TOKEN_FILE_INVALID, "version: is \"1.0\"; only \"2.0\" is supported");
    CHECK_THROWS(chm::TokenFile::load(p.dir + "/missing.json"), CHMR_FILE_ERROR,
                 "No such file or directory");
    CHECK_THROWS(chm::PrivateKey::load(p.pub), CHMR_KEY_FILE_INVALID,
                 "this is a public key; a private key is needed here");
    CHECK_THROWS(chm::PublicKey::from_pem("not a key"), CHMR_KEY_FILE_INVALID,
                 "no \"-----BEGIN\" line found");
    CHECK_THROWS(chm::generate_key_pair(1024, p.dir + "/small.pem", p.dir + "/small.pub"),
                 CHMR_ARGUMENTS_BAD, "cannot generate an RSA key of 1024 bits");
    CHECK_THROWS(chm::PrivateKey::load(p.key + std::string("\0x", 2)), CHMR_ARGUMENTS_BAD,
                 "path contains a NUL byte");
    CHECK_THROWS(chm::sign_token_file(p.login, p.key, std::nullopt, std::string("alice")),
                 CHMR_ARGUMENTS_BAD, "a user name is given only to sign a quorum approval file");
}

void test_raii(const Paths &p) {
    section("RAII: handles close when objects go out of scope");
    std::uint32_t bits = 0;
    std::uint32_t kind = 0;

    CHM_KEY_HANDLE raw_private = CHM_INVALID_HANDLE;
    CHM_KEY_HANDLE raw_public = CHM_INVALID_HANDLE;
    CHM_TOKEN_FILE_HANDLE raw_file = CHM_INVALID_HANDLE;
    {
        chm::PrivateKey key = chm::PrivateKey::load(p.key);
        chm::PublicKey pub = key.public_key();
        chm::TokenFile file = chm::TokenFile::create_mfa({random_token()});
        raw_private = key.handle();
        raw_public = pub.handle();
        raw_file = file.handle();
        CHECK(raw_private != CHM_INVALID_HANDLE && raw_public != CHM_INVALID_HANDLE &&
              raw_file != CHM_INVALID_HANDLE);
        CHECK_EQ(CHM_KeyGetBits(raw_private, &bits), CHMR_OK);
        CHECK_EQ(CHM_KeyGetBits(raw_public, &bits), CHMR_OK);
        CHECK_EQ(CHM_TokenFileGetKind(raw_file, &kind), CHMR_OK);
    }
    CHECK_EQ(CHM_KeyGetBits(raw_private, &bits), CHMR_KEY_HANDLE_INVALID);
    CHECK_EQ(CHM_KeyGetBits(raw_public, &bits), CHMR_KEY_HANDLE_INVALID);
    CHECK_EQ(CHM_TokenFileGetKind(raw_file, &kind), CHMR_OBJECT_HANDLE_INVALID);

    section("RAII: a moved-from object is empty and does not close the new owner's handle");
    chm::PrivateKey a = chm::PrivateKey::load(p.key);
    const CHM_KEY_HANDLE raw_a = a.handle();
    chm::PrivateKey b = std::move(a);
    CHECK(!a);
    CHECK_EQ(a.handle(), CHM_INVALID_HANDLE);
    CHECK(static_cast<bool>(b));
    CHECK_EQ(b.handle(), raw_a);
    CHECK_THROWS(a.bits(), CHMR_KEY_HANDLE_INVALID, "0 is not an open");
    {
        chm::PrivateKey c = std::move(b);
        CHECK(!b);
        CHECK_EQ(CHM_KeyGetBits(raw_a, &bits), CHMR_OK);
    }
    CHECK_EQ(CHM_KeyGetBits(raw_a, &bits), CHMR_KEY_HANDLE_INVALID);

    chm::TokenFile f = chm::TokenFile::create_mfa({random_token()});
    const CHM_TOKEN_FILE_HANDLE old_file = f.handle();
    f = chm::TokenFile::create_mfa({random_token(), random_token()});  // move assignment
    CHECK(f.handle() != old_file);
    CHECK_EQ(CHM_TokenFileGetKind(old_file, &kind), CHMR_OBJECT_HANDLE_INVALID);
    CHECK_EQ(f.entry_count(), 2);
    chm::TokenFile g;
    CHECK(!g);
    g = std::move(f);
    CHECK(!f);
    CHECK_EQ(g.entry_count(), 2);
    CHECK_THROWS(f.entry_count(), CHMR_OBJECT_HANDLE_INVALID, "is not an open token file handle");

    section("RAII: close() and release()");
    chm::PublicKey pub = chm::PublicKey::load(p.pub);
    const CHM_KEY_HANDLE raw_pub = pub.handle();
    pub.close();
    CHECK(!pub);
    CHECK_EQ(CHM_KeyGetBits(raw_pub, &bits), CHMR_KEY_HANDLE_INVALID);
    CHECK_NOTHROW(pub.close());  // closing an empty object does nothing

    chm::TokenFile kept = chm::TokenFile::create_mfa({random_token()});
    const CHM_TOKEN_FILE_HANDLE released = kept.release();
    CHECK(!kept);
    CHECK_EQ(CHM_TokenFileGetKind(released, &kind), CHMR_OK);  // still open: the caller owns it
    CHECK_EQ(CHM_TokenFileClose(released), CHMR_OK);
    chm::TokenFile adopted(released);  // adopting a closed handle: closing it fails
    CHECK_THROWS(adopted.close(), CHMR_OBJECT_HANDLE_INVALID, "is not an open token file handle");
}

// A key made on a real SoftHSM2 token (a private store in the temporary directory), loaded
// by its pkcs11: URI with the PIN, signs a token file that the public key file verifies.
void test_pkcs11_key(const Paths &p) {
    section("a key on a PKCS#11 token (SoftHSM2): generate, load with the PIN, sign");
    std::string module;
    for (const char *m : {"/usr/lib/softhsm/libsofthsm2.so",
                          "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                          "/usr/local/lib/softhsm/libsofthsm2.so"}) {
        if (fs::exists(m)) {
            module = m;
            break;
        }
    }
    if (!CHECK(!module.empty())) {
        return;
    }
    const std::string store = p.dir + "/softhsm";
    fs::create_directories(store + "/tokens");
    write_all(store + "/softhsm2.conf", "directories.tokendir = " + store +
                                            "/tokens\nobjectstore.backend = file\n"
                                            "log.level = ERROR\n");
    setenv("SOFTHSM2_CONF", (store + "/softhsm2.conf").c_str(), 1);
    const std::string init = "softhsm2-util --init-token --free --label cpp --pin 4321 "
                             "--so-pin 8765 >/dev/null";
    if (!CHECK_EQ(std::system(init.c_str()), 0)) {
        return;
    }
    const std::string uri = "pkcs11:token=cpp;object=mfa?module-path=" + module;
    const std::string pub_path = p.dir + "/token-key.pub";
    CHECK_NOTHROW(chm::generate_key_pair(2048, uri + "&pin-value=4321", pub_path));
    // Before any key of the token is open (an open one keeps the application logged in).
    CHECK_THROWS(chm::PrivateKey::load(uri, "0000"), CHMR_PKCS11_PIN_INCORRECT,
                 "refused the PIN");
    chm::PrivateKey key = chm::PrivateKey::load(uri, "4321");
    CHECK_EQ(key.bits(), 2048);
    chm::PublicKey pub = chm::PublicKey::load(pub_path);
    chm::TokenFile f = chm::TokenFile::create_mfa({random_token(), random_token()});
    f.sign(key);
    CHECK_NOTHROW(f.verify(pub));
    CHECK_THROWS(chm::generate_key_pair(2048, uri + "&pin-value=4321", pub_path + "2"),
                 CHMR_PKCS11_KEY_EXISTS, "already holds a key");
}

}  // namespace

int main() {
    const char *base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/chm-cpp-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
        std::perror("mkdtemp");
        return 2;
    }
    Paths p;
    p.dir = buf.data();
    p.key = p.dir + "/key.pem";
    p.pub = p.dir + "/key.pub";
    p.other_key = p.dir + "/other.pem";
    p.other_pub = p.dir + "/other.pub";
    p.login = p.dir + "/login.json";
    p.signed_login = p.dir + "/login-signed.json";
    p.bad = p.dir + "/bad.json";
    std::cout << "== test_cloudhsm_mfa_cpp (temporary directory " << p.dir << ")" << std::endl;

    test_before_initialise(p);
    CHM_KEY_HANDLE survivor = CHM_INVALID_HANDLE;
    try {
        chm::Library library;
        test_library(p);
        test_sign_and_verify(p);
        test_quorum_and_registration(p);
        test_bad_input(p);
        test_raii(p);
        test_pkcs11_key(p);

        section("the Library's end invalidates the handles still open");
        chm::PrivateKey key = chm::PrivateKey::load(p.key);
        survivor = key.release();
        std::uint32_t bits = 0;
        CHECK_EQ(CHM_KeyGetBits(survivor, &bits), CHMR_OK);
    } catch (const std::exception &e) {
        record(false, __FILE__, __LINE__, std::string("unexpected exception: ") + e.what());
    }
    {
        std::uint32_t bits = 0;
        CHECK_EQ(CHM_KeyGetBits(survivor, &bits), CHMR_NOT_INITIALIZED);
        chm::Library again;
        CHECK_EQ(CHM_KeyGetBits(survivor, &bits), CHMR_KEY_HANDLE_INVALID);
        CHECK_EQ(chm::PrivateKey::load(p.key).bits(), 2048);
    }

    std::error_code ec;
    fs::remove_all(p.dir, ec);
    CHECK(!fs::exists(p.dir));
    return test_check::finish("test_cloudhsm_mfa_cpp");
}
