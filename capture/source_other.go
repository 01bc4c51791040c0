//go:build !linux

package capture

// openPoint returns ErrUnsupported: AF_PACKET sockets are a Linux facility.
func openPoint(p Point, opts Options) (packetSource, Engine, int, error) {
	return nil, "", 0, ErrUnsupported
}
