//! The media binary: `df-media` serves, `df-media migrate` runs the migrations and exits.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    df_runtime::run_service(
        df_media::MIGRATIONS,
        |config: df_media::MediaConfig, shutdown| async move {
            let listeners = df_runtime::Listeners::bind(&config.base).await?;
            df_media::serve(config, listeners, Default::default(), shutdown).await
        },
    )
    .await
}
