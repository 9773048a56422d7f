package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ToolsBin is the folder holding the pinned tool binaries: $LIFEBOAT_TOOLS/bin,
// or the user's cache folder, as tools/scripts/install-tools.sh uses.
func ToolsBin() string {
	dir := os.Getenv("LIFEBOAT_TOOLS")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir = filepath.Join(cache, "lifeboat-tools")
	}
	return filepath.Join(dir, "bin")
}

// Tool returns the path of a pinned tool, or an error saying how to install it.
func Tool(name string) (string, error) {
	p := filepath.Join(ToolsBin(), name)
	if _, err := os.Stat(p); err != nil {
		if lp, lerr := exec.LookPath(name); lerr == nil && name != "terraform" {
			return lp, nil
		}
		return "", fmt.Errorf("%s not found in %s: run `make tools` first", name, ToolsBin())
	}
	return p, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// process is one service child process with its log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	exitErr error
}

// runAs, when non-nil, is the account services drop to (PostgreSQL refuses
// to run as root).
type account struct {
	uid, gid uint32
	name     string
}

func lookupAccount(name string) (*account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %q not found (is PostgreSQL installed? run `make tools`): %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &account{uid: uint32(uid), gid: uint32(gid), name: name}, nil
}

// chownTree gives dir and everything under it to acct.
func chownTree(dir string, acct *account) error {
	if acct == nil {
		return nil
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(acct.uid), int(acct.gid))
	})
}

// startOptions tune how a service process is started.
type startOptions struct {
	env      []string
	as       *account
	detached bool // survive the starting process (demo); otherwise die with it
}

func startProcess(name, logPath string, opts startOptions, argv ...string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = append(os.Environ(), opts.env...)
	attr := &syscall.SysProcAttr{Setpgid: true}
	if opts.detached {
		attr = &syscall.SysProcAttr{Setsid: true}
	} else {
		// The service dies with the test binary, even on SIGKILL, so nothing
		// leaks to the next binary. Go sets this after dropping credentials.
		attr.Pdeathsig = syscall.SIGKILL
	}
	if opts.as != nil {
		attr.Credential = &syscall.Credential{Uid: opts.as.uid, Gid: opts.as.gid}
		if opts.as.uid != uint32(os.Getuid()) {
			_ = os.Chown(logPath, int(opts.as.uid), int(opts.as.gid))
		}
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig, waits up to grace, then kills.
func (p *process) stop(sig syscall.Signal, grace time.Duration) {
	if p == nil || p.cmd.Process == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitReady polls ready until it returns nil, the process exits, or timeout.
// On failure the error carries the log path and its last lines.
func (p *process) waitReady(ctx context.Context, timeout time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			if p.exitErr == nil {
				return p.failure(errors.New("exited early with status 0"))
			}
			return p.failure(fmt.Errorf("exited early: %w", p.exitErr))
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = ready(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return p.failure(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.stop(syscall.SIGKILL, time.Second)
	return p.failure(fmt.Errorf("not ready after %s: %w", timeout, last))
}

func (p *process) failure(err error) error {
	return fmt.Errorf("%s failed to start: %w\nlog: %s\n%s", p.name, err, p.logPath, TailFile(p.logPath, 25))
}

// TailFile returns the last n lines of a file, for failure messages.
func TailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return "  | " + strings.Join(lines, "\n  | ")
}

// killPidFile kills the process group recorded in a pid file (devenv down).
func killPidFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("bad pid file %s: %w", path, err)
	}
	// The pid may lead a process group (started here) or not (a server
	// restarted by its own tools since): signal both.
	_ = syscall.Kill(-pid, syscall.SIGINT)
	_ = syscall.Kill(pid, syscall.SIGINT)
	for i := 0; i < 100; i++ {
		if syscall.Kill(pid, 0) != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	return os.Remove(path)
}
