//! Components: uploads (checked and compiled off the async workers) and the pool as a caller
//! may see it.

use super::*;

#[derive(Deserialize)]
pub(crate) struct UploadQuery {
    name: Option<String>,
    version: Option<String>,
}

pub(crate) fn component_view(c: &marquee_store::ComponentRow) -> Component {
    Component {
        digest: c.digest.clone(),
        name: c.name.clone(),
        version: c.version.clone(),
        world: Some(c.world.clone()),
        size: Some(c.size as u64),
        owner: c.owner.clone(),
    }
}

/// Uploads a component into the pool (seller, admin): checked and compiled once, off the
/// async workers and under a time limit, stored by digest.
pub(crate) async fn upload_component(
    State(app): State<AppState>,
    caller: Caller,
    axum::extract::Query(query): axum::extract::Query<UploadQuery>,
    body: axum::body::Body,
) -> ApiResult {
    let account = caller.require_role(&[Role::Seller, Role::Admin])?;
    let body = read_component(body).await?;
    let label = |value: Option<String>, field: &'static str| {
        value
            .filter(|v| marquee_api::Identifier::Label.accepts(v))
            .ok_or_else(|| ApiError::bad_request(Code::InvalidComponent, format!("?{field}= must be 1-64 letters, digits, - _ or .")).field(field))
    };
    let (name, version) = (label(query.name, "name")?, label(query.version, "version")?);
    if body.is_empty() {
        return Err(ApiError::bad_request(Code::InvalidComponent, "the body must be the component's bytes").into());
    }
    let compiling = {
        let app = app.clone();
        let body = body.clone();
        tokio::task::spawn_blocking(move || app.pool.upload(&body))
    };
    let (loaded, world) = match tokio::time::timeout(COMPILE_TIMEOUT, compiling).await {
        Ok(joined) => joined.map_err(anyhow::Error::from)?.map_err(|e| ApiError::bad_request(Code::InvalidComponent, e.0))?,
        Err(_) => return Err(ApiError::bad_request(Code::InvalidComponent, "compiling took too long").into()),
    };
    let row = marquee_store::ComponentRow {
        owner: account.sub.clone(),
        name,
        version,
        digest: loaded.digest.clone(),
        world: world.to_string(),
        size: body.len() as i64,
        created_at: marquee_deployments::clock::now_secs(),
    };
    if !app.shared.catalog.insert_component(&row).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, Code::VersionTaken, "you already uploaded this name and version").field("version").into());
    }
    app.announce_component(&row.digest, &body).await?;
    Ok((StatusCode::CREATED, Json(component_view(&row))).into_response())
}

/// Reads an upload of at most [`MAX_COMPONENT_BYTES`].
pub(crate) async fn read_component(body: axum::body::Body) -> Result<Bytes, ApiError> {
    read_bounded(body, MAX_COMPONENT_BYTES, UPLOAD_TIMEOUT, || {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, Code::TooLarge, format!("a component may be at most {} MiB", MAX_COMPONENT_BYTES >> 20))
    })
    .await
}

/// The pool as the caller may see it: the built-ins and their own uploads (admin: all).
pub(crate) async fn components(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Component>>> {
    let account = caller.require_role(&[Role::Seller, Role::Admin])?;
    let owner = (!caller.is_admin()).then_some(account.sub.as_str());
    let builtin = |(name, digest): (&str, &str)| Component {
        digest: digest.into(),
        name: name.into(),
        version: "builtin".into(),
        world: None,
        size: None,
        owner: "marquee".into(),
    };
    let mut list: Vec<Component> = app.pool.builtins().map(builtin).collect();
    list.extend(app.shared.catalog.components(owner).await?.iter().map(component_view));
    Ok(Json(list))
}
