package benchkit

import (
	"encoding/json"
	"fmt"
	"io"
	"syscall"
	"time"
)

// Result is what one scenario measured, passed from the child process to
// the parent as one JSON line after ResultPrefix.
type Result struct {
	Name    string             `json:"name"`
	Events  int64              `json:"events"`
	Seconds float64            `json:"seconds"`
	Rate    float64            `json:"rate"` // events/s; 0 when the scenario is not a rate
	Extra   map[string]float64 `json:"extra,omitempty"`
	HWM     int64              `json:"hwm"`  // peak RSS of the child process (VmHWM)
	Anon    int64              `json:"anon"` // anonymous RSS at the end (RssAnon)
	CPU     float64            `json:"cpu"`  // user + system CPU seconds of the whole child process
	Note    string             `json:"note,omitempty"`
}

// ResultPrefix starts the line that carries a child's Result.
const ResultPrefix = "RESULT "

// Set records an extra figure; the report formats it by its name's suffix.
func (r *Result) Set(k string, v float64) {
	if r.Extra == nil {
		r.Extra = map[string]float64{}
	}
	r.Extra[k] = v
}

// Rate is the result of a rate scenario.
func Rate(name string, events int64, secs float64) Result {
	return Result{Name: name, Events: events, Seconds: secs, Rate: float64(events) / secs}
}

// Emit completes r with the process's memory and CPU and writes its line.
func Emit(w io.Writer, name string, r Result) error {
	r.Name = name
	r.HWM, r.Anon = Memory()
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		r.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s%s\n", ResultPrefix, b)
	return err
}
