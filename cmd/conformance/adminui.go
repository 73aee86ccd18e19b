package main

import (
	"fmt"
	"os"

	"sio/admin"
	"sio/engine"
	"sio/socketio"
)

// sioCORS is -mode sio's CORS: any origin; with -admin-ui, any origin with
// credentials (the origin is echoed), since the admin UI, served from
// another origin (https://admin.socket.io or a local ui/dist), polls with
// withCredentials: true, which a bare "*" does not satisfy.
func sioCORS(adminUI bool) *engine.CORS {
	return &engine.CORS{Origins: []string{"*"}, Credentials: adminUI}
}

// instrumentAdminUI adds the admin UI's namespace, /admin, without
// authentication, in development mode (every socket event shown).
func instrumentAdminUI(io *socketio.Server) {
	if _, err := admin.Instrument(io, admin.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, "-admin-ui:", err)
		os.Exit(2)
	}
}
