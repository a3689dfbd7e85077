//! Tax: `PUT` and `GET /v1/creator/tax-profile` (stored encrypted by payments and only ever
//! shown masked), `GET /v1/creator/tax-forms/{year}` and the admin's
//! `GET /v1/admin/creators/{creator_id}/tax-forms/{year}` (a 1099-NEC summary as a download).

use actix_web::{
    HttpResponse,
    http::header::{self, ContentDisposition, DispositionParam, DispositionType, HeaderValue},
    web,
};
use df_common::{Secret, ids::CreatorId};
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};

use super::{TaxFormFormat, TaxFormQuery, non_empty, required_instant};
use crate::security::Json;
use crate::{
    auth::Authenticated,
    security::problem::ApiError,
    upstream::{Caller, Payments},
};

/// A postal address.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Street and number.
    pub line1: String,
    /// Apartment, suite, ...; `null` or absent for none.
    #[serde(default)]
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// State, province or region.
    pub state: String,
    /// Postal code.
    pub postal_code: String,
    /// Two-letter country code.
    pub country: String,
}

impl From<Address> for pb::Address {
    fn from(address: Address) -> Self {
        Self {
            line1: address.line1,
            line2: address.line2.unwrap_or_default(),
            city: address.city,
            state: address.state,
            postal_code: address.postal_code,
            country: address.country,
        }
    }
}

impl From<pb::Address> for Address {
    fn from(address: pb::Address) -> Self {
        Self {
            line1: address.line1,
            line2: non_empty(address.line2),
            city: address.city,
            state: address.state,
            postal_code: address.postal_code,
            country: address.country,
        }
    }
}

/// Request body of `put_profile`. The tax id and bank details are secrets: they print
/// redacted and go nowhere but to payments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxProfileBody {
    legal_name: String,
    address: Address,
    tin: Secret<String>,
    #[serde(default)]
    bank_account_number: Option<Secret<String>>,
    #[serde(default)]
    bank_routing_number: Option<Secret<String>>,
}

/// A tax profile, masked.
#[derive(Debug, Serialize)]
pub struct TaxProfileView {
    /// The creator.
    pub creator_id: String,
    /// Legal name.
    pub legal_name: String,
    /// Address.
    pub address: Address,
    /// For example `***-**-6789`.
    pub tin_masked: String,
    /// The bank account's last digits; `null` when none is stored.
    pub bank_account_masked: Option<String>,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl From<pb::TaxProfile> for TaxProfileView {
    fn from(profile: pb::TaxProfile) -> Self {
        Self {
            address: profile.address.unwrap_or_default().into(),
            bank_account_masked: non_empty(profile.bank_account_masked),
            updated_at: required_instant(profile.updated_at.as_ref()),
            creator_id: profile.creator_id,
            legal_name: profile.legal_name,
            tin_masked: profile.tin_masked,
        }
    }
}

fn exposed(secret: Option<Secret<String>>) -> String {
    secret.map(Secret::into_exposed).unwrap_or_default()
}

/// Stores the signed-in creator's tax profile.
pub async fn put_profile(
    caller: Authenticated,
    payments: web::Data<Payments>,
    body: Json<TaxProfileBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let profile = payments
        .put_tax_profile(
            (&caller).into(),
            pb::TaxProfileInput {
                legal_name: body.legal_name,
                address: Some(body.address.into()),
                tin: body.tin.into_exposed(),
                bank_account_number: exposed(body.bank_account_number),
                bank_routing_number: exposed(body.bank_routing_number),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(TaxProfileView::from(profile)))
}

/// The signed-in creator's tax profile, masked.
pub async fn get_profile(
    caller: Authenticated,
    payments: web::Data<Payments>,
) -> Result<HttpResponse, ApiError> {
    let profile = payments
        .get_tax_profile(
            (&caller).into(),
            pb::GetTaxProfileRequest {
                creator_id: String::new(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(TaxProfileView::from(profile)))
}

/// The signed-in creator's form for a tax year.
pub async fn form(
    caller: Authenticated,
    payments: web::Data<Payments>,
    year: web::Path<i32>,
    query: web::Query<TaxFormQuery>,
) -> Result<HttpResponse, ApiError> {
    download(
        &payments,
        (&caller).into(),
        String::new(),
        *year,
        query.format,
    )
    .await
}

/// A creator's form for a tax year, for an admin.
pub async fn admin_form(
    caller: Authenticated,
    payments: web::Data<Payments>,
    path: web::Path<(CreatorId, i32)>,
    query: web::Query<TaxFormQuery>,
) -> Result<HttpResponse, ApiError> {
    let (creator_id, year) = path.into_inner();
    download(
        &payments,
        (&caller).into(),
        creator_id.to_string(),
        year,
        query.format,
    )
    .await
}

async fn download(
    payments: &Payments,
    caller: Caller,
    creator_id: String,
    year: i32,
    format: TaxFormFormat,
) -> Result<HttpResponse, ApiError> {
    let form = payments
        .get_tax_form(
            caller,
            pb::GetTaxFormRequest {
                creator_id,
                tax_year: year,
                format: format.as_str().to_owned(),
            },
        )
        .await?;
    Ok(attachment(form, format, year))
}

/// The form as a download. The name and type come from payments but end up in headers, so
/// they are reduced to what cannot break out of them.
fn attachment(form: pb::TaxForm, format: TaxFormFormat, year: i32) -> HttpResponse {
    let content_type = HeaderValue::from_str(&form.content_type)
        .ok()
        .filter(|_| !form.content_type.is_empty())
        .unwrap_or(HeaderValue::from_static(match format {
            TaxFormFormat::Csv => "text/csv; charset=utf-8",
            TaxFormFormat::Pdf => "application/pdf",
        }));
    let filename = safe_filename(&form.filename)
        .unwrap_or_else(|| format!("1099-nec-{year}.{}", format.as_str()));
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(filename)],
        })
        .body(form.content)
}

/// `name` if it is a plain file name of at most 100 letters, digits, `.`, `_` and `-` that
/// does not start with a dot.
fn safe_filename(name: &str) -> Option<String> {
    let plain = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    plain.then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names_reach_the_header() {
        assert_eq!(
            safe_filename("1099-NEC_2026.pdf").as_deref(),
            Some("1099-NEC_2026.pdf")
        );
        for bad in [
            "",
            ".hidden",
            "../etc/passwd",
            "a\"b.pdf",
            "a\r\nSet-Cookie: x=y",
            "form 2026.pdf",
        ] {
            assert_eq!(safe_filename(bad), None, "{bad:?}");
        }
        assert_eq!(safe_filename(&"a".repeat(101)), None);
    }

    #[actix_web::test]
    async fn the_form_is_an_attachment_with_a_fallback_name_and_type() {
        let response = attachment(
            pb::TaxForm {
                filename: "bad name\r\n.pdf".into(),
                content_type: String::new(),
                content: b"%PDF-1.7".to_vec(),
            },
            TaxFormFormat::Pdf,
            2026,
        );
        let headers = response.headers();
        assert_eq!(
            headers.get(header::CONTENT_TYPE).unwrap(),
            "application/pdf"
        );
        assert_eq!(
            headers.get(header::CONTENT_DISPOSITION).unwrap(),
            "attachment; filename=\"1099-nec-2026.pdf\""
        );
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        assert_eq!(&body[..], b"%PDF-1.7");
    }
}
