//! `df-gateway`: the public HTTP API alone, configured from `DF_*` variables.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    df_common::lifecycle::run_service(
        df_gateway::SERVICE,
        |config: df_gateway::GatewayConfig, shutdown| async move {
            let listeners = df_gateway::Listeners::bind(&config).await?;
            df_gateway::serve(config, listeners, shutdown).await
        },
    )
    .await
}
