// Package logvendor is the development push vendor "log": it records every
// push in memory and sends nothing, so that Loft can run, and be tested,
// with offline push on and no network or vendor account.
//
// A Vendor keeps the last Config.Max records (1000 by default, the oldest
// dropped first). Recent and All return copies, so callers may keep and
// change them. Config.Fail (and SetFail) make Send fail for chosen tokens
// with a chosen offlinepush.ErrorKind, which lets tests elsewhere exercise
// token removal and retries; Config.OnSend lets the web demo show pushes
// as they happen. There are no payload limits, no credentials and no
// error codes of its own: the only errors are the configured failures
// (Error.Code is the kind's name) and a done context (KindRetry).
//
// A Vendor is safe for concurrent use.
package logvendor
