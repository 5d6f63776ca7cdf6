package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// progress shows what long work (compact, dump, verify, snapshot) is doing
// on stderr, redrawn in place a few times a second, and only when stderr is
// a terminal: piped or redirected output gets nothing extra.
type progress struct {
	w     io.Writer
	label string
	unit  string
	start time.Time
	n     atomic.Int64
	stop  chan struct{}
	done  sync.WaitGroup
}

// startProgress begins showing label (escaped as a table cell is: it may
// hold a file name); unit names what add counts ("" shows only the elapsed
// time). With e.terminal false it returns a no-op.
func startProgress(e *env, label, unit string) *progress {
	p := &progress{w: e.stderr, label: cell(label), unit: unit, start: time.Now()}
	if !e.terminal {
		return p
	}
	p.stop = make(chan struct{})
	p.done.Add(1)
	go p.loop()
	return p
}

func (p *progress) loop() {
	defer p.done.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			fmt.Fprint(p.w, "\r\033[K") // clear the line
			return
		case <-t.C:
			p.draw()
		}
	}
}

func (p *progress) draw() {
	el := time.Since(p.start).Round(100 * time.Millisecond)
	if p.unit == "" {
		fmt.Fprintf(p.w, "\r\033[K%s... %s", p.label, el)
		return
	}
	fmt.Fprintf(p.w, "\r\033[K%s... %d %s, %s", p.label, p.n.Load(), p.unit, el)
}

// add counts n more units of work done. Safe on a nil or no-op progress.
func (p *progress) add(n int64) {
	if p != nil {
		p.n.Add(n)
	}
}

// end stops the display and clears its line.
func (p *progress) end() {
	if p == nil || p.stop == nil {
		return
	}
	close(p.stop)
	p.done.Wait()
	p.stop = nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
