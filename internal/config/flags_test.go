package config

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestRegisterFlags(t *testing.T) {
	tests := []struct {
		name  string
		env   env
		args  []string
		check func(t *testing.T, c Config)
	}{
		{"no flags keeps the environment", env{"PORT": "9000", "IDP_LOG_LEVEL": "debug"}, nil, func(t *testing.T, c Config) {
			if c.Port != 9000 || c.LogLevel != "debug" || c.Issuer != "http://localhost:9000" {
				t.Fatalf("port=%d level=%q issuer=%q", c.Port, c.LogLevel, c.Issuer)
			}
		}},
		{"flags override the environment", env{"PORT": "9000", "IDP_DATA_DIR": "/env", "DATABASE_URL": "postgres://env/db"},
			[]string{"--port", "7000", "--data-dir", "/flag", "--database-url", "postgres://flag/db", "--log-level", "ERROR", "--log-format", "text"},
			func(t *testing.T, c Config) {
				if c.Port != 7000 || c.DataDir != "/flag" || c.DatabaseURL != "postgres://flag/db" || c.LogLevel != "error" || c.LogFormat != "text" {
					t.Fatalf("got %v", c)
				}
			}},
		{"development issuer follows --port", env{}, []string{"--port=9999"}, func(t *testing.T, c Config) {
			if c.Issuer != "http://localhost:9999" {
				t.Fatalf("Issuer = %q", c.Issuer)
			}
		}},
		{"explicit --issuer wins whatever the order", env{}, []string{"--issuer", "http://127.0.0.1:1", "--port", "2"}, func(t *testing.T, c Config) {
			if c.Issuer != "http://127.0.0.1:1" || c.Port != 2 {
				t.Fatalf("Issuer = %q, Port = %d", c.Issuer, c.Port)
			}
		}},
		{"ISSUER from the environment survives --port", env{"ISSUER": "https://id.example.com"}, []string{"--port", "2"}, func(t *testing.T, c Config) {
			if c.Issuer != "https://id.example.com" {
				t.Fatalf("Issuer = %q", c.Issuer)
			}
		}},
		{"--env production drops development defaults", env{}, []string{"--env", "production"}, func(t *testing.T, c Config) {
			if !c.Production() || c.Issuer != "" || c.DevClient {
				t.Fatalf("production=%v issuer=%q devclient=%v", c.Production(), c.Issuer, c.DevClient)
			}
		}},
		{"--env development restores them", env{"IDP_ENV": "production"}, []string{"--env", "development"}, func(t *testing.T, c Config) {
			if c.Production() || c.Issuer != "http://localhost:8080" || !c.DevClient {
				t.Fatalf("production=%v issuer=%q devclient=%v", c.Production(), c.Issuer, c.DevClient)
			}
		}},
		{"IDP_DEV_CLIENT=false survives --env development", env{"IDP_ENV": "production", "IDP_DEV_CLIENT": "false"}, []string{"--env", "development"}, func(t *testing.T, c Config) {
			if c.DevClient {
				t.Fatal("DevClient = true")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.env)
			fs := flag.NewFlagSet("idp", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c.RegisterFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestRegisterFlagsBadPort(t *testing.T) {
	c := Default()
	fs := flag.NewFlagSet("idp", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--port", "http"}); err == nil || !strings.Contains(err.Error(), "-port") {
		t.Fatalf("Parse() = %v, want an error naming -port", err)
	}
}

func TestFlagHelp(t *testing.T) {
	c := mustLoad(t, env{"PORT": "9000", "DATABASE_URL": "postgres://idp:" + dbPassword + "@db/idp", "IDP_LOG_FORMAT": "text"})
	fs := flag.NewFlagSet("idp", flag.ContinueOnError)
	var help bytes.Buffer
	fs.SetOutput(&help)
	c.RegisterFlags(fs)
	fs.PrintDefaults()
	out := help.String()

	for _, want := range []string{
		"-env", "IDP_ENV", "-issuer", "ISSUER", "-port", "PORT", "-data-dir", "IDP_DATA_DIR",
		"-database-url", "DATABASE_URL", "-log-level", "IDP_LOG_LEVEL", "-log-format", "IDP_LOG_FORMAT",
		"-port port", "(default 9000)", "(default http://localhost:9000)", "(default text)",
		"(default postgres://idp:xxxxx@db/idp)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, dbPassword) {
		t.Errorf("help leaks the database password:\n%s", out)
	}
}
