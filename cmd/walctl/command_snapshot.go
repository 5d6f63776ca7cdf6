package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch/internal/redact"
	"github.com/walbatch/walbatch/store"
)

type snapshotOptions struct {
	url     string
	output  string
	force   bool
	timeout time.Duration
}

func newSnapshotCommand(e *env) *cobra.Command {
	var o snapshotOptions
	cmd := &cobra.Command{
		Use:   "snapshot URL -o FILE",
		Short: "Download a consistent copy of a running process's WAL",
		Long: `snapshot downloads a consistent copy of a WAL from a running process that
serves store.Handler (GET <URL>/snapshot), while that process goes on
writing. URL is where the handler is mounted; a URL that already ends in
/snapshot is used as it is. The copy is checked to open as a WAL and only
then renamed to FILE, so FILE is whole or absent.
Every read-only command (stats, ls, dump, batches, dead, verify) accepts
the copy exactly like a WAL: it is the way to inspect a file in use.`,
		Example: `  walctl snapshot http://127.0.0.1:8080/debug/wal -o copy.wal
  walctl stats copy.wal`,
		Args: exactArgs(1, "URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.url = args[0]
			if o.output == "" {
				return usageErrorf("snapshot needs -o FILE: where to write the copy")
			}
			u, err := url.Parse(o.url)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usageErrorf("%q is not an http(s) URL", redact.URL(o.url))
			}
			if !strings.HasSuffix(u.Path, "/snapshot") {
				u.Path = strings.TrimSuffix(u.Path, "/") + "/snapshot"
			}
			o.url = u.String()
			return o.run(cmd.Context(), e, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "file to write the snapshot to (required)")
	cmd.Flags().BoolVar(&o.force, "force", false, "replace FILE if it exists")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	return cmd
}

func (o *snapshotOptions) run(ctx context.Context, e *env, w io.Writer) error {
	target, err := o.target()
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	// Every message shows the URL redacted: no userinfo, no query values.
	safeURL := redact.URL(o.url)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.url, nil)
	if err != nil {
		return fmt.Errorf("snapshot: GET %s: cannot make the request", safeURL)
	}
	resp, err := snapshotClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = &url.Error{Op: ue.Op, URL: redact.URL(ue.URL), Err: ue.Err}
		}
		return fmt.Errorf("snapshot: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// The body may echo the request: its URL, its Authorization.
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("snapshot: GET %s: %s: %s", safeURL, resp.Status,
			strings.TrimSpace(redact.InText(string(msg), o.url)))
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), filepath.Base(target)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	p := startProgress(e, "downloading", "bytes")
	n, err := io.Copy(tmp, &countingReader{r: resp.Body, p: p})
	p.end()
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("got %d bytes, expected %d", n, resp.ContentLength)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("snapshot: download from %s: %w", safeURL, err)
	}
	l, err := openReadOnly(tmp.Name())
	if err != nil {
		return fmt.Errorf("snapshot: the downloaded copy does not open as a WAL: %w", err)
	}
	streams := len(l.Streams())
	version := l.Store().Info().Version
	if err := l.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "wrote %s: %d bytes, format version %d, %d streams\n", o.output, n, version, streams)
	return err
}

// target is the file the snapshot replaces: -o itself, or, for a symbolic
// link, the file it points to (as every command follows links: the link is
// kept). A name that exists (a link to nothing included) is replaced only
// with --force, and only when it is a regular file.
func (o *snapshotOptions) target() (string, error) {
	if _, err := os.Lstat(o.output); err != nil {
		return o.output, nil
	}
	if !o.force {
		return "", fmt.Errorf("%s already exists (use --force to replace it)", o.output)
	}
	if _, err := store.Stat(o.output); err != nil {
		return "", fmt.Errorf("snapshot: -o %s: %w", o.output, err)
	}
	return store.Resolve(o.output)
}

// snapshotClient follows redirects as http.DefaultClient does (net/http
// sends the URL's userinfo only to the URL's own host), without the
// Referer net/http would add: it quotes the URL, query token included.
var snapshotClient = &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
	req.Header.Del("Referer")
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}}

type countingReader struct {
	r io.Reader
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(int64(n))
	return n, err
}
