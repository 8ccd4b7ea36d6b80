package main

import (
	"bufio"
	"fmt"
	"net/http"
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

// TestGracefulShutdownOnSIGTERM: requests in flight when SIGTERM arrives all complete; the
// process then exits 0.
func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	port := freePort(t)
	issuer := fmt.Sprintf("http://localhost:%d", port)
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), "IDP_TEST_RUN_MAIN=1", "IDP_ENV=development", "PORT="+fmt.Sprint(port), "ISSUER="+issuer,
		"IDP_DATA_DIR="+filepath.Join(t.TempDir(), "data"), "DATABASE_URL=", "IDP_METRICS_ADDR=off")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var logs strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logMu.Unlock()
		}
	}()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			logMu.Lock()
			t.Logf("server log:\n%s", logs.String())
			logMu.Unlock()
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(issuer + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Each request hashes a password (tens of milliseconds of argon2id): 24 of them on two cores
	// are still running when the signal arrives.
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	started := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 30 * time.Second}
			req, _ := http.NewRequest(http.MethodPost, issuer+"/login", strings.NewReader(url.Values{
				"email": {fmt.Sprintf("nobody%d@example.com", i)}, "password": {"some password that is long"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			started <- struct{}{}
			resp, err := c.Do(req)
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
		<-started
	}
	time.Sleep(30 * time.Millisecond) // the requests are on the wire
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
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
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not exit within 30s of SIGTERM")
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Error("no clean stop in the log")
	}
}
