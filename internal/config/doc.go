// Package config holds the IdP's settings: one Config struct filled from defaults, then the
// environment (Load), then command-line flags (RegisterFlags), and checked once at start by
// Validate, which reports every problem together.
//
// The environment variable names keep the original Flask specification's (DATABASE_URL,
// SECRET_KEY, ISSUER, PORT, TLS_CERT_FILE, TLS_KEY_FILE); new settings start with IDP_. An empty
// variable counts as unset. Values are trimmed of surrounding white space.
//
// Secrets (SECRET_KEY, SECRET_KEY_PREVIOUS, the password in DATABASE_URL, BREVO_API_KEY, SMTP_URL's
// password, VONAGE_API_KEY and VONAGE_API_SECRET) never appear in errors, logs or flag help: log
// the effective configuration with slog (Config implements slog.LogValuer) or fmt (String); both
// redact.
//
// Start-up order in main:
//
//	cfg, loadErr := config.Load(os.Getenv)       // defaults, then environment
//	cfg.RegisterFlags(fs); fs.Parse(args)        // flags override the environment
//	err := errors.Join(loadErr, cfg.Validate())  // every problem at once
//	err = cfg.EnsureSecretKey(logger)            // development: reuse or create <IDP_DATA_DIR>/secret_key
//	logger.Info("configuration", "config", cfg)  // secrets redacted
//	w := cfg.SMSWarning()                        // without Vonage: log w as a warning, not an error
package config
