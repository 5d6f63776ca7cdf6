// Package childproc runs a child process that reports on stdout, one line at
// a time, and lets the parent SIGKILL it at a moment of its choosing: the
// harness of the demo and of the torture program.
package childproc

import (
	"bufio"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// Proc is a running child. Kill is safe to call from any goroutine (a
// timer's, say) and more than once.
type Proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	killed bool
	exited bool
}

// Kill sends SIGKILL, unless the child has already been waited for. It
// reports whether this call sent the signal.
func (p *Proc) Kill() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed || p.exited {
		return false
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return false
	}
	p.killed = true
	return true
}

// Pid returns the child's process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Result is how a child ended.
type Result struct {
	// Killed is true when Kill sent SIGKILL.
	Killed bool
	// Err is the error of Wait (nil for a clean exit) when the child was
	// not killed; a killed child's own status is not an error.
	Err error
	// Stderr is the tail (at most 8 KiB) of what the child wrote to stderr.
	Stderr string
	// MaxRSS is the child's peak resident set in bytes (VmHWM), and
	// MaxAnon its peak anonymous resident memory (RssAnon): the largest
	// values read from /proc/<pid>/status while it ran, sampled every
	// 20 ms (so growth in its last moments may be missed); 0 when unknown.
	//
	// Not the rusage of wait4: os/exec starts children with vfork, and on
	// exec the kernel seeds the child's maxrss with the parent's high-water
	// mark, so rusage reports the parent's peak whenever it is larger.
	MaxRSS  int64
	MaxAnon int64
}

// Run starts cmd (its Stdout and Stderr must be unset), calls onStart (when
// not nil) once it has started, then onLine for each line the child writes
// to stdout, in order, on the caller's goroutine, and waits for the child
// to end. Either may call p.Kill, sleep first to let the kill land at a
// random point, or arm a timer that kills. An error means the child could
// not be started.
func Run(cmd *exec.Cmd, onLine func(p *Proc, line string), onStart func(p *Proc)) (Result, error) {
	tail := &tailWriter{max: 8 << 10}
	cmd.Stderr = tail
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("childproc: start %s: %w", cmd.Path, err)
	}
	p := &Proc{cmd: cmd}
	mem := sampleMemory(cmd.Process.Pid)
	if onStart != nil {
		onStart(p)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		onLine(p, sc.Text())
	}
	werr := cmd.Wait()
	p.mu.Lock()
	p.exited = true
	res := Result{Killed: p.killed, Stderr: tail.String()}
	p.mu.Unlock()
	if !res.Killed {
		res.Err = werr
	}
	res.MaxRSS, res.MaxAnon = mem.stop()
	return res, nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if over := len(w.b) - w.max; over > 0 {
		w.b = append(w.b[:0], w.b[over:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(string(w.b))
}
