package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

const healthcheckUsage = `Usage: idp healthcheck [--url URL]

Asks the local server whether it is ready (GET /readyz: database reachable, migrations current,
signing key loaded) and exits 0 when it is, 1 otherwise. For container HEALTHCHECKs: no curl
needed. The default URL is http://127.0.0.1:$PORT/readyz (https when TLS_CERT_FILE is set; the
certificate is not verified, the check only talks to this machine).

Flags:
`

func cmdHealthcheck(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "healthcheck", healthcheckUsage)
	rawURL := fs.String("url", "", "URL to check (default http://127.0.0.1:$PORT/readyz)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	cfg, err := loadConfig(e, fs, args)
	if err != nil {
		return err
	}
	u := *rawURL
	if u == "" {
		scheme := "http"
		if cfg.TLSCertFile != "" {
			scheme = "https"
		}
		u = scheme + "://127.0.0.1:" + strconv.Itoa(cfg.Port) + "/readyz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return usagef("healthcheck: --url: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback only
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %s: not reachable", u)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", u, resp.StatusCode)
	}
	fmt.Fprintln(e.stdout, "ready")
	return nil
}
