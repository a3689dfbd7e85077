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
        min_tier_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    follows (fan_id, creator_id) {
        fan_id -> Uuid,
        creator_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    media (id) {
        id -> Uuid,
        creator_id -> Uuid,
        kind -> Text,
        state -> Text,
        original_bytes -> Int8,
        original_sha256 -> Bytea,
        served_bytes -> Int8,
        served_sha256 -> Bytea,
        width -> Nullable<Int4>,
        height -> Nullable<Int4>,
        duration_ms -> Nullable<Int8>,
        post_id -> Nullable<Uuid>,
        position -> Nullable<Int4>,
        threat -> Nullable<Text>,
        created_at -> Timestamptz,
        scanned_at -> Nullable<Timestamptz>,
        poster -> Bool,
    }
}

diesel::joinable!(media -> posts (post_id));
diesel::allow_tables_to_appear_in_same_query!(posts, media);

diesel::table! {
    integrity_checks (media_id) {
        media_id -> Uuid,
        checked_at -> Timestamptz,
        intact -> Bool,
    }
}

diesel::joinable!(integrity_checks -> media (media_id));
diesel::allow_tables_to_appear_in_same_query!(integrity_checks, media);

diesel::table! {
    upload_sessions (id) {
        id -> Uuid,
        creator_id -> Uuid,
        file_name -> Text,
        content_type -> Text,
        length -> Int8,
        received -> Int8,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    upload_parts (session_id, start_offset) {
        session_id -> Uuid,
        start_offset -> Int8,
        bytes -> Int8,
        object_key -> Text,
    }
}

diesel::joinable!(upload_parts -> upload_sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(upload_parts, upload_sessions);
