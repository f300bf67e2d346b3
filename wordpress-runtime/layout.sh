#!/bin/sh
# layout.sh CORE SITE_DIR UPLOADS_DIR: lay out the site the image serves, from a WordPress release
# unpacked at CORE. The Dockerfile runs it at build time; the tests run it on Debian's WordPress.
#   SITE_DIR/htdocs   WordPress, the platform's wp-config.php, must-use plugins and health check;
#                     read-only to PHP (owned by whoever builds: root in the image)
#   SITE_DIR/tmp      PHP's uploads in flight, sessions (the entrypoint makes it PHP's own)
#   SITE_DIR/logs     php-error.log, a link to the container's stderr (Cloud Logging)
#   htdocs/wp-content/uploads -> UPLOADS_DIR, the bucket volume: the only place PHP writes for good
set -eu
CORE=$1
SITE_DIR=$2
UPLOADS_DIR=$3
HERE=$(cd "$(dirname "$0")" && pwd)
DOCROOT=$SITE_DIR/htdocs

[ -f "$CORE/wp-settings.php" ] || { echo "layout.sh: no WordPress in $CORE" >&2; exit 1; }
mkdir -p "$DOCROOT" "$SITE_DIR/tmp" "$SITE_DIR/logs"
cp -R -P "$CORE/." "$DOCROOT/"
# Debian's and the release's own config files, and the release notes (they name the version).
rm -f "$DOCROOT/wp-config.php" "$DOCROOT/wp-config-sample.php" "$DOCROOT/.htaccess" "$DOCROOT/readme.html"
cp "$HERE/wp-config.php" "$DOCROOT/wp-config.php"
mkdir -p "$DOCROOT/wp-content/mu-plugins" "$DOCROOT/_aipress"
cp "$HERE"/mu-plugins/*.php "$DOCROOT/wp-content/mu-plugins/"
cp "$HERE/health.php" "$HERE/database.php" "$DOCROOT/_aipress/"
rm -rf "$DOCROOT/wp-content/uploads"
ln -s "$UPLOADS_DIR" "$DOCROOT/wp-content/uploads"
ln -sf /dev/stderr "$SITE_DIR/logs/php-error.log"
# Code is readable by all and writable by its owner only; PHP runs as another user.
chmod -R u=rwX,go=rX "$DOCROOT"
