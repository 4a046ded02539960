// Rebuild when a migration or a template changes: both are compiled into the binary.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
    println!("cargo:rerun-if-changed=../../templates");
    println!("cargo:rerun-if-changed=../../static");
}
