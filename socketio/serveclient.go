package socketio

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sio/engine"
	"sio/loop"
)

// clientFileNames are the files Node's socket.io 4.8 serves under its path
// (CLIENT_FILES in socket.io/dist/index.js). The first three must exist in
// an Options.ServeClient directory; the others are served when present.
var clientFileNames = []string{
	"socket.io.js", "socket.io.min.js", "socket.io.esm.min.js",
	"socket.io.js.map", "socket.io.min.js.map", "socket.io.esm.min.js.map",
	"socket.io.msgpack.min.js", "socket.io.msgpack.min.js.map",
}

// ErrClientFiles is wrapped by the error Serve returns when
// Options.ServeClient names a directory without the client bundle.
var ErrClientFiles = errors.New("socketio: ServeClient")

// clientFile is one served file, read and compressed once at start.
type clientFile struct {
	body, gz []byte
	etag     string // quoted
	headers  []byte // Cache-Control, ETag (and Vary) lines
}

// clientFiles serves the socket.io-client bundle (Options.ServeClient).
type clientFiles struct {
	prefix string // the Engine.IO path, "/socket.io/"
	files  map[string]*clientFile
}

// loadClientFiles reads the bundle in dir: see Options.ServeClient.
func loadClientFiles(dir, prefix string) (*clientFiles, error) {
	version := clientVersion(dir)
	cf := &clientFiles{prefix: prefix, files: make(map[string]*clientFile)}
	for i, name := range clientFileNames {
		body, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			if i < 3 || !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%w: %v (point it at socket.io-client's dist directory; `make client-dist` fetches it)", ErrClientFiles, err)
			}
			continue
		}
		f := &clientFile{body: body}
		if version != "" {
			f.etag = `"` + version + `"` // as Node: the version, one tag for every file
		} else {
			sum := sha256.Sum256(body)
			f.etag = `"` + hex.EncodeToString(sum[:12]) + `"`
		}
		var gz bytes.Buffer
		w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		_, _ = w.Write(body)
		if err := w.Close(); err == nil && gz.Len() < len(body) {
			f.gz = gz.Bytes()
		}
		f.headers = []byte("Cache-Control: public, max-age=0\r\nETag: " + f.etag + "\r\nVary: Accept-Encoding\r\n")
		cf.files[name] = f
	}
	return cf, nil
}

// clientVersion is the version in the package.json of socket.io-client
// found in dir or its parent (dir is usually node_modules/socket.io-client/dist),
// or "" when there is none.
func clientVersion(dir string) string {
	for _, p := range []string{filepath.Join(dir, "package.json"), filepath.Join(dir, "..", "package.json")} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var pkg struct{ Name, Version string }
		if json.Unmarshal(b, &pkg) == nil && pkg.Name == "socket.io-client" && pkg.Version != "" &&
			!strings.ContainsAny(pkg.Version, "\"\r\n") {
			return pkg.Version
		}
	}
	return ""
}

// serve answers a request for one of the files (engine.Config.Files); any
// other name under the path goes on to Engine.IO, as in Node.
func (cf *clientFiles) serve(c *loop.Conn, r *loop.Request, cors []byte) bool {
	f := cf.files[string(r.Path[len(cf.prefix):])]
	if f == nil {
		return false
	}
	if inm := r.Header("If-None-Match"); inm != nil &&
		(string(inm) == f.etag || (len(inm) > 2 && string(inm[:2]) == "W/" && string(inm[2:]) == f.etag)) {
		c.Respond(&loop.Response{Status: 304, Extra: cors})
		return true
	}
	ctype := "application/javascript; charset=utf-8"
	if strings.HasSuffix(string(r.Path), ".map") {
		ctype = "application/json; charset=utf-8"
	}
	extra := make([]byte, 0, len(cors)+len(f.headers)+32)
	extra = append(append(extra, cors...), f.headers...)
	body := f.body
	if f.gz != nil && acceptsGzip(r.Header("Accept-Encoding")) {
		extra = append(extra, "Content-Encoding: gzip\r\n"...)
		body = f.gz
	}
	if string(r.Method) == "HEAD" {
		body = nil
	}
	c.Respond(&loop.Response{Status: 200, ContentType: ctype, Extra: extra, Body: body})
	return true
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip (listed,
// or "*", without q=0).
func acceptsGzip(v []byte) bool {
	for _, part := range strings.Split(string(v), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.ToLower(params), " ", "")
		if q == "q=0" || strings.HasPrefix(q, "q=0.") && strings.Trim(q[4:], "0") == "" {
			continue
		}
		return true
	}
	return false
}

// serveClient loads Options.ServeClient's bundle and routes its files
// ahead of Engine.IO (and of a Files hook cfg already has).
func (s *Server) serveClient(cfg *engine.Config) error {
	prefix := cfg.Path
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	cf, err := loadClientFiles(s.opts.ServeClient, prefix)
	if err != nil {
		s.opts.Logger.Error("ServeClient: the client bundle cannot be served", "dir", s.opts.ServeClient, "err", err)
		return err
	}
	next := cfg.Files
	cfg.Files = func(c *loop.Conn, r *loop.Request, cors []byte) bool {
		if cf.serve(c, r, cors) {
			return true
		}
		return next != nil && next(c, r, cors)
	}
	return nil
}
