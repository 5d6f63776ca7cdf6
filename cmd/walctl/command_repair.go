package main

import (
	"errors"

	"github.com/spf13/cobra"
)

type repairOptions struct {
	path string
}

func newRepairCommand(e *env) *cobra.Command {
	var o repairOptions
	cmd := &cobra.Command{
		Use:     "repair FILE",
		Short:   "Make a damaged file consistent, keeping a copy of the original (changes the file)",
		Example: `  walctl repair events.wal`,
		Args:    exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			if err := checkFile(o.path); err != nil {
				return err
			}
			return errors.New("repair: not available yet")
		},
	}
	return cmd
}
