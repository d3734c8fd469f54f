-- 5,000 jobs in PROCESSING with a provider request id, and a receipt for
-- each (the repeats in dup*.sql hit them). Run on a database migrated with
-- `vidgate migrate`.
INSERT INTO video_jobs (public_id, owner_id, workflow_type, provider, provider_request_id, status, version, progress,
	duration_seconds, aspect_ratio, resolution, prompt_hash, attempt, created_at, updated_at)
SELECT 'job-' || g, 'owner-' || (g % 100), 'text_to_video', 'sim', 'gen_' || g, 'PROCESSING', 3, 0,
	4, '16:9', '720p', md5(g::text) || md5(g::text), 1, now(), now()
FROM generate_series(1, 5000) g;
INSERT INTO provider_webhook_receipts (provider, provider_event_id, provider_request_id, payload_hash, outcome, received_at)
SELECT 'sim', 'msg_' || g, 'gen_' || g, md5(g::text) || md5(g::text), 'applied', now()
FROM generate_series(1, 5000) g;
VACUUM ANALYZE;
