package testutil

import (
	"strings"
	"testing"
)

func TestRedisStartsKillsAndRestartsOnItsPort(t *testing.T) {
	r := StartRedis(t)
	if _, err := r.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Do("GET", "k"); err != nil || v != "v" {
		t.Fatalf("GET: %q %v", v, err)
	}
	r.Kill()
	if _, err := r.Do("PING"); err == nil {
		t.Fatal("PING answered after Kill")
	}
	r.Start(t)
	if v, err := r.Do("GET", "k"); err != nil || v != "" {
		t.Fatalf("GET after restart (no persistence): %q %v", v, err)
	}
}

func TestRedisClusterServesEverySlot(t *testing.T) {
	c := StartRedisCluster(t, 3)
	slots, err := c.Nodes[1].Do("CLUSTER", "INFO")
	if err != nil || !strings.Contains(slots, "cluster_slots_ok:16384") {
		t.Fatalf("CLUSTER INFO: %v\n%s", err, slots)
	}
	if !strings.HasPrefix(c.URL(), "redis://127.0.0.1:") || strings.Count(c.URL(), "addr=") != 2 {
		t.Fatalf("URL %s", c.URL())
	}
}
