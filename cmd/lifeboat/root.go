package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// exitError carries a specific process exit code (wal-fetch uses 1 for "no
// such segment", which PostgreSQL reads as the end of the archive).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 2
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "lifeboat",
		Short:         "Lifeboat data-plane agent: WAL archiving, backups, restores and drills",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCmd(), newKeygenCmd())
	root.AddCommand(newWalPushCmd(), newWalFetchCmd())
	root.AddCommand(newBackupCmd(), newBackupsCmd(), newVerifyCmd(), newPruneCmd())
	root.AddCommand(newAgentCmd())
	root.AddCommand(newRestoreCmd(), newIncidentCmd())
	root.AddCommand(newDrillCmd())
	root.AddCommand(newPostureCmd())
	root.AddCommand(newRedisSnapshotCmd(), newRedisRestoreCmd())
	root.AddCommand(newRegionCmd())
	return root
}
