<?php
/**
 * php install.php DOCROOT: run by the image's entrypoint at every start, before the site serves.
 *
 * Installs WordPress with its own installer when the database holds none yet (admin login and email
 * WP_ADMIN_EMAIL, password WP_ADMIN_PASSWORD or WP_ADMIN_PASSWORD_FILE, title WP_TITLE), and on every
 * start sets the title (option blogname) to WP_TITLE: a title change reaches the site as a new
 * revision with a new WP_TITLE. It never installs over an existing WordPress. After the install the
 * platform drops the admin password from the environment; its absence is then normal.
 *
 * Several instances may start at once (a first deploy that scales out): a lock in the database, taken
 * before WordPress loads (loading it beside a half-made install fails), lets one install while the
 * others wait and then find it installed. An install cut short (the container stopped mid-way) leaves
 * its marker table behind; the next start drops what it made and starts over.
 *
 * The last line printed says how it went: `AIPRESS-RESULT installed|already-installed ...`. Anything
 * else (a WordPress error page, a PHP fatal error) is a failure, whatever the exit code.
 */
define('WP_INSTALLING', true);  // also keeps plugins and the theme unloaded: only core runs here

function aipress_fail(string $why): never {
    fwrite(STDERR, "aipress install: $why\n");
    exit(1);
}

$docroot = $argv[1] ?? aipress_fail('usage: php install.php DOCROOT');
$home = getenv('WP_HOME') ?: aipress_fail('WP_HOME is missing from the environment.');
$title = getenv('WP_TITLE');
if ($title === false || trim($title) === '') {
    aipress_fail('WP_TITLE is missing from the environment.');
}
// What WordPress reads of a request; nothing of the command line, where `ps` would show it.
$url = parse_url($home);
$_SERVER['HTTP_HOST'] = ($url['host'] ?? 'localhost') . (isset($url['port']) ? ':' . $url['port'] : '');
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';
if (($url['scheme'] ?? '') === 'https') {
    $_SERVER['HTTPS'] = 'on';
}

// wp-load.php's work, in two halves: the configuration first, WordPress once the lock is held.
define('ABSPATH', rtrim($docroot, '/') . '/');
define('AIPRESS_CONFIG_ONLY', true);
require ABSPATH . 'wp-config.php';
require ABSPATH . '_aipress/database.php';
try {
    $lock_db = aipress_connect(10);
} catch (RuntimeException $e) {
    aipress_fail($e->getMessage());
}
// One lock per database: the Cloud SQL instance is shared by many sites.
$lock = $lock_db->real_escape_string('aipress-install-' . md5(DB_NAME));
if ($lock_db->query("SELECT GET_LOCK('$lock', 300)")->fetch_row()[0] !== '1') {
    aipress_fail('another instance held the install lock for 5 minutes.');
}

$marker = $table_prefix . 'aipress_install';
$cut_short = $lock_db->query("SHOW TABLES LIKE '" . $lock_db->real_escape_string($marker) . "'")->num_rows > 0;
if ($cut_short) {
    // The site was never served, so nothing of value is in these tables: drop what the attempt made.
    $pattern = $lock_db->real_escape_string(addcslashes($table_prefix, '_%\\') . '%');
    $tables = $lock_db->query("SELECT table_name FROM information_schema.tables
        WHERE table_schema = DATABASE() AND table_name LIKE '$pattern'")->fetch_all();
    foreach ($tables as [$table]) {
        $lock_db->query('DROP TABLE IF EXISTS `' . str_replace('`', '``', $table) . '`');
    }
}

require_once ABSPATH . 'wp-settings.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

if (is_blog_installed()) {
    // Installed by us (aipress_installed) or brought in some other way (a migrated database): kept.
    $result = 'already-installed';
} else {
    $password = aipress_env('WP_ADMIN_PASSWORD', '');
    $email = getenv('WP_ADMIN_EMAIL');
    if ($password === '' || !$email) {
        aipress_fail('WordPress is not installed yet, and WP_ADMIN_EMAIL and WP_ADMIN_PASSWORD (or WP_ADMIN_PASSWORD_FILE) are needed to install it.');
    }
    $lock_db->query("CREATE TABLE IF NOT EXISTS `$marker` (started_at DATETIME NOT NULL)");
    $installed = wp_install($title, $email, $email, true, '', wp_slash($password));
    if (is_wp_error($installed)) {
        aipress_fail($installed->get_error_message());
    }
    update_option('permalink_structure', '/%postname%/');
    update_option('aipress_installed', '1');
    $lock_db->query("DROP TABLE IF EXISTS `$marker`");
    $result = $cut_short ? 'installed (an earlier attempt was cut short)' : 'installed';
}

update_option('blogname', $title);
$lock_db->query("SELECT RELEASE_LOCK('$lock')");
// WordPress keeps the title HTML-escaped; the log says it as typed.
echo "AIPRESS-RESULT $result; title “", wp_specialchars_decode(get_option('blogname'), ENT_QUOTES), "”\n";
