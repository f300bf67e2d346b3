<?php
/**
 * Plugin Name: AIPress mail
 * Description: Sites send mail through SMTP. PHP's mail() is switched off on AIPress: it runs the
 * system's sendmail through a shell, which a site could point at code of its own. Install any SMTP
 * plugin (WP Mail SMTP, Post SMTP...) to send mail; until then, wp_mail() fails cleanly (it returns
 * false and fires wp_mail_failed) instead of ending the request with a fatal error.
 */

// Before PHPMailer is even built: with no SMTP plugin listening, say so and stop.
add_filter('pre_wp_mail', function ($short_circuit, $atts) {
    if ($short_circuit !== null || function_exists('mail') || aipress_mail_plugins() > 0) {
        return $short_circuit;
    }
    do_action('wp_mail_failed', new WP_Error('wp_mail_failed', aipress_mail_message(), $atts));
    return false;
}, PHP_INT_MAX, 2);

// Callbacks on phpmailer_init besides ours: an SMTP plugin configuring PHPMailer.
function aipress_mail_plugins() {
    $hook = $GLOBALS['wp_filter']['phpmailer_init'] ?? null;
    $count = 0;
    foreach ($hook ? $hook->callbacks : [] as $callbacks) {
        $count += count($callbacks);
    }
    return $count - (has_action('phpmailer_init', 'aipress_mail_needs_smtp') === false ? 0 : 1);
}

// Last word on PHPMailer: a plugin that left it on mail() gets a PHPMailer error, which wp_mail()
// catches, rather than a call to a function that does not exist.
function aipress_mail_needs_smtp($phpmailer) {
    if ($phpmailer->Mailer === 'mail' && !function_exists('mail')) {
        $phpmailer->Mailer = 'smtp';
        $phpmailer->Host = '';
        $phpmailer->SMTPAutoTLS = false;
    }
}
add_action('phpmailer_init', 'aipress_mail_needs_smtp', PHP_INT_MAX);

function aipress_mail_message() {
    return 'This site cannot send mail yet: AIPress sends mail through SMTP. Install an SMTP plugin (such as WP Mail SMTP) and give it your mail provider.';
}
