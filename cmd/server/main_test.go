package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sio/internal/testutil"
)

// TestRefusesToStartWithoutAKey: no JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL
// and no -dev: exit status 2 and a message naming what to set.
func TestRefusesToStartWithoutAKey(t *testing.T) {
	bin := build(t)
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "JWT_SECRET") || !strings.Contains(string(out), "-dev") {
		t.Fatalf("exit %v, output %q", err, out)
	}
}

// TestDevModePrintsTokensThatConnect: the README's `make run` (-dev) logs a
// member token a real client connects with, and SIGTERM shuts down cleanly,
// closing the client with "transport close".
func TestDevModePrintsTokensThatConnect(t *testing.T) {
	bin := build(t)
	port := freePort(t)
	cmd := exec.Command(bin, "-dev", "-host", "127.0.0.1")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), fmt.Sprintf("PORT=%d", port), "DRAIN_TIMEOUT=3s"}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	tokens := map[string]string{}
	example := ""
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(20 * time.Second)
	for len(tokens) < 3 || example == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("server exited; tokens %v", tokens)
			}
			if strings.HasPrefix(l, "try: node -e") {
				example = l
				continue
			}
			var rec struct {
				Msg   string `json:"msg"`
				Token string `json:"token"`
			}
			if json.Unmarshal([]byte(l), &rec) == nil && rec.Token != "" {
				tokens[strings.Fields(rec.Msg)[1]+" "+strings.Fields(rec.Msg)[2]] = rec.Token
			}
		case <-deadline:
			t.Fatalf("no dev tokens logged; got %v", tokens)
		}
	}
	go func() {
		for range lines {
		}
	}()
	member := tokens["token (member"]
	if member == "" || tokens["token (moderator"] == "" || !strings.Contains(example, member) {
		t.Fatalf("tokens %v, example %q", tokens, example)
	}
	nc := testutil.StartNodeClients(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if _, err := nc.Connect("alice", testutil.ClientOptions{URL: url, Auth: map[string]any{"token": member}}); err != nil {
		t.Fatalf("the dev member token: %v", err)
	}
	raw, err := nc.Emit("alice", "channel:join", map[string]any{"channelId": "general"})
	if err != nil || !strings.Contains(string(raw), `"ok":true`) {
		t.Fatalf("join: %s %v", raw, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if reason, err := nc.WaitDisconnect("alice", 5*time.Second); err != nil || reason != "transport close" {
		t.Fatalf("on SIGTERM the client saw %q %v", reason, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit within the drain timeout")
	}
}

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "server")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
