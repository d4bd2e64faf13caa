//! Host bindings generated from the `platform` world of `wit/`, the one place that runs
//! `bindgen!` (like Spin's `world` crate).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "marquee:platform/platform",
    imports: {
        // Both wait for the order log's group commit.
        "marquee:platform/inventory.confirm": async | trappable,
        "marquee:platform/inventory.cancel": async | trappable,
        // The store may be across a network (Redis) or a blocking thread (SQLite).
        "marquee:platform/kv.get": async | trappable,
        "marquee:platform/kv.set": async | trappable,
        "marquee:platform/kv.delete": async | trappable,
        default: trappable,
    },
});

pub use self::marquee::platform::{config, identity, inventory, kv, log};
