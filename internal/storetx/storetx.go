// Package storetx gives walbatch's own packages (wal, recovery, walctl and
// the test harnesses) bbolt transactions on an open *store.DB, which
// store's public API does not offer: a caller of store gets read-only
// inspection, and only code inside this module can change a WAL file
// below the wal API. Package store sets the functions when it is
// initialized. db is always a *store.DB (this package cannot name the
// type: store imports it).
package storetx

import bolt "go.etcd.io/bbolt"

var view, update func(db any, fn func(*bolt.Tx) error) error

// Set is called by package store's init, and by nothing else.
func Set(v, u func(db any, fn func(*bolt.Tx) error) error) { view, update = v, u }

// View runs fn in a read-only transaction of the *store.DB db, a
// consistent snapshot of the file, with store's guard: a panic or memory
// fault from a damaged page is store.ErrCorrupt, after which every later
// call fails with store.ErrCorrupt.
func View(db any, fn func(tx *bolt.Tx) error) error { return view(db, fn) }

// Update runs fn in a write transaction of the *store.DB db and commits it
// (with fsync unless the DB was opened with NoSync). If fn returns an
// error the transaction is rolled back. It fails with store.ErrReadOnly on
// a read-only DB, reports a full disk as store.ErrNoSpace and a damaged
// page as View does.
func Update(db any, fn func(tx *bolt.Tx) error) error { return update(db, fn) }

var (
	fileVersion func(tx *bolt.Tx) (uint64, error)
	migrate     func(tx *bolt.Tx, from, to uint64) error
)

// SetVersion is called by package store's init, and by nothing else:
// version reads the format version recorded in a transaction's file.
func SetVersion(version func(tx *bolt.Tx) (uint64, error)) { fileVersion = version }

// Version returns the format version recorded in tx's file (as
// store.Info.Version, but as of tx). A meta bucket that is missing or
// damaged, or a version this build does not read, is an error wrapping
// store.ErrCorrupt or store.ErrVersion.
func Version(tx *bolt.Tx) (uint64, error) { return fileVersion(tx) }

// SetMigration is called by internal/format's init, and by nothing else:
// fn rewrites what a file's streams hold from format version from to
// version to, inside the transaction that then records version to (see
// Migration). Package store knows nothing of streams; this is how the
// knowledge of the streams' layout reaches its migration.
func SetMigration(fn func(tx *bolt.Tx, from, to uint64) error) { migrate = fn }

// Migration returns what SetMigration set, nil if nothing did (a program
// that links package store without internal/format: it cannot migrate a
// file).
func Migration() func(tx *bolt.Tx, from, to uint64) error { return migrate }
