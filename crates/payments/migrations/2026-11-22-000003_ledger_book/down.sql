DROP FUNCTION payments_book(jsonb);
DROP FUNCTION ledger_book(uuid, text, text, text, timestamptz, uuid, text, text[], bigint[], boolean[]);
DROP FUNCTION ledger_lock_key(uuid);
CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced uuid;
BEGIN
    SELECT e.transaction_id INTO unbalanced
      FROM ledger_entries e
     WHERE e.transaction_id IN (SELECT DISTINCT transaction_id FROM new_entries)
     GROUP BY e.transaction_id, e.currency
    HAVING sum(e.amount) <> 0
     LIMIT 1;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % does not balance', unbalanced;
    END IF;
    RETURN NULL;
END;
$$;
