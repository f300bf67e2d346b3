<?php
// Installs WordPress for one site with WordPress's own installer. Everything comes from the
// environment (the runtime passes it; nothing is on the command line where `ps` would show it).
define('WP_INSTALLING', true);
$_SERVER['HTTP_HOST'] = getenv('AIPRESS_HOST');
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';
require getenv('AIPRESS_DOCROOT') . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
if (is_blog_installed()) {
    echo "already installed\n";
    exit(0);
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
echo "installed\n";
