<?php
// render.php TEMPLATE > OUTPUT: replace ${NAME} (capitals, digits, underscores) with the environment
// variable NAME, leaving anything else (nginx's own $variables) alone. Same rules as the local
// runtime's Python string.Template.safe_substitute, so both render the same file from the same inputs.
$template = file_get_contents($argv[1]);
echo preg_replace_callback('/\$\{([A-Z_][A-Z0-9_]*)\}/', function ($m) {
    $value = getenv($m[1]);
    return $value === false ? $m[0] : $value;
}, $template);
