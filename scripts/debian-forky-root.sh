#!/bin/bash
# debian-forky-root.sh -- a Debian testing (forky) root for the reference tools newer than Debian 13's:
# PostgreSQL 18 (the server package for pg_waldump; the client tools pg_basebackup 18, pg_combinebackup 18, pg_verifybackup 18,
# pg_receivewal 18) and Barman 3.20 (barman, barman-cli, barman-cli-cloud; backup encryption with gpg),
# from Debian's own packages. Same commands as debian13-root.sh (create, run, runas, destroy); ROOT
# defaults to /var/cache/debian-forky-root. Testing moves: the versions are those Debian has today.
# Binaries inside the root: /usr/lib/postgresql/18/bin/*, /usr/bin/barman, /usr/bin/gpg.
export DEBIAN_ROOT_SUITE=forky
export DEBIAN_ROOT_DEFAULT=/var/cache/debian-forky-root
export DEBIAN13_PACKAGES=${DEBIAN_FORKY_PACKAGES:-postgresql-client-18 postgresql-18 barman barman-cli barman-cli-cloud gnupg python3-boto3}
exec bash "$(dirname "$0")/debian13-root.sh" "$@"
