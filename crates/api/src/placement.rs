//! Where a template's performances run on Kubernetes. The control plane writes these into each
//! Performance resource; `marquee-crd` holds their Kubernetes form.

use serde::{Deserialize, Deserializer, Serialize};

/// `shared`: the runtime pool serves the performance; `dedicated`: its own runtime pods too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    #[default]
    /// The shared runtime pool serves it.
    Shared,
    /// Its own runtime pods serve it, in its namespace.
    Dedicated,
}

/// The size of a dedicated performance's runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedicatedRuntime {
    /// How many runtime pods.
    pub replicas: i32,
    /// CPU per pod, requested and the limit, as Kubernetes writes it (`500m`, `2`).
    #[serde(deserialize_with = "quantity")]
    pub cpu: String,
    /// Memory per pod, requested and the limit (`256Mi`).
    #[serde(deserialize_with = "quantity")]
    pub memory: String,
}

/// A Kubernetes quantity, which may be written as a bare number (`2`) as well as text.
fn quantity<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(match Written::deserialize(deserializer)? {
        Written::Text(text) => text,
        Written::Number(number) => number.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quantity_is_text_or_a_number() {
        let runtime: DedicatedRuntime = serde_json::from_str(r#"{"replicas": 2, "cpu": 2, "memory": "256Mi"}"#).unwrap();
        assert_eq!((runtime.cpu.as_str(), runtime.memory.as_str()), ("2", "256Mi"));
        assert!(serde_json::from_str::<DedicatedRuntime>(r#"{"replicas": 2, "cpu": true, "memory": "1Gi"}"#).is_err());
    }
}
