package store

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Resolve returns the path of the file that path names: path itself, or,
// when its last element is a symbolic link, the file the link leads to
// (every link followed). Open, CompactFile and recovery.Repair work on
// that file: a compaction or a repair replaces the file the link points
// to, in the target's directory, and the link keeps pointing at the WAL.
// A link that leads nowhere is an error wrapping os.ErrNotExist, naming
// both; Open never creates a file through a link.
func Resolve(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return path, nil // a missing name or a file: Open and Stat say what it is
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		target, _ := os.Readlink(path)
		return "", fmt.Errorf("store: %s is a symbolic link to %s, which does not exist: %w", path, target, os.ErrNotExist)
	}
	return real, nil
}

// checkRegular refuses what is not a regular file, by its FileInfo, with
// ErrNotRegular.
func checkRegular(path string, fi fs.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	kind := "not a regular file"
	switch m := fi.Mode(); {
	case m.IsDir():
		kind = "a directory"
	case m&fs.ModeNamedPipe != 0:
		kind = "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		kind = "a character device"
	case m&fs.ModeDevice != 0:
		kind = "a block device"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	}
	return fmt.Errorf("%w: %s is %s", ErrNotRegular, path, kind)
}

// Stat returns the FileInfo of the file path names (its links followed,
// see Resolve) without opening it: an error wrapping os.ErrNotExist when
// there is none, ErrNotRegular when it is not a regular file.
func Stat(path string) (fs.FileInfo, error) {
	real, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return fi, checkRegular(path, fi)
}

// openRegular opens name as os.OpenFile does, without ever blocking on
// what is not a regular file (O_NONBLOCK: a FIFO opens at once), and
// refuses it with ErrNotRegular after checking the opened descriptor, so a
// file swapped for a FIFO after a Stat is refused too. On a regular file
// O_NONBLOCK changes nothing.
func openRegular(name string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, flag|syscall.O_NONBLOCK, perm)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkRegular(name, fi)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}
