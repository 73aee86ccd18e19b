package limits

import (
	"testing"
	"time"
)

func BenchmarkTokenBucketAllow(b *testing.B) {
	b.ReportAllocs()
	l := PerSecond(1e9)
	var bk Bucket
	for i := 0; i < b.N; i++ {
		l.Allow(&bk, int64(i+1))
	}
}

func BenchmarkEventLimitsAllow(b *testing.B) {
	b.ReportAllocs()
	tbl := NewEventLimits(PerSecond(1e9), map[string]Limit{"message": PerSecond(1e9), "typing": PerWindow(1<<30, time.Second)})
	st := tbl.NewState()
	name := []byte("message")
	for i := 0; i < b.N; i++ {
		tbl.Allow(st, name, int64(i+1))
	}
}

func BenchmarkKeyedAllow(b *testing.B) {
	b.ReportAllocs()
	k := NewKeyed(PerSecond(1e9))
	key := []byte("203.0.113.7")
	k.Allow(key, 1)
	for i := 0; i < b.N; i++ {
		k.Allow(key, int64(i+2))
	}
}

func BenchmarkSanitizeCleanText(b *testing.B) {
	b.ReportAllocs()
	msg := "Meeting moved to 10:30 - see you in room 4B, bring the slides! Thanks everyone, great work today."
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i++ {
		_ = SanitizeText(msg)
	}
}

func BenchmarkSanitizeHostileText(b *testing.B) {
	b.ReportAllocs()
	msg := `<img src=x onerror="alert(1)"> javascript:alert(document.cookie) ＜script＞`
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i++ {
		_ = SanitizeText(msg)
	}
}
