package main

import "testing"

func TestIsPolling(t *testing.T) {
	n := 0
	for id := 0; id < 1000; id++ {
		if isPolling(id, 0.05) {
			n++
		}
	}
	if n != 50 {
		t.Fatalf("%d of 1000 polling at 5%%", n)
	}
	if isPolling(3, 0) || !isPolling(3, 1) {
		t.Fatal("0 and 1 shares")
	}
}

func TestParseSources(t *testing.T) {
	s, err := parseSources("127.0.0.2-127.0.0.5,127.0.0.9")
	if err != nil || len(s) != 5 || s[4].String() != "127.0.0.9" {
		t.Fatalf("%v %v", s, err)
	}
	if _, err := parseSources("10.0.0.1"); err == nil {
		t.Fatal("a non-loopback source was accepted")
	}
}
