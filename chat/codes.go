package chat

import "github.com/coder/websocket"

// Code is an error code carried by an error frame. Codes are stable API: they
// are only ever added, never changed or removed.
type Code string

// Error codes. None of them closes the connection.
const (
	CodeBadFrame     Code = "bad_frame"    // not a JSON object, a missing or malformed field, an unknown field
	CodeUnknownType  Code = "unknown_type" // the frame's type is not one the server knows
	CodeTooLarge     Code = "too_large"    // the message body is over the size limit
	CodeUnauthorized Code = "unauthorized" // no auth yet, or the token is invalid or expired
	CodeForbidden    Code = "forbidden"    // authenticated, but not allowed (re-auth as another user)
	CodeRateLimited  Code = "rate_limited" // too many frames; the frame was dropped, retry later
	CodeConflict     Code = "conflict"     // a client message id reused with a different message
	CodeNotFound     Code = "not_found"    // no such conversation (or not a member of it)
	CodeUnavailable  Code = "unavailable"  // shutting down, or the storage failed; reconnect and retry later
	CodeInternal     Code = "internal"     // a server fault; retry later
	CodeTooLate      Code = "too_late"     // the recall or edit window of the message has passed
	CodeTooMany      Code = "too_many"     // over a count limit: group size, users per request, watched users
)

// Close codes. 1000-1015 are the standard ones; 4000-4999 are Loft's own.
const (
	// CloseGoingAway (1001): the server is shutting down. Reconnect.
	CloseGoingAway = websocket.StatusGoingAway
	// CloseTooBig (1009): a frame exceeded the read limit. Do not resend it.
	CloseTooBig = websocket.StatusMessageTooBig
	// CloseAuthTimeout: no successful auth within the auth timeout. Reconnect
	// and authenticate at once.
	CloseAuthTimeout websocket.StatusCode = 4000
	// CloseReplaced: the same device connected again; this connection is
	// the older one. Do not reconnect automatically.
	CloseReplaced websocket.StatusCode = 4002
	// CloseSlow: the client fell too far behind the messages sent to it.
	// Reconnect and sync from the cursor; nothing was lost.
	CloseSlow websocket.StatusCode = 4003
	// CloseTokenExpired: the token expired and no new one came. Reconnect
	// with a fresh token.
	CloseTokenExpired websocket.StatusCode = 4004
	// ClosePingTimeout: the client did not answer a ping in time. Reconnect.
	ClosePingTimeout websocket.StatusCode = 4005
	// CloseKicked: a newer login over the device limit, or a logout from
	// another of the user's devices, ended this session; a kicked frame
	// says which. Do not reconnect without the user logging in again.
	CloseKicked websocket.StatusCode = 4006
	// CloseLoggedOut: the device logged out. Do not reconnect.
	CloseLoggedOut websocket.StatusCode = 4007
)
