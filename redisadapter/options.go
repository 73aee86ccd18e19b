// Package redisadapter joins Socket.IO servers into one cluster over Redis
// pub/sub, speaking the wire format of Node's @socket.io/redis-adapter 8.x
// (classic, PUBLISH/PSUBSCRIBE) or of its sharded adapter (Redis 7
// SPUBLISH/SSUBSCRIBE), so that our nodes and Node nodes share one cluster
// and @socket.io/redis-emitter reaches both. It runs on
// github.com/redis/rueidis, against one Redis or a Redis Cluster.
//
// One Cluster per process holds the Redis connections; its Adapter method
// is socketio.Options.Adapter. The pub/sub path never blocks an event loop:
// what a loop hands over (a broadcast, a join across nodes) is queued per
// channel and published by the Cluster's goroutines; what Redis delivers is
// handed to one consumer goroutine through a bounded queue. While Redis is
// away local delivery goes on, outgoing messages wait in their channel's
// queue (bounded in count and age, drops counted) and go out in order once
// it is back.
package redisadapter

import (
	"log/slog"
	"time"
)

// Subscription modes of the sharded adapter (Node's subscriptionMode):
// which room channels a node subscribes besides the namespace's own.
const (
	// Static: only the namespace channel and this node's response channel.
	Static = "static"
	// Dynamic (Node's default): also <key>#<nsp>#<room># for each local
	// room that is not a socket id.
	Dynamic = "dynamic"
	// DynamicPrivate: also the socket-id rooms.
	DynamicPrivate = "dynamic-private"
)

// Options configure a Cluster. Every node of one cluster must agree on Key,
// Sharded and SubscriptionMode, as Node's nodes must.
type Options struct {
	// URL of Redis: redis://[user:password@]host:port[/db][?addr=host:port…]
	// (rueidis.ParseURL); a Redis Cluster is recognised by itself. Required.
	URL string
	// Key prefixes every channel ("socket.io", Node's default).
	Key string
	// Sharded selects the sharded adapter's format (Redis 7 sharded pub/sub).
	Sharded bool
	// SubscriptionMode of the sharded adapter: Static, Dynamic (default) or
	// DynamicPrivate.
	SubscriptionMode string
	// RequestsTimeout bounds a request to the other nodes (FetchSockets,
	// Sockets, ServerSideEmit with acks) when the caller's context has no
	// earlier deadline (5 s, Node's default).
	RequestsTimeout time.Duration
	// ServerID names this node in logs, health and metrics (default:
	// hostname-pid). The wire uid is separate, random per Cluster, as Node's.
	ServerID string

	// QueueLimit bounds each channel's outgoing queue while Redis is
	// unreachable (1,000); the oldest message is dropped for a new one.
	QueueLimit int
	// QueueTTL drops queued messages older than this (30 s).
	QueueTTL time.Duration
	// InboundQueue bounds the messages received from Redis and not yet
	// handled (65,536); past it new ones are dropped and counted.
	InboundQueue int
	// BreakerThreshold consecutive publish failures open the publish
	// circuit breaker (5) for BreakerCooldown (60 s), after which one probe
	// publish decides.
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff, with
	// jitter, between attempts to (re)connect the subscriptions (1 s, 30 s).
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// CanaryInterval is how often a node publishes to itself to detect a
	// subscription that is silently dead (5 s); one that is not back within
	// two intervals forces a resubscription.
	CanaryInterval time.Duration

	// Logger receives state changes (default slog.Default()).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Key == "" {
		o.Key = "socket.io"
	}
	if o.SubscriptionMode == "" {
		o.SubscriptionMode = Dynamic
	}
	if o.RequestsTimeout <= 0 {
		o.RequestsTimeout = 5 * time.Second
	}
	if o.QueueLimit <= 0 {
		o.QueueLimit = 1000
	}
	if o.QueueTTL <= 0 {
		o.QueueTTL = 30 * time.Second
	}
	if o.InboundQueue <= 0 {
		o.InboundQueue = 65536
	}
	if o.BreakerThreshold <= 0 {
		o.BreakerThreshold = 5
	}
	if o.BreakerCooldown <= 0 {
		o.BreakerCooldown = 60 * time.Second
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = time.Second
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = 30 * time.Second
	}
	if o.CanaryInterval <= 0 {
		o.CanaryInterval = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Stats is what a Cluster shows to health checks and metrics.
type Stats struct {
	ServerID string `json:"serverId"`
	UID      string `json:"uid"`
	Mode     string `json:"mode"` // "classic" or "sharded/<subscription mode>"
	// State is "connected", "connecting" (never connected yet) or "down"
	// (lost; reconnecting with backoff).
	State      string `json:"state"`
	Reconnects uint64 `json:"reconnects"`
	// Breaker is the publish breaker's state: closed, open or half-open.
	Breaker    string `json:"breaker"`
	QueueDepth int    `json:"queueDepth"` // outgoing messages waiting
	Published  uint64 `json:"published"`
	Received   uint64 `json:"received"`
	// Drops by reason: queue-full (a channel's queue at QueueLimit),
	// expired (older than QueueTTL), inbound (the inbound queue full),
	// invalid (a message from Redis that does not decode).
	Drops        map[string]uint64 `json:"drops"`
	CanaryMisses uint64            `json:"canaryMisses"`
	LastError    string            `json:"lastError,omitempty"`
}
