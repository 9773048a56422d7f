// Command lifeboat is the data-plane agent: WAL archiving, base backups,
// restores, drills and the scheduling daemon, beside each database.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile()
	err := newRootCmd().ExecuteContext(ctx)
	stopProfile()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lifeboat:", err)
		os.Exit(exitCode(err))
	}
}
