package testutil

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ScriptsRun renders each fragment with innerHTML in headless Chromium
// (Debian's chromium) and returns the indexes of the fragments that ran
// script, sorted. Each fragment goes into the body of its own same-origin
// iframe whose alert, confirm, prompt, print and __xss report that
// fragment's index, so a payload's handler names itself whatever it calls.
// After the fragments are in, the page gives asynchronous handlers (onerror,
// onload, ontoggle, animations) time, focuses every focusable element,
// hovers, clicks every link, area, button and submits every form
// (javascript: URLs run then), and waits again. Script that ran outside
// any fragment's iframe is reported as index -1. Under CI=true a missing
// chromium fails the test; elsewhere it skips.
func ScriptsRun(t testing.TB, fragments []string) []int {
	t.Helper()
	bin := chromiumPath(t)
	var mu sync.Mutex
	ran := map[int]bool{}
	done := make(chan struct{})
	var doneOnce sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(xssPage))
	})
	mux.HandleFunc("/fragments", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(fragments)
	})
	mux.HandleFunc("/ran", func(w http.ResponseWriter, r *http.Request) {
		if i, err := strconv.Atoi(r.URL.Query().Get("i")); err == nil {
			mu.Lock()
			ran[i] = true
			mu.Unlock()
		}
	})
	mux.HandleFunc("/done", func(w http.ResponseWriter, r *http.Request) { doneOnce.Do(func() { close(done) }) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Its own profile directory, removed once the whole process group is
	// gone (Chromium's helpers write to it after the browser exits).
	profile, err := os.MkdirTemp("", "sio-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--user-data-dir="+profile, "--remote-debugging-port=0", srv.URL+"/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		for range 50 {
			if os.RemoveAll(profile) == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	select {
	case <-done:
	case err := <-exited:
		t.Fatalf("chromium exited before the page finished: %v", err)
	case <-ctx.Done():
		t.Fatal("the page did not finish within 90 s")
	}
	time.Sleep(200 * time.Millisecond) // reports sent just before done
	mu.Lock()
	defer mu.Unlock()
	out := make([]int, 0, len(ran))
	for i := range ran {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

const xssPage = `<!doctype html><html><head><meta charset="utf-8"><title>xss</title></head><body>
<script>
function report(i) { fetch('/ran?i=' + i).catch(() => {}); }
// A payload that escapes its iframe (target=_top, parent.alert) reports -1.
for (const name of ['alert', 'confirm', 'prompt', 'print', '__xss']) window[name] = () => report(-1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  const frags = await (await fetch('/fragments')).json();
  const frames = [];
  for (let i = 0; i < frags.length; i++) {
    const f = document.createElement('iframe');
    f.style.width = '400px'; f.style.height = '200px';
    document.body.appendChild(f);
    const w = f.contentWindow;
    const hit = () => report(i);
    for (const name of ['alert', 'confirm', 'prompt', 'print', '__xss']) w[name] = hit;
    w.eval = hit;
    try { w.document.body.innerHTML = frags[i]; } catch (e) {}
    frames.push(f);
  }
  await sleep(1500);
  for (let i = 0; i < frames.length; i++) {
    let d;
    try { d = frames[i].contentDocument; } catch (e) { continue; }
    if (!d) continue;
    for (const el of d.querySelectorAll('*')) {
      try { el.focus && el.focus(); } catch (e) {}
      for (const type of ['mouseover', 'mouseenter', 'pointerover', 'mousemove']) {
        try { el.dispatchEvent(new MouseEvent(type, { bubbles: true })); } catch (e) {}
      }
    }
    for (const el of d.querySelectorAll('a, area, button, input[type=submit], input[type=image]')) {
      try { el.click(); } catch (e) {}
    }
    for (const form of d.querySelectorAll('form')) {
      try { form.requestSubmit ? form.requestSubmit() : form.submit(); } catch (e) {}
    }
  }
  await sleep(1500);
  await fetch('/done');
})();
</script></body></html>`

// XSSCorpus reads limits/testdata/xss-corpus.txt: one payload per line,
// '#' comments, with \n \t \r \uXXXX and \\ escapes decoded.
func XSSCorpus(t testing.TB) []string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "limits", "testdata", "xss-corpus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var s strings.Builder
		for i := 0; i < len(line); i++ {
			if line[i] != '\\' || i+1 == len(line) {
				s.WriteByte(line[i])
				continue
			}
			i++
			switch line[i] {
			case 'n':
				s.WriteByte('\n')
			case 't':
				s.WriteByte('\t')
			case 'r':
				s.WriteByte('\r')
			case 'u':
				if i+4 < len(line) {
					if r, err := strconv.ParseUint(line[i+1:i+5], 16, 32); err == nil {
						s.WriteRune(rune(r))
						i += 4
						continue
					}
				}
				s.WriteString(`\u`)
			default:
				s.WriteByte(line[i])
			}
		}
		out = append(out, s.String())
	}
	return out
}

// chromiumPath finds headless Chromium (Debian's chromium, or another
// build's name). Under CI=true a missing one fails the test; elsewhere it
// skips.
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	RequireDependency(t, "chromium is not installed", "run `make deps` (apt-get install chromium)")
	return ""
}
