package socketio

import (
	"testing"
	"time"

	"github.com/valyala/bytebufferpool"
)

// Benchmarks of the emit encoder on typical argument shapes. Each encodes
// one event into a pooled buffer, as Socket.Emit does.

type encBenchUser struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Admin  bool   `json:"admin,omitempty"`
	Avatar string `json:"avatar,omitempty"`
}

type encBenchMessage struct {
	ID        string       `json:"id"`
	User      encBenchUser `json:"user"`
	Text      string       `json:"text"`
	CreatedAt time.Time    `json:"createdAt"`
	Tags      []string     `json:"tags"`
}

type encBenchUpload struct {
	Name string   `json:"name"`
	Type string   `json:"type"`
	Size int      `json:"size"`
	Data []byte   `json:"data"`
	Tags []string `json:"tags,omitempty"`
}

func encBenchRun(b *testing.B, data []any) {
	b.Helper()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		buf, text, _, err := encodeEventPooled("/chat", -1, data, false)
		if err != nil {
			b.Fatal(err)
		}
		n = len(text)
		bytebufferpool.Put(buf)
	}
	b.SetBytes(int64(n))
}

func BenchmarkEncodeArgMap(b *testing.B) {
	encBenchRun(b, []any{"message", map[string]any{
		"id":    "m-1842",
		"user":  map[string]any{"id": "u-7", "name": "Ada", "admin": false},
		"text":  "hello world, see you at 5 & bring snacks",
		"ts":    1700000000123,
		"tags":  []any{"general", "random"},
		"score": 0.75,
	}})
}

func BenchmarkEncodeArgStruct(b *testing.B) {
	encBenchRun(b, []any{"message", encBenchMessage{
		ID:        "m-1842",
		User:      encBenchUser{ID: "u-7", Name: "Ada"},
		Text:      "hello world, see you at 5 & bring snacks",
		CreatedAt: time.Date(2024, 5, 17, 9, 30, 0, 123000000, time.UTC),
		Tags:      []string{"general", "random"},
	}})
}

func BenchmarkEncodeArgStructBinary(b *testing.B) {
	encBenchRun(b, []any{"upload", encBenchUpload{
		Name: "cat.png",
		Type: "image/png",
		Size: 1024,
		Data: make([]byte, 1024),
		Tags: []string{"pets"},
	}})
}

func BenchmarkEncodeArgScalars(b *testing.B) {
	encBenchRun(b, []any{"tick", []any{"alpha", 42, 3.5, true, nil, int64(-7), "quote \" and \\ here", uint32(9), float32(0.25)}})
}
