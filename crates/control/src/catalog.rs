//! The public catalog: every live performance, a page at a time.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Page {
    limit: Option<usize>,
    offset: Option<usize>,
}

/// Most performances one catalog page lists, and the default.
pub(crate) const MAX_PAGE: usize = 500;
/// The furthest a catalog page may start, as the document states (far past any catalog).
pub(crate) const MAX_OFFSET: usize = 1_000_000_000;
pub(crate) const DEFAULT_PAGE: usize = 100;

/// A page's `(limit, offset)` as asked, within the bounds every paged list keeps.
pub(crate) fn page_bounds(limit: Option<usize>, offset: Option<usize>) -> Result<(usize, usize), Rejected> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(Code::InvalidPage, format!("limit must be 1 to {MAX_PAGE}")).field("limit").into());
    }
    let offset = offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::bad_request(Code::InvalidPage, format!("offset must be 0 to {MAX_OFFSET}")).field("offset").into());
    }
    Ok((limit, offset))
}

/// Every live performance, oldest first, a page at a time (`?limit=&offset=`); a next page
/// is announced by a `Link: <...>; rel="next"` header.
pub(crate) async fn catalog(State(app): State<AppState>, axum::extract::Query(page): axum::extract::Query<Page>) -> ApiResult {
    let (limit, offset) = page_bounds(page.limit, page.offset)?;
    let all = app.registry.all();
    let list: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|ns| {
            json!({
                "namespace": ns.name,
                "title": ns.params.title,
                "venue": ns.params.venue,
                "sessions": ns.params.sessions,
                "url": format!("/p/{}/", ns.name),
            })
        })
        .collect();
    let mut response = Json(Value::Array(list)).into_response();
    if offset.saturating_add(limit) < all.len() {
        let next = format!("</api/v1/catalog?limit={limit}&offset={}>; rel=\"next\"", offset + limit);
        response.headers_mut().insert(http::header::LINK, http::HeaderValue::try_from(next).map_err(anyhow::Error::from)?);
    }
    Ok(response)
}
