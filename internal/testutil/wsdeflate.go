package testutil

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// WSLine is one line printed by test/interop/ws-deflate.mjs.
type WSLine struct {
	Ev         string `json:"ev"`
	Extensions string `json:"extensions"`
	Rsv1       bool   `json:"rsv1"`
	Opcode     int    `json:"opcode"`
	Len        int    `json:"len"`
	Binary     bool   `json:"binary"`
	Data       string `json:"data"`
	Code       int    `json:"code"`
	Message    string `json:"message"`
}

// WSDeflate runs the real npm ws client through test/interop/ws-deflate.mjs:
// a raw WebSocket with a permessage-deflate offer whose every received
// frame is reported as it came off the wire (RSV1 included) besides the
// message ws decoded.
type WSDeflate struct {
	t     testing.TB
	stdin *bufio.Writer
	lines chan WSLine
	done  chan struct{}
	mu    sync.Mutex
	log   []string
}

// StartWSDeflate connects to url (ws://…) offering perMessageDeflate, ws's
// option as JSON ("false" offers nothing). Without node or npm ci it skips,
// or fails under CI=true. The client is ended at cleanup, and its lines are
// logged if the test failed.
func StartWSDeflate(t testing.TB, url, perMessageDeflate string) *WSDeflate {
	t.Helper()
	dir := interopDir(t)
	const install = "run `make deps` (installs Node.js and npm with apt, then runs npm ci in test/interop)"
	if _, err := exec.LookPath("node"); err != nil {
		RequireDependency(t, "ws client: node is not on PATH", install)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws", "package.json")); err != nil {
		RequireDependency(t, "ws client: "+dir+"/node_modules/ws is missing (npm ci not run)", install)
	}
	cmd := exec.Command("node", filepath.Join(dir, "ws-deflate.mjs"), url, perMessageDeflate)
	cmd.Dir = dir
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &WSDeflate{t: t, stdin: bufio.NewWriter(in), lines: make(chan WSLine, 1<<14), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<26)
		for sc.Scan() {
			var l WSLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				c.record("bad line: " + sc.Text())
				continue
			}
			c.record(sc.Text())
			c.lines <- l
		}
	}()
	t.Cleanup(func() {
		in.Close()
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-c.done
		}
		_ = cmd.Wait()
		if t.Failed() {
			c.mu.Lock()
			t.Logf("ws-deflate.mjs %s:\n%s\nstderr: %s", perMessageDeflate, strings.Join(c.log, "\n"), stderr.String())
			c.mu.Unlock()
		}
	})
	return c
}

func (c *WSDeflate) record(s string) {
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	c.mu.Lock()
	c.log = append(c.log, s)
	c.mu.Unlock()
}

// Send writes a command (see ws-deflate.mjs).
func (c *WSDeflate) Send(cmd map[string]any) {
	b, _ := json.Marshal(cmd)
	_, _ = c.stdin.Write(append(b, '\n'))
	_ = c.stdin.Flush()
}

// SendText sends a text message, compressed by the client when compress
// is set and it reaches ws's threshold.
func (c *WSDeflate) SendText(data string, compress bool) {
	c.Send(map[string]any{"op": "send", "data": data, "compress": compress})
}

// Next returns the next line whose ev is one of evs, skipping others; a
// client error line fails the test unless "error" is asked for.
func (c *WSDeflate) Next(evs ...string) WSLine {
	c.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("ws client exited before a %v line", evs)
			}
			for _, ev := range evs {
				if l.Ev == ev {
					return l
				}
			}
			if l.Ev == "error" {
				c.t.Fatalf("ws client error: %s", l.Message)
			}
		case <-timeout:
			c.t.Fatalf("no %v line from the ws client in 20 s", evs)
		}
	}
}

// Open waits for the upgrade and the Engine.IO open packet and returns
// the server's Sec-WebSocket-Extensions answer.
func (c *WSDeflate) Open() string {
	c.t.Helper()
	h := c.Next("head")
	c.Next("open")
	if m := c.Next("message"); !strings.HasPrefix(m.Data, "0{") {
		c.t.Fatalf("first message %q, want the open packet", m.Data)
	}
	return h.Extensions
}

// Collect returns the frames and the messages received until n messages
// have arrived.
func (c *WSDeflate) Collect(n int) (frames, msgs []WSLine) {
	c.t.Helper()
	for len(msgs) < n {
		l := c.Next("frame", "message")
		if l.Ev == "frame" {
			frames = append(frames, l)
		} else {
			msgs = append(msgs, l)
		}
	}
	return frames, msgs
}
