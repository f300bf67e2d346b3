<?php
// Installs WordPress for one site with WordPress's own installer. Everything comes from the
// environment (the runtime passes it; nothing is on the command line where `ps` would show it).
// The last line printed says how it went: `AIPRESS-RESULT installed|already-installed|partial`.
// Anything else (a WordPress error page, a PHP fatal error) is a failure, whatever the exit code.
define('WP_INSTALLING', true);
$_SERVER['HTTP_HOST'] = getenv('AIPRESS_HOST');
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';
require getenv('AIPRESS_DOCROOT') . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
// A finished install sets aipress_installed last. Tables without it are an install that was cut
// short (a killed worker): the runtime then starts over with an empty database.
if (is_blog_installed()) {
    if (get_option('aipress_installed') === '1') {
        echo "AIPRESS-RESULT already-installed\n";
        exit(0);
    }
    echo "AIPRESS-RESULT partial\n";
    exit(3);
}
$result = wp_install(
    getenv('AIPRESS_TITLE'),
    getenv('AIPRESS_ADMIN_LOGIN'),
    getenv('AIPRESS_ADMIN_EMAIL'),
    true,
    '',
    wp_slash(getenv('AIPRESS_ADMIN_PASSWORD'))
);
if (is_wp_error($result)) {
    fwrite(STDERR, $result->get_error_message() . "\n");
    exit(1);
}
update_option('permalink_structure', '/%postname%/');
update_option('aipress_installed', '1');
echo "AIPRESS-RESULT installed\n";
