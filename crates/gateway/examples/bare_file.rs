//! The baseline of `scripts/bench/media` for serving files: a bare actix-web handler with no
//! middleware and no upstream call that reads one file from disk per request and sends it. The
//! gateway's signed-URL figures are read as a fraction of this one's, measured on the same
//! machine, the same file and in the same run.

use actix_web::{App, HttpResponse, HttpServer, http::header, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::var("BARE_LISTEN").unwrap_or_else(|_| "127.0.0.1:18082".to_owned());
    let workers: usize = std::env::var("BARE_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    let file = std::env::var("BARE_FILE").map_err(std::io::Error::other)?;
    HttpServer::new(move || {
        let file = file.clone();
        App::new().route(
            "/file",
            web::get().to(move || {
                let file = file.clone();
                async move {
                    match tokio::fs::read(&file).await {
                        Ok(bytes) => HttpResponse::Ok()
                            .insert_header((header::CONTENT_TYPE, "video/mp4"))
                            .body(bytes),
                        Err(_) => HttpResponse::NotFound().finish(),
                    }
                }
            }),
        )
    })
    .workers(workers)
    .bind(listen)?
    .run()
    .await
}
