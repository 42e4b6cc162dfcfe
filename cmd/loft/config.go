package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/loftchat/loft/presence"
)

// config is every setting of the server, from flags and LOFT_* variables.
type config struct {
	Listen          string
	DataDir         string
	JWTSecret       string
	JWTSecretFile   string
	JWTPublicKey    string
	JWTAlgorithms   string
	JWTIssuer       string
	JWTAudience     string
	JWTLeeway       time.Duration
	Origins         string
	MaxBody         int
	AuthTimeout     time.Duration
	PingInterval    time.Duration
	PongTimeout     time.Duration
	SendQueue       int
	RateLimit       float64
	SyncPage        int
	RetentionAge    time.Duration
	RetentionCount  int
	StoreCache      int64
	ShutdownTimeout time.Duration
	LogLevel        string
	PprofAddr       string
	GroupFanout     int
	MaxGroupSize    int
	RecallWindow    time.Duration
	EditWindow      time.Duration
	DeviceLimits    string
	PushWhen        string
	PushGrace       time.Duration
	PushTTL         time.Duration
	PushVendors     string
	PushConfig      string
	APIKeys         string
	Webhooks        string
	Demo            bool
}

// flags registers the server's flags on fs; each has a LOFT_* twin.
func (c *config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "HTTP and WebSocket listen address")
	fs.StringVar(&c.DataDir, "data", "./data", "data directory (Pebble store, generated dev secret)")
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "HS256 secret for client tokens (prefer the environment variable)")
	fs.StringVar(&c.JWTSecretFile, "jwt-secret-file", "", "file holding the HS256 secret (default: DATA/jwt-secret, generated on first start)")
	fs.StringVar(&c.JWTPublicKey, "jwt-public-key", "", "PEM public key file for RS256, ES256 or EdDSA tokens instead of a secret")
	fs.StringVar(&c.JWTAlgorithms, "jwt-algs", "", "comma-separated accepted JWT algorithms (default: HS256, or by the public key's type)")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", "", "required token issuer (iss), if set")
	fs.StringVar(&c.JWTAudience, "jwt-audience", "", "required token audience (aud), if set")
	fs.DurationVar(&c.JWTLeeway, "jwt-leeway", 30*time.Second, "allowed clock skew on token exp and nbf")
	fs.StringVar(&c.Origins, "origins", "", "comma-separated browser Origin host patterns allowed besides the server's own host")
	fs.IntVar(&c.MaxBody, "max-body", 16<<10, "largest message body in bytes")
	fs.DurationVar(&c.AuthTimeout, "auth-timeout", 10*time.Second, "time a new connection has to authenticate")
	fs.DurationVar(&c.PingInterval, "ping-interval", 30*time.Second, "time between server pings")
	fs.DurationVar(&c.PongTimeout, "pong-timeout", 30*time.Second, "time a device has to answer a ping before it is dropped")
	fs.IntVar(&c.SendQueue, "send-queue", 1024, "frames queued for a slow client before it is disconnected")
	fs.Float64Var(&c.RateLimit, "rate-limit", 1000, "frames per second one connection may send (bursts of twice that)")
	fs.IntVar(&c.SyncPage, "sync-page", 200, "inbox entries per sync page")
	fs.DurationVar(&c.RetentionAge, "retention-max-age", 0, "drop messages older than this (0: keep forever)")
	fs.IntVar(&c.RetentionCount, "retention-max-messages", 0, "keep only this many newest messages per conversation (0: no limit)")
	fs.Int64Var(&c.StoreCache, "store-cache", 256<<20, "bytes of memory for the store's block cache")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "time to finish in-flight work on SIGINT/SIGTERM")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.PprofAddr, "pprof", "", "serve Go profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060")
	fs.IntVar(&c.GroupFanout, "group-fanout", 500, "largest group whose messages go to every member's inbox; larger groups are read fan-out")
	fs.IntVar(&c.MaxGroupSize, "max-group-size", 100_000, "most members a group may have")
	fs.DurationVar(&c.RecallWindow, "recall-window", 2*time.Minute, "how long after sending a sender may recall a message")
	fs.DurationVar(&c.EditWindow, "edit-window", 24*time.Hour, "how long after sending a sender may edit a message")
	fs.StringVar(&c.PushWhen, "push-when", "all_offline", "push a user's offline devices only while all its devices are offline (all_offline), or each offline device (any_offline)")
	fs.DurationVar(&c.PushGrace, "push-grace", 2*time.Second, "time a reconnecting device has to get a message live before it is pushed")
	fs.DurationVar(&c.PushTTL, "push-ttl", 72*time.Hour, "how long a push is retried and kept by the vendor")
	fs.StringVar(&c.PushVendors, "push-vendors", "log", "comma-separated push vendors to enable without a config section; log records pushes in memory (development)")
	fs.BoolVar(&c.Demo, "demo", true, "serve the web demo client at /")
	fs.StringVar(&c.Webhooks, "webhooks", "", "JSON file of the endpoints Loft POSTs events to: {\"endpoints\":[{\"url\",\"secret\",\"types\"}]} (see docs/http-api.md)")
	fs.StringVar(&c.APIKeys, "api-keys", "", "JSON file listing the HTTP API's keys: [{\"name\",\"secret\",\"scopes\":[\"send\",\"push\",\"admin\"],\"rate\"}] (see docs/http-api.md)")
	fs.StringVar(&c.PushConfig, "push-config", "", "JSON file with a section per push vendor account (see docs/push.md)")
	fs.StringVar(&c.DeviceLimits, "device-limits", "mobile=1,desktop=1,web=5", "concurrent sessions per device class (mobile, desktop, web, other); a login over it kicks the oldest")
}

// parseLimits reads "class=n,..." into presence limits.
func parseLimits(s string) (presence.Limits, error) {
	limits := presence.Limits{}
	for _, part := range splitList(s) {
		class, n, ok := strings.Cut(part, "=")
		v, err := strconv.Atoi(n)
		switch presence.Class(class) {
		case presence.ClassMobile, presence.ClassDesktop, presence.ClassWeb, presence.ClassOther:
		default:
			ok = false
		}
		if !ok || err != nil || v < 0 {
			return nil, fmt.Errorf("device limit %q: want class=count with class mobile, desktop, web or other", part)
		}
		limits[presence.Class(class)] = v
	}
	return limits, nil
}

// envName is the environment variable of a flag: -max-body is LOFT_MAX_BODY.
func envName(flagName string) string {
	return "LOFT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads LOFT_* variables, then flags, which win.
func parseConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := newFlagSet(name, stderr, func(fs *flag.FlagSet) { c.flags(fs) })
	if err := parseWithEnv(fs, args, getenv); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	return c, nil
}

func newFlagSet(name string, out io.Writer, register func(*flag.FlagSet)) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	register(fs)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: %s [flags]\n\nEvery flag can also be set with its environment variable; a flag wins over the variable.\n\n", name)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" {
				def = " (default " + f.DefValue + ")"
			}
			fmt.Fprintf(out, "  -%s, %s\n        %s%s\n", f.Name, envName(f.Name), f.Usage, def)
		})
	}
	return fs
}

// parseWithEnv applies LOFT_* variables as flag values, then parses args.
func parseWithEnv(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %v", envName(f.Name), e)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}
