// The C++ wrapper (cloudhsm_mfa.hpp) over an installed libcloudhsm_mfa, built by
// scripts/test-install.sh. usage: consumer-cpp PRIVATE_KEY PUBLIC_KEY
#include <cstdio>
#include <exception>

#include "cloudhsm_mfa.hpp"

namespace chm = cloudhsm_mfa;

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s PRIVATE_KEY PUBLIC_KEY\n", argv[0]);
        return 2;
    }
    try {
        chm::Library library;
        const chm::PrivateKey key = chm::PrivateKey::load(argv[1]);
        const chm::PublicKey pub = chm::PublicKey::load(argv[2]);
        chm::Token token{};
        token.fill(0x5a);
        const chm::Bytes signature = key.sign(token);
        pub.verify(token, signature);
        token[0] ^= 1;
        if (pub.verifies(token, signature)) {
            std::fprintf(stderr, "consumer-cpp: a changed token verifies\n");
            return 1;
        }
        const chm::Info info = chm::Library::info();
        std::printf("consumer-cpp: %u.%u.%u ok\n", static_cast<unsigned>(info.major),
                    static_cast<unsigned>(info.minor), static_cast<unsigned>(info.patch));
    } catch (const std::exception &e) {
        std::fprintf(stderr, "consumer-cpp: %s\n", e.what());
        return 1;
    }
    return 0;
}
