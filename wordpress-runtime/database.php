<?php
/**
 * A connection to the site's database as wp-config.php describes it, for the image's health check
 * and installer (which must not load WordPress to ask). The image puts this file at
 * htdocs/_aipress/database.php; requested over HTTP it only defines a function.
 */

/** Connected, or a RuntimeException saying why not. */
function aipress_connect(int $timeout_seconds = 3): mysqli {
    // DB_HOST as WordPress reads it: `host`, `host:port`, or `host:/socket/path` (whose path may
    // itself hold colons, as Cloud SQL's /cloudsql/PROJECT:REGION:INSTANCE does).
    $host = DB_HOST;
    $port = null;
    $socket = null;
    $at = strpos($host, ':/');
    if ($at !== false) {
        $socket = substr($host, $at + 1);
        $host = substr($host, 0, $at);
    } elseif (preg_match('/^(.+):(\d+)$/', $host, $match)) {
        [$host, $port] = [$match[1], (int) $match[2]];
    }
    mysqli_report(MYSQLI_REPORT_OFF);
    $db = mysqli_init();
    // A probe that hangs is worse than one that fails: Cloud Run gives each probe a few seconds.
    $db->options(MYSQLI_OPT_CONNECT_TIMEOUT, $timeout_seconds);
    if (!@$db->real_connect($host, DB_USER, DB_PASSWORD, DB_NAME, $port, $socket)) {
        throw new RuntimeException('the database does not answer: ' . mysqli_connect_error());
    }
    $db->set_charset('utf8mb4');
    return $db;
}
