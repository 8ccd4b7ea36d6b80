package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets tests run this test binary as the real `idp` process (same main), so that it can
// be sent a real SIGTERM.
func TestMain(m *testing.M) {
	if os.Getenv("IDP_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveProcess is `idp serve` in a child process, started with PORT=0: addr is what it bound,
// read from its "listening" log line.
type serveProcess struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	addr   string // 127.0.0.1:port
	exited chan struct{}
	err    error // the exit status, once exited is closed
}

// startServeProcess runs `idp serve` with the test's environment plus env (PORT=0 and JSON logs
// are forced) and waits for its "listening" line. Cleanup kills it if it still runs and shows its
// log when the test failed.
func startServeProcess(t *testing.T, env map[string]string) *serveProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), "IDP_TEST_RUN_MAIN=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PORT=0", "IDP_LOG_FORMAT=json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProcess{cmd: cmd, logs: &syncBuffer{}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			_, _ = p.logs.Write([]byte(sc.Text() + "\n"))
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("server log:\n%s", p.logs.String())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); p.addr == ""; time.Sleep(20 * time.Millisecond) {
		p.addr = listenAddr(p.logs.String())
		select {
		case <-p.exited:
			t.Fatalf("the server exited before listening: %v", p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the server logged no listening address")
		}
	}
	return p
}

// listenAddr is the loopback address of the "listening" line of a JSON server log ("" if none).
func listenAddr(log string) string {
	for _, line := range strings.Split(log, "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			if _, port, err := net.SplitHostPort(rec.Addr); err == nil {
				return net.JoinHostPort("127.0.0.1", port)
			}
		}
	}
	return ""
}

// waitReady polls readyz until it answers 200.
func waitReady(t *testing.T, c *http.Client, readyz string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := c.Get(readyz); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not turn ready")
		}
	}
}

// expectDraining: after SIGTERM, readyz answers 503 while the listener is still open (the
// drain lasts drain). A refused connection before the 503 fails.
func expectDraining(t *testing.T, c *http.Client, readyz string, drain time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(drain); ; time.Sleep(20 * time.Millisecond) {
		resp, err := c.Get(readyz)
		if err != nil {
			t.Fatalf("/readyz during the drain: %v (the listener closed before a 503 was seen)", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			return
		}
		if resp.StatusCode != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("/readyz after SIGTERM answered %d, want 503 while draining", resp.StatusCode)
		}
	}
}

// exitedCleanly waits for the exit and checks the
// status and the log's clean stop.
func (p *serveProcess) exitedCleanly(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("exit after SIGTERM: %v", p.err)
		}
	case <-time.After(within):
		t.Fatalf("the server did not exit within %s of SIGTERM", within)
	}
	if !strings.Contains(p.logs.String(), `"msg":"stopped"`) {
		t.Error("no clean stop in the log")
	}
}

func (p *serveProcess) sigterm(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// TestGracefulShutdownOnSIGTERM: after SIGTERM /readyz answers 503 for IDP_SHUTDOWN_DRAIN while
// the requests already sent are served; every request in flight when the signal arrives
// completes; the process then exits 0.
func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	// A drain long enough to be seen on a loaded machine: the test asserts the 503 inside it.
	const drain = 10 * time.Second
	p := startServeProcess(t, map[string]string{"IDP_ENV": "development", "ISSUER": "",
		"IDP_DATA_DIR": filepath.Join(t.TempDir(), "data"), "DATABASE_URL": "", "IDP_METRICS_ADDR": "off",
		"IDP_SHUTDOWN_DRAIN": drain.String()})
	base := "http://" + p.addr
	probe := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	waitReady(t, probe, base+"/readyz")

	// Each request hashes a password (tens of milliseconds of argon2id): 24 of them on two cores
	// are still running when the signal arrives. The signal goes only after every request has
	// been written to its connection (httptrace WroteRequest), not merely started.
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	written := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(url.Values{
				"email": {fmt.Sprintf("nobody%d@example.com", i)}, "password": {"some password that is long"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			var once sync.Once
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
				WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { written <- struct{}{} }) },
			}))
			resp, err := c.Do(req)
			once.Do(func() { written <- struct{}{} }) // a request that failed before writing must not block the test
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	for i := 0; i < n; i++ {
		<-written
	}
	p.sigterm(t)
	// During the drain /readyz says 503 (new connections are still accepted and served).
	expectDraining(t, probe, base+"/readyz", drain)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a request in flight failed during shutdown: %v", err)
	}
	p.exitedCleanly(t, drain+60*time.Second)
}
