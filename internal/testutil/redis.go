package testutil

import (
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sio/internal/rediscmd"
)

// Redis is a real redis-server the test started on a free 127.0.0.1 port,
// with no persistence. The test may kill it and start it again on the same
// port (Kill, Start), as a Redis outage does. Cleanup kills it.
type Redis struct {
	Port int
	args []string
	dir  string

	mu  sync.Mutex
	cmd *exec.Cmd
	log *lockedBuffer
}

// Addr is "127.0.0.1:port".
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// URL is "redis://127.0.0.1:port".
func (r *Redis) URL() string { return "redis://" + r.Addr() }

func requireRedis(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		RequireDependency(t, "redis-server is not installed", "apt-get install -y redis-server (make deps does)")
	}
	return bin
}

// freeRedisPort picks a port that is free for listening and whose cluster
// bus port (port+10000) is free too.
func freeRedisPort(t testing.TB) int {
	t.Helper()
	for range 200 {
		p := 20000 + rand.IntN(35000)
		if portFree(p) && portFree(p+10000) {
			return p
		}
	}
	t.Fatal("no free port for redis-server")
	return 0
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// StartRedis starts a redis-server (extra are more config directives, as
// "--name value" pairs) and waits until it answers PING.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	requireRedis(t)
	r := &Redis{Port: freeRedisPort(t), dir: t.TempDir()}
	r.args = append([]string{
		"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--enable-debug-command", "local", "--protected-mode", "no",
	}, extra...)
	t.Cleanup(r.Kill)
	r.Start(t)
	return r
}

// Start starts the server (again, after Kill) on its port and waits for PING.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	if r.cmd != nil {
		r.mu.Unlock()
		t.Fatal("redis-server already running")
	}
	cmd := exec.Command("redis-server", r.args...)
	cmd.Dir = r.dir
	r.log = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = r.log, r.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.mu.Unlock()
		t.Fatalf("redis-server: %v", err)
	}
	r.cmd = cmd
	r.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s, err := r.Do("PING"); err == nil && s == "PONG" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %d did not answer PING in 10 s; its log:\n%s", r.Port, r.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill kills the server with SIGKILL (no clean shutdown: clients see their
// connections reset) and waits for it to exit. Safe when not running.
func (r *Redis) Kill() {
	r.mu.Lock()
	cmd := r.cmd
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// Log returns what the server printed.
func (r *Redis) Log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.log == nil {
		return ""
	}
	return r.log.String()
}

// Do runs one command on a new connection and returns its reply flattened
// to text: a simple or bulk string as is, an integer in decimal, an array
// as its elements joined by "\n", nil as "". An error reply is an error.
func (r *Redis) Do(args ...string) (string, error) {
	return RedisDo(r.Addr(), args...)
}

// RedisDo is Do against any address.
func RedisDo(addr string, args ...string) (string, error) { return rediscmd.Do(addr, args...) }

// RedisCluster is a Redis Cluster of masters only (no replicas), started by
// the test: its nodes are Redis values, each of which may be killed.
type RedisCluster struct {
	Nodes []*Redis
}

// Addrs are the nodes' addresses.
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// URL is a redis:// URL naming every node (addr=… for the others, as
// rueidis.ParseURL reads it).
func (c *RedisCluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr()
	for i, n := range c.Nodes[1:] {
		if i == 0 {
			u += "?addr=" + n.Addr()
		} else {
			u += "&addr=" + n.Addr()
		}
	}
	return u
}

// StartRedisCluster starts masters redis-servers in cluster mode, assigns
// the slots evenly with CLUSTER ADDSLOTSRANGE, joins them with CLUSTER MEET
// and waits until every node reports cluster_state:ok and knows them all.
func StartRedisCluster(t testing.TB, masters int) *RedisCluster {
	t.Helper()
	c := &RedisCluster{}
	for range masters {
		dir := t.TempDir()
		c.Nodes = append(c.Nodes, StartRedis(t, "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--cluster-node-timeout", "2000"))
	}
	per := 16384 / masters
	for i, n := range c.Nodes {
		lo, hi := i*per, (i+1)*per-1
		if i == masters-1 {
			hi = 16383
		}
		if _, err := n.Do("CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)); err != nil {
			t.Fatalf("ADDSLOTSRANGE on %s: %v", n.Addr(), err)
		}
	}
	for _, n := range c.Nodes[1:] {
		if _, err := c.Nodes[0].Do("CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(n.Port)); err != nil {
			t.Fatalf("CLUSTER MEET: %v", err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, n := range c.Nodes {
			info, err := n.Do("CLUSTER", "INFO")
			if err != nil || !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(masters)) {
				ok = false
				break
			}
		}
		if ok {
			return c
		}
		if time.Now().After(deadline) {
			info, _ := c.Nodes[0].Do("CLUSTER", "INFO")
			t.Fatalf("redis cluster not ok after 30 s:\n%s", info)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
