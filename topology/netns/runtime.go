package netns

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/topolab/topolab/topology"
)

// Options configures a Runtime.
type Options struct {
	// Logger receives progress and errors of background servers. Nil
	// discards them.
	Logger *slog.Logger
	// StateDir contains the state files of supervised labs and the lock
	// files that keep two labs of one name apart. Empty means
	// DefaultStateDir().
	StateDir string
}

// Runtime is the netns implementation of topology.Runtime.
type Runtime struct {
	log      *slog.Logger
	stateDir string
}

// New returns a runtime configured by opts.
func New(opts Options) *Runtime {
	r := &Runtime{log: opts.Logger, stateDir: opts.StateDir}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.stateDir == "" {
		r.stateDir = DefaultStateDir()
	}
	return r
}

// Name returns "netns", the runtime's name as --runtime takes it.
func (r *Runtime) Name() string { return "netns" }

// StateDir returns the folder of the runtime's state and lock files.
func (r *Runtime) StateDir() string { return r.stateDir }

// SystemStateDir is the state folder of labs run by root outside a user
// namespace.
const SystemStateDir = "/run/topolab/netns"

// DefaultStateDir returns SystemStateDir for root in the initial user
// namespace. Other processes, including root inside a rootless user
// namespace, get a folder of their own user: $XDG_RUNTIME_DIR/topolab/netns,
// or topolab-<uid>/netns under the temporary folder when XDG_RUNTIME_DIR is
// unset.
func DefaultStateDir() string {
	if os.Geteuid() == 0 && !inChildUserNamespace() {
		return SystemStateDir
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, "topolab", "netns")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("topolab-%d", outerUID()), "netns")
}

var _ topology.Runtime = (*Runtime)(nil)
