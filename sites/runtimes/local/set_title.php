<?php
// Sets the site's title (WordPress's blogname) from AIPRESS_TITLE, as the site's user.
$_SERVER['HTTP_HOST'] = getenv('AIPRESS_HOST');
$_SERVER['REQUEST_URI'] = '/';
require getenv('AIPRESS_DOCROOT') . '/wp-load.php';
update_option('blogname', getenv('AIPRESS_TITLE'));
echo "\nAIPRESS-RESULT title ", get_option('blogname'), "\n";
