//! Host bindings generated from the `platform` world of `wit/`, the one place that runs
//! `bindgen!` (like Spin's `world` crate).

// What bindgen makes has the WIT's comments as its docs; the rest (its linker glue) has none.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "marquee:platform/platform",
    imports: {
        // The claim store may be across a network (Redis); confirm and cancel wait for
        // the order's durable write.
        "marquee:platform/inventory.availability": async | trappable,
        "marquee:platform/inventory.hold": async | trappable,
        "marquee:platform/inventory.release": async | trappable,
        "marquee:platform/inventory.confirm": async | trappable,
        "marquee:platform/inventory.cancel": async | trappable,
        "marquee:platform/inventory.orders": async | trappable,
        // The store may be across a network (Redis) or a blocking thread (SQLite).
        "marquee:platform/kv.get": async | trappable,
        "marquee:platform/kv.set": async | trappable,
        "marquee:platform/kv.delete": async | trappable,
        default: trappable,
    },
});

pub(crate) use self::marquee::platform::{config, identity, inventory, kv, log};
