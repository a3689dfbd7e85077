//! The gRPC face of payments: checks who may call what, converts wire types and delegates to
//! the flows. The caller's identity comes only from the verified principal token.

use chrono::{DateTime, Utc};
use df_common::{
    Error, ErrorKind,
    auth::{Principal, Role, service},
    grpc::principal,
};
use df_proto::payments::v1::{self as pb, payments_server::Payments};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    catalogue::{self, TierInput},
    checkout::{self, ReturnUrls},
    earnings,
    entitlements::{self, Question},
    payouts, schema,
    service::Service,
    subscriptions::SubscriptionRow,
    tax::{
        forms,
        profiles::{self, TaxAddress, TaxProfileInput, TaxProfileView},
        reports,
    },
    webhook,
};

/// Implements `directfanz.payments.v1.Payments`.
#[derive(Clone)]
pub struct PaymentsService {
    service: Service,
    webhooks: webhook::Webhooks,
}

impl PaymentsService {
    /// The gRPC service over `service`.
    pub fn new(service: Service, webhooks: webhook::Webhooks) -> Self {
        Self { service, webhooks }
    }
}

fn uuid(value: &str, field: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(value).map_err(|_| {
        Status::from(Error::invalid_input(
            "payments.invalid_id",
            format!("{field} is not a valid id."),
        ))
    })
}

/// The services that may ask about any fan's entitlements: those that deliver content.
const ENTITLEMENT_ASKERS: &[&str] = &[service::MEDIA];

fn user(principal: &Principal) -> Result<Uuid, Status> {
    Ok(principal.require_user().map_err(Status::from)?.as_uuid())
}

fn creator(principal: &Principal) -> Result<Uuid, Status> {
    principal
        .require_any_role(&[Role::Creator])
        .map_err(Status::from)?;
    user(principal)
}

/// The creator named, when the caller is that creator or an admin.
fn own_or_admin(principal: &Principal, creator_id: &str) -> Result<Uuid, Status> {
    if principal.has_role(Role::Admin) && !creator_id.is_empty() {
        return uuid(creator_id, "creator_id");
    }
    let me = creator(principal)?;
    if creator_id.is_empty() || uuid(creator_id, "creator_id")? == me {
        Ok(me)
    } else {
        Err(Status::from(Error::forbidden()))
    }
}

fn admin(principal: &Principal) -> Result<(), Status> {
    principal
        .require_any_role(&[Role::Admin])
        .map_err(Status::from)
}

fn ts(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(df_common::wire::timestamp(at))
}

fn from_ts(value: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    value.and_then(df_common::wire::instant)
}

fn money(amount: i64, currency: &str) -> Option<pb::Money> {
    Some(pb::Money {
        amount,
        currency: currency.to_owned(),
    })
}

fn tier_to_pb(tier: catalogue::Tier, subscribers: i64) -> pb::Tier {
    pb::Tier {
        id: tier.id.to_string(),
        creator_id: tier.creator_id.to_string(),
        name: tier.name,
        price: money(tier.price_minor, &tier.currency),
        subscriber_cap: tier
            .subscriber_cap
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(0),
        trial_days: u32::try_from(tier.trial_days).unwrap_or(0),
        promo_percent_off: tier
            .promo_percent_off
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(0),
        promo_ends_at: tier.promo_ends_at.and_then(ts),
        archived: tier.archived_at.is_some(),
        description: tier.description,
        subscriber_count: u32::try_from(subscribers).unwrap_or(u32::MAX),
    }
}

fn tier_input(input: Option<pb::TierInput>, now: DateTime<Utc>) -> Result<TierInput, Status> {
    let input = input.unwrap_or_default();
    let price = input.price.unwrap_or_default();
    TierInput::check(
        &input.name,
        &input.description,
        price.amount,
        &price.currency,
        input.subscriber_cap,
        input.trial_days,
        input.promo_percent_off,
        from_ts(input.promo_ends_at.as_ref()),
        now,
    )
    .map_err(Status::from)
}

fn checkout_to_pb((id, session): checkout::Opened) -> pb::Checkout {
    pb::Checkout {
        id: id.to_string(),
        url: session.url,
        expires_at: ts(session.expires_at),
    }
}

fn profile_to_pb(view: TaxProfileView) -> pb::TaxProfile {
    pb::TaxProfile {
        creator_id: view.creator_id.to_string(),
        legal_name: view.legal_name,
        address: Some(pb::Address {
            line1: view.address.line1,
            line2: view.address.line2,
            city: view.address.city,
            state: view.address.state,
            postal_code: view.address.postal_code,
            country: view.address.country,
        }),
        tin_masked: view.tin_masked,
        bank_account_masked: view.bank_account_masked.unwrap_or_default(),
        updated_at: ts(view.updated_at),
    }
}

fn urls(success: String, cancel: String) -> ReturnUrls {
    ReturnUrls { success, cancel }
}

impl PaymentsService {
    fn subscription_to_pb(&self, row: SubscriptionRow) -> pb::Subscription {
        let until = entitlements::access_until(
            &row.status,
            row.current_period_end,
            row.past_due_since,
            self.service.entitlements.policy(),
        );
        pb::Subscription {
            id: row.id.to_string(),
            creator_id: row.creator_id.to_string(),
            tier_id: row.tier_id.to_string(),
            status: row.status,
            cancel_at_period_end: row.cancel_at_period_end,
            current_period_end: ts(row.current_period_end),
            access_until: until.and_then(ts),
        }
    }
}

#[tonic::async_trait]
impl Payments for PaymentsService {
    async fn start_onboarding(
        &self,
        request: Request<pb::StartOnboardingRequest>,
    ) -> Result<Response<pb::StartOnboardingResponse>, Status> {
        let creator_id = creator(&principal(&request)?)?;
        let r = request.into_inner();
        let country = if r.country.is_empty() {
            "US"
        } else {
            &r.country
        };
        let url = catalogue::start_onboarding(
            &self.service,
            creator_id,
            country,
            &r.return_url,
            &r.refresh_url,
        )
        .await?;
        Ok(Response::new(pb::StartOnboardingResponse { url }))
    }

    async fn get_payout_account(
        &self,
        request: Request<pb::GetPayoutAccountRequest>,
    ) -> Result<Response<pb::PayoutAccount>, Status> {
        let creator_id = own_or_admin(&principal(&request)?, &request.get_ref().creator_id)?;
        let mut conn = self.service.db.conn().await?;
        let account = catalogue::payout_account(&mut conn, creator_id)
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    "payments.no_payout_account",
                    "No payout account yet: start onboarding first.",
                )
            })?;
        Ok(Response::new(pb::PayoutAccount {
            creator_id: account.creator_id.to_string(),
            status: account.status,
            charges_enabled: account.charges_enabled,
            payouts_enabled: account.payouts_enabled,
            default_currency: account.default_currency,
        }))
    }

    async fn create_tier(
        &self,
        request: Request<pb::TierInput>,
    ) -> Result<Response<pb::Tier>, Status> {
        let creator_id = creator(&principal(&request)?)?;
        let input = tier_input(Some(request.into_inner()), self.service.clock.now())?;
        let mut conn = self.service.db.conn().await?;
        let tier = catalogue::create_tier(&mut conn, creator_id, &input).await?;
        Ok(Response::new(tier_to_pb(tier, 0)))
    }

    async fn update_tier(
        &self,
        request: Request<pb::UpdateTierRequest>,
    ) -> Result<Response<pb::Tier>, Status> {
        let creator_id = creator(&principal(&request)?)?;
        let r = request.into_inner();
        let id = uuid(&r.tier_id, "tier_id")?;
        let input = tier_input(r.tier, self.service.clock.now())?;
        let mut conn = self.service.db.conn().await?;
        let tier = catalogue::update_tier(&mut conn, creator_id, id, &input).await?;
        let count = catalogue::subscriber_count(&mut conn, id).await?;
        Ok(Response::new(tier_to_pb(tier, count)))
    }

    async fn archive_tier(
        &self,
        request: Request<pb::ArchiveTierRequest>,
    ) -> Result<Response<pb::Tier>, Status> {
        let creator_id = creator(&principal(&request)?)?;
        let id = uuid(&request.get_ref().tier_id, "tier_id")?;
        let mut conn = self.service.db.conn().await?;
        let tier =
            catalogue::archive_tier(&mut conn, creator_id, id, self.service.clock.now()).await?;
        let count = catalogue::subscriber_count(&mut conn, id).await?;
        Ok(Response::new(tier_to_pb(tier, count)))
    }

    async fn list_tiers(
        &self,
        request: Request<pb::ListTiersRequest>,
    ) -> Result<Response<pb::ListTiersResponse>, Status> {
        principal(&request)?;
        let creator_id = uuid(&request.get_ref().creator_id, "creator_id")?;
        let mut conn = self.service.db.conn().await?;
        let tiers = catalogue::tiers_of(&mut conn, creator_id).await?;
        Ok(Response::new(pb::ListTiersResponse {
            tiers: tiers.into_iter().map(|(t, c)| tier_to_pb(t, c)).collect(),
        }))
    }

    async fn create_ppv_item(
        &self,
        request: Request<pb::PpvItemInput>,
    ) -> Result<Response<pb::PpvItem>, Status> {
        let creator_id = creator(&principal(&request)?)?;
        let r = request.into_inner();
        let post_id = uuid(&r.post_id, "post_id")?;
        let price = r.price.unwrap_or_default();
        let mut conn = self.service.db.conn().await?;
        let item = catalogue::create_ppv_item(
            &mut conn,
            creator_id,
            post_id,
            &r.title,
            price.amount,
            &price.currency,
        )
        .await?;
        Ok(Response::new(pb::PpvItem {
            id: item.id.to_string(),
            creator_id: item.creator_id.to_string(),
            post_id: item.post_id.to_string(),
            price: money(item.price_minor, &item.currency),
            title: item.title,
        }))
    }

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<pb::Checkout>, Status> {
        let fan_id = user(&principal(&request)?)?;
        let r = request.into_inner();
        let tier_id = uuid(&r.tier_id, "tier_id")?;
        let opened = checkout::subscribe(
            &self.service,
            fan_id,
            tier_id,
            &urls(r.success_url, r.cancel_url),
            &r.idempotency_key,
        )
        .await?;
        Ok(Response::new(checkout_to_pb(opened)))
    }

    async fn tip(
        &self,
        request: Request<pb::TipRequest>,
    ) -> Result<Response<pb::Checkout>, Status> {
        let fan_id = user(&principal(&request)?)?;
        let r = request.into_inner();
        let creator_id = uuid(&r.creator_id, "creator_id")?;
        let amount = r.amount.unwrap_or_default();
        let opened = checkout::tip(
            &self.service,
            fan_id,
            creator_id,
            amount.amount,
            &amount.currency,
            &r.message,
            &urls(r.success_url, r.cancel_url),
            &r.idempotency_key,
        )
        .await?;
        Ok(Response::new(checkout_to_pb(opened)))
    }

    async fn buy_ppv(
        &self,
        request: Request<pb::BuyPpvRequest>,
    ) -> Result<Response<pb::Checkout>, Status> {
        let fan_id = user(&principal(&request)?)?;
        let r = request.into_inner();
        let item = uuid(&r.ppv_item_id, "ppv_item_id")?;
        let opened = checkout::buy_ppv(
            &self.service,
            fan_id,
            item,
            &urls(r.success_url, r.cancel_url),
            &r.idempotency_key,
        )
        .await?;
        Ok(Response::new(checkout_to_pb(opened)))
    }

    async fn cancel_subscription(
        &self,
        request: Request<pb::CancelSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let fan_id = user(&principal(&request)?)?;
        let id = uuid(&request.get_ref().subscription_id, "subscription_id")?;
        let row = checkout::cancel(&self.service, fan_id, id).await?;
        Ok(Response::new(self.subscription_to_pb(row)))
    }

    async fn list_my_subscriptions(
        &self,
        request: Request<pb::ListMySubscriptionsRequest>,
    ) -> Result<Response<pb::ListSubscriptionsResponse>, Status> {
        let fan_id = user(&principal(&request)?)?;
        let mut conn = self.service.db.conn().await?;
        let rows = crate::subscriptions::of_fan(&mut conn, fan_id).await?;
        Ok(Response::new(pb::ListSubscriptionsResponse {
            subscriptions: rows
                .into_iter()
                .map(|r| self.subscription_to_pb(r))
                .collect(),
        }))
    }

    async fn check_entitlement(
        &self,
        request: Request<pb::CheckEntitlementRequest>,
    ) -> Result<Response<pb::CheckEntitlementResponse>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        let question = Question {
            fan_id: uuid(&r.fan_id, "fan_id")?,
            creator_id: uuid(&r.creator_id, "creator_id")?,
            ppv_item_id: if r.ppv_item_id.is_empty() {
                None
            } else {
                Some(uuid(&r.ppv_item_id, "ppv_item_id")?)
            },
        };
        // The services that deliver content ask about anyone; a user only about themself.
        if caller.require_service(ENTITLEMENT_ASKERS).is_err()
            && caller.user_id().map(|u| u.as_uuid()) != Some(question.fan_id)
        {
            return Err(Status::from(Error::forbidden()));
        }
        let grant = self.check(&question).await?;
        let now = self.service.clock.now();
        let allowed = grant.allows(now);
        Ok(Response::new(pb::CheckEntitlementResponse {
            allowed,
            reason: if allowed {
                grant.reason.as_str()
            } else {
                "none"
            }
            .into(),
            until: grant.until.filter(|_| allowed).and_then(ts),
        }))
    }

    async fn ingest_webhook(
        &self,
        request: Request<pb::IngestWebhookRequest>,
    ) -> Result<Response<pb::IngestWebhookResponse>, Status> {
        // Provider webhooks arrive at the public edge only.
        principal(&request)?
            .require_service(&[service::GATEWAY])
            .map_err(Status::from)?;
        let r = request.into_inner();
        let (event_id, outcome) = self.webhooks.ingest(&r.payload, &r.signature).await?;
        Ok(Response::new(pb::IngestWebhookResponse {
            event_id,
            outcome: outcome.as_str().into(),
        }))
    }

    async fn get_earnings(
        &self,
        request: Request<pb::GetEarningsRequest>,
    ) -> Result<Response<pb::Earnings>, Status> {
        let creator_id = own_or_admin(&principal(&request)?, &request.get_ref().creator_id)?;
        let currency = if request.get_ref().currency.is_empty() {
            "usd".to_owned()
        } else {
            crate::money::currency(&request.get_ref().currency)?
        };
        let mut conn = self.service.db.conn().await?;
        let (balances, lines) = earnings::statement(&mut conn, creator_id, &currency, 200).await?;
        Ok(Response::new(pb::Earnings {
            creator_id: creator_id.to_string(),
            currency,
            pending: balances.pending,
            available: balances.available,
            in_transit: balances.in_transit,
            paid_out: balances.paid_out,
            dispute_reserve: balances.dispute_reserve,
            receivable: -balances.receivable,
            lines: lines
                .into_iter()
                .map(|l| pb::StatementLine {
                    transaction_id: l.transaction_id.to_string(),
                    kind: l.kind,
                    at: ts(l.at),
                    amount: l.amount,
                    gross: l.gross,
                    platform_fee: l.platform_fee,
                    reference: l.reference,
                })
                .collect(),
        }))
    }

    async fn list_payouts(
        &self,
        request: Request<pb::ListPayoutsRequest>,
    ) -> Result<Response<pb::ListPayoutsResponse>, Status> {
        let creator_id = own_or_admin(&principal(&request)?, &request.get_ref().creator_id)?;
        let mut conn = self.service.db.conn().await?;
        let rows = payouts_of(&mut conn, Some(creator_id), None).await?;
        Ok(Response::new(pb::ListPayoutsResponse { payouts: rows }))
    }

    async fn run_payouts(
        &self,
        request: Request<pb::RunPayoutsRequest>,
    ) -> Result<Response<pb::RunPayoutsResponse>, Status> {
        admin(&principal(&request)?)?;
        let report = payouts::run(&self.service).await?;
        Ok(Response::new(pb::RunPayoutsResponse {
            released: report.released,
            payouts_started: report.started,
            retried: report.retried,
        }))
    }

    async fn put_tax_profile(
        &self,
        request: Request<pb::TaxProfileInput>,
    ) -> Result<Response<pb::TaxProfile>, Status> {
        let creator_id = creator(&principal(&request)?)?;
        let r = request.into_inner();
        let address = r.address.unwrap_or_default();
        let blank_to_none = |s: String| (!s.trim().is_empty()).then_some(s);
        let input = TaxProfileInput {
            legal_name: r.legal_name,
            address: TaxAddress {
                line1: address.line1,
                line2: address.line2,
                city: address.city,
                state: address.state,
                postal_code: address.postal_code,
                country: address.country,
            },
            tin: r.tin.into(),
            tin_kind: None,
            bank_routing_number: blank_to_none(r.bank_routing_number),
            bank_account_number: blank_to_none(r.bank_account_number).map(Into::into),
        };
        let mut conn = self.service.db.conn().await?;
        let view =
            profiles::put_profile(&mut conn, &self.service.tax.keyring, creator_id, &input).await?;
        Ok(Response::new(profile_to_pb(view)))
    }

    async fn get_tax_profile(
        &self,
        request: Request<pb::GetTaxProfileRequest>,
    ) -> Result<Response<pb::TaxProfile>, Status> {
        let creator_id = own_or_admin(&principal(&request)?, &request.get_ref().creator_id)?;
        let mut conn = self.service.db.conn().await?;
        let view = profiles::get_profile(&mut conn, creator_id)
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    "payments.no_tax_profile",
                    "No tax profile yet.",
                )
            })?;
        Ok(Response::new(profile_to_pb(view)))
    }

    async fn get_tax_form(
        &self,
        request: Request<pb::GetTaxFormRequest>,
    ) -> Result<Response<pb::TaxForm>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        let pdf = match r.format.as_str() {
            "" | "csv" => false,
            "pdf" => true,
            _ => {
                return Err(Status::from(Error::invalid_input(
                    "payments.invalid_format",
                    "format must be csv or pdf.",
                )));
            }
        };
        let tax = &self.service.tax.config;
        let payer = tax.payer();
        let mut conn = self.service.db.conn().await?;
        // An admin asking without a creator gets every creator's summary as one CSV.
        if r.creator_id.is_empty() && caller.has_role(Role::Admin) {
            if pdf {
                return Err(Status::from(Error::invalid_input(
                    "payments.invalid_format",
                    "All creators' forms come as one CSV; ask for one creator to get a PDF.",
                )));
            }
            let forms: Vec<_> =
                reports::all_summaries(&mut conn, r.tax_year, tax.nec_threshold_minor, &payer)
                    .await?
                    .into_iter()
                    .map(|(_, form)| form)
                    .collect();
            return Ok(Response::new(pb::TaxForm {
                filename: format!("1099-nec-{}-all.csv", r.tax_year),
                content_type: "text/csv; charset=utf-8".into(),
                content: forms::to_csv(&forms),
            }));
        }
        let creator_id = own_or_admin(&caller, &r.creator_id)?;
        let form = reports::summary_for(
            &mut conn,
            creator_id,
            r.tax_year,
            tax.nec_threshold_minor,
            &payer,
        )
        .await?;
        let (content, content_type, extension) = if pdf {
            (forms::to_pdf(&form), "application/pdf", "pdf")
        } else {
            (
                forms::to_csv(std::slice::from_ref(&form)),
                "text/csv; charset=utf-8",
                "csv",
            )
        };
        Ok(Response::new(pb::TaxForm {
            filename: format!("1099-nec-{}-{creator_id}.{extension}", r.tax_year),
            content_type: content_type.into(),
            content,
        }))
    }

    async fn list_disputes(
        &self,
        request: Request<pb::ListDisputesRequest>,
    ) -> Result<Response<pb::ListDisputesResponse>, Status> {
        admin(&principal(&request)?)?;
        use diesel::{ExpressionMethods, QueryDsl};
        use diesel_async::RunQueryDsl;
        use schema::disputes as d;
        let status = request.into_inner().status;
        let mut conn = self.service.db.conn().await?;
        let mut query = d::table
            .select((
                d::id,
                d::payment_id,
                d::creator_id,
                d::fan_id,
                d::amount_minor,
                d::currency,
                d::status,
                d::evidence_due_by,
                d::evidence_submitted_at,
            ))
            .order(d::created_at.desc())
            .limit(500)
            .into_boxed();
        if !status.is_empty() {
            query = query.filter(d::status.eq(status));
        }
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            Uuid,
            Uuid,
            Uuid,
            Uuid,
            i64,
            String,
            String,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
        )> = query.load(&mut conn).await.map_err(Error::from)?;
        Ok(Response::new(pb::ListDisputesResponse {
            disputes: rows
                .into_iter()
                .map(|r| pb::Dispute {
                    id: r.0.to_string(),
                    payment_id: r.1.to_string(),
                    creator_id: r.2.to_string(),
                    fan_id: r.3.to_string(),
                    amount: money(r.4, &r.5),
                    status: r.6,
                    evidence_due_by: r.7.and_then(ts),
                    evidence_submitted_at: r.8.and_then(ts),
                })
                .collect(),
        }))
    }

    async fn list_failed_payouts(
        &self,
        request: Request<pb::ListFailedPayoutsRequest>,
    ) -> Result<Response<pb::ListPayoutsResponse>, Status> {
        admin(&principal(&request)?)?;
        let mut conn = self.service.db.conn().await?;
        let rows = payouts_of(&mut conn, None, Some(&["failed", "needs_attention"])).await?;
        Ok(Response::new(pb::ListPayoutsResponse { payouts: rows }))
    }
}

impl PaymentsService {
    /// The entitlement check: the cache first, then the database (and the answer cached).
    async fn check(&self, question: &Question) -> Result<entitlements::Grant, Error> {
        let cached = self.service.entitlements.cached(question).await;
        if let Some((Some(grant), _)) = cached {
            return Ok(grant);
        }
        let mut conn = self.service.db.conn().await?;
        let grant =
            entitlements::from_database(&mut conn, question, self.service.entitlements.policy())
                .await?;
        if let Some((None, generation)) = cached {
            self.service
                .entitlements
                .store(question, generation, grant)
                .await;
        }
        Ok(grant)
    }
}

async fn payouts_of(
    conn: &mut diesel_async::AsyncPgConnection,
    creator_id: Option<Uuid>,
    statuses: Option<&[&str]>,
) -> Result<Vec<pb::Payout>, Error> {
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    use schema::payouts as p;
    let mut query = p::table
        .select((
            p::id,
            p::creator_id,
            p::amount_minor,
            p::currency,
            p::status,
            p::attempts,
            p::failure_code,
            p::created_at,
            p::next_attempt_at,
        ))
        .order(p::created_at.desc())
        .limit(200)
        .into_boxed();
    if let Some(creator_id) = creator_id {
        query = query.filter(p::creator_id.eq(creator_id));
    }
    if let Some(statuses) = statuses {
        query = query.filter(p::status.eq_any(statuses.to_vec()));
    }
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        Uuid,
        Uuid,
        i64,
        String,
        String,
        i32,
        Option<String>,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
    )> = query.load(conn).await?;
    Ok(rows
        .into_iter()
        .map(|r| pb::Payout {
            id: r.0.to_string(),
            creator_id: r.1.to_string(),
            amount: money(r.2, &r.3),
            status: r.4,
            attempts: u32::try_from(r.5).unwrap_or(0),
            failure_code: r.6.unwrap_or_default(),
            created_at: ts(r.7),
            next_attempt_at: r.8.and_then(ts),
        })
        .collect())
}
