//! Performances: deploy, list, read, patch, take down or cancel; their deploy and Kubernetes
//! tokens; their metrics over a range.

use super::*;

pub(crate) fn performance_view(app: &App, ns: &Namespace) -> Performance {
    Performance {
        namespace: ns.name.clone(),
        status: "ready".into(),
        url: format!("/p/{}/", ns.name),
        public_url: app.public_url(&ns.name),
        template: ns.template.clone(),
        owner: ns.owner.clone(),
        created_at: ns.created_at,
        params: serde_json::to_value(&ns.params).expect("params serialize"),
        components: ns.spec.components.clone(),
        digest: ns.digest().to_owned(),
        ticket_key: ns.inventory.pass_key().public(),
        switch_ms: None,
    }
}

pub(crate) async fn deploy(State(app): State<AppState>, caller: Caller, body: Bytes) -> ApiResult {
    let account = caller.require_role(&[Role::Seller, Role::Admin])?;
    let request: DeployRequest = parse_request(&body, Code::InvalidRequest)?;
    let (ns, took) = app.deploy(Caller::actor(account), &request).await?;
    tracing::info!(namespace = %ns.name, template = %ns.template, ms = took.as_secs_f64() * 1e3, "deployed");
    let body = Deployed {
        namespace: ns.name.clone(),
        status: "ready".into(),
        url: format!("/p/{}/", ns.name),
        public_url: app.public_url(&ns.name),
        deploy_ms: took.as_secs_f64() * 1e3,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(crate) async fn performances(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Performance>>> {
    let account = caller.require_role(&[Role::Seller, Role::Admin])?;
    let list = app
        .registry
        .all()
        .iter()
        .filter(|ns| caller.is_admin() || ns.owner == account.sub)
        .map(|ns| performance_view(&app, ns))
        .collect();
    Ok(Json(list))
}

pub(crate) fn find(app: &App, name: &str) -> Result<Arc<Namespace>, ApiError> {
    app.registry.get(name).ok_or_else(|| ApiError::not_found(format!("no performance {name:?}")))
}

/// The performance, if the caller owns it (or is an admin).
pub(crate) fn owned(app: &App, caller: &Caller, name: &str) -> ApiResult<Arc<Namespace>> {
    let ns = find(app, name)?;
    caller.may_own(&ns)?;
    Ok(ns)
}

pub(crate) async fn performance(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult<Json<Performance>> {
    let ns = find(&app, &name)?;
    caller.may_update(&ns)?;
    Ok(Json(performance_view(&app, &ns)))
}

pub(crate) async fn patch(State(app): State<AppState>, caller: Caller, Path(name): Path<String>, body: Bytes) -> ApiResult<Json<Performance>> {
    let live = find(&app, &name)?;
    caller.may_update(&live)?;
    let request: PatchRequest = parse_request(&body, Code::InvalidRequest)?;
    let (ns, took) = app.patch(caller.actor_on(&live), &name, &request).await?;
    let mut view = performance_view(&app, &ns);
    view.switch_ms = Some(took.as_secs_f64() * 1e3);
    Ok(Json(view))
}

pub(crate) async fn undeploy(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult {
    owned(&app, &caller, &name)?;
    app.undeploy(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Cancels a performance: every confirmed order is refunded and cancelled, then it is
/// archived (its buyers still see their orders).
pub(crate) async fn cancel_performance(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    owned(&app, &caller, &name)?;
    let refunded = app.cancel(&name).await?;
    Ok(Json(json!({ "namespace": name, "status": "cancelled", "refunded_orders": refunded })))
}

/// Issues a deploy token bound to this performance, for the owner's CI. Shown once.
pub(crate) async fn issue_token(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult {
    let ns = owned(&app, &caller, &name)?;
    let (id, token) = app.shared.auth.issue_namespace_token(&ns.name, &ns.deployment, &caller.account()?.sub, TokenScope::Deploy, "").await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "namespace": ns.name, "token": token }))).into_response())
}

/// Cluster mode: a short-lived token of the performance's Kubernetes account, whose rights
/// reach only its namespace. The control plane holds the right to ask; the seller never does.
pub(crate) async fn kubernetes_token(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult {
    let ns = owned(&app, &caller, &name)?;
    let Some(mirror) = app.mirror.get() else {
        return Err(ApiError::not_found("Kubernetes tokens exist only in cluster mode (marquee control --kube)").into());
    };
    let issued = mirror.seller_token(&ns.name).await.map_err(|e| {
        tracing::error!(namespace = %ns.name, error = format!("{e:#}"), "TokenRequest failed");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, Code::ClusterUnavailable, "the Kubernetes API did not give a token; try again")
    })?;
    let Some((token, expires_at)) = issued else {
        return Err(ApiError::new(StatusCode::CONFLICT, Code::NotProvisioned, "the operator has not made this performance's Kubernetes account yet; try again shortly").into());
    };
    let body = json!({
        "namespace": mirror.namespace_of(&ns.name),
        "service_account": marquee_crd::SELLER_ACCOUNT,
        "token": token,
        "expires_at": expires_at,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(crate) async fn revoke_token(State(app): State<AppState>, caller: Caller, Path((name, id)): Path<(String, String)>) -> ApiResult {
    let ns = owned(&app, &caller, &name)?;
    if !app.shared.catalog.revoke_namespace_token(&ns.deployment, &id).await? {
        return Err(ApiError::not_found("no such live token for this performance").into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub(crate) struct RangeQuery {
    range: Option<String>,
    step: Option<String>,
}

/// Most points one range query returns, and the longest range it covers.
pub(crate) const MAX_POINTS: u64 = 1000;
pub(crate) const MAX_RANGE: Duration = Duration::from_secs(3600);

/// Per-function rates, percentiles and memory, and sales per section, over time.
pub(crate) async fn performance_metrics(
    State(app): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<RangeQuery>,
) -> ApiResult<Json<Value>> {
    let ns = find(&app, &name)?;
    caller.may_update(&ns)?;
    let parse = |text: Option<String>, default: &str, field: &'static str| {
        marquee_deployments::parse_duration(text.as_deref().unwrap_or(default))
            .ok_or_else(|| ApiError::bad_request(Code::InvalidRange, format!("{field} must look like 30s, 15m or 1h")).field(field))
    };
    let (range, step) = (parse(q.range, "15m", "range")?, parse(q.step, "15s", "step")?);
    if range > MAX_RANGE {
        return Err(ApiError::bad_request(Code::InvalidRange, "at most 1h of history").field("range").into());
    }
    // A step is a resolution wish: within the range, and coarse enough for MAX_POINTS.
    let step = step.clamp(Duration::from_secs(range.as_secs().div_ceil(MAX_POINTS)).max(Duration::from_secs(1)), range);
    let mut series = app.history.query(&ns.deployment, range, step);
    series["step_seconds"] = json!(step.as_secs());
    Ok(Json(series))
}
