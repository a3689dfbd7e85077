//! Payments' own ids. Fans and creators are identity's `UserId` and `CreatorId`; posts and media
//! are named by the media service and only recorded here.

use df_common::typed_id;

typed_id!(
    /// A subscription tier.
    sql TierId
);
typed_id!(
    /// A pay-per-view item.
    sql PpvItemId
);
typed_id!(
    /// A fan's subscription to a tier.
    sql SubscriptionId
);
typed_id!(
    /// A checkout opened at the provider.
    sql CheckoutId
);
typed_id!(
    /// A payment (a booked charge).
    sql PaymentId
);
typed_id!(
    /// A payout to a creator.
    sql PayoutId
);
typed_id!(
    /// A dispute opened against a payment.
    sql DisputeId
);
typed_id!(
    /// A ledger transaction (balanced postings).
    sql TransactionId
);
typed_id!(
    /// A post, as named by the media service.
    sql PostId
);
typed_id!(
    /// A media item, as named by the media service.
    sql MediaId
);
