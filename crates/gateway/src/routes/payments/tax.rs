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
use utoipa::ToSchema;

use super::{TaxFormFormat, TaxFormQuery};
use crate::routes::openapi::{
    Forbidden, ForbiddenOrCsrf, INVALID_PATH, INVALID_QUERY, InternalError, JSON_BODY,
    PayloadTooLarge, RateLimited, Timeout, Unauthenticated, Unavailable, named_schema, problems,
    string,
};
use crate::routes::wire::{non_empty, required_instant};
use crate::security::Json;
use crate::{
    auth::Authenticated,
    security::problem::ApiError,
    upstream::{Caller, Payments},
};

/// The address every example of the tax routes shows.
fn address_example() -> serde_json::Value {
    serde_json::json!({
        "line1": "350 Fifth Avenue",
        "line2": "Suite 5100",
        "city": "New York",
        "state": "NY",
        "postal_code": "10118",
        "country": "US"
    })
}

/// A postal address.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(address_example))]
pub struct Address {
    /// Street and number.
    pub line1: String,
    /// Apartment, suite, ...; `null` or absent for none.
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    /// State, province or region.
    pub state: String,
    pub postal_code: String,
    /// Two-letter country code.
    #[schema(pattern = "^[A-Z]{2}$")]
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

/// The creator's tax details. The tax id and bank details are stored encrypted and never
/// shown again in full.
// They are secrets from the moment they are parsed: they print redacted and go nowhere but to
// payments.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TaxProfileRequest)]
pub struct TaxProfileBody {
    /// The name on tax forms.
    legal_name: String,
    address: Address,
    /// SSN or EIN, digits with or without dashes.
    #[schema(value_type = String, format = Password)]
    tin: Secret<String>,
    /// Send with `bank_routing_number`, or neither.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    bank_account_number: Option<Secret<String>>,
    /// ABA routing number (9 digits).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    bank_routing_number: Option<Secret<String>>,
}

/// The creator's tax profile, masked.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TaxProfile, examples(json!({
    "creator_id": "0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b",
    "legal_name": "Ada Example",
    "address": address_example(),
    "tin_masked": "***-**-6789",
    "bank_account_masked": "****4321",
    "updated_at": "2026-11-20T09:15:00Z"
})))]
pub struct TaxProfileView {
    /// The creator.
    #[schema(format = Uuid)]
    pub creator_id: String,
    pub legal_name: String,
    pub address: Address,
    /// For example `***-**-6789`.
    pub tin_masked: String,
    /// The bank account's last digits; `null` when none is stored.
    #[schema(required)]
    pub bank_account_masked: Option<String>,
    /// Last change (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub updated_at: String,
}

named_schema!(
    /// A tax form as CSV.
    TaxFormCsv = string().description(Some("CSV, UTF-8."))
);

named_schema!(
    /// A tax form as PDF.
    TaxFormPdf = string()
        .content_media_type("application/pdf")
        .content_encoding("binary")
);

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

problems!(PutTaxProfileProblems {
    400 [
        JSON_BODY, "payments.invalid_legal_name", "payments.invalid_address",
        "payments.invalid_tin", "payments.invalid_routing_number",
        "payments.invalid_account_number", "payments.incomplete_bank_account",
    ]
        "`payments.invalid_legal_name`: the legal name is empty or too long; \
         `payments.invalid_address`: the address is incomplete or not valid; \
         `payments.invalid_tin`: the tax id is not a valid SSN or EIN; \
         `payments.invalid_routing_number`: the routing number is not valid; \
         `payments.invalid_account_number`: the account number is not valid; \
         `payments.incomplete_bank_account`: only one of the two bank fields was sent.",
});

/// Stores the signed-in creator's tax profile.
#[utoipa::path(
    put, path = "/v1/creator/tax-profile", operation_id = "putTaxProfile", tag = "tax",
    summary = "Store the tax profile",
    description = "Stores (replaces) the signed-in creator's tax profile for 1099-NEC forms. The \
                   tax id and bank details are stored encrypted; answers show them masked only. \
                   Creators only.",
    request_body(content = TaxProfileBody, example = json!({
        "legal_name": "Ada Example",
        "address": address_example(),
        "tin": "123-45-6789",
        "bank_account_number": "000123454321",
        "bank_routing_number": "110000000"
    })),
    responses(
        (status = 200, body = TaxProfileView, description = "The profile, masked."),
        PutTaxProfileProblems, Unauthenticated, ForbiddenOrCsrf, PayloadTooLarge, RateLimited,
        InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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

problems!(GetTaxProfileProblems {
    404 ["payments.no_tax_profile"]
        "No tax profile stored yet.",
});

/// The signed-in creator's tax profile, masked.
#[utoipa::path(
    get, path = "/v1/creator/tax-profile", operation_id = "getTaxProfile", tag = "tax",
    summary = "The tax profile",
    description = "The signed-in creator's tax profile, masked.",
    responses(
        (status = 200, body = TaxProfileView, description = "The profile, masked."),
        GetTaxProfileProblems, Unauthenticated, Forbidden, RateLimited, InternalError, Unavailable,
        Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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

problems!(TaxFormProblems {
    400 [INVALID_PATH, INVALID_QUERY, "payments.invalid_tax_year"]
        "`payments.invalid_tax_year`: the year is outside the supported range.",
});

/// The signed-in creator's form for a tax year.
#[utoipa::path(
    get, path = "/v1/creator/tax-forms/{year}", operation_id = "getTaxForm", tag = "tax",
    summary = "A tax form",
    description = "The signed-in creator's 1099-NEC summary for a tax year, as CSV or PDF.",
    params(("year" = i32, Path, description = "The tax year.", example = 2026), TaxFormQuery),
    responses(
        (status = 200, description = "The form as a download.",
            content((inline(TaxFormCsv) = "text/csv"), (inline(TaxFormPdf) = "application/pdf")),
            headers(("Content-Disposition" = String,
                description = "`attachment; filename=\"<name>\"`."))),
        TaxFormProblems, Unauthenticated, Forbidden, RateLimited, InternalError, Unavailable,
        Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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
#[utoipa::path(
    get, path = "/v1/admin/creators/{creator_id}/tax-forms/{year}",
    operation_id = "getCreatorTaxForm", tag = "admin",
    summary = "A creator's tax form",
    description = "A creator's 1099-NEC summary for a tax year, as CSV or PDF. Admins only.",
    params(
        ("creator_id" = Uuid, Path, description = "The creator (their user id)."),
        ("year" = i32, Path, description = "The tax year.", example = 2026),
        TaxFormQuery,
    ),
    responses(
        (status = 200, description = "The form as a download.",
            content((inline(TaxFormCsv) = "text/csv"), (inline(TaxFormPdf) = "application/pdf")),
            headers(("Content-Disposition" = String,
                description = "`attachment; filename=\"<name>\"`."))),
        TaxFormProblems, Unauthenticated, Forbidden, RateLimited, InternalError, Unavailable,
        Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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
