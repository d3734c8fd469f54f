\set j random(1, 5000)
\set p random(1, 99)
BEGIN;
INSERT INTO "provider_webhook_receipts" AS "webhook_receipt" ("id", "provider", "provider_event_id", "provider_request_id", "payload_hash", "outcome", "received_at", "duplicates") VALUES (DEFAULT, 'sim', md5(random()::text), 'gen_' || :j, md5(random()::text) || md5(random()::text), 'applied', now(), 0) ON CONFLICT (provider, provider_event_id) DO NOTHING RETURNING "id";
SELECT j.*, sa.public_id AS source_asset_public_id, pj.public_id AS parent_public_id FROM video_jobs AS j LEFT JOIN source_assets AS sa ON sa.id = j.source_asset_id LEFT JOIN video_jobs AS pj ON pj.id = j.parent_id WHERE (j.provider = 'sim' AND j.provider_request_id = 'gen_' || :j) LIMIT 1;
UPDATE "video_jobs" SET status = 'PROCESSING', version = version + 1, updated_at = now(), progress = :p WHERE (id = :j) AND (status = 'PROCESSING') AND (attempt = 1) RETURNING *;
INSERT INTO "video_job_events" ("id", "job_id", "version", "event_type", "previous_status", "new_status", "source", "actor_id", "message", "error_code", "created_at") VALUES (DEFAULT, :j, 1, 'progress', 'PROCESSING', 'PROCESSING', 'webhook', DEFAULT, '50%', DEFAULT, now()) RETURNING "id", "actor_id", "error_code";
COMMIT;
