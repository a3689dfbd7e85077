//! Background work on a timer, as schedules of the service's job runner: scheduled payouts and
//! retries, dispute evidence submitted before it is due, and the access record kept no longer
//! than its retention. Every job is safe to run on several replicas at once (the runner leases a
//! schedule to one replica at a time, and each step locks what it changes and books effects
//! under unique keys).

use std::time::Duration;

use chrono::Utc;
use df_common::Error;
use df_runtime::jobs::{FirstRun, JobRunner};
use diesel::QueryDsl;
use diesel_async::RunQueryDsl;

use crate::{
    access_log, disputes, payouts,
    provider::DisputeEvidence,
    schema::{payment_details, payments},
    service::Service,
};

/// Registers the schedules: the payout run every `policy.payout_interval_hours`, and evidence
/// and access-log retention every `policy.job_interval_secs`; each first runs one interval
/// after the service first starts.
pub fn register(jobs: &mut JobRunner, service: &Service) {
    let tick = Duration::from_secs(u64::from(service.policy.job_interval_secs));
    let payout_interval =
        Duration::from_secs(3_600 * u64::from(service.policy.payout_interval_hours));
    schedule(
        jobs,
        "payments.payouts",
        payout_interval,
        service,
        |service| async move {
            let report = payouts::run(&service).await?;
            tracing::info!(?report, "payout run");
            Ok(())
        },
    );
    schedule(
        jobs,
        "payments.dispute_evidence",
        tick,
        service,
        |service| async move { submit_due_evidence(&service).await.map(drop) },
    );
    schedule(
        jobs,
        "payments.access_log_retention",
        tick,
        service,
        |service| async move { prune_access_log(&service).await.map(drop) },
    );
}

/// Runs `round` on its own copy of `service` every `interval`, first one interval from now.
fn schedule<F, Fut>(
    jobs: &mut JobRunner,
    kind: &'static str,
    interval: Duration,
    service: &Service,
    round: F,
) where
    F: Fn(Service) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    let service = service.clone();
    jobs.every(kind, interval, FirstRun::AfterInterval, move || {
        round(service.clone())
    });
}

/// Assembles and submits evidence for disputes due within the configured lead time.
pub async fn submit_due_evidence(service: &Service) -> Result<usize, Error> {
    let now = service.clock.now();
    let lead = chrono::Duration::hours(i64::from(service.policy.evidence_lead_hours));
    let mut conn = service.db.conn().await?;
    let due = disputes::due_for_evidence(&mut conn, now, lead).await?;
    let mut submitted = 0;
    for (id, provider_id, payment_id) in due {
        let (kind, fan_id, creator_id, ppv_item_id, gross, currency): (
            String,
            df_common::ids::UserId,
            df_common::ids::CreatorId,
            Option<crate::ids::PpvItemId>,
            i64,
            String,
        ) = payments::table
            .find(payment_id)
            .select((
                payments::kind,
                payments::fan_id,
                payments::creator_id,
                payments::ppv_item_id,
                payments::gross_minor,
                payments::currency,
            ))
            .first(&mut conn)
            .await?;
        let created_at: chrono::DateTime<Utc> = payment_details::table
            .find(payment_id)
            .select(payment_details::created_at)
            .first(&mut conn)
            .await?;
        let access_activity_log = access_log::evidence(
            &mut conn,
            access_log::Scope {
                fan_id,
                creator_id,
                ppv_item_id,
                since: created_at,
            },
        )
        .await?;
        let evidence = DisputeEvidence {
            product_description: format!("DirectFanz {kind} (digital content access)"),
            receipt: format!(
                "Payment {payment_id}: {gross} {} (minor units) on {}",
                currency.to_uppercase(),
                created_at.to_rfc3339()
            ),
            access_activity_log,
            customer_id: fan_id.to_string(),
        };
        match service
            .provider
            .submit_dispute_evidence(&provider_id, &evidence)
            .await
        {
            Ok(()) => {
                disputes::evidence_submitted(&mut conn, id, now).await?;
                submitted += 1;
            }
            Err(e) => e.log(),
        }
    }
    Ok(submitted)
}

/// Deletes deliveries older than the retention period.
pub async fn prune_access_log(service: &Service) -> Result<usize, Error> {
    let retention = chrono::Duration::days(i64::from(service.policy.access_log_retention_days));
    let mut conn = service.db.conn().await?;
    access_log::prune(&mut conn, service.clock.now() - retention).await
}
