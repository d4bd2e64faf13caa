//! Accounts and tokens: argon2 password hashes, HS256 access tokens signed with a key
//! generated per installation (with key ids, so keys can rotate), and rotating refresh
//! tokens whose reuse revokes their whole family.

use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use marquee_store::clock::now_secs;
use marquee_store::{Account, Catalog, NamespaceToken, RefreshState, TokenScope};
use marquee_store::Identity;

/// Prefix of namespace (deploy) tokens: `mqd_<id>_<secret>`.
pub const NAMESPACE_TOKEN_PREFIX: &str = "mqd_";

/// Access tokens live this long.
pub const ACCESS_TTL_SECS: i64 = 15 * 60;
/// Refresh tokens live this long unless rotated or revoked first.
pub const REFRESH_TTL_SECS: i64 = 30 * 24 * 3600;
const ISSUER: &str = "marquee";

pub use marquee_store::Role;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Account id.
    pub sub: String,
    /// The account's email when the token was issued.
    pub email: String,
    /// What the account may do.
    pub role: Role,
    /// The issuer: this platform.
    pub iss: String,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, in seconds since the Unix epoch.
    pub exp: i64,
    /// A namespace token's one deployment (the id of one deploy of a performance, which its
    /// PATCHes keep): it works on that deployment's `/p/{ns}/…` only, never on the control
    /// plane, and not on a later performance that takes the same name. Absent on platform
    /// tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<String>,
    /// The session (refresh-token family) it belongs to: a logout revokes its access tokens
    /// at once, not when they expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

pub use marquee_api::TokenPair;

/// Why a credential was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no credentials")]
    /// The request carried no credentials.
    Missing,
    #[error("invalid or expired token")]
    /// A token that does not verify, has expired or was revoked.
    Invalid,
    #[error("refresh token reused; its session family is revoked")]
    /// A spent refresh token was presented again.
    Reused,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    secret: String,
}

impl StoredKey {
    fn generate() -> Self {
        Self { kid: random_hex(8), secret: random_hex(32) }
    }

    fn signing(&self) -> Result<SigningKey> {
        let secret = hex::decode(&self.secret).context("token key is not hex")?;
        Ok(SigningKey {
            kid: self.kid.clone(),
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
        })
    }
}

/// Signing keys from the store's encoding of them, newest first.
fn signing_keys(stored: &[String]) -> Result<Vec<SigningKey>> {
    let keys = stored
        .iter()
        .map(|k| serde_json::from_str::<StoredKey>(k).context("a stored token key")?.signing())
        .collect::<Result<Vec<_>>>()?;
    anyhow::ensure!(!keys.is_empty(), "the store holds no token key");
    Ok(keys)
}

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// Keys kept for verification after a rotation: tokens signed with an older key stay valid
/// until they expire, so a rotation logs no one out.
const KEPT_KEYS: usize = 4;

/// Issues and verifies tokens.
pub struct Auth {
    /// Newest first: the first signs, all verify (by `kid`).
    keys: RwLock<Vec<SigningKey>>,
    /// Accounts, refresh-token families, the keys as [`StoredKey`]s.
    identity: Arc<dyn Identity>,
    /// Namespace (deploy) tokens, which only the control plane checks.
    /// Where deploy tokens are kept (the control plane's catalog).
    catalog: Arc<dyn Catalog>,
    /// Sessions ended by a logout or a stolen refresh token, whose access tokens every
    /// verification refuses.
    revoked: RwLock<std::collections::HashSet<String>>,
}

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The sha256 of some bytes (a secret to store, a poster to name), as lower-case hex.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Auth {
    /// Loads the installation's token keys and revoked sessions from the store, generating a
    /// key on first start.
    pub async fn open(identity: Arc<dyn Identity>, catalog: Arc<dyn Catalog>) -> Result<Self> {
        let first = serde_json::to_string(&StoredKey::generate())?;
        let keys = RwLock::new(signing_keys(&identity.token_keys(Some(&first)).await?)?);
        let revoked = RwLock::new(identity.revoked_families().await?.into_iter().collect());
        Ok(Self { keys, identity, catalog, revoked })
    }

    /// The store of accounts and token families.
    pub fn identity(&self) -> &dyn Identity {
        &*self.identity
    }

    /// Reads the keys and the revoked sessions again: another process sharing the store may
    /// have rotated or revoked.
    pub async fn reload(&self) -> Result<()> {
        let keys = signing_keys(&self.identity.token_keys(None).await?)?;
        let revoked = self.identity.revoked_families().await?;
        *self.keys.write().unwrap() = keys;
        self.revoked.write().unwrap().extend(revoked);
        Ok(())
    }

    /// Makes a new key the signing key; the previous ones keep verifying. Returns its id.
    pub async fn rotate(&self) -> Result<String> {
        let fresh = StoredKey::generate();
        let kid = fresh.kid.clone();
        let stored = self.identity.add_token_key(&serde_json::to_string(&fresh)?, KEPT_KEYS).await?;
        *self.keys.write().unwrap() = signing_keys(&stored)?;
        Ok(kid)
    }

    /// Signs an access token for an account's session `sid` (`None`: outside any session).
    pub fn access_token(&self, account: &Account, sid: Option<&str>) -> Result<String> {
        let now = now_secs();
        self.sign(&Claims {
            sub: account.id.clone(),
            email: account.email.clone(),
            role: account.role,
            iss: ISSUER.into(),
            iat: now,
            exp: now + ACCESS_TTL_SECS,
            ns: None,
            sid: sid.map(str::to_string),
        })
    }

    /// A token for the pages of one deployment of a performance (`/p/{ns}/…`), for the
    /// caller of a platform token: a page or component that leaks it exposes nothing beyond
    /// that deployment. It belongs to the caller's session: a logout ends it too.
    pub fn namespace_access_token(&self, caller: &Claims, deployment: &str) -> Result<String> {
        let now = now_secs();
        self.sign(&Claims { iat: now, exp: now + ACCESS_TTL_SECS, ns: Some(deployment.to_string()), ..caller.clone() })
    }

    fn sign(&self, claims: &Claims) -> Result<String> {
        let keys = self.keys.read().unwrap();
        let key = &keys[0];
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &key.encoding)?)
    }

    /// Verifies an access token: HS256 only, a known key id, not expired, our issuer.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        if header.alg != Algorithm::HS256 {
            return Err(AuthError::Invalid);
        }
        let kid = header.kid.ok_or(AuthError::Invalid)?;
        let keys = self.keys.read().unwrap();
        let key = keys.iter().find(|k| k.kid == kid).ok_or(AuthError::Invalid)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| AuthError::Invalid)?;
        if claims.sid.as_ref().is_some_and(|sid| self.revoked.read().unwrap().contains(sid)) {
            return Err(AuthError::Invalid);
        }
        Ok(claims)
    }

    /// Refuses the access tokens of a session from now on (revoked here or, told by the
    /// store, by another process).
    pub fn revoke(&self, family: String) {
        self.revoked.write().unwrap().insert(family);
    }

    /// Verifies the value of an `Authorization: Bearer …` header for use in `scope` (`None`:
    /// the control plane, which takes platform tokens only; `Some(deployment)`: that
    /// performance's pages, which take platform tokens and its own namespace tokens). In a split-token browser
    /// session the header carries only `header.payload`, and `signature` (from the
    /// HttpOnly cookie) completes it; either half alone is refused.
    pub fn verify_header(&self, header: Option<&str>, signature: Option<&str>, scope: Option<&str>) -> Result<Claims, AuthError> {
        let claims = self.verify_parts(header, signature)?;
        match (&claims.ns, scope) {
            (None, _) => Ok(claims),
            (Some(ns), Some(scope)) if ns == scope => Ok(claims),
            _ => Err(AuthError::Invalid),
        }
    }

    fn verify_parts(&self, header: Option<&str>, signature: Option<&str>) -> Result<Claims, AuthError> {
        let value = header.ok_or(AuthError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Invalid)?
            .trim();
        match (token.split('.').count(), signature) {
            (3, _) => self.verify(token),
            (2, Some(signature)) => self.verify(&format!("{token}.{signature}")),
            _ => Err(AuthError::Invalid),
        }
    }

    async fn new_refresh(&self, family: &str, account_id: &str) -> Result<String> {
        let token = format!("mqr_{}", random_hex(32));
        self.identity.insert_refresh(&sha256_hex(&token), family, account_id, now_secs() + REFRESH_TTL_SECS).await?;
        Ok(token)
    }

    async fn pair(&self, account: &Account, family: &str) -> Result<TokenPair> {
        Ok(TokenPair {
            access_token: self.access_token(account, Some(family))?,
            refresh_token: self.new_refresh(family, &account.id).await?,
            token_type: "Bearer".into(),
            expires_in: ACCESS_TTL_SECS,
        })
    }

    /// Starts a new session family for an account that just proved its password.
    pub async fn login(&self, account: &Account) -> Result<TokenPair> {
        self.pair(account, &random_hex(16)).await
    }

    /// Rotates a refresh token. A spent or revoked one revokes its family.
    pub async fn refresh(&self, token: &str) -> Result<Result<TokenPair, AuthError>> {
        match self.identity.rotate_refresh(&sha256_hex(token)).await? {
            RefreshState::Unknown => Ok(Err(AuthError::Invalid)),
            RefreshState::Reused { family } => {
                tracing::warn!(%family, "refresh token reused; family revoked");
                self.revoke(family);
                Ok(Err(AuthError::Reused))
            }
            RefreshState::Live { expires_at, .. } if expires_at <= now_secs() => Ok(Err(AuthError::Invalid)),
            RefreshState::Live { family, account_id, .. } => match self.identity.account_by_id(&account_id).await? {
                Some(account) => Ok(Ok(self.pair(&account, &family).await?)),
                None => Ok(Err(AuthError::Invalid)),
            },
        }
    }

    /// Issues a token bound to one deployment of a namespace, which may do what `scope`
    /// says. Only its hash is stored.
    pub async fn issue_namespace_token(&self, namespace: &str, deployment: &str, created_by: &str, scope: TokenScope, label: &str) -> Result<(String, String)> {
        let t = NamespaceToken {
            id: random_hex(8),
            deployment: deployment.to_string(),
            namespace: namespace.to_string(),
            created_by: created_by.to_string(),
            scope,
            label: label.to_string(),
        };
        let secret = random_hex(32);
        self.catalog.insert_namespace_token(&t, &sha256_hex(&secret), now_secs()).await?;
        Ok((t.id.clone(), format!("{NAMESPACE_TOKEN_PREFIX}{}_{secret}", t.id)))
    }

    /// Verifies a namespace token.
    pub async fn verify_namespace_token(&self, token: &str) -> Result<NamespaceToken, AuthError> {
        let (id, secret) = token
            .strip_prefix(NAMESPACE_TOKEN_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .ok_or(AuthError::Invalid)?;
        match self.catalog.namespace_token(id).await {
            Ok(Some((t, hash))) if constant_time_eq(hash.as_bytes(), sha256_hex(secret).as_bytes()) => Ok(t),
            Ok(_) => Err(AuthError::Invalid),
            Err(e) => {
                tracing::error!(error = %e, "namespace token lookup failed");
                Err(AuthError::Invalid)
            }
        }
    }

    /// Revokes the family of a refresh token; false when the token is unknown.
    /// Its access tokens stop working at once.
    pub async fn logout(&self, token: &str) -> Result<bool> {
        let family = self.identity.revoke_family_of(&sha256_hex(token)).await?;
        Ok(family.map(|family| self.revoke(family)).is_some())
    }
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a sign-up was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error("{0}")]
    /// The email is not one: why.
    InvalidEmail(&'static str),
    #[error("{0}")]
    /// The password is too weak: why.
    WeakPassword(&'static str),
    #[error("an account with this email exists")]
    /// An account has this email.
    EmailTaken,
    #[error(transparent)]
    /// A fault of the store or of ours.
    Internal(#[from] anyhow::Error),
}

impl Auth {
    /// Creates an account; the password is hashed off the async workers.
    pub async fn sign_up(&self, email: &str, password: String, role: Role) -> Result<Account, SignupError> {
        let email = normalize_email(email).map_err(SignupError::InvalidEmail)?;
        check_password_strength(&password).map_err(SignupError::WeakPassword)?;
        if self.identity.account_by_email(&email).await?.is_some() {
            return Err(SignupError::EmailTaken);
        }
        let hash = tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(anyhow::Error::from)??;
        let account = Account { id: random_hex(8), email, password_hash: hash, role, must_change_password: false };
        if !self.identity.insert_account(&account, now_secs()).await? {
            return Err(SignupError::EmailTaken);
        }
        Ok(account)
    }

    /// The account whose password this is, if any. Unknown emails are checked against a real
    /// hash too, so timing does not reveal which accounts exist. Hashing runs off the workers.
    async fn check_password(&self, email: &str, password: String) -> Result<Option<Account>> {
        static DUMMY_HASH: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| hash_password("not a real password").expect("hashing works"));
        let account = match normalize_email(email) {
            Ok(email) => self.identity.account_by_email(&email).await?,
            Err(_) => None,
        };
        let hash = account.as_ref().map(|a| a.password_hash.clone()).unwrap_or_else(|| DUMMY_HASH.clone());
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash)).await?;
        Ok(account.filter(|_| ok))
    }

    /// Checks a password and starts a session.
    pub async fn log_in(&self, email: &str, password: String) -> Result<LogIn> {
        Ok(match self.check_password(email, password).await? {
            None => LogIn::Wrong,
            Some(account) if account.must_change_password => LogIn::MustChangePassword,
            Some(account) => {
                let pair = self.login(&account).await?;
                LogIn::Session(Box::new((account, pair)))
            }
        })
    }

    /// Replaces a password the caller proves they know, ends every session of the account
    /// (their access tokens at once) and starts a new one.
    pub async fn change_password(&self, email: &str, password: String, new_password: String) -> Result<Result<TokenPair, PasswordError>> {
        if let Err(reason) = check_password_strength(&new_password) {
            return Ok(Err(PasswordError::Weak(reason)));
        }
        if new_password == password {
            return Ok(Err(PasswordError::Weak("the new password must differ from the old one")));
        }
        let Some(account) = self.check_password(email, password).await? else { return Ok(Err(PasswordError::Wrong)) };
        let hash = tokio::task::spawn_blocking(move || hash_password(&new_password)).await??;
        for family in self.identity.set_password(&account.id, &hash).await? {
            self.revoke(family);
        }
        Ok(Ok(self.login(&account).await?))
    }
}

/// What a log-in found.
pub enum LogIn {
    /// The session started: the account and its tokens.
    Session(Box<(Account, TokenPair)>),
    /// The password is right but was generated for one use: it must be changed first.
    MustChangePassword,
    /// No account has this email and password.
    Wrong,
}

/// Why a password change was refused.
#[derive(Debug)]
pub enum PasswordError {
    /// The current password is not the account's.
    Wrong,
    /// The new password is too weak (or the old one again): why.
    Weak(&'static str),
}

/// Browser sessions split the access token: the page keeps `header.payload`, this HttpOnly
/// cookie keeps the signature.
pub const SIGNATURE_COOKIE: &str = "mq_sig";
/// The refresh token of a browser session, sent only to the auth endpoints.
pub const REFRESH_COOKIE: &str = "mq_refresh";
/// Where the refresh cookie is sent.
pub const REFRESH_COOKIE_PATH: &str = "/api/v1/auth";

/// The value of a cookie in a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').filter_map(|c| c.trim().split_once('=')).find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// Whether a `Set-Cookie` value names one of the platform's cookies (`mq_…`), which only the
/// platform may set.
pub fn is_platform_cookie(set_cookie: &str) -> bool {
    set_cookie.split(['=', ';']).next().unwrap_or("").trim().to_ascii_lowercase().starts_with("mq_")
}

/// A `Cookie` header without the platform's own session cookies, for a guest to see.
pub fn without_session_cookies(header: &str) -> String {
    header
        .split(';')
        .map(str::trim)
        .filter(|c| {
            let name = c.split('=').next().unwrap_or("");
            name != SIGNATURE_COOKIE && name != REFRESH_COOKIE
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `Set-Cookie` values that put a pair into a browser: the signature for every path, the
/// refresh token for the auth endpoints only. Both HttpOnly and SameSite=Strict, so neither
/// a script (XSS) nor a cross-site request can use them alone; `Secure` (`secure`) when the
/// platform is reached over https, so they never travel in clear. (`marquee up` serves plain
/// HTTP on loopback, where a browser would drop a `Secure` cookie.)
pub fn session_cookies(pair: &TokenPair, secure: bool) -> [String; 2] {
    let signature = pair.access_token.rsplit('.').next().unwrap_or("");
    cookies([(signature, ACCESS_TTL_SECS), (&pair.refresh_token, REFRESH_TTL_SECS)], secure)
}

/// `Set-Cookie` values that remove a browser session.
pub fn clearing_cookies(secure: bool) -> [String; 2] {
    cookies([("", 0), ("", 0)], secure)
}

/// The signature cookie and the refresh cookie with these values and lifetimes.
fn cookies([(signature, signature_ttl), (refresh, refresh_ttl)]: [(&str, i64); 2], secure: bool) -> [String; 2] {
    let secure = if secure { "; Secure" } else { "" };
    [
        format!("{SIGNATURE_COOKIE}={signature}; HttpOnly; SameSite=Strict; Path=/; Max-Age={signature_ttl}{secure}"),
        format!("{REFRESH_COOKIE}={refresh}; HttpOnly; SameSite=Strict; Path={REFRESH_COOKIE_PATH}; Max-Age={refresh_ttl}{secure}"),
    ]
}

/// Hashes a password with argon2id and a random salt. Slow on purpose: call off the async
/// workers.
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?
        .to_string())
}

/// Checks a password against a stored argon2 hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// Normalizes an email address, or says why it is not one.
pub fn normalize_email(email: &str) -> Result<String, &'static str> {
    let email = email.trim().to_ascii_lowercase();
    let (local, domain) = email.split_once('@').ok_or("an email address needs an @")?;
    if email.len() > 254 || local.is_empty() || local.len() > 64 {
        return Err("the part before @ must be 1 to 64 characters");
    }
    // Only what reads the same to everyone: plain ASCII, so no look-alike letters, invisible
    // or direction-changing characters make a second account that shows as the first.
    // International domains are given in their xn-- form.
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c);
    if !local.chars().all(atext) || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("the part before @ may have letters a-z, digits and . _ + - (plain ASCII)");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err("the domain after @ is not valid (international domains in their xn-- form)");
    }
    Ok(email)
}

/// Refuses passwords that are short or trivially guessable.
pub fn check_password_strength(password: &str) -> Result<(), &'static str> {
    const COMMON: &[&str] = &["password", "12345678", "123456789", "qwertyui", "11111111", "password1", "iloveyou"];
    let count = password.chars().count();
    if count < 8 {
        return Err("a password needs at least 8 characters");
    }
    if count > 256 {
        return Err("a password can have at most 256 characters");
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 4 || COMMON.contains(&password.to_ascii_lowercase().as_str()) {
        return Err("this password is too easy to guess");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn auth() -> (tempdir::Dir, Auth) {
        let dir = tempdir::Dir::new();
        let auth = open(&dir).await;
        (dir, auth)
    }

    /// The embedded store of a data dir, as a restart opens it again.
    async fn open(dir: &tempdir::Dir) -> Auth {
        let backend = marquee_store_embedded::open(&dir.0).unwrap();
        Auth::open(backend.identity, backend.catalog).await.unwrap()
    }

    mod tempdir {
        pub(super) struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub(super) fn new() -> Self {
                let path = std::env::temp_dir().join(format!("marquee-auth-{}", super::random_hex(8)));
                std::fs::create_dir_all(&path).unwrap();
                Self(path)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn account() -> Account {
        Account {
            id: "a1".into(),
            email: "a@example.com".into(),
            password_hash: String::new(),
            role: Role::Buyer,
            must_change_password: false,
        }
    }

    #[tokio::test]
    async fn access_tokens_verify_and_tampering_fails() {
        let (_dir, auth) = auth().await;
        let token = auth.access_token(&account(), None).unwrap();
        let claims = auth.verify(&token).unwrap();
        assert_eq!(claims.sub, "a1");
        assert_eq!(claims.role, Role::Buyer);
        assert_eq!(claims.exp - claims.iat, ACCESS_TTL_SECS);

        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        parts[1] = parts[1].replacen('e', "f", 1);
        assert_eq!(auth.verify(&parts.join(".")).unwrap_err(), AuthError::Invalid);
    }

    #[tokio::test]
    async fn alg_none_and_foreign_keys_are_refused() {
        let (_dir, auth) = auth().await;
        let (_other_dir, other) = self::auth().await;
        let foreign = other.access_token(&account(), None).unwrap();
        assert_eq!(auth.verify(&foreign).unwrap_err(), AuthError::Invalid);

        let token = auth.access_token(&account(), None).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"} in base64url.
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(auth.verify(&none).unwrap_err(), AuthError::Invalid);
    }

    #[tokio::test]
    async fn expired_tokens_are_refused() {
        let (_dir, auth) = auth().await;
        let now = now_secs();
        let claims = Claims {
            sub: "a1".into(),
            email: "a@example.com".into(),
            role: Role::Buyer,
            iss: ISSUER.into(),
            iat: now - 2 * ACCESS_TTL_SECS,
            exp: now - ACCESS_TTL_SECS,
            ns: None,
            sid: None,
        };
        let keys = auth.keys.read().unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(keys[0].kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &keys[0].encoding).unwrap();
        drop(keys);
        assert_eq!(auth.verify(&token).unwrap_err(), AuthError::Invalid);
    }

    #[tokio::test]
    async fn rotation_keeps_older_tokens_valid_until_their_key_is_dropped() {
        let (dir, auth) = auth().await;
        let first = auth.access_token(&account(), None).unwrap();
        auth.rotate().await.unwrap();
        let second = auth.access_token(&account(), None).unwrap();
        assert_ne!(jsonwebtoken::decode_header(&first).unwrap().kid, jsonwebtoken::decode_header(&second).unwrap().kid);
        assert!(auth.verify(&first).is_ok() && auth.verify(&second).is_ok());
        // The rotation is on disk: a restart verifies both too.
        let reopened = open(&dir).await;
        assert!(reopened.verify(&first).is_ok());
        for _ in 0..KEPT_KEYS {
            auth.rotate().await.unwrap();
        }
        assert_eq!(auth.verify(&first).unwrap_err(), AuthError::Invalid);
    }

    #[tokio::test]
    async fn split_tokens_need_both_halves() {
        let (_dir, auth) = auth().await;
        let token = auth.access_token(&account(), None).unwrap();
        let (page, signature) = token.rsplit_once('.').unwrap();
        let bearer = |t: &str| format!("Bearer {t}");
        assert!(auth.verify_header(Some(&bearer(&token)), None, None).is_ok());
        assert!(auth.verify_header(Some(&bearer(page)), Some(signature), None).is_ok());
        assert_eq!(auth.verify_header(Some(&bearer(page)), None, None).unwrap_err(), AuthError::Invalid);
        assert_eq!(auth.verify_header(Some(&bearer(page)), Some("forged"), None).unwrap_err(), AuthError::Invalid);
        assert_eq!(auth.verify_header(None, Some(signature), None).unwrap_err(), AuthError::Missing);
    }

    #[tokio::test]
    async fn namespace_tokens_work_in_their_namespace_only() {
        let (_dir, auth) = auth().await;
        let platform = auth.verify(&auth.access_token(&account(), None).unwrap()).unwrap();
        let scoped = format!("Bearer {}", auth.namespace_access_token(&platform, "gala1").unwrap());
        assert_eq!(auth.verify_header(Some(&scoped), None, Some("gala1")).unwrap().sub, "a1");
        assert_eq!(auth.verify_header(Some(&scoped), None, Some("gala2")).unwrap_err(), AuthError::Invalid);
        assert_eq!(auth.verify_header(Some(&scoped), None, None).unwrap_err(), AuthError::Invalid);
    }

    #[test]
    fn session_cookies_are_read_and_hidden_from_guests() {
        let header = "a=1; mq_sig=abc; theme=dark; mq_refresh=r";
        assert_eq!(cookie(Some(header), SIGNATURE_COOKIE), Some("abc"));
        assert_eq!(cookie(Some(header), "missing"), None);
        assert_eq!(without_session_cookies(header), "a=1; theme=dark");
    }

    #[tokio::test]
    async fn reused_refresh_token_revokes_the_family() {
        let (_dir, auth) = auth().await;
        let a = account();
        assert!(auth.identity.insert_account(&a, 0).await.unwrap());
        let first = auth.login(&a).await.unwrap();
        let second = auth.refresh(&first.refresh_token).await.unwrap().unwrap();
        // Replaying the spent token is theft: refused, and the live successor dies with it,
        // its access token too.
        assert!(auth.verify(&second.access_token).is_ok());
        assert_eq!(auth.refresh(&first.refresh_token).await.unwrap().unwrap_err(), AuthError::Reused);
        assert!(auth.refresh(&second.refresh_token).await.unwrap().is_err());
        assert_eq!(auth.verify(&second.access_token).unwrap_err(), AuthError::Invalid);
    }

    #[tokio::test]
    async fn logout_ends_the_session_s_access_tokens_at_once() {
        let (dir, auth) = auth().await;
        let a = account();
        assert!(auth.identity.insert_account(&a, 0).await.unwrap());
        let pair = auth.login(&a).await.unwrap();
        let other = auth.login(&a).await.unwrap();
        assert!(auth.logout(&pair.refresh_token).await.unwrap());
        assert_eq!(auth.verify(&pair.access_token).unwrap_err(), AuthError::Invalid);
        assert!(auth.verify(&other.access_token).is_ok(), "another session lives on");
        // The revocation outlives a restart.
        let reopened = open(&dir).await;
        assert_eq!(reopened.verify(&pair.access_token).unwrap_err(), AuthError::Invalid);
    }

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(check_password_strength("short").is_err());
        assert!(check_password_strength("aaaaaaaaaa").is_err());
        assert!(check_password_strength("password").is_err());
        assert!(check_password_strength("correct horse").is_ok());
    }

    #[test]
    fn emails_are_checked() {
        assert_eq!(normalize_email(" A@Example.COM ").unwrap(), "a@example.com");
        for good in ["ann.lee+tickets@example.com", "o'brien@mail.example.co.uk", "x@xn--mnchen-3ya.de"] {
            assert!(normalize_email(good).is_ok(), "{good}");
        }
        // Look-alikes: a Cyrillic а, a zero-width space, a right-to-left override.
        for bad in ["", "a", "@x.com", "a@b", "a@@b.com", "a b@c.com", "a@.com", "\u{430}dmin@example.com", "admin\u{200b}@example.com", "admin@exa\u{202e}moc.elp", "a..b@example.com", "a@-x.com", "a@x_y.com"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
