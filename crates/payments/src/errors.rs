//! Every error payments answers, with its code, kind and message (the gateway passes the code
//! and message to clients; its OpenAPI document lists them per route).

df_common::error_catalogue! {
    /// Payments' errors.
    pub enum PaymentsError {
        /// You already own this item.
        AlreadyBought = (Conflict, "payments.already_bought", "You already own this item."),
        /// You already subscribe to this creator.
        AlreadySubscribed = (Conflict, "payments.already_subscribed", "You already subscribe to this creator."),
        /// The first request with this idempotency key is still being processed; retry shortly.
        CheckoutInProgress = (Conflict, "payments.checkout_in_progress", "The first request with this idempotency key is still being processed; retry shortly."),
        /// This creator cannot receive payments yet.
        CreatorNotPayable = (Conflict, "payments.creator_not_payable", "This creator cannot receive payments yet."),
        /// The payment's processor fee is not known yet; deliver the event again later.
        FeeUnknown = (Unavailable, "payments.fee_unknown", "The payment's processor fee is not known yet; deliver the event again later."),
        /// This idempotency key was used for a different request.
        IdempotencyKeyReused = (Conflict, "payments.idempotency_key_reused", "This idempotency key was used for a different request."),
        /// Enter both the routing number and the account number, or neither.
        IncompleteBankAccount = (InvalidInput, "payments.incomplete_bank_account", "Enter both the routing number and the account number, or neither."),
        /// The account number is not valid. US account numbers have 4 to 17 digits.
        InvalidAccountNumber = (InvalidInput, "payments.invalid_account_number", "The account number is not valid. US account numbers have 4 to 17 digits."),
        /// The address is not valid.
        InvalidAddress = (InvalidInput, "payments.invalid_address", "The address is not valid."),
        /// The amount is outside the allowed range.
        InvalidAmount = (InvalidInput, "payments.invalid_amount", "The amount is outside the allowed range."),
        /// A dispute status filter that is not one of the statuses.
        InvalidStatus = (InvalidInput, "payments.invalid_status", "status must be one of needs_response, under_review, won or lost."),
        /// The subscriber cap is at most 10,000,000.
        InvalidCap = (InvalidInput, "payments.invalid_cap", "The subscriber cap is at most 10,000,000."),
        /// country must be a two-letter ISO 3166 code.
        InvalidCountry = (InvalidInput, "payments.invalid_country", "country must be a two-letter ISO 3166 code."),
        /// The description is too long.
        InvalidDescription = (InvalidInput, "payments.invalid_description", "The description is too long."),
        /// A tax form format other than csv or pdf (or a PDF of every creator).
        InvalidFormat = (InvalidInput, "payments.invalid_format", "format must be csv or pdf."),
        /// An idempotency key is 1 to 255 visible ASCII characters.
        InvalidIdempotencyKey = (InvalidInput, "payments.invalid_idempotency_key", "An idempotency key is 1 to 255 visible ASCII characters."),
        /// The legal name is not valid.
        InvalidLegalName = (InvalidInput, "payments.invalid_legal_name", "The legal name is not valid."),
        /// A promotion needs a percentage from 1 to 100 and an end in the future.
        InvalidPromotion = (InvalidInput, "payments.invalid_promotion", "A promotion needs a percentage from 1 to 100 and an end in the future."),
        /// The routing number is not valid. US routing numbers have 9 digits.
        InvalidRoutingNumber = (InvalidInput, "payments.invalid_routing_number", "The routing number is not valid. US routing numbers have 9 digits."),
        /// The tax year is outside the supported range.
        InvalidTaxYear = (InvalidInput, "payments.invalid_tax_year", "The tax year is outside the supported range."),
        /// The tier name is empty or too long.
        InvalidTierName = (InvalidInput, "payments.invalid_tier_name", "The tier name is empty or too long."),
        /// The taxpayer identification number is not valid. Enter 9 digits, as 123-45-6789 (SSN or ITIN) or 12-3456789 (EIN).
        InvalidTin = (InvalidInput, "payments.invalid_tin", "The taxpayer identification number is not valid. Enter 9 digits, as 123-45-6789 (SSN or ITIN) or 12-3456789 (EIN)."),
        /// The title is too long.
        InvalidTitle = (InvalidInput, "payments.invalid_title", "The title is too long."),
        /// A free trial lasts at most 90 days.
        InvalidTrial = (InvalidInput, "payments.invalid_trial", "A free trial lasts at most 90 days."),
        /// The URL is not an http(s) URL of acceptable length.
        InvalidUrl = (InvalidInput, "payments.invalid_url", "The URL is not an http(s) URL of acceptable length."),
        /// Malformed content delivery report.
        MalformedEvent = (InvalidInput, "payments.malformed_event", "Malformed content delivery report."),
        /// The creator has not started onboarding.
        NoPayoutAccount = (NotFound, "payments.no_payout_account", "No payout account yet: start onboarding first."),
        /// The creator has not entered a tax profile.
        NoTaxProfile = (NotFound, "payments.no_tax_profile", "No tax profile yet."),
        /// You cannot buy your own item.
        OwnItem = (InvalidInput, "payments.own_item", "You cannot buy your own item."),
        /// You cannot subscribe to your own tier.
        OwnTier = (InvalidInput, "payments.own_tier", "You cannot subscribe to your own tier."),
        /// You cannot tip yourself.
        OwnTip = (InvalidInput, "payments.own_tip", "You cannot tip yourself."),
        /// This post already has a price.
        PpvExists = (Conflict, "payments.ppv_exists", "This post already has a price."),
        /// No such pay-per-view item.
        PpvNotFound = (NotFound, "payments.ppv_not_found", "No such pay-per-view item."),
        /// A promotion takes between 1 and 100 percent off.
        PromoInvalid = (InvalidInput, "payments.promo_invalid", "A promotion takes between 1 and 100 percent off."),
        /// The payment provider does not know this object.
        ProviderNotFound = (NotFound, "payments.provider_not_found", "The payment provider does not know this object."),
        /// The payment provider refused the request.
        ProviderRejected = (Unprocessable, "payments.provider_rejected", "The payment provider refused the request."),
        /// The payment provider is not available; try again later.
        ProviderUnavailable = (Unavailable, "payments.provider_unavailable", "The payment provider is not available; try again later."),
        /// The URL must point at one of the platform's own apps.
        ReturnUrlNotAllowed = (InvalidInput, "payments.return_url_not_allowed", "The URL must point at one of the platform's own apps."),
        /// The service is restarting; deliver the event again.
        ShuttingDown = (Unavailable, "payments.shutting_down", "The service is restarting; deliver the event again."),
        /// This subscription has already ended.
        SubscriptionNotActive = (Conflict, "payments.subscription_not_active", "This subscription has already ended."),
        /// No such subscription.
        SubscriptionNotFound = (NotFound, "payments.subscription_not_found", "No such subscription."),
        /// This tier has reached its subscriber limit.
        TierFull = (Conflict, "payments.tier_full", "This tier has reached its subscriber limit."),
        /// No such tier.
        TierNotFound = (NotFound, "payments.tier_not_found", "No such tier."),
        /// The tip message is too long.
        TipMessageTooLong = (InvalidInput, "payments.tip_message_too_long", "The tip message is too long."),
        /// This currency is not supported. Use one of usd, eur, gbp, cad, aud.
        UnsupportedCurrency = (InvalidInput, "payments.unsupported_currency", "This currency is not supported. Use one of usd, eur, gbp, cad, aud."),
        /// The event is about an object payments did not create.
        WebhookForeignObject = (InvalidInput, "payments.webhook_foreign_object", "The event is about an object payments did not create."),
        /// The webhook body is not a provider event.
        WebhookMalformed = (InvalidInput, "payments.webhook_malformed", "The webhook body is not a provider event."),
        /// The event refers to something not known yet; deliver it again later.
        WebhookOutOfOrder = (Unavailable, "payments.webhook_out_of_order", "The event refers to something not known yet; deliver it again later."),
        /// The webhook signature is missing or does not match.
        WebhookSignatureInvalid = (InvalidInput, "payments.webhook_signature_invalid", "The webhook signature is missing or does not match."),
        /// The webhook was signed too long ago (or in the future).
        WebhookTimestampOutsideTolerance = (InvalidInput, "payments.webhook_timestamp_outside_tolerance", "The webhook was signed too long ago (or in the future)."),
        /// The webhook request is too large.
        WebhookTooLarge = (InvalidInput, "payments.webhook_too_large", "The webhook request is too large."),
        /// The event does not carry the references payments put on its objects.
        WebhookUnattributed = (InvalidInput, "payments.webhook_unattributed", "The event does not carry the references payments put on its objects."),
        /// The event names a tier that does not exist.
        WebhookUnknownTier = (InvalidInput, "payments.webhook_unknown_tier", "The event names a tier that does not exist."),
    }
}
