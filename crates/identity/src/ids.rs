//! Identity's own ids (users and sessions are common's, because every service names them).

use df_common::typed_id;

typed_id!(
    /// A message in the outgoing mail queue.
    sql MailId
);
typed_id!(
    /// A request for account mail (verification, reset, unlock) waiting to be composed.
    sql MailRequestId
);
