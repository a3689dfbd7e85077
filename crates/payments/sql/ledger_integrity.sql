-- Proves the books of df_payments balance. Run it as any read-only user:
--   psql "$DATABASE_URL" -f crates/payments/sql/ledger_integrity.sql
-- Every row it returns is a violation; no rows means the books balance.
SELECT 'unbalanced_transaction' AS violation, transaction_id::text AS subject,
       currency, sum(amount)::bigint AS amount
  FROM ledger_entries GROUP BY transaction_id, currency HAVING sum(amount) <> 0
UNION ALL
SELECT 'empty_transaction', t.id::text, NULL, 0
  FROM ledger_transactions t
 WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.transaction_id = t.id)
UNION ALL
SELECT 'books_do_not_sum_to_zero', NULL, currency, sum(amount)::bigint
  FROM ledger_entries GROUP BY currency HAVING sum(amount) <> 0
UNION ALL
SELECT 'running_balance_differs_from_entries', b.owner_id::text || ':' || b.account, b.currency,
       (b.balance - coalesce(s.total, 0))::bigint
  FROM creator_balances b
  LEFT JOIN (SELECT owner_id, account, currency, sum(amount) AS total
               FROM ledger_entries WHERE owner_id IS NOT NULL
              GROUP BY owner_id, account, currency) s
         ON s.owner_id = b.owner_id AND s.account = b.account AND s.currency = b.currency
 WHERE b.balance <> coalesce(s.total, 0)
UNION ALL
SELECT 'entries_without_running_balance', s.owner_id::text || ':' || s.account, s.currency, s.total::bigint
  FROM (SELECT owner_id, account, currency, sum(amount) AS total
          FROM ledger_entries WHERE owner_id IS NOT NULL
         GROUP BY owner_id, account, currency) s
 WHERE NOT EXISTS (SELECT 1 FROM creator_balances b
                    WHERE b.owner_id = s.owner_id AND b.account = s.account AND b.currency = s.currency)
UNION ALL
SELECT 'creator_balance_outside_policy', owner_id::text || ':' || account, currency, balance
  FROM creator_balances
 WHERE (account IN ('creator_pending', 'creator_available', 'dispute_reserve',
                    'payouts_in_transit', 'paid_out') AND balance < 0)
    OR (account = 'creator_receivable' AND balance > 0);
