package main

import (
	"bufio"
	"fmt"
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

// TestMain lets the shutdown test run this test binary as the real `idp` process (same main),
// so that it can send it a real SIGTERM.
func TestMain(m *testing.M) {
	if os.Getenv("IDP_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestGracefulShutdownOnSIGTERM: after SIGTERM /readyz answers 503 for IDP_SHUTDOWN_DRAIN while
// the requests already sent are served; every request in flight when the signal arrives
// completes; the process then exits 0.
func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	// A drain long enough to be seen on a loaded machine: the test asserts the 503 inside it.
	const drain = 10 * time.Second
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), "IDP_TEST_RUN_MAIN=1", "IDP_ENV=development", "PORT=0", "ISSUER=",
		"IDP_DATA_DIR="+filepath.Join(t.TempDir(), "data"), "DATABASE_URL=", "IDP_METRICS_ADDR=off",
		"IDP_LOG_FORMAT=json", "IDP_SHUTDOWN_DRAIN="+drain.String())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			_, _ = logs.Write([]byte(sc.Text() + "\n"))
		}
	}()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	}()
	// The system picked the port; the "listening" line names it.
	var issuer string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if issuer == "" {
			issuer, _ = boundAddrs(logs.String())
		}
		if issuer != "" {
			if resp, err := http.Get(issuer + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready")
		}
	}

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
			req, _ := http.NewRequest(http.MethodPost, issuer+"/login", strings.NewReader(url.Values{
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
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// During the drain /readyz says 503 (new connections are still accepted and served).
	probe := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(drain); ; time.Sleep(20 * time.Millisecond) {
		resp, err := probe.Get(issuer + "/readyz")
		if err != nil {
			t.Fatalf("/readyz during the drain: %v (the listener closed before a 503 was seen)", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if resp.StatusCode != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("/readyz after SIGTERM answered %d, want 503 while draining", resp.StatusCode)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a request in flight failed during shutdown: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(drain + 60*time.Second):
		t.Fatal("the server did not exit after SIGTERM")
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Error("no clean stop in the log")
	}
}
