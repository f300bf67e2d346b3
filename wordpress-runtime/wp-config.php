<?php
/**
 * AIPress: one wp-config.php for every site, on every runtime. Everything site-specific comes from
 * the environment (php-fpm's pool locally, the container's environment on Cloud Run), so the local
 * runtime and the cloud image use this file unchanged.
 */

function aipress_env(string $name, ?string $default = null): string {
    $value = getenv($name);
    if ($value === false || $value === '') {
        if ($default === null) {
            header('HTTP/1.1 503 Service Unavailable');
            exit("This site is not configured: $name is missing from its environment.\n");
        }
        return $default;
    }
    return $value;
}

define('DB_NAME', aipress_env('DB_NAME'));
define('DB_USER', aipress_env('DB_USER'));
define('DB_PASSWORD', aipress_env('DB_PASSWORD'));
define('DB_HOST', aipress_env('DB_HOST', '127.0.0.1'));
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');

foreach (['AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY',
          'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT'] as $salt) {
    define($salt, aipress_env($salt));
}

define('WP_HOME', aipress_env('WP_HOME'));
define('WP_SITEURL', aipress_env('WP_SITEURL', WP_HOME));
define('WP_CONTENT_DIR', aipress_env('WP_CONTENT_DIR', __DIR__ . '/wp-content'));

// The platform updates WordPress; the site must not rewrite its own code.
define('DISALLOW_FILE_EDIT', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_DEBUG', false);

$table_prefix = 'wp_';

if (!defined('ABSPATH')) {
    define('ABSPATH', __DIR__ . '/');
}
require_once ABSPATH . 'wp-settings.php';
