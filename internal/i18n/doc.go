// Package i18n puts the hosted pages and the emails into the person's language: English (the
// source text and the fallback), German and French. Messages are keyed by their English text;
// locales/<lang>.json maps each to its translation, and golang.org/x/text's catalog and printer
// format them. A text that reaches a page already formatted ("Use at least 15 characters.") is
// recognised by the pattern of its key ("Use at least %d characters.") and translated with the
// same values, so handlers keep writing plain English. The choice of language: the page's own
// switch (?lang=), then OIDC's ui_locales, both remembered in a cookie, then Accept-Language.
package i18n
