package history

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Defaults and limits of Config and of the read methods.
const (
	minDedupWindow       = 7 * 24 * time.Hour
	defaultSweepInterval = time.Minute
	defaultMaxBatch      = 4096
	defaultCacheSize     = 256 << 20
	defaultFanoutLimit   = 500
	defaultMaxGroupSize  = 100_000
	defaultRecallWindow  = 2 * time.Minute
	defaultEditWindow    = 24 * time.Hour

	defaultInboxLimit   = 100
	maxInboxLimit       = 1000
	defaultHistoryLimit = 50
	maxHistoryLimit     = 500
)

// Store is Loft's message store on one Pebble database. Open it with Open and
// release it with Close; every method is safe for concurrent use.
type Store struct {
	cfg  Config
	db   *pebble.DB
	lock *pebble.Lock
	log  *slog.Logger

	// reqs feeds the committer. Senders hold sendMu.RLock while they send, so
	// that Close, which closes reqs under sendMu.Lock, never races a send.
	reqs    chan op
	sendMu  sync.RWMutex
	sending bool // guarded by sendMu; false once Close has begun

	// dbMu.RLock is held by every read and sweep for as long as it uses db;
	// Close takes dbMu.Lock to close db. The committer does not take it: Close
	// waits for the committer before closing db.
	dbMu   sync.RWMutex
	dbOpen bool // guarded by dbMu

	sweepMu sync.Mutex // serialises sweeps: they are the only writer of floors

	ctx       context.Context // cancelled by Close; stops the sweeper
	cancel    context.CancelFunc
	wg        sync.WaitGroup // the sweeper
	committed chan struct{}  // closed when the committer has returned

	// durableID is the highest message id known to be on disk. Pebble makes
	// a batch visible before its fsync completes, so readers that hand
	// entries to devices stop at it: a device must never hold a message a
	// crash could take back (its pts would be reused).
	durableID atomic.Uint64

	// appliedGen counts applied (visible) write batches; see
	// appendOp.precheck.
	appliedGen atomic.Uint64

	// dedup holds every dedup record's key; dedupNext, while set, is its
	// replacement being built (see dedupFilter).
	dedup, dedupNext atomic.Pointer[dedupFilter]

	// walErr is the first failed write or fsync of the WAL, wrapping
	// ErrFailed; every later write and read fails with it, as the log can
	// no longer be trusted. walMu is held by each writer to Pebble (the
	// committer, the sweeper) from its last look at walErr through its
	// commit, so that none reaches Pebble's failed log writer (see walFS).
	walErr atomic.Pointer[error]
	walMu  sync.Mutex

	// Groups and group read marks as of durable commits, for readers.
	groupCache groupCache
	markCache  markCache

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the store in dir and starts its committer
// and sweeper goroutines. If another Store, in this process or another, has
// dir open, Open returns an error wrapping ErrLocked. The caller must Close
// the Store.
func Open(dir string, cfg Config) (*Store, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := cfg.FS.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("history: open: %w", err)
	}
	// Take Pebble's lock ourselves so that a held lock is told apart from
	// other failures to open: Pebble's own error for it has no type. Any
	// failure here means the LOCK file could not be locked.
	lock, err := pebble.LockDirectory(dir, cfg.FS)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrLocked, dir, err)
	}
	s := &Store{
		cfg:       cfg,
		lock:      lock,
		log:       cfg.Logger,
		reqs:      make(chan op, cfg.MaxBatch),
		sending:   true,
		dbOpen:    true,
		committed: make(chan struct{}),
	}
	fs := &walFS{FS: cfg.FS, failed: func(err error) { s.setSyncErr(err) }}
	db, err := pebble.Open(dir, pebbleOptions(cfg, lock, fs))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("history: open %s: %w", dir, err), lock.Close())
	}
	// Whatever Open found on disk is durable.
	durable, err := getUvarint(db, globalIDKey())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("history: open %s: %w", dir, err), db.Close(), lock.Close())
	}
	filter, err := loadDedupFilter(db)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("history: open %s: %w", dir, err), db.Close(), lock.Close())
	}
	s.dedup.Store(filter)
	s.db = db
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.durableID.Store(durable)
	c := newCommitter(s)
	go c.run()
	s.wg.Add(1)
	go s.sweepLoop()
	return s, nil
}

// setDefaults fills in the defaults documented on Config and rejects
// negative limits.
func (c *Config) setDefaults() error {
	if c.MaxAge < 0 || c.MaxPerConversation < 0 || c.MaxBatch < 0 || c.SweepInterval < 0 || c.DedupWindow < 0 || c.CacheSize < 0 {
		return fmt.Errorf("%w: negative Config limit", ErrInvalid)
	}
	if c.DedupWindow < minDedupWindow {
		c.DedupWindow = minDedupWindow
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = defaultSweepInterval
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = defaultMaxBatch
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.CacheSize == 0 {
		c.CacheSize = defaultCacheSize
	}
	if c.FanoutLimit < 0 || c.MaxGroupSize < 0 || c.RecallWindow < 0 || c.EditWindow < 0 {
		return fmt.Errorf("%w: negative Config limit", ErrInvalid)
	}
	if c.FanoutLimit == 0 {
		c.FanoutLimit = defaultFanoutLimit
	}
	if c.MaxGroupSize == 0 {
		c.MaxGroupSize = defaultMaxGroupSize
	}
	if c.RecallWindow == 0 {
		c.RecallWindow = defaultRecallWindow
	}
	if c.EditWindow == 0 {
		c.EditWindow = defaultEditWindow
	}
	return nil
}

// pebbleOptions tunes Pebble for a chat store: many point lookups (dedup
// records, counters, messages of an inbox page), so bloom filters on every
// level; a memtable large enough to absorb bursts of small synced batches.
func pebbleOptions(cfg Config, lock *pebble.Lock, fs vfs.FS) *pebble.Options {
	opts := &pebble.Options{
		FS:                 fs,
		CacheSize:          cfg.CacheSize,
		MemTableSize:       32 << 20,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{cfg.Logger},
		Lock:               lock,
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return opts
}

// pebbleLogger routes Pebble's log lines to the store's logger.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelInfo) {
		l.log.Info("pebble: " + fmt.Sprintf(format, args...))
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf must not return (Pebble calls it on corruption); a panic stops the
// process like Pebble's default logger does, but with a stack.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	l.log.Error(msg)
	panic(msg)
}

// Close stops accepting writes (they fail with ErrClosed), commits every
// write already queued, stops the committer and the sweeper and closes the
// database. It is safe to call more than once; every call returns the first
// call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		// Senders blocked on a full queue hold sendMu.RLock; the committer
		// keeps draining, so Lock is granted once they are through.
		s.sendMu.Lock()
		s.sending = false
		close(s.reqs)
		s.sendMu.Unlock()
		<-s.committed

		s.cancel()
		s.wg.Wait()

		s.dbMu.Lock()
		s.dbOpen = false
		err := s.db.Close()
		s.dbMu.Unlock()
		s.closeErr = errors.Join(err, s.lock.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("history: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// readDB runs f with the database open for reading, or returns ErrClosed,
// or the error that failed the store: after a failed log write the database
// may hold writes that never reached the disk.
func (s *Store) readDB(f func(db *pebble.DB) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if !s.dbOpen {
		return ErrClosed
	}
	if err := s.syncErr(); err != nil {
		return err
	}
	return f(s.db)
}

// reader is what reads need of a Pebble DB or snapshot.
type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

// getUvarint reads a uvarint record, 0 if absent.
func getUvarint(r reader, key []byte) (uint64, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	return decodeUvarint(v)
}

// getValue reads a record, copying it; found is false if absent.
func getValue(r reader, key []byte) (v []byte, found bool, err error) {
	raw, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer closer.Close()
	return bytes.Clone(raw), true, nil
}

// has reports whether key exists.
func has(r reader, key []byte) (bool, error) {
	_, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, closer.Close()
}

// getMessage reads and decodes the message conv/seq; found is false if
// retention deleted it.
func getMessage(r reader, conv string, seq uint64) (m *Message, found bool, err error) {
	raw, closer, err := r.Get(msgKey(conv, seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer closer.Close()
	m, err = decodeMessage(conv, seq, raw, nil)
	return m, err == nil, err
}

// messageReader reads many messages through one iterator: a page of an
// inbox names messages one by one, often of the same conversation in seq
// order, and a seek on an open iterator reuses the tables and blocks it has
// open, where each Get would set up a read of every level anew.
type messageReader struct {
	it  *pebble.Iterator
	key []byte
}

func newMessageReader(r reader) (*messageReader, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{kindMessage}, UpperBound: []byte{kindMessage + 1}})
	if err != nil {
		return nil, err
	}
	return &messageReader{it: it}, nil
}

// get is getMessage through the iterator.
func (mr *messageReader) get(conv string, seq uint64) (m *Message, found bool, err error) {
	mr.key = appendMsgKey(mr.key[:0], conv, seq)
	if !mr.it.SeekGE(mr.key) || !bytes.Equal(mr.it.Key(), mr.key) {
		return nil, false, mr.it.Error()
	}
	v, err := mr.it.ValueAndErr()
	if err != nil {
		return nil, false, err
	}
	m, err = decodeMessage(conv, seq, v, nil)
	return m, err == nil, err
}

func (mr *messageReader) close() error { return mr.it.Close() }

// syncErr returns the error that failed the store, or nil.
func (s *Store) syncErr() error {
	if p := s.walErr.Load(); p != nil {
		return *p
	}
	return nil
}

// setSyncErr fails the store with err, a failed write or sync of the log,
// unless it has failed already, and returns the store's error (which wraps
// ErrFailed).
func (s *Store) setSyncErr(err error) error {
	if err == nil {
		return s.syncErr()
	}
	failed := fmt.Errorf("%w: %w", ErrFailed, err)
	if s.walErr.CompareAndSwap(nil, &failed) {
		s.log.Error("history: a write to the log failed; every read and write fails until the store is reopened", logErr, err)
	}
	return s.syncErr()
}
