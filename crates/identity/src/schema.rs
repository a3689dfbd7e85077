//! Diesel table definitions of `df_identity` (see `migrations/`).

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        status -> Text,
        email_verified_at -> Nullable<Timestamptz>,
        password_changed_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        idle_expires_at -> Timestamptz,
        absolute_expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    one_time_tokens (token_hash) {
        token_hash -> Bytea,
        purpose -> Text,
        user_id -> Uuid,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    login_throttle (identifier_digest) {
        identifier_digest -> Bytea,
        consecutive_failures -> Int4,
        last_failure_at -> Nullable<Timestamptz>,
        locked_at -> Nullable<Timestamptz>,
        recent_evaluations -> Array<Timestamptz>,
    }
}

diesel::table! {
    mail_queue (id) {
        id -> Uuid,
        recipient -> Nullable<Text>,
        subject -> Nullable<Text>,
        body -> Nullable<Text>,
        created_at -> Timestamptz,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        key_id -> Nullable<Text>,
        sealed -> Nullable<Bytea>,
    }
}

diesel::table! {
    account_mail_requests (id) {
        id -> Uuid,
        purpose -> Text,
        email -> Text,
        requested_at -> Timestamptz,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(one_time_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, sessions, one_time_tokens);
