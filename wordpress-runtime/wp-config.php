<?php
/**
 * AIPress: one wp-config.php for every site, on every runtime. Everything site-specific comes from
 * the environment (php-fpm's pool locally, the container's environment on Cloud Run), so the local
 * runtime and the cloud image use this file unchanged.
 */

/**
 * The environment variable NAME; or, when NAME is unset or empty, the content of the file that
 * NAME_FILE names (a secret mounted as a file). A missing value without a default stops the request.
 */
function aipress_env(string $name, ?string $default = null): string {
    $value = getenv($name);
    if ($value === false || $value === '') {
        $file = getenv($name . '_FILE');
        if ($file !== false && $file !== '') {
            $content = @file_get_contents($file);
            if ($content === false) {
                aipress_unconfigured("{$name}_FILE names a file that cannot be read.");
            }
            // Secret managers and editors end files with a newline; no secret does.
            $value = rtrim($content, "\r\n");
        }
    }
    if ($value === false || $value === '') {
        if ($default === null) {
            aipress_unconfigured("$name is missing from its environment.");
        }
        return $default;
    }
    return $value;
}

function aipress_unconfigured(string $why): never {
    if (!headers_sent()) {
        header('HTTP/1.1 503 Service Unavailable');
    }
    exit("This site is not configured: $why\n");
}

function aipress_flag(string $name): bool {
    return filter_var(getenv($name), FILTER_VALIDATE_BOOLEAN);
}

define('DB_NAME', aipress_env('DB_NAME'));
define('DB_USER', aipress_env('DB_USER'));
define('DB_PASSWORD', aipress_env('DB_PASSWORD'));
// Cloud SQL is reached through its unix socket (/cloudsql/PROJECT:REGION:INSTANCE); WordPress takes
// a socket as `localhost:/path`.
$aipress_socket = getenv('DB_SOCKET');
define('DB_HOST', $aipress_socket ? 'localhost:' . $aipress_socket : aipress_env('DB_HOST', '127.0.0.1'));
unset($aipress_socket);
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');

foreach (['AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY',
          'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT'] as $salt) {
    define($salt, aipress_env($salt));
}

/**
 * The site's address: WP_HOME, or, when the request came for one of AIPRESS_HOSTNAMES (its platform
 * name and its tenant's verified domains), that name, with WP_HOME's scheme and port. WordPress then
 * builds its links and redirects under whichever name a visitor used. Any other Host falls back to
 * WP_HOME: a request cannot make WordPress link to a name of its choosing.
 */
function aipress_home(): string {
    $home = aipress_env('WP_HOME');
    $names = array_filter(explode(',', strtolower((string) getenv('AIPRESS_HOSTNAMES'))));
    $asked = strtolower(preg_replace('/:\d+$/', '', (string) ($_SERVER['HTTP_HOST'] ?? '')));
    if ($asked === '' || !in_array($asked, $names, true)) {
        return $home;
    }
    $parts = parse_url($home);
    $port = isset($parts['port']) ? ':' . $parts['port'] : '';
    return ($parts['scheme'] ?? 'https') . '://' . $asked . $port;
}

define('WP_HOME', aipress_home());
define('WP_SITEURL', getenv('WP_SITEURL') ? aipress_env('WP_SITEURL') : WP_HOME);
define('WP_CONTENT_DIR', aipress_env('WP_CONTENT_DIR', __DIR__ . '/wp-content'));

// The platform updates WordPress; the site must not rewrite its own code.
define('DISALLOW_FILE_EDIT', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
// The cloud image bakes code, plugins and themes in (read-only): nothing to install from the admin.
define('DISALLOW_FILE_MODS', aipress_flag('AIPRESS_READ_ONLY_CODE'));
// On Cloud Run a scheduled job requests wp-cron.php instead of page views starting it.
define('DISABLE_WP_CRON', aipress_flag('DISABLE_WP_CRON'));
define('WP_DEBUG', false);

$table_prefix = 'wp_';

if (!defined('ABSPATH')) {
    define('ABSPATH', __DIR__ . '/');
}
// The image's health check and installer read the configuration without loading WordPress.
if (defined('AIPRESS_CONFIG_ONLY')) {
    return;
}
require_once ABSPATH . 'wp-settings.php';
