// Package rediscmd runs one-off Redis commands for the tests and the
// benchmarks that start their own redis-server (readiness, INFO, CLIENT
// KILL, DEBUG SLEEP…), through rueidis rather than a hand-written RESP
// client.
package rediscmd

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Do runs one command on a new connection to addr (the server alone, never
// a cluster client's routing) and returns its reply flattened to text: a
// string as is, an integer in decimal, an array as its elements joined by
// "\n", nil as "". An error reply is an error. It waits up to 30 s (DEBUG
// SLEEP answers when it is over).
func Do(addr string, args ...string) (string, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true,
		ForceSingleClient: true, DisableRetry: true, AlwaysRESP2: true, Dialer: net.Dialer{Timeout: 2 * time.Second}})
	if err != nil {
		return "", err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msg, err := c.Do(ctx, c.B().Arbitrary(args...).Build()).ToMessage()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return "", nil
		}
		return "", err
	}
	return flatten(msg)
}

func flatten(m rueidis.RedisMessage) (string, error) {
	if m.IsNil() {
		return "", nil
	}
	if n, err := m.AsInt64(); err == nil && m.IsInt64() {
		return strconv.FormatInt(n, 10), nil
	}
	if arr, err := m.ToArray(); err == nil {
		parts := make([]string, 0, len(arr))
		for _, e := range arr {
			s, err := flatten(e)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, "\n"), nil
	}
	return m.ToString()
}
