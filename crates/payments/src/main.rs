//! `df-payments`: the payments service alone, configured from `DF_*` variables.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    df_runtime::run_service(
        df_payments::SERVICE,
        df_payments::MIGRATIONS,
        |config: df_payments::PaymentsConfig, shutdown| async move {
            let listeners = df_payments::Listeners::bind(&config).await?;
            df_payments::serve(config, listeners, shutdown).await
        },
    )
    .await
}
