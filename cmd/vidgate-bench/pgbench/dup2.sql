\set j random(1, 5000)
UPDATE "provider_webhook_receipts" AS "webhook_receipt" SET duplicates = duplicates + 1 WHERE (provider = 'sim' AND provider_event_id = 'msg_' || :j) RETURNING id;
