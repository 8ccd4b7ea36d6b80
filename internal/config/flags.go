package config

import (
	"errors"
	"flag"
	"strconv"
	"strings"
)

// RegisterFlags defines the command-line flags that override the environment on fs: --env,
// --issuer, --port, --data-dir, --database-url, --log-level and --log-format. Call it after Load:
// each flag's default is the value Load found, and its help text names the environment variable.
// Parsing the flags writes into c. As with the environment, the development issuer follows --port
// and --env unless ISSUER or --issuer was given.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(&flagValue{
		get: func() string { return c.Env },
		set: func(v string) error { c.Env, c.envExplicit = strings.ToLower(v), true; c.derive(); return nil },
	}, "env", "deployment `environment`: development or production (env "+varEnv+")")
	fs.Var(&flagValue{
		get: func() string { return c.Issuer },
		set: func(v string) error { c.Issuer, c.issuerExplicit = v, v != ""; c.derive(); return nil },
	}, "issuer", "public `URL` of this server, the OpenID issuer (env "+varIssuer+")")
	fs.Var(&flagValue{
		get: func() string { return strconv.Itoa(c.Port) },
		set: func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return errors.New("not a whole number")
			}
			c.Port = n
			c.derive()
			return nil
		},
	}, "port", "`port` to listen on (env "+varPort+")")
	fs.Var(&flagValue{
		get: func() string { return c.DataDir },
		set: func(v string) error { c.DataDir = v; return nil },
	}, "data-dir", "`directory` for the embedded SQLite database and the development secret key (env "+varDataDir+")")
	fs.Var(&flagValue{
		// The default shown in -help must not reveal the password.
		get: func() string {
			if c.DatabaseURL == "" {
				return ""
			}
			return RedactURL(c.DatabaseURL)
		},
		set: func(v string) error { c.DatabaseURL = v; return nil },
	}, "database-url", "PostgreSQL `URL`; empty for embedded SQLite (env "+varDatabaseURL+
		"; prefer the environment: command lines are visible to other users)")
	fs.Var(&flagValue{
		get: func() string { return c.LogLevel },
		set: func(v string) error { c.LogLevel = strings.ToLower(v); return nil },
	}, "log-level", "log `level`: debug, info, warn or error (env "+varLogLevel+")")
	fs.Var(&flagValue{
		get: func() string { return c.LogFormat },
		set: func(v string) error { c.LogFormat = strings.ToLower(v); return nil },
	}, "log-format", "log `format`: json, text, or auto (text on a terminal in development) (env "+varLogFormat+")")
}

// flagValue is a flag.Value backed by a Config field. The flag package builds zero flagValues to
// decide whether to print a default, so String must work on one.
type flagValue struct {
	get func() string
	set func(string) error
}

func (v *flagValue) String() string {
	if v == nil || v.get == nil {
		return ""
	}
	return v.get()
}

func (v *flagValue) Set(s string) error { return v.set(strings.TrimSpace(s)) }
