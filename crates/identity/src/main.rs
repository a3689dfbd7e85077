//! `df-identity`: the identity service alone, configured from `DF_*` variables.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    df_runtime::run_service(
        df_identity::MIGRATIONS,
        |config: df_identity::IdentityConfig, shutdown| async move {
            let listeners = df_runtime::Listeners::bind(&config.base).await?;
            df_identity::serve(config, listeners, Default::default(), shutdown).await
        },
    )
    .await
}
