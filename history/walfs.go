package history

import "github.com/cockroachdb/pebble/v2/vfs"

// walWriteCategory is the category Pebble creates its write-ahead log files
// with.
const walWriteCategory vfs.DiskWriteCategory = "pebble-wal"

// walFS is the store's file system: Config.FS with the write-ahead log
// watched. Pebble cannot go on after a failed WAL write or sync: its log
// writer keeps the error, and the next write that reaches it, or the next log
// rotation, panics. walFS calls failed with the first such error before
// Pebble sees it, so the store refuses every later write (Store.setSyncErr)
// before one can reach the broken log.
type walFS struct {
	vfs.FS
	failed func(error)
}

// Create implements vfs.FS.
func (fs *walFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return fs.watch(f, category), err
}

// ReuseForWrite implements vfs.FS: Pebble recycles old log files.
func (fs *walFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return fs.watch(f, category), err
}

// Unwrap implements vfs.FS.
func (fs *walFS) Unwrap() vfs.FS { return fs.FS }

func (fs *walFS) watch(f vfs.File, category vfs.DiskWriteCategory) vfs.File {
	if f == nil || category != walWriteCategory {
		return f
	}
	return &walFile{File: f, failed: fs.failed}
}

// walFile reports the errors of writes and syncs of one log file.
type walFile struct {
	vfs.File
	failed func(error)
}

func (f *walFile) check(err error) error {
	if err != nil {
		f.failed(err)
	}
	return err
}

func (f *walFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	return n, f.check(err)
}

func (f *walFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	return n, f.check(err)
}

func (f *walFile) Sync() error { return f.check(f.File.Sync()) }

func (f *walFile) SyncData() error { return f.check(f.File.SyncData()) }

func (f *walFile) SyncTo(length int64) (bool, error) {
	full, err := f.File.SyncTo(length)
	return full, f.check(err)
}
