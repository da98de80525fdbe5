#!/usr/bin/env bash
# generate-barman-fixtures.sh -- golden catalogue fixtures produced by really running Barman 3.4.
#
# Usage (as root, on Debian 12):   bash scripts/generate-barman-fixtures.sh
#
# What it does
#   1. apt-installs barman (+ barman-cli) and postgresql-15 only if they are missing.
#   2. Starts a throwaway PostgreSQL 15 cluster in $WORKDIR (default /tmp/barman-fixtures) on the
#      first free port from $PGPORT (default 55491), owned by the OS user `barman` (so that
#      backup_method=local-rsync can read PGDATA without ssh), with a tablespace `tbs1` and an
#      archive_command copying WALs into the `pgr` server's incoming directory.
#   3. Configures two Barman servers:
#        pg   backup_method=postgres, streaming_archiver=on with a replication slot, compression=gzip
#        pgr  backup_method=local-rsync (concurrent), archiver=on (archive_command -> incoming);
#             its conninfo sets the session timezone to Asia/Kolkata, so its timestamps carry +05:30
#   4. Produces: pg DONE backup (tablespace) + keep standalone; pg FAILED backup (a fake
#      pg_basebackup that exits 1 is swapped into pg's path_prefix dir); pg DONE backup with
#      --name (no --wait, made DONE by check-backup); pgr DONE backup with --name AND --wait (3.4
#      loses the name in this case) + keep full; gzip-compressed WALs and .backup history files.
#   5. Copies ONLY small metadata into test/fixtures/barman-3.4/ (generated parts are replaced,
#      `handmade/` is left alone):
#        catalog/<srv>/base/<id>/backup.info, catalog/<srv>/base/<id>/annotations/keep,
#        catalog/<srv>/identity.json, catalog/<srv>/wals/xlog.db, one gzip .backup history file,
#        catalog/find.txt (the listing of barman_home, data/ and tablespace contents pruned),
#        outputs/*.txt|*.json (stdout of list-server, show-server, list-backup, show-backup, check,
#        status, keep --status, list-files --target wal, get-wal --peek/--test, replication-status,
#        console and JSON form; outputs/INDEX.tsv has each command and exit code, outputs/BARMAN_HOME
#        the barman_home the paths in them start with),
#        backups.tsv (server, backup id, role) and README.md (versions, date).
#   6. Stops everything it started (receive-wal via `barman receive-wal --stop`, the cluster) and
#      deletes $WORKDIR unless KEEP_WORKDIR=1.
# Idempotent: every run starts from scratch (a leftover cluster/receive-wal of an earlier run in
# $WORKDIR is stopped first) and replaces the generated fixtures.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FIXDIR=${FIXDIR:-$REPO/test/fixtures/barman-3.4}
WORKDIR=${WORKDIR:-/tmp/barman-fixtures}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGPORT=${PGPORT:-55491}
KEEP_WORKDIR=${KEEP_WORKDIR:-0}

PGDATA=$WORKDIR/pg/data
TBS=$WORKDIR/pg/tbs1
SOCK=$WORKDIR/pg/sock
BH=$WORKDIR/barman/home
CONF=$WORKDIR/barman/barman.conf
PGBIN_PG=$WORKDIR/bin-pg        # path_prefix of server pg: symlinks to $PGBIN (+ the fake, when swapped in)
LOGDIR=$WORKDIR/log
RECEIVE_PID=

log() { echo "[fixtures] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"

as_barman() { runuser -u barman -- "$@"; }
bm() { as_barman barman -c "$CONF" "$@"; }
psql_src() { as_barman "$PGBIN/psql" -X -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -Atqc "$1"; }
alive_pid() { [ -n "${1:-}" ] && [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
newest_backup() { find "$BH/$1/base" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tail -1; }

# ---------------------------------------------------------------- install (only what is missing)
install_missing() {
  local pkgs=()
  command -v barman >/dev/null || pkgs+=(barman barman-cli)
  [ -x "$PGBIN/initdb" ] || pkgs+=(postgresql-15)
  command -v rsync >/dev/null || pkgs+=(rsync)
  if [ ${#pkgs[@]} -gt 0 ]; then
    log "installing ${pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
  fi
  id barman >/dev/null
  barman -v 2>&1 | grep -q '^3\.4\.' || die "expected Barman 3.4, found: $(barman -v 2>&1 | head -1)"
}

# ---------------------------------------------------------------- stop (also leftovers of an earlier run)
stop_receive_wal() {
  local lock=$BH/.pg-receive-wal.lock pid=
  [ -f "$lock" ] && pid=$(cat "$lock" 2>/dev/null || true)
  if alive_pid "$pid"; then
    bm receive-wal --stop pg >/dev/null 2>&1 || kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive_pid "$pid" || break; sleep 0.1; done
    log "receive-wal pg (pid $pid) stopped"
  fi
  if [ -n "$RECEIVE_PID" ]; then
    wait "$RECEIVE_PID" 2>/dev/null || true
    RECEIVE_PID=
  fi
}
stop_cluster() {
  if [ -f "$PGDATA/postmaster.pid" ]; then
    as_barman "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    log "cluster stopped"
  fi
}
stop_all() {
  # the fake pg_basebackup must never stay in place
  [ -d "$PGBIN_PG" ] && ln -sfn "$PGBIN/pg_basebackup" "$PGBIN_PG/pg_basebackup"
  stop_receive_wal
  stop_cluster
}
on_exit() {
  local rc=$?
  stop_all
  if [ "$rc" = 0 ] && [ "$KEEP_WORKDIR" != 1 ]; then rm -rf "$WORKDIR"; fi
  [ "$rc" = 0 ] || log "failed (rc=$rc); work dir kept in $WORKDIR, logs in $LOGDIR"
}

free_port() {
  local p=$1
  while ss -Hltn "sport = :$p" | grep -q .; do p=$((p + 1)); done
  echo "$p"
}

# ---------------------------------------------------------------- cluster
start_cluster() {
  install -d -o barman -g barman -m 0700 "$PGDATA" "$TBS"
  install -d -o barman -g barman -m 0755 "$SOCK"
  as_barman "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 -k >"$LOGDIR/initdb.log"
  local inc=$BH/pgr/incoming
  cat >>"$PGDATA/postgresql.conf" <<EOF
# --- generate-barman-fixtures.sh ---
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$SOCK'
timezone = 'UTC'
wal_level = replica
archive_mode = on
archive_command = 'test ! -f $inc/%f && cp %p $inc/.%f.tmp && mv $inc/.%f.tmp $inc/%f'
max_wal_senders = 10
max_replication_slots = 10
shared_buffers = 64MB
EOF
  as_barman env -u NODE_EXTRA_CA_CERTS "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOGDIR/postgresql.log" -w -t 60 start >/dev/null
  psql_src "CREATE TABLESPACE tbs1 LOCATION '$TBS'"
  psql_src "CREATE TABLE marks (id serial PRIMARY KEY, label text) TABLESPACE tbs1"
  psql_src "INSERT INTO marks (label) VALUES ('before-backups')"
  log "PostgreSQL $(psql_src 'show server_version') on 127.0.0.1:$PGPORT, tablespace tbs1 at $TBS"
}

# ---------------------------------------------------------------- barman
write_barman_conf() {
  install -d -o barman -g barman -m 0755 "$WORKDIR/barman" "$BH" "$WORKDIR/barman/log" "$BH/pgr" "$BH/pgr/incoming"
  install -d -o barman -g barman -m 0755 "$PGBIN_PG"
  local b
  for b in "$PGBIN"/*; do ln -sfn "$b" "$PGBIN_PG/$(basename "$b")"; done
  # The fake: answers --version like the real one (Barman checks the version), fails otherwise.
  cat >"$WORKDIR/fake-pg_basebackup" <<EOF
#!/bin/sh
case "\$*" in *--version*|*-V*) exec $PGBIN/pg_basebackup "\$@" ;; esac
echo "pg_basebackup: error: simulated failure (generate-barman-fixtures.sh)" >&2
exit 1
EOF
  chmod 0755 "$WORKDIR/fake-pg_basebackup"
  cat >"$CONF" <<EOF
[barman]
barman_user = barman
barman_home = $BH
log_file = $WORKDIR/barman/log/barman.log
log_level = INFO
path_prefix = $PGBIN
compression = gzip
minimum_redundancy = 0
retention_policy = REDUNDANCY 3

[pg]
description = "fixtures: postgres method + streaming archiver"
conninfo = host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres
streaming_conninfo = host=127.0.0.1 port=$PGPORT user=postgres
backup_method = postgres
archiver = off
streaming_archiver = on
slot_name = barman_fixtures
create_slot = auto
path_prefix = $PGBIN_PG

[pgr]
description = "fixtures: local-rsync + archive_command"
conninfo = host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres options=-ctimezone=Asia/Kolkata
backup_method = local-rsync
backup_options = concurrent_backup
reuse_backup = link
archiver = on
streaming_archiver = off
EOF
  chown barman:barman "$CONF"
}

start_receive_wal() {
  bm receive-wal --create-slot pg >"$LOGDIR/create-slot.log" 2>&1
  as_barman barman -c "$CONF" receive-wal pg >"$LOGDIR/receive-wal.log" 2>&1 </dev/null &
  RECEIVE_PID=$!
  for _ in $(seq 1 100); do
    [ -s "$BH/.pg-receive-wal.lock" ] && alive_pid "$(cat "$BH/.pg-receive-wal.lock")" && break
    sleep 0.1
  done
  log "receive-wal pg running (runuser pid $RECEIVE_PID)"
}

switch_wal() {  # switch_wal SERVER: force a segment switch and wait until Barman archived it
  bm switch-wal --force --archive --archive-timeout 60 "$1" >>"$LOGDIR/switch-wal.log" 2>&1
}

# ---------------------------------------------------------------- capture
BACKUPS_TSV=
capture() {  # capture NAME CMD...  -> outputs/NAME.txt or NAME.json (+ NAME.stderr.txt); exit code in INDEX.tsv
  local name=$1 rc=0 file; shift
  case "$name" in *.json) file=$name ;; *) file=$name.txt ;; esac
  "$@" >"$FIXDIR/outputs/$file" 2>"$FIXDIR/outputs/${name%.json}.stderr.txt" || rc=$?
  [ -s "$FIXDIR/outputs/${name%.json}.stderr.txt" ] || rm -f "$FIXDIR/outputs/${name%.json}.stderr.txt"
  local shown=$*
  shown=${shown//$CONF/\$CONF}
  printf '%s\t%s\t%s\n' "$file" "$rc" "$shown" >>"$FIXDIR/outputs/INDEX.tsv"
}
record_backup() {  # record_backup SERVER ID ROLE
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$BACKUPS_TSV"
  log "backup $1 $2: $3 (status $(grep '^status=' "$BH/$1/base/$2/backup.info" | cut -d= -f2))"
}

# ================================================================ main
install_missing

# leftovers of an earlier (possibly interrupted) run
if [ -d "$WORKDIR" ]; then
  [ -f "$CONF" ] && stop_all
  rm -rf "$WORKDIR"
fi
PGPORT=$(free_port "$PGPORT")
install -d -m 0755 "$WORKDIR" "$LOGDIR"
chown barman:barman "$LOGDIR"
cd "$WORKDIR"
trap on_exit EXIT

rm -rf "$FIXDIR/catalog" "$FIXDIR/outputs" "$FIXDIR/backups.tsv" "$FIXDIR/README.md"
mkdir -p "$FIXDIR/catalog" "$FIXDIR/outputs"
BACKUPS_TSV=$FIXDIR/backups.tsv
printf 'server\tbackup_id\trole\n' >"$BACKUPS_TSV"
printf 'file\texit_code\tcommand\n' >"$FIXDIR/outputs/INDEX.tsv"

write_barman_conf
start_cluster
bm check pg >/dev/null 2>&1 || true   # creates the server directories
bm check pgr >/dev/null 2>&1 || true
start_receive_wal
# streaming-only archiving: the newest segment stays in streaming/ until the next one starts
switch_wal pg
switch_wal pg
switch_wal pgr
capture check-pg bm check pg
capture check-pgr bm check pgr
grep -q FAILED "$FIXDIR/outputs/check-pg.txt" && die "barman check pg failed: $(cat "$FIXDIR/outputs/check-pg.txt")"
grep -q FAILED "$FIXDIR/outputs/check-pgr.txt" && die "barman check pgr failed: $(cat "$FIXDIR/outputs/check-pgr.txt")"

# 1) pg: DONE backup (postgres method, tablespace), later kept as standalone
bm backup --wait pg >"$LOGDIR/backup-1.log" 2>&1
PG_DONE=$(newest_backup pg)
record_backup pg "$PG_DONE" done-tablespace-keep-standalone
psql_src "INSERT INTO marks (label) VALUES ('after-backup-1')"
sleep 1.2

# 2) pg: FAILED backup (fake pg_basebackup exiting 1, swapped into pg's path_prefix directory)
ln -sfn "$WORKDIR/fake-pg_basebackup" "$PGBIN_PG/pg_basebackup"
rc=0; bm backup pg >"$LOGDIR/backup-failed.log" 2>&1 || rc=$?
ln -sfn "$PGBIN/pg_basebackup" "$PGBIN_PG/pg_basebackup"
[ "$rc" != 0 ] || die "the failing backup exited 0"
PG_FAILED=$(newest_backup pg)
record_backup pg "$PG_FAILED" failed
sleep 1.2

# 3) pg: named backup without --wait (WAITING_FOR_WALS), then DONE via switch-wal + check-backup
bm backup --name monthly-2026-11 pg >"$LOGDIR/backup-named.log" 2>&1
PG_NAMED=$(newest_backup pg)
switch_wal pg
switch_wal pg
bm check-backup pg "$PG_NAMED" >>"$LOGDIR/backup-named.log" 2>&1
record_backup pg "$PG_NAMED" done-named
psql_src "INSERT INTO marks (label) VALUES ('after-backup-named')"

# 4) pgr: local-rsync backup with --name and --wait (3.4.0 drops the name in this case)
bm backup --name rsync-waited --wait pgr >"$LOGDIR/backup-pgr.log" 2>&1
PGR_DONE=$(newest_backup pgr)
record_backup pgr "$PGR_DONE" done-local-rsync-name-with-wait-keep-full

bm keep --target standalone pg "$PG_DONE" >>"$LOGDIR/keep.log" 2>&1
bm keep --target full pgr "$PGR_DONE" >>"$LOGDIR/keep.log" 2>&1

# more WAL after the backups (gzip-compressed by Barman), then archive everything pending
psql_src "INSERT INTO marks (label) VALUES ('end')"
switch_wal pg
switch_wal pgr
bm archive-wal pgr >>"$LOGDIR/archive-wal.log" 2>&1
bm archive-wal pg >>"$LOGDIR/archive-wal.log" 2>&1

# ---------------------------------------------------------------- outputs
capture list-server bm list-server
capture list-server.json bm -f json list-server
for s in pg pgr; do
  capture "show-server-$s" bm show-server "$s"
  capture "show-server-$s.json" bm -f json show-server "$s"
  capture "list-backup-$s" bm list-backup "$s"
  capture "list-backup-$s.json" bm -f json list-backup "$s"
done
capture list-backup-all bm list-backup all
capture list-backup-all.json bm -f json list-backup all
for id in "$PG_DONE" "$PG_FAILED" "$PG_NAMED"; do
  capture "show-backup-pg-$id" bm show-backup pg "$id"
  capture "show-backup-pg-$id.json" bm -f json show-backup pg "$id"
done
capture "show-backup-pgr-$PGR_DONE" bm show-backup pgr "$PGR_DONE"
capture "show-backup-pgr-$PGR_DONE.json" bm -f json show-backup pgr "$PGR_DONE"
capture show-backup-pg-by-name bm show-backup pg monthly-2026-11
# -f json of the other catalogue commands (messages under _INFO/_ERROR), and of the live ones
capture list-server-minimal.json bm -f json list-server --minimal
capture show-server-nosuch.json bm -f json show-server nosuch
capture show-backup-pg-unknown.json bm -f json show-backup pg 20200101T000000
for id in "$PG_DONE" "$PG_NAMED"; do
  capture "keep-status-pg-$id" bm keep --status pg "$id"
  capture "keep-status-pg-$id.json" bm -f json keep --status pg "$id"
done
capture "keep-status-pgr-$PGR_DONE.json" bm -f json keep --status pgr "$PGR_DONE"
for id in "$PG_DONE" "$PG_NAMED"; do
  capture "list-files-wal-pg-$id" bm list-files --target wal pg "$id"
  capture "list-files-wal-pg-$id.json" bm -f json list-files --target wal pg "$id"
done
capture "list-files-wal-pgr-$PGR_DONE.json" bm -f json list-files --target wal pgr "$PGR_DONE"
FIRST_WAL=$(head -1 "$BH/pg/wals/xlog.db" | cut -f1)
capture get-wal-peek-pg bm get-wal --peek 3 pg "$FIRST_WAL"
capture get-wal-peek-pg.json bm -f json get-wal --peek 3 pg "$FIRST_WAL"
capture get-wal-peek-pg-none.json bm -f json get-wal --peek 3 pg 0000000100000000000000F0
capture get-wal-test-pg.json bm -f json get-wal --test pg "$FIRST_WAL"
capture get-wal-bad-name.json bm -f json get-wal pg notawal
capture status-pgr.json bm -f json status pgr
capture check-pgr.json bm -f json check pgr
capture replication-status-pg.json bm -f json replication-status pg
printf '%s\n' "$BH" >"$FIXDIR/outputs/BARMAN_HOME"

stop_receive_wal
stop_cluster

# ---------------------------------------------------------------- catalogue metadata
for s in pg pgr; do
  install -d "$FIXDIR/catalog/$s/wals"
  cp "$BH/$s/identity.json" "$FIXDIR/catalog/$s/"
  cp "$BH/$s/wals/xlog.db" "$FIXDIR/catalog/$s/wals/xlog.db"
  for d in "$BH/$s/base"/*/; do
    id=$(basename "$d")
    install -d "$FIXDIR/catalog/$s/base/$id"
    cp "$d/backup.info" "$FIXDIR/catalog/$s/base/$id/"
    if [ -d "$d/annotations" ]; then
      install -d "$FIXDIR/catalog/$s/base/$id/annotations"
      cp "$d/annotations"/* "$FIXDIR/catalog/$s/base/$id/annotations/"
    fi
  done
done
# one compressed backup history file (a few hundred bytes), with its hash directory
hist=$(find "$BH/pgr/wals" -name '*.backup' | sort | tail -1)
[ -n "$hist" ] || die "no .backup file archived for pgr"
rel=${hist#"$BH/"}
install -d "$FIXDIR/catalog/$(dirname "$rel")"
cp "$hist" "$FIXDIR/catalog/$rel"
# listing of barman_home: everything except the contents of data/ and tablespace directories
(cd "$BH" && find . -mindepth 1 \
  \( -path './*/base/*/data/*' -o -path './*/base/*/[0-9]*/*' \) -prune -o \
  -printf '%y %#m %8s %P\n' | sort -k4) >"$FIXDIR/catalog/find.txt"

name_state() {  # name_state SERVER ID -> how the backup_name line came out
  local line
  line=$(grep '^backup_name=' "$BH/$1/base/$2/backup.info" || true)
  if [ -n "$line" ]; then echo "kept (\`$line\`)"; else echo "LOST (no backup_name line)"; fi
}
BARMAN_VERSION=$(barman -v 2>&1 | head -1)
PG_VERSION=$("$PGBIN/postgres" --version)
cat >"$FIXDIR/README.md" <<EOF
# Barman 3.4 golden fixtures

Generated by \`scripts/generate-barman-fixtures.sh\` (run as root) on $(date -u '+%Y-%m-%d %H:%M:%S UTC')
with **$BARMAN_VERSION** (Debian package $(dpkg-query -W -f '${Version}' barman)) and $PG_VERSION,
on $(. /etc/os-release && echo "$PRETTY_NAME"). Host time zone: $(cat /etc/timezone 2>/dev/null || echo unknown).
Re-running the script replaces everything here except \`handmade/\`.

Barman home was \`$BH\`; the PostgreSQL cluster (OS user barman, port $PGPORT, session time zone UTC)
had tablespace \`tbs1\` at \`$TBS\`. Servers:

* \`pg\`: backup_method=postgres, streaming_archiver=on, slot \`barman_fixtures\`, compression=gzip.
* \`pgr\`: backup_method=local-rsync, concurrent_backup, archiver=on (archive_command copies into
  \`pgr/incoming\`), compression=gzip; conninfo sets \`timezone=Asia/Kolkata\`, so its
  backup.info timestamps carry \`+05:30\`.

Contents:

* \`backups.tsv\`: every backup with its role (the IDs change on every run).
* \`catalog/<srv>/base/<id>/backup.info\`, \`catalog/<srv>/base/<id>/annotations/keep\`,
  \`catalog/<srv>/identity.json\`, \`catalog/<srv>/wals/xlog.db\`, one gzip-compressed
  \`.backup\` history file under \`catalog/pgr/wals/\` (stored without \`.gz\`, like Barman does).
* \`catalog/find.txt\`: \`find\` listing of barman_home (type, mode, size, path); the contents of
  \`data/\` and tablespace directories are pruned.
* \`outputs/\`: exact stdout (and \`.stderr.txt\` when not empty) of \`list-server\`, \`show-server\`,
  \`list-backup\`, \`show-backup\`, \`check\`, \`status\`, \`keep --status\`, \`list-files --target wal\`,
  \`get-wal --peek\`/\`--test\` and \`replication-status\`: console as \`*.txt\`, \`-f json\` as \`*.json\`
  (Barman prints no final newline after JSON; its messages are the \`_INFO\`/\`_ERROR\` lists);
  \`outputs/INDEX.tsv\` lists each file, exit code and command; \`outputs/BARMAN_HOME\` holds the
  barman_home the paths in them start with.
* \`handmade/\`: hand-written backup.info files (a 3.17-style file with the six later keys, bad
  files for reader errors). Not produced by Barman; see \`handmade/README.md\`.

Roles (see backups.tsv):

$(tail -n +2 "$BACKUPS_TSV" | while IFS=$'\t' read -r s id role; do echo "* \`$s $id\`: $role"; done)

Observed in this run:

* \`backup --name monthly-2026-11 pg\` (no \`--wait\`, WAITING_FOR_WALS until \`check-backup\`):
  backup_name $(name_state pg "$PG_NAMED").
* \`backup --name rsync-waited --wait pgr\`: backup_name $(name_state pgr "$PGR_DONE").
* The FAILED backup directory contains: $(cd "$BH/pg/base/$PG_FAILED" && find . -mindepth 1 -maxdepth 1 -printf '%P ' | xargs)
  (only backup.info has content).
* Left in \`pg/streaming/\` after \`receive-wal --stop\`: $(cd "$BH/pg/streaming" && ls | xargs || true)
EOF
log "fixtures written to $FIXDIR"
