//! The baseline of `scripts/bench/gateway`: a bare actix-web handler with no middleware and no
//! upstream call, serving a body of the same size as `GET /v1/me`. The gateway's figures are
//! read as a fraction of this one's, measured on the same machine in the same run.

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::var("BARE_LISTEN").unwrap_or_else(|_| "127.0.0.1:18081".to_owned());
    let workers: usize = std::env::var("BARE_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    HttpServer::new(|| {
        App::new().route(
            "/bare",
            web::get().to(|| async {
                HttpResponse::Ok().json(serde_json::json!({
                    "id": "0190f6d2-7a3e-7c4b-9f0e-2b8d6c1a4e55",
                    "email": "bench@example.com",
                    "username": "bench_user",
                    "role": "fan",
                    "email_verified": true,
                    "created_at": "2026-11-22T00:00:00Z"
                }))
            }),
        )
    })
    .workers(workers)
    .bind(listen)?
    .run()
    .await
}
