# Builds libcloudhsm_mfa, the cloudhsm-mfa and cloudhsm-emulator commands and their man
# pages and shell completions (cargo does the building), and installs them:
#
#   make                                    # cargo build --release, then the pages
#   make install PREFIX=/usr/local [DESTDIR=/tmp/stage]
#   make uninstall PREFIX=/usr/local [DESTDIR=/tmp/stage]
#
# What `make install` puts under PREFIX (VERSION is Cargo.toml's, MAJOR its first number):
#
#   lib/libcloudhsm_mfa.so.VERSION        SONAME libcloudhsm_mfa.so.MAJOR (set by build.rs)
#   lib/libcloudhsm_mfa.so.MAJOR          -> libcloudhsm_mfa.so.VERSION (what programs load)
#   lib/libcloudhsm_mfa.so                -> libcloudhsm_mfa.so.MAJOR (what -lcloudhsm_mfa finds)
#   lib/libcloudhsm_mfa.a
#   lib/pkgconfig/cloudhsm_mfa.pc         -lcloudhsm_mfa; Libs.private for --static
#   lib/pkgconfig/cloudhsm_mfa-static.pc  the archive, for `pkg-config --static` beside the .so
#   lib/cmake/cloudhsm_mfa/               find_package(cloudhsm_mfa): cloudhsm_mfa::cloudhsm_mfa
#                                         and cloudhsm_mfa::cloudhsm_mfa_static
#   include/cloudhsm_mfa.h, include/cloudhsm_mfa.hpp
#   bin/cloudhsm-mfa, bin/cloudhsm-emulator
#   share/man/man1/cloudhsm-mfa*.1, cloudhsm-emulator*.1   (a page per subcommand)
#   share/bash-completion/completions/, share/zsh/site-functions/,
#   share/fish/vendor_completions.d/
#   lib/debug/PREFIX/...                  the debug info of the shared library and the
#                                         commands, which are installed stripped
#
# The shared library and the commands are stripped (objcopy --strip-unneeded, --strip-all)
# and point to their debug info with a GNU debug link; gdb finds it under PREFIX/lib/debug
# (`set debug-file-directory PREFIX/lib/debug`; for PREFIX=/usr that is gdb's default). The
# archive loses its debug sections (--strip-debug) and keeps its symbols, as distributions
# ship archives.
#
# LIBDIR and INCLUDEDIR must lie inside PREFIX: the CMake files find them relative to
# themselves, so that a staged (DESTDIR) or moved installation works as a whole.

PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DEBUGDIR   ?= $(LIBDIR)/debug

CARGO   ?= cargo
RUSTC   ?= rustc
OBJCOPY ?= objcopy
INSTALL ?= install

# The system libraries the static library needs: what
# `cargo rustc --release -p cloudhsm-mfa --lib -- --print native-static-libs` prints on
# Linux with glibc. They are the pkg-config files' Libs.private and the CMake static
# target's link libraries; scripts/test-install.sh links a program with exactly these.
NATIVE_STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

# ---- what cargo builds ------------------------------------------------------------------

VERSION := $(lastword $(subst @, ,$(subst \#, ,$(shell $(CARGO) pkgid -p cloudhsm-mfa))))
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
TARGET_DIR := $(shell $(CARGO) metadata --format-version 1 --no-deps \
                | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
ifeq ($(VERSION),)
$(error cannot read the version of cloudhsm-mfa with `$(CARGO) pkgid`: is cargo on PATH? \
  `make install` builds first (a no-op when the build is fresh), so run it as a user with \
  cargo: with a PREFIX that user may write, or DESTDIR=... to stage a tree to copy as root)
endif
ifeq ($(TARGET_DIR),)
$(error cannot find cargo's target directory with `$(CARGO) metadata`)
endif

RELEASE  := $(TARGET_DIR)/release
LIB_SO   := $(RELEASE)/libcloudhsm_mfa.so
LIB_A    := $(RELEASE)/libcloudhsm_mfa.a
COMMANDS := cloudhsm-mfa cloudhsm-emulator
DOCS     := $(RELEASE)/docs

SO_REAL := libcloudhsm_mfa.so.$(VERSION)
SONAME  := libcloudhsm_mfa.so.$(MAJOR)

# ---- what the CMake files need ----------------------------------------------------------

empty :=
space := $(empty) $(empty)
ifeq ($(filter $(PREFIX)/%,$(LIBDIR) $(INCLUDEDIR)),)
$(error LIBDIR ($(LIBDIR)) and INCLUDEDIR ($(INCLUDEDIR)) must be inside PREFIX ($(PREFIX)))
endif
LIBDIR_REL      := $(patsubst $(PREFIX)/%,%,$(LIBDIR))
INCLUDEDIR_REL  := $(patsubst $(PREFIX)/%,%,$(INCLUDEDIR))
# From LIBDIR/cmake/cloudhsm_mfa back up to PREFIX: one ".." per directory.
CMAKE_TO_PREFIX := $(subst $(space),/,$(patsubst %,..,$(subst /, ,$(LIBDIR_REL)) cmake cloudhsm_mfa))
POINTER_BITS    := $(shell $(RUSTC) --print cfg | sed -n 's/^target_pointer_width="\(.*\)"/\1/p')
SIZEOF_VOID_P   := $(if $(filter 64,$(POINTER_BITS)),8,4)

SUBSTITUTE = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	-e 's|@MAJOR@|$(MAJOR)|g' \
	-e 's|@NATIVE_STATIC_LIBS@|$(NATIVE_STATIC_LIBS)|g' \
	-e 's|@CMAKE_NATIVE_STATIC_LIBS@|$(subst $(space),;,$(NATIVE_STATIC_LIBS))|g' \
	-e 's|@LIBDIR_REL@|$(LIBDIR_REL)|g' -e 's|@INCLUDEDIR_REL@|$(INCLUDEDIR_REL)|g' \
	-e 's|@CMAKE_TO_PREFIX@|$(CMAKE_TO_PREFIX)|g' -e 's|@SIZEOF_VOID_P@|$(SIZEOF_VOID_P)|g'

# $(call install-stripped,FILE,DEST,STRIP,MODE): FILE's debug info to DEBUGDIR/DEST.debug,
# FILE stripped with STRIP (and a debug link to it) to DEST, with MODE.
define install-stripped
	$(INSTALL) -d "$(DESTDIR)$(dir $(2))" "$(DESTDIR)$(DEBUGDIR)$(dir $(2))"
	$(OBJCOPY) --only-keep-debug --compress-debug-sections=zlib "$(1)" "$(DESTDIR)$(DEBUGDIR)$(2).debug"
	chmod 644 "$(DESTDIR)$(DEBUGDIR)$(2).debug"
	$(OBJCOPY) $(3) --add-gnu-debuglink="$(DESTDIR)$(DEBUGDIR)$(2).debug" "$(1)" "$(DESTDIR)$(2)"
	chmod $(4) "$(DESTDIR)$(2)"
endef

.PHONY: all build docs install uninstall
.DELETE_ON_ERROR:

all: docs

# The same packages as bindings/python/hatch_build.py builds the wheel's library with, so
# that the two share one build of the library (cargo unifies features per build).
build:
	$(CARGO) build --release --locked -p cloudhsm-mfa -p cloudhsm-mfa-cli -p cloudhsm-mfa-emulator

# The man pages and completions, from the commands' own definitions (a hidden
# subcommand of each; see cli-docs/).
docs: build
	rm -rf "$(DOCS)"
	for c in $(COMMANDS); do \
		"$(RELEASE)/$$c" generate-docs "$(DOCS)/$$c" >"$(DOCS).log" 2>&1 || \
			{ echo "make: $$c generate-docs failed:" >&2; cat "$(DOCS).log" >&2; exit 1; }; \
	done
	rm -f "$(DOCS).log"

install: all
	$(call install-stripped,$(LIB_SO),$(LIBDIR)/$(SO_REAL),--strip-unneeded,644)
	ln -sfn $(SO_REAL) "$(DESTDIR)$(LIBDIR)/$(SONAME)"
	ln -sfn $(SONAME) "$(DESTDIR)$(LIBDIR)/libcloudhsm_mfa.so"
	$(OBJCOPY) --strip-debug --enable-deterministic-archives "$(LIB_A)" "$(DESTDIR)$(LIBDIR)/libcloudhsm_mfa.a"
	chmod 644 "$(DESTDIR)$(LIBDIR)/libcloudhsm_mfa.a"
	$(INSTALL) -d "$(DESTDIR)$(INCLUDEDIR)" "$(DESTDIR)$(LIBDIR)/pkgconfig" \
		"$(DESTDIR)$(LIBDIR)/cmake/cloudhsm_mfa"
	$(INSTALL) -m 644 include/cloudhsm_mfa.h bindings/cpp/cloudhsm_mfa.hpp "$(DESTDIR)$(INCLUDEDIR)"
	for pc in cloudhsm_mfa cloudhsm_mfa-static; do \
		$(SUBSTITUTE) packaging/$$pc.pc.in > "$(DESTDIR)$(LIBDIR)/pkgconfig/$$pc.pc" || exit 1; \
	done
	for f in cloudhsm_mfa-config cloudhsm_mfa-config-version; do \
		$(SUBSTITUTE) packaging/$$f.cmake.in > "$(DESTDIR)$(LIBDIR)/cmake/cloudhsm_mfa/$$f.cmake" || exit 1; \
	done
	chmod 644 "$(DESTDIR)$(LIBDIR)"/pkgconfig/cloudhsm_mfa*.pc "$(DESTDIR)$(LIBDIR)"/cmake/cloudhsm_mfa/*.cmake
	$(call install-stripped,$(RELEASE)/cloudhsm-mfa,$(BINDIR)/cloudhsm-mfa,--strip-all,755)
	$(call install-stripped,$(RELEASE)/cloudhsm-emulator,$(BINDIR)/cloudhsm-emulator,--strip-all,755)
	$(INSTALL) -d "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(DATADIR)/bash-completion/completions" \
		"$(DESTDIR)$(DATADIR)/zsh/site-functions" "$(DESTDIR)$(DATADIR)/fish/vendor_completions.d"
	for c in $(COMMANDS); do \
		$(INSTALL) -m 644 "$(DOCS)/$$c"/man1/*.1 "$(DESTDIR)$(MANDIR)/man1" && \
		$(INSTALL) -m 644 "$(DOCS)/$$c/completions/$$c.bash" \
			"$(DESTDIR)$(DATADIR)/bash-completion/completions/$$c" && \
		$(INSTALL) -m 644 "$(DOCS)/$$c/completions/_$$c" "$(DESTDIR)$(DATADIR)/zsh/site-functions" && \
		$(INSTALL) -m 644 "$(DOCS)/$$c/completions/$$c.fish" \
			"$(DESTDIR)$(DATADIR)/fish/vendor_completions.d" || exit 1; \
	done

# Removes what `install` put there (the man pages by name pattern), and the directories
# of this package.
uninstall:
	rm -f "$(DESTDIR)$(LIBDIR)/$(SO_REAL)" "$(DESTDIR)$(LIBDIR)/$(SONAME)" \
		"$(DESTDIR)$(LIBDIR)/libcloudhsm_mfa.so" "$(DESTDIR)$(LIBDIR)/libcloudhsm_mfa.a" \
		"$(DESTDIR)$(DEBUGDIR)$(LIBDIR)/$(SO_REAL).debug" \
		"$(DESTDIR)$(INCLUDEDIR)/cloudhsm_mfa.h" "$(DESTDIR)$(INCLUDEDIR)/cloudhsm_mfa.hpp" \
		"$(DESTDIR)$(LIBDIR)/pkgconfig/cloudhsm_mfa.pc" \
		"$(DESTDIR)$(LIBDIR)/pkgconfig/cloudhsm_mfa-static.pc"
	rm -rf "$(DESTDIR)$(LIBDIR)/cmake/cloudhsm_mfa"
	for c in $(COMMANDS); do \
		rm -f "$(DESTDIR)$(BINDIR)/$$c" "$(DESTDIR)$(DEBUGDIR)$(BINDIR)/$$c.debug" \
			"$(DESTDIR)$(MANDIR)/man1/$$c.1" "$(DESTDIR)$(MANDIR)/man1/$$c"-*.1 \
			"$(DESTDIR)$(DATADIR)/bash-completion/completions/$$c" \
			"$(DESTDIR)$(DATADIR)/zsh/site-functions/_$$c" \
			"$(DESTDIR)$(DATADIR)/fish/vendor_completions.d/$$c.fish"; \
	done
