package netns

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// threadNetns is the calling thread's network namespace. Other threads of
// the process may be in other namespaces while they run a Do.
const threadNetns = "/proc/thread-self/ns/net"

// errThreadStuck reports a thread that could not switch back to its
// namespace. Its goroutine ends without unlocking, so the Go runtime
// terminates the thread instead of reusing it.
var errThreadStuck = errors.New("restoring the thread's network namespace failed")

// onThread runs f on a fresh goroutine locked to its OS thread and waits for
// it. enter switches the thread to another namespace; onThread switches it
// back before unlocking. When switching back fails the goroutine exits
// still locked, which makes the Go runtime discard the thread.
func onThread(enter func() error, f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open(threadNetns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("opening %s: %w", threadNetns, err)
			return
		}
		defer unix.Close(orig)
		if err := enter(); err != nil {
			// enter may have changed the thread before failing, so
			// restore it as after success.
			if rerr := unix.Setns(orig, unix.CLONE_NEWNET); rerr != nil {
				done <- fmt.Errorf("%w: %v (after %v)", errThreadStuck, rerr, err)
				return
			}
			runtime.UnlockOSThread()
			done <- err
			return
		}
		ferr := f()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("%w: %v", errThreadStuck, err)
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// inNetns runs f on a locked thread inside the namespace of fd.
func inNetns(fd int, f func() error) error {
	return onThread(func() error {
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("entering network namespace: %w", err)
		}
		return nil
	}, f)
}

// newNetns creates a network namespace, runs setup inside it on a locked
// thread, and returns a close-on-exec file descriptor of the namespace. The
// calling thread and the process stay where they are.
func newNetns(setup func() error) (int, error) {
	fd := -1
	err := onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("creating network namespace: %w", err)
		}
		return nil
	}, func() error {
		var err error
		fd, err = unix.Open(threadNetns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening new network namespace: %w", err)
		}
		if setup != nil {
			return setup()
		}
		return nil
	})
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return -1, err
	}
	return fd, nil
}

// writeSysctl writes value to the sysctl named in dotted form, such as
// net.ipv4.ip_forward, for the network namespace of the calling thread:
// files under /proc/sys/net belong to the namespace of the thread that
// opens them. It is `sysctl -w name=value` run inside the namespace.
func writeSysctl(name, value string) error {
	path := sysctlPath(name)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("setting %s: %w", name, err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("setting %s to %s: %w", name, value, err)
	}
	return nil
}

func readSysctl(name string) (string, error) {
	data, err := os.ReadFile(sysctlPath(name))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", name, err)
	}
	return string(data), nil
}

func sysctlPath(name string) string {
	b := []byte("/proc/sys/" + name)
	for i := len("/proc/sys/"); i < len(b); i++ {
		if b[i] == '.' {
			b[i] = '/'
		}
	}
	return string(b)
}

// netnsInode returns the inode number that identifies the namespace of fd.
func netnsInode(fd int) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// pidNetnsInode returns the inode of the network namespace of process pid.
func pidNetnsInode(pid int) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/net", &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}
