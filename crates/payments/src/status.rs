//! The states payments' records move through, as stored (each column has a matching `CHECK`).

df_common::text_enum! {
    /// A creator's payout account at the provider.
    sql pub enum AccountStatus {
        /// Onboarding not finished.
        Pending = "pending",
        /// The provider needs more information before it pays out.
        Restricted = "restricted",
        /// Takes charges and receives payouts.
        Enabled = "enabled",
    }
}

df_common::text_enum! {
    /// A checkout opened at the provider.
    sql pub enum CheckoutStatus {
        /// The fan has not paid yet.
        Open = "open",
        /// Paid.
        Completed = "completed",
        /// The provider's page expired.
        Expired = "expired",
    }
}

df_common::text_enum! {
    /// A fan's subscription.
    sql pub enum SubscriptionStatus {
        /// Created at the provider, first payment not made.
        Incomplete = "incomplete",
        /// In its free trial.
        Trialing = "trialing",
        /// Paid up.
        Active = "active",
        /// A renewal failed; access lasts through the grace period.
        PastDue = "past_due",
        /// Cancelled; access lasts until the period ends.
        Canceled = "canceled",
        /// Over.
        Ended = "ended",
    }
}

df_common::text_enum! {
    /// A booked payment.
    sql pub enum PaymentStatus {
        /// Paid.
        Succeeded = "succeeded",
        /// Partly refunded.
        PartiallyRefunded = "partially_refunded",
        /// Wholly refunded.
        Refunded = "refunded",
        /// Under dispute.
        Disputed = "disputed",
    }
}

df_common::text_enum! {
    /// A payout to a creator.
    sql pub enum PayoutStatus {
        /// Created; the provider not called yet, or to be called again.
        Pending = "pending",
        /// The provider accepted it.
        InTransit = "in_transit",
        /// The money arrived.
        Paid = "paid",
        /// The provider reported it failed.
        Failed = "failed",
        /// Retries are spent; an admin must look.
        NeedsAttention = "needs_attention",
    }
}

df_common::text_enum! {
    /// A dispute against a payment.
    sql pub enum DisputeStatus {
        /// Evidence is due.
        NeedsResponse = "needs_response",
        /// Evidence submitted; the bank decides.
        UnderReview = "under_review",
        /// Decided for the creator.
        Won = "won",
        /// Decided for the fan.
        Lost = "lost",
    }
}
