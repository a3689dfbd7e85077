//! The browser cookies: the session (`__Host-df_session`: Secure, HttpOnly, SameSite=Lax,
//! Path=/, no Domain) and the CSRF token (`__Host-df_csrf`: the same but readable by the page,
//! which echoes it in `X-CSRF-Token`).

use actix_web::cookie::{Cookie, SameSite, time::Duration};

/// Name of the CSRF cookie.
pub const CSRF_COOKIE: &str = "__Host-df_csrf";

fn host_cookie(name: String, value: String, http_only: bool, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .secure(true)
        .http_only(http_only)
        .same_site(SameSite::Lax)
        .max_age(Duration::seconds(max_age_secs.max(0)))
        .finish()
}

/// The session cookie, living until the session's absolute expiry.
pub fn session(name: &str, token: &str, max_age_secs: i64) -> Cookie<'static> {
    host_cookie(name.to_owned(), token.to_owned(), true, max_age_secs)
}

/// The CSRF cookie.
pub fn csrf(token: &str, max_age_secs: i64) -> Cookie<'static> {
    host_cookie(
        CSRF_COOKIE.to_owned(),
        token.to_owned(),
        false,
        max_age_secs,
    )
}

/// Cookies that delete both.
pub fn cleared(session_name: &str) -> [Cookie<'static>; 2] {
    [
        host_cookie(session_name.to_owned(), String::new(), true, 0),
        host_cookie(CSRF_COOKIE.to_owned(), String::new(), false, 0),
    ]
}

/// `204 No Content` that deletes both cookies (the answer to a logout).
pub fn signed_out(session_name: &str) -> actix_web::HttpResponse {
    let mut response = actix_web::HttpResponse::NoContent();
    for cookie in cleared(session_name) {
        response.cookie(cookie);
    }
    response.finish()
}
