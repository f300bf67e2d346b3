<?php
/**
 * Plugin Name: AIPress page cache
 * Description: Tells the caches in front of the site which pages any visitor may be given (Cache-Control),
 * and has them emptied when the site's content changes: a post published, updated or deleted, a comment
 * approved, the theme, a menu, a widget or the site's settings changed. The platform keeps the pages
 * (nginx on one server, a CDN on the cloud); this plugin holds no credential but the site's own purge
 * token, which empties this site's cache and does nothing else. See docs/page-cache.md.
 */

if (!defined('ABSPATH')) {
    exit;
}

/**
 * A value the platform gives the site: a FastCGI parameter of its nginx (one server) or its
 * environment (Cloud Run).
 */
function aipress_cache_setting(string $name): string {
    $value = $_SERVER[$name] ?? getenv($name);
    return is_string($value) ? trim($value) : '';
}

/** How long caches may keep an anonymous page; 0 when the platform keeps none for this site. */
function aipress_cache_seconds(): int {
    return max(0, (int) aipress_cache_setting('AIPRESS_PAGE_CACHE_SECONDS'));
}

// What this plugin sends until the page is known to be one any visitor may be given: a page it never
// gets to judge (a fatal error, a theme that flushes half of it early) is never kept by a cache.
const AIPRESS_CACHE_PRIVATE = 'private, no-store, max-age=0';

// --- Which pages may be kept -------------------------------------------------------------------------

add_action('init', function () {
    if (aipress_cache_seconds() > 0 && !headers_sent()) {
        header('Cache-Control: ' . AIPRESS_CACHE_PRIVATE);
    }
}, 0);

/** Cookies of a visitor who is given pages of their own (signed in, a comment author, a cart...). */
function aipress_cache_personal_cookie(): bool {
    foreach (array_keys($_COOKIE) as $name) {
        if (preg_match('/^(wordpress_logged_in_|wordpress_sec_|wp-postpass_|comment_author_|wp_woocommerce_session_|woocommerce_items_in_cart|woocommerce_cart_hash|wordpress_no_cache)/', (string) $name)) {
            return true;
        }
    }
    return false;
}

/** Whether this request's page could be any visitor's, as far as can be told before it is made. */
function aipress_cache_request_may_be_kept(): bool {
    $method = strtoupper($_SERVER['REQUEST_METHOD'] ?? 'GET');
    return in_array($method, ['GET', 'HEAD'], true)
        && empty($_SERVER['HTTP_AUTHORIZATION'])
        && !is_user_logged_in()
        && !is_admin()
        && !is_preview()
        && !is_customize_preview()
        && !aipress_cache_personal_cookie();
}

/** Whether the page just made may be given to any visitor (asked once it is whole). */
function aipress_cache_page_may_be_kept(): bool {
    if (defined('DONOTCACHEPAGE') && DONOTCACHEPAGE) {
        return false;
    }
    if (!in_array(http_response_code(), [200, 301, 404], true)) {
        return false;
    }
    if (is_singular() && post_password_required()) {
        return false;
    }
    foreach (['is_cart', 'is_checkout', 'is_account_page'] as $shop_page) {
        if (function_exists($shop_page) && $shop_page()) {
            return false;
        }
    }
    $commenter = wp_get_current_commenter();
    if (!empty($commenter['comment_author'])) {
        return false;  // their comment awaiting moderation is on the page
    }
    foreach (headers_list() as $header) {
        [$name, $value] = array_map('trim', explode(':', $header, 2) + [1 => '']);
        if (strcasecmp($name, 'Set-Cookie') === 0) {
            return false;
        }
        // Anything but this plugin's own default says the page is someone's (nocache_headers()...).
        if (strcasecmp($name, 'Cache-Control') === 0 && $value !== AIPRESS_CACHE_PRIVATE) {
            return false;
        }
    }
    return aipress_cache_request_may_be_kept();
}

/** The output buffer's end: the page is whole, its headers not yet sent; say whether it may be kept. */
function aipress_cache_finish(string $buffer, int $phase): string {
    static $decided = false;
    if ($decided || headers_sent()) {
        return $buffer;
    }
    $decided = true;
    // Flushed before its end, the page was judged on a part of it: it stays private.
    if (($phase & PHP_OUTPUT_HANDLER_FINAL) && aipress_cache_page_may_be_kept()) {
        $seconds = aipress_cache_seconds();
        header("Cache-Control: public, max-age=0, s-maxage=$seconds");
    }
    return $buffer;
}

add_action('template_redirect', function () {
    if (aipress_cache_seconds() > 0 && aipress_cache_request_may_be_kept()) {
        ob_start('aipress_cache_finish');
    }
}, PHP_INT_MIN);

// --- When the site's pages change ----------------------------------------------------------------

/** Empty the site's cache at the end of this request (every page: a change shows on many of them). */
function aipress_cache_purge_later(string $why): void {
    $GLOBALS['aipress_cache_purge'][$why] = true;
}

/** Whether posts of this type show on the site: public types, and what block themes build pages of. */
function aipress_cache_shown_type(string $post_type): bool {
    $built_from = ['wp_template', 'wp_template_part', 'wp_global_styles', 'wp_navigation', 'wp_block'];
    return in_array($post_type, $built_from, true) || is_post_type_viewable($post_type);
}

add_action('transition_post_status', function ($new_status, $old_status, $post) {
    if (($new_status !== 'publish' && $old_status !== 'publish') || !aipress_cache_shown_type($post->post_type)) {
        return;
    }
    $changed = $old_status !== 'publish' ? 'published' : ($new_status !== 'publish' ? 'unpublished' : 'updated');
    aipress_cache_purge_later("{$post->post_type} $changed");
}, 10, 3);

add_action('before_delete_post', function ($post_id) {
    $post = get_post($post_id);
    if ($post && $post->post_status === 'publish' && aipress_cache_shown_type($post->post_type)) {
        aipress_cache_purge_later("{$post->post_type} deleted");
    }
});

add_action('transition_comment_status', function ($new_status, $old_status) {
    if ($new_status === 'approved' || $old_status === 'approved') {
        aipress_cache_purge_later($new_status === 'approved' ? 'comment approved' : 'comment withdrawn');
    }
}, 10, 2);

add_action('comment_post', function ($comment_id, $approved) {
    if ($approved === 1 || $approved === '1') {
        aipress_cache_purge_later('comment published');
    }
}, 10, 2);

add_action('edit_comment', function ($comment_id) {
    $comment = get_comment($comment_id);
    if ($comment && $comment->comment_approved === '1') {
        aipress_cache_purge_later('comment edited');
    }
});

add_action('switch_theme', function () {
    aipress_cache_purge_later('theme changed');
});
add_action('customize_save_after', function () {
    aipress_cache_purge_later('theme customized');
});
foreach (['wp_update_nav_menu', 'wp_delete_nav_menu', 'wp_update_nav_menu_item'] as $menu_hook) {
    add_action($menu_hook, function () {
        aipress_cache_purge_later('menu changed');
    });
}
foreach (['edited_term', 'delete_term'] as $term_hook) {
    add_action($term_hook, function () {
        aipress_cache_purge_later('category or tag changed');
    });
}

// Settings that show on pages (not the many options plugins keep for themselves: transients, cron...).
add_action('updated_option', function ($option) {
    $shown = ['blogname', 'blogdescription', 'sidebars_widgets', 'show_on_front', 'page_on_front',
              'page_for_posts', 'posts_per_page', 'permalink_structure', 'date_format', 'time_format',
              'timezone_string', 'gmt_offset', 'site_icon', 'WPLANG', 'blog_public', 'stylesheet', 'template'];
    if (in_array($option, $shown, true) || str_starts_with($option, 'widget_') || str_starts_with($option, 'theme_mods_')) {
        aipress_cache_purge_later('settings changed');
    }
});

/** The site's purge token: given as it is (Cloud Run), or as a file of the site's (one server). */
function aipress_cache_token(): string {
    $token = aipress_cache_setting('AIPRESS_CACHE_PURGE_TOKEN');
    $file = aipress_cache_setting('AIPRESS_CACHE_PURGE_TOKEN_FILE');
    if ($token === '' && $file !== '') {
        $token = trim((string) @file_get_contents($file));
    }
    return $token;
}

// Last thing of the request that changed something (once everything is saved), before its answer
// ends: whoever made the change sees the new pages as soon as they have their answer.
add_action('shutdown', function () {
    $reasons = array_keys($GLOBALS['aipress_cache_purge'] ?? []);
    $url = aipress_cache_setting('AIPRESS_CACHE_PURGE_URL');
    if (!$reasons || $url === '') {
        return;  // nothing changed, or no cache is kept for this site (the installer, a command line)
    }
    $headers = ['Content-Type' => 'application/json', 'X-AIPress-Purge-Token' => aipress_cache_token()];
    $host = aipress_cache_setting('AIPRESS_CACHE_PURGE_HOST');
    if ($host !== '') {
        $headers['Host'] = $host;  // the site's own server block, which forwards it to the platform
    }
    $reason = substr(implode(', ', $reasons), 0, 200);
    $response = wp_remote_post($url, [
        'headers' => $headers,
        'body' => wp_json_encode(['reason' => $reason]),
        'timeout' => 15,
        'redirection' => 0,
    ]);
    $status = is_wp_error($response) ? $response->get_error_message() : wp_remote_retrieve_response_code($response);
    if (!in_array($status, [200, 202], true)) {
        error_log("AIPress: the page cache could not be emptied after “{$reason}” ($status): pages may stay "
            . 'as they were for up to ' . aipress_cache_seconds() . ' seconds.');
    }
}, 1000);
