package netns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/topolab/topolab/topology"
	"golang.org/x/sys/unix"
)

// stateVersion is the version of the state file format.
const stateVersion = 1

// state is the content of <StateDir>/<lab>.json, written by a supervisor
// while it holds a lab. Other processes enter the lab's namespaces through
// /proc/<PID>/fd/<n> of the supervisor.
type state struct {
	Version int    `json:"version"`
	Lab     string `json:"lab"`
	PID     int    `json:"pid"`
	// StartTime is the supervisor's start time in clock ticks after boot
	// (field 22 of /proc/PID/stat). It distinguishes the supervisor from a
	// later process that reuses the PID.
	StartTime uint64 `json:"start_time"`
	File      string `json:"file,omitempty"`
	// Namespaces maps "host", "outside" and every container that owns a
	// namespace to the supervisor's file descriptor of that namespace.
	Namespaces map[string]int `json:"namespaces"`
	Plan       *topology.Plan `json:"plan"`
	// Topology is the plan's topology, probes and expectations included,
	// which the plan's JSON form leaves out.
	Topology *topology.Topology `json:"topology,omitempty"`
}

// Namespace keys of the state file besides container names. Container
// names cannot clash with them: a container named host would clash with
// the host node already.
const (
	stateHost    = "host"
	stateOutside = "outside"
)

// Supervise builds plan, records it in the state file <StateDir>/<lab>.json
// so that Attach and Down find it, calls ready with the lab, and holds the
// lab until ctx is done. It then removes the state file and tears the lab
// down. A lab of the same name that already runs makes it return an error
// wrapping topology.ErrLabExists.
func (r *Runtime) Supervise(ctx context.Context, plan *topology.Plan, ready func(topology.Lab)) error {
	lock, err := r.lockLab(plan.Lab)
	if err != nil {
		return err
	}
	l, err := r.build(ctx, plan)
	if err != nil {
		unlockLab(lock)
		return err
	}
	l.lock = lock
	defer l.Close(context.Background())

	path := r.statePath(plan.Lab)
	if err := r.writeState(path, l); err != nil {
		return err
	}
	defer os.Remove(path)
	if ready != nil {
		ready(l)
	}
	<-ctx.Done()
	return nil
}

// validLabName reports whether lab has the form topology files allow,
// [a-z0-9][a-z0-9-]*, which is also safe as a file name.
func validLabName(lab string) bool {
	for i, c := range lab {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' && i > 0) {
			return false
		}
	}
	return lab != ""
}

func (r *Runtime) statePath(lab string) string {
	return filepath.Join(r.stateDir, lab+".json")
}

func (r *Runtime) writeState(path string, l *lab) error {
	start, err := processStartTime(os.Getpid())
	if err != nil {
		return fmt.Errorf("writing state of lab %s: %w", l.plan.Lab, err)
	}
	st := state{
		Version:    stateVersion,
		Lab:        l.plan.Lab,
		PID:        os.Getpid(),
		StartTime:  start,
		Namespaces: map[string]int{stateHost: l.hostFd, stateOutside: l.outsideFd},
		Plan:       l.plan,
	}
	if l.plan.Topology != nil {
		st.File = l.plan.Topology.File
		st.Topology = l.plan.Topology
	}
	for name, fd := range l.containerFd {
		st.Namespaces[name] = fd
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state of lab %s: %w", l.plan.Lab, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing state file: %w", err)
	}
	return nil
}

// readState reads the state file of lab. It returns an error wrapping
// fs.ErrNotExist when there is none.
func (r *Runtime) readState(lab string) (*state, error) {
	if !validLabName(lab) {
		return nil, fmt.Errorf("invalid lab name %q (want lower-case letters, digits and dashes): %w",
			lab, fs.ErrNotExist)
	}
	data, err := os.ReadFile(r.statePath(lab))
	if err != nil {
		return nil, err
	}
	return r.decodeState(lab, data)
}

// decodeState parses the content of the state file of lab.
func (r *Runtime) decodeState(lab string, data []byte) (*state, error) {
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("reading state file %s of lab %s: %w (remove it with `topolab down %s`): %w",
			r.statePath(lab), lab, err, lab, topology.ErrEnvironment)
	}
	if st.Version != stateVersion || st.Plan == nil || st.PID <= 0 {
		return nil, fmt.Errorf("reading state file %s of lab %s: unknown format version %d or no plan (remove it with `topolab down %s`): %w",
			r.statePath(lab), lab, st.Version, lab, topology.ErrEnvironment)
	}
	if err := checkDecodedPlan(st.Plan); err != nil {
		return nil, fmt.Errorf("reading state file %s of lab %s: %w (remove it with `topolab down %s`): %w",
			r.statePath(lab), lab, err, lab, topology.ErrEnvironment)
	}
	restoreGateways(st.Plan)
	st.Plan.Topology = st.Topology
	return &st, nil
}

// checkDecodedPlan rejects a plan from a state file with null entries,
// which no supervisor writes and which the lab's code does not expect.
func checkDecodedPlan(p *topology.Plan) error {
	for _, n := range p.Networks {
		if n == nil {
			return errors.New("plan lists a null network")
		}
	}
	for _, o := range p.Outside {
		if o == nil {
			return errors.New("plan lists a null outside host")
		}
	}
	for _, c := range p.Containers {
		if c == nil {
			return errors.New("plan lists a null container")
		}
		for _, i := range c.Interfaces {
			if i == nil {
				return fmt.Errorf("container %s lists a null interface", c.Name)
			}
		}
	}
	return nil
}

// restoreGateways sets each container's Gateway from GatewayInterface,
// since the pointer does not survive JSON.
func restoreGateways(p *topology.Plan) {
	for _, c := range p.Containers {
		c.Gateway = nil
		for _, i := range c.Interfaces {
			if i.Name == c.GatewayInterface {
				c.Gateway = i
			}
		}
	}
}

// alive reports whether the supervisor recorded in st still runs. A zombie
// that its parent has not reaped yet counts as gone.
func (st *state) alive() bool {
	start, err := processStartTime(st.PID)
	return err == nil && start == st.StartTime
}

// Attach opens the lab that a supervisor process holds, for probes and
// commands run from another process. The returned lab's nodes enter the
// supervisor's namespaces; its Close releases only this process's file
// descriptors and leaves the lab running. It returns an error wrapping
// topology.ErrNoLab when no supervisor holds the lab.
//
// NOTE: a lab supervised inside a rootless user namespace can be attached
// only from processes inside that user namespace.
func (r *Runtime) Attach(ctx context.Context, labName string) (topology.Lab, error) {
	st, err := r.readState(labName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("attaching to lab %s: %w", labName, topology.ErrNoLab)
	}
	if err != nil {
		return nil, err
	}
	if !st.alive() {
		// A stale lab is the machine's state rather than a mistyped name,
		// so the error is an environment error as well.
		return nil, fmt.Errorf("attaching to lab %s: supervisor %d is gone (remove it with `topolab down %s`): %w: %w",
			labName, st.PID, labName, topology.ErrNoLab, topology.ErrEnvironment)
	}

	l := newLab(st.Plan, r.log.With("lab", labName))
	l.owner = false
	fail := func(err error) (topology.Lab, error) {
		l.Close(ctx)
		return nil, fmt.Errorf("attaching to lab %s: %w", labName, err)
	}
	for name, n := range st.Namespaces {
		fd, err := openPeerNetns(st.PID, n)
		if errors.Is(err, fs.ErrPermission) {
			// A supervisor in another user namespace: a rootless lab seen
			// from a later rootless command, which gets a user namespace
			// of its own.
			return fail(fmt.Errorf("namespace of %s: %w: %w (probe rootless labs within topolab run or topolab test, or run topolab up as root)",
				name, err, topology.ErrEnvironment))
		}
		if err != nil {
			return fail(fmt.Errorf("namespace of %s: %w", name, err))
		}
		switch name {
		case stateHost:
			l.hostFd = fd
		case stateOutside:
			l.outsideFd = fd
		default:
			l.containerFd[name] = fd
		}
	}

	if l.hostFd < 0 || l.outsideFd < 0 {
		return fail(errors.New("state file lists no host or outside namespace"))
	}
	// The supervisor may have exited and its PID been reused while the
	// descriptors were opened.
	if !st.alive() {
		return fail(fmt.Errorf("supervisor %d exited: %w", st.PID, topology.ErrNoLab))
	}
	l.makeNodes()
	return l, nil
}

// openPeerNetns opens file descriptor n of process pid, which must be a
// network namespace.
func openPeerNetns(pid, n int) (int, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(n)
	target, err := os.Readlink(path)
	if err != nil {
		return -1, err
	}
	if !strings.HasPrefix(target, "net:[") {
		return -1, fmt.Errorf("%s is %s, not a network namespace", path, target)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening %s: %w", path, err)
	}
	return fd, nil
}

// Down stops the supervisor of lab with SIGTERM, waits for it to exit
// (SIGKILL after ctx is done or 10 s), and removes its state file, also the
// stale one of a supervisor that crashed. It returns an error wrapping
// topology.ErrNoLab when no state file exists.
func (r *Runtime) Down(ctx context.Context, labName string) error {
	if !validLabName(labName) {
		return fmt.Errorf("stopping lab %s: invalid lab name (want lower-case letters, digits and dashes): %w",
			labName, topology.ErrNoLab)
	}
	st, err := r.readState(labName)
	if errors.Is(err, fs.ErrNotExist) {
		// A supervisor that is still building its lab, or a foreground
		// run, holds the lock but has written no state yet.
		if holder, ok := r.lockHolder(labName); ok {
			if err := stopProcess(ctx, holder); err != nil {
				return fmt.Errorf("stopping lab %s: %w", labName, err)
			}
			r.removeStaleLock(labName)
			return nil
		}
		if r.removeStaleLock(labName) {
			return nil
		}
		return fmt.Errorf("stopping lab %s: %w", labName, topology.ErrNoLab)
	}
	if err != nil {
		// An unreadable state file is stale by definition: nothing can use
		// it. The lock tells whether its supervisor still runs.
		r.log.Warn("removing unreadable state file", "lab", labName, "error", err)
		if holder, ok := r.lockHolder(labName); ok {
			if err := stopProcess(ctx, holder); err != nil {
				return fmt.Errorf("stopping lab %s: %w", labName, err)
			}
		}
		if err := os.Remove(r.statePath(labName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing state of lab %s: %w", labName, err)
		}
		r.removeStaleLock(labName)
		return nil
	}
	if st.alive() {
		if err := stopProcess(ctx, st); err != nil {
			return fmt.Errorf("stopping lab %s: %w", labName, err)
		}
	}
	if err := os.Remove(r.statePath(labName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing state of lab %s: %w", labName, err)
	}
	r.removeStaleLock(labName)
	return nil
}

// lockHolder returns the process that holds the lock of lab, as the lock
// file records it, when a process holds the lock and still runs.
func (r *Runtime) lockHolder(lab string) (*state, bool) {
	f, err := os.OpenFile(r.lockPath(lab), os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return nil, false
	}
	data, err := io.ReadAll(io.LimitReader(f, 100))
	if err != nil {
		return nil, false
	}
	holder, ok := parseLockHolder(data)
	if !ok || !holder.alive() {
		return nil, false
	}
	return holder, true
}

// parseLockHolder parses the content of a lock file, "PID START_TIME\n".
func parseLockHolder(data []byte) (*state, bool) {
	pidText, rest, ok := strings.Cut(strings.TrimSpace(string(data)), " ")
	if !ok {
		return nil, false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return nil, false
	}
	start, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return nil, false
	}
	return &state{PID: pid, StartTime: start}, true
}

// stopTimeout bounds the wait for a supervisor after SIGTERM.
const stopTimeout = 10 * time.Second

func stopProcess(ctx context.Context, st *state) error {
	if err := syscall.Kill(st.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling supervisor %d: %w", st.PID, err)
	}
	deadline := time.NewTimer(stopTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for st.alive() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			syscall.Kill(st.PID, syscall.SIGKILL)
			return fmt.Errorf("waiting for supervisor %d: %w", st.PID, ctx.Err())
		case <-deadline.C:
			syscall.Kill(st.PID, syscall.SIGKILL)
		}
	}
	return nil
}

// List returns the labs whose supervisor runs. Labs built with Up by a
// foreground process are not listed.
func (r *Runtime) List(ctx context.Context) ([]topology.LabInfo, error) {
	entries, err := os.ReadDir(r.stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing labs: %w", err)
	}
	var out []topology.LabInfo
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		st, err := r.readState(name)
		if err != nil || !st.alive() {
			continue
		}
		out = append(out, topology.LabInfo{Name: st.Lab, Runtime: r.Name(), File: st.File, PID: st.PID})
	}
	return out, nil
}

// processStartTime returns field 22 of /proc/PID/stat, the start time in
// clock ticks after boot. It returns an error for a process that has
// exited, zombies included (state Z or X in field 3).
func processStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	start, err := parseStatStartTime(data)
	if err != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %w", pid, err)
	}
	return start, nil
}

// errExited is returned by parseStatStartTime for a zombie or dead process.
var errExited = errors.New("process has exited")

// parseStatStartTime returns field 22 of the content of a /proc/PID/stat
// file, or errExited when field 3, the state, is Z or X.
func parseStatStartTime(data []byte) (uint64, error) {
	// The command name, field 2, is in parentheses and may contain spaces
	// and parentheses itself, so the last ')' ends it.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3, so field 22 is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 20", len(fields))
	}
	if fields[0] == "Z" || fields[0] == "X" {
		return 0, errExited
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, err
	}
	return start, nil
}

func (r *Runtime) lockPath(lab string) string {
	return filepath.Join(r.stateDir, lab+".lock")
}

// lockLab takes the exclusive lock that one running lab of a name holds,
// `flock -n <StateDir>/<lab>.lock`. The kernel releases a flock when the
// process exits, so a crashed lab does not block a new one.
func (r *Runtime) lockLab(lab string) (*os.File, error) {
	if !validLabName(lab) {
		return nil, fmt.Errorf("invalid lab name %q: want lower-case letters, digits and dashes", lab)
	}
	if err := os.MkdirAll(r.stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating state folder: %w (set another with the runtime's StateDir): %w",
			err, topology.ErrEnvironment)
	}
	path := r.lockPath(lab)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("locking lab %s: %w", lab, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("%w: %s (stop it with `topolab down %s`)", topology.ErrLabExists, lab, lab)
			}
			return nil, fmt.Errorf("locking lab %s: %w", lab, err)
		}
		// The previous holder removes the file before unlocking, so a
		// lock taken on a removed file is no lock: try again.
		var held, current unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(path, &current) == nil && held.Ino == current.Ino {
			if err := writeLockHolder(f); err != nil {
				f.Close()
				return nil, fmt.Errorf("locking lab %s: %w", lab, err)
			}
			return f, nil
		}
		f.Close()
	}
}

// writeLockHolder records this process in the lock file it holds, so that
// Down can stop a process that holds a lab before it wrote a state file.
func writeLockHolder(f *os.File) error {
	start, err := processStartTime(os.Getpid())
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(fmt.Sprintf("%d %d\n", os.Getpid(), start)), 0)
	return err
}

// unlockLab removes the lock file and releases the lock.
func unlockLab(f *os.File) {
	os.Remove(f.Name())
	f.Close()
}

// removeStaleLock removes the lock file of lab unless a process holds it,
// and reports whether it removed one.
func (r *Runtime) removeStaleLock(lab string) bool {
	f, err := os.OpenFile(r.lockPath(lab), os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		unlockLab(f)
		return true
	}
	f.Close()
	return false
}
