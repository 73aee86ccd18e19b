package limits_test

import (
	"testing"

	"sio/internal/testutil"
	"sio/limits"
)

// TestSanitizedCorpusRunsNoScriptInChromium: every payload of the XSS
// corpus, once through SanitizeText and inserted with innerHTML into a page
// in headless Chromium, runs nothing. The control half proves the harness
// sees script that does run: raw payloads are caught.
func TestSanitizedCorpusRunsNoScriptInChromium(t *testing.T) {
	corpus := testutil.XSSCorpus(t)
	controls := []string{
		`<img src=x onerror=alert(1)>`,
		`<svg><animate onbegin=alert(1) attributeName=x dur=1s>`,
		`<a href="javascript:alert(1)">x</a>`,
		`<details open ontoggle=alert(1)>`,
		`<input autofocus onfocus=alert(1)>`,
		`<iframe srcdoc="<script>parent.__xss()</script>">`,
		`plain text`,
	}
	frags := append([]string{}, controls...)
	for _, p := range corpus {
		frags = append(frags, limits.SanitizeText(p))
	}
	ran := testutil.ScriptsRun(t, frags)
	hit := map[int]bool{}
	for _, i := range ran {
		hit[i] = true
	}
	for i, c := range controls {
		if want := c != "plain text"; hit[i] != want {
			t.Errorf("control %q: ran=%v, want %v (the harness cannot see script)", c, hit[i], want)
		}
	}
	if hit[-1] {
		t.Errorf("script ran outside any fragment's frame")
	}
	for i, p := range corpus {
		if hit[len(controls)+i] {
			t.Errorf("script ran from SanitizeText(%q) = %q", p, frags[len(controls)+i])
		}
	}
}
