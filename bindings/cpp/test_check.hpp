// test_check.hpp - the checks of the C++ wrapper's test programs (header-only, C++17).
//
// A check counts as passed or failed; a failed one prints "FILE:LINE: FAIL: what" to
// stderr and the program goes on. At the end a program prints its totals with
// test_check::finish("name"), the line "CHECKS name passed=N failed=M" that
// c-tests/run-tests.sh adds up, and returns its exit status.
//
//     CHECK(cond)                        cond is true
//     CHECK_EQ(a, b)                     two integers or enums are equal (each side is
//                                        evaluated once; compared by value, sign included)
//     CHECK_CONTAINS(haystack, needle)   a string contains another
//     CHECK_THROWS(stmt, code, needle)   stmt throws cloudhsm_mfa::Error with CHM_RV `code`
//                                        and a message containing `needle`
//     CHECK_NOTHROW(stmt)                stmt throws no std::exception
//
// CHECK, CHECK_EQ and CHECK_CONTAINS are expressions giving whether the check passed.
// test_check::record(ok, __FILE__, __LINE__, what) counts a check made by hand, and
// test_check::section(title) prints "-- title".
#ifndef CLOUDHSM_MFA_TEST_CHECK_HPP
#define CLOUDHSM_MFA_TEST_CHECK_HPP

#include <iostream>
#include <string>
#include <type_traits>

#include "cloudhsm_mfa.hpp"

namespace test_check {

inline int passed = 0;
inline int failed = 0;

/// Counts one check; prints `what` with the place when it failed. Returns `ok`.
inline bool record(bool ok, const char *file, int line, const std::string &what) {
    if (ok) {
        ++passed;
    } else {
        ++failed;
        std::cerr << file << ":" << line << ": FAIL: " << what << "\n";
    }
    return ok;
}

/// Prints "-- title" to stdout.
inline void section(const char *title) { std::cout << "-- " << title << std::endl; }

/// Prints "CHECKS program passed=N failed=M"; returns the exit status: 0 when no check
/// failed, 1 otherwise.
inline int finish(const char *program) {
    std::cout << "CHECKS " << program << " passed=" << passed << " failed=" << failed
              << std::endl;
    return failed == 0 ? 0 : 1;
}

namespace detail {

// An integer as is, an enum as its underlying integer.
template <class T>
constexpr auto integer_value(T value) {
    if constexpr (std::is_enum_v<T>) {
        return static_cast<std::underlying_type_t<T>>(value);
    } else {
        static_assert(std::is_integral_v<T>, "CHECK_EQ compares integers and enums");
        return value;
    }
}

// x == y by value, whatever the signedness and width of each (no sign-compare surprises:
// -1 is not equal to the largest unsigned value).
template <class X, class Y>
constexpr bool integers_equal(X x, Y y) {
    if constexpr (std::is_signed_v<X> && std::is_signed_v<Y>) {
        return static_cast<long long>(x) == static_cast<long long>(y);
    } else if constexpr (std::is_signed_v<X>) {
        return x >= 0 && static_cast<unsigned long long>(x) == static_cast<unsigned long long>(y);
    } else if constexpr (std::is_signed_v<Y>) {
        return y >= 0 && static_cast<unsigned long long>(x) == static_cast<unsigned long long>(y);
    } else {
        return static_cast<unsigned long long>(x) == static_cast<unsigned long long>(y);
    }
}

}  // namespace detail

/// The check of CHECK_EQ: `a` and `b` are integers or enums of equal value.
template <class A, class B>
bool check_eq(const A &a, const B &b, const char *file, int line, const char *what) {
    const auto x = detail::integer_value(a);
    const auto y = detail::integer_value(b);
    return record(detail::integers_equal(x, y), file, line,
                  std::string(what) + ": " + std::to_string(x) + " != " + std::to_string(y));
}

/// The check of CHECK_CONTAINS: `haystack` contains `needle`.
inline bool check_contains(const std::string &haystack, const std::string &needle,
                           const char *file, int line, const char *what) {
    return record(haystack.find(needle) != std::string::npos, file, line,
                  std::string(what) + " is \"" + haystack + "\"; expected it to contain \"" +
                      needle + "\"");
}

}  // namespace test_check

#define CHECK(cond) ::test_check::record(static_cast<bool>(cond), __FILE__, __LINE__, #cond)

#define CHECK_EQ(a, b) ::test_check::check_eq((a), (b), __FILE__, __LINE__, #a " == " #b)

#define CHECK_CONTAINS(haystack, needle) \
    ::test_check::check_contains((haystack), (needle), __FILE__, __LINE__, #haystack)

#define CHECK_THROWS(stmt, want_code, needle)                                                  \
    do {                                                                                       \
        try {                                                                                  \
            stmt;                                                                              \
            ::test_check::record(false, __FILE__, __LINE__,                                    \
                                 std::string(#stmt " did not throw"));                         \
        } catch (const ::cloudhsm_mfa::Error &e_) {                                            \
            ::test_check::record(e_.code() == static_cast<CHM_RV>(want_code) &&                \
                                     e_.message().find(needle) != std::string::npos,           \
                                 __FILE__, __LINE__,                                           \
                                 std::string(#stmt " threw: ") + e_.what() +                   \
                                     "; expected " #want_code " and a message containing \"" + \
                                     (needle) + "\"");                                         \
        }                                                                                      \
    } while (0)

#define CHECK_NOTHROW(stmt)                                                                    \
    do {                                                                                       \
        try {                                                                                  \
            stmt;                                                                              \
            ::test_check::record(true, __FILE__, __LINE__, "");                                \
        } catch (const std::exception &e_) {                                                   \
            ::test_check::record(false, __FILE__, __LINE__,                                    \
                                 std::string(#stmt " threw: ") + e_.what());                   \
        }                                                                                      \
    } while (0)

#endif  // CLOUDHSM_MFA_TEST_CHECK_HPP
