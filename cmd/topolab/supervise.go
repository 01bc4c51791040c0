package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/topolab/topolab/topology"
	"github.com/topolab/topolab/topology/netns"
)

// The supervisor writes readyLine to the ready pipe once its lab is up, or
// errorPrefix, the exit code the error maps to, a newline and the error's
// message when building the lab failed.
const (
	readyLine   = "ready\n"
	errorPrefix = "error "
)

// readReady reads the ready pipe of a supervisor until it closes. It returns
// nil for readyLine, an empty error when the supervisor wrote nothing, and
// otherwise an exitError with the code and message the supervisor sent.
func readReady(r io.Reader) error {
	data, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	msg := string(data)
	if msg == readyLine {
		return nil
	}
	if rest, ok := strings.CutPrefix(msg, errorPrefix); ok {
		codeText, text, _ := strings.Cut(rest, "\n")
		if code, err := strconv.Atoi(codeText); err == nil && code > 0 {
			return &exitError{code: code, err: errors.New(text)}
		}
	}
	return errors.New(msg)
}

// readyFd is the file descriptor of the ready pipe that topolab up passes
// to the supervisor.
const readyFd = 3

func newSuperviseCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "supervise FILE",
		Short:   "Hold a netns lab's namespaces and servers until stopped",
		Example: "  topolab supervise alpine-net",
		Hidden:  true,
		Args:    exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			plan, err := loadPlan(args[0])
			if err != nil {
				return err
			}
			return supervise(c.Context(), g, plan)
		},
	}
}

// supervise holds the lab of plan until ctx is done. While the lab is
// being built it watches the ready pipe and gives up when topolab up has
// gone, since then nobody learns of the lab.
func supervise(ctx context.Context, g *globalOptions, plan *topology.Plan) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log := g.logger()
	var ready *os.File
	stopWatch := func() {}
	if isPipe(readyFd) {
		ready = os.NewFile(readyFd, "ready")
		stopWatch = watchReader(ready, func() {
			log.Error("topolab up exited before the lab was up; stopping", "lab", plan.Lab)
			cancel()
		})
	}
	defer stopWatch()

	rt := netns.New(netns.Options{Logger: log})
	err := rt.Supervise(ctx, plan, func(topology.Lab) {
		if ready == nil {
			return
		}
		stopWatch()
		_, werr := fmt.Fprint(ready, readyLine)
		ready.Close()
		ready = nil
		if werr != nil {
			log.Error("reporting the lab ready failed; stopping", "lab", plan.Lab, "error", werr)
			cancel()
			return
		}
		// topolab up has exited or is about to. Its standard streams may
		// be pipes that its caller reads to the end, such as $(topolab
		// up), which must not wait for the supervisor.
		detachStdio()
	})
	if err != nil && ready != nil {
		stopWatch()
		fmt.Fprintf(ready, "%s%d\n%s", errorPrefix, exitCode(ctx, err), err)
		ready.Close()
		return fmt.Errorf("%w: %v", errSilent, err)
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// isPipe reports whether fd is an open pipe.
func isPipe(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO
}

// watchReader calls gone when the reading end of the pipe w is closed,
// until stop is called. It polls a duplicate of w's descriptor, so that
// closing w after stop cannot make it poll another file.
func watchReader(w *os.File, gone func()) (stop func()) {
	fd, err := unix.FcntlInt(w.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd)}}
		for {
			select {
			case <-done:
				return
			default:
			}
			n, err := unix.Poll(fds, int((100 * time.Millisecond).Milliseconds()))
			if err != nil && err != unix.EINTR {
				return
			}
			if n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
				gone()
				return
			}
		}
	}()
	var once bool
	return func() {
		if !once {
			once = true
			close(done)
			<-finished
		}
	}
}

// detachStdio points standard input, output and error at /dev/null.
func detachStdio() {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer null.Close()
	for fd := 0; fd <= 2; fd++ {
		unix.Dup3(int(null.Fd()), fd, 0)
	}
}
