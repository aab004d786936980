//! The shared library's SONAME, `libcloudhsm_mfa.so.MAJOR`, and the link of that name
//! beside the library in the build's output directory.
//!
//! A program linked against the library records the SONAME (`NEEDED
//! libcloudhsm_mfa.so.0`) and looks for a file of that name at run time: `make install`
//! installs `libcloudhsm_mfa.so.MAJOR.MINOR.PATCH` with the links `.so.MAJOR` and `.so`;
//! in `target/<profile>/` the link `libcloudhsm_mfa.so.MAJOR -> libcloudhsm_mfa.so`
//! made here lets programs linked against the build (the C tests, the examples) run.
//!
//! The SONAME carries the major version alone, also while it is 0: the C ABI only grows
//! (functions are appended to the function list, codes are never reused), so every 0.y.z
//! release can replace the one before it. A release that breaks the ABI must be 1.0.0.

use std::path::Path;

/// The library's file name and SONAME for the target, when it is an ELF platform.
pub struct Names {
    pub file: String,
    pub soname: String,
}

pub fn names(target_os: &str, major: &str) -> Option<Names> {
    let elf = matches!(
        target_os,
        "linux"
            | "android"
            | "freebsd"
            | "netbsd"
            | "openbsd"
            | "dragonfly"
            | "illumos"
            | "solaris"
    );
    elf.then(|| Names {
        file: "libcloudhsm_mfa.so".to_string(),
        soname: format!("libcloudhsm_mfa.so.{major}"),
    })
}

/// Makes `<dir>/<soname> -> <file>` in the directory cargo puts the library in,
/// `target/<profile>/`, which is three levels above OUT_DIR
/// (`target/<profile>/build/cloudhsm-mfa-<hash>/out`). The link may dangle until cargo
/// links the library. Returns why it could not be made.
pub fn link_in_output_dir(out_dir: &Path, names: &Names) -> Result<(), String> {
    let build_dir = out_dir.parent().and_then(Path::parent);
    let Some(dir) = build_dir
        .filter(|b| b.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent)
    else {
        return Err(format!(
            "OUT_DIR {} is not in <target>/<profile>/build/",
            out_dir.display()
        ));
    };
    let link = dir.join(&names.soname);
    match std::fs::read_link(&link) {
        Ok(to) if to == Path::new(&names.file) => return Ok(()),
        Ok(_) => std::fs::remove_file(&link).map_err(|e| format!("{}: {e}", link.display()))?,
        Err(_) if link.exists() => {
            return Err(format!(
                "{} exists and is not a symbolic link",
                link.display()
            ))
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(&names.file, &link).map_err(|e| format!("{}: {e}", link.display()))
}
