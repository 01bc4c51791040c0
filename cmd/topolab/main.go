// Command topolab builds container network topologies as real Linux
// networking or Docker containers, probes them, captures their traffic and
// draws them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/topology"
)

func main() {
	os.Exit(run())
}

func run() int {
	// The signal handler stays installed until the process exits: were it
	// removed on return, an interrupt between a command's end and the exit
	// would kill the process with the signal's default action, and the
	// caller would take a finished command, such as up, for an interrupted
	// one.
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand(defaultStreams()).ExecuteContext(ctx)
	code := exitCode(ctx, err)
	switch {
	case code == exitInterrupted:
		fmt.Fprintln(os.Stderr, "topolab: interrupted; everything the command built has been removed")
	case err != nil && !errors.Is(err, errSilent):
		fmt.Fprintln(os.Stderr, "topolab:", err)
	}
	return code
}

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1   // expectations failed, or strict surprises
	exitUsage       = 2   // usage error or invalid topology file
	exitEnvironment = 3   // missing privilege, Docker unreachable, lab state
	exitInterrupted = 130 // interrupted, after cleanup
)

// exitError carries an exit code out of a command. Commands return it
// rather than calling os.Exit, so deferred cleanup always runs.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errSilent marks an error whose message the command already printed.
var errSilent = errors.New("already reported")

func exitCode(ctx context.Context, err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err())):
		return exitInterrupted
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, topology.ErrNoLab) && errors.Is(err, topology.ErrEnvironment):
		// A lab that exists only as leftovers, such as a stale state file.
		return exitEnvironment
	case errors.Is(err, topology.ErrInvalid), errors.Is(err, fixtures.ErrNotFound), errors.Is(err, errUsage),
		errors.Is(err, topology.ErrNoLab), isCobraUsageError(err):
		return exitUsage
	case errors.Is(err, topology.ErrEnvironment), errors.Is(err, topology.ErrLabExists),
		errors.Is(err, topology.ErrUnsupported):
		return exitEnvironment
	case ctx.Err() != nil:
		return exitInterrupted
	}
	return exitFailed
}

// errUsage wraps command-line mistakes that cobra does not catch itself.
var errUsage = errors.New("usage error")

// isCobraUsageError reports whether err is one of the command-line errors
// that cobra returns as plain text: an unknown command or a missing
// required flag. Flag errors go through the root's flag error function.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command ") || strings.HasPrefix(msg, "required flag(s) ")
}
