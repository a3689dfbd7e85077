//! Diesel table definitions of `df_payments` (see `migrations/`).

diesel::table! {
    payout_accounts (creator_id) {
        creator_id -> Uuid,
        provider_account_id -> Text,
        status -> Text,
        charges_enabled -> Bool,
        payouts_enabled -> Bool,
        country -> Text,
        default_currency -> Text,
        provider_event_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    tiers (id) {
        id -> Uuid,
        creator_id -> Uuid,
        name -> Text,
        description -> Text,
        price_minor -> Int8,
        currency -> Text,
        subscriber_cap -> Nullable<Int4>,
        trial_days -> Int4,
        promo_percent_off -> Nullable<Int4>,
        promo_ends_at -> Nullable<Timestamptz>,
        archived_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    ppv_items (id) {
        id -> Uuid,
        creator_id -> Uuid,
        post_id -> Uuid,
        title -> Text,
        price_minor -> Int8,
        currency -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    checkouts (id) {
        id -> Uuid,
        kind -> Text,
        fan_id -> Uuid,
        creator_id -> Uuid,
        tier_id -> Nullable<Uuid>,
        ppv_item_id -> Nullable<Uuid>,
        amount_minor -> Int8,
        currency -> Text,
        message -> Nullable<Text>,
        provider_session_id -> Nullable<Text>,
        url -> Nullable<Text>,
        status -> Text,
        expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        idempotency_key -> Nullable<Text>,
        request_digest -> Nullable<Bytea>,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Uuid,
        provider_subscription_id -> Text,
        fan_id -> Uuid,
        creator_id -> Uuid,
        tier_id -> Uuid,
        status -> Text,
        cancel_at_period_end -> Bool,
        current_period_end -> Timestamptz,
        past_due_since -> Nullable<Timestamptz>,
        provider_event_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    payments (id) {
        id -> Uuid,
        provider_payment_id -> Text,
        provider_charge_id -> Nullable<Text>,
        kind -> Text,
        fan_id -> Uuid,
        creator_id -> Uuid,
        ppv_item_id -> Nullable<Uuid>,
        gross_minor -> Int8,
        platform_fee_minor -> Int8,
        processor_fee_minor -> Int8,
        refunded_minor -> Int8,
        net_minor -> Int8,
        pending_reversed_minor -> Int8,
        currency -> Text,
        available_at -> Timestamptz,
        released_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// The rest of the `payments` row (diesel's tables take at most 16 columns by default).
    #[sql_name = "payments"]
    payment_details (id) {
        id -> Uuid,
        subscription_id -> Nullable<Uuid>,
        checkout_id -> Nullable<Uuid>,
        message -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    ppv_purchases (fan_id, ppv_item_id) {
        fan_id -> Uuid,
        ppv_item_id -> Uuid,
        payment_id -> Uuid,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    ledger_transactions (id) {
        id -> Uuid,
        kind -> Text,
        reference -> Text,
        effect_key -> Text,
        occurred_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    ledger_entries (id) {
        id -> Int8,
        transaction_id -> Uuid,
        account -> Text,
        owner_id -> Nullable<Uuid>,
        currency -> Text,
        amount -> Int8,
    }
}

diesel::table! {
    creator_balances (owner_id, account, currency) {
        owner_id -> Uuid,
        account -> Text,
        currency -> Text,
        balance -> Int8,
    }
}

diesel::table! {
    payouts (id) {
        id -> Uuid,
        creator_id -> Uuid,
        amount_minor -> Int8,
        currency -> Text,
        status -> Text,
        provider_payout_id -> Nullable<Text>,
        attempts -> Int4,
        next_attempt_at -> Nullable<Timestamptz>,
        failure_code -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    disputes (id) {
        id -> Uuid,
        provider_dispute_id -> Text,
        payment_id -> Uuid,
        fan_id -> Uuid,
        creator_id -> Uuid,
        amount_minor -> Int8,
        fee_minor -> Int8,
        currency -> Text,
        status -> Text,
        reason -> Text,
        evidence_due_by -> Nullable<Timestamptz>,
        evidence_submitted_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    tax_profiles (creator_id) {
        creator_id -> Uuid,
        legal_name -> Text,
        address -> Jsonb,
        tin_key_id -> Text,
        tin_ciphertext -> Bytea,
        tin_masked -> Text,
        bank_key_id -> Nullable<Text>,
        bank_ciphertext -> Nullable<Bytea>,
        bank_masked -> Nullable<Text>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    erased_users (user_id) {
        user_id -> Uuid,
        erased_at -> Timestamptz,
    }
}

diesel::table! {
    content_deliveries (id) {
        id -> Int8,
        fan_id -> Uuid,
        creator_id -> Uuid,
        post_id -> Uuid,
        media_id -> Uuid,
        ppv_item_id -> Nullable<Uuid>,
        delivered_at -> Timestamptz,
        client_ip -> Nullable<Inet>,
        user_agent -> Nullable<Text>,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_events (event_id) {
        event_id -> Text,
        event_type -> Text,
        created_at -> Timestamptz,
        received_at -> Timestamptz,
    }
}

diesel::joinable!(ppv_purchases -> ppv_items (ppv_item_id));
diesel::joinable!(ledger_entries -> ledger_transactions (transaction_id));
diesel::allow_tables_to_appear_in_same_query!(
    payout_accounts,
    tiers,
    ppv_items,
    checkouts,
    subscriptions,
    payments,
    ppv_purchases,
    ledger_transactions,
    ledger_entries,
    creator_balances,
    payouts,
    disputes,
    tax_profiles,
    erased_users,
    content_deliveries,
    webhook_events,
);
