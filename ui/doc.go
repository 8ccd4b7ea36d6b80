// Package ui holds the hosted pages: HTML templates and static assets, embedded into the binary.
// It only embeds and parses; the handlers that fill the pages live in internal/idp.
package ui
