//! A deployed performance: its namespace, its pinned functions and routes, its inventory.
//! The registry maps namespace names to live performances; publishing one is a single map
//! insert, so a deploy is visible to the next request at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::auth::Auth;
use crate::db::{Db, PerformanceRow};
use crate::inventory::{Commerce, Inventory};
use crate::orders::OrderRow;
use crate::pool::{Loaded, Pool};
use crate::templates::{PerformanceParams, RouteLimit, RouteSpec};

/// What a namespace runs, pinned when it is deployed: later template changes or new
/// built-in versions do not alter it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// Function role -> component digest.
    pub components: BTreeMap<String, String>,
    pub routes: Vec<RouteSpec>,
}

/// Services every namespace's host calls use.
pub struct Shared {
    pub db: Arc<Db>,
    pub auth: Arc<Auth>,
    pub commerce: Arc<Commerce>,
}

/// A route resolved to its loaded component.
#[derive(Clone)]
pub struct Route {
    pub pattern: String,
    pub function: Arc<str>,
    pub component: Arc<Loaded>,
    pub rate_limit: Option<RouteLimit>,
}

pub struct Namespace {
    pub name: String,
    pub deployment: String,
    pub owner: String,
    pub template: String,
    pub created_at: i64,
    pub params: PerformanceParams,
    /// The params as handed to components (`config.params`).
    pub params_json: String,
    pub spec: Spec,
    pub routes: Vec<Route>,
    pub inventory: Arc<Inventory>,
    pub shared: Arc<Shared>,
}

impl Namespace {
    /// Resolves a stored performance against the pool and replays its orders.
    pub fn build(row: &PerformanceRow, pool: &Pool, shared: Arc<Shared>, orders: Vec<OrderRow>) -> Result<Self> {
        let params: PerformanceParams = serde_json::from_str(&row.params).context("stored params")?;
        let spec: Spec = serde_json::from_str(&row.spec).context("stored spec")?;
        let mut loaded = HashMap::new();
        for (role, digest) in &spec.components {
            loaded.insert(role.as_str(), pool.get(digest).with_context(|| format!("function {role}"))?);
        }
        let routes = spec
            .routes
            .iter()
            .map(|r| {
                let component = loaded.get(r.function.as_str()).context("route to a function not in the spec")?;
                Ok(Route {
                    pattern: r.path.clone(),
                    function: Arc::from(r.function.as_str()),
                    component: component.clone(),
                    rate_limit: r.rate_limit,
                })
            })
            .collect::<Result<_>>()?;
        let inventory = Arc::new(Inventory::new(&row.deployment, &params, shared.commerce.clone(), orders));
        Ok(Self {
            name: row.namespace.clone(),
            deployment: row.deployment.clone(),
            owner: row.owner.clone(),
            template: row.template.clone(),
            created_at: row.created_at,
            params_json: row.params.clone(),
            params,
            spec,
            routes,
            inventory,
            shared,
        })
    }

    /// The same performance with new display parameters, over the same functions and
    /// inventory: in-flight requests finish on the old value, new ones see the new one.
    pub fn with_params(&self, params: PerformanceParams, params_json: String) -> Self {
        Self {
            name: self.name.clone(),
            deployment: self.deployment.clone(),
            owner: self.owner.clone(),
            template: self.template.clone(),
            created_at: self.created_at,
            params,
            params_json,
            spec: self.spec.clone(),
            routes: self.routes.clone(),
            inventory: self.inventory.clone(),
            shared: self.shared.clone(),
        }
    }

    /// The route serving a path inside the namespace; the first match wins.
    pub fn route(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| crate::templates::route_matches(&r.pattern, path))
    }
}

/// Live performances by namespace.
#[derive(Default)]
pub struct Registry {
    map: RwLock<HashMap<String, Arc<Namespace>>>,
}

impl Registry {
    pub fn get(&self, name: &str) -> Option<Arc<Namespace>> {
        self.map.read().unwrap().get(name).cloned()
    }

    pub fn publish(&self, ns: Arc<Namespace>) {
        self.map.write().unwrap().insert(ns.name.clone(), ns);
    }

    pub fn remove(&self, name: &str) -> Option<Arc<Namespace>> {
        self.map.write().unwrap().remove(name)
    }

    /// Every live performance, oldest first.
    pub fn all(&self) -> Vec<Arc<Namespace>> {
        let mut all: Vec<_> = self.map.read().unwrap().values().cloned().collect();
        all.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
        all
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
