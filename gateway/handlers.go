package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bytedance/sonic"

	"sio/limits"
)

// handlers are the client events of docs/EVENTS.md.
var handlers = map[string]handler{
	"channel:join":     channelJoin,
	"channel:leave":    channelLeave,
	"message:send":     messageSend,
	"message:edit":     messageEdit,
	"message:delete":   messageDelete,
	"message:history":  messageHistory,
	"typing:start":     typingStart,
	"typing:stop":      typingStop,
	"presence:update":  presenceUpdate,
	"moderation:kick":  moderationKick,
	"moderation:ban":   moderationBan,
	"moderation:unban": moderationUnban,
}

// Limits of docs/EVENTS.md.
const (
	maxTextChars       = 2000
	maxAttachments     = 10
	maxAttachmentBytes = 25 << 20
	maxClientMsgID     = 128
	dedupTTL           = 10 * time.Minute
	maxReasonChars     = 500
	maxBanSeconds      = 10 * 365 * 24 * 3600
)

// validChannelID: 1–128 characters of [A-Za-z0-9_.:-].
func validChannelID(id string) bool {
	if len(id) < 1 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '.' || b == ':' || b == '-') {
			return false
		}
	}
	return true
}

// validUserID: what a token's sub may be, as a target of moderation.
func validUserID(id string) bool {
	return id != "" && len(id) <= 256 && utf8.ValidString(id) && !strings.ContainsAny(id, "\x00\r\n")
}

type channelReq struct {
	ChannelID string `json:"channelId"`
}

func (r *channelReq) check() *apiError {
	if !validChannelID(r.ChannelID) {
		return errInvalid("channelId must be 1-128 characters of A-Z a-z 0-9 _ . : -")
	}
	return nil
}

// member decodes a channel request and checks that the socket joined it.
func (c *client) member(raw json.RawMessage, v interface{ channel() *channelReq }) *apiError {
	if err := decode(raw, v); err != nil {
		return err
	}
	ch := v.channel()
	if err := ch.check(); err != nil {
		return err
	}
	if !c.inChannel(ch.ChannelID) {
		return errForbidden("not a member of channel " + ch.ChannelID + ": join it first")
	}
	return nil
}

func (r *channelReq) channel() *channelReq { return r }

func channelJoin(ctx context.Context, c *client, raw json.RawMessage) (result, *apiError) {
	var req channelReq
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	if err := req.check(); err != nil {
		return nil, err
	}
	if !c.claims.MayJoin(req.ChannelID) {
		return nil, errForbidden("the token does not allow channel " + req.ChannelID)
	}
	g, uid, ch := c.g, c.claims.UserID, req.ChannelID
	var first bool
	err := g.presenceOp(func() error {
		c.mu.Lock()
		if c.channels == nil { // disconnected meanwhile
			c.mu.Unlock()
			return errGone
		}
		already := c.channels[ch]
		c.channels[ch] = true
		c.mu.Unlock()
		if already {
			return nil
		}
		c.s.Join(room(ch))
		if g.presenceClosed.Load() {
			return errGone
		}
		var err error
		if first, err = g.presence.Join(ctx, uid, ch); err != nil {
			// Not counted: not joined either (the reconciliation
			// rewrites the counts should the store have applied it).
			c.mu.Lock()
			if c.channels != nil {
				delete(c.channels, ch)
			}
			c.mu.Unlock()
			c.s.Leave(room(ch))
		}
		return err
	})
	if errors.Is(err, errGone) {
		return nil, errUnavailable("disconnected")
	}
	if err != nil {
		return nil, storeError(err)
	}
	if first {
		g.announce(ctx, c, ch)
	}
	online, err := g.presence.Online(ctx, ch)
	if err != nil {
		return nil, storeError(err)
	}
	list := make([]map[string]any, len(online))
	for i, p := range online {
		list[i] = map[string]any{"userId": p.UserID, "name": p.Name, "status": p.Status}
	}
	return result{"channelId": ch, "online": list}, nil
}

// announce tells a channel's other sockets that the user is there.
func (g *Gateway) announce(ctx context.Context, c *client, ch string) {
	if p, ok, _ := g.presence.Get(ctx, c.claims.UserID); ok {
		_ = c.s.To(room(ch)).Except(userRoom(c.claims.UserID)).Emit("presence:update", p)
	}
}

func channelLeave(ctx context.Context, c *client, raw json.RawMessage) (result, *apiError) {
	var req channelReq
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	if err := req.check(); err != nil {
		return nil, err
	}
	c.leave(ctx, req.ChannelID)
	return result{"channelId": req.ChannelID}, nil
}

// leave takes the socket out of a channel: room, typing, presence. The
// socket leaves even when the store fails (the reconciliation catches up).
func (c *client) leave(ctx context.Context, ch string) bool {
	var was bool
	_ = c.g.presenceOp(func() error {
		c.mu.Lock()
		was = c.channels[ch]
		delete(c.channels, ch)
		c.mu.Unlock()
		if !was {
			return nil
		}
		c.s.Leave(room(ch))
		c.g.typing.stop(ch, c.claims.UserID)
		if c.g.presenceClosed.Load() {
			return errGone
		}
		_, err := c.g.presence.Leave(ctx, c.claims.UserID, ch)
		return err
	})
	return was
}

type sendReq struct {
	channelReq
	Text        *string           `json:"text"`
	Attachments []json.RawMessage `json:"attachments"`
	ClientMsgID *string           `json:"clientMsgId"`
}

// cleanText trims, sanitizes and checks the length of a message text.
func cleanText(p *string) (string, *apiError) {
	if p == nil {
		return "", errInvalid("text is required")
	}
	t := strings.TrimSpace(*p)
	if err := limits.Length(t, 1, maxTextChars); err != nil {
		return "", errInvalid("text must be 1-2000 characters after trimming")
	}
	t = strings.TrimSpace(limits.SanitizeText(t))
	if t == "" {
		return "", errInvalid("text is empty once sanitized")
	}
	// The limit is on what the user typed: escaping may lengthen it.
	return t, nil
}

func cleanAttachments(raw []json.RawMessage) ([]Attachment, *apiError) {
	if len(raw) > maxAttachments {
		return nil, errInvalid("at most 10 attachments")
	}
	out := make([]Attachment, 0, len(raw))
	for i, r := range raw {
		var a struct {
			URL      *string `json:"url"`
			Name     *string `json:"name"`
			MimeType *string `json:"mimeType"`
			Size     *int64  `json:"size"`
		}
		if len(r) == 0 || r[0] != '{' || sonic.ConfigStd.Unmarshal(r, &a) != nil {
			return nil, errInvalid("attachments[" + itoa(int64(i)) + "] must be {url, name, mimeType, size}")
		}
		if a.URL == nil || !strings.HasPrefix(strings.ToLower(*a.URL), "https://") || limits.ValidateURL(*a.URL) != nil {
			return nil, errInvalid("attachments[" + itoa(int64(i)) + "].url must be an https URL")
		}
		if a.Name == nil || limits.Length(*a.Name, 1, 255) != nil {
			return nil, errInvalid("attachments[" + itoa(int64(i)) + "].name must be 1-255 characters")
		}
		name := strings.TrimSpace(limits.SanitizeText(*a.Name))
		if name == "" {
			return nil, errInvalid("attachments[" + itoa(int64(i)) + "].name is empty once sanitized")
		}
		if a.MimeType == nil || len(*a.MimeType) > 255 {
			return nil, errInvalid("attachments[" + itoa(int64(i)) + "].mimeType must be a media type")
		}
		mt, params, err := mime.ParseMediaType(*a.MimeType)
		if err != nil || len(params) > 0 || !strings.Contains(mt, "/") {
			return nil, errInvalid("attachments[" + itoa(int64(i)) + "].mimeType must be a media type such as image/png")
		}
		if a.Size == nil || *a.Size < 1 || *a.Size > maxAttachmentBytes {
			return nil, errInvalid("attachments[" + itoa(int64(i)) + "].size must be 1 B to 25 MiB")
		}
		out = append(out, Attachment{URL: *a.URL, Name: name, MimeType: mt, Size: *a.Size})
	}
	return out, nil
}

func messageSend(ctx context.Context, c *client, raw json.RawMessage) (result, *apiError) {
	var req sendReq
	if err := c.member(raw, &req); err != nil {
		return nil, err
	}
	text, aerr := cleanText(req.Text)
	if aerr != nil {
		return nil, aerr
	}
	atts, aerr := cleanAttachments(req.Attachments)
	if aerr != nil {
		return nil, aerr
	}
	g := c.g
	create := func() (Message, error) {
		now := time.Now().UTC()
		m := Message{ID: g.newID(now), ChannelID: req.ChannelID, UserID: c.claims.UserID, Text: text,
			Attachments: atts, CreatedAt: now.Format(time.RFC3339Nano), created: now}
		m, err := g.submit(ctx, c, "message:send", m)
		if err != nil {
			return Message{}, err
		}
		if err := g.messages.Append(ctx, m); err != nil {
			return Message{}, err
		}
		g.metrics.MessagesSent.Add(1)
		_ = c.s.To(room(m.ChannelID)).Emit("message:new", m)
		return m, nil
	}
	var m Message
	var err error
	if req.ClientMsgID != nil {
		if limits.Length(*req.ClientMsgID, 1, maxClientMsgID) != nil {
			return nil, errInvalid("clientMsgId must be 1-128 characters")
		}
		m, _, err = g.dedup.Do(ctx, c.claims.UserID+"\x00"+*req.ClientMsgID, dedupTTL, create)
	} else {
		m, err = create()
	}
	if err != nil {
		return nil, storeError(err)
	}
	return result{"message": m}, nil
}

// submit passes a message through the application backend, when there is
// one, and re-checks what it sent back.
func (g *Gateway) submit(ctx context.Context, c *client, kind string, m Message) (Message, error) {
	if g.backend == nil {
		return m, nil
	}
	out, err := g.backend.Submit(ctx, BackendRequest{Type: kind, Message: m,
		User: BackendUser{ID: c.claims.UserID, Name: c.claims.Name, Roles: c.claims.Roles}})
	if err != nil {
		return Message{}, err
	}
	// The backend may replace text and attachments; the rest is ours. A
	// replacement text is sanitized like a user's (ours already is).
	if out.Text != m.Text {
		text := out.Text
		t, aerr := cleanText(&text)
		if aerr != nil {
			return Message{}, &BackendRejection{Message: "the backend's replacement: " + aerr.Message}
		}
		m.Text = t
	}
	if out.Attachments != nil {
		m.Attachments = out.Attachments
	}
	if m.Attachments == nil {
		m.Attachments = []Attachment{}
	}
	return m, nil
}

// storeError maps a store or backend error to an ack error.
func storeError(err error) *apiError {
	var rej *BackendRejection
	switch {
	case errors.As(err, &rej):
		return errForbidden(rej.Message)
	case errors.Is(err, ErrNotFound):
		return errNotFound("no such message")
	case errors.Is(err, ErrBackendUnavailable):
		return &apiError{Code: "unavailable", Message: "the application backend is unavailable; try again", RetryAfterMs: 5000}
	}
	return &apiError{Code: "unavailable", Message: "storage unavailable; try again", RetryAfterMs: 1000}
}

type editReq struct {
	channelReq
	MessageID string  `json:"messageId"`
	Text      *string `json:"text"`
}

func (r *editReq) checkID() *apiError {
	if r.MessageID == "" || len(r.MessageID) > 64 {
		return errInvalid("messageId is required")
	}
	return nil
}

func messageEdit(ctx context.Context, c *client, raw json.RawMessage) (result, *apiError) {
	var req editReq
	if err := c.member(raw, &req); err != nil {
		return nil, err
	}
	if err := req.checkID(); err != nil {
		return nil, err
	}
	text, aerr := cleanText(req.Text)
	if aerr != nil {
		return nil, aerr
	}
	g := c.g
	m, err := g.messages.Get(ctx, req.ChannelID, req.MessageID)
	if err != nil {
		return nil, storeError(err)
	}
	if m.UserID != c.claims.UserID {
		return nil, errForbidden("only the author may edit a message")
	}
	m.Text = text
	if m, err = g.submit(ctx, c, "message:edit", m); err != nil {
		return nil, storeError(err)
	}
	edited := time.Now().UTC().Format(time.RFC3339Nano)
	m.EditedAt = &edited
	if err := g.messages.Update(ctx, m); err != nil {
		return nil, storeError(err)
	}
	_ = c.s.To(room(m.ChannelID)).Emit("message:updated", m)
	return result{"message": m}, nil
}

func messageDelete(ctx context.Context, c *client, raw json.RawMessage) (result, *apiError) {
	var req editReq
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	if err := req.check(); err != nil {
		return nil, err
	}
	if err := req.checkID(); err != nil {
		return nil, err
	}
	mod := c.claims.IsModerator()
	if !mod && !c.inChannel(req.ChannelID) {
		return nil, errForbidden("not a member of channel " + req.ChannelID + ": join it first")
	}
	g := c.g
	m, err := g.messages.Get(ctx, req.ChannelID, req.MessageID)
	if err != nil {
		return nil, storeError(err)
	}
	if m.UserID != c.claims.UserID && !mod {
		return nil, errForbidden("only the author or a moderator may delete a message")
	}
	if err := g.messages.Delete(ctx, req.ChannelID, req.MessageID); err != nil {
		return nil, storeError(err)
	}
	_ = c.s.To(room(req.ChannelID)).Emit("message:deleted", map[string]any{"channelId": req.ChannelID, "messageId": req.MessageID})
	return result{"channelId": req.ChannelID, "messageId": req.MessageID}, nil
}

type historyReq struct {
	channelReq
	Before *string `json:"before"`
	Limit  *int    `json:"limit"`
}

func messageHistory(ctx context.Context, c *client, raw json.RawMessage) (result, *apiError) {
	var req historyReq
	if err := c.member(raw, &req); err != nil {
		return nil, err
	}
	limit := 50
	if req.Limit != nil {
		if *req.Limit < 1 || *req.Limit > 100 {
			return nil, errInvalid("limit must be 1-100")
		}
		limit = *req.Limit
	}
	before := ""
	if req.Before != nil {
		before = *req.Before
		if len(before) > 64 {
			return nil, errInvalid("before must be a message id")
		}
	}
	msgs, err := c.g.messages.History(ctx, req.ChannelID, before, limit)
	if errors.Is(err, ErrNotFound) {
		return nil, errNotFound("no message " + before + " in the history")
	}
	if err != nil {
		return nil, storeError(err)
	}
	return result{"channelId": req.ChannelID, "messages": msgs}, nil
}

func typingStart(_ context.Context, c *client, raw json.RawMessage) (result, *apiError) {
	var req channelReq
	if err := c.member(raw, &req); err != nil {
		return nil, err
	}
	c.g.typing.start(req.ChannelID, c.claims.UserID)
	return result{}, nil
}

func typingStop(_ context.Context, c *client, raw json.RawMessage) (result, *apiError) {
	var req channelReq
	if err := c.member(raw, &req); err != nil {
		return nil, err
	}
	c.g.typing.stop(req.ChannelID, c.claims.UserID)
	return result{}, nil
}

func presenceUpdate(ctx context.Context, c *client, raw json.RawMessage) (result, *apiError) {
	var req struct {
		Status string `json:"status"`
	}
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	switch req.Status {
	case "online", "away", "dnd":
	default:
		return nil, errInvalid(`status must be "online", "away" or "dnd"`)
	}
	g := c.g
	p, ok, err := g.presence.SetStatus(ctx, c.claims.UserID, req.Status, time.Now())
	if err != nil {
		return nil, storeError(err)
	}
	if !ok {
		return nil, errUnavailable("presence unavailable")
	}
	// The user's channels on every node.
	chans, err := g.presence.Channels(ctx, c.claims.UserID)
	if err != nil {
		return nil, storeError(err)
	}
	if len(chans) > 0 {
		_ = c.s.To(rooms(chans)...).Emit("presence:update", p)
	}
	return result{"presence": p}, nil
}

func (c *client) moderator() *apiError {
	if !c.claims.IsModerator() {
		return errForbidden("moderators only")
	}
	return nil
}

type targetReq struct {
	ChannelID   string  `json:"channelId"`
	UserID      string  `json:"userId"`
	Reason      *string `json:"reason"`
	DurationSec *int64  `json:"durationSec"`
}

func moderationKick(ctx context.Context, c *client, raw json.RawMessage) (result, *apiError) {
	if err := c.moderator(); err != nil {
		return nil, err
	}
	var req targetReq
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	if !validChannelID(req.ChannelID) {
		return nil, errInvalid("channelId must be 1-128 characters of A-Z a-z 0-9 _ . : -")
	}
	if !validUserID(req.UserID) {
		return nil, errInvalid("userId is required")
	}
	kicked := c.g.kick(ctx, req.ChannelID, req.UserID, c.claims.UserID)
	return result{"channelId": req.ChannelID, "userId": req.UserID, "sockets": kicked}, nil
}

func moderationBan(ctx context.Context, c *client, raw json.RawMessage) (result, *apiError) {
	if err := c.moderator(); err != nil {
		return nil, err
	}
	var req targetReq
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	if !validUserID(req.UserID) {
		return nil, errInvalid("userId is required")
	}
	if req.UserID == c.claims.UserID {
		return nil, errInvalid("a moderator cannot ban themselves")
	}
	reason := ""
	if req.Reason != nil {
		if limits.Length(*req.Reason, 0, maxReasonChars) != nil {
			return nil, errInvalid("reason must be at most 500 characters")
		}
		reason = strings.TrimSpace(limits.SanitizeText(*req.Reason))
	}
	b := Ban{UserID: req.UserID, Reason: reason, By: c.claims.UserID}
	if req.DurationSec != nil {
		if *req.DurationSec < 1 || *req.DurationSec > maxBanSeconds {
			return nil, errInvalid("durationSec must be 1 to 315360000 seconds, or absent for a permanent ban")
		}
		b.Until = time.Now().Add(time.Duration(*req.DurationSec) * time.Second).UTC().Truncate(time.Second)
	}
	if err := c.g.bans.Put(ctx, b); err != nil {
		return nil, storeError(err)
	}
	c.g.ban(ctx, b)
	return result{"userId": req.UserID, "reason": reason, "until": untilJSON(b.Until)}, nil
}

func moderationUnban(ctx context.Context, c *client, raw json.RawMessage) (result, *apiError) {
	if err := c.moderator(); err != nil {
		return nil, err
	}
	var req targetReq
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	if !validUserID(req.UserID) {
		return nil, errInvalid("userId is required")
	}
	was, err := c.g.bans.Remove(ctx, req.UserID)
	if err != nil {
		return nil, storeError(err)
	}
	return result{"userId": req.UserID, "wasBanned": was}, nil
}
