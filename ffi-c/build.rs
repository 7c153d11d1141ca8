//! Gives the shared library a SONAME carrying the major version (`libringbreaker.so.0`), the
//! name `make install` installs it under, so programs linked against one major version keep
//! working across minor releases.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libringbreaker.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
