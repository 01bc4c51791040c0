//go:build !linux

package netns

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/topolab/topolab/topology"
)

// EnvUserNamespaceChild is set to 1 in the environment of the process that
// EnterUserNamespace starts on Linux.
const EnvUserNamespaceChild = "TOPOLAB_USERNS_CHILD"

func errUnsupported() error {
	return fmt.Errorf("%w: the netns runtime needs Linux network namespaces, not %s",
		topology.ErrEnvironment, runtime.GOOS)
}

// Up returns an error wrapping topology.ErrEnvironment: network namespaces
// exist only on Linux.
func (r *Runtime) Up(ctx context.Context, plan *topology.Plan) (topology.Lab, error) {
	return nil, errUnsupported()
}

// Down returns an error wrapping topology.ErrEnvironment.
func (r *Runtime) Down(ctx context.Context, lab string) error { return errUnsupported() }

// List returns no labs: none can run on this system.
func (r *Runtime) List(ctx context.Context) ([]topology.LabInfo, error) { return nil, nil }

// Supervise returns an error wrapping topology.ErrEnvironment.
func (r *Runtime) Supervise(ctx context.Context, plan *topology.Plan, ready func(topology.Lab)) error {
	return errUnsupported()
}

// Attach returns an error wrapping topology.ErrEnvironment.
func (r *Runtime) Attach(ctx context.Context, lab string) (topology.Lab, error) {
	return nil, errUnsupported()
}

// EnterUserNamespace does nothing on this system.
func EnterUserNamespace() (reexecuted bool, exitCode int, err error) { return false, 0, nil }

func inChildUserNamespace() bool { return false }

func outerUID() int { return os.Getuid() }
