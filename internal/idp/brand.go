package idp

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// brandLogoPath is where a logo file (IDP_BRAND_LOGO=/path/to/logo.svg) is served from.
const brandLogoPath = "/brand/logo"

// maxLogoBytes bounds a logo file: it is held in memory and sent with every page.
const maxLogoBytes = 512 << 10

// logo is the operator's logo: a file we serve ourselves, or an https URL pages and emails point to.
type logo struct {
	data        []byte // a file's bytes, served at brandLogoPath
	contentType string
	src         string // what pages put in <img src>: brandLogoPath or the URL
	cspSource   string // the URL's origin, added to the pages' img-src; "" for our own path
}

// loadLogo reads IDP_BRAND_LOGO: an https URL (http only in development), or a PNG, JPEG, GIF,
// WebP or SVG file of at most 512 KiB.
func loadLogo(value string, development bool) (*logo, error) {
	if value == "" {
		return nil, nil
	}
	if strings.Contains(value, "://") {
		u, err := url.Parse(value)
		if err != nil || u.Host == "" || u.User != nil || strings.ContainsAny(value, " \"'<>\\") ||
			!(u.Scheme == "https" || (development && u.Scheme == "http")) {
			return nil, errors.New("idp: IDP_BRAND_LOGO must be an https URL (or a file)")
		}
		return &logo{src: u.String(), cspSource: u.Scheme + "://" + u.Host}, nil
	}
	f, err := os.Open(value)
	if err != nil {
		return nil, fmt.Errorf("idp: IDP_BRAND_LOGO: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, f, maxLogoBytes+1)); err != nil || buf.Len() > maxLogoBytes {
		return nil, fmt.Errorf("idp: IDP_BRAND_LOGO %s: at most 512 KiB", value)
	}
	ct := http.DetectContentType(buf.Bytes())
	switch {
	case ct == "image/png", ct == "image/jpeg", ct == "image/gif", ct == "image/webp":
	case strings.EqualFold(filepath.Ext(value), ".svg") && bytes.Contains(buf.Bytes(), []byte("<svg")):
		ct = "image/svg+xml"
	default:
		return nil, fmt.Errorf("idp: IDP_BRAND_LOGO %s is not a PNG, JPEG, GIF, WebP or SVG image", value)
	}
	return &logo{data: buf.Bytes(), contentType: ct, src: brandLogoPath}, nil
}

// handleBrandLogo serves a logo file. An SVG gets a policy of its own so that, opened directly, no
// script in it runs.
func (s *Server) handleBrandLogo(w http.ResponseWriter, r *http.Request) {
	if s.logo == nil || s.logo.data == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", s.logo.contentType)
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	_, _ = w.Write(s.logo.data)
}

// LogoEmailURL is the absolute URL emails use for IDP_BRAND_LOGO (value): the URL itself, or for
// a file the issuer's brandLogoPath, where the server serves it. "" without a logo.
func LogoEmailURL(value, issuer string) string {
	switch {
	case value == "":
		return ""
	case strings.Contains(value, "://"):
		return value
	default:
		return strings.TrimRight(issuer, "/") + brandLogoPath
	}
}
