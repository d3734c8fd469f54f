#!/bin/sh
# PostgreSQL's own ceiling for vidgate's webhook transactions, with no
# application: see BENCHMARKS.md, "Raw capacity of this host, and of
# vidgate's own SQL". new.sql and dup.sql are a first delivery and a repeat
# exactly as the intake sends them (from PostgreSQL's statement log);
# new2/dup2 and new3/dup3 are the cheaper variants measured there.
set -eu
cd "$(dirname "$0")"
PG="-h 127.0.0.1 -U postgres"
DB=vgbench_wh
psql $PG -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
(cd ../../.. && go run ./cmd/vidgate migrate --database-url "postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable")
psql $PG -d $DB -qf seed.sql
for mix in "new.sql@1 dup.sql@1" "new2.sql@1 dup2.sql@1" "new3.sql@1 dup3.sql@1" "new.sql@1"; do
	files=""
	for f in $mix; do files="$files -f $f"; done
	echo "== $mix"
	pgbench $PG -c 32 -j 2 -T 15 -n $files $DB | grep '^tps'
done
psql $PG -qc "DROP DATABASE $DB"
