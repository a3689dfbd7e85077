//! The HTTP client identity uses for outside services (email API, breached-password lookups):
//! bounded in time, never following redirects (a redirect could carry a request, and its
//! credentials, elsewhere), identifying itself.

use std::time::Duration;

use df_common::Error;

/// A client whose whole request, connection included, is bounded by `timeout`.
pub fn client(timeout: Duration) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("directfanz-identity/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::internal(anyhow::anyhow!("could not build the HTTP client: {e}")))
}
