//! Redis as one [`Backend`], shared by every process of a platform.

use std::sync::Arc;

use marquee_store::{
    Backend, BoxFuture, BuyerOrder, Catalog, ClaimStore, Claims, DirectoryEvent, IdentityEvent, Replay, Secrets, SharedStore,
};

use crate::RedisStore;

impl RedisStore {
    /// This store as every trait of a backend.
    pub fn backend(self) -> Backend {
        let store = Arc::new(self);
        Backend {
            name: "redis",
            identity: store.clone(),
            catalog: store.clone(),
            kv: store.clone(),
            buckets: store.clone(),
            claims: store.clone(),
            secrets: store.clone(),
            outbox: store.clone(),
            snapshot: store.clone(),
            shared: Some(store),
        }
    }
}

impl Claims for RedisStore {
    fn open<'a>(&'a self, deployment: &'a str, hold_ttl_ms: u64, _replay: Replay<'a>) -> BoxFuture<'a, Arc<dyn ClaimStore>> {
        // The claims themselves live in Redis: nothing to rebuild.
        let claims: Arc<dyn ClaimStore> = Arc::new(self.claims(deployment, hold_ttl_ms));
        Box::pin(std::future::ready(Ok(claims)))
    }

    fn orders_of_buyer<'a>(&'a self, buyer: &'a str, catalog: &'a dyn Catalog) -> BoxFuture<'a, Vec<BuyerOrder>> {
        Box::pin(async move {
            // Each performance's orders are under its own hash tag: one step per performance.
            let asks: Vec<_> = catalog
                .deployments()
                .await?
                .into_iter()
                .map(|(namespace, deployment, params, archived_at)| async move {
                    // Reading orders does not depend on how long holds last.
                    let orders = self.claims(&deployment, 0).do_orders_of(buyer).await?;
                    anyhow::Ok((orders, namespace, params, archived_at))
                })
                .collect();
            let mut out = Vec::new();
            for (orders, namespace, params, archived_at) in marquee_store::a_few_at_a_time(asks).await? {
                for stored in orders {
                    out.push(BuyerOrder { order: stored.row()?, namespace: namespace.clone(), params: params.clone(), archived_at });
                }
            }
            out.sort_by(|a, b| (b.order.created_at, &a.order.id).cmp(&(a.order.created_at, &b.order.id)));
            Ok(out)
        })
    }
}

impl Secrets for RedisStore {
    fn secret<'a>(&'a self, name: &'a str, candidate: &'a str) -> BoxFuture<'a, String> {
        Box::pin(self.shared_secret(name, candidate))
    }
}

impl SharedStore for RedisStore {
    fn watch_directory(&self, on: Box<dyn Fn(DirectoryEvent) + Send + Sync>) {
        RedisStore::watch_directory(self, on);
    }

    fn watch_identity(&self, on: Box<dyn Fn(IdentityEvent) + Send + Sync>) {
        RedisStore::watch_identity(self, on);
    }

    fn ping(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(RedisStore::ping(self))
    }

    fn report_serving<'a>(&'a self, process: &'a str, served: &'a [(String, String)]) -> BoxFuture<'a, ()> {
        Box::pin(RedisStore::report_serving(self, process, served))
    }

    fn put_counters<'a>(&'a self, deployment: &'a str, process: &'a str, counters: &'a [(String, String)]) -> BoxFuture<'a, ()> {
        Box::pin(RedisStore::put_counters(self, deployment, process, counters))
    }

    fn counters<'a>(&'a self, deployment: &'a str, except: &'a str) -> BoxFuture<'a, Vec<(String, String, String)>> {
        Box::pin(RedisStore::counters(self, deployment, except))
    }
}
