#!/bin/sh
# The cloud image's entrypoint (Cloud Run): lay out the site like the local runtime does, render the
# nginx and php-fpm configs from the container's environment, then run php-fpm and nginx.
# With AIPRESS_RENDER_ONLY=1 it only renders into AIPRESS_RENDER_DIR (the tests use this).
set -eu
HERE=$(dirname "$0")
: "${PORT:=8080}"
: "${SITE_DIR:=/srv/site}"
: "${UPLOADS_DIR:=/mnt/uploads}"          # the mounted bucket volume
: "${MAX_PHP_WORKERS:=4}"
OUT=${AIPRESS_RENDER_DIR:-}

export LISTEN="$PORT" SERVER_NAME="_" DOCROOT="$SITE_DIR/htdocs" ACCESS_LOG="/dev/stdout" ERROR_LOG="/dev/stderr"
export FASTCGI_PASS="unix:/run/php/site.sock" FASTCGI_PARAMS="/etc/nginx/fastcgi_params"
# One site per container: nothing of another site to reach through a link (uploads is one, to the bucket).
export DISABLE_SYMLINKS="off"
export POOL_NAME="site" POOL_USER="user = www-data
group = www-data" LISTEN_OWNER="listen.owner = www-data
listen.group = www-data" MAX_CHILDREN="$MAX_PHP_WORKERS" CLEAR_ENV="no" POOL_ENV="" OPEN_BASEDIR="$SITE_DIR/"

render() { php "$HERE/render.php" "$1"; }

if [ "${AIPRESS_RENDER_ONLY:-0}" = 1 ]; then
  mkdir -p "$OUT"
  cp "$HERE/wp-config.php" "$OUT/wp-config.php"
  render "$HERE/nginx-site.conf.template" > "$OUT/nginx-site.conf"
  LISTEN=/run/php/site.sock render "$HERE/php-fpm-pool.conf.template" > "$OUT/php-fpm-pool.conf"
  exit 0
fi

mkdir -p "$SITE_DIR/htdocs" "$SITE_DIR/tmp" "$SITE_DIR/logs" "$UPLOADS_DIR" /run/php
cp -al /usr/share/wordpress/. "$SITE_DIR/htdocs/" 2>/dev/null || cp -a /usr/share/wordpress/. "$SITE_DIR/htdocs/"
rm -f "$SITE_DIR/htdocs/wp-config.php" "$SITE_DIR/htdocs/wp-config-sample.php"
cp "$HERE/wp-config.php" "$SITE_DIR/htdocs/wp-config.php"
mkdir -p "$SITE_DIR/htdocs/wp-content/mu-plugins" && cp "$HERE"/mu-plugins/*.php "$SITE_DIR/htdocs/wp-content/mu-plugins/"
rm -rf "$SITE_DIR/htdocs/wp-content/uploads" && ln -s "$UPLOADS_DIR" "$SITE_DIR/htdocs/wp-content/uploads"
chown -R www-data:www-data "$SITE_DIR/tmp" "$SITE_DIR/logs" "$UPLOADS_DIR"
render "$HERE/nginx-site.conf.template" > /etc/nginx/sites-enabled/site.conf
rm -f /etc/nginx/sites-enabled/default
LISTEN=/run/php/site.sock render "$HERE/php-fpm-pool.conf.template" > /etc/php/8.2/fpm/pool.d/site.conf
rm -f /etc/php/8.2/fpm/pool.d/www.conf
php-fpm8.2 --daemonize
exec nginx -g 'daemon off;'
