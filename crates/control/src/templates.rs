//! Templates: listed and read by anyone, written by admins.

use super::*;

/// A template as stored: what GET returns, POST and PUT take back.
pub(crate) fn template_view(t: &Template) -> Value {
    serde_json::to_value(t).expect("a template serializes")
}

/// A template as listed: as stored, and whether it is built in (which no one may delete).
pub(crate) fn listed_template(app: &App, t: &Template) -> Value {
    let mut view = template_view(t);
    view["builtin"] = json!(app.templates.is_builtin(&t.name));
    view
}

pub(crate) async fn templates(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    app.sync_templates().await?;
    Ok(Json(Value::Array(app.templates.all().iter().map(|t| listed_template(&app, t)).collect())))
}

pub(crate) async fn template(State(app): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    app.sync_templates().await?;
    let t = app.templates.get(&name).ok_or_else(|| ApiError::not_found(format!("no template named {name:?}")))?;
    Ok(Json(listed_template(&app, &t)))
}

pub(crate) async fn create_template(State(app): State<AppState>, caller: Caller, body: Bytes) -> ApiResult {
    caller.require_role(&[Role::Admin])?;
    let template: Template = parse_request(&body, Code::InvalidTemplate)?;
    let name = &template.name;
    app.sync_templates().await?;
    if app.templates.get(name).is_some() {
        return Err(ApiError::new(StatusCode::CONFLICT, Code::TemplateExists, format!("template {name:?} exists; PUT to change it")).field("name").into());
    }
    let t = app.put_template(None, template).await?;
    Ok((StatusCode::CREATED, Json(template_view(&t))).into_response())
}

pub(crate) async fn update_template(State(app): State<AppState>, caller: Caller, Path(name): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    caller.require_role(&[Role::Admin])?;
    let template: Template = parse_request(&body, Code::InvalidTemplate)?;
    Ok(Json(template_view(&app.put_template(Some(&name), template).await?)))
}

pub(crate) async fn delete_template(State(app): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult {
    caller.require_role(&[Role::Admin])?;
    app.delete_template(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
