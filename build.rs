//! Generates the C header from src/ffi/ with cbindgen into OUT_DIR. The committed copy in
//! include/ is compared with it by a test (tests/header.rs); `CHM_UPDATE_HEADER=1 cargo
//! build` refreshes the committed copy.

use std::env;
use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("cloudhsm_mfa.h");
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=CHM_UPDATE_HEADER");

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .generate()
        .expect("the C header can be generated from src/ffi");
    bindings.write_to_file(&out);
    println!("cargo:rustc-env=CHM_GENERATED_HEADER={}", out.display());

    if env::var_os("CHM_UPDATE_HEADER").is_some() {
        bindings.write_to_file(crate_dir.join("include/cloudhsm_mfa.h"));
    }
}
