//! Templates are data (`templates/*.json`): the components a performance runs, by role, the
//! routes each serves, parameter defaults and the parameter schema shown to sellers. This
//! module loads them and validates a seller's parameters against them.

use std::collections::{BTreeMap, HashSet};
use std::sync::RwLock;

use marquee_api::Identifier;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The templates shipped with Marquee.
const BUILTIN: &[&str] = &[
    include_str!("../../../templates/seated.json"),
    include_str!("../../../templates/standing.json"),
    include_str!("../../../templates/festival.json"),
    include_str!("../../../templates/presale.json"),
];

/// Which kinds of section a template sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Seating {
    /// Numbered seats (rows of seats) and general-admission sections alike.
    NumberedOrGeneral,
    /// General admission only: sections sold by quantity.
    General,
}

/// One route of a template: a path pattern inside the namespace and the function serving it.
/// `*` matches one path segment, a final `**` the rest of the path.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteSpec {
    /// The path pattern, relative to the namespace.
    pub path: String,
    /// The function role serving it.
    pub function: String,
    /// `"holds"`: POSTs here count against the hold rate limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RouteLimit>,
}

/// Rate limits a route can opt into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteLimit {
    /// Counts against the hold rate limits (per client address and per buyer).
    Holds,
}

/// A deployment template.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Template {
    /// The template's name (1-40 lower-case letters, digits or `-`).
    pub name: String,
    /// What it deploys, in a sentence.
    pub description: String,
    /// Which kinds of section it sells.
    pub seating: Seating,
    /// Function role -> component name in the pool.
    pub components: BTreeMap<String, String>,
    /// Which function answers which path.
    pub routes: Vec<RouteSpec>,
    /// Values for parameters the seller leaves out.
    pub defaults: serde_json::Map<String, Value>,
    /// JSON Schema of the parameters, for sellers and tools.
    pub params: Value,
    /// Whether performances of this template may sell goods.
    #[serde(default)]
    pub goods: bool,
    /// Whether performances of this template are presales, which need `presale_codes`.
    #[serde(default)]
    pub presale: bool,
    /// Per-namespace resource limits; the platform caps each.
    #[serde(default)]
    pub limits: TemplateLimits,
    /// On Kubernetes: `dedicated` gives each performance its own runtime pods besides the pool.
    #[serde(default)]
    pub placement: marquee_api::Placement,
    /// The size of a dedicated performance's runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<marquee_api::DedicatedRuntime>,
}

/// What a template asks for each of its namespaces; unset means the platform default.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateLimits {
    /// Instances running at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Requests waiting for an instance before the namespace sheds load (503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<u32>,
    /// Linear memory of one instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u32>,
    /// Time budget of one request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// A parameter that failed validation: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Path of the offending field, e.g. `params.sections[0].price`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// The field at `field` is wrong: `message` says how.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// A performance's validated parameters; stored as JSON and handed to its components.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformanceParams {
    /// The show's title.
    pub title: String,
    /// Where it is played.
    pub venue: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// What the show is, for its page.
    pub description: Option<String>,
    /// Who is in it, for its page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cast: Vec<String>,
    /// How long it runs, in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_minutes: Option<u32>,
    /// The sha256 of its poster as the platform keeps it (`POST /api/v1/posters`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster: Option<String>,
    /// The ISO 4217 currency every price is in, in its minor units (`EUR`: cents).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// The venue's IANA time zone: its sessions are shown as its clocks read them.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Its dates; each sells the same sections.
    pub sessions: Vec<SessionParam>,
    /// What each session sells.
    pub sections: Vec<SectionParam>,
    /// How long a hold stands unpaid.
    pub hold_ttl_seconds: u32,
    /// Most tickets one buyer may hold or own in a session.
    pub per_buyer_limit: u32,
    /// Merchandise sold by quantity from stock shared by all sessions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goods: Vec<GoodsParam>,
    /// Codes a presale admits buyers with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub presale_codes: Vec<String>,
    /// Holds are refused before this time (canonical UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_opens_at: Option<String>,
    /// Holds are refused from this time on (canonical UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_closes_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// One date of a performance.
pub struct SessionParam {
    /// Its id, unique in the performance (`s1`).
    pub id: String,
    /// When it starts (RFC 3339).
    pub starts_at: String,
    /// What buyers call it (`Opening night`); its date when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// What a performance that names no currency sells in: what every performance sold in before
/// one could name its own.
fn default_currency() -> String {
    "EUR".into()
}

fn default_time_zone() -> String {
    "UTC".into()
}

/// Whether `code` is an ISO 4217 currency one can sell in: one with minor units (not a fund, a
/// metal or a test code such as `XXX`).
fn is_currency(code: &str) -> bool {
    iso_currency::Currency::from_code(code).is_some_and(|c| c.exponent().is_some() && !c.is_fund())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// One section of a performance: numbered seats (rows) or a general-admission capacity.
pub struct SectionParam {
    /// Its name, unique in the performance.
    pub name: String,
    /// Minor currency units; signed here only so a negative price gets a clear message.
    pub price: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Rows of a numbered section.
    pub rows: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Seats in each row of a numbered section.
    pub seats_per_row: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Units of a general-admission section.
    pub capacity: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// Merchandise sold by quantity.
pub struct GoodsParam {
    /// Its name, unique in the performance.
    pub name: String,
    /// Minor currency units.
    pub price: i64,
    /// Units for sale, shared by every session.
    pub stock: u32,
    /// Most of these one buyer may hold or own at once; without it, the performance's
    /// `per_buyer_limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_buyer_limit: Option<u32>,
}

/// A price a change of a live performance changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repriced {
    /// Where it is in the params: `params.sections[0].price`, `params.goods[1].price`.
    pub field: String,
    /// The section's or the goods' name.
    pub name: String,
    /// Whether it prices goods rather than a section's tickets.
    pub goods: bool,
}

/// The prices a change of a live performance from `was` to `now` changes. Of what it sells,
/// only prices and sessions' labels may change: the rest shapes the claims and orders made.
/// `Err`: the parameter that may not change (`sections[1].capacity`).
pub fn repriced(was: &PerformanceParams, now: &PerformanceParams) -> Result<Vec<Repriced>, String> {
    fn compare<T>(list: &str, was: &[T], now: &[T], fixed: impl Fn(&T, &T) -> Option<&'static str>) -> Result<(), String> {
        if was.len() != now.len() {
            return Err(list.into());
        }
        match was.iter().zip(now).enumerate().find_map(|(i, (a, b))| fixed(a, b).map(|key| (i, key))) {
            Some((i, key)) => Err(format!("{list}[{i}].{key}")),
            None => Ok(()),
        }
    }
    let first = |checks: &[(&'static str, bool)]| checks.iter().find(|(_, same)| !same).map(|(key, _)| *key);
    compare("sessions", &was.sessions, &now.sessions, |a, b| first(&[("id", a.id == b.id), ("starts_at", a.starts_at == b.starts_at)]))?;
    compare("sections", &was.sections, &now.sections, |a, b| {
        first(&[("name", a.name == b.name), ("rows", a.rows == b.rows), ("seats_per_row", a.seats_per_row == b.seats_per_row), ("capacity", a.capacity == b.capacity)])
    })?;
    compare("goods", &was.goods, &now.goods, |a, b| {
        first(&[("name", a.name == b.name), ("stock", a.stock == b.stock), ("per_buyer_limit", a.per_buyer_limit == b.per_buyer_limit)])
    })?;
    let price = |list: &str, i: usize, name: &str, goods: bool| Repriced { field: format!("params.{list}[{i}].price"), name: name.to_owned(), goods };
    let sections = was.sections.iter().zip(&now.sections).enumerate().filter(|(_, (a, b))| a.price != b.price).map(|(i, (a, _))| price("sections", i, &a.name, false));
    let goods = was.goods.iter().zip(&now.goods).enumerate().filter(|(_, (a, b))| a.price != b.price).map(|(i, (a, _))| price("goods", i, &a.name, true));
    Ok(sections.chain(goods).collect())
}

impl SectionParam {
    /// Seats or units in this section.
    pub fn capacity(&self) -> u32 {
        match (self.rows, self.seats_per_row) {
            (Some(rows), Some(per_row)) => rows * per_row,
            _ => self.capacity.unwrap_or(0),
        }
    }

    /// Whether it sells numbered seats.
    pub fn is_numbered(&self) -> bool {
        self.rows.is_some()
    }
}

const MAX_SESSIONS: usize = 100;
const MAX_SECTIONS: usize = 100;
const MAX_GOODS: usize = 50;
const MAX_CAST: usize = 50;
const MAX_PRESALE_CODES: usize = 10_000;
const MAX_ROWS: u32 = 1000;
const MAX_SEATS_PER_ROW: u32 = 1000;
const MAX_CAPACITY: u32 = 1_000_000;
const MAX_PRICE: i64 = 1_000_000_000_000;
/// High enough for a block booking (a company buying a whole section).
const MAX_PER_BUYER_LIMIT: u32 = 10_000;

fn check_text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    check_chars(field, value, max, false)
}

/// Refuses text that could disguise itself where it is shown: control characters (NUL, ESC
/// and the rest; line breaks and tabs only where `multiline`) and the bidirectional overrides
/// and isolates that reorder what a reader sees (U+202A-U+202E, U+2066-U+2069).
fn check_chars(field: &str, value: &str, max: usize, multiline: bool) -> Result<(), FieldError> {
    if value.chars().count() > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters")));
    }
    let disguising = |c: char| {
        (c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if let Some(c) = value.chars().find(|c| disguising(*c)) {
        return Err(FieldError::new(field, format!("must not contain the control or direction character U+{:04X}", c as u32)));
    }
    Ok(())
}

/// Furthest ahead a session may be dated.
const MAX_YEARS_AHEAD: i64 = 10;

/// Parses an RFC 3339 date-time into the one spelling components compare as strings:
/// UTC, whole seconds, `2027-03-01T19:00:00Z`.
pub fn canonical_utc(text: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(text, &Rfc3339).ok()?.to_offset(time::UtcOffset::UTC);
    (0..=9999).contains(&t.year()).then(|| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    })
}

/// Seconds since the epoch of a date-time [`canonical_utc`] wrote.
pub(crate) fn canonical_secs(canonical: &str) -> i64 {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(canonical, &Rfc3339).map_or(0, |t| t.unix_timestamp())
}

fn canonical_field(field: &str, value: &mut String) -> Result<(), FieldError> {
    *value = canonical_utc(value)
        .ok_or_else(|| FieldError::new(field, "must be an RFC 3339 date-time such as 2027-03-01T19:00:00Z"))?;
    Ok(())
}

fn check_range(field: &str, value: u32, min: u32, max: u32) -> Result<(), FieldError> {
    if value < min || value > max {
        return Err(FieldError::new(field, format!("must be between {min} and {max}")));
    }
    Ok(())
}

/// A new performance's sessions are still to come (and not absurdly far off). Checked at
/// deploy only: a performance whose sessions have passed may still change its title.
pub fn check_upcoming(params: &PerformanceParams) -> Result<(), FieldError> {
    let now = marquee_store::clock::now_secs();
    let latest = now + MAX_YEARS_AHEAD * 365 * 24 * 3600;
    for (i, s) in params.sessions.iter().enumerate() {
        if !(now..=latest).contains(&canonical_secs(&s.starts_at)) {
            return Err(FieldError::new(
                format!("params.sessions[{i}].starts_at"),
                format!("must be in the future, and at most {MAX_YEARS_AHEAD} years ahead"),
            ));
        }
    }
    Ok(())
}

impl Template {
    /// Checks a seller's parameters and fills in the template's defaults.
    pub fn validate(&self, params: &Value) -> Result<PerformanceParams, FieldError> {
        let Value::Object(given) = params else {
            return Err(FieldError::new("params", "must be an object"));
        };
        let mut merged = self.defaults.clone();
        merged.extend(given.clone());
        let mut params: PerformanceParams = serde_path_to_error::deserialize(Value::Object(merged)).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "params".to_string() } else { format!("params.{path}") };
            FieldError::new(field, e.into_inner().to_string())
        })?;

        check_text("params.title", &params.title, 200)?;
        check_text("params.venue", &params.venue, 200)?;
        if let Some(description) = &params.description {
            check_chars("params.description", description, 5000, true)?;
        }
        if params.cast.len() > MAX_CAST {
            return Err(FieldError::new("params.cast", format!("names at most {MAX_CAST} people")));
        }
        for (i, name) in params.cast.iter().enumerate() {
            check_text(&format!("params.cast[{i}]"), name, 200)?;
        }
        if let Some(minutes) = params.running_minutes {
            check_range("params.running_minutes", minutes, 1, 24 * 60)?;
        }
        if let Some(poster) = &params.poster
            && !(poster.len() == 64 && poster.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return Err(FieldError::new("params.poster", "must be the digest POST /api/v1/posters answered with"));
        }
        if !is_currency(&params.currency) {
            return Err(FieldError::new("params.currency", "must be an ISO 4217 currency code such as EUR, USD or KRW"));
        }
        if params.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(FieldError::new("params.time_zone", "must be an IANA time zone such as Europe/Vienna or America/New_York"));
        }
        check_range("params.hold_ttl_seconds", params.hold_ttl_seconds, 5, 3600)?;
        check_range("params.per_buyer_limit", params.per_buyer_limit, 1, MAX_PER_BUYER_LIMIT)?;

        if params.sessions.is_empty() || params.sessions.len() > MAX_SESSIONS {
            return Err(FieldError::new("params.sessions", format!("needs 1 to {MAX_SESSIONS} sessions")));
        }
        let mut ids = HashSet::new();
        for (i, s) in params.sessions.iter_mut().enumerate() {
            if !Identifier::Key(32).accepts(&s.id) {
                return Err(FieldError::new(format!("params.sessions[{i}].id"), "must be 1 to 32 letters, digits or _"));
            }
            if !ids.insert(s.id.clone()) {
                return Err(FieldError::new(format!("params.sessions[{i}].id"), format!("duplicate session id {:?}", s.id)));
            }
            canonical_field(&format!("params.sessions[{i}].starts_at"), &mut s.starts_at)?;
            if let Some(label) = &s.label {
                check_text(&format!("params.sessions[{i}].label"), label, 100)?;
            }
        }
        if let Some(opens) = &mut params.booking_opens_at {
            canonical_field("params.booking_opens_at", opens)?;
        }
        if let Some(closes) = &mut params.booking_closes_at {
            canonical_field("params.booking_closes_at", closes)?;
        }
        if let (Some(opens), Some(closes)) = (&params.booking_opens_at, &params.booking_closes_at)
            && opens >= closes {
                return Err(FieldError::new("params.booking_closes_at", "must be after booking_opens_at"));
            }

        if params.sections.is_empty() || params.sections.len() > MAX_SECTIONS {
            return Err(FieldError::new("params.sections", format!("needs 1 to {MAX_SECTIONS} sections")));
        }
        let mut names = HashSet::new();
        for (i, s) in params.sections.iter().enumerate() {
            let field = |name: &str| format!("params.sections[{i}].{name}");
            if !Identifier::Key(16).accepts(&s.name) {
                return Err(FieldError::new(field("name"), "must be 1 to 16 letters, digits or _"));
            }
            if !names.insert(s.name.as_str()) {
                return Err(FieldError::new(field("name"), format!("duplicate section name {:?}", s.name)));
            }
            if s.price < 0 {
                return Err(FieldError::new(field("price"), "must not be negative"));
            }
            if s.price > MAX_PRICE {
                return Err(FieldError::new(field("price"), format!("must be at most {MAX_PRICE}")));
            }
            match (s.rows, s.seats_per_row, s.capacity) {
                (Some(_), Some(_), Some(_)) => {
                    return Err(FieldError::new(
                        field("capacity"),
                        "a section has either rows + seats_per_row (numbered) or capacity (general admission), not both",
                    ));
                }
                (Some(rows), Some(per_row), None) => {
                    if self.seating == Seating::General {
                        return Err(FieldError::new(
                            field("rows"),
                            format!("template {:?} sells general admission only: use capacity", self.name),
                        ));
                    }
                    check_range(&field("rows"), rows, 1, MAX_ROWS)?;
                    check_range(&field("seats_per_row"), per_row, 1, MAX_SEATS_PER_ROW)?;
                }
                (None, None, Some(capacity)) => check_range(&field("capacity"), capacity, 1, MAX_CAPACITY)?,
                (Some(_), None, _) => return Err(FieldError::new(field("seats_per_row"), "rows needs seats_per_row")),
                (None, Some(_), _) => return Err(FieldError::new(field("rows"), "seats_per_row needs rows")),
                (None, None, None) => {
                    return Err(FieldError::new(
                        field("capacity"),
                        "a section needs rows + seats_per_row (numbered) or capacity (general admission)",
                    ));
                }
            }
        }
        match (self.presale, params.presale_codes.len()) {
            (true, 0) => return Err(FieldError::new("params.presale_codes", "a presale needs at least one code")),
            (false, n) if n > 0 => {
                return Err(FieldError::new("params.presale_codes", format!("template {:?} is not a presale", self.name)));
            }
            (_, n) if n > MAX_PRESALE_CODES => {
                return Err(FieldError::new("params.presale_codes", format!("at most {MAX_PRESALE_CODES} codes")));
            }
            _ => {}
        }
        for (i, code) in params.presale_codes.iter().enumerate() {
            if !Identifier::Code.accepts(code) {
                return Err(FieldError::new(format!("params.presale_codes[{i}]"), "must be 4 to 64 letters, digits, _ or -"));
            }
        }
        if !params.goods.is_empty() && !self.goods {
            return Err(FieldError::new("params.goods", format!("template {:?} does not sell goods", self.name)));
        }
        if params.goods.len() > MAX_GOODS {
            return Err(FieldError::new("params.goods", format!("at most {MAX_GOODS} goods")));
        }
        let mut names = HashSet::new();
        for (i, g) in params.goods.iter().enumerate() {
            let field = |name: &str| format!("params.goods[{i}].{name}");
            if !Identifier::Key(16).accepts(&g.name) {
                return Err(FieldError::new(field("name"), "must be 1 to 16 letters, digits or _"));
            }
            if !names.insert(g.name.as_str()) {
                return Err(FieldError::new(field("name"), format!("duplicate goods name {:?}", g.name)));
            }
            if !(0..=MAX_PRICE).contains(&g.price) {
                return Err(FieldError::new(field("price"), format!("must be between 0 and {MAX_PRICE}")));
            }
            check_range(&field("stock"), g.stock, 1, MAX_CAPACITY)?;
            if let Some(limit) = g.per_buyer_limit {
                check_range(&field("per_buyer_limit"), limit, 1, MAX_PER_BUYER_LIMIT)?;
            }
        }
        Ok(params)
    }
}

/// The templates a platform offers, by name: the built-ins, and those admins add.
pub struct Templates {
    builtin: BTreeMap<String, Template>,
    custom: RwLock<BTreeMap<String, Template>>,
}

impl Templates {
    /// The built-in templates. A broken built-in is a build defect, so this panics on one.
    pub fn builtin() -> Self {
        let builtin = BUILTIN
            .iter()
            .map(|text| {
                let t: Template = serde_json::from_str(text).expect("built-in template is valid");
                assert!(t.check_routes().is_ok(), "{}: route to unknown function", t.name);
                (t.name.clone(), t)
            })
            .collect();
        Self { builtin, custom: RwLock::default() }
    }

    /// A template by name, built-in or an admin's.
    pub fn get(&self, name: &str) -> Option<Template> {
        self.builtin.get(name).cloned().or_else(|| self.custom.read().unwrap().get(name).cloned())
    }

    /// Whether the template is part of the binary.
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains_key(name)
    }

    /// Every template, built-ins first.
    pub fn all(&self) -> Vec<Template> {
        let custom = self.custom.read().unwrap();
        self.builtin.values().chain(custom.values()).cloned().collect()
    }

    /// The admins' templates become exactly `stored` (as the catalog has them now).
    pub fn replace_custom(&self, stored: Vec<Template>) {
        *self.custom.write().unwrap() = stored.into_iter().map(|t| (t.name.clone(), t)).collect();
    }

    /// Adds or replaces an admin's template.
    pub fn put(&self, template: Template) {
        self.custom.write().unwrap().insert(template.name.clone(), template);
    }

    /// Removes an admin's template; whether there was one.
    pub fn remove(&self, name: &str) -> bool {
        self.custom.write().unwrap().remove(name).is_some()
    }
}

impl Template {
    /// A dedicated runtime's size is one the Performance CRD accepts.
    pub fn check_runtime(&self) -> Result<(), FieldError> {
        let Some(runtime) = &self.runtime else { return Ok(()) };
        if !(1..=50).contains(&runtime.replicas) {
            return Err(FieldError::new("runtime.replicas", "replicas must be 1-50"));
        }
        for (field, quantity, units) in [("runtime.cpu", &runtime.cpu, &["", "m"][..]), ("runtime.memory", &runtime.memory, &["", "Ki", "Mi", "Gi", "Ti", "k", "M", "G", "T"][..])] {
            let number = quantity.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            let unit = &quantity[number.len()..];
            if number.is_empty() || number.parse::<f64>().map_or(true, |n| n <= 0.0) || !units.contains(&unit) {
                return Err(FieldError::new(field, format!("{quantity:?} is not a Kubernetes quantity of this resource (say 500m or 2 for CPU, 256Mi for memory)")));
            }
        }
        Ok(())
    }

    /// Every route names one of the template's functions.
    pub fn check_routes(&self) -> Result<(), FieldError> {
        for (i, route) in self.routes.iter().enumerate() {
            if !self.components.contains_key(&route.function) {
                return Err(FieldError::new(format!("routes[{i}].function"), format!("no function {:?} in components", route.function)));
            }
        }
        Ok(())
    }
}

/// Whether a route pattern matches a path inside the namespace.
pub fn route_matches(pattern: &str, path: &str) -> bool {
    let mut pattern = pattern.split('/').filter(|s| !s.is_empty());
    let mut path = path.split('/').filter(|s| !s.is_empty());
    loop {
        match (pattern.next(), path.next()) {
            (Some("**"), _) => return true,
            (Some("*"), Some(_)) => {}
            (Some(p), Some(s)) if p == s => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seated() -> Template {
        Templates::builtin().get("seated").unwrap().clone()
    }

    fn valid() -> Value {
        json!({
            "title": "Spring Gala", "venue": "Hall A",
            "sessions": [{"id": "s1", "starts_at": "2027-03-01T19:00:00Z"}],
            "sections": [{"name": "R", "price": 120000, "rows": 10, "seats_per_row": 20},
                         {"name": "S", "price": 80000, "capacity": 300}]
        })
    }

    fn error_field(mutate: impl FnOnce(&mut Value)) -> String {
        let mut params = valid();
        mutate(&mut params);
        seated().validate(&params).unwrap_err().field
    }

    #[test]
    fn valid_params_get_defaults() {
        let p = seated().validate(&valid()).unwrap();
        assert_eq!(p.hold_ttl_seconds, 600);
        assert_eq!(p.per_buyer_limit, 10);
        assert_eq!(p.sections[0].capacity(), 200);
        assert_eq!(p.sections[1].capacity(), 300);
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(error_field(|p| p["sections"][0]["price"] = json!(-1)), "params.sections[0].price");
        assert_eq!(error_field(|p| p["sections"][1]["rows"] = json!(3)), "params.sections[1].seats_per_row");
        assert_eq!(error_field(|p| p["sections"][0]["capacity"] = json!(3)), "params.sections[0].capacity");
        assert_eq!(error_field(|p| p["sections"][1] = json!({"name": "S", "price": 1})), "params.sections[1].capacity");
        assert_eq!(error_field(|p| p["sessions"][0]["starts_at"] = json!("tomorrow")), "params.sessions[0].starts_at");
        assert_eq!(
            error_field(|p| {
                p["booking_opens_at"] = json!("2027-01-02T00:00:00Z");
                p["booking_closes_at"] = json!("2027-01-01T00:00:00Z");
            }),
            "params.booking_closes_at"
        );
        assert_eq!(error_field(|p| p["title"] = json!(" ")), "params.title");
        assert_eq!(error_field(|p| p["title"] = json!(5)), "params.title");
        assert_eq!(error_field(|p| p["sessions"] = json!([])), "params.sessions");
        assert_eq!(error_field(|p| p["hold_ttl_seconds"] = json!(4)), "params.hold_ttl_seconds");
        assert_eq!(error_field(|p| p["sections"][1]["name"] = json!("R")), "params.sections[1].name");
        assert_eq!(error_field(|p| p["sections"][0]["name"] = json!("R-1")), "params.sections[0].name");
        assert_eq!(error_field(|p| p["colour"] = json!("red")), "params.colour");
        assert_eq!(error_field(|p| p.as_object_mut().unwrap().remove("venue").map(|_| ()).unwrap()), "params");
    }

    #[test]
    fn times_are_stored_in_one_utc_spelling() {
        assert_eq!(canonical_utc("2027-03-01T21:30:00+02:00").unwrap(), "2027-03-01T19:30:00Z");
        assert_eq!(canonical_utc("2027-03-01T19:00:00.123Z").unwrap(), "2027-03-01T19:00:00Z");
        assert!(canonical_utc("2027-03-01 19:00").is_none());
    }

    #[test]
    fn standing_sells_by_capacity_only() {
        let standing = Templates::builtin().get("standing").unwrap().clone();
        let err = standing.validate(&valid()).unwrap_err();
        assert_eq!(err.field, "params.sections[0].rows");
        let mut params = valid();
        params["sections"] = json!([{"name": "GA", "price": 5000, "capacity": 1000}]);
        assert_eq!(standing.validate(&params).unwrap().sections[0].capacity(), 1000);
    }

    #[test]
    fn only_festival_sells_goods() {
        let mut params = valid();
        params["sections"] = json!([{"name": "GA", "price": 5000, "capacity": 1000}]);
        params["goods"] = json!([{"name": "SHIRT", "price": 2500, "stock": 100}]);
        assert_eq!(seated().validate(&params).unwrap_err().field, "params.goods");
        let festival = Templates::builtin().get("festival").unwrap().clone();
        assert_eq!(festival.validate(&params).unwrap().goods[0].stock, 100);
        params["goods"][0]["price"] = json!(-1);
        assert_eq!(festival.validate(&params).unwrap_err().field, "params.goods[0].price");
    }

    #[test]
    fn routes_match_by_segment() {
        assert!(route_matches("/", "/"));
        assert!(route_matches("/api/info", "/api/info/"));
        assert!(route_matches("/api/sessions/*/availability", "/api/sessions/s1/availability"));
        assert!(!route_matches("/api/sessions/*/availability", "/api/sessions/availability"));
        assert!(route_matches("/api/holds/**", "/api/holds/h1/confirm"));
        assert!(!route_matches("/api/info", "/api/info/x"));
        assert!(!route_matches("/", "/x"));
    }
}
