package gateway

import (
	"encoding/json"
	"testing"
)

// BenchmarkValidateSend is the per-message work a message:send does before
// it is stored: decode the payload, trim, check and sanitize the text and
// the attachments (the loop only copies the payload; this runs on the
// socket's worker).
func BenchmarkValidateSend(b *testing.B) {
	raw := json.RawMessage(`{"channelId":"general","text":"  hello <b>team</b>, the build is green again :) see https://ci.example/run/42  ",` +
		`"attachments":[{"url":"https://files.example/a.png","name":"a.png","mimeType":"image/png","size":5120}],"clientMsgId":"c-17"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		var req sendReq
		if err := decode(raw, &req); err != nil {
			b.Fatal(err)
		}
		if _, err := cleanText(req.Text); err != nil {
			b.Fatal(err)
		}
		if _, err := cleanAttachments(req.Attachments); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMessageJSON is the encoding of one message:new (once per
// broadcast, whatever the number of recipients).
func BenchmarkMessageJSON(b *testing.B) {
	m := Message{ID: "1796436569079000001", ChannelID: "general", UserID: "alice", Text: "hello team, the build is green again",
		Attachments: []Attachment{{URL: "https://files.example/a.png", Name: "a.png", MimeType: "image/png", Size: 5120}},
		CreatedAt:   "2026-12-05T02:09:29.079727823Z"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}
