//! Marquee's Kubernetes operator. The control plane writes a `Performance` for every deploy,
//! PATCH and delete; the operator is the only writer of what each one stands for. It never links
//! wasmtime: runtimes serve a performance as soon as its spec reaches the store, and the objects
//! here follow off the request path.

pub use marquee_crd as crd;
pub mod objects;
pub mod reconcile;
