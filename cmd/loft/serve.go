package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/loftchat/loft/chat"
	"github.com/loftchat/loft/chat/events"
	"github.com/loftchat/loft/chat/httpapi"
	"github.com/loftchat/loft/history"
	"github.com/loftchat/loft/offlinepush"
	"github.com/loftchat/loft/presence"
)

// serve runs the server until ctx ends, then shuts it down gracefully.
// ready, if set, is called with the listening address.
func serve(ctx context.Context, cfg config, logOut io.Writer, ready func(addr string)) error {
	log, err := newLogger(cfg.LogLevel, logOut)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	auth, err := newVerifier(cfg)
	if err != nil {
		return err
	}
	limits, err := parseLimits(cfg.DeviceLimits)
	if err != nil {
		return err
	}

	vendors, templates, err := pushVendors(cfg)
	if err != nil {
		return err
	}
	hooks, err := loadWebhooks(cfg.Webhooks)
	if err != nil {
		return err
	}
	dev := devMode(cfg)
	var inbox *devInbox
	if dev {
		inbox = newDevInbox(vendors)
	}

	// The store's commit hook needs the chat server, which needs the store:
	// the hook reads srv, set before the listener accepts anything. The
	// push layer, which keeps its records in the store, likewise.
	var srv *chat.Server
	var push *offlinepush.Service
	var emit emitter // its queue is set before anything is stored
	met := newMetrics()
	store, err := history.Open(filepath.Join(cfg.DataDir, "store"), history.Config{
		MaxAge:             cfg.RetentionAge,
		MaxPerConversation: cfg.RetentionCount,
		CacheSize:          cfg.StoreCache,
		OnCommit: func(b []history.Appended) {
			srv.Committed(b)
			emit.committed(b)
		},
		OnDeviceState: func(user, device string, st history.DeviceState, unbind bool) {
			emit.deviceState(user, device, st, unbind)
		},
		OnSync: func(d time.Duration) { met.commits.Observe(d.Seconds()) },
		PushPending: func(m *history.Message, refs []history.InboxRef) bool {
			for _, r := range refs {
				if r.User != m.From && push.Wants(r.User) {
					return true
				}
			}
			return false
		},
		Logger:       log.With("component", "history"),
		FanoutLimit:  cfg.GroupFanout,
		MaxGroupSize: cfg.MaxGroupSize,
		RecallWindow: cfg.RecallWindow,
		EditWindow:   cfg.EditWindow,
	})
	if err != nil {
		return err
	}
	defer store.Close()

	evTable, err := store.Table("events")
	if err != nil {
		return err
	}
	emit.q, err = events.New(events.Config{KV: chat.PushKV{Table: evTable}, Endpoints: hooks, Logger: log})
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	emit.q.Start()
	defer emit.q.Close(context.Background())

	router := chat.NewLocalRouter()
	tracker := presence.NewTracker(presence.Config{OnChange: func(c presence.Change) {
		srv.PresenceChanged(c)
		emit.presence(c)
	}})
	table, err := store.Table("push")
	if err != nil {
		return err
	}
	push, err = offlinepush.New(offlinepush.Config{
		KV:        chat.PushKV{Table: table},
		Facts:     chat.PushFacts{Store: store, Presence: tracker},
		Done:      store.DonePending,
		Vendors:   vendors,
		PushWhen:  cfg.PushWhen,
		Grace:     cfg.PushGrace,
		TTL:       cfg.PushTTL,
		Templates: templates,
		Logger:    log.With("component", "offlinepush"),
		OnOutcome: func(o offlinepush.Outcome) {
			emit.outcome(o)
			if inbox != nil {
				inbox.record(o)
			}
		},
	})
	if err != nil {
		return err
	}
	// Messages committed before a crash that the push layer had not yet
	// decided on are handed to it again.
	err = store.Pending(func(a history.Appended) error {
		if msgs := chat.PushMessages(push, []history.Appended{a}); len(msgs) > 0 {
			push.Handle(msgs)
		}
		return nil
	})
	if err != nil {
		return err
	}
	push.Start()
	defer push.Close(context.Background())

	srv, err = chat.New(chat.Config{
		Store:          store,
		Auth:           auth,
		Push:           push,
		Router:         router,
		Presence:       tracker,
		OnAck:          func(d time.Duration) { met.ack.Observe(d.Seconds()) },
		DeviceLimits:   limits,
		TypingFanout:   cfg.GroupFanout,
		Logger:         log.With("component", "chat"),
		OriginPatterns: splitList(cfg.Origins),
		MaxBody:        cfg.MaxBody,
		AuthTimeout:    cfg.AuthTimeout,
		PingInterval:   cfg.PingInterval,
		PongTimeout:    cfg.PongTimeout,
		SendQueue:      cfg.SendQueue,
		RateLimit:      cfg.RateLimit,
		SyncPage:       cfg.SyncPage,
		TokenLeeway:    cfg.JWTLeeway,
	})
	if err != nil {
		return err
	}

	keys, err := loadAPIKeys(cfg.APIKeys)
	if err != nil {
		return err
	}
	apiTable, err := store.Table("api")
	if err != nil {
		return err
	}
	tagTable, err := store.Table("tags")
	if err != nil {
		return err
	}
	tags, err := offlinepush.NewTags(chat.PushKV{Table: tagTable}, offlinepush.TagLimits{})
	if err != nil {
		return err
	}
	var accepting atomic.Bool
	api, err := httpapi.New(httpapi.Config{
		Keys:     keys,
		Store:    store,
		KV:       chat.PushKV{Table: apiTable},
		Push:     push,
		Tags:     tags,
		Presence: tracker,
		Router:   router,
		Mint:     minter(cfg),
		MaxBody:  cfg.MaxBody,
		Ready:    accepting.Load,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/ws", srv)
	met.watch(srv, tracker, store, push, emit.q)
	mux.Handle("GET /metrics", met.handler())
	mux.Handle("/v1/", api)
	mux.Handle("GET /healthz", api)
	mux.Handle("GET /readyz", api)
	if dev {
		inbox.push = push
		devHandlers(mux, minter(cfg), auth, inbox)
	}
	if cfg.Demo {
		mux.Handle("/", demoHandler())
	}

	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr, log)
		if err != nil {
			srv.Close(context.Background())
			return err
		}
		defer stopPprof()
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		srv.Close(context.Background())
		return err
	}
	httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	accepting.Store(true)
	log.Info("loft listening", "addr", "http://"+ln.Addr().String(), "data", cfg.DataDir, "api_keys", len(keys))
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err = <-serveErr:
		log.Error("http server stopped", "err", err)
	}
	accepting.Store(false)
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Stop accepting first; hijacked WebSockets are the chat server's to close.
	httpSrv.Shutdown(sctx)
	if cerr := srv.Close(sctx); cerr != nil {
		log.Warn("sessions did not finish in time", "err", cerr)
	}
	if cerr := push.Close(sctx); cerr != nil {
		log.Warn("pushes in flight did not finish in time; they are sent after the restart", "err", cerr)
	}
	if cerr := emit.q.Close(sctx); cerr != nil {
		log.Warn("webhook deliveries in flight did not finish in time; they are sent after the restart", "err", cerr)
	}
	if cerr := store.Close(); cerr != nil {
		return fmt.Errorf("close store: %w", cerr)
	}
	log.Info("stopped")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func newLogger(level string, out io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: l})), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// newVerifier builds the token verifier from the configured key.
func newVerifier(cfg config) (*chat.JWTVerifier, error) {
	tc := chat.TokenConfig{
		Algorithms: splitList(cfg.JWTAlgorithms),
		Issuer:     cfg.JWTIssuer,
		Audience:   cfg.JWTAudience,
		Leeway:     cfg.JWTLeeway,
	}
	if cfg.JWTPublicKey != "" {
		key, err := readPublicKey(cfg.JWTPublicKey)
		if err != nil {
			return nil, err
		}
		tc.PublicKey = key
	} else {
		secret, err := loadSecret(cfg)
		if err != nil {
			return nil, err
		}
		tc.Secret = secret
	}
	return chat.NewJWTVerifier(tc)
}

func readPublicKey(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jwt public key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("jwt public key %s: no PEM block", path)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("jwt public key %s: %w", path, err)
	}
	return key, nil
}

// loadSecret returns the HS256 secret: the configured one, or the one kept
// in the data directory, generated on first use.
func loadSecret(cfg config) ([]byte, error) {
	if cfg.JWTSecret != "" {
		return []byte(cfg.JWTSecret), nil
	}
	path := cfg.JWTSecretFile
	generate := path == ""
	if generate {
		path = filepath.Join(cfg.DataDir, "jwt-secret")
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && generate {
		return generateSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("jwt secret: %w", err)
	}
	return []byte(strings.TrimSpace(string(data))), nil
}

func generateSecret(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("jwt secret: %w", err)
	}
	var raw [32]byte
	rand.Read(raw[:])
	secret := []byte(hex.EncodeToString(raw[:]))
	// O_EXCL: if two processes race, the loser reads the winner's secret.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, fmt.Errorf("jwt secret: %w", rerr)
		}
		return []byte(strings.TrimSpace(string(data))), nil
	}
	if err != nil {
		return nil, fmt.Errorf("jwt secret: %w", err)
	}
	_, err = f.Write(append(secret, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("jwt secret: %w", err)
	}
	return secret, nil
}
