package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"sio/limits"
)

// Backend is the application's own HTTP service: each message:send and
// message:edit is POSTed to it before it is stored and delivered, so that
// the application can persist it, reject it, or replace it. Calls run on a
// socket's worker, never on an event loop; they are bounded in time
// (Timeout), in number (a semaphore: beyond it the ack says unavailable at
// once) and guarded by a circuit breaker.
type Backend struct {
	URL     string
	Client  *http.Client
	Timeout time.Duration
	Breaker *limits.Breaker
	slots   chan struct{}
}

// BackendRequest is the JSON body POSTed to BACKEND_URL.
type BackendRequest struct {
	Type    string      `json:"type"` // "message:send" or "message:edit"
	Message Message     `json:"message"`
	User    BackendUser `json:"user"`
}

// BackendUser is who sent it.
type BackendUser struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// BackendRejection is a 4xx answer: the message is refused with the
// backend's message.
type BackendRejection struct{ Message string }

func (e *BackendRejection) Error() string { return e.Message }

// ErrBackendUnavailable is returned while the backend fails, times out, is
// saturated or its breaker is open.
var ErrBackendUnavailable = errors.New("the application backend is unavailable")

func newBackend(url string, timeout time.Duration, concurrency int, cooldown time.Duration, onTrip func(string, limits.BreakerState, limits.BreakerState)) *Backend {
	return &Backend{
		URL:     url,
		Client:  &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, IdleConnTimeout: 90 * time.Second}},
		Timeout: timeout,
		Breaker: &limits.Breaker{Name: "backend", Threshold: 5, Cooldown: cooldown, OnStateChange: onTrip},
		slots:   make(chan struct{}, concurrency),
	}
}

// Submit POSTs req and returns the message to store: the backend's
// replacement (its text and attachments) or req.Message unchanged.
func (b *Backend) Submit(ctx context.Context, req BackendRequest) (Message, error) {
	select {
	case b.slots <- struct{}{}:
		defer func() { <-b.slots }()
	default:
		return Message{}, fmt.Errorf("%w: %d requests in flight", ErrBackendUnavailable, cap(b.slots))
	}
	if err := b.Breaker.Allow(); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrBackendUnavailable, err)
	}
	out, err := b.post(ctx, req)
	var rej *BackendRejection
	if errors.As(err, &rej) {
		b.Breaker.Done(nil) // the backend answered: it is up
		return Message{}, err
	}
	b.Breaker.Done(err)
	if err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrBackendUnavailable, err)
	}
	return out, nil
}

func (b *Backend) post(ctx context.Context, req BackendRequest) (Message, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Message{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, b.URL, bytes.NewReader(body))
	if err != nil {
		return Message{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := b.Client.Do(hr)
	if err != nil {
		return Message{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Message{}, err
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		out := req.Message
		var answer struct {
			Message *struct {
				Text        *string       `json:"text"`
				Attachments *[]Attachment `json:"attachments"`
			} `json:"message"`
		}
		if len(bytes.TrimSpace(raw)) > 0 && json.Unmarshal(raw, &answer) == nil && answer.Message != nil {
			if answer.Message.Text != nil {
				out.Text = *answer.Message.Text
			}
			if answer.Message.Attachments != nil {
				out.Attachments = *answer.Message.Attachments
			}
		}
		return out, nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return Message{}, &BackendRejection{Message: backendMessage(raw, resp.Status)}
	default:
		return Message{}, fmt.Errorf("backend answered %s", resp.Status)
	}
}

// backendMessage picks {"message"} or {"error"} from a 4xx body, else its
// text, else the status.
func backendMessage(raw []byte, status string) string {
	var v struct {
		Message string `json:"message"`
		Error   any    `json:"error"`
	}
	if json.Unmarshal(raw, &v) == nil {
		if v.Message != "" {
			return limits.SanitizeText(v.Message)
		}
		switch e := v.Error.(type) {
		case string:
			return limits.SanitizeText(e)
		case map[string]any:
			if s, ok := e["message"].(string); ok {
				return limits.SanitizeText(s)
			}
		}
	}
	if s := strings.TrimSpace(string(raw)); s != "" && len(s) < 500 && !strings.HasPrefix(s, "{") {
		return limits.SanitizeText(s)
	}
	return "rejected by the application: " + status
}
