//! The one wasmtime `Engine`: pooling allocator (instance slots and resident memory reused
//! across requests) and epoch interruption (deadlines without per-instruction fuel).

use anyhow::Result;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use marquee_deployments::fair::EPOCH_TICK;
use marquee_deployments::MAX_INSTANCE_MEMORY;

/// Instances that may be alive at once across all namespaces.
pub(crate) const MAX_INSTANCES: u32 = 1000;

/// The one engine of a process: instances from a pool, interrupted by epoch ticks.
pub(crate) fn new_engine() -> Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_INSTANCES);
    // A Rust wasip2 component is a handful of core instances (module, adapters, shims).
    pool.max_core_instances_per_component(16);
    pool.total_core_instances(MAX_INSTANCES * 8);
    pool.total_memories(MAX_INSTANCES * 2);
    pool.total_tables(MAX_INSTANCES * 4);
    pool.total_stacks(MAX_INSTANCES);
    pool.max_memory_size(MAX_INSTANCE_MEMORY);
    // Reset memory by memset of the pages a request dirtied (found with the PAGEMAP_SCAN
    // ioctl where the kernel has it) instead of madvise: madvise in a multi-threaded process
    // costs a TLB shootdown on every core, per request.
    pool.pagemap_scan(Enabled::Auto);
    pool.linear_memory_keep_resident(4 << 20);
    pool.table_keep_resident(64 << 10);
    // What still needs madvise is batched.
    pool.decommit_batch_size(64);

    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // Memories never grow past MAX_INSTANCE_MEMORY, so reserve just that (plus guards).
    config.memory_reservation(MAX_INSTANCE_MEMORY as u64);
    config.memory_may_move(false);
    Ok(Engine::new(&config)?)
}

/// Advances the engine's epoch every tick until the process ends.
pub(crate) fn start_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("failed to start the epoch ticker");
}
