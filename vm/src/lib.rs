//! The VM runner: boots a chosen kernel under QEMU and runs the suites inside it.
//!
//! Placeholder crate: the VM runner issue fills it in. It will know only kernels, QEMU and
//! initramfs, and run the same suite binaries the host run uses.
