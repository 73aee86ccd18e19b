package main

import "sio/engine"

// deflateFlag is -compress: permessage-deflate with threshold 0, so that
// tests see every frame compressed; nil (off, the default) without it.
func deflateFlag(on bool) *engine.Deflate {
	if !on {
		return nil
	}
	return &engine.Deflate{Threshold: -1}
}
