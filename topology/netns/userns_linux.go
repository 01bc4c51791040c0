package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/topolab/topolab/topology"
)

// EnvUserNamespaceChild is set to 1 in the environment of the process that
// EnterUserNamespace starts. EnterUserNamespace returns at once in a
// process that has it, so the child does not re-execute itself.
const EnvUserNamespaceChild = "TOPOLAB_USERNS_CHILD"

// userNamespaceFix is the fix for a kernel that rejects unprivileged user
// namespaces.
const userNamespaceFix = "run as root, or allow unprivileged user namespaces: " +
	"sysctl -w kernel.unprivileged_userns_clone=1 (Debian and Ubuntu kernels) and " +
	"sysctl -w user.max_user_namespaces=15000"

// EnterUserNamespace lets an unprivileged process build labs. Call it first
// thing in main, before any other goroutine runs:
//
//   - As root, or in the child it started, it does nothing and returns
//     reexecuted false.
//   - Otherwise it re-executes the program (/proc/self/exe with the same
//     arguments and environment plus EnvUserNamespaceChild=1) in new user
//     and network namespaces, with the caller's user and group mapped to
//     root inside, waits for it and returns reexecuted true with the
//     child's exit code, which the caller should exit with. SIGTERM and
//     SIGHUP are passed on to the child. SIGINT is not, because a terminal
//     sends it to the child too; the parent ignores it and waits.
//
// Inside, each lab still gets a lab host namespace of its own, and the
// network namespace of the child stays empty. When the kernel rejects
// unprivileged user namespaces, the error wraps topology.ErrEnvironment and
// names the sysctls that allow them.
func EnterUserNamespace() (reexecuted bool, exitCode int, err error) {
	if os.Geteuid() == 0 || os.Getenv(EnvUserNamespaceChild) == "1" {
		return false, 0, nil
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), EnvUserNamespaceChild+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
		Pdeathsig:                  syscall.SIGKILL,
	}

	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	if err := cmd.Start(); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) ||
			errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EINVAL) {
			return false, 0, fmt.Errorf("%w: creating a user namespace: %w; %s",
				topology.ErrEnvironment, err, userNamespaceFix)
		}
		return false, 0, fmt.Errorf("re-executing in a user namespace: %w", err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-signals:
				if s != syscall.SIGINT {
					cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if status, ok := exit.Sys().(syscall.WaitStatus); ok && status.Signaled() {
			return true, 128 + int(status.Signal()), nil
		}
		return true, exit.ExitCode(), nil
	}
	if err != nil {
		return true, 1, fmt.Errorf("waiting for the user namespace child: %w", err)
	}
	return true, 0, nil
}
