<?php
/**
 * GET /_aipress/health (the image puts this file at htdocs/_aipress/health.php): Cloud Run's startup
 * and liveness probes. It reads the site's configuration (wp-config.php) but loads none of WordPress,
 * so it stays cheap and says what it checks: 200 when the database answers and holds an installed
 * WordPress, 503 otherwise. Run by php-cli (the entrypoint waiting for the database), its exit code
 * says the same: 0 healthy, 1 the database does not answer, 2 it answers but holds no WordPress.
 */
define('AIPRESS_CONFIG_ONLY', true);
require dirname(__DIR__) . '/wp-config.php';
require __DIR__ . '/database.php';

$answers = $installed = false;
$problem = null;
try {
    $db = aipress_connect();
    $answers = true;
    $db->options(MYSQLI_OPT_READ_TIMEOUT, 3);
    $result = $db->query("SELECT option_value FROM `{$table_prefix}options` WHERE option_name = 'siteurl'");
    $installed = $result !== false && $result->num_rows === 1;
    $problem = $installed ? null : trim('WordPress is not installed in the database. ' . $db->error);
    $db->close();
} catch (RuntimeException $e) {
    $problem = $e->getMessage();
}
if ($problem !== null) {
    // The detail goes to the log only: it can name the database user, and the probe path is public.
    error_log("aipress health: $problem");
}

function aipress_wordpress_version(): string {
    include ABSPATH . 'wp-includes/version.php';
    return $wp_version ?? 'unknown';
}

$healthy = $answers && $installed;
$report = [
    'status' => $healthy ? 'ok' : 'unavailable',
    'database' => $answers ? 'answers' : 'does not answer',
    'installed' => $installed,
    'wordpress' => aipress_wordpress_version(),
];
if (PHP_SAPI === 'cli') {
    echo json_encode($report), "\n";
    exit($healthy ? 0 : ($answers ? 2 : 1));
}
http_response_code($healthy ? 200 : 503);
header('Content-Type: application/json');
header('Cache-Control: no-store');
echo json_encode($report), "\n";
