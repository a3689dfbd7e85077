//! The JSON shapes every route group shares: money, lists and the `Idempotency-Key` header, and
//! the conversions from the services' protobuf forms (instants, amounts, unset strings).

use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{
    IntoParams, ToSchema,
    openapi::{
        ArrayBuilder, ObjectBuilder, Ref, RefOr, Required, Schema, Type,
        path::{Parameter, ParameterBuilder, ParameterIn},
        schema::SchemaType,
    },
};

pub(crate) use df_common::wire::timestamp;

/// An amount of money: integer minor units (cents for `usd`) and a lower-case ISO 4217
/// currency. Never a float.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"amount_minor": 999, "currency": "usd"})))]
pub struct Money {
    /// The amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code, lower case. Payments refuses currencies it does not support with
    /// `payments.unsupported_currency`.
    #[schema(pattern = "^[a-z]{3}$")]
    pub currency: String,
}

impl From<pb::Money> for Money {
    fn from(money: pb::Money) -> Self {
        Self {
            amount_minor: money.amount,
            currency: money.currency,
        }
    }
}

impl From<Money> for pb::Money {
    fn from(money: Money) -> Self {
        Self {
            amount: money.amount_minor,
            currency: money.currency,
        }
    }
}

/// A wire amount as clients see it (zero when the service left it out).
pub(crate) fn money(value: Option<pb::Money>) -> Money {
    value.map(Money::from).unwrap_or_default()
}

/// An amount in `currency` as clients see it.
pub(crate) fn amount(amount_minor: i64, currency: &str) -> Money {
    Money {
        amount_minor,
        currency: currency.to_owned(),
    }
}

/// A wire instant as RFC 3339 UTC with whole seconds, or `None` when it is not set.
pub(crate) fn instant(value: Option<&prost_types::Timestamp>) -> Option<String> {
    df_common::wire::rfc3339(value)
}

/// An instant the service always sets; the epoch if it somehow did not.
pub(crate) fn required_instant(value: Option<&prost_types::Timestamp>) -> String {
    df_common::wire::rfc3339_or_epoch(value)
}

/// `Some` for a non-empty string, `None` for the empty one (proto3's "not set").
pub(crate) fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

/// A list. These lists are short and come whole, so `next_cursor` is always `null` for now;
/// clients that follow it keep working once they are paged.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor of the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Every item on one page.
    pub fn whole(items: impl IntoIterator<Item = T>) -> Self {
        Self {
            items: items.into_iter().collect(),
            next_cursor: None,
        }
    }
}

impl<T: ToSchema> Page<T> {
    /// The schema of a page of `T`, described as `description`, with an example built from
    /// `T`'s. Each list gets a name of its own ([`page_schema!`]) rather than the derived
    /// `Page_T`, whose items utoipa would copy inline instead of referring to `T`.
    pub fn schema(description: &str) -> RefOr<Schema> {
        let example = match T::schema() {
            RefOr::T(Schema::Object(item)) => item.examples.first().cloned(),
            _ => None,
        };
        let items = ArrayBuilder::new().items(Ref::from_schema_name(T::name()));
        let next_cursor = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .description(Some(
                "Always `null` in this version: the list comes whole. Clients that follow a \
                 non-null cursor keep working once the list is paged.",
            ));
        ObjectBuilder::new()
            .description(Some(description))
            .property("items", items)
            .property("next_cursor", next_cursor)
            .required("items")
            .required("next_cursor")
            .examples(example.map(|item| serde_json::json!({"items": [item], "next_cursor": null})))
            .into()
    }
}

/// Declares `$name`, the documented schema of a `Page<$item>` described as `$description`
/// (routes answer the page and document `body = $name`).
macro_rules! page_schema {
    ($name:ident = Page<$item:ty>, $description:literal) => {
        #[doc = $description]
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::routes::wire::Page::<$item>::schema($description)
            }
        }

        impl utoipa::ToSchema for $name {
            fn schemas(
                schemas: &mut Vec<(
                    String,
                    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
                )>,
            ) {
                schemas.push((
                    <$item as utoipa::ToSchema>::name().into_owned(),
                    <$item as utoipa::PartialSchema>::schema(),
                ));
                <$item as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}
pub(crate) use page_schema;

/// The client's optional `Idempotency-Key` header on requests that open a checkout; payments
/// answers a repeated request with the checkout the first one opened.
pub struct IdempotencyKey(pub String);

impl actix_web::FromRequest for IdempotencyKey {
    type Error = crate::security::ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(
        request: &actix_web::HttpRequest,
        _: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let key = match request.headers().get("idempotency-key") {
            None => Ok(Self(String::new())),
            Some(value) => match value.to_str() {
                Ok(key)
                    if !key.is_empty()
                        && key.len() <= 255
                        && key.chars().all(|c| c.is_ascii_graphic()) =>
                {
                    Ok(Self(key.to_owned()))
                }
                _ => Err(crate::security::ApiError(df_common::Error::invalid_input(
                    "gateway.invalid_idempotency_key",
                    "Idempotency-Key must be 1 to 255 visible ASCII characters.",
                ))),
            },
        };
        std::future::ready(key)
    }
}

impl IntoParams for IdempotencyKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Optional. Repeating a request with the same key answers the checkout the \
                     first request opened; the same key with a different request is refused \
                     with 409 `payments.idempotency_key_reused`, and while the first is still \
                     being processed the answer is 409 `payments.checkout_in_progress`. 1 to 255 \
                     visible ASCII characters, else 400 `gateway.invalid_idempotency_key` (a \
                     UUID is a good choice).",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(255)),
                ))
                .build(),
        ]
    }
}
