//! `df-payments`: the payments service alone, configured from `DF_*` variables.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    df_runtime::run_service(
        df_payments::MIGRATIONS,
        |config: df_payments::PaymentsConfig, shutdown| async move {
            let listeners = df_runtime::Listeners::bind(&config.base).await?;
            let wiring = df_payments::Wiring::bind(&config).await?;
            df_payments::serve(config, listeners, wiring, shutdown).await
        },
    )
    .await
}
