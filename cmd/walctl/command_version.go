package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch"
	"github.com/walbatch/walbatch/store"
)

type versionOptions struct {
	format format
}

// versionReport is version's JSON output.
type versionReport struct {
	Version       string `json:"version"`
	FormatVersion uint64 `json:"format_version"`
	Go            string `json:"go"`
	Platform      string `json:"platform"`
}

func newVersionCommand(*env) *cobra.Command {
	var o versionOptions
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print walctl's version and the WAL format it reads and writes",
		Long: `version prints walbatch's release (the same as walctl --version), the
newest WAL format version this build reads and the one it writes, and the
Go toolchain and platform it was built with.`,
		Example: `  walctl version
  walctl version -o json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.OutOrStdout())
		},
	}
	addFormatFlag(cmd, &o.format, formatTable)
	return cmd
}

func (o *versionOptions) run(w io.Writer) error {
	r := versionReport{
		Version:       walbatch.Version,
		FormatVersion: store.FormatVersion,
		Go:            runtime.Version(),
		Platform:      runtime.GOOS + "/" + runtime.GOARCH,
	}
	if o.format == formatJSON {
		return writeJSON(w, r)
	}
	_, err := fmt.Fprintf(w, "walctl %s\nWAL format %d\n%s %s\n", r.Version, r.FormatVersion, r.Go, r.Platform)
	return err
}
