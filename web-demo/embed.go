// Package webdemo holds Loft's web demo client: a static page, the loft.js
// protocol client module and the demo UI built on it. The server serves
// Files at GET /; nothing here runs in Go.
package webdemo

import "embed"

// Files holds the page (index.html), its modules (loft.js, dev.js, dom.js,
// login.js, panels.js, app.js), style.css and the icon, at the root of the
// file system. It is read-only and safe to use from any goroutine.
//
//go:embed index.html loft.js dev.js dom.js login.js panels.js app.js style.css favicon.svg
var Files embed.FS
