package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	dfparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/pelletier/go-toml/v2"

	"github.com/fintech-idp/idp/internal/config"
	"github.com/fintech-idp/idp/internal/idp"
)

// root is the repository root, where the deployment files live.
const root = ".."

// The demo's fixed facts, shared by docker-compose.yml, the Dockerfile and the development client
// the IdP registers (internal/idp.EnsureDevClient).
const (
	issuer          = "http://localhost:8080"
	idpPort         = 8080
	dashboardPort   = 5000
	mailpitUIPort   = 8025
	mailpitSMTPPort = 1025
	postgresPort    = 5432
	metricsPort     = 9090 // IDP_METRICS_ADDR's default: never published
	redirectURL     = "http://localhost:5000/callback"
)

// demoPorts are the host ports of one compose run: the defaults, or what IDP_PORT,
// DASHBOARD_PORT and MAILPIT_PORT chose.
type demoPorts struct{ idp, dashboard, mailpit uint32 }

var defaultPorts = demoPorts{idpPort, dashboardPort, mailpitUIPort}

func (d demoPorts) issuer() string { return fmt.Sprintf("http://localhost:%d", d.idp) }
func (d demoPorts) redirectURL() string {
	return fmt.Sprintf("http://localhost:%d/callback", d.dashboard)
}

// composeOnlyVars are the names in .env.example that the IdP does not read: docker-compose.yml
// interpolates them for the db service and DATABASE_URL.
var composeOnlyVars = []string{"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}

func readRepoFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

// ---------------------------------------------------------------- docker-compose.yml

// loadCompose loads docker-compose.yml as `docker compose` would in a copy of the repository root
// that holds only that file and, with dotEnv, .env.example copied to .env (the README's
// `cp .env.example .env`). The OS environment is left out so the result does not depend on the
// shell the test runs in.
func loadCompose(t *testing.T, dotEnv bool, environ ...string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), readRepoFile(t, "docker-compose.yml"), 0o600); err != nil {
		t.Fatal(err)
	}
	if dotEnv {
		if err := os.WriteFile(filepath.Join(dir, ".env"), readRepoFile(t, ".env.example"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "docker-compose.yml")},
		cli.WithName("fintech-idp"),
		cli.WithWorkingDirectory(dir),
		cli.WithEnv(environ), // the shell's variables, e.g. IDP_PORT=9080
		cli.WithEnvFiles(),   // the working directory's .env, when there is one
		cli.WithDotEnv,
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return project
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("docker-compose.yml: service %q: %v", name, err)
	}
	return s
}

// published returns the container ports a service publishes, keyed by container port, and fails
// when a port is published on another host port or on more than the loopback interface.
func published(t *testing.T, s types.ServiceConfig) map[uint32]bool {
	t.Helper()
	got := map[uint32]bool{}
	for _, p := range s.Ports {
		if p.Published == "" {
			continue
		}
		got[p.Target] = true
		if p.Published != strconv.FormatUint(uint64(p.Target), 10) {
			t.Errorf("%s publishes container port %d on host port %s: the demo's URLs expect the same number", s.Name, p.Target, p.Published)
		}
		if p.HostIP != "127.0.0.1" {
			t.Errorf("%s publishes port %d on %q: bind it to 127.0.0.1, the demo has development secrets", s.Name, p.Target, p.HostIP)
		}
	}
	return got
}

func env(t *testing.T, s types.ServiceConfig, name string) string {
	t.Helper()
	v, ok := s.Environment[name]
	if !ok || v == nil {
		t.Errorf("%s: environment has no %s", s.Name, name)
		return ""
	}
	return *v
}

func TestCompose(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dotEnv  bool
		environ []string
		ports   demoPorts
	}{
		{"without .env", false, nil, defaultPorts},
		{"with .env copied from .env.example", true, nil, defaultPorts},
		{"other host ports", false, []string{"IDP_PORT=9080", "DASHBOARD_PORT=5050", "MAILPIT_PORT=8026"}, demoPorts{9080, 5050, 8026}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := loadCompose(t, tc.dotEnv, tc.environ...)
			var names []string
			for name := range p.Services {
				names = append(names, name)
			}
			slices.Sort(names)
			if want := []string{"dashboard", "db", "idp", "mailpit"}; !slices.Equal(names, want) {
				t.Errorf("services = %v, want %v", names, want)
			}
			if _, ok := p.Volumes["postgres_data"]; !ok {
				t.Errorf("the named volume postgres_data is not declared (volumes: %v)", p.Volumes)
			}
			t.Run("db", func(t *testing.T) { checkDB(t, p) })
			t.Run("idp", func(t *testing.T) { checkIdP(t, p, tc.ports) })
			t.Run("dashboard", func(t *testing.T) { checkDashboard(t, p, tc.ports) })
			t.Run("mailpit", func(t *testing.T) { checkMailpit(t, p, tc.ports) })
		})
	}
}

func checkDB(t *testing.T, p *types.Project) {
	db := service(t, p, "db")
	if db.Image != "postgres:17" {
		t.Errorf("db image = %q, want postgres:17", db.Image)
	}
	if !slices.ContainsFunc(db.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeVolume && v.Source == "postgres_data" && v.Target == "/var/lib/postgresql/data"
	}) {
		t.Errorf("db does not mount the volume postgres_data at /var/lib/postgresql/data: %+v", db.Volumes)
	}
	if db.HealthCheck == nil || !slices.Contains(db.HealthCheck.Test, "pg_isready") {
		t.Fatalf("db healthcheck does not run pg_isready: %+v", db.HealthCheck)
	}
	// pg_isready must ask for the role and database the container creates.
	test := db.HealthCheck.Test
	for flag, envName := range map[string]string{"-U": "POSTGRES_USER", "-d": "POSTGRES_DB"} {
		i := slices.Index(test, flag)
		if i < 0 || i+1 >= len(test) || test[i+1] != env(t, db, envName) {
			t.Errorf("db healthcheck %v: %s should be %s (%q)", test, flag, envName, env(t, db, envName))
		}
	}
	// Nothing on the host needs the database, and a published 5432 collides with a local PostgreSQL.
	if len(db.Ports) > 0 {
		t.Errorf("db publishes %+v: keep PostgreSQL on the compose network", db.Ports)
	}
}

func checkIdP(t *testing.T, p *types.Project, dp demoPorts) {
	s := service(t, p, "idp")
	if s.Build == nil || s.Build.Target != "idp" {
		t.Fatalf("idp build = %+v, want target idp", s.Build)
	}
	if s.Build.Context != p.WorkingDir {
		t.Errorf("idp build context = %q, want the repository root %q", s.Build.Context, p.WorkingDir)
	}
	if d, ok := s.DependsOn["db"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("idp depends_on db = %+v, want condition service_healthy", d)
	}
	if d, ok := s.DependsOn["mailpit"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("idp depends_on mailpit = %+v, want condition service_healthy", d)
	}
	ports := published(t, s)
	// The dashboard's port is published here: it lives in this service's network namespace.
	for _, want := range []uint32{dp.idp, dp.dashboard} {
		if !ports[want] {
			t.Errorf("idp does not publish %d", want)
		}
	}
	if ports[metricsPort] {
		t.Errorf("idp publishes the metrics port %d: /metrics must stay private", metricsPort)
	}
	for _, port := range s.Ports {
		if port.Published == strconv.Itoa(metricsPort) {
			t.Errorf("idp publishes host port %d", metricsPort)
		}
	}

	// The image runs as production unless told otherwise; this topology is the development demo on
	// plain http, so it must say so.
	if got := env(t, s, "IDP_ENV"); got != "development" {
		t.Errorf("idp IDP_ENV = %q, want development (the image defaults to production)", got)
	}
	if got := env(t, s, "ISSUER"); got != dp.issuer() {
		t.Errorf("idp ISSUER = %q, want %q", got, dp.issuer())
	}
	if got := env(t, s, "SMTP_URL"); got != "smtp://mailpit:"+strconv.Itoa(mailpitSMTPPort) {
		t.Errorf("idp SMTP_URL = %q, want smtp://mailpit:%d", got, mailpitSMTPPort)
	}
	// DATABASE_URL must name the db service and the role, password and database it creates.
	db := service(t, p, "db")
	u, err := url.Parse(env(t, s, "DATABASE_URL"))
	if err != nil {
		t.Fatalf("idp DATABASE_URL does not parse: %v", err)
	}
	pass, _ := u.User.Password()
	if u.Scheme != "postgres" || u.Host != "db:"+strconv.Itoa(postgresPort) ||
		u.User.Username() != env(t, db, "POSTGRES_USER") || pass != env(t, db, "POSTGRES_PASSWORD") ||
		strings.TrimPrefix(u.Path, "/") != env(t, db, "POSTGRES_DB") {
		t.Errorf("idp DATABASE_URL %s does not match the db service (user %q, database %q)",
			config.RedactURL(u.String()), env(t, db, "POSTGRES_USER"), env(t, db, "POSTGRES_DB"))
	}

	// The environment compose hands the IdP is a valid development configuration that sends mail
	// to Mailpit.
	cfg, err := config.Load(func(name string) string {
		if v, ok := s.Environment[name]; ok && v != nil {
			return *v
		}
		return ""
	})
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatalf("the idp service's environment is not a valid configuration:\n%v", err)
	}
	if cfg.Production() || cfg.MailSender() != config.MailSMTP || cfg.Port != int(dp.idp) || cfg.DataDir != "/data" {
		t.Errorf("idp configuration: production %v, mail %s, port %d, data dir %s; want development, smtp, %d, /data",
			cfg.Production(), cfg.MailSender(), cfg.Port, cfg.DataDir, dp.idp)
	}
	if !cfg.DevClient {
		t.Error("the idp service does not register the development client the dashboard uses")
	}
	if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeVolume && v.Target == cfg.DataDir && p.Volumes[v.Source].Name != ""
	}) {
		t.Errorf("idp keeps no named volume at IDP_DATA_DIR %s (the development secret key lives there): %+v", cfg.DataDir, s.Volumes)
	}
}

func checkDashboard(t *testing.T, p *types.Project, dp demoPorts) {
	s := service(t, p, "dashboard")
	if s.Build == nil || s.Build.Target != "dashboard" || s.Build.Context != p.WorkingDir {
		t.Errorf("dashboard build = %+v, want context %s and target dashboard", s.Build, p.WorkingDir)
	}
	// One issuer URL for the browser and the back channel: the dashboard shares the IdP's network
	// namespace, where localhost:8080 is the IdP.
	if s.NetworkMode != "service:idp" {
		t.Errorf("dashboard network_mode = %q, want service:idp", s.NetworkMode)
	}
	if len(s.Ports) > 0 {
		t.Errorf("dashboard publishes %+v: a service with network_mode service:idp cannot; publish on idp", s.Ports)
	}
	if d, ok := s.DependsOn["idp"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("dashboard depends_on idp = %+v, want condition service_healthy", d)
	}
	for name, want := range map[string]string{
		"ISSUER":        env(t, service(t, p, "idp"), "ISSUER"),
		"CLIENT_ID":     idp.DevClientID,
		"CLIENT_SECRET": idp.DevClientSecret,
		"REDIRECT_URL":  dp.redirectURL(),
		"PORT":          strconv.Itoa(int(dp.dashboard)),
	} {
		if got := env(t, s, name); got != want {
			t.Errorf("dashboard %s = %q, want %q", name, got, want)
		}
	}
}

func checkMailpit(t *testing.T, p *types.Project, dp demoPorts) {
	s := service(t, p, "mailpit")
	// Pinned to a version, so the demo does not change under the reader's feet.
	if tag, ok := strings.CutPrefix(s.Image, "axllent/mailpit:v"); !ok || tag == "" {
		t.Errorf("mailpit image = %q, want axllent/mailpit pinned to a version (axllent/mailpit:vX.Y.Z)", s.Image)
	}
	if s.HealthCheck == nil || !slices.Contains(s.HealthCheck.Test, "readyz") {
		t.Errorf("mailpit healthcheck does not run readyz: %+v", s.HealthCheck)
	}
	if got := env(t, s, "MP_UI_BIND_ADDR"); got != fmt.Sprintf("0.0.0.0:%d", dp.mailpit) {
		t.Errorf("mailpit MP_UI_BIND_ADDR = %q, want its published port %d", got, dp.mailpit)
	}
	ports := published(t, s)
	if !ports[dp.mailpit] {
		t.Errorf("mailpit does not publish its UI on %d", dp.mailpit)
	}
	if ports[mailpitSMTPPort] {
		t.Errorf("mailpit publishes SMTP %d: only the idp needs it, on the compose network", mailpitSMTPPort)
	}
}

// ---------------------------------------------------------------- Dockerfile

// dockerfile is the parsed Dockerfile: its stages by name, in order.
type dockerfile struct {
	stages []instructions.Stage
}

func (d dockerfile) stage(name string) (instructions.Stage, bool) {
	for _, s := range d.stages {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return instructions.Stage{}, false
}

// closure returns the stage and every stage it is built from (FROM another stage, COPY --from),
// the stage itself first.
func (d dockerfile) closure(name string) []instructions.Stage {
	var out []instructions.Stage
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		s, ok := d.stage(n)
		if !ok || seen[strings.ToLower(s.Name)] {
			return
		}
		seen[strings.ToLower(s.Name)] = true
		out = append(out, s)
		visit(s.BaseName)
		for _, c := range s.Commands {
			if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" {
				visit(cp.From)
			}
		}
	}
	visit(name)
	return out
}

// parseDockerfile parses the Dockerfile with BuildKit's parser and fails on every warning its
// parser and linter give (what `docker build --check` reports at parse time).
func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	res, err := dfparser.Parse(bytes.NewReader(readRepoFile(t, "Dockerfile")))
	if err != nil {
		t.Fatalf("parse Dockerfile: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile: %s", w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []dfparser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		t.Errorf("Dockerfile:%d: %s: %s", line, rule, msg)
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("parse Dockerfile instructions: %v", err)
	}
	return dockerfile{stages: stages}
}

// commands returns the commands of type C in the stages, in order.
func commands[C instructions.Command](stages ...instructions.Stage) []C {
	var out []C
	for _, s := range stages {
		for _, c := range s.Commands {
			if v, ok := c.(C); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// envOf returns the value the stages' ENV instructions give name, the last one winning (stages
// in base-first order).
func envOf(name string, stages ...instructions.Stage) (string, bool) {
	v, ok := "", false
	for _, e := range commands[*instructions.EnvCommand](stages...) {
		for _, kv := range e.Env {
			if kv.Key == name {
				v, ok = kv.Value, true
			}
		}
	}
	return v, ok
}

func nonRoot(user string) bool {
	u, _, _ := strings.Cut(user, ":")
	return u != "" && u != "root" && u != "0"
}

func TestDockerfile(t *testing.T) {
	d := parseDockerfile(t)

	last := d.stages[len(d.stages)-1]
	if !strings.EqualFold(last.Name, "idp") {
		t.Errorf("the last stage is %q: make it idp, the image builders without --target (Railway) produce", last.Name)
	}
	final, ok := d.stage("idp")
	if !ok {
		t.Fatal("no stage named idp")
	}

	t.Run("runtime", func(t *testing.T) {
		if !strings.HasPrefix(final.BaseName, "gcr.io/distroless/static") && !strings.HasPrefix(final.BaseName, "alpine:") {
			t.Errorf("idp stage FROM %s, want distroless static or alpine", final.BaseName)
		}
		users := commands[*instructions.UserCommand](final)
		if len(users) == 0 || !nonRoot(users[len(users)-1].User) {
			t.Errorf("idp stage USER = %v, want a non-root user", users)
		}
		var exposed []string
		for _, e := range commands[*instructions.ExposeCommand](final) {
			for _, port := range e.Ports {
				exposed = append(exposed, strings.TrimSuffix(port, "/tcp"))
			}
		}
		if !slices.Contains(exposed, strconv.Itoa(idpPort)) {
			t.Errorf("idp stage EXPOSE %v, want %d", exposed, idpPort)
		}
		// Production is the default that matters: whoever runs the image without IDP_ENV gets
		// production (no /dev/outbox, no development client, Secure __Host- cookies).
		if v, _ := envOf("IDP_ENV", final); v != "production" {
			t.Errorf("idp stage ENV IDP_ENV=%q, want production", v)
		}
		if v, _ := envOf("PORT", final); v != strconv.Itoa(idpPort) {
			t.Errorf("idp stage ENV PORT=%q, want %d", v, idpPort)
		}
		dataDir, _ := envOf("IDP_DATA_DIR", final)
		if dataDir == "" {
			t.Fatal("idp stage sets no IDP_DATA_DIR")
		}
		var volumes []string
		for _, v := range commands[*instructions.VolumeCommand](final) {
			volumes = append(volumes, v.Volumes...)
		}
		if !slices.Contains(volumes, dataDir) {
			t.Errorf("idp stage VOLUME %v, want IDP_DATA_DIR %s", volumes, dataDir)
		}
		// The nonroot user must be able to write the data directory (SQLite, the dev secret key).
		if !slices.ContainsFunc(commands[*instructions.CopyCommand](final), func(c *instructions.CopyCommand) bool {
			return c.DestPath == dataDir && nonRoot(c.Chown)
		}) {
			t.Errorf("idp stage does not create %s owned by a non-root user (COPY --chown)", dataDir)
		}
	})

	t.Run("entrypoint and healthcheck", func(t *testing.T) {
		eps := commands[*instructions.EntrypointCommand](final)
		if len(eps) == 0 || eps[len(eps)-1].PrependShell || !slices.Equal(eps[len(eps)-1].CmdLine, []string{"/idp"}) {
			t.Errorf("idp stage ENTRYPOINT = %v, want [\"/idp\"] (exec form)", eps)
		}
		cmds := commands[*instructions.CmdCommand](final)
		if len(cmds) == 0 || cmds[len(cmds)-1].PrependShell || !slices.Equal(cmds[len(cmds)-1].CmdLine, []string{"serve"}) {
			t.Errorf("idp stage CMD = %v, want [\"serve\"]", cmds)
		}
		hcs := commands[*instructions.HealthCheckCommand](final)
		if len(hcs) == 0 {
			t.Fatal("idp stage has no HEALTHCHECK")
		}
		h := hcs[len(hcs)-1].Health
		if !slices.Equal(h.Test, []string{"CMD", "/idp", "healthcheck"}) {
			t.Errorf("HEALTHCHECK test = %q, want CMD [\"/idp\", \"healthcheck\"]", h.Test)
		}
		if h.Interval <= 0 || h.Timeout <= 0 || h.StartPeriod <= 0 || h.Retries <= 0 {
			t.Errorf("HEALTHCHECK interval %s, timeout %s, start period %s, retries %d: set each", h.Interval, h.Timeout, h.StartPeriod, h.Retries)
		}
	})

	t.Run("build", func(t *testing.T) {
		// The stage whose output is copied to /idp, and every stage under it.
		var from string
		for _, c := range commands[*instructions.CopyCommand](final) {
			if c.DestPath == "/idp" {
				from = c.From
			}
		}
		if from == "" {
			t.Fatal("idp stage has no COPY --from=<builder> … /idp")
		}
		chain := d.closure(from)
		// The root of the chain is the stage FROM an image rather than another stage.
		builder := chain[len(chain)-1]
		for _, s := range chain {
			if _, isStage := d.stage(s.BaseName); !isStage {
				builder = s
			}
		}
		goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(readRepoFile(t, "go.mod"))
		if goVersion == nil {
			t.Fatal("go.mod has no go directive")
		}
		if want := "golang:" + string(goVersion[1]); builder.BaseName != want && !strings.HasPrefix(builder.BaseName, want+"-") && !strings.HasPrefix(builder.BaseName, want+".") {
			t.Errorf("builder FROM %s, want %s… (go.mod says go %s)", builder.BaseName, want, goVersion[1])
		}
		// ENV in the chain, base first.
		slices.Reverse(chain)
		var builds []string
		for _, r := range commands[*instructions.RunCommand](chain...) {
			if line := strings.Join(r.CmdLine, " "); strings.Contains(line, "go build") {
				builds = append(builds, line)
			}
		}
		if len(builds) != 1 {
			t.Fatalf("want one go build for /idp, got %q", builds)
		}
		cgo, _ := envOf("CGO_ENABLED", chain...)
		if cgo != "0" && !strings.Contains(builds[0], "CGO_ENABLED=0") {
			t.Errorf("CGO_ENABLED is %q for the idp build, want 0 (static binary on distroless)", cgo)
		}
		for _, want := range []string{"-trimpath", `-ldflags="-s -w"`, "./cmd/idp"} {
			if !strings.Contains(builds[0], want) {
				t.Errorf("go build %q lacks %s", builds[0], want)
			}
		}
		// The dependency layer is cached: go.mod and go.sum are copied and downloaded before the
		// sources.
		var order []string
		for _, c := range builder.Commands {
			switch c := c.(type) {
			case *instructions.CopyCommand:
				order = append(order, "COPY "+strings.Join(c.SourcePaths, " "))
			case *instructions.RunCommand:
				order = append(order, "RUN "+strings.Join(c.CmdLine, " "))
			}
		}
		download := slices.IndexFunc(order, func(s string) bool { return strings.Contains(s, "go mod download") })
		mod := slices.IndexFunc(order, func(s string) bool { return strings.Contains(s, "go.mod") && strings.HasPrefix(s, "COPY") })
		all := slices.Index(order, "COPY .")
		if mod < 0 || download < mod || (all >= 0 && all < download) {
			t.Errorf("builder steps %q: want COPY go.mod go.sum, RUN go mod download, then COPY .", order)
		}
		// Building the idp target must not need the example dashboard.
		for _, s := range d.closure("idp") {
			for _, c := range s.Commands {
				if strings.Contains(fmt.Sprint(c), "example-client") {
					t.Errorf("stage %s, needed for idp, refers to example-client: %s", s.Name, c)
				}
			}
		}
	})

	t.Run("dashboard", func(t *testing.T) {
		s, ok := d.stage("dashboard")
		if !ok {
			t.Fatal("no stage named dashboard")
		}
		users := commands[*instructions.UserCommand](s)
		if len(users) == 0 || !nonRoot(users[len(users)-1].User) {
			t.Errorf("dashboard stage USER = %v, want a non-root user", users)
		}
		builds := false
		for _, r := range commands[*instructions.RunCommand](d.closure("dashboard")...) {
			if line := strings.Join(r.CmdLine, " "); strings.Contains(line, "go build") && strings.Contains(line, "./example-client") {
				builds = true
			}
		}
		if !builds {
			t.Error("no stage under dashboard builds ./example-client")
		}
	})
}

// ---------------------------------------------------------------- railway.toml

// railwayConfig holds the config-as-code keys we use or might
// (https://docs.railway.com/config-as-code/reference). TestRailway rejects any other key, spelt
// exactly, so a misspelt one fails here instead of being ignored by Railway.
type railwayConfig struct {
	Build struct {
		Builder        string   `toml:"builder"`
		DockerfilePath string   `toml:"dockerfilePath"`
		WatchPatterns  []string `toml:"watchPatterns"`
	} `toml:"build"`
	Deploy struct {
		StartCommand            string `toml:"startCommand"`
		HealthcheckPath         string `toml:"healthcheckPath"`
		HealthcheckTimeout      int    `toml:"healthcheckTimeout"`
		RestartPolicyType       string `toml:"restartPolicyType"`
		RestartPolicyMaxRetries int    `toml:"restartPolicyMaxRetries"`
		NumReplicas             int    `toml:"numReplicas"`
		OverlapSeconds          int    `toml:"overlapSeconds"`
		DrainingSeconds         int    `toml:"drainingSeconds"`
	} `toml:"deploy"`
}

func TestRailway(t *testing.T) {
	src := readRepoFile(t, "railway.toml")
	// go-toml matches struct fields case-insensitively; Railway's keys are case-sensitive, so
	// compare the keys as written with the struct's tags first.
	var raw map[string]map[string]any
	if err := toml.Unmarshal(src, &raw); err != nil {
		t.Fatalf("railway.toml: %v", err)
	}
	known := map[string][]string{}
	rt := reflect.TypeFor[railwayConfig]()
	for i := range rt.NumField() {
		section := rt.Field(i)
		for j := range section.Type.NumField() {
			known[section.Tag.Get("toml")] = append(known[section.Tag.Get("toml")], section.Type.Field(j).Tag.Get("toml"))
		}
	}
	for section, keys := range raw {
		if _, ok := known[section]; !ok {
			t.Errorf("railway.toml: unexpected section [%s]", section)
		}
		for key := range keys {
			if !slices.Contains(known[section], key) {
				t.Errorf("railway.toml: [%s] %s is not a config-as-code key we know (spelling and case count)", section, key)
			}
		}
	}
	var c railwayConfig
	dec := toml.NewDecoder(bytes.NewReader(src))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("railway.toml: %v", err)
	}
	if c.Build.Builder != "DOCKERFILE" {
		t.Errorf("build.builder = %q, want DOCKERFILE", c.Build.Builder)
	}
	if c.Build.DockerfilePath != "" {
		if _, err := os.Stat(filepath.Join(root, c.Build.DockerfilePath)); err != nil {
			t.Errorf("build.dockerfilePath: %v", err)
		}
	}
	if c.Deploy.HealthcheckPath != "/readyz" {
		t.Errorf("deploy.healthcheckPath = %q, want /readyz", c.Deploy.HealthcheckPath)
	}
	if c.Deploy.HealthcheckTimeout <= 0 {
		t.Errorf("deploy.healthcheckTimeout = %d, want a positive number of seconds", c.Deploy.HealthcheckTimeout)
	}
	switch c.Deploy.RestartPolicyType {
	case "ON_FAILURE":
		if c.Deploy.RestartPolicyMaxRetries <= 0 {
			t.Errorf("deploy.restartPolicyMaxRetries = %d, want a positive number with ON_FAILURE", c.Deploy.RestartPolicyMaxRetries)
		}
	case "ALWAYS":
	default:
		t.Errorf("deploy.restartPolicyType = %q, want ON_FAILURE or ALWAYS", c.Deploy.RestartPolicyType)
	}
	if c.Deploy.StartCommand != "" && !strings.HasPrefix(c.Deploy.StartCommand, "/idp") {
		t.Errorf("deploy.startCommand = %q: leave it empty to run the image's /idp serve", c.Deploy.StartCommand)
	}
}

// ---------------------------------------------------------------- .env.example

// configVars returns the environment variable names internal/config declares: the string
// constants named var… in config.go.
func configVars(t *testing.T) []string {
	t.Helper()
	path := filepath.Join(root, "internal", "config", "config.go")
	f, err := goparser.ParseFile(token.NewFileSet(), path, nil, goparser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	var names []string
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if !strings.HasPrefix(id.Name, "var") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				name, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatalf("%s: %s: %v", path, id.Name, err)
				}
				names = append(names, name)
			}
		}
	}
	// A sanity floor, so a change in how config.go declares the names cannot make this test pass
	// by finding none.
	if len(names) < 40 {
		t.Fatalf("found only %d variable names in %s: %v", len(names), path, names)
	}
	return names
}

// envExample is .env.example read as docker compose reads a .env file: active holds the
// assignments, defaults the commented-out "# NAME=value" lines that document a default.
type envExample struct {
	active, defaults map[string]string
	order            []string
}

var commentedAssignment = regexp.MustCompile(`^#\s?([A-Z][A-Z0-9_]*=.*)$`)

func readEnvExample(t *testing.T) envExample {
	t.Helper()
	src := readRepoFile(t, ".env.example")
	active, err := dotenv.ParseWithLookup(bytes.NewReader(src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf(".env.example does not parse as a .env file: %v", err)
	}
	e := envExample{active: active, defaults: map[string]string{}}
	var commented bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line := sc.Text()
		if m := commentedAssignment.FindStringSubmatch(line); m != nil {
			commented.WriteString(m[1] + "\n")
			e.order = append(e.order, strings.SplitN(m[1], "=", 2)[0])
		} else if name, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			e.order = append(e.order, strings.TrimSpace(name))
		}
	}
	e.defaults, err = dotenv.ParseWithLookup(&commented, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf(".env.example: the commented-out assignments do not parse: %v", err)
	}
	return e
}

func TestEnvExample(t *testing.T) {
	e := readEnvExample(t)
	known := configVars(t)

	t.Run("every variable of internal/config is listed", func(t *testing.T) {
		for _, name := range known {
			_, a := e.active[name]
			_, d := e.defaults[name]
			if !a && !d {
				t.Errorf(".env.example does not list %s (internal/config reads it)", name)
			}
		}
	})
	t.Run("every listed variable exists, once", func(t *testing.T) {
		seen := map[string]bool{}
		for _, name := range e.order {
			if seen[name] {
				t.Errorf(".env.example lists %s twice", name)
			}
			seen[name] = true
			if !slices.Contains(known, name) && !slices.Contains(composeOnlyVars, name) {
				t.Errorf(".env.example lists %s, which nothing reads", name)
			}
		}
		for _, name := range composeOnlyVars {
			if _, ok := e.active[name]; !ok {
				t.Errorf(".env.example does not set %s for docker compose", name)
			}
		}
	})
	t.Run("no secrets", func(t *testing.T) {
		for _, name := range []string{"SECRET_KEY", "SECRET_KEY_PREVIOUS", "BREVO_API_KEY", "SMTP_URL", "DATABASE_URL", "VONAGE_API_KEY", "VONAGE_API_SECRET"} {
			if v := e.active[name] + e.defaults[name]; v != "" {
				t.Errorf(".env.example gives %s a value: leave it empty", name)
			}
		}
	})
	getenv := func(m ...map[string]string) func(string) string {
		return func(name string) string {
			for _, vars := range m {
				if v, ok := vars[name]; ok {
					return v
				}
			}
			return ""
		}
	}
	t.Run("the values are a valid configuration", func(t *testing.T) {
		cfg, err := config.Load(getenv(e.active, e.defaults))
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			t.Errorf(".env.example, every line uncommented, is not a valid configuration:\n%v", err)
		}
	})
	t.Run("the commented values are the defaults", func(t *testing.T) {
		got, err := config.Load(getenv(e.defaults))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := config.Load(getenv())
		if got.String() != want.String() {
			t.Errorf("the \"# NAME=value\" lines of .env.example are not the defaults:\n got %s\nwant %s", got, want)
		}
	})
}

// ---------------------------------------------------------------- .dockerignore

func TestDockerignore(t *testing.T) {
	patterns, err := ignorefile.ReadAll(bytes.NewReader(readRepoFile(t, ".dockerignore")))
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	for _, tc := range []struct {
		path     string
		excluded bool
	}{
		{".git", true},
		{".git/config", true},
		{"data", true},
		{"data/idp.db", true},
		{"data/secret_key", true},
		{".env", true},
		{"idp.test", true},
		{"internal/store/store.test", true},
		{"cover.out", true},
		{"tmp/scratch", true},
		{"node_modules/x/index.js", true},
		// What the build needs stays in.
		{".env.example", false},
		{"go.mod", false},
		{"go.sum", false},
		{"cmd/idp/main.go", false},
		{"internal/config/config.go", false},
		{"internal/idp/testdata/discovery.golden.json", false},
		{"ui/templates/login.html", false},
		{"ui/static/app.css", false},
		{"migrations/postgres/0001_init.up.sql", false},
		{"example-client/main.go", false},
		{"deploy/deploy_test.go", false},
	} {
		got, err := pm.MatchesOrParentMatches(tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if got != tc.excluded {
			t.Errorf(".dockerignore: %s excluded = %v, want %v", tc.path, got, tc.excluded)
		}
	}
}
