//go:build !linux

package docker

import (
	"errors"
	"log/slog"
	"net/netip"

	"github.com/vishvananda/netns"

	"github.com/topolab/topolab/topology"
)

// errUnsupported is returned where the runtime needs Linux namespaces.
var errUnsupported = errors.New("the docker runtime's namespace features are supported only on Linux")

type outside struct {
	ns netns.NsHandle
}

func newOutside(*topology.Plan, *slog.Logger, int) (*outside, error) { return nil, errUnsupported }

func attachOutside(*topology.Plan, *slog.Logger, int) (*outside, error) { return nil, errUnsupported }

func (o *outside) carriesRouter() bool { return false }

func (o *outside) release() {}

func (o *outside) allowSources([]netip.Prefix) error { return errUnsupported }

func (o *outside) close() error { return nil }

func removeOutsideLeftovers(string) (bool, error) { return false, nil }

func inNetns(netns.NsHandle, func() error) error { return errUnsupported }

func inPidNetns(int, func() error) error { return topology.ErrNotLocal }

func runLocked(f func() error) error { return f() }

func (l *Lab) compareNamespace(*topology.PlannedContainer, int) error { return nil }

// HostVeths is supported only on Linux; elsewhere it returns
// topology.ErrNotLocal.
func (l *Lab) HostVeths() ([]HostVeth, error) { return nil, topology.ErrNotLocal }

func localGateways(*topology.Plan) ([]netip.Addr, error) { return nil, nil }

func interfaceNumbers(int) (map[netip.Addr]int, error) { return nil, errUnsupported }
