package main

import (
	"net/http"

	webdemo "github.com/loftchat/loft/web-demo"
)

// demoHandler serves the web demo's static files (index.html at /). The
// page talks only to this server: the policy forbids every other origin.
func demoHandler() http.Handler {
	files := http.FileServerFS(webdemo.Files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache") // revalidate: a new binary serves new files
		files.ServeHTTP(w, r)
	})
}
