//! The provider events payments acts on, named once: every handler matches on [`EventKind`],
//! never on the event's type string.

/// Where a dispute is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisputeStage {
    /// `charge.dispute.created`
    Created,
    /// `charge.dispute.updated`
    Updated,
    /// `charge.dispute.closed`
    Closed,
}

/// What an event means to payments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `checkout.session.completed`
    CheckoutCompleted,
    /// `payment_intent.succeeded`: a tip or a PPV purchase.
    PaymentSucceeded,
    /// `payment_intent.payment_failed`
    PaymentFailed,
    /// `invoice.paid` or `invoice.payment_succeeded`: a subscription period paid.
    InvoicePaid,
    /// `invoice.payment_failed`
    InvoiceFailed,
    /// `customer.subscription.created` or `.updated`
    SubscriptionChanged,
    /// `customer.subscription.deleted`
    SubscriptionDeleted,
    /// `charge.refunded`
    Refunded,
    /// `charge.dispute.*`
    Dispute(DisputeStage),
    /// `account.updated`: a creator's payout account.
    AccountUpdated,
    /// `payout.paid` (true) or `payout.failed` (false).
    Payout {
        /// Whether the payout arrived.
        paid: bool,
    },
    /// Anything else: acknowledged and ignored.
    Other,
}

impl EventKind {
    /// The kind of the event type `name`.
    pub fn of(name: &str) -> Self {
        match name {
            "checkout.session.completed" => Self::CheckoutCompleted,
            "payment_intent.succeeded" => Self::PaymentSucceeded,
            "payment_intent.payment_failed" => Self::PaymentFailed,
            "invoice.paid" | "invoice.payment_succeeded" => Self::InvoicePaid,
            "invoice.payment_failed" => Self::InvoiceFailed,
            "customer.subscription.created" | "customer.subscription.updated" => {
                Self::SubscriptionChanged
            }
            "customer.subscription.deleted" => Self::SubscriptionDeleted,
            "charge.refunded" => Self::Refunded,
            "charge.dispute.created" => Self::Dispute(DisputeStage::Created),
            "charge.dispute.updated" => Self::Dispute(DisputeStage::Updated),
            "charge.dispute.closed" => Self::Dispute(DisputeStage::Closed),
            "account.updated" => Self::AccountUpdated,
            "payout.paid" => Self::Payout { paid: true },
            "payout.failed" => Self::Payout { paid: false },
            _ => Self::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_type_payments_handles_has_its_kind_and_others_are_other() {
        for (name, kind) in [
            ("invoice.payment_succeeded", EventKind::InvoicePaid),
            ("invoice.paid", EventKind::InvoicePaid),
            (
                "charge.dispute.closed",
                EventKind::Dispute(DisputeStage::Closed),
            ),
            ("payout.failed", EventKind::Payout { paid: false }),
            (
                "customer.subscription.updated",
                EventKind::SubscriptionChanged,
            ),
            ("customer.created", EventKind::Other),
            ("", EventKind::Other),
        ] {
            assert_eq!(EventKind::of(name), kind, "{name}");
        }
    }
}
