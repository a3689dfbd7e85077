//! Media's own ids. Creators and fans are identity's `CreatorId` and `UserId`; PPV items and
//! tiers are named by payments and only recorded here.

use df_common::typed_id;

typed_id!(
    /// A post.
    sql PostId
);
typed_id!(
    /// A pay-per-view item, as named by payments.
    sql PpvItemId
);
typed_id!(
    /// A subscription tier, as named by payments.
    sql TierId
);
typed_id!(
    /// An uploaded file.
    sql MediaId
);
