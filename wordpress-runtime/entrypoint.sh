#!/bin/sh
# The cloud image's entrypoint (Cloud Run). At every start:
#   1. render nginx's and php-fpm's configs from the environment, with the templates the local
#      runtime renders too (render.php substitutes like its string.Template);
#   2. wait for the database, install WordPress if it holds none, set the title (install.php);
#   3. run php-fpm and nginx; either ending ends the container (Cloud Run starts a fresh one), and
#      Cloud Run's SIGTERM stops both gracefully.
# With AIPRESS_RENDER_ONLY=1 it only renders, into AIPRESS_RENDER_DIR (the tests use this).
# docs/wordpress-runtime.md lists the environment it reads.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
: "${PORT:=8080}"
: "${SITE_DIR:=/srv/site}"
: "${UPLOADS_DIR:=/mnt/uploads}"          # the bucket volume (layout.sh linked wp-content/uploads to it)
: "${MAX_PHP_WORKERS:=4}"
: "${AIPRESS_RUN_DIR:=/run/aipress}"      # rendered configs, pid files, the PHP socket
: "${AIPRESS_DB_WAIT_SECONDS:=60}"        # Cloud SQL's socket can take a moment after a cold start
RUN_DIR=$AIPRESS_RUN_DIR
if [ "${AIPRESS_RENDER_ONLY:-0}" = 1 ]; then
  RUN_DIR=$AIPRESS_RENDER_DIR
fi
DOCROOT=$SITE_DIR/htdocs
SALTS="AUTH_KEY SECURE_AUTH_KEY LOGGED_IN_KEY NONCE_KEY AUTH_SALT SECURE_AUTH_SALT LOGGED_IN_SALT NONCE_SALT"

# Folders holding the secrets given as NAME_FILE, which PHP's open_basedir must let it read.
secret_dirs() {
  for name in "$@"; do
    eval "file=\${${name}_FILE:-}"
    # shellcheck disable=SC2154 # set by the eval
    [ -z "$file" ] || printf ':%s/' "$(dirname "$file")"
  done
}

OPEN_BASEDIR="$SITE_DIR/:$UPLOADS_DIR/$(secret_dirs DB_PASSWORD $SALTS)"

# The templates' placeholders, exported in a subshell only: php-fpm hands its environment to the
# site's PHP, which needs none of these.
render_configs() (
  export LISTEN="$PORT" SERVER_NAME="_" DOCROOT ACCESS_LOG="/dev/stdout" ERROR_LOG="/dev/stderr" RUN_DIR SITE_DIR
  export FASTCGI_PASS="unix:$RUN_DIR/php-fpm.sock" FASTCGI_PARAMS="$HERE/fastcgi_params"
  # One site per container: nothing of another site to reach through a link (uploads is one, to the bucket).
  export DISABLE_SYMLINKS="off"
  # No page cache in the container (its instances come and go): the CDN in front keeps the pages.
  export PAGE_CACHE_ZONE="" PAGE_CACHE_PURGE="" PAGE_CACHE=""
  export POOL_NAME="site" MAX_CHILDREN="$MAX_PHP_WORKERS" CLEAR_ENV="no" PREPEND_FILE="$RUN_DIR/prepend.php"
  # What PHP runs first in every request: open_basedir set as the request starts (not in the pool,
  # where it would switch PHP's realpath cache off). The site's environment is the container's own.
  OPEN_BASEDIR_PHP=$(php -r 'echo var_export($argv[1], true);' "$OPEN_BASEDIR")
  export OPEN_BASEDIR_PHP ENVIRONMENT_PHP=""
  if [ "$(id -u)" = 0 ]; then
    # The image starts as root (the masters open the container's stdout and stderr, which may
    # belong to root); everything that runs the site's PHP, or serves its requests, is www-data.
    export NGINX_USER="user www-data;" POOL_USER="user = www-data
group = www-data" LISTEN_OWNER="listen.owner = www-data
listen.group = www-data"
  else
    export NGINX_USER="" POOL_USER="" LISTEN_OWNER=""
  fi
  render() { php "$HERE/render.php" "$HERE/$1" > "$RUN_DIR/$2"; }
  mkdir -p "$RUN_DIR/nginx"
  render nginx.conf.template nginx.conf
  render nginx-site.conf.template nginx-site.conf
  render php-fpm.conf.template php-fpm.conf
  LISTEN="$RUN_DIR/php-fpm.sock" render php-fpm-pool.conf.template php-fpm-pool.conf
  render prepend.php.template prepend.php
)

render_configs
if [ "${AIPRESS_RENDER_ONLY:-0}" = 1 ]; then
  cp "$HERE/wp-config.php" "$RUN_DIR/wp-config.php"
  exit 0
fi

# PHP, run from the command line as the pool runs it: as www-data, the same functions off.
as_site() {
  if [ "$(id -u)" = 0 ]; then
    set -- setpriv --reuid=www-data --regid=www-data --init-groups "$@"
  fi
  "$@"
}
pool_value() { sed -n "s/^php_admin_value\[$1\] = //p" "$RUN_DIR/php-fpm-pool.conf"; }

# PHP's own scratch space; the code beside it stays read-only to PHP.
mkdir -p "$SITE_DIR/tmp"
[ "$(id -u)" != 0 ] || chown www-data:www-data "$SITE_DIR/tmp"
chmod 0700 "$SITE_DIR/tmp"
if ! as_site test -w "$UPLOADS_DIR"; then
  echo "aipress: PHP cannot write to $UPLOADS_DIR: uploads will fail (mount the bucket for uid and gid 33, www-data)" >&2
fi

waited=0
until as_site php -d "open_basedir=$OPEN_BASEDIR" "$DOCROOT/_aipress/health.php" > /dev/null; do
  # Exit code 2: the database answers but holds no WordPress yet, which is what install.php is for.
  [ $? = 2 ] && break
  if [ "$waited" -ge "$AIPRESS_DB_WAIT_SECONDS" ]; then
    echo "aipress: the database did not answer within $AIPRESS_DB_WAIT_SECONDS s" >&2
    exit 1
  fi
  sleep 1
  waited=$((waited + 1))
done

result=$(as_site php \
  -d "open_basedir=$OPEN_BASEDIR$(secret_dirs WP_ADMIN_PASSWORD):$HERE/install.php" \
  -d "disable_functions=$(pool_value disable_functions)" \
  -d "sys_temp_dir=$SITE_DIR/tmp" \
  "$HERE/install.php" "$DOCROOT") || true
echo "$result"
case "$(printf '%s\n' "$result" | tail -n 1)" in
  "AIPRESS-RESULT "*) ;;
  *) echo "aipress: WordPress could not be installed or updated at start" >&2; exit 1 ;;
esac
# Needed once, for the install: the site's PHP never sees it.
unset WP_ADMIN_PASSWORD WP_ADMIN_PASSWORD_FILE

php-fpm8.2 --nodaemonize --fpm-config "$RUN_DIR/php-fpm.conf" &
fpm=$!
nginx -e stderr -c "$RUN_DIR/nginx.conf" &
web=$!
stopping=""
stop() {
  stopping=${stopping:-$1}
  kill -QUIT "$web" "$fpm" 2>/dev/null || :
}
trap 'stop requested' TERM INT
alive() { kill -0 "$1" 2>/dev/null; }
# POSIX sh has no `wait -n`: look every second; a trapped signal ends the wait at once.
while alive "$fpm" && alive "$web"; do
  sleep 1 &
  wait $! || :
done
if [ -z "$stopping" ]; then
  if alive "$fpm"; then gone=nginx; else gone=php-fpm; fi
  echo "aipress: $gone ended; stopping the container" >&2
  stop ended
fi
wait "$fpm" || :
wait "$web" || :
[ "$stopping" = requested ]
