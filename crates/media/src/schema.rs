//! Diesel table definitions of `df_media` (see `migrations/`).

diesel::table! {
    posts (id) {
        id -> Uuid,
        creator_id -> Uuid,
        body -> Text,
        visibility -> Text,
        price_minor -> Nullable<Int8>,
        currency -> Nullable<Text>,
        ppv_item_id -> Nullable<Uuid>,
        adult -> Bool,
        publish_at -> Timestamptz,
        created_at -> Timestamptz,
        edited_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    follows (fan_id, creator_id) {
        fan_id -> Uuid,
        creator_id -> Uuid,
        created_at -> Timestamptz,
    }
}
