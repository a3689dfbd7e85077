-- The creator lock key: the low (random) half of the creator's UUIDv7 as a signed 64-bit
-- integer, the same key the service computes.
CREATE FUNCTION ledger_lock_key(creator uuid) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT ('x' || substr(replace(creator::text, '-', ''), 17, 16))::bit(64)::bigint
$$;

-- Books one ledger transaction in one call: the header, its entries and the creator's running
-- balances, under the creator's lock. Returns false (and changes nothing) when the effect was
-- booked before. One round trip instead of one per step, and plans that stay prepared.
CREATE FUNCTION ledger_book(
    p_id uuid, p_kind text, p_reference text, p_effect_key text, p_occurred_at timestamptz,
    p_creator uuid, p_currency text, p_accounts text[], p_amounts bigint[],
    p_per_creator boolean[]
) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(ledger_lock_key(p_creator));
    INSERT INTO ledger_transactions (id, kind, reference, effect_key, occurred_at)
    VALUES (p_id, p_kind, p_reference, p_effect_key, p_occurred_at)
    ON CONFLICT (effect_key) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO ledger_entries (transaction_id, account, owner_id, currency, amount)
    SELECT p_id, a, CASE WHEN pc THEN p_creator END, p_currency, amt
      FROM unnest(p_accounts, p_amounts, p_per_creator) AS t(a, amt, pc);
    -- One row per account, in a fixed order, so concurrent bookings lock rows alike.
    INSERT INTO creator_balances (owner_id, account, currency, balance)
    SELECT p_creator, a, p_currency, sum(amt)
      FROM unnest(p_accounts, p_amounts, p_per_creator) AS t(a, amt, pc)
     WHERE pc
     GROUP BY a
     ORDER BY a
    ON CONFLICT (owner_id, account, currency)
    DO UPDATE SET balance = creator_balances.balance + EXCLUDED.balance;
    RETURN true;
END;
$$;

-- The same guarantee as before (each statement's entries balance and are the whole of their
-- transaction), checked through the transaction index instead of a join the planner could turn
-- into a scan of the whole ledger.
CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced uuid;
BEGIN
    SELECT transaction_id INTO unbalanced
      FROM new_entries
     GROUP BY transaction_id, currency
    HAVING sum(amount) <> 0
     LIMIT 1;
    IF unbalanced IS NULL THEN
        SELECT n.transaction_id INTO unbalanced
          FROM (SELECT transaction_id, count(*) AS added FROM new_entries GROUP BY transaction_id) n
         WHERE n.added <> (SELECT count(*) FROM ledger_entries e
                            WHERE e.transaction_id = n.transaction_id)
         LIMIT 1;
    END IF;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % does not balance', unbalanced;
    END IF;
    RETURN NULL;
END;
$$;

-- Books one captured payment in one call: the payment row, its ledger transaction, the PPV
-- access it buys and its outbox event. Returns the payment id, or NULL when the provider's
-- payment was booked before (nothing changes then). The service computes every amount, the
-- postings and the event; the database writes them, all or nothing. Called once per payment,
-- or once per row of an array when concurrent webhook deliveries are applied together.
CREATE FUNCTION payments_book(p jsonb) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
BEGIN
    INSERT INTO payments (id, provider_payment_id, provider_charge_id, kind, fan_id,
        creator_id, subscription_id, ppv_item_id, checkout_id, gross_minor,
        platform_fee_minor, processor_fee_minor, net_minor, currency, message, available_at,
        created_at)
    VALUES ((p->>'id')::uuid, p->>'provider_payment_id', p->>'provider_charge_id', p->>'kind',
        (p->>'fan_id')::uuid, (p->>'creator_id')::uuid, (p->>'subscription_id')::uuid,
        (p->>'ppv_item_id')::uuid, (p->>'checkout_id')::uuid, (p->>'gross')::bigint,
        (p->>'platform_fee')::bigint, (p->>'processor_fee')::bigint, (p->>'net')::bigint,
        p->>'currency', p->>'message', (p->>'available_at')::timestamptz,
        (p->>'occurred_at')::timestamptz)
    ON CONFLICT (provider_payment_id) DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM ledger_book(
        (p->>'transaction_id')::uuid, 'payment', v_id::text,
        'payment:' || (p->>'provider_payment_id'), (p->>'occurred_at')::timestamptz,
        (p->>'creator_id')::uuid, p->>'currency',
        ARRAY(SELECT a FROM jsonb_array_elements_text(p->'accounts') WITH ORDINALITY AS t(a, n)
              ORDER BY n),
        ARRAY(SELECT a::bigint FROM jsonb_array_elements_text(p->'amounts')
              WITH ORDINALITY AS t(a, n) ORDER BY n),
        ARRAY(SELECT a::boolean FROM jsonb_array_elements_text(p->'per_creator')
              WITH ORDINALITY AS t(a, n) ORDER BY n));
    IF p->>'kind' = 'ppv' AND p->>'ppv_item_id' IS NOT NULL THEN
        INSERT INTO ppv_purchases (fan_id, ppv_item_id, payment_id)
        VALUES ((p->>'fan_id')::uuid, (p->>'ppv_item_id')::uuid, v_id)
        ON CONFLICT (fan_id, ppv_item_id) DO NOTHING;
    END IF;
    INSERT INTO outbox (id, event_type, payload)
    VALUES ((p->>'event_id')::uuid, p->>'event_type', decode(p->>'event', 'base64'));
    RETURN v_id;
END;
$$;
