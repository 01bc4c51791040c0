//go:build !linux

package capture

// ReadConntrack returns ErrUnsupported: conntrack is a Linux facility.
func ReadConntrack(do func(func() error) error) ([]Translation, error) {
	return nil, ErrUnsupported
}
