-- The previous version finds pending rows in the tables themselves.
DELETE FROM jobs WHERE kind IN ('identity.send_mail', 'identity.account_mail');
