//! Creators' tax profiles and 1099-NEC forms.

use df_common::{Error, auth::Role, grpc::principal};
use df_proto::payments::v1 as pb;
use tonic::{Request, Response};

use super::{PaymentsService, Reply, access, convert};
use crate::{
    errors::PaymentsError,
    tax::{
        forms,
        profiles::{self, TaxProfileInput},
        reports,
    },
};

pub async fn put_tax_profile(
    face: &PaymentsService,
    request: Request<pb::TaxProfileInput>,
) -> Reply<pb::TaxProfile> {
    let creator_id = access::creator(&principal(&request)?)?;
    let r = request.into_inner();
    let blank_to_none = |s: String| (!s.trim().is_empty()).then_some(s);
    let input = TaxProfileInput {
        legal_name: r.legal_name,
        address: convert::tax_address(r.address),
        tin: r.tin.into(),
        tin_kind: None,
        bank_routing_number: blank_to_none(r.bank_routing_number),
        bank_account_number: blank_to_none(r.bank_account_number).map(Into::into),
    };
    let mut conn = face.service.db.conn().await?;
    let keyring = &face.service.tax.keyring;
    let view = profiles::put_profile(&mut conn, keyring, creator_id, &input).await?;
    Ok(Response::new(convert::tax_profile(view)))
}

pub async fn get_tax_profile(
    face: &PaymentsService,
    request: Request<pb::GetTaxProfileRequest>,
) -> Reply<pb::TaxProfile> {
    let creator_id = access::own_or_admin(&principal(&request)?, &request.get_ref().creator_id)?;
    let mut conn = face.service.db.conn().await?;
    let view = profiles::get_profile(&mut conn, creator_id)
        .await?
        .ok_or(Error::from(PaymentsError::NoTaxProfile))?;
    Ok(Response::new(convert::tax_profile(view)))
}

pub async fn get_tax_form(
    face: &PaymentsService,
    request: Request<pb::GetTaxFormRequest>,
) -> Reply<pb::TaxForm> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let pdf = match r.format.as_str() {
        "" | "csv" => false,
        "pdf" => true,
        _ => return Err(Error::from(PaymentsError::InvalidFormat).into()),
    };
    let tax = &face.service.tax.config;
    let payer = tax.payer();
    let mut conn = face.service.db.conn().await?;
    // An admin asking without a creator gets every creator's summary as one CSV.
    if r.creator_id.is_empty() && caller.has_role(Role::Admin) {
        if pdf {
            return Err(PaymentsError::InvalidFormat
                .with_message(
                    "All creators' forms come as one CSV; ask for one creator to get a PDF.",
                )
                .into());
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
    let creator_id = access::own_or_admin(&caller, &r.creator_id)?;
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
