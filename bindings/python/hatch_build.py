"""The wheel's build hook: builds libcloudhsm_mfa with cargo and puts it inside the
package, so that an installed ``cloudhsm_mfa`` loads its own library
(``cloudhsm_mfa/libcloudhsm_mfa.so``) with no environment variable set.

``pip install bindings/python`` and ``pip wheel bindings/python`` run it from a checkout
of the repository: ``cargo build --release --lib -p cloudhsm-mfa`` (with the packages
that ``make`` builds, see ``CARGO_COMPANIONS``) against the repository's Cargo.toml, in cargo's usual target directory (``target/``, or
``$CARGO_TARGET_DIR``), so a build already made there is reused. The wheel holds a
library for one platform, not for one Python: it is tagged ``py3-none-<platform>``.

On Linux the library goes into the wheel stripped (``objcopy --strip-unneeded``, as
``make install`` installs it): a sixth of its size as built, which carries line tables.

An editable install (``pip install -e``) builds the library too but leaves it in the
target directory, where the package finds the repository's build.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

#: The Rust package whose library the wheel carries.
CARGO_PACKAGE = "cloudhsm-mfa"
#: Built with it (their libraries only): cargo unifies the features of shared dependencies
#: over the packages of one build, so the library is the same build as the one of
#: `cargo build --release --workspace` and `make` only when they are named too. Built
#: alone, it would be compiled again, and replace theirs in target/release.
CARGO_COMPANIONS = ("cloudhsm-mfa-cli", "cloudhsm-mfa-emulator")


def library_file_name() -> str:
    """The shared library's name on this platform, as cargo writes it."""
    if sys.platform == "darwin":
        return "libcloudhsm_mfa.dylib"
    if sys.platform == "win32":
        return "cloudhsm_mfa.dll"
    return "libcloudhsm_mfa.so"


def platform_tag() -> str:
    """The wheel's platform tag, as for any wheel with compiled code in it
    (``linux_x86_64``, ``macosx_11_0_arm64``, ...)."""
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def build_library(manifest: Path) -> Path:
    """Runs cargo and returns the path of the shared library it built (read from cargo's
    JSON messages, so any target directory works). Cargo's progress goes to stderr."""
    cargo = shutil.which("cargo")
    if cargo is None:
        raise RuntimeError(
            "cloudhsm-mfa: cargo is not on PATH; the wheel carries libcloudhsm_mfa, which is "
            "built from the Rust sources (install Rust: https://rustup.rs)"
        )
    packages = [arg for name in (CARGO_PACKAGE, *CARGO_COMPANIONS) for arg in ("-p", name)]
    command = [
        cargo, "build", "--release", "--locked", "--lib", *packages,
        "--manifest-path", str(manifest), "--message-format=json-render-diagnostics",
    ]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"cloudhsm-mfa: `{' '.join(command)}` failed with exit status {done.returncode}; "
            "its messages are above"
        )
    wanted = library_file_name()
    for line in done.stdout.splitlines():
        message = json.loads(line) if line.startswith("{") else {}
        if message.get("reason") != "compiler-artifact":
            continue
        if message.get("target", {}).get("name") != "cloudhsm_mfa":
            continue
        for name in message.get("filenames", []):
            if Path(name).name == wanted:
                return Path(name)
    raise RuntimeError(f"cloudhsm-mfa: cargo built no {wanted} (command: {' '.join(command)})")


def stripped(library: Path, directory: Path) -> Path:
    """A copy of ``library`` in ``directory`` without debug sections and symbol table (its
    exported symbols stay), on Linux; elsewhere ``library`` itself."""
    if not sys.platform.startswith("linux"):
        return library
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        raise RuntimeError(
            "cloudhsm-mfa: objcopy is not on PATH; it strips the library for the wheel "
            "(Debian: apt-get install binutils, which linking with cargo needs too)"
        )
    out = directory / library.name
    subprocess.run([objcopy, "--strip-unneeded", str(library), str(out)], check=True)
    return out


class CargoLibraryHook(BuildHookInterface):  # type: ignore[type-arg]
    """Builds the library and adds it to the wheel as ``cloudhsm_mfa/<library>``."""

    PLUGIN_NAME = "custom"
    _scratch: tempfile.TemporaryDirectory[str] | None = None

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        manifest = Path(self.root).resolve().parents[1] / "Cargo.toml"
        if not manifest.is_file():
            raise RuntimeError(
                f"cloudhsm-mfa: {manifest} is missing; the wheel builds libcloudhsm_mfa from "
                "the repository, so build it from a checkout: pip wheel bindings/python"
            )
        library = build_library(manifest)
        if version == "editable":
            return
        self._scratch = tempfile.TemporaryDirectory(prefix="cloudhsm-mfa-wheel-")
        packaged = stripped(library, Path(self._scratch.name))
        build_data["force_include"][str(packaged)] = f"cloudhsm_mfa/{library.name}"
        build_data["pure_python"] = False
        build_data["tag"] = f"py3-none-{platform_tag()}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
