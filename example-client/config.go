package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
)

const usage = `example-client — the FinTech dashboard, a relying party of the FinTech IdP

Usage:
  example-client [--help]

It is configured by its environment:
  PORT           port to listen on (default 5000; 0 = a free port the system picks, named in
                 the "dashboard listening" log line: then set REDIRECT_URL)
  ISSUER         the IdP's issuer URL (default http://localhost:8080)
  CLIENT_ID      this app's client id at the IdP (default fintech-dashboard)
  CLIENT_SECRET  this app's client secret (default dev-secret)
  REDIRECT_URL   the callback URL registered for the client
                 (default http://localhost:$PORT/callback); its origin + "/" is where the IdP
                 sends the browser after sign-out

The defaults match the development client that "go run ./cmd/idp" registers. When the IdP is not
up yet the dashboard says so on its pages and keeps retrying.
`

// config is the dashboard's whole configuration: defaults, then the environment.
type config struct {
	Port         string
	Issuer       string
	ClientID     string
	ClientSecret string
	RedirectURL  string

	// Derived from RedirectURL by validate.
	rootURL      string // origin + "/": post_logout_redirect_uri
	callbackPath string
	secure       bool // https: cookies get Secure
}

func loadConfig(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	fs := flag.NewFlagSet("example-client", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() { fmt.Fprint(stdout, usage) }
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	or := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	c := config{
		Port:         or("PORT", "5000"),
		Issuer:       or("ISSUER", "http://localhost:8080"),
		ClientID:     or("CLIENT_ID", "fintech-dashboard"),
		ClientSecret: or("CLIENT_SECRET", "dev-secret"),
		// The callback follows PORT unless REDIRECT_URL says otherwise, so `PORT=5050` alone works
		// against a development IdP (whose dashboard client accepts any localhost port).
		RedirectURL: or("REDIRECT_URL", "http://localhost:"+or("PORT", "5000")+"/callback"),
	}
	return c, c.validate()
}

// validate reports every problem at once and fills in the derived fields.
func (c *config) validate() error {
	var errs []error
	if p, err := strconv.Atoi(c.Port); err != nil || p < 0 || p > 65535 {
		errs = append(errs, fmt.Errorf("PORT %q is not a port number", c.Port))
	}
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("ISSUER %q is not an http(s) URL", c.Issuer))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("CLIENT_ID is empty"))
	}
	u, err := url.Parse(c.RedirectURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path == "" || u.Path == "/" {
		errs = append(errs, fmt.Errorf("REDIRECT_URL %q is not an http(s) URL with a callback path", c.RedirectURL))
	} else {
		c.rootURL = u.Scheme + "://" + u.Host + "/"
		c.callbackPath = u.Path
		c.secure = u.Scheme == "https"
	}
	return errors.Join(errs...)
}
