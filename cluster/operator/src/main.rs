//! `marquee-operator run` reconciles every `Performance`; `crd` prints the CustomResourceDefinition
//! (what `cluster/deploy` holds); `render FILE` prints the objects a `Performance` stands for, for
//! offline validation.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use k8s_openapi::api::apps::v1::Deployment;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, CustomResourceExt};
use marquee_operator::crd::Performance;
use marquee_operator::objects::Platform;
use marquee_operator::reconcile::{self, Context, Serving};
use marquee_store_redis::{Durability, RedisStore};

#[derive(Parser)]
#[command(name = "marquee-operator", version, about = "Marquee's Kubernetes operator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Reconcile every Performance in the cluster.
    Run(PlatformFlags),
    /// Print the Performance CustomResourceDefinition as JSON.
    Crd,
    /// Print, one JSON document each, the objects a Performance (a JSON file) stands for.
    Render {
        file: std::path::PathBuf,
        #[command(flatten)]
        platform: PlatformFlags,
    },
}

#[derive(clap::Args)]
struct PlatformFlags {
    /// The namespace of the control plane, the runtime pool, Redis and the Gateway.
    #[arg(long, env = "MARQUEE_PLATFORM_NAMESPACE", default_value = marquee_operator::crd::PLATFORM_NAMESPACE)]
    platform_namespace: String,
    /// What each performance's namespace is named with before its name: it makes namespaces
    /// of its own and never takes one that was there.
    #[arg(long, env = "MARQUEE_NAMESPACE_PREFIX", default_value = marquee_operator::crd::NAMESPACE_PREFIX)]
    namespace_prefix: String,
    #[arg(long, env = "MARQUEE_GATEWAY", default_value = "marquee")]
    gateway: String,
    #[arg(long, env = "MARQUEE_POOL_SERVICE", default_value = "marquee-runtime")]
    pool_service: String,
    #[arg(long, env = "MARQUEE_RUNTIME_PORT", default_value_t = 8080)]
    port: i32,
    /// The image a dedicated runtime runs.
    #[arg(long, env = "MARQUEE_IMAGE", default_value = "ghcr.io/marquee-dev/marquee:latest")]
    image: String,
    /// The store every runtime shares; a Service's short name is qualified with the platform's
    /// namespace for dedicated runtimes.
    #[arg(long, env = "MARQUEE_STORE", default_value = "redis://marquee-redis.marquee-system.svc:6379")]
    store: String,
    /// Another namespace whose pods may reach performances' pods (the Gateway's proxies).
    #[arg(long = "admit-namespace", env = "MARQUEE_ADMIT_NAMESPACES", value_delimiter = ',', value_name = "NAMESPACE")]
    admit: Vec<String>,
    /// The Gateway's proxies (CIDR ranges, comma-separated), handed to dedicated runtimes.
    #[arg(long, env = "MARQUEE_TRUSTED_PROXIES", value_name = "CIDR,…")]
    trusted_proxies: Option<String>,
    /// Prometheus's bearer token, handed to dedicated runtimes (`--metrics-token`).
    #[arg(long, env = "MARQUEE_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
}

impl PlatformFlags {
    fn platform(self) -> Platform {
        Platform {
            namespace: self.platform_namespace,
            namespace_prefix: self.namespace_prefix,
            gateway: self.gateway,
            pool_service: self.pool_service,
            port: self.port,
            image: self.image,
            store: self.store,
            admit: self.admit,
            trusted_proxies: self.trusted_proxies.filter(|cidrs| !cidrs.is_empty()),
            metrics_token: self.metrics_token.filter(|token| !token.is_empty()),
        }
    }
}

/// The runtimes' own reports in Redis of what they serve.
struct Reports(RedisStore);

impl Serving for Reports {
    fn serving<'a>(&'a self, namespace: &'a str, digest: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(self.0.serving(namespace, digest))
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())).init();
    match Cli::parse().command {
        Command::Crd => println!("{}", serde_json::to_string_pretty(&Performance::crd())?),
        Command::Render { file, platform } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("failed to read {}", file.display()))?;
            let perf: Performance = serde_json::from_str(&text).with_context(|| format!("{} is not a Performance", file.display()))?;
            let documents: Vec<String> = reconcile::render(&perf, &platform.platform()).iter().map(|o| o.to_string()).collect();
            println!("{}", documents.join("\n---\n"));
        }
        Command::Run(flags) => {
            let platform = flags.platform();
            let store = RedisStore::connect(&platform.store, Durability::Relaxed).await?;
            let client = Client::try_default().await.context("no Kubernetes API to talk to")?;
            let ctx = Arc::new(Context { client: client.clone(), platform, serving: Arc::new(Reports(store)) });
            Controller::new(Api::<Performance>::all(client.clone()), watcher::Config::default())
                .owns(Api::<Deployment>::all(client), watcher::Config::default().labels(marquee_operator::objects::PERFORMANCE_LABEL))
                .shutdown_on_signal()
                .run(reconcile::reconcile, reconcile::error_policy, ctx)
                .for_each(|result| async move {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "reconcile did not finish");
                    }
                })
                .await;
        }
    }
    Ok(())
}
