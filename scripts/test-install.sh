#!/usr/bin/env bash
# Tests `make install`: installs into a staging directory (DESTDIR) and into a real
# prefix, and checks what a user of the installation relies on:
#   - the file list, the SONAME and its links, file modes;
#   - stripped library and commands, each with a GNU debug link whose CRC matches its
#     debug file, which holds the debug info; an archive without debug sections;
#   - C programs built with pkg-config only: dynamic (found through LD_LIBRARY_PATH, or an
#     rpath), static (cloudhsm_mfa-static, and Libs.private); the staged installation
#     through PKG_CONFIG_SYSROOT_DIR;
#   - a CMake project: find_package(cloudhsm_mfa) shared and static, pkg_check_modules;
#   - a C++ program with cloudhsm_mfa.hpp; the Python package finding the installed
#     library by its SONAME;
#   - the installed commands run; `man -l` renders the pages without warnings; the bash
#     completion completes a subcommand; zsh and fish completions are written;
#   - `make uninstall` removes every file.
# Needs cc, c++, make, pkg-config, cmake, objcopy/readelf, man (scripts/setup.sh); builds
# with `make` (cargo build --release of the library and the commands, when not fresh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "test-install: ok: $1"; }
fail() { failed=$((failed + 1)); echo "test-install: FAILED: $1" >&2; }
# check DESCRIPTION COMMAND...: runs the command, output in $work/out.
check() {
  local what=$1; shift
  if "$@" >"$work/out" 2>&1; then ok "$what"; else fail "$what"; sed 's/^/    /' "$work/out" >&2; fi
}

version=$(cargo pkgid -p cloudhsm-mfa | sed 's/.*[#@]//')
major=${version%%.*}
soname=libcloudhsm_mfa.so.$major
key=$root/test-support/keys/rsa2048-a.pkcs8.pem
pub=$root/test-support/keys/rsa2048-a.pub.pem

echo "== test-install: make (cargo build --release, man pages, completions)"
make --no-print-directory -s all >/dev/null

# ---- a staged installation -------------------------------------------------------------
prefix=/opt/cloudhsm-mfa
stage=$work/stage
make --no-print-directory -s install PREFIX=$prefix DESTDIR="$stage" >/dev/null
p=$stage$prefix

expected="bin/cloudhsm-emulator
bin/cloudhsm-mfa
include/cloudhsm_mfa.h
include/cloudhsm_mfa.hpp
lib/cmake/cloudhsm_mfa/cloudhsm_mfa-config-version.cmake
lib/cmake/cloudhsm_mfa/cloudhsm_mfa-config.cmake
lib/debug$prefix/bin/cloudhsm-emulator.debug
lib/debug$prefix/bin/cloudhsm-mfa.debug
lib/debug$prefix/lib/libcloudhsm_mfa.so.$version.debug
lib/libcloudhsm_mfa.a
lib/libcloudhsm_mfa.so
lib/libcloudhsm_mfa.so.$major
lib/libcloudhsm_mfa.so.$version
lib/pkgconfig/cloudhsm_mfa-static.pc
lib/pkgconfig/cloudhsm_mfa.pc
share/bash-completion/completions/cloudhsm-emulator
share/bash-completion/completions/cloudhsm-mfa
share/fish/vendor_completions.d/cloudhsm-emulator.fish
share/fish/vendor_completions.d/cloudhsm-mfa.fish
share/man/man1/cloudhsm-emulator.1
share/man/man1/cloudhsm-mfa.1
share/zsh/site-functions/_cloudhsm-emulator
share/zsh/site-functions/_cloudhsm-mfa"
# Every file under the prefix, and nothing outside it; subcommand pages are checked apart.
(cd "$stage" && find . ! -type d | sed 's|^\./||' | sort) >"$work/all-files"
sed -n "s|^${prefix#/}/||p" "$work/all-files" | grep -v '^share/man/man1/cloudhsm-\(mfa\|emulator\)-' \
  >"$work/files" || true
check "the staged installation holds exactly the expected files" \
  diff -u <(echo "$expected") "$work/files"
check "nothing is installed outside PREFIX" \
  bash -c "! grep -v '^${prefix#/}/' '$work/all-files'"
check "a man page for each subcommand (user change-mfa token-sign, tokens sign, emulator run)" \
  ls "$p/share/man/man1/cloudhsm-mfa-user-change-mfa-token-sign.1" \
     "$p/share/man/man1/cloudhsm-mfa-tokens-sign.1" "$p/share/man/man1/cloudhsm-emulator-run.1"

check "the SONAME is $soname" \
  bash -c "readelf -d '$p/lib/libcloudhsm_mfa.so.$version' | grep -F '(SONAME)' | grep -qF '[$soname]'"
check "$soname -> libcloudhsm_mfa.so.$version, libcloudhsm_mfa.so -> $soname" \
  test "$(readlink "$p/lib/$soname")" = "libcloudhsm_mfa.so.$version" \
    -a "$(readlink "$p/lib/libcloudhsm_mfa.so")" = "$soname"
check "modes: commands 755, libraries, headers, pkg-config and CMake files 644" \
  bash -c "cd '$p' && test \"\$(stat -c %a bin/cloudhsm-mfa bin/cloudhsm-emulator | sort -u)\" = 755 &&
    test \"\$(stat -c %a lib/libcloudhsm_mfa.so.$version lib/libcloudhsm_mfa.a include/* \
      lib/pkgconfig/* lib/cmake/cloudhsm_mfa/* share/man/man1/* | sort -u)\" = 644"

# stripped FILE DEBUG: no debug sections nor symbol table, a debug link to DEBUG whose
# CRC32 matches it, and DEBUG holding the line tables and the symbols.
stripped() {
  local file=$1 debug=$2
  # .debug_gdb_scripts is loaded at run time (it names Rust's gdb helpers), not debug info.
  if readelf -S -W "$file" | grep -E '\] \.(z?debug_|symtab)' | grep -v '\] \.debug_gdb_scripts '; then
    echo "$file still has debug sections or a symbol table"; return 1
  fi
  python3 - "$file" "$debug" <<'EOF'
import subprocess, sys, zlib, pathlib
file, debug = sys.argv[1], pathlib.Path(sys.argv[2])
dump = subprocess.run(["objcopy", "--dump-section", ".gnu_debuglink=/dev/stdout", file, "/dev/null"],
                      capture_output=True, check=True).stdout
name, _, rest = dump.partition(b"\0")
crc = int.from_bytes(dump[-4:], "little")
assert name.decode() == debug.name, f"the debug link names {name!r}, not {debug.name}"
assert crc == zlib.crc32(debug.read_bytes()), "the debug link's CRC does not match the debug file"
EOF
  readelf -S -W "$debug" >"$work/sections"
  grep -q '\] \.debug_line ' "$work/sections" || { echo "$debug has no .debug_line"; return 1; }
  grep -q '\] \.symtab ' "$work/sections" || { echo "$debug has no symbol table"; return 1; }
}
check "the shared library is stripped, with its debug info apart" \
  stripped "$p/lib/libcloudhsm_mfa.so.$version" "$p/lib/debug$prefix/lib/libcloudhsm_mfa.so.$version.debug"
for c in cloudhsm-mfa cloudhsm-emulator; do
  check "$c is stripped, with its debug info apart" \
    stripped "$p/bin/$c" "$p/lib/debug$prefix/bin/$c.debug"
done
check "the archive has no debug sections and keeps its symbols" \
  bash -c "! readelf -S -W '$p/lib/libcloudhsm_mfa.a' | grep -E '\] \.z?debug_' | grep -v gdb_scripts &&
    nm '$p/lib/libcloudhsm_mfa.a' 2>/dev/null | grep -q ' T CHM_Initialize$'"
check "the shared library exports CHM_Initialize after stripping" \
  bash -c "nm -D --defined-only '$p/lib/libcloudhsm_mfa.so.$version' | grep -q ' T CHM_Initialize$'"

# ---- C with pkg-config against the staged installation ------------------------------
staged_pc() {
  PKG_CONFIG_LIBDIR=$p/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage pkg-config "$@"
}
check "pkg-config on the staged installation (PKG_CONFIG_SYSROOT_DIR) gives its -I and -L" \
  test "$(echo $(staged_pc --cflags --libs cloudhsm_mfa))" = "-I$p/include -L$p/lib -lcloudhsm_mfa"
check "a C program builds against the staged installation" \
  bash -c "cc -std=c99 -Wall -Wextra -Werror packaging/test/consumer.c \
    \$(PKG_CONFIG_LIBDIR='$p/lib/pkgconfig' PKG_CONFIG_SYSROOT_DIR='$stage' \
      pkg-config --cflags --libs cloudhsm_mfa) -o '$work/consumer-staged' &&
    LD_LIBRARY_PATH='$p/lib' '$work/consumer-staged' '$key' '$pub'"

# ---- a real prefix ------------------------------------------------------------------------
real=$work/prefix
make --no-print-directory -s install PREFIX="$real" >/dev/null
export PKG_CONFIG_PATH=$real/lib/pkgconfig
libdir=$(pkg-config --variable=libdir cloudhsm_mfa)
check "pkg-config: version $version, libdir $real/lib" \
  test "$(pkg-config --modversion cloudhsm_mfa)" = "$version" -a "$libdir" = "$real/lib"
check "pkg-config --static adds the system libraries of the archive (Libs.private)" \
  test "$(echo $(pkg-config --static --libs cloudhsm_mfa))" = \
    "-L$real/lib -lcloudhsm_mfa -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

cc -std=c99 -Wall -Wextra -Wpedantic -Werror packaging/test/consumer.c \
  $(pkg-config --cflags --libs cloudhsm_mfa) -o "$work/consumer-dynamic"
check "dynamic: the program needs $soname, not a path" \
  bash -c "readelf -d '$work/consumer-dynamic' | grep -F '(NEEDED)' | grep -qF '[$soname]'"
check "dynamic: without a path to the library it does not start (the loader looks for $soname)" \
  bash -c "! env -u LD_LIBRARY_PATH '$work/consumer-dynamic' '$key' '$pub' >'$work/no-path.txt' 2>&1 &&
    grep -qF '$soname: cannot open shared object file' '$work/no-path.txt'"
check "dynamic: runs with LD_LIBRARY_PATH=\$(pkg-config --variable=libdir cloudhsm_mfa)" \
  bash -c "LD_LIBRARY_PATH='$libdir' '$work/consumer-dynamic' '$key' '$pub' | grep -qx 'consumer: $version ok'"
cc -std=c99 -Wall -Wextra -Werror packaging/test/consumer.c $(pkg-config --cflags --libs cloudhsm_mfa) \
  -Wl,-rpath,"$libdir" -o "$work/consumer-rpath"
check "dynamic with -Wl,-rpath,\$libdir: runs with no environment" \
  bash -c "env -u LD_LIBRARY_PATH '$work/consumer-rpath' '$key' '$pub' | grep -qx 'consumer: $version ok'"

cc -std=c99 -Wall -Wextra -Werror packaging/test/consumer.c \
  $(pkg-config --static --cflags --libs cloudhsm_mfa-static) -o "$work/consumer-static"
check "static (pkg-config --static cloudhsm_mfa-static): no libcloudhsm_mfa needed, runs" \
  bash -c "! readelf -d '$work/consumer-static' | grep -q libcloudhsm_mfa &&
    env -u LD_LIBRARY_PATH '$work/consumer-static' '$key' '$pub' | grep -qx 'consumer: $version ok'"

# Only the archive in a directory: what `pkg-config --static cloudhsm_mfa` is for.
mkdir -p "$work/static-only/lib/pkgconfig"
cp "$real/lib/libcloudhsm_mfa.a" "$work/static-only/lib/"
sed "s|^prefix=.*|prefix=$work/static-only|; s|^libdir=.*|libdir=$work/static-only/lib|" \
  "$real/lib/pkgconfig/cloudhsm_mfa.pc" >"$work/static-only/lib/pkgconfig/cloudhsm_mfa.pc"
check "static (pkg-config --static cloudhsm_mfa, archive alone): links with Libs.private, runs" \
  bash -c "cc -std=c99 packaging/test/consumer.c -I'$real/include' \
    \$(PKG_CONFIG_PATH='$work/static-only/lib/pkgconfig' pkg-config --static --libs cloudhsm_mfa) \
    -o '$work/consumer-static-only' && ! readelf -d '$work/consumer-static-only' | grep -q libcloudhsm_mfa &&
    '$work/consumer-static-only' '$key' '$pub' | grep -qx 'consumer: $version ok'"

check "C++: cloudhsm_mfa.hpp with pkg-config, C++17" \
  bash -c "c++ -std=c++17 -Wall -Wextra -Wpedantic -Werror packaging/test/consumer.cpp \
    \$(pkg-config --cflags --libs cloudhsm_mfa) -Wl,-rpath,'$libdir' -o '$work/consumer-cpp' &&
    '$work/consumer-cpp' '$key' '$pub' | grep -qx 'consumer-cpp: $version ok'"

# The Python package, from a copy outside the repository (no repository build to find),
# takes the installed library through the system's search: find_library and the SONAME.
mkdir -p "$work/python"
cp -r bindings/python/cloudhsm_mfa "$work/python/"
rm -f "$work/python/cloudhsm_mfa/libcloudhsm_mfa.so"
check "Python finds the installed library by its SONAME (ctypes.util.find_library)" \
  bash -c "cd '$work' && env -u CLOUDHSM_MFA_LIB LD_LIBRARY_PATH='$libdir' PYTHONPATH='$work/python' \
    python3 -c 'import cloudhsm_mfa as c; print(c.LIBRARY_PATH, c.version())' | grep -qx '$soname $version'"

# ---- CMake --------------------------------------------------------------------------------
# find_package through CMAKE_PREFIX_PATH on the staged installation (the CMake files find
# the library relative to themselves), pkg_check_modules through the real prefix.
cmake_build() {
  cmake -S packaging/test -B "$work/cmake" -DCMAKE_PREFIX_PATH="$p" -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$work/cmake" &&
    for t in shared static pkgconfig; do
      LD_LIBRARY_PATH=$p/lib "$work/cmake/consumer-cmake-$t" "$key" "$pub" | grep -qx "consumer: $version ok" ||
        { echo "consumer-cmake-$t did not run"; return 1; }
    done &&
    readelf -d "$work/cmake/consumer-cmake-shared" | grep -F '(NEEDED)' | grep -F "[$soname]" >/dev/null &&
    ! readelf -d "$work/cmake/consumer-cmake-static" | grep libcloudhsm_mfa
}
check "CMake: find_package(cloudhsm_mfa 0.1) shared and static targets, pkg_check_modules" cmake_build
cat >"$work/too-new.cmake" <<EOF
find_package(cloudhsm_mfa $((major + 1)).0 QUIET PATHS "$p" NO_DEFAULT_PATH)
if(cloudhsm_mfa_FOUND)
  message(FATAL_ERROR "version $version was taken for $((major + 1)).0")
endif()
EOF
check "CMake: a request for version $((major + 1)).0 is not served by $version" \
  cmake -P "$work/too-new.cmake"

# ---- the commands, their pages and completions ----------------------------------------
check "the installed cloudhsm-mfa runs: --version, keygen" \
  bash -c "'$real/bin/cloudhsm-mfa' --version | grep -qx 'cloudhsm-mfa $version' &&
    '$real/bin/cloudhsm-mfa' keygen --private-key '$work/k.pem' --public-key '$work/k.pub' |
      grep -q '\"error_code\": 0'"
check "the installed cloudhsm-emulator runs: --version" \
  bash -c "'$real/bin/cloudhsm-emulator' --version | grep -qx 'cloudhsm-emulator $version'"
for page in cloudhsm-mfa.1 cloudhsm-mfa-tokens-sign.1 cloudhsm-emulator-init.1; do
  check "man -l $page renders without warnings" \
    bash -c "MANWIDTH=100 man --warnings -l '$real/share/man/man1/$page' 2>'$work/man.err' >'$work/man.txt' &&
      ! [ -s '$work/man.err' ] && grep -q '^NAME' '$work/man.txt' &&
      grep -q '${page%.1}' '$work/man.txt' || { cat '$work/man.err'; exit 1; }"
done
check "man: tokens sign documents --private-key" \
  bash -c "man -l '$real/share/man/man1/cloudhsm-mfa-tokens-sign.1' | grep -q -- '--private-key'"
check "man: the hidden generate-docs is in no page" \
  bash -c "! grep -l generate-docs '$real'/share/man/man1/*.1"
# complete_words WORD...: what the installed bash completion offers for the last word,
# called as bash calls it (the function that `complete -p` names, with COMP_* set).
complete_words() {
  bash -c "source '$real/share/bash-completion/completions/cloudhsm-mfa'
    fn=\$(complete -p cloudhsm-mfa | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')
    COMP_WORDS=($*); COMP_CWORD=$(($# - 1)); COMP_LINE='$*'; COMP_POINT=\${#COMP_LINE}
    \"\$fn\" cloudhsm-mfa \"\${COMP_WORDS[COMP_CWORD]}\" \"\${COMP_WORDS[COMP_CWORD-1]}\"
    printf '%s\n' \"\${COMPREPLY[@]}\""
}
check "bash completion: cloudhsm-mfa to<TAB> gives tokens" \
  bash -c "$(declare -f complete_words); real='$real'; complete_words cloudhsm-mfa to | grep -qx tokens"
check "bash completion: cloudhsm-mfa tokens sign --pri<TAB> gives --private-key" \
  bash -c "$(declare -f complete_words); real='$real'; complete_words cloudhsm-mfa tokens sign --pri |
    grep -qx -- --private-key"
check "zsh and fish completions are written for both commands" \
  bash -c "grep -q '^#compdef cloudhsm-mfa' '$real/share/zsh/site-functions/_cloudhsm-mfa' &&
    grep -q '^#compdef cloudhsm-emulator' '$real/share/zsh/site-functions/_cloudhsm-emulator' &&
    grep -q 'complete -c cloudhsm-mfa' '$real/share/fish/vendor_completions.d/cloudhsm-mfa.fish' &&
    grep -q 'complete -c cloudhsm-emulator' '$real/share/fish/vendor_completions.d/cloudhsm-emulator.fish'"

# ---- uninstall ----------------------------------------------------------------------------
make --no-print-directory -s uninstall PREFIX=$prefix DESTDIR="$stage" >/dev/null
check "make uninstall removes every file it installed" \
  bash -c "test -z \"\$(find '$stage' ! -type d)\" || { find '$stage' ! -type d; exit 1; }"

echo "test-install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
