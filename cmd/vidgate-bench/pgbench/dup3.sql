\set j random(1, 5000)
SELECT id FROM "provider_webhook_receipts" WHERE (provider = 'sim' AND provider_event_id = 'msg_' || :j);
