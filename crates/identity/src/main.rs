//! `df-identity`: the identity service alone, configured from `DF_*` variables.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    df_runtime::run_service(
        df_identity::SERVICE,
        df_identity::MIGRATIONS,
        |config: df_identity::IdentityConfig, shutdown| async move {
            let listeners = df_identity::Listeners::bind(&config).await?;
            df_identity::serve(config, listeners, shutdown).await
        },
    )
    .await
}
