\set j random(1, 5000)
BEGIN;
INSERT INTO "provider_webhook_receipts" AS "webhook_receipt" ("id", "provider", "provider_event_id", "provider_request_id", "payload_hash", "outcome", "received_at", "duplicates") VALUES (DEFAULT, 'sim', 'msg_' || :j, 'gen_' || :j, md5(random()::text) || md5(random()::text), 'applied', now(), 0) ON CONFLICT (provider, provider_event_id) DO NOTHING RETURNING "id";
UPDATE "provider_webhook_receipts" AS "webhook_receipt" SET duplicates = duplicates + 1 WHERE (provider = 'sim' AND provider_event_id = 'msg_' || :j);
COMMIT;
