//! Host bindings generated from the `platform` world of `wit/`, the one place that runs
//! `bindgen!` (like Spin's `world` crate).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "marquee:platform/platform",
    imports: {
        // Both wait for the order log's group commit.
        "marquee:platform/inventory.confirm": async | trappable,
        "marquee:platform/inventory.cancel": async | trappable,
        default: trappable,
    },
});

pub use self::marquee::platform::{config, identity, inventory, kv, log};
