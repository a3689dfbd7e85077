DROP FUNCTION webhook_payments_apply(jsonb);
DROP FUNCTION payments_book_many(jsonb);
-- The one-payment booking of the previous migration, as it was.
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

